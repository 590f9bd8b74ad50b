"""GhostNet (Han et al., 2020): Ghost bottlenecks (Table 1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

from lwcnn import cost as C
from lwcnn.blocks import ConvBNAct, GhostBottleneck
from lwcnn.models.network import Layer, ScaledNetwork, StageLayers, dropout_classifier
from lwcnn.tables import table


class GhostRow(NamedTuple):
    """A row of GhostNet's Table 1: G-bneck with depthwise kernel k (stride-2 conv and
    shortcut), expansion size, #out, SE ratio, stride."""

    kernel_size: int
    expanded_channels: int
    out_channels: int
    se_ratio: float
    stride: int


# GhostNet, Table 1 (exp: the expansion size; SE: the squeeze ratio)
GHOSTNET_TABLE: tuple[GhostRow, ...] = table(
    GhostRow,
    """
    k  exp  out    SE  s
    3   16   16     -  1
    3   48   24     -  2
    3   72   24     -  1
    5   72   40  0.25  2
    5  120   40  0.25  1
    3  240   80     -  2
    3  200   80     -  1
    3  184   80     -  1
    3  184   80     -  1
    3  480  112  0.25  1
    3  672  112  0.25  1
    5  672  160  0.25  2
    5  960  160     -  1
    5  960  160  0.25  1
    5  960  160     -  1
    5  960  160  0.25  1
""",
)


@dataclass(frozen=True, kw_only=True)
class GhostNet(ScaledNetwork):
    """GhostNet (Han et al. 2020, Table 1), as the authors' PyTorch code builds it: a 3x3 stem
    conv to 16, the G-bneck rows (SE squeezes the expanded E channels to `make_divisible(E/4, 4)`,
    ReLU, h-sigmoid gate), a 1x1 conv to 960, pooling, a 1x1 conv with bias to 1280 + ReLU on
    the pooled map, dropout and a linear classifier. Widths are `make_divisible(c * w, 4)`.

    At 224 this is 141,150,512 conv+linear MACs and 5,182,508 params: the paper's 141 M FLOPs
    (which are multiply-adds) and 5.2 M.
    """

    dropout: float = 0.2
    table: tuple[GhostRow, ...] = field(default=GHOSTNET_TABLE, repr=False)
    row_type: ClassVar[type] = GhostRow

    stem_channels: ClassVar[int] = 16  # Table 1's first conv
    last_channels: ClassVar[int] = 1280  # the 1x1 conv with bias on the pooled map

    def _width(self, channels: float) -> int:
        return C.make_divisible(channels * self.width_multiplier, 4)

    def _make_stages(self) -> list[StageLayers]:
        channels = self._width(self.stem_channels)
        stages, blocks = [("stem", [ConvBNAct(self.in_channels, channels, 3, 2)])], []
        for row in self.table:
            if row.stride > 1 or not blocks:  # each stride > 1 opens a stage
                blocks = []
                stages.append((f"stage{len(stages)}", blocks))
            expanded, out = self._width(row.expanded_channels), self._width(row.out_channels)
            squeeze = C.make_divisible(expanded * row.se_ratio, 4) if row.se_ratio else 0
            block = GhostBottleneck(channels, expanded, out, row.kernel_size, row.stride, squeeze)
            blocks.append(block)
            channels = out
        head = ConvBNAct(channels, self._width(self.table[-1].expanded_channels), 1)
        return [*stages, ("head", [head])]

    def _make_classifier(self) -> list[Layer]:
        channels, hidden = self._width(self.table[-1].expanded_channels), self.last_channels
        conv_head = ConvBNAct(channels, hidden, 1, norm=False, bias=True)  # on the pooled 1x1 map
        return [conv_head, *dropout_classifier(hidden, self.dropout, self.num_classes)]
