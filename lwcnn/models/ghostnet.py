"""GhostNet (Han et al., 2020): Ghost bottlenecks (Table 1); GhostNetV2 (Tang et al., 2022): the
same layout with DFC attention on most bottlenecks."""

from __future__ import annotations

from dataclasses import field
from typing import ClassVar, NamedTuple

from lwcnn import checks
from lwcnn import cost as C
from lwcnn.blocks import ConvBNAct, GhostBottleneck, GhostBottleneckV2, frozen_spec
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


@frozen_spec(kw_only=True, always_check=True)
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
        for index, row in enumerate(self.table):
            if row.stride > 1 or not blocks:  # each stride > 1 opens a stage
                blocks = []
                stages.append((f"stage{len(stages)}", blocks))
            expanded, out = self._width(row.expanded_channels), self._width(row.out_channels)
            squeeze = C.make_divisible(expanded * row.se_ratio, 4) if row.se_ratio else 0
            fields = (channels, expanded, out, row.kernel_size, row.stride, squeeze)
            blocks.append(self._bottleneck(index, *fields))
            channels = out
        head = ConvBNAct(channels, self._width(self.table[-1].expanded_channels), 1)
        return [*stages, ("head", [head])]

    def _bottleneck(self, index: int, *fields: int) -> GhostBottleneck:
        """The bottleneck of table row `index` (GhostNetV2 chooses by the row)."""
        return GhostBottleneck(*fields)

    def _make_classifier(self) -> list[Layer]:
        channels, hidden = self._width(self.table[-1].expanded_channels), self.last_channels
        conv_head = ConvBNAct(channels, hidden, 1, norm=False, bias=True)  # on the pooled 1x1 map
        return [conv_head, *dropout_classifier(hidden, self.dropout, self.num_classes)]


@frozen_spec(kw_only=True, always_check=True)
class GhostNetV2(GhostNet):
    """GhostNetV2 (Tang et al. 2022, Sec. 3.3): GhostNet's layout (Table 1, the same widths, SE
    and head), whose bottlenecks from row `dfc_from` on are `GhostBottleneckV2`s: DFC attention
    gates their expanding Ghost module. As the authors' code (and timm's `ghostnetv2_100/130/160`)
    builds it, the first two bottlenecks, whose first Ghost module runs on the 112x112 map, keep
    GhostNet's; DFC starts where the map is 56x56.

    At 224: 1.0x 167,048,288 MACs and 6,156,908 params (the paper: 167 M FLOPs, 6.1 M);
    1.3x 269,322,976 and 8,960,404 (269 M, 8.9 M); 1.6x 398,607,224 and 12,392,698 (399 M, 12.3 M).
    """

    dfc_from: int = 2  # the first table row (0-based) whose bottleneck has DFC attention

    def __post_init__(self) -> None:
        checks.check_int("dfc_from", self.dfc_from, minimum=0)
        super().__post_init__()

    def _bottleneck(self, index: int, *fields: int) -> GhostBottleneck:
        return GhostBottleneckV2(*fields) if index >= self.dfc_from else GhostBottleneck(*fields)
