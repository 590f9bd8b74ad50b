"""EfficientNetV2 (Tan and Le, 2021): Fused-MBConv in the early stages, MBConv with SE in the late
ones (Table 4), found by a training-aware search and scaled like EfficientNet."""

from __future__ import annotations

from dataclasses import KW_ONLY, field
from typing import ClassVar, NamedTuple

from lwcnn import cost as C
from lwcnn.blocks import ConvBNAct, FusedMBConv, InvertedResidual, frozen_spec
from lwcnn.models.network import Layer, ScaledNetwork, StageLayers, dropout_classifier, repeated_rows
from lwcnn.tables import table

OPERATORS = ("fused", "mbconv")


class EfficientNetV2Row(NamedTuple):
    """A stage of EfficientNetV2's Table 4: operator ("fused": Fused-MBConv, "mbconv"), expansion
    t, kernel k, stride s of the first block, output channels c, n blocks, SE ratio (0: none).
    A Fused-MBConv with t = 1 is a single k x k conv (with the shortcut when the shape allows)."""

    operator: str
    expand_ratio: int
    kernel_size: int
    stride: int
    out_channels: int
    repeats: int
    se_ratio: float = 0.0


# EfficientNetV2, Table 4 (the stem, a 3x3 stride-2 conv to 24, and the head are fields below)
EFFICIENTNET_V2_S_TABLE: tuple[EfficientNetV2Row, ...] = table(
    EfficientNetV2Row,
    """
    operator  t  k  s    c   n    SE
    fused     1  3  1   24   2     -
    fused     4  3  2   48   4     -
    fused     4  3  2   64   4     -
    mbconv    4  3  2  128   6  0.25
    mbconv    6  3  1  160   9  0.25
    mbconv    6  3  2  256  15  0.25
""",
)

# EfficientNetV2-B0, the baseline the B1-B3 models scale (the authors' code; timm's
# tf_efficientnetv2_b0): the same operators, narrower and shallower, stem 32
EFFICIENTNET_V2_B0_TABLE: tuple[EfficientNetV2Row, ...] = table(
    EfficientNetV2Row,
    """
    operator  t  k  s    c  n    SE
    fused     1  3  1   16  1     -
    fused     4  3  2   32  2     -
    fused     4  3  2   48  2     -
    mbconv    4  3  2   96  3  0.25
    mbconv    6  3  1  112  5  0.25
    mbconv    6  3  2  192  8  0.25
""",
)


class V2Variant(NamedTuple):
    """A named EfficientNetV2: its table, stem width, width and depth multipliers, evaluation
    resolution, and whether widths round to the nearest multiple of 8 (B0-B3) or never more
    than 10% down (S)."""

    table: tuple[EfficientNetV2Row, ...]
    stem_channels: int
    width: float
    depth: float
    resolution: int
    nearest_rounding: bool


EFFICIENTNET_V2_VARIANTS: dict[str, V2Variant] = {
    "b0": V2Variant(EFFICIENTNET_V2_B0_TABLE, 32, 1.0, 1.0, 224, True),
    "b1": V2Variant(EFFICIENTNET_V2_B0_TABLE, 32, 1.0, 1.1, 240, True),
    "b2": V2Variant(EFFICIENTNET_V2_B0_TABLE, 32, 1.1, 1.2, 260, True),
    "b3": V2Variant(EFFICIENTNET_V2_B0_TABLE, 32, 1.2, 1.4, 300, True),
    "s": V2Variant(EFFICIENTNET_V2_S_TABLE, 24, 1.0, 1.0, 384, False),
}


@frozen_spec(always_check=True)
class EfficientNetV2(ScaledNetwork):
    """EfficientNetV2 (Tan & Le 2021, Table 4), as timm builds it (`efficientnetv2_s`; the B0-B3
    of the authors' code as `tf_efficientnetv2_b*` with PyTorch's symmetric padding).

    A 3x3 stride-2 stem conv, the table's stages (SiLU after every conv but the projections;
    Fused-MBConv expands with one k x k conv, `E = make_divisible(M * t)`; MBConv's SE squeezes
    to `round(M * ratio)` channels of the block's input M, SiLU inside, sigmoid gate), a 1x1 conv
    to 1280, pooling, dropout and a linear classifier. `width_multiplier` and `depth_multiplier`
    multiply the variant's own (`ceil(n * d)` blocks per stage); `resolution` defaults to the
    variant's evaluation size (384 for S: the paper's FLOPs are counted there).
    """

    variant: str = "s"
    _: KW_ONLY
    depth_multiplier: float = 1.0
    dropout: float = 0.2
    table: tuple[EfficientNetV2Row, ...] | None = field(default=None, repr=False)  # None: the variant's
    row_type: ClassVar[type] = EfficientNetV2Row
    choices: ClassVar[dict] = {"variant": EFFICIENTNET_V2_VARIANTS}

    last_channels: ClassVar[int] = 1280
    activation: ClassVar[str] = "silu"

    def __post_init__(self) -> None:
        super().__post_init__()
        for index, row in enumerate(self.table or ()):  # a table of one's own; the variants' are right
            if row.operator not in OPERATORS:
                raise ValueError(
                    f"table[{index}].operator={row.operator!r} is unknown; allowed: {', '.join(OPERATORS)}"
                )

    @property
    def preset(self) -> V2Variant:
        return EFFICIENTNET_V2_VARIANTS[self.variant]

    @property
    def rows(self) -> tuple[EfficientNetV2Row, ...]:
        return self.preset.table if self.table is None else self.table

    @property
    def default_resolution(self) -> int:
        return self.preset.resolution

    def _width(self, channels: float) -> int:
        preset = self.preset
        limit = 0.0 if preset.nearest_rounding else 0.9
        # make_divisible, unchecked: the multipliers were checked positive
        return C.nearest_multiple(channels * preset.width * self.width_multiplier, 8, 8, limit)

    def _block(self, row: EfficientNetV2Row, in_channels: int, out_channels: int, stride: int) -> Layer:
        expanded = C.make_divisible(in_channels * row.expand_ratio, 8)
        act = self.activation
        if row.operator == "fused":
            return FusedMBConv(in_channels, out_channels, expanded, row.kernel_size, stride, 0, act, act)
        squeeze = round(expanded * row.se_ratio / row.expand_ratio) if row.se_ratio else 0
        return InvertedResidual(
            in_channels, out_channels, expanded, row.kernel_size, stride, squeeze, act, act, "sigmoid"
        )

    def _make_stages(self) -> list[StageLayers]:
        channels = self._width(self.preset.stem_channels)
        stem = ConvBNAct(self.in_channels, channels, 3, 2, activation=self.activation)
        depth = self.preset.depth * self.depth_multiplier
        stages, channels = repeated_rows(self, self.rows, channels, depth)
        head = ConvBNAct(channels, self._width(self.last_channels), 1, activation=self.activation)
        return [("stem", [stem]), *stages, ("head", [head])]

    def _make_classifier(self) -> list[Layer]:
        return dropout_classifier(self._width(self.last_channels), self.dropout, self.num_classes)
