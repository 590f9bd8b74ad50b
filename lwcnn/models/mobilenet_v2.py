"""MobileNetV2 (Sandler et al., 2018): inverted residuals with linear bottlenecks (Table 2)."""

from __future__ import annotations

from dataclasses import field
from typing import ClassVar, NamedTuple

from lwcnn import cost as C
from lwcnn.blocks import ConvBNAct, InvertedResidual, frozen_spec
from lwcnn.models.network import (
    NO_SE,
    Layer,
    ScaledNetwork,
    StageLayers,
    dropout_classifier,
    repeated_rows,
    without_first_stride,
)
from lwcnn.tables import table


class V2Row(NamedTuple):
    """A row of MobileNetV2's Table 2: `repeats` inverted residuals with expansion t to c
    channels, the first one with stride s."""

    expand_ratio: int  # t
    out_channels: int  # c
    repeats: int  # n
    stride: int  # s


# MobileNetV2, Table 2
MOBILENET_V2_TABLE: tuple[V2Row, ...] = table(
    V2Row,
    """
    t    c  n  s
    1   16  1  1
    6   24  2  2
    6   32  3  2
    6   64  4  2
    6   96  3  1
    6  160  3  2
    6  320  1  1
""",
)


@frozen_spec(kw_only=True, always_check=True)
class MobileNetV2(ScaledNetwork):
    """MobileNetV2 (Sandler et al. 2018, Table 2), as torchvision builds it: a 3x3 stem conv to
    32, 17 inverted residuals with linear bottlenecks (ReLU6), a 1x1 conv to 1280, dropout and a
    linear classifier.

    Widths are `make_divisible(c * alpha, divisor)`; the last conv keeps 1280 for alpha < 1
    (`1280 * max(1, alpha)`). `small_input=True` (CIFAR-style, for 32x32): stem stride 1 and the
    first stride-2 row (24 channels) stride 1.
    """

    small_input: bool = False
    dropout: float = 0.2
    divisor: int = 8
    table: tuple[V2Row, ...] = field(default=MOBILENET_V2_TABLE, repr=False)
    row_type: ClassVar[type] = V2Row

    stem_channels: ClassVar[int] = 32
    last_channels: ClassVar[int] = 1280

    def _width(self, channels: float) -> int:
        return C.nearest_multiple(channels * self.width_multiplier, self.divisor, self.divisor)

    @property
    def _head_channels(self) -> int:
        return C.nearest_multiple(
            self.last_channels * max(1.0, self.width_multiplier), self.divisor, self.divisor
        )

    def _block(self, row: V2Row, in_channels: int, out_channels: int, stride: int) -> Layer:
        expanded = int(round(in_channels * row.expand_ratio))
        return InvertedResidual(in_channels, out_channels, expanded, 3, stride, NO_SE, "relu6")

    def _make_stages(self) -> list[StageLayers]:
        channels = self._width(self.stem_channels)
        rows = without_first_stride(self.table) if self.small_input else self.table
        stem_stride = 1 if self.small_input else 2
        stem = ConvBNAct(self.in_channels, channels, 3, stem_stride, activation="relu6")
        stages, channels = repeated_rows(self, rows, channels)
        head = ConvBNAct(channels, self._head_channels, 1, activation="relu6")
        return [("stem", [stem]), *stages, ("head", [head])]

    def _make_classifier(self) -> list[Layer]:
        return dropout_classifier(self._head_channels, self.dropout, self.num_classes)
