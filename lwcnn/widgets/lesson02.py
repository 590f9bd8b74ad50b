"""The separable-ratio widget of lesson 02: standard against depthwise-separable, `1/N + 1/Dk^2`."""

from __future__ import annotations

from fractions import Fraction

import ipywidgets as W

from lwcnn import cost, plots
from lwcnn.widgets.controls import Slider, clamp, nearest_odd, summary_widget


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


def separable_ratio_widget(**start) -> W.VBox:
    """Sliders over N and Dk; prints both costs and draws `1/N + 1/Dk^2` against N."""
    sliders = {
        "out_channels": Slider("N (output channels)", 1, 1024),
        "kernel_size": Slider("Dk (kernel)", 1, 7, step=2),
    }
    return summary_widget(separable_summary, start, sliders, describe_separable, plots.separable_ratio_curve)
