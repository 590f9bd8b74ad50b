"""MnasNet (Tan et al., 2019): the searched networks A1 and B1 (Fig. 7), as torchvision builds them."""

from __future__ import annotations

from dataclasses import KW_ONLY, field
from typing import ClassVar, NamedTuple

from lwcnn import cost as C
from lwcnn.blocks import ConvBNAct, InvertedResidual, frozen_spec
from lwcnn.models.network import Layer, ScaledNetwork, StageLayers, dropout_classifier, repeated_rows
from lwcnn.tables import table


class MBRow(NamedTuple):
    """A stage of MBConv blocks (MnasNet Fig. 7, EfficientNet Table 1): expansion t, kernel k,
    stride s of the first block, output channels c, n blocks, SE ratio (0: none)."""

    expand_ratio: int
    kernel_size: int
    stride: int
    out_channels: int
    repeats: int
    se_ratio: float = 0.0


# torchvision's `_stack` calls
MNASNET_B1_TABLE: tuple[MBRow, ...] = table(
    MBRow,
    """
    t  k  s    c  n  SE
    3  3  2   24  3   -
    3  5  2   40  3   -
    6  5  2   80  3   -
    6  3  1   96  2   -
    6  5  2  192  4   -
    6  3  1  320  1   -
""",
)

# MnasNet, Fig. 7(a); timm's mnasnet_a1
MNASNET_A1_TABLE: tuple[MBRow, ...] = table(
    MBRow,
    """
    t  k  s    c  n    SE
    6  3  2   24  2     -
    3  5  2   40  3  0.25
    6  3  2   80  4     -
    6  3  1  112  2  0.25
    6  5  2  160  3  0.25
    6  3  1  320  1     -
""",
)

MNASNET_TABLES = {"b1": MNASNET_B1_TABLE, "a1": MNASNET_A1_TABLE}


@frozen_spec(always_check=True)
class MnasNet(ScaledNetwork):
    """MnasNet (Tan et al. 2019): `variant="b1"` is torchvision's mnasnet (no SE), `"a1"` the
    paper's Fig. 7(a) model with squeeze-and-excite (as timm's mnasnet_a1).

    A 3x3 stem conv to 32, a separable conv to 16 (3x3 depthwise + ReLU, linear 1x1), the
    MBConv rows (expansion E = M*t, ReLU), a 1x1 conv to 1280 (not scaled), dropout and a linear
    classifier. Widths are `make_divisible(c * alpha, 8)` (torchvision's `_round_to_multiple_of`).
    SE squeezes to `round(M * ratio)` channels of the block's *input* M (timm: ratio / t of E),
    with a ReLU and a sigmoid gate. BatchNorm momentum 1 - 0.9997 (the paper's TF value).
    """

    variant: str = "b1"
    _: KW_ONLY  # the variant may be given by position, the rest by name
    dropout: float = 0.2
    table: tuple[MBRow, ...] | None = field(default=None, repr=False)  # None: the variant's table
    row_type: ClassVar[type] = MBRow
    choices: ClassVar[dict] = {"variant": MNASNET_TABLES}

    norm_momentum: ClassVar[float] = 1 - 0.9997
    stem_channels: ClassVar[int] = 32
    separable_channels: ClassVar[int] = 16
    last_channels: ClassVar[int] = 1280

    @property
    def rows(self) -> tuple[MBRow, ...]:
        return MNASNET_TABLES[self.variant] if self.table is None else self.table

    mbconv_options: ClassVar[dict[str, str]] = {
        "activation": "relu",
        "se_gate": "sigmoid",
    }  # SE: ReLU, sigmoid

    def _width(self, channels: float) -> int:
        return C.make_divisible(channels * self.width_multiplier, 8)

    def _block(self, row: MBRow, in_channels: int, out_channels: int, stride: int) -> Layer:
        squeeze = max(1, round(in_channels * row.se_ratio)) if row.se_ratio else 0
        expanded = in_channels * row.expand_ratio
        return InvertedResidual(
            in_channels, out_channels, expanded, row.kernel_size, stride, squeeze, **self.mbconv_options
        )

    def _make_stages(self) -> list[StageLayers]:
        stem, separable = self._width(self.stem_channels), self._width(self.separable_channels)
        stages = [
            ("stem", [ConvBNAct(self.in_channels, stem, 3, 2)]),
            (
                "stage1",  # SepConv 3x3: no shortcut, no activation after the pointwise conv
                [
                    ConvBNAct(stem, stem, 3, groups=stem),
                    ConvBNAct(stem, separable, 1, activation=None),
                ],
            ),
        ]
        rows, channels = repeated_rows(self, self.rows, separable, first_index=2)
        return [*stages, *rows, ("head", [ConvBNAct(channels, self.last_channels, 1)])]

    def _make_classifier(self) -> list[Layer]:
        return dropout_classifier(self.last_channels, self.dropout, self.num_classes)
