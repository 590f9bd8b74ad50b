"""MobileNetV3 Large and Small (Howard et al., 2019): searched inverted residuals with SE and
h-swish (Tables 1 and 2)."""

from __future__ import annotations

from dataclasses import KW_ONLY, field
from typing import ClassVar, NamedTuple

from torch import nn

from lwcnn import cost as C
from lwcnn.blocks import ConvBNAct, InvertedResidual, chain_cost, frozen_spec
from lwcnn.models.layers import Activation, BatchNorm, Dropout, Flatten, Linear
from lwcnn.models.network import Layer, ScaledNetwork, StageLayers, without_first_stride
from lwcnn.tables import table


class V3Row(NamedTuple):
    """A row of MobileNetV3's Tables 1 and 2: bneck k x k, exp size, #out, SE, NL, s."""

    kernel_size: int
    expanded_channels: int
    out_channels: int
    use_se: bool
    activation: str  # "relu" (RE) or "hswish" (HS)
    stride: int


# MobileNetV3, Table 1 (SE: squeeze-and-excite; NL: the non-linearity)
MOBILENET_V3_LARGE_TABLE: tuple[V3Row, ...] = table(
    V3Row,
    """
    k  exp  out  SE      NL  s
    3   16   16   -    relu  1
    3   64   24   -    relu  2
    3   72   24   -    relu  1
    5   72   40   ✓    relu  2
    5  120   40   ✓    relu  1
    5  120   40   ✓    relu  1
    3  240   80   -  hswish  2
    3  200   80   -  hswish  1
    3  184   80   -  hswish  1
    3  184   80   -  hswish  1
    3  480  112   ✓  hswish  1
    3  672  112   ✓  hswish  1
    5  672  160   ✓  hswish  2
    5  960  160   ✓  hswish  1
    5  960  160   ✓  hswish  1
""",
)

# MobileNetV3, Table 2
MOBILENET_V3_SMALL_TABLE: tuple[V3Row, ...] = table(
    V3Row,
    """
    k  exp  out  SE      NL  s
    3   16   16   ✓    relu  2
    3   72   24   -    relu  2
    3   88   24   -    relu  1
    5   96   40   ✓  hswish  2
    5  240   40   ✓  hswish  1
    5  240   40   ✓  hswish  1
    5  120   48   ✓  hswish  1
    5  144   48   ✓  hswish  1
    5  288   96   ✓  hswish  2
    5  576   96   ✓  hswish  1
    5  576   96   ✓  hswish  1
""",
)

MOBILENET_V3_TABLES = {"large": MOBILENET_V3_LARGE_TABLE, "small": MOBILENET_V3_SMALL_TABLE}
MOBILENET_V3_LAST_CHANNELS = {"large": 1280, "small": 1024}


