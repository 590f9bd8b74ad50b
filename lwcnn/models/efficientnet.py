"""EfficientNet-B0..B7 (Tan and Le, 2019): MBConv stages scaled in width, depth and resolution
(Table 1, Sec. 3.3)."""

from __future__ import annotations

from dataclasses import field
from typing import ClassVar

from lwcnn import cost as C
from lwcnn.blocks import ConvBNAct, InvertedResidual, frozen_spec
from lwcnn.models.mnasnet import MBRow
from lwcnn.models.network import Layer, ScaledNetwork, StageLayers, dropout_classifier, repeated_rows
from lwcnn.tables import table

# EfficientNet, Table 1; torchvision's MBConvConfig list
EFFICIENTNET_B0_TABLE: tuple[MBRow, ...] = table(
    MBRow,
    """
    t  k  s    c  n    SE
    1  3  1   16  1  0.25
    6  3  2   24  2  0.25
    6  5  2   40  2  0.25
    6  3  2   80  3  0.25
    6  5  1  112  3  0.25
    6  5  2  192  4  0.25
    6  3  1  320  1  0.25
""",
)

EFFICIENTNET_SCALING: dict[str, tuple[float, float, int, float]] = {
    # width, depth, resolution, dropout (torchvision's efficientnet_b0..b3; the paper's phi = 0..3)
    "b0": (1.0, 1.0, 224, 0.2),
    "b1": (1.0, 1.1, 240, 0.2),
    "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3),
}


@frozen_spec(kw_only=True, always_check=True)
class EfficientNet(ScaledNetwork):
    """EfficientNet-B0 (Tan & Le 2019, Table 1) and its compound scaling, as torchvision builds it.

    A 3x3 stem conv to 32, MBConv rows (SiLU; SE squeezes to `max(1, M // 4)` channels of the
    block's *input* M, SiLU and sigmoid gate), a 1x1 conv to 4x the last width, dropout and a
    linear classifier. Width `make_divisible(c * w, 8)`, depth `ceil(n * d)` per row.
    torchvision's stochastic depth (training only) is left out: in eval mode the two agree.
    """

    depth_multiplier: float = 1.0
    dropout: float = 0.2
    table: tuple[MBRow, ...] = field(default=EFFICIENTNET_B0_TABLE, repr=False)
    row_type: ClassVar[type] = MBRow

    stem_channels: ClassVar[int] = 32

    # Swish (SiLU) after every conv and inside SE, a sigmoid gate
    mbconv_options: ClassVar[dict[str, str]] = {
        "activation": "silu",
        "se_activation": "silu",
        "se_gate": "sigmoid",
    }

    def _width(self, channels: float) -> int:
        return C.make_divisible(channels * self.width_multiplier, 8)

    def _block(self, row: MBRow, in_channels: int, out_channels: int, stride: int) -> Layer:
        expanded = C.make_divisible(in_channels * row.expand_ratio, 8)
        squeeze = max(1, int(in_channels * row.se_ratio)) if row.se_ratio else 0
        return InvertedResidual(
            in_channels, out_channels, expanded, row.kernel_size, stride, squeeze, **self.mbconv_options
        )

    def _make_stages(self) -> list[StageLayers]:
        channels = self._width(self.stem_channels)
        stem = ConvBNAct(self.in_channels, channels, 3, 2, activation="silu")
        stages, channels = repeated_rows(self, self.table, channels, self.depth_multiplier)
        head = ConvBNAct(channels, 4 * channels, 1, activation="silu")
        return [("stem", [stem]), *stages, ("head", [head])]

    def _make_classifier(self) -> list[Layer]:
        channels = 4 * self._width(self.table[-1].out_channels)
        return dropout_classifier(channels, self.dropout, self.num_classes)


# TinyNet (Han et al. 2020): EfficientNet-B0 shrunk by the "tiny formula"; (r, w, d) of
# TinyNet-A..E, the input side floor(224 r)
TINYNET_SCALING: dict[str, tuple[float, float, float]] = {
    "a": (0.86, 1.0, 1.2),
    "b": (0.84, 0.75, 1.1),
    "c": (0.825, 0.54, 0.85),
    "d": (0.68, 0.54, 0.695),
    "e": (0.475, 0.51, 0.6),
}


def tinynet_resolution(resolution_multiplier: float) -> int:
    """The input side of a TinyNet: `floor(224 r)` (TinyNet-A: r = 0.86 -> 192)."""
    return int(224 * resolution_multiplier)


@frozen_spec(kw_only=True, always_check=True)
class TinyNet(EfficientNet):
    """A TinyNet (Han et al. 2020, Sec. 3): EfficientNet-B0 with its resolution, width and depth
    twisted by the "tiny formula", as the authors' code and timm's `tinynet_a..e` build it.

    What differs from `EfficientNet` at the same multipliers: the stem stays 32 channels wide,
    each stage keeps `max(1, round(n * d))` blocks (EfficientNet rounds up, which would add a
    block to every stage), and the head conv keeps at least 1280 channels.
    """

    def _make_stages(self) -> list[StageLayers]:
        stem = ConvBNAct(self.in_channels, self.stem_channels, 3, 2, activation="silu")
        rows = tuple(
            row._replace(repeats=max(1, round(row.repeats * self.depth_multiplier))) for row in self.table
        )
        stages, channels = repeated_rows(self, rows, self.stem_channels)
        head = ConvBNAct(channels, self.head_channels, 1, activation="silu")
        return [("stem", [stem]), *stages, ("head", [head])]

    @property
    def head_channels(self) -> int:
        """The 1x1 head conv's width: 1280 scaled by the width multiplier, never fewer than 1280."""
        return max(1280, C.make_divisible(1280 * self.width_multiplier, 8))

    def _make_classifier(self) -> list[Layer]:
        return dropout_classifier(self.head_channels, self.dropout, self.num_classes)
