"""Building blocks of lightweight CNNs: one frozen spec per block, many views of it.

A spec (a frozen dataclass) holds a block's shape. From the spec come

* `spec.build()`: the `nn.Module`,
* `spec.cost(input_size)`: the analytical parameters and conv+linear multiply-adds at an input
  size, from `lwcnn.cost` (no forward pass), and the output shape,
* `spec.layers()` (composite blocks): the list of sub-specs that `build` makes modules of.

`cost` checks `input_size`, then calls the spec's `_cost(height, width)`: integer arithmetic
on the spec's own fields (checked when it was made), with `lwcnn.cost`'s formulas. A layer that
is one conv or one linear map writes its formula; a composite block's cost is its `layers()`
costed in turn (`_chain`), with branches side by side where the block has them. The inverted
residual, the bulk of every MobileNet after V1, keeps MobileNetV2's closed form, which is the
point of lesson 05; the tests check it against its `layers()` and against torch's own counts.

    >>> from lwcnn.blocks import InvertedResidual
    >>> block = InvertedResidual(16, 24, expanded_channels=96, stride=2)
    >>> block.cost(56)
    BlockCost(params=5136, macs=7300608, out_channels=24, out_size=(28, 28))
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lwcnn import checks
from lwcnn import cost as C
from lwcnn.cost import Size

ACTIVATIONS = ("relu", "relu6", "hswish", "hsigmoid", "sigmoid", "silu", "swish", "prelu", "identity")


# --- activations -----------------------------------------------------------------------------


class HSigmoid(nn.Module):
    """Hard sigmoid `ReLU6(x + 3) / 6` (MobileNetV3, eq. 2): a piecewise-linear sigmoid.

    The formula written out as torch ops, for reading and for timing against the fused kernel;
    the blocks themselves use torch's fused `nn.Hardsigmoid` (same values, one pass over memory).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(x + 3.0) / 6.0


