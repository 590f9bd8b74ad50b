"""The lessons' sliders. Each widget is a thin view over a plain summary function.

The summary functions (`conv_layer_summary`, `separable_summary`) take slider values, clamp
them to valid ones and return numbers from `lwcnn.cost`; they are what the tests check. The
`*_widget` functions only wire ipywidgets sliders to a summary and its plot.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Callable
from fractions import Fraction

import ipywidgets as W
import matplotlib.pyplot as plt

from lwcnn import cost, plots


def clamp(value: int, low: int, high: int) -> int:
    """`value` limited to [low, high]."""
    return max(low, min(high, int(value)))


def nearest_odd(value: int, low: int = 1, high: int = 7) -> int:
    """The odd kernel size nearest below `value`, within [low, high] ("same" padding needs odd)."""
    value = clamp(value, low, high)
    return value if value % 2 else max(low, value - 1)


def valid_groups(requested: int, in_channels: int, out_channels: int) -> int:
    """The largest `groups` <= requested that divides both channel counts (1 always does)."""
    requested = clamp(requested, 1, min(in_channels, out_channels))
    return max(g for g in range(1, requested + 1) if in_channels % g == 0 and out_channels % g == 0)


def conv_layer_summary(
    height: int = 56,
    width: int = 56,
    in_channels: int = 64,
    out_channels: int = 64,
    kernel_size: int = 3,
    stride: int = 1,
    groups: int = 1,
) -> dict:
    """Shape and cost of one conv layer ("same" padding), with slider values clamped to valid ones.

    Returns the clamped settings, the output shape, params, MACs and FLOPs of this conv, and the
    MACs of a standard (groups=1) and a depthwise-separable conv of the same shape for contrast.
    """
    height, width = clamp(height, 1, 4096), clamp(width, 1, 4096)
    in_channels, out_channels = clamp(in_channels, 1, 8192), clamp(out_channels, 1, 8192)
    kernel_size = nearest_odd(kernel_size, 1, 15)
    stride = clamp(stride, 1, 8)
    groups = valid_groups(groups, in_channels, out_channels)
    out_h, out_w = cost.conv2d_output_size((height, width), kernel_size, stride, "same")
    macs = cost.conv2d_macs(in_channels, out_channels, kernel_size, (out_h, out_w), groups)
    return {
        "height": height,
        "width": width,
        "in_channels": in_channels,
        "out_channels": out_channels,
        "kernel_size": kernel_size,
        "stride": stride,
        "groups": groups,
        "output_shape": (out_channels, out_h, out_w),
        "params": cost.conv2d_params(in_channels, out_channels, kernel_size, groups),
        "macs": macs,
        "flops": 2 * macs,
        "standard_macs": cost.conv2d_macs(in_channels, out_channels, kernel_size, (out_h, out_w)),
        "separable_macs": cost.depthwise_separable_macs(
            in_channels, out_channels, kernel_size, (out_h, out_w)
        ),
        "output_bytes": cost.feature_map_bytes(out_channels, (out_h, out_w)),
    }


def describe_conv(summary: dict) -> str:
    """The lines a learner reads under the conv sliders."""
    c, h, w = summary["output_shape"]
    return "\n".join(
        [
            f"input  {summary['in_channels']} x {summary['height']} x {summary['width']}"
            f"  ->  output {c} x {h} x {w}",
            f"kernel {summary['kernel_size']}x{summary['kernel_size']}, stride {summary['stride']}, "
            f"groups {summary['groups']}",
            f"params {summary['params']:,}",
            f"MACs   {summary['macs']:,}   (FLOPs {summary['flops']:,})",
            f"output activations {summary['output_bytes']:,} bytes (float32)",
        ]
    )


def separable_summary(
    out_channels: int = 64, kernel_size: int = 3, in_channels: int = 64, feature_size: int = 56
) -> dict:
    """Standard vs depthwise-separable cost at one setting, and the exact ratio `1/N + 1/Dk^2`."""
    out_channels = clamp(out_channels, 1, 4096)
    in_channels = clamp(in_channels, 1, 4096)
    kernel_size = nearest_odd(kernel_size, 1, 15)
    feature_size = clamp(feature_size, 1, 1024)
    standard = cost.conv2d_macs(in_channels, out_channels, kernel_size, feature_size)
    separable = cost.depthwise_separable_macs(in_channels, out_channels, kernel_size, feature_size)
    ratio = cost.separable_to_standard_ratio(out_channels, kernel_size)
    assert Fraction(separable, standard) == ratio  # the formula and the two counts agree
    return {
        "out_channels": out_channels,
        "kernel_size": kernel_size,
        "in_channels": in_channels,
        "feature_size": feature_size,
        "standard_macs": standard,
        "separable_macs": separable,
        "ratio": ratio,
        "saving": float(1 / ratio),
    }


def describe_separable(summary: dict) -> str:
    n, k = summary["out_channels"], summary["kernel_size"]
    return "\n".join(
        [
            f"N = {n}, Dk = {k}: separable / standard = 1/{n} + 1/{k * k} = {float(summary['ratio']):.4f}",
            f"standard  {summary['standard_macs']:,} MACs",
            f"separable {summary['separable_macs']:,} MACs  ({summary['saving']:.2f}x fewer)",
        ]
    )


def _slider(description: str, value, low, high, step=1, kind: type = W.IntSlider) -> W.Widget:
    return kind(
        value=value,
        min=low,
        max=high,
        step=step,
        description=description,
        continuous_update=False,
        style={"description_width": "initial"},
    )


def _float_slider(description: str, value: float, low: float, high: float, step: float) -> W.FloatSlider:
    return _slider(description, value, low, high, step, W.FloatSlider)


def _show_figure() -> None:
    """Show the render's figure under the widget's numbers, whatever matplotlib backend is active.

    In a kernel, `_live` has the render draw on figures of its own (`plots.own_figures`): each
    goes out as a PNG (`plt.show()` would show nothing under a non-inline backend such as
    `MPLBACKEND=Agg`). In a plain Python process, pyplot's current figure is shown and closed,
    so moving a slider a hundred times does not keep a hundred figures open.
    """
    from IPython.display import Image, display

    figures = plots.figures_in_hand()
    if figures is None:
        figure = plt.gcf()
        plt.show()
        plt.close(figure)
        return
    for figure in figures:
        png = io.BytesIO()
        figure.savefig(png, format="png", bbox_inches="tight")
        display(Image(png.getvalue()))
    figures.clear()


# One render at a time, across all widgets. JupyterLab (4.4 and later, with ipykernel 7) hands
# some widget messages to a kernel subshell, a thread of its own, so renders can run on two threads
# at once, and matplotlib's mathtext parser, shared by all figures, is not thread-safe (seen in the
# browser tests: log-axis tick labels failing to parse, "Expected end of text", and no figure).
_RENDER_LOCK = threading.RLock()


def _live(controls: dict[str, W.Widget], render: Callable[..., None]) -> W.VBox:
    """Sliders above an output area that `render(**values)` redraws whenever a slider moves.

    Renders take turns, and each draws the controls' values as they are when its turn comes, so
    whatever order moves arrive in from the kernel's threads, the last drawing shows the last
    setting. An error in a render is shown in the output area (as `interactive_output` does).
    """
    out = W.Output()

    def redraw(_change=None) -> None:
        from IPython import get_ipython

        in_a_kernel = get_ipython() is not None
        with _RENDER_LOCK, out, plots.own_figures() if in_a_kernel else contextlib.nullcontext():
            out.clear_output(wait=True)
            render(**{name: control.value for name, control in controls.items()})

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    box = W.VBox([W.HBox(list(controls.values())[:4]), W.HBox(list(controls.values())[4:]), out])
    box.controls = controls  # render's argument name -> its control (the browser tests drive them)
    return box


def conv_cost_widget(**start) -> W.VBox:
    """Sliders over H, W, C_in, C_out, k, stride and groups; prints the cost and draws a bar chart."""
    s = conv_layer_summary(**start)
    controls = {
        "height": _slider("H", s["height"], 1, 224),
        "width": _slider("W", s["width"], 1, 224),
        "in_channels": _slider("C_in", s["in_channels"], 1, 512),
        "out_channels": _slider("C_out", s["out_channels"], 1, 512),
        "kernel_size": _slider("k", s["kernel_size"], 1, 7, step=2),
        "stride": _slider("stride", s["stride"], 1, 4),
        "groups": _slider("groups", s["groups"], 1, 512),
    }

    def render(**values):
        summary = conv_layer_summary(**values)
        controls["groups"].value = summary["groups"]  # snap the slider to a valid divisor
        print(describe_conv(summary))
        plots.conv_cost_bars(summary)
        _show_figure()

    return _live(controls, render)


def separable_ratio_widget(**start) -> W.VBox:
    """Sliders over N and Dk; prints both costs and draws `1/N + 1/Dk^2` against N."""
    s = separable_summary(**start)
    controls = {
        "out_channels": _slider("N (output channels)", s["out_channels"], 1, 1024),
        "kernel_size": _slider("Dk (kernel)", s["kernel_size"], 1, 7, step=2),
    }

    def render(**values):
        summary = separable_summary(**values)
        print(describe_separable(summary))
        plots.separable_ratio_curve(summary)
        _show_figure()

    return _live(controls, render)


def expansion_summary(
    in_channels: int = 24,
    out_channels: int = 24,
    expand_ratio: int = 6,
    feature_size: int = 56,
    kernel_size: int = 3,
) -> dict:
    """One MobileNetV2 inverted residual at expansion t: params, MACs and activation memory.

    The expanded tensor (`t*M` channels) is what the block computes on; the thin tensors
    (M in, N out) are what flows between blocks and what the shortcut joins.
    """
    from lwcnn.blocks import InvertedResidual

    in_channels, out_channels = clamp(in_channels, 1, 1024), clamp(out_channels, 1, 1024)
    expand_ratio = clamp(expand_ratio, 1, 12)
    feature_size = clamp(feature_size, 1, 224)
    kernel_size = nearest_odd(kernel_size, 3, 7)
    spec = InvertedResidual.with_ratio(in_channels, out_channels, expand_ratio, kernel_size)
    block = spec.cost(feature_size)
    return {
        "in_channels": in_channels,
        "out_channels": out_channels,
        "expand_ratio": expand_ratio,
        "expanded_channels": spec.expanded_channels,
        "feature_size": feature_size,
        "kernel_size": kernel_size,
        "params": block.params,
        "macs": block.macs,
        "residual": spec.use_residual,
        "expanded_bytes": cost.feature_map_bytes(spec.expanded_channels, feature_size),
        "bottleneck_bytes": cost.feature_map_bytes(in_channels, feature_size)
        + cost.feature_map_bytes(out_channels, feature_size),
    }


def describe_expansion(summary: dict) -> str:
    s = summary
    return "\n".join(
        [
            f"{s['in_channels']} -> 1x1 -> {s['expanded_channels']} (t = {s['expand_ratio']}) -> "
            f"{s['kernel_size']}x{s['kernel_size']} depthwise -> 1x1 -> {s['out_channels']}, "
            f"at {s['feature_size']}x{s['feature_size']}" + ("  + shortcut" if s["residual"] else ""),
            f"params {s['params']:,}   MACs {s['macs']:,}",
            f"expanded tensor {s['expanded_bytes']:,} bytes; thin in + out tensors {s['bottleneck_bytes']:,} bytes",
        ]
    )


def expansion_widget(**start) -> W.VBox:
    """Sliders over the expansion ratio t and the block's widths; curves of cost and memory vs t."""
    s = expansion_summary(**start)
    controls = {
        "expand_ratio": _slider("t (expansion)", s["expand_ratio"], 1, 12),
        "in_channels": _slider("M (in)", s["in_channels"], 8, 160, step=8),
        "out_channels": _slider("N (out)", s["out_channels"], 8, 160, step=8),
        "feature_size": _slider("size", s["feature_size"], 7, 112, step=7),
    }

    def render(**values):
        summary = expansion_summary(**values)
        print(describe_expansion(summary))
        curve = [expansion_summary(**(values | {"expand_ratio": t})) for t in range(1, 13)]
        plots.expansion_curves(curve, summary)
        _show_figure()

    return _live(controls, render)


