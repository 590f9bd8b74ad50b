"""MobileNetV1 (Howard et al., 2017): a stem conv, then 13 depthwise-separable layers (Table 1)."""

from __future__ import annotations

from dataclasses import field
from typing import ClassVar, NamedTuple

from lwcnn.blocks import ConvBNAct, DepthwiseSeparable, frozen_spec
from lwcnn.models.layers import Flatten, Linear
from lwcnn.models.network import Layer, ScaledNetwork, StageLayers, without_first_stride
from lwcnn.tables import table


class V1Row(NamedTuple):
    """One row pair of MobileNetV1's Table 1: 3x3 depthwise (stride s) + 1x1 to `out_channels`."""

    out_channels: int
    stride: int


# MobileNetV1, Table 1 (it prints s2 for the last depthwise conv, but its map stays 7x7: stride 1)
MOBILENET_V1_TABLE: tuple[V1Row, ...] = table(
    V1Row,
    """
       c  s
      64  1
     128  2
     128  1
     256  2
     256  1
     512  2
     512  1
     512  1
     512  1
     512  1
     512  1
    1024  2
    1024  1
""",
)


@frozen_spec(kw_only=True, always_check=True)
class MobileNetV1(ScaledNetwork):
    """MobileNetV1 (Howard et al. 2017, Table 1): a 3x3 stem conv (stride 2), 13 depthwise
    separable layers, global average pooling, a linear classifier. BN + ReLU after every conv.

    `width_multiplier` is alpha (Sec. 3.3): every width becomes `max(8, int(alpha * c))`
    (TF-slim's rounding); `resolution` is rho's input size (224, 192, 160, 128).
    `small_input=True` (CIFAR-style, for 32x32): stem stride 1 and the first stride-2 row stride 1.
    `classifier_norm=True` (also CIFAR-style): the hidden linear layer has no bias and is followed
    by BatchNorm1d, as in the CIFAR implementations the network-slimming study pruned, so that
    `lwcnn.prune` can score and prune its outputs like any conv's.
    """

    small_input: bool = False
    stem_channels: int = 32
    table: tuple[V1Row, ...] = field(default=MOBILENET_V1_TABLE, repr=False)
    row_type: ClassVar[type] = V1Row

    def _width(self, channels: int) -> int:
        return max(8, int(channels * self.width_multiplier))

    def _make_stages(self) -> list[StageLayers]:
        stem = self._width(self.stem_channels)
        rows = without_first_stride(self.table) if self.small_input else self.table
        stages = [("stem", [ConvBNAct(self.in_channels, stem, 3, 1 if self.small_input else 2)])]
        channels, blocks = stem, []
        for row in rows:
            if row.stride > 1 or not blocks:  # each stride > 1 opens a stage
                blocks = []
                stages.append((f"stage{len(stages)}", blocks))
            out = self._width(row.out_channels)
            blocks.append(DepthwiseSeparable(channels, out, 3, row.stride))
            channels = out
        return stages

    def _make_classifier(self) -> list[Layer]:
        channels = self._width(self.table[-1].out_channels)
        return [Flatten(channels), Linear(channels, self.num_classes)]
