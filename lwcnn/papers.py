"""Figures the papers publish, as data: the lessons put them next to what `lwcnn` counts.

Each entry is copied from the paper's own table (the source names table or figure). MACs are
the papers' "Mult-Adds" / "MAdds" / "FLOPs" (all of them count multiply-adds of conv and
linear layers), in millions; params in millions; top-1 is ImageNet single-crop accuracy in %.
`None` where the paper does not give the figure.

    >>> PAPER_FIGURES["mobilenet_v2"].top1
    72.0
    >>> [row.macs_m for row in MOBILENET_V1_WIDTH]
    [569, 325, 149, 41]
"""

from __future__ import annotations

from typing import NamedTuple


class PaperFigure(NamedTuple):
    """One model's published figures: top-1 (%), MACs (millions), params (millions), source."""

    top1: float | None
    macs_m: float | None
    params_m: float | None
    source: str


class V1Point(NamedTuple):
    """A MobileNetV1 row of Table 6 (width) or Table 7 (resolution)."""

    width_multiplier: float
    resolution: int
    top1: float
    macs_m: int
    params_m: float


MOBILENET_V1_WIDTH: tuple[V1Point, ...] = (
    # Howard et al. 2017, Table 6: width multiplier at 224
    V1Point(1.0, 224, 70.6, 569, 4.2),
    V1Point(0.75, 224, 68.4, 325, 2.6),
    V1Point(0.5, 224, 63.7, 149, 1.3),
    V1Point(0.25, 224, 50.6, 41, 0.5),
)

MOBILENET_V1_RESOLUTION: tuple[V1Point, ...] = (
    # Howard et al. 2017, Table 7: resolution at width 1.0
    V1Point(1.0, 224, 70.6, 569, 4.2),
    V1Point(1.0, 192, 69.1, 418, 4.2),
    V1Point(1.0, 160, 67.2, 290, 4.2),
    V1Point(1.0, 128, 64.4, 186, 4.2),
)

MOBILENET_V1_LAYER_SHARES: dict[str, tuple[float, float]] = {
    # Howard et al. 2017, Table 2: share of Mult-Adds and of parameters (%) per layer type
    "conv 1x1": (94.86, 74.59),
    "conv dw 3x3": (3.06, 1.06),
    "conv 3x3": (1.19, 0.02),
    "fully connected": (0.18, 24.33),
}

PAPER_FIGURES: dict[str, PaperFigure] = {
    "mobilenet_v1": PaperFigure(70.6, 569, 4.2, "MobileNetV1, Table 6"),
    "mobilenet_v2": PaperFigure(72.0, 300, 3.4, "MobileNetV2, Table 4"),
    "mobilenet_v3_large": PaperFigure(75.2, 219, 5.4, "MobileNetV3, Table 3"),
    "mobilenet_v3_small": PaperFigure(67.4, 56, 2.5, "MobileNetV3, Table 4"),
    "mnasnet_a1": PaperFigure(75.2, 312, 3.9, "MnasNet, Table 1"),
    "shufflenet_v2_x0_5": PaperFigure(60.3, 41, 1.4, "ShuffleNetV2, Table 5 (error 39.7)"),
    "shufflenet_v2_x1_0": PaperFigure(69.4, 146, 2.3, "ShuffleNetV2, Table 5 (error 30.6)"),
    "shufflenet_v2_x1_5": PaperFigure(72.6, 299, 3.5, "ShuffleNetV2, Table 5 (error 27.4)"),
    "shufflenet_v2_x2_0": PaperFigure(74.9, 591, 7.4, "ShuffleNetV2, Table 5 (error 25.1)"),
    "ghostnet_1_0": PaperFigure(73.9, 141, 5.2, "GhostNet, Table 7"),
    "efficientnet_b0": PaperFigure(77.1, 390, 5.3, "EfficientNet, Table 2"),
    "efficientnet_b1": PaperFigure(79.1, 700, 7.8, "EfficientNet, Table 2"),
    "efficientnet_b2": PaperFigure(80.1, 1000, 9.2, "EfficientNet, Table 2"),
    "efficientnet_b3": PaperFigure(81.6, 1800, 12.0, "EfficientNet, Table 2"),
    "squeezenet1_0": PaperFigure(57.5, None, 1.25, "SqueezeNet, Table 2"),
}
