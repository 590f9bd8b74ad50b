"""Squeeze-and-excite (Hu et al.; MobileNetV3 Sec. 5.3), MobileNetV2's inverted residual with a
linear bottleneck (MBConv of MnasNet and EfficientNet) and EfficientNetV2's fused MBConv."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from lwcnn import checks
from lwcnn import cost as C
from lwcnn.blocks.activations import activation_params, check_activation, make_activation
from lwcnn.blocks.conv import ConvBNAct
from lwcnn.blocks.spec import BlockSpec, Channels, LayerCost, Part, SameChannels, frozen_spec

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
        params = weights + s + c + activation_params(self.activation, s)
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


def optional_se(channels: int, squeeze_channels: int, activation: str, gate: str) -> list[SqueezeExcite]:
    return [SqueezeExcite(channels, squeeze_channels, activation, gate)] if squeeze_channels else []


@frozen_spec
class Expanding(ResidualLayers):
    """The fields an MBConv and a fused MBConv share: M channels in, widened to E, N out."""

    in_channels: int  # M
    out_channels: int  # N
    expanded_channels: int  # E = t*M for an expansion ratio t; E == M: no expansion
    kernel_size: int = 3  # k, odd ("same" padding)
    stride: int = 1  # s, of the k x k conv
    squeeze_channels: int = 0  # SE's squeezed width on the E channels; 0: no SE
    activation: str = "relu6"  # after every conv but the linear projection
    se_activation: str = "relu"  # inside SE, between its two 1x1 convs
    se_gate: str = "hsigmoid"  # SE's gate: "hsigmoid" or "sigmoid"


@frozen_spec
class InvertedResidual(Expanding):
    """MobileNetV2's inverted residual with linear bottleneck; MBConv of MnasNet/EfficientNet.

    1x1 expand M -> E (skipped when E == M), k x k depthwise (stride s), optional SE on E
    channels (MobileNetV3: after the depthwise conv), 1x1 linear projection E -> N with no
    activation. Shortcut between the thin ends when stride == 1 and M == N.
    """

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
        specs += optional_se(e, self.squeeze_channels, self.se_activation, self.se_gate)
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
        fields = self.__dict__  # read once: this runs for every block of every network costed
        m, e, n = fields["in_channels"], fields["expanded_channels"], fields["out_channels"]
        s, k, stride = fields["squeeze_channels"], fields["kernel_size"], fields["stride"]
        out_height = (height - 1) // stride + 1  # "same" padding: C.same_out, written out
        out_width = out_height if width == height else (width - 1) // stride + 1
        weights = e * (k * k + n)  # the depthwise conv and the projection
        macs = weights * out_height * out_width
        activated = e  # output channels of the convs with `activation` (the projection is linear)
        expand_field = fields["expand"]
        if e != m if expand_field is None else expand_field:  # self.has_expansion, written out
            expand = m * e
            weights, macs, activated = weights + expand, macs + expand * height * width, e + e
        params = weights + 2 * (activated + n) + (activated if self.activation == "prelu" else 0)
        if s:
            squeeze = 2 * e * s
            params += squeeze + s + e + (s if self.se_activation == "prelu" else 0)
            macs += squeeze
        return params, macs, n, out_height, out_width


MBConv = InvertedResidual


@frozen_spec
class FusedMBConv(Expanding):
    """EfficientNetV2's fused MBConv: one k x k conv M -> E replaces expand + depthwise.

    E == M keeps a single k x k conv M -> N with activation; otherwise k x k M -> E, optional
    SE, then a linear 1x1 E -> N. Shortcut when stride == 1 and M == N.
    """

    activation: str = "silu"  # EfficientNetV2's defaults, in the same places as the MBConv's
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
        specs += optional_se(e, self.squeeze_channels, self.se_activation, self.se_gate)
        specs.append(ConvBNAct(e, n, 1, activation=None))
        return specs

    def _cost(self, height: int, width: int) -> LayerCost:
        """The formula lesson 13 sets beside the MBConv's: the `layers()` above in one go.

        MACs `H'*W'*E*(k*k*M + N) + 2*E*S`: the k x k conv M -> E and the 1x1 projection E -> N
        at the output size, SE's two 1x1 convs on the pooled map; per output pixel at stride 1
        without SE, `E(k^2 M + N)` against the MBConv's `ME + E(k^2 + N)`. E == M: the k x k
        conv M -> N alone (no SE), `k*k*M*N`. Params: those weights, BatchNorm's `2*C` after
        each conv, SE's biases `S + E`, PReLU's slopes. The property tests hold it equal to
        `layers()` costed one by one.
        """
        m, e, n, k, stride = (
            self.in_channels,
            self.expanded_channels,
            self.out_channels,
            self.kernel_size,
            self.stride,
        )
        slopes = activation_params(self.activation, e if e != m else n)  # PReLU's, after the k x k conv
        out_height = C.same_out(height, stride)
        out_width = out_height if width == height else C.same_out(width, stride)
        if e == m:  # one k x k conv M -> N, with the activation
            weights = C.conv_weights(m, n, k, k, 1)
            return weights + 2 * n + slopes, weights * out_height * out_width, n, out_height, out_width
        weights = C.conv_weights(m, e, k, k, 1) + C.conv_weights(e, n, 1, 1, 1)
        macs = weights * out_height * out_width
        params = weights + 2 * (e + n) + slopes  # + BatchNorm's 2*C after each conv
        s = self.squeeze_channels
        if s:
            params += C.se_params(e, s) + activation_params(self.se_activation, s)
            macs += C.se_macs(e, s)
        return params, macs, n, out_height, out_width