class HSwish(nn.Module):
    """Hard swish `x * ReLU6(x + 3) / 6` (MobileNetV3): swish with the sigmoid made piecewise linear.

    The formula written out as four torch ops (four passes over memory); the blocks use torch's
    fused `nn.Hardswish`, as torchvision does, so that built networks time like the reference.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * F.relu6(x + 3.0) / 6.0


def check_activation(name: str | None, argument: str = "activation") -> str:
    name = "identity" if name is None else name
    if name not in ACTIVATIONS:
        raise ValueError(f"{argument}={name!r} is unknown; allowed: {', '.join(ACTIVATIONS)} or None")
    return name


def make_activation(name: str | None, channels: int = 1) -> nn.Module:
    """The activation module for a name in `ACTIVATIONS` (`prelu` learns one slope per channel)."""
    name = check_activation(name)
    if name == "prelu":
        return nn.PReLU(channels)
    return {
        "relu": nn.ReLU,
        "relu6": nn.ReLU6,
        "hswish": nn.Hardswish,
        "hsigmoid": nn.Hardsigmoid,
        "sigmoid": nn.Sigmoid,
        "silu": nn.SiLU,
        "swish": nn.SiLU,
        "identity": nn.Identity,
    }[name]()


def activation_params(name: str | None, channels: int) -> int:
    """Trainable parameters of an activation: `C` for PReLU, 0 for the rest."""
    return _activation_params(check_activation(name), channels)


def _activation_params(name: str | None, channels: int) -> int:
    """`activation_params` for a name already checked."""
    return channels if name == "prelu" else 0


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of `groups` groups (ShuffleNet): reshape (g, C/g), transpose, flatten.

    >>> channel_shuffle(torch.arange(6.0).view(1, 6, 1, 1), 2).flatten().tolist()
    [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    """
    batch, channels, height, width = x.shape
    checks.check_int("groups", groups)
    if channels % groups:
        raise ValueError(f"groups={groups} must divide the {channels} channels of x")
    x = x.view(batch, groups, channels // groups, height, width).transpose(1, 2)
    return x.reshape(batch, channels, height, width)


# --- the cost record -------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockCost:
    """Analytical cost of a block at one input size: params, conv+linear MACs, output shape."""

    params: int
    macs: int
    out_channels: int
    out_size: tuple[int, int]

    @property
    def flops(self) -> int:
        """Two FLOPs (a multiply and an add) per multiply-accumulate."""
        return 2 * self.macs


# (params, macs, out_channels, out_height, out_width): what every `_cost` returns
LayerCost = tuple[int, int, int, int, int]


# --- channel roles: which channels of a block are removed together ------------------------------

# A role names a run of channels inside a block: "in" is the block's input, the others are made
# inside it ("out", "expanded", ...). Every tensor of the built module whose dimension runs over a
# role's channels loses the removed ones; channels of one role (or of roles tied together) are
# kept or removed together. `lwcnn.prune` reads nothing else about a block.


@dataclass(frozen=True)
class Part:
    """A sub-layer of a composite block: its module path in the block, its spec, and which of the
    block's roles each of its own roles is."""

    path: str
    spec: Any
    roles: dict[str, str]


@dataclass(frozen=True)
class Channels:
    """How a layer's channels prune, declared by the layer (`spec.channel_roles()`).

    * `fields`: each channel field of the spec and the role whose width it holds (a pruned spec
      is the same spec with these fields narrowed);
    * `new`: the roles this layer makes (each starts its own channel group); `out`: the role of
      its output ("in" for a layer that hands on its input's channels);
    * `tied`: pairs of roles that must keep the same channels (a residual add);
    * `norms`: (role, BatchNorm module path) pairs: the BatchNorms whose |gamma| score a role;
    * `tensors`: (state-dict key, the role of each dimension or None) for every tensor that
      loses channels; tensors not named are copied whole;
    * `activations`: (role, activation) pairs: slimming needs activations that map 0 to 0;
    * `fixed`: (role, reason) pairs for channels that can never be removed;
    * `parts`: the sub-layers of a composite block, each declaring its own channels;
    * `keep`: fields a pruned copy must pin, so that narrowing cannot change the structure.
    """

    fields: dict[str, str]
    new: tuple[str, ...] = ()
    out: str = "out"
    tied: tuple[tuple[str, str], ...] = ()
    norms: tuple[tuple[str, str], ...] = ()
    tensors: tuple[tuple[str, tuple[str | None, ...]], ...] = ()
    activations: tuple[tuple[str, str | None], ...] = ()
    fixed: tuple[tuple[str, str], ...] = ()
    parts: tuple[Part, ...] = ()
    keep: dict[str, Any] = field(default_factory=dict)


def _same_channel_tensors(prefix: str, keys: tuple[str, ...], role: str = "in") -> tuple:
    """Per-channel vectors (a BatchNorm's weight, bias and running statistics, PReLU's slopes)."""
    return tuple((f"{prefix}{key}", (role,)) for key in keys)


BATCHNORM_KEYS = ("weight", "bias", "running_mean", "running_var")


def frozen_spec(cls: type) -> type:
    """`@dataclass(frozen=True)`, with an `__init__` that sets all the fields in one step.

    A frozen dataclass's own `__init__` sets its fields one at a time through
    `object.__setattr__`, which made building a network's layer specs most of `models.cost`'s
    time. This one fills the instance's dict at once, then runs `__post_init__` (the argument
    checks) as before; everything else (frozen, eq, hash, repr, `replace`) is the dataclass's.
    """
    cls = dataclass(frozen=True)(cls)
    fields = dataclasses.fields(cls)
    defaults = {f"_{f.name}": f.default for f in fields if f.default is not dataclasses.MISSING}
    if any(f.default_factory is not dataclasses.MISSING or not f.init for f in fields):
        raise TypeError(f"{cls.__name__}: frozen_spec takes plain fields with plain defaults")
    arguments = ", ".join(f"{f.name}=_{f.name}" if f"_{f.name}" in defaults else f.name for f in fields)
    values = ", ".join(f"{f.name!r}: {f.name}" for f in fields)
    post_init = "\n    self.__post_init__()" if hasattr(cls, "__post_init__") else ""
    source = f"def __init__(self, {arguments}):\n    _set(self, '__dict__', {{{values}}}){post_init}"
    namespace: dict = {}
    exec(source, {"_set": object.__setattr__, **defaults}, namespace)  # noqa: S102 - fixed template
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init
    return cls


def _chain(layers, height: int, width: int) -> LayerCost:
    """Layer specs costed one after another, each on the map the previous one made."""
    params = macs = channels = 0
    for layer in layers:
        step_params, step_macs, channels, height, width = layer._cost(height, width)
        params += step_params
        macs += step_macs
    return params, macs, channels, height, width


class BlockSpec:
    """What the block specs share: argument checks, `cost` and `output_shape`.

    A spec writes `_cost(height, width)` from its own fields, which were checked when it was
    made, so it only does arithmetic. By default that is its `layers()` costed in turn.
    """

    def _positive(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            if type(value) is not int or value < 1:  # the common case costs one test
                checks.check_int(name, value)

    def _cost(self, height: int, width: int) -> LayerCost:
        """The `layers()` costed in turn (a block with branches or a closed form overrides it)."""
        return _chain(self.layers(), height, width)

    def channel_roles(self) -> Channels | None:
        """How this layer's channels prune (`Channels`); None: it cannot be pruned through."""
        return None

    def cost(self, input_size: Size) -> BlockCost:
        """Parameters, conv+linear multiply-adds and output shape at `input_size` (int or (h, w))."""
        height, width = checks.check_pair("input_size", input_size)
        params, macs, channels, out_height, out_width = self._cost(height, width)
        return BlockCost(params, macs, channels, (out_height, out_width))

    def output_shape(self, input_size: Size) -> tuple[int, int, int]:
        """(channels, height, width) of the block's output for an input of `input_size`."""
        result = self.cost(input_size)
        return (result.out_channels, *result.out_size)


class SameChannels(BlockSpec):
    """A spec that hands on as many channels as it gets (`channels`): SE, pooling, dropout, norms."""

    channels: int

    @property
    def in_channels(self) -> int:
        return self.channels

    @property
    def out_channels(self) -> int:
        return self.channels


# --- ConvBNAct ---------------------------------------------------------------------------------


@frozen_spec
class ConvBNAct(BlockSpec):
    """Conv (no bias) -> BatchNorm -> activation, "same" padding `dilation*(k-1)/2`.

    The unit of every MobileNet; `groups=in_channels` makes it depthwise.
    """

    in_channels: int
    out_channels: int
    kernel_size: int = 3
    stride: int = 1
    groups: int = 1
    dilation: int = 1
    activation: str | None = "relu"
    norm: bool = True
    bias: bool = False

    def __post_init__(self):
        self._positive("in_channels", "out_channels", "kernel_size", "stride", "dilation")
        checks.check_groups(self.groups, self.in_channels, self.out_channels)
        C.same_padding(self.kernel_size, self.dilation)
        check_activation(self.activation)

    @property
    def padding(self) -> int:
        return C.same_padding(self.kernel_size, self.dilation)

    def channel_roles(self) -> Channels:
        """A plain conv makes "out"; a depthwise conv maps channel i to channel i, so its output
        channels are its input's ("in") and its weight has one input channel each."""
        m, n, groups = self.in_channels, self.out_channels, self.groups
        depthwise = groups > 1 and groups == m == n
        if groups != 1 and not depthwise:
            raise TypeError(f"supports plain (groups=1) and depthwise convs, not groups={groups}")
        out = "in" if depthwise else "out"
        tensors = [("conv.weight", (out, None if depthwise else "in"))]
        if self.bias:
            tensors.append(("conv.bias", (out,)))
        if self.norm:
            tensors += _same_channel_tensors("bn.", BATCHNORM_KEYS, out)
        if self.activation == "prelu":
            tensors.append(("act.weight", (out,)))
        fixed = ()
        if not self.norm:
            reason = "a depthwise conv with a bias and no BatchNorm" if depthwise else "no BatchNorm"
            fixed = ((out, reason),) if (self.bias or not depthwise) else ()
        return Channels(
            fields={"in_channels": "in", "out_channels": out, **({"groups": "in"} if depthwise else {})},
            new=() if depthwise else ("out",),
            out=out,
            norms=((out, "bn"),) if self.norm else (),
            tensors=tuple(tensors),
            activations=((out, self.activation),),
            fixed=fixed,
        )

    def build(self) -> nn.Sequential:
        layers = OrderedDict(
            conv=nn.Conv2d(
                self.in_channels,
                self.out_channels,
                self.kernel_size,
                stride=self.stride,
                padding=self.padding,
                dilation=self.dilation,
                groups=self.groups,
                bias=self.bias,
            )
        )
        if self.norm:
            layers["bn"] = nn.BatchNorm2d(self.out_channels)
        if check_activation(self.activation) != "identity":
            layers["act"] = make_activation(self.activation, self.out_channels)
        return nn.Sequential(layers)

    def _cost(self, height: int, width: int) -> LayerCost:
        """Conv weights `Dk*Dk*(M/g)*N` (+ N bias) + BN `2N` + PReLU `N`; MACs `weights * Df*Df`."""
        n, stride = self.out_channels, self.stride
        out_height = C.same_out(height, stride)  # "same" padding
        out_width = out_height if width == height else C.same_out(width, stride)
        weights = C.conv_weights(self.in_channels, n, self.kernel_size, self.kernel_size, self.groups)
        params = weights + (n if self.bias else 0) + _activation_params(self.activation, n)
        if self.norm:
            params += C.batchnorm_params(n)
        return params, weights * out_height * out_width, n, out_height, out_width


# --- depthwise separable -------------------------------------------------------------------------

SEPARABLE_ORDERS = ("mobilenet", "xception")


@frozen_spec
class DepthwiseSeparable(BlockSpec):
    """Depthwise conv + pointwise conv (MobileNetV1, Fig. 3), each with BN and activation.

    `order="mobilenet"`: depthwise on M channels, then 1x1 M -> N.
    `order="xception"`: 1x1 M -> N first, then depthwise on N channels.
    """

    in_channels: int
    out_channels: int
    kernel_size: int = 3
    stride: int = 1
    activation: str | None = "relu"
    order: str = "mobilenet"

    def __post_init__(self):
        self._positive("in_channels", "out_channels", "kernel_size", "stride")
        if self.order not in SEPARABLE_ORDERS:
            raise ValueError(f"order={self.order!r} is unknown; allowed: {', '.join(SEPARABLE_ORDERS)}")
        check_activation(self.activation)

    def layers(self) -> list[ConvBNAct]:
        m, n, k, act = self.in_channels, self.out_channels, self.kernel_size, self.activation
        if self.order == "mobilenet":
            return [
                ConvBNAct(m, m, k, self.stride, groups=m, activation=act),
                ConvBNAct(m, n, 1, activation=act),
            ]
        return [ConvBNAct(m, n, 1, activation=act), ConvBNAct(n, n, k, self.stride, groups=n, activation=act)]

    @property
    def layer_names(self) -> tuple[str, str]:
        """The module names of `layers()`, in order."""
        return ("depthwise", "pointwise") if self.order == "mobilenet" else ("pointwise", "depthwise")

    def build(self) -> nn.Sequential:
        return nn.Sequential(
            OrderedDict(zip(self.layer_names, (spec.build() for spec in self.layers()), strict=True))
        )

    def channel_roles(self) -> Channels:
        """The pointwise conv makes "out"; the depthwise conv works on whichever side it sits."""
        first, second = self.layers()
        if self.order == "mobilenet":
            roles = ({"in": "in"}, {"in": "in", "out": "out"})
        else:
            roles = ({"in": "in", "out": "out"}, {"in": "out"})
        parts = tuple(
            Part(name, spec, role)
            for name, spec, role in zip(self.layer_names, (first, second), roles, strict=False)
        )
        return Channels(fields={"in_channels": "in", "out_channels": "out"}, new=("out",), parts=parts)


# --- squeeze and excite ---------------------------------------------------------------------------

GATES = ("hsigmoid", "sigmoid")


class SqueezeExciteBlock(nn.Module):
    """Global average pool -> 1x1 reduce -> act -> 1x1 expand -> gate -> rescale the input."""

    def __init__(self, spec: SqueezeExcite):
        super().__init__()
        self.spec = spec
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(spec.channels, spec.squeeze_channels, 1)
        self.activation = make_activation(spec.activation, spec.squeeze_channels)
        self.fc2 = nn.Conv2d(spec.squeeze_channels, spec.channels, 1)
        self.scale_activation = make_activation(spec.gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return x * scale


@frozen_spec
class SqueezeExcite(SameChannels):
    """Squeeze-and-excite with `squeeze_channels` = S; params `2*C*S + S + C` (MobileNetV3, Sec. 5.3)."""

    channels: int
    squeeze_channels: int
    activation: str = "relu"
    gate: str = "hsigmoid"

    def __post_init__(self):
        self._positive("channels", "squeeze_channels")
        check_activation(self.activation)
        if self.gate not in GATES:
            raise ValueError(f"gate={self.gate!r} is unknown; allowed: {', '.join(GATES)}")

    @classmethod
    def from_ratio(
        cls, channels: int, ratio: float = 0.25, divisor: int | None = 8, **options
    ) -> SqueezeExcite:
        """SE whose squeeze width is `C*r` rounded to a multiple of `divisor` (`cost.se_channels`)."""
        return cls(channels, C.se_channels(channels, ratio, divisor), **options)

    def build(self) -> SqueezeExciteBlock:
        return SqueezeExciteBlock(self)

    def channel_roles(self) -> Channels:
        """It reads and rescales its input's channels; its inner width has no BatchNorm to score it."""
        return Channels(
            fields={"channels": "in"},
            out="in",
            tensors=(("fc1.weight", (None, "in")), ("fc2.weight", ("in", None)), ("fc2.bias", ("in",))),
        )

    def _cost(self, height: int, width: int) -> LayerCost:
        """Two 1x1 convs with bias, C -> S -> C, on the pooled 1x1 map (`cost.se_params`, `cost.se_macs`)."""
        c, s = self.channels, self.squeeze_channels
        weights = C.conv_weights(c, s, 1, 1, 1) + C.conv_weights(s, c, 1, 1, 1)
        params = weights + s + c + _activation_params(self.activation, s)
        return params, weights, c, height, width


# --- inverted residual (MBConv) and fused MBConv ---------------------------------------------------


class ResidualBlock(nn.Module):
    """Runs `block` and adds the input when the spec allows a shortcut (same shape in and out)."""

    def __init__(self, spec, block: nn.Module):
        super().__init__()
        self.spec = spec
        self.block = block
        self.use_residual = spec.use_residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.use_residual else out


def check_residual(spec) -> None:
    """A shortcut asked for (`spec.residual`) needs the input's shape at the output."""
    if spec.residual and not (spec.stride == 1 and spec.in_channels == spec.out_channels):
        raise ValueError(
            "residual=True needs stride 1 and in_channels == out_channels, got "
            f"stride={spec.stride}, {spec.in_channels} -> {spec.out_channels}"
        )


class ResidualLayers(BlockSpec):
    """A block that is a run of layer specs (`layers()`) with a shortcut when `use_residual`."""

    def build(self) -> ResidualBlock:
        return ResidualBlock(self, nn.Sequential(*(spec.build() for spec in self.layers())))

    def channel_roles(self) -> Channels:
        """`layers()` in turn (`block.0`, `block.1`, ...): each conv that makes channels makes the
        next role ("out" for the last, "expanded" before it), the shortcut ties "in" to "out"."""
        layers = self.layers()
        made = [index for index, layer in enumerate(layers) if layer.channel_roles().new]
        names = {index: "out" if index == made[-1] else "expanded" for index in made}
        current, parts, new = "in", [], []
        for index, layer in enumerate(layers):
            roles = {"in": current}
            if index in names:
                current = roles["out"] = names[index]
                new.append(current)
            parts.append(Part(f"block.{index}", layer, roles))
        fields = {"in_channels": "in", "out_channels": "out"}
        if "expanded_channels" in {f.name for f in dataclasses.fields(self)}:
            fields["expanded_channels"] = "expanded" if "expanded" in new else "in"
        return Channels(
            fields=fields,
            new=tuple(new),
            tied=(("in", "out"),) if self.use_residual else (),
            parts=tuple(parts),
            keep=self._pinned(),
        )

    def _pinned(self) -> dict[str, Any]:
        """Fields that keep a pruned copy's structure (the expansion and the shortcut) as it is."""
        return {}


def _se_spec(channels: int, squeeze_channels: int, activation: str, gate: str) -> list[SqueezeExcite]:
    return [SqueezeExcite(channels, squeeze_channels, activation, gate)] if squeeze_channels else []


@frozen_spec
class InvertedResidual(ResidualLayers):
    """MobileNetV2's inverted residual with linear bottleneck; MBConv of MnasNet/EfficientNet.

    1x1 expand M -> E (skipped when E == M), k x k depthwise (stride s), optional SE on E
    channels (MobileNetV3: after the depthwise conv), 1x1 linear projection E -> N with no
    activation. Shortcut between the thin ends when stride == 1 and M == N.
    """

    in_channels: int
    out_channels: int
    expanded_channels: int
    kernel_size: int = 3
    stride: int = 1
    squeeze_channels: int = 0
    activation: str = "relu6"
    se_activation: str = "relu"
    se_gate: str = "hsigmoid"
    dilation: int = 1
    # None: as the papers build it (expand when E != M, shortcut when stride 1 and M == N). A
    # pruned network says so explicitly: pruning may make E == M, or M == N, by chance.
    expand: bool | None = None
    residual: bool | None = None

    def __post_init__(self):
        self._positive(
            "in_channels", "out_channels", "expanded_channels", "kernel_size", "stride", "dilation"
        )
        checks.check_int("squeeze_channels", self.squeeze_channels, minimum=0)
        C.same_padding(self.kernel_size, self.dilation)
        check_activation(self.activation)
        for name in ("expand", "residual"):
            if getattr(self, name) not in (None, True, False):
                raise TypeError(f"{name} must be None, True or False, got {getattr(self, name)!r}")
        if self.expand is False and self.expanded_channels != self.in_channels:
            raise ValueError(
                f"expand=False needs expanded_channels == in_channels, got {self.expanded_channels} "
                f"and {self.in_channels}"
            )
        check_residual(self)

    @property
    def has_expansion(self) -> bool:
        """Whether the block starts with the 1x1 expansion conv."""
        return self.expanded_channels != self.in_channels if self.expand is None else self.expand

    def _pinned(self) -> dict[str, Any]:
        return {"expand": self.has_expansion, "residual": self.use_residual}

    @classmethod
    def with_ratio(
        cls,
        in_channels: int,
        out_channels: int,
        expand_ratio: float = 6,
        kernel_size: int = 3,
        stride: int = 1,
        se_ratio: float = 0.0,
        se_divisor: int | None = 8,
        **options,
    ) -> InvertedResidual:
        """Spec from the papers' ratios: E = round(M*t); S = `se_channels(E, se_ratio)` if se_ratio."""
        if not expand_ratio >= 1:
            raise ValueError(f"expand_ratio must be >= 1, got {expand_ratio}")
        expanded = int(round(in_channels * expand_ratio))
        squeeze = C.se_channels(expanded, se_ratio, se_divisor) if se_ratio else 0
        return cls(in_channels, out_channels, expanded, kernel_size, stride, squeeze, **options)

    @property
    def use_residual(self) -> bool:
        if self.residual is not None:
            return self.residual
        return self.stride == 1 and self.in_channels == self.out_channels

    def layers(self) -> list:
        m, e, n = self.in_channels, self.expanded_channels, self.out_channels
        specs: list = []
        if self.has_expansion:
            specs.append(ConvBNAct(m, e, 1, activation=self.activation))
        specs.append(
            ConvBNAct(
                e,
                e,
                self.kernel_size,
                self.stride,
                groups=e,
                dilation=self.dilation,
                activation=self.activation,
            )
        )
        specs += _se_spec(e, self.squeeze_channels, self.se_activation, self.se_gate)
        specs.append(ConvBNAct(e, n, 1, activation=None))  # linear bottleneck: no activation
        return specs

    def _cost(self, height: int, width: int) -> LayerCost:
        """The layers() above in one go: this block is most of every MobileNet after V1.

        MACs `H*W*M*E + H'*W'*E*(Dk*Dk + N) + 2*E*S`: the 1x1 expansion M -> E at the input size
        (none when E == M), the k x k depthwise conv and the 1x1 projection E -> N at the output
        size, SE's two 1x1 convs on the pooled map (MobileNetV2, Sec. 3.3: `h*w*d'*t*(d' + k^2 +
        d'')` at stride 1 without SE). Params: those weights, BatchNorm's `2*C` after every conv,
        SE's biases `S + E`, PReLU's slopes.
        """
        e, n, s, k = self.expanded_channels, self.out_channels, self.squeeze_channels, self.kernel_size
        out_height = C.same_out(height, self.stride)  # "same" padding
        out_width = out_height if width == height else C.same_out(width, self.stride)
        weights = e * (k * k + n)  # the depthwise conv and the projection
        macs = weights * out_height * out_width
        activated = e  # output channels of the convs with `activation` (the projection is linear)
        if self.has_expansion:
            expand = self.in_channels * e
            weights, macs, activated = weights + expand, macs + expand * height * width, e + e
        params = weights + 2 * (activated + n) + (activated if self.activation == "prelu" else 0)
        if s:
            squeeze = 2 * e * s
            params += squeeze + s + e + (s if self.se_activation == "prelu" else 0)
            macs += squeeze
        return params, macs, n, out_height, out_width


MBConv = InvertedResidual


@frozen_spec
class FusedMBConv(ResidualLayers):
    """EfficientNetV2's fused MBConv: one k x k conv M -> E replaces expand + depthwise.

    E == M keeps a single k x k conv M -> N with activation; otherwise k x k M -> E, optional
    SE, then a linear 1x1 E -> N. Shortcut when stride == 1 and M == N.
    """

    in_channels: int
    out_channels: int
    expanded_channels: int
    kernel_size: int = 3
    stride: int = 1
    squeeze_channels: int = 0
    activation: str = "silu"
    se_activation: str = "silu"
    se_gate: str = "sigmoid"

    def __post_init__(self):
        self._positive("in_channels", "out_channels", "expanded_channels", "kernel_size", "stride")
        checks.check_int("squeeze_channels", self.squeeze_channels, minimum=0)
        C.same_padding(self.kernel_size)
        check_activation(self.activation)

    @property
    def use_residual(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels

    def channel_roles(self) -> None:
        """Not prunable: whether it expands and adds its input follow from its widths, which
        pruning changes (the inverted residual pins both with its `expand` and `residual` fields)."""
        return None

    def layers(self) -> list:
        m, e, n, k = self.in_channels, self.expanded_channels, self.out_channels, self.kernel_size
        if e == m:
            return [ConvBNAct(m, n, k, self.stride, activation=self.activation)]
        specs: list = [ConvBNAct(m, e, k, self.stride, activation=self.activation)]
        specs += _se_spec(e, self.squeeze_channels, self.se_activation, self.se_gate)
        specs.append(ConvBNAct(e, n, 1, activation=None))
        return specs


# --- ShuffleNetV2 unit -----------------------------------------------------------------------------


class ShuffleV2Block(nn.Module):
    """Split (stride 1) or copy (stride 2), two branches, concatenate, shuffle with 2 groups."""

    def __init__(self, spec: ShuffleNetV2Unit):
        super().__init__()
        self.spec = spec
        self.stride = spec.stride
        shortcut, main = spec.branches()
        self.branch1 = nn.Sequential(*(s.build() for s in shortcut))
        self.branch2 = nn.Sequential(*(s.build() for s in main))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            kept, processed = x.chunk(2, dim=1)  # channel split: half passes through untouched
            out = torch.cat((kept, self.branch2(processed)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


@frozen_spec
class ShuffleNetV2Unit(BlockSpec):
    """ShuffleNetV2 unit (Fig. 3c/d). Stride 1: channel split, the right half goes through
    1x1-ReLU, 3x3 depthwise, 1x1-ReLU; stride 2: both branches see the whole input and the left
    one is 3x3 depthwise + 1x1. Then concat and channel shuffle. `out_channels` must be even.
    """

    in_channels: int
    out_channels: int
    stride: int = 1
    kernel_size: int = 3

    def __post_init__(self):
        self._positive("in_channels", "out_channels", "stride", "kernel_size")
        if self.out_channels % 2:
            raise ValueError(f"out_channels={self.out_channels} must be even (two equal branches)")
        if self.stride == 1 and self.in_channels != self.out_channels:
            raise ValueError(
                f"stride=1 needs in_channels == out_channels (channel split), got "
                f"{self.in_channels} -> {self.out_channels}; use stride=2 to change width"
            )
        C.same_padding(self.kernel_size)

    def branches(self) -> tuple[list[ConvBNAct], list[ConvBNAct]]:
        half, k, s = self.out_channels // 2, self.kernel_size, self.stride
        shortcut: list[ConvBNAct] = []
        main_in = half
        if s > 1:
            m = self.in_channels
            shortcut = [ConvBNAct(m, m, k, s, groups=m, activation=None), ConvBNAct(m, half, 1)]
            main_in = m
        main = [
            ConvBNAct(main_in, half, 1),
            ConvBNAct(half, half, k, s, groups=half, activation=None),
            ConvBNAct(half, half, 1),
        ]
        return shortcut, main

    def build(self) -> ShuffleV2Block:
        return ShuffleV2Block(self)

    def _cost(self, height: int, width: int) -> LayerCost:
        """Both `branches()`, each on the unit's input (stride 1 passes half of it through)."""
        shortcut, main = self.branches()
        params, macs, *_ = _chain(shortcut, height, width)
        main_params, main_macs, _, out_height, out_width = _chain(main, height, width)
        return params + main_params, macs + main_macs, self.out_channels, out_height, out_width


# --- Ghost module and bottleneck ------------------------------------------------------------------


class GhostBlock(nn.Module):
    """Ghost module: a few intrinsic maps by an ordinary conv, the rest by cheap depthwise ops."""

    def __init__(self, spec: GhostModule):
        super().__init__()
        self.spec = spec
        primary, cheap = spec.layers()
        self.primary_conv = primary.build()
        self.cheap_operation = cheap.build()
        self.out_channels = spec.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        intrinsic = self.primary_conv(x)
        ghosts = self.cheap_operation(intrinsic)
        return torch.cat((intrinsic, ghosts), dim=1)[:, : self.out_channels]


@frozen_spec
class GhostModule(BlockSpec):
    """GhostNet's module (Sec. 3.1): `ceil(N/s)` intrinsic maps from a k x k conv, `(s-1)` cheap
    `d x d` depthwise "ghosts" of each, concatenated and cut to N channels.
    """

    in_channels: int
    out_channels: int
    kernel_size: int = 1
    ratio: int = 2
    dw_size: int = 3
    stride: int = 1
    relu: bool = True

    def __post_init__(self):
        self._positive("in_channels", "out_channels", "kernel_size", "dw_size", "stride")
        checks.check_int("ratio", self.ratio, minimum=2)
        C.same_padding(self.kernel_size)
        C.same_padding(self.dw_size)

    @property
    def intrinsic_channels(self) -> int:
        return _intrinsic_channels(self.out_channels, self.ratio)

    def layers(self) -> tuple[ConvBNAct, ConvBNAct]:
        init = self.intrinsic_channels
        act = "relu" if self.relu else None
        primary = ConvBNAct(self.in_channels, init, self.kernel_size, self.stride, activation=act)
        cheap = ConvBNAct(init, init * (self.ratio - 1), self.dw_size, groups=init, activation=act)
        return primary, cheap

    def build(self) -> GhostBlock:
        return GhostBlock(self)

    def _cost(self, height: int, width: int) -> LayerCost:
        """The primary conv, then the cheap depthwise op on its output; the concat is cut to N."""
        params, macs, _, out_height, out_width = _chain(self.layers(), height, width)
        return params, macs, self.out_channels, out_height, out_width


def _intrinsic_channels(out_channels: int, ratio: int) -> int:
    """`ceil(N/s)`: the Ghost module's maps made by the ordinary conv."""
    return math.ceil(out_channels / ratio)


class GhostBottleneckBlock(nn.Module):
    def __init__(self, spec: GhostBottleneck):
        super().__init__()
        self.spec = spec
        self.block = nn.Sequential(*(s.build() for s in spec.layers()))
        self.shortcut = nn.Sequential(*(s.build() for s in spec.shortcut_layers()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x) + self.shortcut(x)


@frozen_spec
class GhostBottleneck(BlockSpec):
    """Ghost bottleneck (GhostNet, Fig. 3): Ghost module (ReLU) expands to `mid_channels`, a
    depthwise conv when stride 2, optional SE, Ghost module (linear) projects; the shortcut is
    the identity, or depthwise + 1x1 conv when the shape changes.
    """

    in_channels: int
    mid_channels: int
    out_channels: int
    kernel_size: int = 3
    stride: int = 1
    squeeze_channels: int = 0

    def __post_init__(self):
        self._positive("in_channels", "mid_channels", "out_channels", "kernel_size", "stride")
        checks.check_int("squeeze_channels", self.squeeze_channels, minimum=0)
        C.same_padding(self.kernel_size)

    @property
    def use_identity(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels

    def layers(self) -> list:
        mid, k = self.mid_channels, self.kernel_size
        specs: list = [GhostModule(self.in_channels, mid, relu=True)]
        if self.stride > 1:
            specs.append(ConvBNAct(mid, mid, k, self.stride, groups=mid, activation=None))
        specs += _se_spec(mid, self.squeeze_channels, "relu", "hsigmoid")
        specs.append(GhostModule(mid, self.out_channels, relu=False))
        return specs

    def shortcut_layers(self) -> list[ConvBNAct]:
        if self.use_identity:
            return []
        m, k = self.in_channels, self.kernel_size
        return [
            ConvBNAct(m, m, k, self.stride, groups=m, activation=None),
            ConvBNAct(m, self.out_channels, 1, activation=None),
        ]

    def build(self) -> GhostBottleneckBlock:
        return GhostBottleneckBlock(self)

    def _cost(self, height: int, width: int) -> LayerCost:
        """`layers()` in turn, plus the `shortcut_layers()` beside them on the block's input."""
        params, macs, channels, out_height, out_width = _chain(self.layers(), height, width)
        shortcut_params, shortcut_macs, *_ = _chain(self.shortcut_layers(), height, width)
        return params + shortcut_params, macs + shortcut_macs, channels, out_height, out_width


# --- SqueezeNet Fire -----------------------------------------------------------------------------


class FireBlock(nn.Module):
    def __init__(self, spec: Fire):
        super().__init__()
        self.spec = spec
        squeeze, expand1x1, expand3x3 = spec.layers()
        self.squeeze = squeeze.build()
        self.expand1x1 = expand1x1.build()
        self.expand3x3 = expand3x3.build()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = self.squeeze(x)
        return torch.cat((self.expand1x1(squeezed), self.expand3x3(squeezed)), dim=1)


@frozen_spec
class Fire(BlockSpec):
    """SqueezeNet's Fire module: 1x1 squeeze to S, then 1x1 (E1) and 3x3 (E3) expands side by
    side, concatenated; convs with bias and ReLU, no BatchNorm (SqueezeNet, Sec. 3.2).
    """

    in_channels: int
    squeeze_channels: int
    expand1x1_channels: int
    expand3x3_channels: int

    def __post_init__(self):
        self._positive("in_channels", "squeeze_channels", "expand1x1_channels", "expand3x3_channels")

    @property
    def out_channels(self) -> int:
        return self.expand1x1_channels + self.expand3x3_channels

    def layers(self) -> tuple[ConvBNAct, ConvBNAct, ConvBNAct]:
        s = self.squeeze_channels
        plain = dict(norm=False, bias=True, activation="relu")
        return (
            ConvBNAct(self.in_channels, s, 1, **plain),
            ConvBNAct(s, self.expand1x1_channels, 1, **plain),
            ConvBNAct(s, self.expand3x3_channels, 3, **plain),
        )

    def build(self) -> FireBlock:
        return FireBlock(self)

    def _cost(self, height: int, width: int) -> LayerCost:
        """The squeeze conv, then both expand convs side by side on its output."""
        squeeze, *expands = self.layers()
        params, macs, _, height, width = squeeze._cost(height, width)
        for expand in expands:
            step_params, step_macs, *_ = expand._cost(height, width)
            params, macs = params + step_params, macs + step_macs
        return params, macs, self.out_channels, height, width


# --- ESPNet's ESP module ----------------------------------------------------------------------------


class ESPBlock(nn.Module):
    """Reduce, K parallel dilated 3x3 convs, hierarchical feature fusion, concat, BN + PReLU."""

    def __init__(self, spec: ESPModule):
        super().__init__()
        self.spec = spec
        reduce, branches = spec.layers()
        self.reduce = reduce.build()
        self.branches = nn.ModuleList(b.build() for b in branches)
        self.use_residual = spec.use_residual
        self.bn = nn.BatchNorm2d(spec.out_channels)
        self.act = nn.PReLU(spec.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.reduce(x)
        outputs = [branch(reduced) for branch in self.branches]
        # Hierarchical feature fusion: add each larger dilation to the sum of the smaller ones
        # before concatenating, which removes the gridding artefacts of dilated convs.
        fused = [outputs[0]]
        running = None
        for out in outputs[1:]:
            running = out if running is None else running + out
            fused.append(running)
        combined = torch.cat(fused, dim=1)
        if self.use_residual:
            combined = x + combined
        return self.act(self.bn(combined))


@frozen_spec
class ESPModule(BlockSpec):
    """ESPNet's efficient spatial pyramid (ESP-B): a reduce conv to d = N/K channels (1x1, or
    3x3 stride 2 when downsampling), K parallel 3x3 convs with dilations 1, 2, 4, ..., 2^(K-1)
    (the first takes the remainder channels), hierarchical feature fusion, then BN + PReLU.
    A residual is added when the shape allows.
    """

    in_channels: int
    out_channels: int
    branches: int = 5
    stride: int = 1
    residual: bool = True

    def __post_init__(self):
        self._positive("in_channels", "out_channels", "branches")
        if self.stride not in (1, 2):
            raise ValueError(f"stride={self.stride}: allowed are 1 and 2")
        if self.out_channels < self.branches:
            raise ValueError(
                f"out_channels={self.out_channels} must be >= branches={self.branches} (one channel per branch)"
            )

    @property
    def use_residual(self) -> bool:
        return self.residual and self.stride == 1 and self.in_channels == self.out_channels

    @property
    def dilations(self) -> tuple[int, ...]:
        return _esp_dilations(self.branches)

    def layers(self) -> tuple[ConvBNAct, list[ConvBNAct]]:
        width, first = _esp_widths(self.out_channels, self.branches)
        plain = dict(norm=False, activation=None)
        kernel = 1 if self.stride == 1 else 3
        reduce = ConvBNAct(self.in_channels, width, kernel, self.stride, **plain)
        branches = [
            ConvBNAct(width, first if i == 0 else width, 3, dilation=d, **plain)
            for i, d in enumerate(self.dilations)
        ]
        return reduce, branches

    def build(self) -> ESPBlock:
        return ESPBlock(self)

    def _cost(self, height: int, width: int) -> LayerCost:
        """The reduce conv, the dilated branches side by side on its output, then BN + PReLU."""
        reduce, branches = self.layers()
        params, macs, _, height, width = reduce._cost(height, width)
        for branch in branches:
            step_params, step_macs, *_ = branch._cost(height, width)
            params, macs = params + step_params, macs + step_macs
        n = self.out_channels
        params += C.batchnorm_params(n) + _activation_params("prelu", n)
        return params, macs, n, height, width


def _esp_widths(out_channels: int, branches: int) -> tuple[int, int]:
    """(d, first): each branch's d = N // K channels; the first branch takes the remainder too."""
    width = out_channels // branches
    return width, out_channels - (branches - 1) * width


def _esp_dilations(branches: int) -> tuple[int, ...]:
    """1, 2, 4, ..., 2^(K-1)."""
    return tuple(2**k for k in range(branches))


BLOCKS = (
    ConvBNAct,
    DepthwiseSeparable,
    SqueezeExcite,
    InvertedResidual,
    FusedMBConv,
    ShuffleNetV2Unit,
    GhostModule,
    GhostBottleneck,
    Fire,
    ESPModule,
)

__all__ = [cls.__name__ for cls in BLOCKS] + [
    "MBConv",
    "BlockCost",
    "HSigmoid",
    "HSwish",
    "channel_shuffle",
    "make_activation",
    "activation_params",
    "ACTIVATIONS",
]