# --- width and resolution multipliers (lesson 03) ---------------------------------------------

V1_BASELINE_RESOLUTION = 224


def clamp_float(value: float, low: float, high: float, digits: int = 2) -> float:
    """`value` limited to [low, high] and rounded to `digits` decimals (a slider's float)."""
    return round(max(low, min(high, float(value))), digits)


def width_resolution_summary(width_multiplier: float = 1.0, resolution: int = 224) -> dict:
    """MobileNetV1 at width multiplier alpha and input `resolution`: cost against alpha = 1 at 224.

    Returns the clamped settings, rho = resolution / 224, params and MACs from
    `lwcnn.models.cost`, their ratios to the baseline, the `alpha^2 rho^2` (MACs) and
    `alpha^2` (params) predictions, and the paper's figures when the setting is one of the
    rows of its Tables 6 and 7 (else None).
    """
    from lwcnn import models, papers

    alpha = clamp_float(width_multiplier, 0.1, 2.0)
    resolution = clamp(resolution, 32, 512)
    result = models.cost("mobilenet_v1", resolution, width_multiplier=alpha)
    base = models.cost("mobilenet_v1", V1_BASELINE_RESOLUTION)
    rho = resolution / V1_BASELINE_RESOLUTION
    paper = next(
        (
            p
            for p in papers.MOBILENET_V1_WIDTH + papers.MOBILENET_V1_RESOLUTION
            if (p.width_multiplier, p.resolution) == (alpha, resolution)
        ),
        None,
    )
    return {
        "width_multiplier": alpha,
        "resolution": resolution,
        "rho": rho,
        "params": result.params,
        "macs": result.macs,
        "macs_ratio": result.macs / base.macs,
        "params_ratio": result.params / base.params,
        "predicted_macs_ratio": alpha**2 * rho**2,
        "predicted_params_ratio": alpha**2,
        "paper": paper,
    }


