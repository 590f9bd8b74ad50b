"""The course's own small networks for 32x32 images (lessons 02, 03, 06): `SmallMobileNet`
(separable or standard convs) and `SmallMBConvNet` (inverted residuals, optional SE)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from lwcnn import checks
from lwcnn import cost as C
from lwcnn.blocks import ACTIVATIONS, BlockCost, ConvBNAct, DepthwiseSeparable, InvertedResidual
from lwcnn.cost import Size

CONV_KINDS = ("separable", "standard")


@dataclass(frozen=True)
class SmallMobileNet:
    """A small MobileNetV1-style classifier for 32x32 inputs (the course's digits/CIFAR model).

    Like MobileNetV1's Table 1, shrunk: a 3x3 stem conv (stride 2), then one 3x3 layer per row
    of `stages` (`(out_channels, stride)`; by default 32x32 -> 16 -> 8 -> 8 -> 4), global average
    pooling and a linear classifier. The defaults reach ~98% on digits in four epochs.
    `conv="separable"` makes those layers depthwise separable (dw 3x3 + 1x1, MobileNetV1 Fig. 3);
    `conv="standard"` makes them ordinary 3x3 convs of the same widths, so the two differ only in
    the factorisation. `width_multiplier` is MobileNetV1's alpha: every width becomes
    `round(alpha * channels)` (Sec. 3.3).
    """

    num_classes: int = 10
    in_channels: int = 1
    stem_channels: int = 16
    stem_stride: int = 2
    stages: tuple[tuple[int, int], ...] = ((32, 2), (64, 1), (128, 2))
    conv: str = "separable"
    width_multiplier: float = 1.0

    def __post_init__(self):
        for name in ("num_classes", "in_channels", "stem_channels", "stem_stride"):
            checks.check_int(name, getattr(self, name))
        if self.conv not in CONV_KINDS:
            raise ValueError(f"conv must be one of {CONV_KINDS}, got {self.conv!r}")
        if not self.width_multiplier > 0:
            raise ValueError(f"width_multiplier must be a positive number, got {self.width_multiplier!r}")
        if not self.stages:
            raise ValueError("stages must list at least one (out_channels, stride) pair")
        for index, (channels, stride) in enumerate(self.stages):
            checks.check_int(f"stages[{index}] out_channels", channels)
            checks.check_int(f"stages[{index}] stride", stride)

    def _width(self, channels: int) -> int:
        return max(1, round(channels * self.width_multiplier))

    @property
    def feature_channels(self) -> int:
        """Channels reaching the classifier (the last stage's width)."""
        return self._width(self.stages[-1][0])

    def layers(self) -> list[ConvBNAct | DepthwiseSeparable]:
        """The feature extractor as block specs: the stem, then one block per stage."""
        channels = self._width(self.stem_channels)
        specs: list[ConvBNAct | DepthwiseSeparable] = [
            ConvBNAct(self.in_channels, channels, 3, stride=self.stem_stride)
        ]
        for out_channels, stride in self.stages:
            out_channels = self._width(out_channels)
            if self.conv == "separable":
                specs.append(DepthwiseSeparable(channels, out_channels, 3, stride=stride))
            else:
                specs.append(ConvBNAct(channels, out_channels, 3, stride=stride))
            channels = out_channels
        return specs

    def build(self) -> nn.Sequential:
        """The `nn.Module`: features -> global average pool -> flatten -> linear classifier."""
        return nn.Sequential(
            OrderedDict(
                features=nn.Sequential(*(spec.build() for spec in self.layers())),
                pool=nn.AdaptiveAvgPool2d(1),
                flatten=nn.Flatten(),
                classifier=nn.Linear(self.feature_channels, self.num_classes),
            )
        )

    def cost(self, input_size: Size = 32) -> BlockCost:
        """Parameters and conv+linear multiply-adds at `input_size`, from the specs (no forward pass).

        Pooling costs no MACs in the papers' convention; `out_size` is the classifier's (1, 1).
        """
        return _classifier_cost(self.layers(), input_size, self.num_classes)


def small_mobilenet(
    num_classes: int = 10,
    in_channels: int = 1,
    conv: str = "separable",
    width_multiplier: float = 1.0,
    **options,
) -> nn.Sequential:
    """Build a `SmallMobileNet` (see there; `options` are its other fields, e.g. `stages`).

    >>> model = small_mobilenet(conv="standard")   # same widths, ordinary 3x3 convs
    """
    return SmallMobileNet(
        num_classes, in_channels, conv=conv, width_multiplier=width_multiplier, **options
    ).build()


def small_mobilenet_cost(
    num_classes: int = 10,
    in_channels: int = 1,
    conv: str = "separable",
    width_multiplier: float = 1.0,
    input_size: Size = 32,
    **options,
) -> BlockCost:
    """Analytical params and MACs of `small_mobilenet(...)` with the same arguments at `input_size`."""
    spec = SmallMobileNet(num_classes, in_channels, conv=conv, width_multiplier=width_multiplier, **options)
    return spec.cost(input_size)


@dataclass(frozen=True)
class SmallMBConvNet:
    """Lesson 06's small MBConv classifier for 32x32 inputs: one `activation` everywhere, SE or not.

    A stride-2 3x3 stem (16 channels), three inverted residuals (16 -> 24 expanded 64, 3x3,
    stride 2; 24 -> 24 expanded 72, 5x5; 24 -> 40 expanded 96, 5x5, stride 2), a 1x1 conv to 128
    channels, global average pooling and a linear classifier: MobileNetV3's block in miniature.
    With `se=True` every inverted residual squeezes its expanded tensor to a quarter
    (`cost.se_channels(expanded, 0.25, divisor=None)`), as SENet and MnasNet do. With
    `deep_activation` the deep half (the last block, on 8x8 maps, and the 1x1 conv after it) uses
    that activation instead, as MobileNetV3 puts h-swish only where the maps are small.

    >>> SmallMBConvNet("hswish", se=True).cost(32).params
    34420
    """

    activation: str = "relu"
    se: bool = False
    num_classes: int = 10
    in_channels: int = 1
    deep_activation: str | None = None  # None: `activation` everywhere

    def __post_init__(self):
        for name in ("activation", "deep_activation"):
            value = getattr(self, name)
            if value not in ACTIVATIONS and not (name == "deep_activation" and value is None):
                raise ValueError(f"{name} must be one of {tuple(ACTIVATIONS)}, got {value!r}")
        if not isinstance(self.se, bool):
            raise TypeError(f"se must be True or False, got {self.se!r}")
        for name in ("num_classes", "in_channels"):
            checks.check_int(name, getattr(self, name))

    def _squeeze(self, expanded: int) -> int:
        return C.se_channels(expanded, 0.25, divisor=None) if self.se else 0

    def layers(self) -> list[ConvBNAct | InvertedResidual]:
        """The feature extractor as block specs, stem to the last 1x1 conv."""
        act = self.activation
        deep = self.deep_activation or act
        return [
            ConvBNAct(self.in_channels, 16, 3, 2, activation=act),
            InvertedResidual(16, 24, 64, 3, 2, self._squeeze(64), activation=act),
            InvertedResidual(24, 24, 72, 5, 1, self._squeeze(72), activation=act),
            InvertedResidual(24, 40, 96, 5, 2, self._squeeze(96), activation=deep),
            ConvBNAct(40, 128, 1, activation=deep),
        ]

    def build(self) -> nn.Sequential:
        """The `nn.Module`: features -> global average pool -> flatten -> linear classifier."""
        return nn.Sequential(
            *(layer.build() for layer in self.layers()),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(self.layers()[-1].out_channels, self.num_classes),
        )

    def cost(self, input_size: Size = 32) -> BlockCost:
        """Parameters and conv+linear multiply-adds at `input_size`, from the specs (no forward pass)."""
        return _classifier_cost(self.layers(), input_size, self.num_classes)


def _classifier_cost(layers: Sequence[Any], input_size: Size, num_classes: int) -> BlockCost:
    """Cost of `layers` -> global average pool -> linear classifier: the sum over the layers' specs."""
    size = checks.check_pair("input_size", input_size)
    params = macs = 0
    for layer in layers:
        step = layer.cost(size)
        params, macs, size = params + step.params, macs + step.macs, step.out_size
    features = layers[-1].out_channels
    params += C.linear_params(features, num_classes)
    macs += C.linear_macs(features, num_classes)
    return BlockCost(params, macs, num_classes, (1, 1))
