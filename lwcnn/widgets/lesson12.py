"""The quantization-grid widget of lesson 12: a real layer's weights on a 2-8 bit grid."""

from __future__ import annotations

import ipywidgets as W
import torch
from torch import nn

from lwcnn import plots
from lwcnn.widgets.controls import clamp, live, say, show_figure, slider


def layer_choices(folded: nn.Module) -> dict[str, str]:
    """Four layers of a folded network worth looking at, `{label: path}`: the depthwise conv whose
    channels' ranges differ most, the 1x1 conv with the most weights, the first conv, and the
    last linear layer (those the network has)."""
    convs = {path: m for path, m in folded.named_modules() if isinstance(m, nn.Conv2d)}
    depthwise = {
        p: m for p, m in convs.items() if m.groups == m.out_channels > 1 and m.in_channels == m.groups
    }
    pointwise = {p: m for p, m in convs.items() if m.kernel_size == (1, 1) and m.groups == 1}
    linears = [path for path, m in folded.named_modules() if isinstance(m, nn.Linear)]
    choices = {}
    if depthwise:
        path = max(depthwise, key=lambda p: _spread(depthwise[p].weight))
        choices[f"depthwise ({path})"] = path
    if pointwise:
        path = max(pointwise, key=lambda p: pointwise[p].weight.numel())
        choices[f"pointwise ({path})"] = path
    if convs:
        path = next(iter(convs))
        choices[f"first conv ({path})"] = path
    if linears:
        choices[f"classifier ({linears[-1]})"] = linears[-1]
    if not choices:
        raise ValueError("the network has no Conv2d or Linear layer to quantize")
    return choices


def _ranges(weight: torch.Tensor) -> torch.Tensor:
    """Each output channel's largest |weight|."""
    return weight.detach().reshape(weight.shape[0], -1).abs().amax(dim=1)


def _spread(weight: torch.Tensor) -> float:
    ranges = _ranges(weight)
    return float(ranges.max() / ranges.min().clamp(min=1e-12))


def quant_grid_summary(
    folded: nn.Module, layer: str, bits: int = 4, per_channel: bool = True, symmetric: bool = True
) -> dict:
    """One layer of a folded network (`lwcnn.quant.fold_network`) quantized with
    `lwcnn.quant.weight_scheme(bits, ...)`, in numbers: the layer's SQNR, its channels' ranges,
    the narrowest channel's SQNR and how many grid points it uses, the share of weights that
    became 0, and the whole network's recorded accuracy with every weight so quantized
    (`lwcnn.quant.recorded`, weights only; None when the table has no row). Bits are clamped to 2-8."""
    from lwcnn.quant import fake_quantize, qparams, recorded, sqnr_db, weight_scheme

    modules = dict(folded.named_modules())
    if layer not in modules or not isinstance(modules[layer], nn.Conv2d | nn.Linear):
        raise ValueError(f"layer must be the path of a Conv2d or Linear of the network, got {layer!r}")
    bits = clamp(bits, 2, 8)
    scheme = weight_scheme(bits, per_channel=bool(per_channel), symmetric=bool(symmetric))
    weight = modules[layer].weight.detach().float()
    scale, zero_point = qparams(weight, scheme)
    quantized = fake_quantize(weight, scheme, scale, zero_point)
    ranges = _ranges(weight)
    narrow, wide = int(ranges.argmin()), int(ranges.argmax())
    try:
        accuracy = recorded.weight_bits_accuracy(
            bits, per_channel=scheme.axis is not None, symmetric=symmetric
        )
    except (ValueError, FileNotFoundError):
        accuracy = None

    def grid(channel: int) -> list[float]:
        """The values channel `channel`'s codes stand for, in its own range's neighbourhood."""
        s = scale.flatten()[channel if scheme.axis is not None else 0]
        z = zero_point.flatten()[channel if scheme.axis is not None else 0]
        codes = torch.arange(scheme.quant_min, scheme.quant_max + 1)
        return ((codes - z).float() * s).tolist()

    return {
        "layer": layer,
        "bits": bits,
        "per_channel": scheme.axis is not None,
        "symmetric": bool(symmetric),
        "weights": weight.numel(),
        "channels": weight.shape[0],
        "sqnr_db": sqnr_db(weight, quantized),
        "widest_range": float(ranges[wide]),
        "narrowest_range": float(ranges[narrow]),
        "range_ratio": float(ranges[wide] / ranges[narrow].clamp(min=1e-12)),
        "narrowest_channel": narrow,
        "narrowest_sqnr_db": sqnr_db(weight[narrow], quantized[narrow]),
        "narrowest_levels_used": int(torch.unique(quantized[narrow]).numel()),
        "zero_share": float((quantized == 0).float().mean()),
        "accuracy": accuracy,
        "values": weight.flatten().tolist(),
        "narrowest_values": weight[narrow].flatten().tolist(),
        "widest_channel": wide,
        "grid_widest": grid(wide),
        "grid_narrowest": grid(narrow),
    }


def describe_quant_grid(summary: dict) -> str:
    """The lines a learner reads under the bits slider."""
    s = summary
    scheme = f"{'per-channel' if s['per_channel'] else 'per-tensor'}, {'symmetric' if s['symmetric'] else 'affine'}"
    lines = [
        f"{s['layer']}: {s['weights']:,} weights in {s['channels']} channels, {s['bits']} bits ({scheme}), "
        f"{2 ** s['bits']} grid points",
        f"channels' largest |w|: {s['narrowest_range']:.3g} to {s['widest_range']:.3g} ({s['range_ratio']:.0f}x apart)",
        f"SQNR of the layer: {s['sqnr_db']:.1f} dB; weights that became 0: {100 * s['zero_share']:.1f}%",
        f"narrowest channel ({s['narrowest_channel']}): SQNR {s['narrowest_sqnr_db']:.1f} dB, "
        f"{s['narrowest_levels_used']} distinct values",
    ]
    if s["accuracy"] is not None:
        lines.append(f"the network, every weight quantized so (recorded): test accuracy {s['accuracy']:.4f}")
    return "\n".join(lines)


def quant_grid_widget(model: nn.Module, layer: str | None = None, **start) -> W.VBox:
    """A bits slider, per-channel and symmetric switches and a layer choice over `model`'s
    folded weights: the grid over the layer's histogram and its narrowest channel, the SQNR, and
    the network's recorded accuracy at that scheme."""
    from lwcnn.quant import fold_network

    folded = fold_network(model)
    choices = layer_choices(folded)
    layer = layer if layer in choices.values() else next(iter(choices.values()))
    s = quant_grid_summary(folded, layer, **start)
    controls = {
        "bits": slider("bits", s["bits"], 2, 8),
        "per_channel": W.Checkbox(value=s["per_channel"], description="per channel"),
        "symmetric": W.Checkbox(value=s["symmetric"], description="symmetric"),
        "layer": W.Dropdown(options=list(choices.items()), value=layer, description="layer"),
    }

    def render(bits, per_channel, symmetric, layer):
        summary = quant_grid_summary(folded, layer, bits, per_channel, symmetric)
        say(describe_quant_grid(summary))
        plots.quant_grid(summary)
        show_figure()

    return live(controls, render)
