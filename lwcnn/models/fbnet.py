"""FBNet-C (Wu et al., 2019): the network the DNAS search found for a Samsung S8, Fig. 4."""

from __future__ import annotations

from dataclasses import field
from itertools import groupby
from operator import attrgetter
from typing import ClassVar, NamedTuple

from lwcnn import cost as C
from lwcnn.blocks import ConvBNAct, InvertedResidual, frozen_spec
from lwcnn.models.network import Layer, ScaledNetwork, StageLayers, dropout_classifier
from lwcnn.tables import table


class FBNetRow(NamedTuple):
    """A searched layer of FBNet (Fig. 4): its stage of the macro-architecture (Table 1), the
    block's expansion e, kernel k, stride s and output channels c. Each block is an inverted
    residual whose 1x1 expansion is kept even at e = 1 (the search space's blocks, Table 2)."""

    stage: int
    expand_ratio: int
    kernel_size: int
    stride: int
    out_channels: int


# FBNet-C, Fig. 4 (the layers the search did not skip), as timm's fbnetc_100 builds it
FBNET_C_TABLE: tuple[FBNetRow, ...] = table(
    FBNetRow,
    """
    stage  e  k  s    c
        1  1  3  1   16
        2  6  3  2   24
        2  1  3  1   24
        2  1  3  1   24
        3  6  5  2   32
        3  3  5  1   32
        3  6  5  1   32
        3  6  3  1   32
        4  6  5  2   64
        4  3  5  1   64
        4  6  5  1   64
        4  6  5  1   64
        5  6  5  1  112
        5  6  5  1  112
        5  6  5  1  112
        5  3  5  1  112
        6  6  5  2  184
        6  6  5  1  184
        6  6  5  1  184
        6  6  5  1  184
        7  6  3  1  352
""",
)


@frozen_spec(kw_only=True, always_check=True)
class FBNet(ScaledNetwork):
    """FBNet-C (Wu et al. 2019, Table 1 and Fig. 4): a 3x3 stride-2 stem conv to 16, the searched
    inverted residuals (ReLU, linear projection, a shortcut when the shape allows; the expansion
    `E = make_divisible(M * e)` is a 1x1 conv even at e = 1), a 1x1 conv to 1984, pooling,
    dropout and a linear classifier. Widths are `make_divisible(c * w, 8)`.
    """

    dropout: float = 0.2
    table: tuple[FBNetRow, ...] = field(default=FBNET_C_TABLE, repr=False)
    row_type: ClassVar[type] = FBNetRow

    stem_channels: ClassVar[int] = 16
    last_channels: ClassVar[int] = 1984  # Table 1's last 1x1 conv

    def _width(self, channels: float) -> int:
        return C.nearest_multiple(channels * self.width_multiplier, 8, 8)  # make_divisible, unchecked

    def _make_stages(self) -> list[StageLayers]:
        channels = self._width(self.stem_channels)
        stages: list[StageLayers] = [("stem", [ConvBNAct(self.in_channels, channels, 3, 2)])]
        for stage, rows in groupby(self.table, key=attrgetter("stage")):
            blocks, previous = [], None
            for row in rows:
                if row == previous and blocks[-1].in_channels == channels:
                    # a row repeated, C -> C: the same block again (made once, and costed once by `cost`)
                    blocks.append(blocks[-1])
                    continue
                previous = row
                out = self._width(row.out_channels)
                expanded = C.make_divisible(channels * row.expand_ratio, 8)
                blocks.append(
                    InvertedResidual(
                        channels, out, expanded, row.kernel_size, row.stride, activation="relu", expand=True
                    )
                )
                channels = out
            stages.append((f"stage{stage}", blocks))
        head = ConvBNAct(channels, self.last_channels, 1)
        return [*stages, ("head", [head])]

    def _make_classifier(self) -> list[Layer]:
        return dropout_classifier(self.last_channels, self.dropout, self.num_classes)
