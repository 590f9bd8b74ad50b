"""The Fire-module widget of lesson 13: SqueezeNet's three strategies, counted on one module."""

from __future__ import annotations

import ipywidgets as W

from lwcnn import plots
from lwcnn.widgets.controls import Slider, clamp, clamp_float, format_lines, summary_widget

FIRE_STEP = 0.125  # the sliders' step: SqueezeNet's SR = 0.125 and pct3x3 = 0.5 lie on it


def fire_summary(
    in_channels: int = 96,
    expand_channels: int = 128,
    squeeze_ratio: float = 0.125,
    share_3x3: float = 0.5,
    feature_size: int = 55,
) -> dict:
    """A Fire module from SqueezeNet's metaparameters (Iandola et al. 2016, Sec. 3.2 and 5):
    `e = expand_channels` expand filters, `SR = s / e` (squeeze ratio), `pct3x3 = e3x3 / e`.

    `s = round(SR e)`, `e3x3 = round(pct3x3 e)`, `e1x1 = e - e3x3`, each at least 1 (so
    `share_3x3` is clamped to leave one filter of each kind). Costs from `lwcnn.blocks` specs on
    a `feature_size` map (convs with bias, as SqueezeNet's), against two baselines with the same
    `e` outputs: a plain 3x3 conv on the input (none of the strategies) and the same 1x1/3x3 mix
    without the squeeze layer (strategy 1 only).
    """
    from lwcnn.blocks import ConvBNAct, Fire

    in_channels = clamp(in_channels, 1, 1024)
    expand = clamp(expand_channels, 2, 1024)
    squeeze_ratio = clamp_float(squeeze_ratio, FIRE_STEP, 1.0, digits=3)
    share_3x3 = clamp_float(share_3x3, 1 / expand, 1 - 1 / expand, digits=3)
    size = clamp(feature_size, 1, 224)
    squeeze = max(1, round(squeeze_ratio * expand))
    expand3x3 = min(expand - 1, max(1, round(share_3x3 * expand)))
    expand1x1 = expand - expand3x3
    plain = dict(norm=False, bias=True, activation="relu")
    fire = Fire(in_channels, squeeze, expand1x1, expand3x3).cost(size)
    conv3x3 = ConvBNAct(in_channels, expand, 3, **plain).cost(size)
    unsqueezed = [
        ConvBNAct(in_channels, expand1x1, 1, **plain),
        ConvBNAct(in_channels, expand3x3, 3, **plain),
    ]
    no_squeeze = [spec.cost(size) for spec in unsqueezed]
    return {
        "in_channels": in_channels,
        "expand_channels": expand,
        "squeeze_ratio": squeeze_ratio,
        "share_3x3": share_3x3,
        "feature_size": size,
        "squeeze_channels": squeeze,
        "expand1x1_channels": expand1x1,
        "expand3x3_channels": expand3x3,
        "params": fire.params,
        "macs": fire.macs,
        "conv3x3_params": conv3x3.params,
        "conv3x3_macs": conv3x3.macs,
        "no_squeeze_params": sum(c.params for c in no_squeeze),
        "no_squeeze_macs": sum(c.macs for c in no_squeeze),
        "params_ratio": conv3x3.params / fire.params,
        "macs_ratio": conv3x3.macs / fire.macs,
    }


def describe_fire(summary: dict) -> str:
    """The lines a learner reads under the Fire sliders."""
    conv = f"plain 3x3 conv {summary['in_channels']} -> {summary['expand_channels']}:"
    return format_lines(
        summary,
        "Fire({in_channels} -> squeeze {squeeze_channels} -> expand 1x1 {expand1x1_channels} "
        "+ 3x3 {expand3x3_channels}) at {feature_size}x{feature_size}: SR = {squeeze_ratio:g}, "
        "pct3x3 = {share_3x3:g}",
        "{conv:<31}params {conv3x3_params:>9,}   MACs {conv3x3_macs:>13,}",
        "{mix:<31}params {no_squeeze_params:>9,}   MACs {no_squeeze_macs:>13,}",
        "{fire:<31}params {params:>9,}   MACs {macs:>13,}",
        "the 3x3 conv has {params_ratio:.1f}x the Fire module's params and {macs_ratio:.1f}x its MACs",
        conv=conv,
        mix="1x1/3x3 mix, no squeeze:",
        fire="Fire module:",
    )


def fire_widget(**start) -> W.VBox:
    """Sliders over the squeeze ratio, the share of 3x3 expand filters and the map size (strategy 3:
    MACs grow with the map, params do not); bars of the three designs' params and MACs."""
    sliders = {
        "squeeze_ratio": Slider("SR (squeeze ratio)", FIRE_STEP, 1.0, step=FIRE_STEP),
        "share_3x3": Slider("pct3x3 (share of 3x3)", FIRE_STEP, 1.0 - FIRE_STEP, step=FIRE_STEP),
        "feature_size": Slider("map size", 7, 112, step=1),
    }
    return summary_widget(fire_summary, start, sliders, describe_fire, plots.fire_cost_bars)
