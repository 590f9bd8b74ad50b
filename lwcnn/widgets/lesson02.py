"""The separable-ratio widget of lesson 02: standard against depthwise-separable, `1/N + 1/Dk^2`."""

from __future__ import annotations

from fractions import Fraction

import ipywidgets as W

from lwcnn import cost, plots
from lwcnn.widgets.controls import Slider, clamp, format_lines, nearest_odd, summary_widget


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
    """The lines a learner reads under the N and Dk sliders."""
    return format_lines(
        summary,
        "N = {out_channels}, Dk = {kernel_size}: "
        "separable / standard = 1/{out_channels} + 1/{dk_squared} = {ratio_decimal:.4f}",
        "standard  {standard_macs:,} MACs",
        "separable {separable_macs:,} MACs  ({saving:.2f}x fewer)",
        dk_squared=summary["kernel_size"] ** 2,
        ratio_decimal=float(summary["ratio"]),  # a Fraction takes no :.4f before Python 3.12
    )


def separable_ratio_widget(**start) -> W.VBox:
    """Sliders over N and Dk; prints both costs and draws `1/N + 1/Dk^2` against N."""
    sliders = {
        "out_channels": Slider("N (output channels)", 1, 1024),
        "kernel_size": Slider("Dk (kernel)", 1, 7, step=2),
    }
    return summary_widget(separable_summary, start, sliders, describe_separable, plots.separable_ratio_curve)
