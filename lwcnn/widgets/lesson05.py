"""The expansion widget of lesson 05: a MobileNetV2 inverted residual at expansion t."""

from __future__ import annotations

import ipywidgets as W

from lwcnn import cost, plots
from lwcnn.widgets.controls import Slider, clamp, format_lines, nearest_odd, summary_widget


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
    """The lines a learner reads under the t, M, N and size sliders."""
    return format_lines(
        summary,
        "{in_channels} -> 1x1 -> {expanded_channels} (t = {expand_ratio}) -> "
        "{kernel_size}x{kernel_size} depthwise -> 1x1 -> {out_channels}, at {feature_size}x{feature_size}{shortcut}",
        "params {params:,}   MACs {macs:,}",
        "expanded tensor {expanded_bytes:,} bytes; thin in + out tensors {bottleneck_bytes:,} bytes",
        shortcut="  + shortcut" if summary["residual"] else "",
    )


def expansion_widget(**start) -> W.VBox:
    """Sliders over the expansion ratio t and the block's widths; curves of cost and memory vs t."""
    sliders = {
        "expand_ratio": Slider("t (expansion)", 1, 12),
        "in_channels": Slider("M (in)", 8, 160, step=8),
        "out_channels": Slider("N (out)", 8, 160, step=8),
        "feature_size": Slider("size", 7, 112, step=7),
    }
    return summary_widget(expansion_summary, start, sliders, describe_expansion, _draw_expansion)


def _draw_expansion(summary: dict) -> None:
    """MACs and activation memory against t (1 to 12) at this block's widths, size and kernel; this t marked."""
    s = summary
    curve = [
        expansion_summary(s["in_channels"], s["out_channels"], t, s["feature_size"], s["kernel_size"])
        for t in range(1, 13)
    ]
    plots.expansion_curves(curve, summary)
