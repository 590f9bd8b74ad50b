"""The width/resolution widget of lesson 03: MobileNetV1 at alpha and rho against the paper."""

from __future__ import annotations

import ipywidgets as W

from lwcnn import plots
from lwcnn.widgets.controls import Slider, clamp, clamp_float, summary_widget

V1_BASELINE_RESOLUTION = 224


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
    sliders = {
        "width_multiplier": Slider("alpha (width)", 0.25, 1.5, step=0.05),
        "resolution": Slider("resolution", 96, 320, step=16),
    }
    grid = width_resolution_grid()
    return summary_widget(
        width_resolution_summary,
        start,
        sliders,
        describe_width_resolution,
        lambda summary: plots.width_resolution_grid(grid, summary),
    )
