"""Whole networks, written as data: a spec lists the blocks, `build` makes the module from them.

One frozen dataclass per network holds its paper's table. From that one spec come

* `spec.stages()`: the network as named stages of `lwcnn.blocks` specs (plus `spec.classifier()`),
* `spec.build()`: the `nn.Module`, built from those block specs,
* `spec.cost(resolution)`: params and conv+linear MACs per stage and in total, by integer
  arithmetic on the blocks' arguments (no module, no forward pass, no block spec made).

    >>> cost("mobilenet_v2").macs               # torchvision's MobileNetV2: FlopCounterMode / 2
    300774272
    >>> cost("mobilenet_v1", width_multiplier=0.5, resolution=160).macs
    76524800
    >>> model = build("mobilenet_v3_small", num_classes=10, small_input=True)   # for 32x32 images

By name: `spec(name, **options)`, `build(name, **options)`, `cost(name, resolution, **options)`;
`MODEL_NAMES` lists the names and `options(name)` the options of one. `load_torchvision_weights`
copies a torchvision model's weights into the module `build` made.

The course's own 32x32 training network is `SmallMobileNet`:

>>> spec = SmallMobileNet(conv="separable")
>>> model = spec.build()                  # an nn.Sequential for 32x32 inputs
>>> spec.cost(32).params, spec.cost(32).macs
(13898, 369920)
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn

from lwcnn import checks
from lwcnn import cost as C
from lwcnn.blocks import (
    ACTIVATIONS,
    BATCHNORM_KEYS,
    BlockCost,
    BlockSpec,
    Channels,
    ConvBNAct,
    DepthwiseSeparable,
    Fire,
    GhostBottleneck,
    InvertedResidual,
    LayerCost,
    SameChannels,
    ShuffleNetV2Unit,
    activation_params,
    check_activation,
    frozen_spec,
    make_activation,
)
from lwcnn.cost import Size

CONV_KINDS = ("separable", "standard")


# --- small MobileNet (the course's training model) ---------------------------------------------


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
    (`cost.se_channels(expanded, 0.25, divisor=None)`), as SENet and MnasNet do.

    >>> SmallMBConvNet("hswish", se=True).cost(32).params
    34420
    """

    activation: str = "relu"
    se: bool = False
    num_classes: int = 10
    in_channels: int = 1

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {self.activation!r}")
        if not isinstance(self.se, bool):
            raise TypeError(f"se must be True or False, got {self.se!r}")
        for name in ("num_classes", "in_channels"):
            checks.check_int(name, getattr(self, name))

    def _squeeze(self, expanded: int) -> int:
        return C.se_channels(expanded, 0.25, divisor=None) if self.se else 0

    def layers(self) -> list[ConvBNAct | InvertedResidual]:
        """The feature extractor as block specs, stem to the last 1x1 conv."""
        act = self.activation
        return [
            ConvBNAct(self.in_channels, 16, 3, 2, activation=act),
            InvertedResidual(16, 24, 64, 3, 2, self._squeeze(64), activation=act),
            InvertedResidual(24, 24, 72, 5, 1, self._squeeze(72), activation=act),
            InvertedResidual(24, 40, 96, 5, 2, self._squeeze(96), activation=act),
            ConvBNAct(40, 128, 1, activation=act),
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


# --- glue layers: what a network needs around the blocks ----------------------------------------
#
# Each has the blocks' interface (in_channels, out_channels, build, cost, _cost) so that a
# stage can mix them with the block specs. None of them costs multiply-adds except PlainConv and
# Linear.


# what a layer that only hands its input's channels on declares
_PASSES_CHANNELS = Channels(fields={"channels": "in"}, out="in")


@frozen_spec
class PlainConv(BlockSpec):
    """Conv with bias and explicit padding, then an activation, no BatchNorm.

    SqueezeNet's conv1 (7x7/2 or 3x3/2 with no padding), which `ConvBNAct`'s "same" padding
    cannot express. Params `Dk*Dk*M*N + N`, MACs `Dk*Dk*M*N*Df*Df`.
    """

    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    activation: str | None = "relu"

    def __post_init__(self) -> None:
        for name in ("in_channels", "out_channels", "kernel_size", "stride"):
            checks.check_int(name, getattr(self, name))
        checks.check_int("padding", self.padding, minimum=0)
        check_activation(self.activation)

    def build(self) -> nn.Sequential:
        layers = OrderedDict(
            conv=nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding)
        )
        if self.activation not in (None, "identity"):
            layers["act"] = make_activation(self.activation, self.out_channels)
        return nn.Sequential(layers)

    def _cost(self, height: int, width: int) -> LayerCost:
        # the checked function: without "same" padding an input can be smaller than the kernel
        k, n = self.kernel_size, self.out_channels
        out_height, out_width = C.conv2d_output_size((height, width), k, self.stride, self.padding)
        weights = C.conv_weights(self.in_channels, n, k, k, 1)
        params = weights + n + activation_params(self.activation, n)
        return params, weights * out_height * out_width, n, out_height, out_width