@frozen_spec(always_check=True)
class MobileNetV3(ScaledNetwork):
    """MobileNetV3-Large or -Small (Howard et al. 2019, Tables 1 and 2), as torchvision builds it.

    A 3x3 stem conv to 16 (h-swish), the bneck rows (SE after the depthwise conv with
    `make_divisible(E // 4, 8)` squeeze channels, ReLU gate-input and h-sigmoid gate), a 1x1
    conv to 6x the last width, pooling, then the redesigned last stage as linear layers:
    960 -> 1280 (Large) or 576 -> 1024 (Small), h-swish, dropout, classifier. Widths are
    `make_divisible(c * alpha, 8)`, the 1280/1024 included. BatchNorm eps 1e-3, momentum 0.01 (0.1 with `small_input`).
    `small_input=True` (CIFAR-style, for 32x32): stem stride 1 and the first stride-2 row stride 1.
    `classifier_norm=True` (also CIFAR-style): the hidden linear layer has no bias and is followed
    by BatchNorm1d, as in the CIFAR implementations the network-slimming study pruned, so that
    `lwcnn.prune` can score and prune its outputs like any conv's.
    """

    variant: str = "large"
    _: KW_ONLY  # the variant may be given by position, the rest by name
    small_input: bool = False
    dropout: float = 0.2
    table: tuple[V3Row, ...] | None = field(default=None, repr=False)  # None: the variant's table
    row_type: ClassVar[type] = V3Row
    choices: ClassVar[dict] = {"variant": MOBILENET_V3_TABLES}
    classifier_norm: bool = False

    norm_eps: ClassVar[float] = 1e-3
    norm_momentum: ClassVar[float] = 0.01
    stem_channels: ClassVar[int] = 16

    @property
    def rows(self) -> tuple[V3Row, ...]:
        return MOBILENET_V3_TABLES[self.variant] if self.table is None else self.table

    def _width(self, channels: float) -> int:
        return C.nearest_multiple(channels * self.width_multiplier, 8, 8)

    def _make_stages(self) -> list[StageLayers]:
        channels = self._width(self.stem_channels)
        rows = without_first_stride(self.rows) if self.small_input else self.rows
        stem_stride = 1 if self.small_input else 2
        stem = ConvBNAct(self.in_channels, channels, 3, stem_stride, activation="hswish")
        stages, blocks, alpha = [("stem", [stem])], [], self.width_multiplier
        for row in rows:  # self._width written out, as this loop is the bulk of `cost`
            if row.stride > 1 or not blocks:  # each stride > 1 opens a stage
                blocks = []
                stages.append((f"stage{len(stages)}", blocks))
            expanded = C.nearest_multiple(row.expanded_channels * alpha, 8, 8)
            out = C.nearest_multiple(row.out_channels * alpha, 8, 8)
            squeeze = C.nearest_multiple(expanded // 4, 8, 8) if row.use_se else 0
            block = InvertedResidual(
                channels,
                out,
                expanded,
                row.kernel_size,
                row.stride,
                squeeze,
                row.activation,
            )
            blocks.append(block)
            channels = out
        stages.append(("head", [ConvBNAct(channels, 6 * channels, 1, activation="hswish")]))
        return stages

    def _make_classifier(self) -> list[Layer]:
        channels = 6 * self._width(self.rows[-1].out_channels)
        hidden = self._width(MOBILENET_V3_LAST_CHANNELS[self.variant])
        if self.classifier_norm:
            hidden_layers = [Linear(channels, hidden, False), BatchNorm(hidden)]
        else:
            hidden_layers = [Linear(channels, hidden)]
        return [
            Flatten(channels),
            *hidden_layers,
            Activation(hidden, "hswish"),
            Dropout(hidden, self.dropout),
            Linear(hidden, self.num_classes),
        ]


# --- the redesigned last stage (MobileNetV3, Sec. 5.1 and Fig. 5) ----------------------------------

LAST_STAGE_KINDS = ("original", "efficient")


def last_stage(kind: str, in_channels: int = 160, num_classes: int = 1000) -> tuple[list, list]:
    """MobileNetV3-Large's last stage as Fig. 5 draws it, `(before pooling, after pooling)` specs.

    "original" (the MobileNetV2-style end the search found): 1x1 conv to 960, 3x3 depthwise,
    1x1 projection to 320, 1x1 conv to 1280, all on the 7x7 map, then pooling and the classifier.
    "efficient" (the redesign): 1x1 conv to 960 on the 7x7 map, pooling, then the 1280-wide
    layer and the classifier on the pooled 1x1 features; the depthwise conv and the projection
    are gone. Both as 1x1 convs after pooling (a linear layer on a 1x1 map), with h-swish.
    """
    if kind not in LAST_STAGE_KINDS:
        raise ValueError(f"kind must be one of {LAST_STAGE_KINDS}, got {kind!r}")
    expanded, hidden = 6 * in_channels, MOBILENET_V3_LAST_CHANNELS["large"]
    classifier = ConvBNAct(hidden, num_classes, 1, norm=False, bias=True, activation=None)
    if kind == "original":
        before = [
            ConvBNAct(in_channels, expanded, 1, activation="hswish"),
            ConvBNAct(expanded, expanded, 3, groups=expanded, activation="hswish"),
            ConvBNAct(expanded, 2 * in_channels, 1, activation=None),
            ConvBNAct(2 * in_channels, hidden, 1, activation="hswish"),
        ]
        return before, [classifier]
    before = [ConvBNAct(in_channels, expanded, 1, activation="hswish")]
    return before, [ConvBNAct(expanded, hidden, 1, norm=False, bias=True, activation="hswish"), classifier]


def last_stage_cost(kind: str, size: int = 7) -> tuple[int, int]:
    """(params, MACs) of `last_stage(kind)` on a `size x size` map: its layers before pooling at
    that size, those after pooling at 1x1 (the pooling itself does no multiply-adds)."""
    before, after = last_stage(kind)
    params, macs, *_ = chain_cost(before, size, size)
    after_params, after_macs, *_ = chain_cost(after, 1, 1)
    return params + after_params, macs + after_macs


def build_last_stage(kind: str) -> nn.Sequential:
    """`last_stage(kind)` as one module: the layers, global average pooling, the layers after it."""
    before, after = last_stage(kind)
    return nn.Sequential(
        *(spec.build() for spec in before), nn.AdaptiveAvgPool2d(1), *(spec.build() for spec in after)
    )
