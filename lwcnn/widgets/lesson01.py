"""The conv-cost widget of lesson 01: one conv layer's shape, params and MACs under seven sliders."""

from __future__ import annotations

import ipywidgets as W

from lwcnn import cost, plots
from lwcnn.widgets.controls import Slider, clamp, format_lines, nearest_odd, summary_widget


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
    return format_lines(
        summary,
        "input  {in_channels} x {height} x {width}  ->  output {c} x {h} x {w}",
        "kernel {kernel_size}x{kernel_size}, stride {stride}, groups {groups}",
        "params {params:,}",
        "MACs   {macs:,}   (FLOPs {flops:,})",
        "output activations {output_bytes:,} bytes (float32)",
        c=c,
        h=h,
        w=w,
    )


def conv_cost_widget(**start) -> W.VBox:
    """Sliders over H, W, C_in, C_out, k, stride and groups; prints the cost and draws a bar chart."""
    sliders = {
        "height": Slider("H", 1, 224),
        "width": Slider("W", 1, 224),
        "in_channels": Slider("C_in", 1, 512),
        "out_channels": Slider("C_out", 1, 512),
        "kernel_size": Slider("k", 1, 7, step=2),
        "stride": Slider("stride", 1, 4),
        "groups": Slider("groups", 1, 512),
    }
    # a groups value that divides neither width snaps to the largest one that does (valid_groups)
    return summary_widget(
        conv_layer_summary, start, sliders, describe_conv, plots.conv_cost_bars, snap=("groups",)
    )