def describe_width_resolution(summary: dict) -> str:
    """The lines a learner reads under the alpha and rho sliders."""
    s = summary
    lines = [
        f"MobileNetV1, alpha = {s['width_multiplier']:.2f}, {s['resolution']}x{s['resolution']} "
        f"(rho = {s['rho']:.3f})",
        f"MACs   {s['macs'] / 1e6:8.1f} M = {s['macs_ratio']:.3f} x the 1.0/224 model "
        f"(alpha^2 rho^2 = {s['predicted_macs_ratio']:.3f})",
        f"params {s['params'] / 1e6:8.2f} M = {s['params_ratio']:.3f} x "
        f"(alpha^2 = {s['predicted_params_ratio']:.3f}; resolution does not enter)",
    ]
    paper = s["paper"]
    lines.append(
        f"paper: {paper.macs_m} M Mult-Adds, {paper.params_m} M params, {paper.top1}% top-1"
        if paper
        else "paper: not one of the settings of Tables 6 and 7"
    )
    return "\n".join(lines)


def width_resolution_grid(
    widths: tuple[float, ...] = (1.0, 0.75, 0.5, 0.25), resolutions: tuple[int, ...] = (224, 192, 160, 128)
) -> list[dict]:
    """`width_resolution_summary` for every (alpha, resolution) pair: the paper's 16 models."""
    return [width_resolution_summary(a, r) for a in widths for r in resolutions]


