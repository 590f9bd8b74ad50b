"""The kernel-choice widget of lesson 04: one 5x5 separable layer or two 3x3 ones."""

from __future__ import annotations

import ipywidgets as W

from lwcnn import checks, cost, plots
from lwcnn.widgets.controls import Slider, clamp, format_lines, summary_widget


def kernel_crossover(in_channels: int) -> int:
    """Smallest N for which one 5x5 separable layer M -> N has fewer MACs than two 3x3 ones.

    `HWM(25 + N) < HWM(9 + N) + HWN(9 + N)` simplifies to `16 M < N (9 + N)`; with M = N
    that is N > 7.
    """
    checks.check_int("in_channels", in_channels)
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
    """The lines a learner reads under the M, N and size sliders."""
    return format_lines(
        summary,
        "M = {in_channels}, N = {out_channels}, {feature_size}x{feature_size} output; receptive field 5x5 either way",
        "one 5x5 separable  HWM(25+N)            = {one_5x5_macs:,} MACs, {one_5x5_params:,} params",
        "two 3x3 separable  HWM(9+N) + HWN(9+N)  = {two_3x3_macs:,} MACs, {two_3x3_params:,} params",
        "cheaper: {cheaper}; for M = {in_channels} the 5x5 wins from N = {crossover}",
    )


def kernel_choice_widget(**start) -> W.VBox:
    """Sliders over M, N and the map size; both MAC curves against N with the crossover."""
    sliders = {
        "in_channels": Slider("M (in)", 1, 256),
        "out_channels": Slider("N (out)", 1, 256),
        "feature_size": Slider("size", 7, 112, step=7),
    }
    return summary_widget(kernel_choice_summary, start, sliders, describe_kernel_choice, _draw_kernel_choice)


def _draw_kernel_choice(summary: dict) -> None:
    """Both MAC curves against N (1 to 256) at this M and map size, with the crossover and this N."""
    m, size = summary["in_channels"], summary["feature_size"]
    curve = [kernel_choice_summary(m, n, size) for n in range(1, 257)]
    plots.kernel_choice_curves(curve, summary)