@frozen_spec
class MaxPool(SameChannels):
    """Max pooling: no parameters and no multiply-adds, it only shrinks the map.

    `ceil_mode=True` rounds the output size up, as Caffe did (SqueezeNet keeps it); PyTorch then
    drops a last window that would start in the right padding.
    """

    channels: int
    kernel_size: int = 3
    stride: int = 2
    padding: int = 0
    ceil_mode: bool = False

    def __post_init__(self) -> None:
        for name in ("channels", "kernel_size", "stride"):
            checks.check_int(name, getattr(self, name))
        checks.check_int("padding", self.padding, minimum=0)

    def build(self) -> nn.MaxPool2d:
        return nn.MaxPool2d(self.kernel_size, self.stride, self.padding, ceil_mode=self.ceil_mode)

    def channel_roles(self) -> Channels:
        return _PASSES_CHANNELS

    @staticmethod
    def _pooled(length: int, kernel_size: int, stride: int, padding: int, ceil_mode: bool) -> int:
        floor = C.conv2d_output_size(length, kernel_size, stride, padding)
        if not ceil_mode:
            return floor
        k, s, p = kernel_size, stride, padding
        out = -(-(length + 2 * p - k) // s) + 1  # ceil division
        return out - 1 if (out - 1) * s >= length + p else out

    def _cost(self, height: int, width: int) -> LayerCost:
        window = (self.kernel_size, self.stride, self.padding, self.ceil_mode)
        return 0, 0, self.channels, self._pooled(height, *window), self._pooled(width, *window)


@frozen_spec
class Flatten(SameChannels):
    """(N, C, 1, 1) -> (N, C) after the global pooling; costs nothing."""

    channels: int

    def build(self) -> nn.Flatten:
        return nn.Flatten()

    def channel_roles(self) -> Channels:
        return _PASSES_CHANNELS

    def _cost(self, height: int, width: int) -> LayerCost:
        return 0, 0, self.channels, height, width


@frozen_spec
class Dropout(SameChannels):
    """Dropout with probability `p` (identity at inference); costs nothing."""

    channels: int
    p: float = 0.2

    def __post_init__(self) -> None:
        checks.check_probability("p", self.p)

    def build(self) -> nn.Dropout:
        return nn.Dropout(self.p)

    def channel_roles(self) -> Channels:
        return _PASSES_CHANNELS

    def _cost(self, height: int, width: int) -> LayerCost:
        return 0, 0, self.channels, height, width


@frozen_spec
class BatchNorm(SameChannels):
    """BatchNorm1d on the pooled vector: params `2*C` (scale and shift), no multiply-adds.

    The CIFAR MobileNetV3 implementations used by the network-slimming study put one after the
    classifier's hidden linear layer (`MobileNetV3(classifier_norm=True)`), which gives that
    layer's outputs a scale factor to prune by.
    """

    channels: int

    def __post_init__(self) -> None:
        checks.check_int("channels", self.channels)

    def build(self) -> nn.BatchNorm1d:
        return nn.BatchNorm1d(self.channels)

    def channel_roles(self) -> Channels:
        """It scores its input's channels, and loses the removed ones' statistics."""
        tensors = tuple((key, ("in",)) for key in BATCHNORM_KEYS)
        return Channels(fields={"channels": "in"}, out="in", norms=(("in", ""),), tensors=tensors)

    def _cost(self, height: int, width: int) -> LayerCost:
        return C.batchnorm_params(self.channels), 0, self.channels, height, width


@frozen_spec
class Activation(SameChannels):
    """A lone activation (MobileNetV3's h-swish between its two classifier layers)."""

    channels: int
    activation: str = "relu"

    def __post_init__(self) -> None:
        check_activation(self.activation)

    def build(self) -> nn.Module:
        return make_activation(self.activation, self.channels)

    def channel_roles(self) -> Channels:
        slopes = (("weight", ("in",)),) if self.activation == "prelu" else ()  # PReLU: one per channel
        return Channels(
            fields={"channels": "in"}, out="in", tensors=slopes, activations=(("in", self.activation),)
        )

    def _cost(self, height: int, width: int) -> LayerCost:
        return activation_params(self.activation, self.channels), 0, self.channels, height, width


@frozen_spec
class Linear(BlockSpec):
    """Fully-connected layer on the pooled vector: params `M*N + N`, MACs `M*N`."""

    in_features: int
    out_features: int
    bias: bool = True

    def __post_init__(self) -> None:
        checks.check_int("in_features", self.in_features)
        checks.check_int("out_features", self.out_features)

    @property
    def in_channels(self) -> int:
        return self.in_features

    @property
    def out_channels(self) -> int:
        return self.out_features

    def build(self) -> nn.Linear:
        return nn.Linear(self.in_features, self.out_features, bias=self.bias)

    def channel_roles(self) -> Channels:
        """Its outputs are a new group (prunable only when a BatchNorm after it scores them)."""
        tensors = (("weight", ("out", "in")), *((("bias", ("out",)),) if self.bias else ()))
        return Channels(fields={"in_features": "in", "out_features": "out"}, new=("out",), tensors=tensors)

    def _cost(self, height: int, width: int) -> LayerCost:
        """On the pooled vector: params `M*N` (+ N), MACs `M*N` (`cost.linear_params`, `cost.linear_macs`)."""
        n = self.out_features
        weights = C.linear_weights(self.in_features, n)
        return weights + (n if self.bias else 0), weights, n, height, width


# the layers a network puts around its blocks
GLUE_LAYERS = (PlainConv, MaxPool, Flatten, Dropout, BatchNorm, Activation, Linear)


# --- the network spec: stages of block specs, one build, one cost -------------------------------


@dataclass(frozen=True)
class Stage:
    """A named run of layer specs applied one after another (a row group of the paper's table)."""

    name: str
    layers: tuple[Any, ...]


@dataclass(frozen=True)
class StageCost:
    """Params and conv+linear MACs of one stage, and the shape it hands on."""

    name: str
    params: int
    macs: int
    out_channels: int
    out_size: tuple[int, int]


@dataclass(frozen=True)
class NetworkCost:
    """A network's params and conv+linear MACs at one input size, stage by stage.

    `stages` ends with the "classifier" (everything after the global average pooling).
    """

    input_size: tuple[int, int]
    params: int
    macs: int
    stages: tuple[StageCost, ...]

    @property
    def flops(self) -> int:
        """Two FLOPs (a multiply and an add) per multiply-accumulate."""
        return 2 * self.macs

    def stage(self, name: str) -> StageCost:
        """The row of stage `name`."""
        for row in self.stages:
            if row.name == name:
                return row
        raise ValueError(f"no stage {name!r}; stages: {', '.join(row.name for row in self.stages)}")

    def table(self) -> str:
        """A fixed-width table: one line per stage, then the total."""
        lines = [f"{'stage':<12}{'output':>14}{'params':>14}{'MACs':>16}"]
        for row in self.stages:
            shape = f"{row.out_channels}x{row.out_size[0]}x{row.out_size[1]}"
            lines.append(f"{row.name:<12}{shape:>14}{row.params:>14,}{row.macs:>16,}")
        size = f"{self.input_size[0]}x{self.input_size[1]}"
        lines.append(f"{'total':<12}{size:>14}{self.params:>14,}{self.macs:>16,}")
        return "\n".join(lines)


NO_SE = 0  # squeeze_channels of a block without squeeze-and-excite
SMALL_INPUT_NORM_MOMENTUM = 0.1  # BatchNorm momentum of every `small_input=True` network

# A layer of a network is a spec (a block or one of the layers above); a stage is named.
Layer = Any
StageLayers = tuple[str, Sequence[Layer]]  # (stage name, its layers)


class NetworkSpec:
    """What every network spec shares.

    A subclass is a frozen dataclass with the fields `num_classes`, `in_channels` and
    `resolution`, and writes from its table `_make_stages()`, the feature extractor as
    (stage name, layers) pairs, and `_make_classifier()`, the layers after global average
    pooling, each layer a spec (`InvertedResidual(...)`, `Linear(...)`), whose constructor checks
    its arguments. `stages()`, `build` and `cost` all read that one layout: `cost` sums each
    layer's own cost, stage by stage.
    """

    norm_eps: ClassVar[float] = 1e-5  # BatchNorm settings of the reference implementation
    norm_momentum: ClassVar[float] = 0.1
    num_classes: int
    in_channels: int
    resolution: int | None

    def _make_stages(self) -> list[StageLayers]:  # pragma: no cover - every spec overrides
        raise NotImplementedError

    def _make_classifier(self) -> list[Layer]:  # pragma: no cover - every spec overrides
        raise NotImplementedError

    def _check_common(self) -> None:
        checks.check_int("num_classes", self.num_classes)
        checks.check_int("in_channels", self.in_channels)
        if self.resolution is not None:
            checks.check_int("resolution", self.resolution)
        if hasattr(self, "dropout"):
            checks.check_probability("dropout", self.dropout)

    @property
    def default_resolution(self) -> int:
        """The input size the network was designed for (224; 32 for small-input variants)."""
        return 32 if getattr(self, "small_input", False) else 224

    @property
    def input_resolution(self) -> int:
        """`resolution` if given, else `default_resolution`: the size `cost()` uses by default."""
        return self.default_resolution if self.resolution is None else self.resolution

    def stages(self) -> tuple[Stage, ...]:
        """The feature extractor as named stages of layer specs (made once per spec)."""
        return _specs(self)[0]

    def classifier(self) -> tuple[Any, ...]:
        """The layers after global average pooling, as layer specs."""
        return _specs(self)[1]

    def build(self) -> nn.Sequential:
        """The module: `features` (one nn.Sequential per stage) -> `avgpool` -> `classifier`.

        BatchNorm gets the reference implementation's eps and momentum (0.1 for small-input
        variants, see `batchnorm_momentum`); weights start as in torchvision's MobileNets (Kaiming-normal fan-out convs, BN at 1/0, linear N(0, 0.01)).
        """
        features = OrderedDict(
            (stage.name, nn.Sequential(*(layer.build() for layer in stage.layers))) for stage in self.stages()
        )
        model = nn.Sequential(
            OrderedDict(
                features=nn.Sequential(features),
                avgpool=nn.AdaptiveAvgPool2d(1),
                classifier=nn.Sequential(*(layer.build() for layer in self.classifier())),
            )
        )
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
                module.eps, module.momentum = self.norm_eps, self.batchnorm_momentum
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        model.spec = self  # what it was built from: lwcnn.prune reads it to find the channel groups
        return model

    @property
    def batchnorm_momentum(self) -> float:
        """BatchNorm's running-statistics momentum for `build`: `norm_momentum` (the reference
        implementation's), except 0.1 (PyTorch's default) for `small_input` variants.

        The reference values suit ImageNet runs of 100k+ steps: at MobileNetV3's 0.01 the running
        statistics of a few-epoch digits or CIFAR run still remember the random init, and the
        model evaluates at chance although it trains well.
        """
        return SMALL_INPUT_NORM_MOMENTUM if getattr(self, "small_input", False) else self.norm_momentum

    def cost(self, resolution: Size | None = None) -> NetworkCost:
        """Params and conv+linear MACs per stage at `resolution` (default `input_resolution`).

        Pure integer arithmetic: each layer spec's own cost, no module made. Cached per
        (spec, size), which is safe because specs are frozen.
        """
        size = checks.check_pair("resolution", self.input_resolution if resolution is None else resolution)
        return _network_cost(self, size)


@functools.lru_cache(maxsize=1024)
def _specs(spec: NetworkSpec) -> tuple[tuple[Stage, ...], tuple[Any, ...]]:
    """The spec's layout, made once: its stages of layer specs, and its classifier."""
    made = tuple(Stage(name, tuple(layers)) for name, layers in spec._make_stages())
    return made, tuple(spec._make_classifier())


@functools.lru_cache(maxsize=4096)
def _network_cost(spec: NetworkSpec, input_size: tuple[int, int]) -> NetworkCost:
    """Each layer spec's cost on the map the layer before it made, summed per stage."""
    channels, (height, width) = spec.in_channels, input_size
    rows, total_params, total_macs = [], 0, 0
    stages, classifier = _specs(spec)
    for name, layers in (*((stage.name, stage.layers) for stage in stages), ("classifier", classifier)):
        if name == "classifier":  # after the global average pooling: on the pooled 1x1 map
            height = width = 1
        params = macs = 0
        for layer in layers:
            if layer.in_channels != channels:
                raise ValueError(
                    f"{name}: {type(layer).__name__} expects {layer.in_channels} channels, gets {channels}"
                )
            step_params, step_macs, channels, height, width = layer._cost(height, width)
            params += step_params
            macs += step_macs
        size = (height, width)
        rows.append(
            _made(StageCost, name=name, params=params, macs=macs, out_channels=channels, out_size=size)
        )
        total_params += params
        total_macs += macs
    return _made(NetworkCost, input_size=input_size, params=total_params, macs=total_macs, stages=tuple(rows))


def _made(cls: type, **fields: Any) -> Any:
    """An instance of the frozen dataclass `cls` (one without `__post_init__`), fields set at once.

    A frozen dataclass's `__init__` sets its fields one by one through `object.__setattr__`;
    `cost` makes a row per stage, and that was a tenth of its time.
    """
    instance = object.__new__(cls)
    object.__setattr__(instance, "__dict__", fields)
    return instance


def clear_cost_caches() -> None:
    """Forget every cached layer spec and cost (for timing cold calls)."""
    for cached in (_specs, _network_cost):
        cached.cache_clear()


# --- helpers shared by the tables -----------------------------------------------------------------


def _as_rows(spec: Any, name: str, row_type: type) -> None:
    """Store the table field as a tuple of `row_type` (so plain tuples or lists work too).

    Call it last in `__post_init__`. A table other than the default (the paper's) is checked:
    its channel counts and repeats here, everything else by making the network's layer specs
    once, whose constructors check their arguments. `cost` makes no spec and trusts them.
    """
    rows = getattr(spec, name)
    if rows is None or rows is spec.__dataclass_fields__[name].default:
        return
    try:
        converted = tuple(row if isinstance(row, row_type) else row_type(*row) for row in rows)
    except TypeError as error:
        raise ValueError(f"{name}: every row must be a {row_type.__name__} {row_type._fields}") from error
    if not converted:
        raise ValueError(f"{name} must hold at least one row")
    for index, row in enumerate(converted):
        for field_name, value in zip(row._fields, row, strict=True):
            if field_name.endswith("channels"):
                checks.check_positive_number(f"{name}[{index}].{field_name}", value)
            elif field_name == "repeats":
                checks.check_int(f"{name}[{index}].repeats", value, minimum=0)
    object.__setattr__(spec, name, converted)
    _specs(spec)


def _without_first_stride(rows: Sequence[Any]) -> tuple[Any, ...]:
    """The rows with the first stride-2 row made stride 1 (the CIFAR-style small-input change)."""
    rows = list(rows)
    for index, row in enumerate(rows):
        if row.stride > 1:
            rows[index] = row._replace(stride=1)
            break
    return tuple(rows)


def _numbered(groups: Iterable[Sequence[Layer]], first: int = 1) -> list[StageLayers]:
    return [(f"stage{index}", group) for index, group in enumerate(groups, first)]


def _repeated_rows(
    spec: Any, rows: Iterable[Any], channels: int, depth: float = 1.0, first_index: int = 1
) -> tuple[list[StageLayers], int]:
    """One stage per row of `n` repeated blocks (the t, c, n, s rows of MobileNetV2, MnasNet and
    EfficientNet; `ceil(n * depth)` blocks with a depth multiplier): `spec._block(row, M, c', s)`
    first, then the block c' -> c' at stride 1, one layer `n - 1` times over. Returns the stages
    and the channels they end with."""
    stages = []
    for index, row in enumerate(rows, first_index):
        count = row.repeats if depth == 1 else math.ceil(row.repeats * depth)
        out, blocks = spec._width(row.out_channels), []
        if count > 0:
            blocks.append(spec._block(row, channels, out, row.stride))
            channels = out
        if count > 1:
            blocks += [spec._block(row, out, out, 1)] * (count - 1)
        stages.append((f"stage{index}", blocks))
    return stages, channels


def _dropout_classifier(channels: int, dropout: float, num_classes: int) -> list[Layer]:
    """Flatten, dropout, linear: the classifier of MobileNetV2, MnasNet, EfficientNet, GhostNet."""
    return [
        Flatten(channels),
        Dropout(channels, dropout),
        Linear(channels, num_classes),
    ]


# --- MobileNetV1 -------------------------------------------------------------------------------


class V1Row(NamedTuple):
    """One row pair of MobileNetV1's Table 1: 3x3 depthwise (stride s) + 1x1 to `out_channels`."""

    out_channels: int
    stride: int


MOBILENET_V1_TABLE: tuple[V1Row, ...] = (
    # c, s (Table 1 prints s2 for the last depthwise conv, but its map stays 7x7: it is stride 1)
    V1Row(64, 1),
    V1Row(128, 2),
    V1Row(128, 1),
    V1Row(256, 2),
    V1Row(256, 1),
    V1Row(512, 2),
    *[V1Row(512, 1)] * 5,
    V1Row(1024, 2),
    V1Row(1024, 1),
)


@dataclass(frozen=True)
class MobileNetV1(NetworkSpec):
    """MobileNetV1 (Howard et al. 2017, Table 1): a 3x3 stem conv (stride 2), 13 depthwise
    separable layers, global average pooling, a linear classifier. BN + ReLU after every conv.

    `width_multiplier` is alpha (Sec. 3.3): every width becomes `max(8, int(alpha * c))`
    (TF-slim's rounding); `resolution` is rho's input size (224, 192, 160, 128).
    `small_input=True` (CIFAR-style, for 32x32): stem stride 1 and the first stride-2 row stride 1.
    `classifier_norm=True` (also CIFAR-style): the hidden linear layer has no bias and is followed
    by BatchNorm1d, as in the CIFAR implementations the network-slimming study pruned, so that
    `lwcnn.prune` can score and prune its outputs like any conv's.
    """

    width_multiplier: float = 1.0
    resolution: int | None = None
    small_input: bool = False
    num_classes: int = 1000
    in_channels: int = 3
    stem_channels: int = 32
    table: tuple[V1Row, ...] = field(default=MOBILENET_V1_TABLE, repr=False)

    def __post_init__(self) -> None:
        self._check_common()
        checks.check_positive_number("width_multiplier", self.width_multiplier)
        checks.check_int("stem_channels", self.stem_channels)
        _as_rows(self, "table", V1Row)

    def _width(self, channels: int) -> int:
        return max(8, int(channels * self.width_multiplier))

    def _make_stages(self) -> list[StageLayers]:
        stem = self._width(self.stem_channels)
        rows = _without_first_stride(self.table) if self.small_input else self.table
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


# --- MobileNetV2 -------------------------------------------------------------------------------


class V2Row(NamedTuple):
    """A row of MobileNetV2's Table 2: `repeats` inverted residuals with expansion t to c
    channels, the first one with stride s."""

    expand_ratio: int  # t
    out_channels: int  # c
    repeats: int  # n
    stride: int  # s


MOBILENET_V2_TABLE: tuple[V2Row, ...] = (
    #     t,   c, n, s
    V2Row(1, 16, 1, 1),
    V2Row(6, 24, 2, 2),
    V2Row(6, 32, 3, 2),
    V2Row(6, 64, 4, 2),
    V2Row(6, 96, 3, 1),
    V2Row(6, 160, 3, 2),
    V2Row(6, 320, 1, 1),
)


@dataclass(frozen=True)
class MobileNetV2(NetworkSpec):
    """MobileNetV2 (Sandler et al. 2018, Table 2), as torchvision builds it: a 3x3 stem conv to
    32, 17 inverted residuals with linear bottlenecks (ReLU6), a 1x1 conv to 1280, dropout and a
    linear classifier.

    Widths are `make_divisible(c * alpha, divisor)`; the last conv keeps 1280 for alpha < 1
    (`1280 * max(1, alpha)`). `small_input=True` (CIFAR-style, for 32x32): stem stride 1 and the
    first stride-2 row (24 channels) stride 1.
    """

    width_multiplier: float = 1.0
    resolution: int | None = None
    small_input: bool = False
    num_classes: int = 1000
    in_channels: int = 3
    dropout: float = 0.2
    divisor: int = 8
    table: tuple[V2Row, ...] = field(default=MOBILENET_V2_TABLE, repr=False)

    stem_channels: ClassVar[int] = 32
    last_channels: ClassVar[int] = 1280

    def __post_init__(self) -> None:
        self._check_common()
        checks.check_positive_number("width_multiplier", self.width_multiplier)
        checks.check_int("divisor", self.divisor)
        _as_rows(self, "table", V2Row)

    def _width(self, channels: float) -> int:
        return C.make_divisible(channels * self.width_multiplier, self.divisor, self.divisor)

    @property
    def _head_channels(self) -> int:
        return C.make_divisible(
            self.last_channels * max(1.0, self.width_multiplier), self.divisor, self.divisor
        )

    def _block(self, row: V2Row, in_channels: int, out_channels: int, stride: int) -> Layer:
        expanded = int(round(in_channels * row.expand_ratio))
        return InvertedResidual(in_channels, out_channels, expanded, 3, stride, NO_SE, "relu6")

    def _make_stages(self) -> list[StageLayers]:
        channels = self._width(self.stem_channels)
        rows = _without_first_stride(self.table) if self.small_input else self.table
        stem_stride = 1 if self.small_input else 2
        stem = ConvBNAct(self.in_channels, channels, 3, stem_stride, activation="relu6")
        stages, channels = _repeated_rows(self, rows, channels)
        head = ConvBNAct(channels, self._head_channels, 1, activation="relu6")
        return [("stem", [stem]), *stages, ("head", [head])]

    def _make_classifier(self) -> list[Layer]:
        return _dropout_classifier(self._head_channels, self.dropout, self.num_classes)


# --- MobileNetV3 -------------------------------------------------------------------------------


class V3Row(NamedTuple):
    """A row of MobileNetV3's Tables 1 and 2: bneck k x k, exp size, #out, SE, NL, s."""

    kernel_size: int
    expanded_channels: int
    out_channels: int
    use_se: bool
    activation: str  # "relu" (RE) or "hswish" (HS)
    stride: int


MOBILENET_V3_LARGE_TABLE: tuple[V3Row, ...] = (
    #     k, exp, out,   SE,   NL,      s
    V3Row(3, 16, 16, False, "relu", 1),
    V3Row(3, 64, 24, False, "relu", 2),
    V3Row(3, 72, 24, False, "relu", 1),
    V3Row(5, 72, 40, True, "relu", 2),
    V3Row(5, 120, 40, True, "relu", 1),
    V3Row(5, 120, 40, True, "relu", 1),
    V3Row(3, 240, 80, False, "hswish", 2),
    V3Row(3, 200, 80, False, "hswish", 1),
    V3Row(3, 184, 80, False, "hswish", 1),
    V3Row(3, 184, 80, False, "hswish", 1),
    V3Row(3, 480, 112, True, "hswish", 1),
    V3Row(3, 672, 112, True, "hswish", 1),
    V3Row(5, 672, 160, True, "hswish", 2),
    V3Row(5, 960, 160, True, "hswish", 1),
    V3Row(5, 960, 160, True, "hswish", 1),
)

MOBILENET_V3_SMALL_TABLE: tuple[V3Row, ...] = (
    #     k, exp, out,   SE,   NL,      s
    V3Row(3, 16, 16, True, "relu", 2),
    V3Row(3, 72, 24, False, "relu", 2),
    V3Row(3, 88, 24, False, "relu", 1),
    V3Row(5, 96, 40, True, "hswish", 2),
    V3Row(5, 240, 40, True, "hswish", 1),
    V3Row(5, 240, 40, True, "hswish", 1),
    V3Row(5, 120, 48, True, "hswish", 1),
    V3Row(5, 144, 48, True, "hswish", 1),
    V3Row(5, 288, 96, True, "hswish", 2),
    V3Row(5, 576, 96, True, "hswish", 1),
    V3Row(5, 576, 96, True, "hswish", 1),
)

MOBILENET_V3_TABLES = {"large": MOBILENET_V3_LARGE_TABLE, "small": MOBILENET_V3_SMALL_TABLE}
MOBILENET_V3_LAST_CHANNELS = {"large": 1280, "small": 1024}


@dataclass(frozen=True)
class MobileNetV3(NetworkSpec):
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
    width_multiplier: float = 1.0
    resolution: int | None = None
    small_input: bool = False
    num_classes: int = 1000
    in_channels: int = 3
    dropout: float = 0.2
    table: tuple[V3Row, ...] | None = field(default=None, repr=False)  # None: the variant's table
    classifier_norm: bool = False

    norm_eps: ClassVar[float] = 1e-3
    norm_momentum: ClassVar[float] = 0.01
    stem_channels: ClassVar[int] = 16

    def __post_init__(self) -> None:
        self._check_common()
        checks.check_choice("variant", self.variant, MOBILENET_V3_TABLES)
        checks.check_positive_number("width_multiplier", self.width_multiplier)
        _as_rows(self, "table", V3Row)

    @property
    def rows(self) -> tuple[V3Row, ...]:
        return MOBILENET_V3_TABLES[self.variant] if self.table is None else self.table

    def _width(self, channels: float) -> int:
        return C.make_divisible(channels * self.width_multiplier, 8, 8)

    def _make_stages(self) -> list[StageLayers]:
        channels = self._width(self.stem_channels)
        rows = _without_first_stride(self.rows) if self.small_input else self.rows
        stem_stride = 1 if self.small_input else 2
        stem = ConvBNAct(self.in_channels, channels, 3, stem_stride, activation="hswish")
        stages, blocks, alpha = [("stem", [stem])], [], self.width_multiplier
        for row in rows:  # self._width written out, as this loop is the bulk of `cost`
            if row.stride > 1 or not blocks:  # each stride > 1 opens a stage
                blocks = []
                stages.append((f"stage{len(stages)}", blocks))
            expanded = C.make_divisible(row.expanded_channels * alpha, 8, 8)
            out = C.make_divisible(row.out_channels * alpha, 8, 8)
            squeeze = C.make_divisible(expanded // 4, 8, 8) if row.use_se else 0
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


# --- MnasNet -----------------------------------------------------------------------------------


class MBRow(NamedTuple):
    """A stage of MBConv blocks (MnasNet Fig. 7, EfficientNet Table 1): expansion t, kernel k,
    stride s of the first block, output channels c, n blocks, SE ratio (0: none)."""

    expand_ratio: int
    kernel_size: int
    stride: int
    out_channels: int
    repeats: int
    se_ratio: float = 0.0


MNASNET_B1_TABLE: tuple[MBRow, ...] = (
    #     t, k, s,   c, n      (torchvision's `_stack` calls)
    MBRow(3, 3, 2, 24, 3),
    MBRow(3, 5, 2, 40, 3),
    MBRow(6, 5, 2, 80, 3),
    MBRow(6, 3, 1, 96, 2),
    MBRow(6, 5, 2, 192, 4),
    MBRow(6, 3, 1, 320, 1),
)

MNASNET_A1_TABLE: tuple[MBRow, ...] = (
    #     t, k, s,   c, n, SE   (Fig. 7(a); timm's mnasnet_a1)
    MBRow(6, 3, 2, 24, 2),
    MBRow(3, 5, 2, 40, 3, 0.25),
    MBRow(6, 3, 2, 80, 4),
    MBRow(6, 3, 1, 112, 2, 0.25),
    MBRow(6, 5, 2, 160, 3, 0.25),
    MBRow(6, 3, 1, 320, 1),
)

MNASNET_TABLES = {"b1": MNASNET_B1_TABLE, "a1": MNASNET_A1_TABLE}


@dataclass(frozen=True)
class MnasNet(NetworkSpec):
    """MnasNet (Tan et al. 2019): `variant="b1"` is torchvision's mnasnet (no SE), `"a1"` the
    paper's Fig. 7(a) model with squeeze-and-excite (as timm's mnasnet_a1).

    A 3x3 stem conv to 32, a separable conv to 16 (3x3 depthwise + ReLU, linear 1x1), the
    MBConv rows (expansion E = M*t, ReLU), a 1x1 conv to 1280 (not scaled), dropout and a linear
    classifier. Widths are `make_divisible(c * alpha, 8)` (torchvision's `_round_to_multiple_of`).
    SE squeezes to `round(M * ratio)` channels of the block's *input* M (timm: ratio / t of E),
    with a ReLU and a sigmoid gate. BatchNorm momentum 1 - 0.9997 (the paper's TF value).
    """

    variant: str = "b1"
    width_multiplier: float = 1.0
    resolution: int | None = None
    num_classes: int = 1000
    in_channels: int = 3
    dropout: float = 0.2
    table: tuple[MBRow, ...] | None = field(default=None, repr=False)  # None: the variant's table

    norm_momentum: ClassVar[float] = 1 - 0.9997
    stem_channels: ClassVar[int] = 32
    separable_channels: ClassVar[int] = 16
    last_channels: ClassVar[int] = 1280

    def __post_init__(self) -> None:
        self._check_common()
        checks.check_choice("variant", self.variant, MNASNET_TABLES)
        checks.check_positive_number("width_multiplier", self.width_multiplier)
        _as_rows(self, "table", MBRow)

    @property
    def rows(self) -> tuple[MBRow, ...]:
        return MNASNET_TABLES[self.variant] if self.table is None else self.table

    def _width(self, channels: float) -> int:
        return C.make_divisible(channels * self.width_multiplier, 8)

    def _block(self, row: MBRow, in_channels: int, out_channels: int, stride: int) -> Layer:
        squeeze = max(1, round(in_channels * row.se_ratio)) if row.se_ratio else 0
        expanded = in_channels * row.expand_ratio
        return InvertedResidual(
            in_channels,
            out_channels,
            expanded,
            row.kernel_size,
            stride,
            squeeze,
            activation="relu",
            se_gate="sigmoid",
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
        rows, channels = _repeated_rows(self, self.rows, separable, first_index=2)
        return [*stages, *rows, ("head", [ConvBNAct(channels, self.last_channels, 1)])]

    def _make_classifier(self) -> list[Layer]:
        return _dropout_classifier(self.last_channels, self.dropout, self.num_classes)


# --- ShuffleNetV2 ------------------------------------------------------------------------------

SHUFFLENET_V2_CHANNELS: dict[float, tuple[int, int, int, int, int]] = {
    # ShuffleNetV2, Table 5: output channels of Conv1, Stage2, Stage3, Stage4, Conv5
    0.5: (24, 48, 96, 192, 1024),
    1.0: (24, 116, 232, 464, 1024),
    1.5: (24, 176, 352, 704, 1024),
    2.0: (24, 244, 488, 976, 2048),
}


@dataclass(frozen=True)
class ShuffleNetV2(NetworkSpec):
    """ShuffleNetV2 (Ma et al. 2018, Table 5): 3x3 conv (stride 2) and 3x3 max pool, then
    Stage2-4 of ShuffleNetV2 units (the first of each with stride 2, `stage_repeats` in all), a
    1x1 conv (Conv5), pooling and a linear classifier. `width_multiplier` picks a column of the
    table: 0.5, 1.0, 1.5 or 2.0.
    """

    width_multiplier: float = 1.0
    resolution: int | None = None
    num_classes: int = 1000
    in_channels: int = 3
    stage_repeats: tuple[int, int, int] = (4, 8, 4)

    def __post_init__(self) -> None:
        self._check_common()
        checks.check_choice("width_multiplier", self.width_multiplier, SHUFFLENET_V2_CHANNELS)
        if len(self.stage_repeats) != 3:
            raise ValueError(f"stage_repeats must hold 3 counts (Stage2-4), got {self.stage_repeats!r}")
        for index, repeats in enumerate(self.stage_repeats):
            checks.check_int(f"stage_repeats[{index}]", repeats)

    @property
    def channels(self) -> tuple[int, int, int, int, int]:
        return SHUFFLENET_V2_CHANNELS[self.width_multiplier]

    def _make_stages(self) -> list[StageLayers]:
        conv1, *stage_channels, conv5 = self.channels
        stages = [("stem", [ConvBNAct(self.in_channels, conv1, 3, 2), MaxPool(conv1, 3, 2, 1)])]
        channels = conv1
        for index, (out, repeats) in enumerate(zip(stage_channels, self.stage_repeats, strict=True), 2):
            units = [ShuffleNetV2Unit(channels, out, stride=2)]
            units += [ShuffleNetV2Unit(out, out, stride=1)] * (repeats - 1)
            stages.append((f"stage{index}", units))
            channels = out
        return [*stages, ("head", [ConvBNAct(channels, conv5, 1)])]

    def _make_classifier(self) -> list[Layer]:
        channels = self.channels[-1]
        return [Flatten(channels), Linear(channels, self.num_classes)]


# --- GhostNet ----------------------------------------------------------------------------------


class GhostRow(NamedTuple):
    """A row of GhostNet's Table 1: G-bneck with depthwise kernel k (stride-2 conv and
    shortcut), expansion size, #out, SE ratio, stride."""

    kernel_size: int
    expanded_channels: int
    out_channels: int
    se_ratio: float
    stride: int


GHOSTNET_TABLE: tuple[GhostRow, ...] = (
    #        k, exp, out,   SE, s
    GhostRow(3, 16, 16, 0, 1),
    GhostRow(3, 48, 24, 0, 2),
    GhostRow(3, 72, 24, 0, 1),
    GhostRow(5, 72, 40, 0.25, 2),
    GhostRow(5, 120, 40, 0.25, 1),
    GhostRow(3, 240, 80, 0, 2),
    GhostRow(3, 200, 80, 0, 1),
    GhostRow(3, 184, 80, 0, 1),
    GhostRow(3, 184, 80, 0, 1),
    GhostRow(3, 480, 112, 0.25, 1),
    GhostRow(3, 672, 112, 0.25, 1),
    GhostRow(5, 672, 160, 0.25, 2),
    GhostRow(5, 960, 160, 0, 1),
    GhostRow(5, 960, 160, 0.25, 1),
    GhostRow(5, 960, 160, 0, 1),
    GhostRow(5, 960, 160, 0.25, 1),
)


@dataclass(frozen=True)
class GhostNet(NetworkSpec):
    """GhostNet (Han et al. 2020, Table 1), as the authors' PyTorch code builds it: a 3x3 stem
    conv to 16, the G-bneck rows (SE squeezes the expanded E channels to `make_divisible(E/4, 4)`,
    ReLU, h-sigmoid gate), a 1x1 conv to 960, pooling, a 1x1 conv with bias to 1280 + ReLU on
    the pooled map, dropout and a linear classifier. Widths are `make_divisible(c * w, 4)`.

    At 224 this is 141,150,512 conv+linear MACs and 5,182,508 params: the paper's 141 M FLOPs
    (which are multiply-adds) and 5.2 M.
    """

    width_multiplier: float = 1.0
    resolution: int | None = None
    num_classes: int = 1000
    in_channels: int = 3
    dropout: float = 0.2
    table: tuple[GhostRow, ...] = field(default=GHOSTNET_TABLE, repr=False)

    stem_channels: ClassVar[int] = 16
    last_channels: ClassVar[int] = 1280

    def __post_init__(self) -> None:
        self._check_common()
        checks.check_positive_number("width_multiplier", self.width_multiplier)
        _as_rows(self, "table", GhostRow)

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
        return [conv_head, *_dropout_classifier(hidden, self.dropout, self.num_classes)]


# --- EfficientNet ------------------------------------------------------------------------------

EFFICIENTNET_B0_TABLE: tuple[MBRow, ...] = (
    #     t, k, s,   c, n, SE    (EfficientNet, Table 1; torchvision's MBConvConfig list)
    MBRow(1, 3, 1, 16, 1, 0.25),
    MBRow(6, 3, 2, 24, 2, 0.25),
    MBRow(6, 5, 2, 40, 2, 0.25),
    MBRow(6, 3, 2, 80, 3, 0.25),
    MBRow(6, 5, 1, 112, 3, 0.25),
    MBRow(6, 5, 2, 192, 4, 0.25),
    MBRow(6, 3, 1, 320, 1, 0.25),
)

EFFICIENTNET_SCALING: dict[str, tuple[float, float, int, float]] = {
    # width, depth, resolution, dropout (torchvision's efficientnet_b0..b3; the paper's phi = 0..3)
    "b0": (1.0, 1.0, 224, 0.2),
    "b1": (1.0, 1.1, 240, 0.2),
    "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3),
}


@dataclass(frozen=True)
class EfficientNet(NetworkSpec):
    """EfficientNet-B0 (Tan & Le 2019, Table 1) and its compound scaling, as torchvision builds it.

    A 3x3 stem conv to 32, MBConv rows (SiLU; SE squeezes to `max(1, M // 4)` channels of the
    block's *input* M, SiLU and sigmoid gate), a 1x1 conv to 4x the last width, dropout and a
    linear classifier. Width `make_divisible(c * w, 8)`, depth `ceil(n * d)` per row.
    torchvision's stochastic depth (training only) is left out: in eval mode the two agree.
    """

    width_multiplier: float = 1.0
    depth_multiplier: float = 1.0
    resolution: int | None = None
    num_classes: int = 1000
    in_channels: int = 3
    dropout: float = 0.2
    table: tuple[MBRow, ...] = field(default=EFFICIENTNET_B0_TABLE, repr=False)

    stem_channels: ClassVar[int] = 32

    def __post_init__(self) -> None:
        self._check_common()
        checks.check_positive_number("width_multiplier", self.width_multiplier)
        checks.check_positive_number("depth_multiplier", self.depth_multiplier)
        _as_rows(self, "table", MBRow)

    def _width(self, channels: float) -> int:
        return C.make_divisible(channels * self.width_multiplier, 8)

    def _block(self, row: MBRow, in_channels: int, out_channels: int, stride: int) -> Layer:
        expanded = C.make_divisible(in_channels * row.expand_ratio, 8)
        squeeze = max(1, int(in_channels * row.se_ratio)) if row.se_ratio else 0
        return InvertedResidual(
            in_channels,
            out_channels,
            expanded,
            row.kernel_size,
            stride,
            squeeze,
            activation="silu",
            se_activation="silu",
            se_gate="sigmoid",
        )

    def _make_stages(self) -> list[StageLayers]:
        channels = self._width(self.stem_channels)
        stem = ConvBNAct(self.in_channels, channels, 3, 2, activation="silu")
        stages, channels = _repeated_rows(self, self.table, channels, self.depth_multiplier)
        head = ConvBNAct(channels, 4 * channels, 1, activation="silu")
        return [("stem", [stem]), *stages, ("head", [head])]

    def _make_classifier(self) -> list[Layer]:
        channels = 4 * self._width(self.table[-1].out_channels)
        return _dropout_classifier(channels, self.dropout, self.num_classes)


# --- SqueezeNet --------------------------------------------------------------------------------


class FireRow(NamedTuple):
    """A Fire module of SqueezeNet's Table 1: squeeze s1x1, expand e1x1 and e3x3 channels."""

    squeeze: int
    expand1x1: int
    expand3x3: int


MAXPOOL = "maxpool"  # a 3x3 stride-2 max pool (ceil mode) in a SqueezeNet table

SQUEEZENET_TABLES: dict[str, tuple[tuple[int, int], tuple[FireRow | str, ...]]] = {
    # version: ((conv1 channels, conv1 kernel), layers)   (SqueezeNet Table 1; torchvision)
    "1_0": (
        (96, 7),
        (
            MAXPOOL,
            FireRow(16, 64, 64),
            FireRow(16, 64, 64),
            FireRow(32, 128, 128),
            MAXPOOL,
            FireRow(32, 128, 128),
            FireRow(48, 192, 192),
            FireRow(48, 192, 192),
            FireRow(64, 256, 256),
            MAXPOOL,
            FireRow(64, 256, 256),
        ),
    ),
    "1_1": (  # the SqueezeNet repo's v1.1: 3x3 conv1 with 64 filters, pooling moved earlier
        (64, 3),
        (
            MAXPOOL,
            FireRow(16, 64, 64),
            FireRow(16, 64, 64),
            MAXPOOL,
            FireRow(32, 128, 128),
            FireRow(32, 128, 128),
            MAXPOOL,
            FireRow(48, 192, 192),
            FireRow(48, 192, 192),
            FireRow(64, 256, 256),
            FireRow(64, 256, 256),
        ),
    ),
}


@dataclass(frozen=True)
class SqueezeNet(NetworkSpec):
    """SqueezeNet 1.0 (Iandola et al. 2016, Table 1) and 1.1, as torchvision builds them: conv1
    (no padding, bias, ReLU), Fire modules between 3x3 stride-2 max pools (ceil mode), then
    dropout and a 1x1 conv to the classes + ReLU, averaged over the map. No BatchNorm.
    """

    version: str = "1_0"
    resolution: int | None = None
    num_classes: int = 1000
    in_channels: int = 3
    dropout: float = 0.5

    def __post_init__(self) -> None:
        self._check_common()
        checks.check_choice("version", self.version, SQUEEZENET_TABLES)

    def _make_stages(self) -> list[StageLayers]:
        (conv1, kernel), rows = SQUEEZENET_TABLES[self.version]
        groups: list[list[Layer]] = [[PlainConv(self.in_channels, conv1, kernel, stride=2)]]
        channels = conv1
        for row in rows:
            if row == MAXPOOL:
                groups.append([MaxPool(channels, 3, 2, ceil_mode=True)])
            else:
                groups[-1].append(Fire(channels, *row))
                channels = row.expand1x1 + row.expand3x3  # Fire concatenates its two expands
        # conv1 and the first pool form the stem; every later pool opens a stage
        stem = ("stem", [*groups[0], *groups[1][:1]])
        stages = _numbered([groups[1][1:], *groups[2:]])
        head = [
            Dropout(channels, self.dropout),
            ConvBNAct(channels, self.num_classes, 1, norm=False, bias=True),
        ]
        return [stem, *stages, ("head", head)]

    def _make_classifier(self) -> list[Layer]:
        return [Flatten(self.num_classes)]


# --- by name -----------------------------------------------------------------------------------

NETWORK_SPECS = (
    MobileNetV1,
    MobileNetV2,
    MobileNetV3,
    MnasNet,
    ShuffleNetV2,
    GhostNet,
    EfficientNet,
    SqueezeNet,
)

# name -> (spec class, fields the name fixes, defaults the name sets but options may change)
_PRESETS: dict[str, tuple[type[NetworkSpec], dict[str, Any], dict[str, Any]]] = {
    "mobilenet_v1": (MobileNetV1, {}, {}),
    "mobilenet_v2": (MobileNetV2, {}, {}),
    "mobilenet_v3_large": (MobileNetV3, {"variant": "large"}, {}),
    "mobilenet_v3_small": (MobileNetV3, {"variant": "small"}, {}),
    "mnasnet": (MnasNet, {"variant": "b1"}, {}),
    **{
        f"mnasnet{name}": (MnasNet, {"variant": "b1", "width_multiplier": width}, {})
        for name, width in (("0_5", 0.5), ("0_75", 0.75), ("1_0", 1.0), ("1_3", 1.3))
    },
    "mnasnet_a1": (MnasNet, {"variant": "a1", "width_multiplier": 1.0}, {}),
    **{
        f"shufflenet_v2_x{str(width).replace('.', '_')}": (ShuffleNetV2, {"width_multiplier": width}, {})
        for width in SHUFFLENET_V2_CHANNELS
    },
    "ghostnet": (GhostNet, {}, {}),
    "ghostnet_1_0": (GhostNet, {"width_multiplier": 1.0}, {}),
    "efficientnet": (EfficientNet, {}, {}),
    **{
        f"efficientnet_{phi}": (
            EfficientNet,
            {"width_multiplier": width, "depth_multiplier": depth},
            {"resolution": resolution, "dropout": dropout},
        )
        for phi, (width, depth, resolution, dropout) in EFFICIENTNET_SCALING.items()
    },
    "squeezenet1_0": (SqueezeNet, {"version": "1_0"}, {}),
    "squeezenet1_1": (SqueezeNet, {"version": "1_1"}, {}),
}

MODEL_NAMES: tuple[str, ...] = tuple(_PRESETS)

# the names torchvision.models also builds, with the same architecture (tests and
# benchmarks/zoo_parity.py compare them)
TORCHVISION_NAMES: tuple[str, ...] = (
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    *(f"mnasnet{w}" for w in ("0_5", "0_75", "1_0", "1_3")),
    *(f"shufflenet_v2_x{w}" for w in ("0_5", "1_0", "1_5", "2_0")),
    *(f"efficientnet_b{phi}" for phi in range(4)),
    "squeezenet1_0",
    "squeezenet1_1",
)


def _preset(name: Any) -> tuple[type[NetworkSpec], dict[str, Any], dict[str, Any]]:
    if not isinstance(name, str) or name not in _PRESETS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODEL_NAMES)}")
    return _PRESETS[name]


# name -> the options `spec(name, ...)` accepts: the spec's fields that the name does not fix
_OPTIONS: dict[str, tuple[str, ...]] = {
    name: tuple(f.name for f in dataclasses.fields(spec_class) if f.name not in fixed)
    for name, (spec_class, fixed, _) in _PRESETS.items()
}


def options(name: str) -> tuple[str, ...]:
    """The options `spec(name, ...)` accepts: the spec's fields that the name does not fix.

    >>> options("mobilenet_v2")
    ('width_multiplier', 'resolution', 'small_input', 'num_classes', 'in_channels', 'dropout', 'divisor', 'table')
    """
    _preset(name)
    return _OPTIONS[name]


def spec(name: str, **options_: Any) -> NetworkSpec:
    """The spec of a network by name; `options_` set its other fields.

    >>> spec("mobilenet_v1", width_multiplier=0.5)
    MobileNetV1(width_multiplier=0.5, resolution=None, small_input=False, num_classes=1000, in_channels=3, stem_channels=32)
    """
    spec_class, fixed, defaults = _preset(name)
    allowed = _OPTIONS[name]
    unknown = sorted(options_.keys() - allowed)
    if unknown:
        raise ValueError(
            f"{name}: unknown option(s) {', '.join(unknown)}; valid options: {', '.join(allowed)}"
        )
    return spec_class(**fixed, **defaults, **options_)


def _resolve(name_or_spec: str | NetworkSpec, options_: dict[str, Any]) -> NetworkSpec:
    if isinstance(name_or_spec, NetworkSpec):
        if not options_:
            return name_or_spec
        allowed = tuple(f.name for f in dataclasses.fields(name_or_spec))
        unknown = sorted(set(options_) - set(allowed))
        if unknown:
            raise ValueError(
                f"{type(name_or_spec).__name__}: unknown option(s) {', '.join(unknown)}; "
                f"valid options: {', '.join(allowed)}"
            )
        return dataclasses.replace(name_or_spec, **options_)
    return spec(name_or_spec, **options_)


def build(name_or_spec: str | NetworkSpec, num_classes: int | None = None, **options_: Any) -> nn.Sequential:
    """Build a network by name or from a spec (num_classes: 1000 for a name, else the spec's).

    >>> model = build("efficientnet_b0")
    >>> sum(p.numel() for p in model.parameters())   # torchvision's efficientnet_b0
    5288548
    """
    if num_classes is not None:
        options_["num_classes"] = num_classes
    return _resolve(name_or_spec, options_).build()


def cost(name_or_spec: str | NetworkSpec, resolution: Size | None = None, **options_: Any) -> NetworkCost:
    """Params and conv+linear MACs per stage and in total, without building a module.

    `resolution` defaults to the spec's (224; 240/260/300 for EfficientNet-B1..B3; 32 with
    `small_input=True`). Pure integer arithmetic on the layers' arguments (`NetworkSpec.cost`), cached.

    >>> result = cost("mobilenet_v3_large")
    >>> result.params, result.macs                  # torchvision's, FlopCounterMode / 2
    (5483032, 216589760)
    """
    return _resolve(name_or_spec, options_).cost(resolution)


def load_torchvision_weights(model: nn.Module, tv_model: nn.Module) -> nn.Module:
    """Copy `tv_model`'s parameters and buffers into `model`, matched by order, and return `model`.

    Both `state_dict()`s must list the same number of entries, pairwise of the same shape and
    the same kind (the name's last part: weight, bias, running_mean, ...); otherwise a
    ValueError names the first pair that does not line up.

    >>> import torchvision
    >>> model = load_torchvision_weights(build("mobilenet_v2"), torchvision.models.mobilenet_v2())
    """
    ours, theirs = list(model.state_dict().items()), list(tv_model.state_dict().items())
    for index, ((name, tensor), (tv_name, tv_tensor)) in enumerate(zip(ours, theirs, strict=False)):
        kind, tv_kind = name.rsplit(".", 1)[-1], tv_name.rsplit(".", 1)[-1]
        if tensor.shape != tv_tensor.shape or kind != tv_kind:
            raise ValueError(
                f"entry {index} does not line up: ours {name} {tuple(tensor.shape)} vs "
                f"torchvision {tv_name} {tuple(tv_tensor.shape)}; is it the same architecture and options?"
            )
    if len(ours) != len(theirs):
        raise ValueError(
            f"ours has {len(ours)} parameters and buffers, torchvision {len(theirs)}; "
            "the first {} line up: is it the same architecture and options?".format(
                min(len(ours), len(theirs))
            )
        )
    with torch.no_grad():
        for (_, tensor), (_, tv_tensor) in zip(ours, theirs, strict=True):
            tensor.copy_(tv_tensor)
    return model