def width_resolution_widget(**start) -> W.VBox:
    """The course's width/resolution widget: alpha and resolution sliders over MobileNetV1.

    Prints the cost against the baseline and draws the 4x4 grid of the paper with its
    published points and the current setting.
    """
    s = width_resolution_summary(**start)
    controls = {
        "width_multiplier": _float_slider("alpha (width)", s["width_multiplier"], 0.25, 1.5, 0.05),
        "resolution": _slider("resolution", s["resolution"], 96, 320, step=16),
    }
    grid = width_resolution_grid()

    def render(**values):
        summary = width_resolution_summary(**values)
        print(describe_width_resolution(summary))
        plots.width_resolution_grid(grid, summary)
        _show_figure()

    return _live(controls, render)


# --- one 5x5 or two 3x3 (lesson 04) ----------------------------------------------------------


def kernel_crossover(in_channels: int) -> int:
    """Smallest N for which one 5x5 separable layer M -> N has fewer MACs than two 3x3 ones.

    `HWM(25 + N) < HWM(9 + N) + HWN(9 + N)` simplifies to `16 M < N (9 + N)`; with M = N
    that is N > 7.
    """
    cost._check_int("in_channels", in_channels)
    n = 1
    while n * (9 + n) <= 16 * in_channels:
        n += 1
    return n


def kernel_choice_summary(in_channels: int = 32, out_channels: int = 32, feature_size: int = 28) -> dict:
    """One 5x5 separable layer against two stacked 3x3 ones (same receptive field, 5x5).

    Returns the clamped settings, both MACs from `lwcnn.cost.kernel5_vs_two_kernel3_macs`,
    both params, which is cheaper, and the crossover N for this M.
    """
    m, n = clamp(in_channels, 1, 2048), clamp(out_channels, 1, 2048)
    size = clamp(feature_size, 1, 224)
    one, two = cost.kernel5_vs_two_kernel3_macs(m, n, size)
    return {
        "in_channels": m,
        "out_channels": n,
        "feature_size": size,
        "one_5x5_macs": one,
        "two_3x3_macs": two,
        "one_5x5_params": cost.depthwise_separable_params(m, n, 5),
        "two_3x3_params": cost.depthwise_separable_params(m, n, 3) + cost.depthwise_separable_params(n, n, 3),
        "cheaper": "one 5x5" if one < two else "two 3x3" if two < one else "equal",
        "crossover": kernel_crossover(m),
        "receptive_field": (cost.receptive_field([5]), cost.receptive_field([3, 3])),
    }


def describe_kernel_choice(summary: dict) -> str:
    s = summary
    m, n, d = s["in_channels"], s["out_channels"], s["feature_size"]
    return "\n".join(
        [
            f"M = {m}, N = {n}, {d}x{d} output; receptive field 5x5 either way",
            f"one 5x5 separable  HWM(25+N)            = {s['one_5x5_macs']:,} MACs, {s['one_5x5_params']:,} params",
            f"two 3x3 separable  HWM(9+N) + HWN(9+N)  = {s['two_3x3_macs']:,} MACs, {s['two_3x3_params']:,} params",
            f"cheaper: {s['cheaper']}; for M = {m} the 5x5 wins from N = {s['crossover']}",
        ]
    )


def kernel_choice_widget(**start) -> W.VBox:
    """Sliders over M, N and the map size; both MAC curves against N with the crossover."""
    s = kernel_choice_summary(**start)
    controls = {
        "in_channels": _slider("M (in)", s["in_channels"], 1, 256),
        "out_channels": _slider("N (out)", s["out_channels"], 1, 256),
        "feature_size": _slider("size", s["feature_size"], 7, 112, step=7),
    }

    def render(**values):
        summary = kernel_choice_summary(**values)
        print(describe_kernel_choice(summary))
        curve = [
            kernel_choice_summary(values["in_channels"], n, values["feature_size"]) for n in range(1, 257)
        ]
        plots.kernel_choice_curves(curve, summary)
        _show_figure()

    return _live(controls, render)


# --- squeeze-and-excite (lesson 06) ------------------------------------------------------------


