"""The squeeze-and-excite widget of lesson 06: an SE block's cost against C and r."""

from __future__ import annotations

import ipywidgets as W

from lwcnn import cost, plots
from lwcnn.widgets.controls import Slider, clamp, clamp_float, format_lines, summary_widget


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
    """The lines a learner reads under the C, r and size sliders."""
    return format_lines(
        summary,
        "SE on C = {channels} channels, r = {ratio:g}: squeeze to S = floor(C r) = {squeeze_channels}",
        "params 2CS + S + C = {params:,}   (2 C^2 r = {formula_params:,.0f})   MACs 2CS = {macs:,}",
        "MobileNetV3 rounds S to {v3_squeeze_channels} (a multiple of 8): {v3_params:,} params",
        "at {feature_size}x{feature_size}: pooling + rescale {elementwise_ops:,} element ops; "
        "a 3x3 depthwise conv there: {depthwise_macs:,} MACs",
    )


def se_widget(**start) -> W.VBox:
    """Sliders over C, r and the map size; SE params against C for three ratios."""
    sliders = {
        "channels": Slider("C (channels)", 8, 1024, step=8),
        "ratio": Slider("r (ratio)", 0.05, 1.0, step=0.05),
        "feature_size": Slider("size", 7, 112, step=7),
    }
    return summary_widget(se_summary, start, sliders, describe_se, plots.se_cost_curves)