def se_summary(channels: int = 96, ratio: float = 0.25, feature_size: int = 14) -> dict:
    """Cost of a squeeze-and-excite block on C channels with reduction ratio r.

    Squeeze width `S = floor(C r)` (at least 1) as in the `2 C^2 r` formula, and MobileNetV3's
    `make_divisible(floor(C r), 8)`; params `2 C S + S + C` (two 1x1 convs with biases), MACs
    `2 C S`, and for scale the MACs of a 3x3 depthwise conv on the same C x size x size map.
    """
    channels = clamp(channels, 1, 2048)
    ratio = clamp_float(ratio, 0.01, 1.0, digits=3)
    size = clamp(feature_size, 1, 224)
    squeeze = cost.se_channels(channels, ratio, divisor=None)
    v3_squeeze = cost.se_channels(channels, ratio, divisor=8)
    return {
        "channels": channels,
        "ratio": ratio,
        "feature_size": size,
        "squeeze_channels": squeeze,
        "params": cost.se_params(channels, squeeze),
        "formula_params": 2 * channels * channels * ratio,
        "macs": cost.se_macs(channels, squeeze),
        "v3_squeeze_channels": v3_squeeze,
        "v3_params": cost.se_params(channels, v3_squeeze),
        "elementwise_ops": cost.se_elementwise_ops(channels, size),
        "depthwise_macs": cost.depthwise_conv_macs(channels, 3, size),
    }


def describe_se(summary: dict) -> str:
    s = summary
    c, r, d = s["channels"], s["ratio"], s["feature_size"]
    return "\n".join(
        [
            f"SE on C = {c} channels, r = {r:g}: squeeze to S = floor(C r) = {s['squeeze_channels']}",
            f"params 2CS + S + C = {s['params']:,}   (2 C^2 r = {s['formula_params']:,.0f})   MACs 2CS = {s['macs']:,}",
            f"MobileNetV3 rounds S to {s['v3_squeeze_channels']} (a multiple of 8): {s['v3_params']:,} params",
            f"at {d}x{d}: pooling + rescale {s['elementwise_ops']:,} element ops; "
            f"a 3x3 depthwise conv there: {s['depthwise_macs']:,} MACs",
        ]
    )


def se_widget(**start) -> W.VBox:
    """Sliders over C, r and the map size; SE params against C for three ratios."""
    s = se_summary(**start)
    controls = {
        "channels": _slider("C (channels)", s["channels"], 8, 1024, step=8),
        "ratio": _float_slider("r (ratio)", s["ratio"], 0.05, 1.0, 0.05),
        "feature_size": _slider("size", s["feature_size"], 7, 112, step=7),
    }

    def render(**values):
        summary = se_summary(**values)
        print(describe_se(summary))
        plots.se_cost_curves(summary)
        _show_figure()

    return _live(controls, render)


# --- network slimming (lesson 08) ----------------------------------------------------------------

# the score dropdown: label -> `normalize` of lwcnn.prune.slim ("raw" stands for None, which a
# Dropdown cannot hold as a value: None there means "nothing selected")
SCORE_CHOICES = {"raw |gamma| (the paper)": "raw", "|gamma| / layer mean": "mean"}


def slimming_summary(
    model, prune_rate: float = 0.4, normalize: str | None = "mean", test_loader=None
) -> dict:
    """`lwcnn.prune.slim(model, prune_rate, normalize=...)` in numbers, for the prune-rate slider.

    The rate is clamped to [0, 0.95]. Returns it, the pruned and unpruned params and MACs (from
    `lwcnn.models.cost`), their ratios, `kept`: (channel group, kept, channels) per prunable
    group, the floored groups, and the test accuracy right after slimming (before any
    fine-tuning) when `test_loader` is given, else None.
    """
    from lwcnn import models, prune
    from lwcnn.train import evaluate

    rate = clamp_float(prune_rate, 0.0, 0.95)
    result = prune.slim(model, rate, normalize=normalize)
    full, pruned = models.cost(prune.spec_of(model)), models.cost(result.cfg)
    groups = {group.name: group.channels for group in prune.channel_groups(result.cfg.base)}
    return {
        "prune_rate": rate,
        "normalize": normalize,
        "params": pruned.params,
        "macs": pruned.macs,
        "full_params": full.params,
        "full_macs": full.macs,
        "params_ratio": full.params / pruned.params,
        "macs_ratio": full.macs / pruned.macs,
        "kept": [(name, kept, groups[name]) for name, kept in result.cfg.widths],
        "floored": result.floored,
        "accuracy": None if test_loader is None else evaluate(result.model, test_loader)[1],
    }


def describe_slimming(summary: dict) -> str:
    """The lines a learner reads under the prune-rate slider."""
    s = summary
    scores = "raw |gamma|" if s["normalize"] is None else f"|gamma| normalized by the layer {s['normalize']}"
    lines = [
        f"prune rate {s['prune_rate']:.2f} ({scores})",
        f"params {s['params']:>10,} of {s['full_params']:,}: {s['params_ratio']:.2f}x fewer",
        f"MACs   {s['macs']:>10,} of {s['full_macs']:,}: {s['macs_ratio']:.2f}x fewer",
        f"groups held at min_channels: {', '.join(s['floored']) or 'none'}",
    ]
    if s["accuracy"] is not None:
        lines.append(f"test accuracy right after slimming (no fine-tuning): {s['accuracy']:.4f}")
    return "\n".join(lines)


def slimming_widget(model, test_loader=None, **start) -> W.VBox:
    """A prune-rate slider and a score choice over `model`: costs, accuracy and kept channels per layer."""
    s = slimming_summary(model, test_loader=test_loader, **start)
    controls = {
        "prune_rate": _float_slider("prune rate", s["prune_rate"], 0.0, 0.9, 0.05),
        "scores": W.Dropdown(
            options=list(SCORE_CHOICES.items()), value=s["normalize"] or "raw", description="scores"
        ),
    }

    def render(prune_rate, scores):
        normalize = None if scores == "raw" else scores
        summary = slimming_summary(model, prune_rate, normalize, test_loader)
        print(describe_slimming(summary))
        plots.kept_channels_bars(summary)
        _show_figure()

    return _live(controls, render)


# --- the MnasNet reward over the tabular benchmark (lesson 09) ------------------------------------


def reward_summary(rows, target_ms: float, exponent: float = -0.07, hard: bool = False) -> dict:
    """MnasNet's reward of every table row (`lwcnn.nas.load_table`) at target latency T.

    `hard=False`: the soft constraint with alpha = beta = `exponent` (clamped to [-1, 0]);
    `hard=True`: alpha = 0, beta = -1. T is clamped to the table's latency range. Returns the
    settings, the rewards (row order), the best row's index, the five best, the Pareto front
    (`lwcnn.nas.pareto_front`) and the share of networks within T.
    """
    from lwcnn import nas

    latencies = [row.latency_ms for row in rows]
    target = min(max(float(target_ms), min(latencies)), max(latencies))  # unrounded: T may be any latency
    exponent = clamp_float(exponent, -1.0, 0.0, digits=3)
    alpha, beta = nas.HARD if hard else (exponent, exponent)
    rewards = list(nas.table_rewards(rows, target, alpha, beta).values())
    ranked = sorted(range(len(rows)), key=lambda i: rewards[i], reverse=True)
    return {
        "target_ms": target,
        "exponent": exponent,
        "hard": hard,
        "alpha": alpha,
        "beta": beta,
        "rewards": rewards,
        "best": ranked[0],
        "top": ranked[:5],
        "pareto": nas.pareto_front([(row.latency_ms, row.accuracy) for row in rows]),
        "within_target": sum(latency <= target for latency in latencies) / len(rows),
    }


def describe_reward(rows, summary: dict) -> str:
    """The lines a learner reads under the T and w sliders."""
    s = summary
    kind = "hard (alpha = 0, beta = -1)" if s["hard"] else f"soft (alpha = beta = w = {s['exponent']:g})"
    lines = [
        f"T = {s['target_ms']:.3f} ms, {kind}; {s['within_target']:.0%} of the networks are within T",
        "best:",
    ]
    for i in s["top"]:
        row = rows[i]
        ops = ", ".join(f"{block.op} k{block.kernel}" for block in row.arch)
        pareto = "  (on the Pareto front)" if i in s["pareto"] else ""
        lines.append(
            f"  {s['rewards'][i]:.4f}  acc {row.accuracy:.4f}  {row.latency_ms:.3f} ms  {ops}{pareto}"
        )
    return "\n".join(lines)


def reward_widget(rows, target_ms: float | None = None, exponent: float = -0.07) -> W.VBox:
    """Sliders over T and w (and a hard-constraint switch) redrawing the reward over the table."""
    latencies = sorted(row.latency_ms for row in rows)
    start = reward_summary(rows, latencies[len(latencies) // 2] if target_ms is None else target_ms, exponent)
    low, high = latencies[0], latencies[-1]
    controls = {
        "target_ms": _float_slider(
            "T (ms)", start["target_ms"], low, high, round((high - low) / 50, 3) or 0.001
        ),
        "exponent": _float_slider("w", start["exponent"], -1.0, 0.0, 0.01),
        "hard": W.Checkbox(value=False, description="hard constraint"),
    }

    def render(target_ms, exponent, hard):
        summary = reward_summary(rows, target_ms, exponent, hard)
        print(describe_reward(rows, summary))
        plots.reward_landscape(rows, summary)
        _show_figure()

    return _live(controls, render)


# --- compound scaling and TinyNet (lesson 11) ------------------------------------------------------


def compound_summary(
    phi: float = 1.0, alpha: float = 1.2, beta: float = 1.1, gamma: float = 1.15, base=None
) -> dict:
    """EfficientNet's compound scaling at phi (clamped to [-3, 3]; alpha, beta, gamma to [1, 2]).

    `base` is an `lwcnn.models.EfficientNet` spec (default: B0 at 224). Returns the settings, the
    multipliers `lwcnn.scaling.compound_multipliers`, the scaled network's input size, blocks per
    stage, params and MACs (`lwcnn.models.cost`), its real MACs over the base's, the nominal
    `(alpha beta^2 gamma^2)^phi` and `2^phi`.
    """
    from lwcnn import models, scaling

    base = models.EfficientNet() if base is None else base
    phi = clamp_float(phi, -3.0, 3.0)
    alpha, beta, gamma = (clamp_float(value, 1.0, 2.0) for value in (alpha, beta, gamma))
    multipliers = scaling.compound_multipliers(phi, alpha, beta, gamma)
    spec = scaling.scaled_spec(base, multipliers)
    result, base_cost = models.cost(spec), models.cost(base)
    return {
        "phi": phi,
        "alpha": alpha,
        "beta": beta,
        "gamma": gamma,
        "multipliers": multipliers,
        "resolution": spec.resolution,
        "blocks": [len(stage.layers) for stage in spec.stages()[1:-1]],
        "params": result.params,
        "macs": result.macs,
        "base_macs": base_cost.macs,
        "macs_ratio": result.macs / base_cost.macs,
        "nominal_ratio": scaling.flops_factor(*multipliers),
        "two_to_phi": 2.0**phi,
    }


def describe_compound(summary: dict) -> str:
    """The lines a learner reads under the phi slider."""
    s = summary
    d, w, r = s["multipliers"]
    product = s["alpha"] * s["beta"] ** 2 * s["gamma"] ** 2
    return "\n".join(
        [
            f"phi = {s['phi']:g}, alpha = {s['alpha']:g}, beta = {s['beta']:g}, gamma = {s['gamma']:g} "
            f"(alpha beta^2 gamma^2 = {product:.3f})",
            f"depth x{d:.3f}  width x{w:.3f}  resolution x{r:.3f} -> {s['resolution']}x{s['resolution']}, "
            f"blocks per stage {s['blocks']}",
            f"params {s['params']:,}   MACs {s['macs']:,}",
            f"MACs / base = {s['macs_ratio']:.3f}   d w^2 r^2 = {s['nominal_ratio']:.3f}   2^phi = {s['two_to_phi']:.3f}",
        ]
    )


def compound_widget(base=None, **start) -> W.VBox:
    """Sliders over phi and alpha, beta, gamma; prints the scaled network and draws MACs against phi."""
    s = compound_summary(base=base, **start)
    controls = {
        "phi": _float_slider("phi", s["phi"], -3.0, 3.0, 0.1),
        "alpha": _float_slider("alpha (depth)", s["alpha"], 1.0, 2.0, 0.05),
        "beta": _float_slider("beta (width)", s["beta"], 1.0, 2.0, 0.05),
        "gamma": _float_slider("gamma (resolution)", s["gamma"], 1.0, 2.0, 0.05),
    }

    def render(**values):
        summary = compound_summary(base=base, **values)
        print(describe_compound(summary))
        curve = [
            compound_summary(phi / 4, summary["alpha"], summary["beta"], summary["gamma"], base)
            for phi in range(-12, 13)
        ]
        plots.compound_scaling_curve(curve, summary)
        _show_figure()

    return _live(controls, render)


def tinynet_summary(gp, budget: float = 0.5, base=None) -> dict:
    """TinyNet's recommendation at FLOPs budget c (clamped to [0.1, 1]) against inverse compound scaling.

    `gp` is a fitted `lwcnn.scaling.TinyNetGP`; `base` an EfficientNet spec (default
    `scaling.digits_base()`). Returns r(c), d(c) and their standard deviations, the paper's
    `w = sqrt(c / (r^2 d))` and the real-budget w (`scaling.real_budget_width`), the real MACs of
    both, and inverse compound scaling's multipliers at c: nominal (`inverse_compound_multipliers`)
    and matched to the real budget (`real_budget_phi`), with their real MACs.
    """
    from lwcnn import models, scaling

    base = scaling.digits_base() if base is None else base
    budget = clamp_float(budget, 0.1, 1.0)
    p = gp.predict(budget)
    r, d = float(p["resolution"][0]), float(p["depth"][0])
    paper = gp.recommend(budget)
    real = scaling.Multipliers(d, scaling.real_budget_width(base, budget, d, r), r)
    phi = scaling.inverse_compound_phi(budget)
    inverse = scaling.inverse_compound_multipliers(budget)
    real_phi = scaling.real_budget_phi(base, budget)
    inverse_real = scaling.compound_multipliers(real_phi)
    base_macs = models.cost(base).macs

    def network(multipliers):
        spec = scaling.scaled_spec(base, multipliers)
        cost = models.cost(spec)
        return {"multipliers": multipliers, "resolution": spec.resolution, "macs": cost.macs,
                "params": cost.params, "macs_ratio": cost.macs / base_macs}  # fmt: skip

    return {
        "budget": budget,
        "resolution_std": float(p["resolution_std"][0]),
        "depth_std": float(p["depth_std"][0]),
        "tinynet": network(paper),
        "tinynet_real": network(real),
        "inverse_phi": phi,
        "inverse": network(inverse),
        "inverse_real_phi": real_phi,
        "inverse_real": network(inverse_real),
        "base_macs": base_macs,
    }


def describe_tinynet(summary: dict) -> str:
    """The lines a learner reads under the budget slider."""
    s = summary

    def line(label, net):
        d, w, r = net["multipliers"]
        return (
            f"{label:<34} d {d:.3f}  w {w:.3f}  r {r:.3f} ({net['resolution']:>2} px)  "
            f"MACs {net['macs']:>9,} = {net['macs_ratio']:.3f} x base"
        )

    return "\n".join(
        [
            f"budget c = {s['budget']:g} x the base's {s['base_macs']:,} MACs; "
            f"GP: r = {s['tinynet']['multipliers'].resolution:.3f} +- {s['resolution_std']:.3f}, "
            f"d = {s['tinynet']['multipliers'].depth:.3f} +- {s['depth_std']:.3f}",
            line("TinyNet, w = sqrt(c / (r^2 d))", s["tinynet"]),
            line("TinyNet, w on the real network", s["tinynet_real"]),
            line(f"inverse compound, phi = {s['inverse_phi']:.2f}", s["inverse"]),
            line(f"inverse compound, real phi = {s['inverse_real_phi']:.2f}", s["inverse_real"]),
        ]
    )


def tinynet_widget(gp, samples=(), best=(), base=None, budget: float = 0.5) -> W.VBox:
    """A budget slider c over TinyNet's GP fits r(c), d(c) (drawn with the table's `samples` and
    the `best` the GPs were fitted on) and the recommendation against inverse compound scaling."""
    s = tinynet_summary(gp, budget, base)
    controls = {"budget": _float_slider("budget c", s["budget"], 0.1, 1.0, 0.05)}

    def render(budget):
        summary = tinynet_summary(gp, budget, base)
        print(describe_tinynet(summary))
        plots.tinynet_fit(gp, samples, best, summary)
        _show_figure()

    return _live(controls, render)


# --- Gumbel-softmax on a toy distribution (lesson 10) ----------------------------------------------

GUMBEL_TOY_LOGITS = (1.0, 0.5, 0.0, -1.0)  # four candidate blocks; softmax 0.47 / 0.28 / 0.17 / 0.06


def gumbel_summary(
    temperature: float = 1.0, logits=GUMBEL_TOY_LOGITS, samples: int = 3, draws: int = 2000, seed: int = 0
) -> dict:
    """Gumbel-softmax draws (`lwcnn.nas.gumbel_softmax`) of `logits` at `temperature` (clamped
    to [0.05, 10]): the softmax, `samples` weight vectors, the mean weight vector and mean largest
    weight over `draws` draws (1: one-hot), and how often each option has the largest weight
    (the softmax at every temperature: the Gumbel-max trick). Seeded."""
    import torch

    from lwcnn import nas

    temperature = clamp_float(temperature, 0.05, 10.0)
    logits_t = torch.tensor(logits, dtype=torch.float64)
    weights = nas.gumbel_softmax(logits_t.expand(draws, -1), temperature, torch.Generator().manual_seed(seed))
    winners = torch.bincount(weights.argmax(dim=-1), minlength=len(logits)) / draws
    return {
        "temperature": temperature,
        "logits": tuple(logits),
        "probabilities": torch.softmax(logits_t, dim=0).tolist(),
        "samples": weights[:samples].tolist(),
        "mean_weights": weights.mean(dim=0).tolist(),
        "mean_max_weight": float(weights.max(dim=-1).values.mean()),
        "argmax_share": winners.tolist(),
    }


def describe_gumbel(summary: dict) -> str:
    """The lines a learner reads under the temperature slider."""
    s = summary

    def row(values):
        return " ".join(f"{value:5.2f}" for value in values)

    lines = [
        f"tau = {s['temperature']:.2f}: the largest weight of a draw is {s['mean_max_weight']:.2f} on average"
        " (1 = one-hot, 0.25 = uniform)",
        f"softmax(theta)        {row(s['probabilities'])}",
        f"largest-weight share  {row(s['argmax_share'])}   (Gumbel-max: the softmax at any tau)",
        f"mean weights          {row(s['mean_weights'])}",
    ]
    lines += [f"draw {i + 1}                {row(sample)}" for i, sample in enumerate(s["samples"])]
    return "\n".join(lines)


def gumbel_widget(**start) -> W.VBox:
    """A temperature slider redrawing Gumbel-softmax draws of a four-option toy distribution."""
    first = gumbel_summary(**start)
    controls = {"temperature": _float_slider("temperature tau", first["temperature"], 0.05, 10.0, 0.05)}

    def render(temperature):
        summary = gumbel_summary(temperature, **{k: v for k, v in start.items() if k != "temperature"})
        print(describe_gumbel(summary))
        plots.gumbel_draws(summary)
        _show_figure()

    return _live(controls, render)
