"""Conv -> BatchNorm -> activation, and the depthwise-separable conv built from two of them
(MobileNetV1, Sec. 3.1 and Fig. 3; Xception's order)."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from lwcnn import checks
from lwcnn import cost as C
from lwcnn.blocks.activations import check_activation, make_activation
from lwcnn.blocks.spec import (
    BATCHNORM_KEYS,
    BlockSpec,
    Channels,
    LayerCost,
    Part,
    frozen_spec,
    per_channel_tensors,
)


@frozen_spec
class ConvBNAct(BlockSpec):
    """Conv (no bias) -> BatchNorm -> activation, "same" padding `dilation*(k-1)/2`.

    The unit of every MobileNet; `groups=in_channels` makes it depthwise.
    """

    in_channels: int  # M
    out_channels: int  # N
    kernel_size: int = 3  # Dk, odd
    stride: int = 1
    groups: int = 1  # each of the groups maps M/groups channels to N/groups
    dilation: int = 1  # taps `dilation` apart
    activation: str | None = "relu"  # None: linear
    norm: bool = True  # BatchNorm after the conv
    bias: bool = False  # the conv's own bias (BatchNorm's beta makes it redundant)

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
            tensors += per_channel_tensors("bn.", BATCHNORM_KEYS, out)
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
        fields = self.__dict__  # read once: every conv of every block comes here
        n, stride, k = fields["out_channels"], fields["stride"], fields["kernel_size"]
        out_height = (height - 1) // stride + 1  # "same" padding: C.same_out, written out
        out_width = out_height if width == height else (width - 1) // stride + 1
        weights = k * k * (fields["in_channels"] // fields["groups"]) * n  # C.conv_weights, written out
        params = weights + (n if fields["bias"] else 0)
        if fields["activation"] == "prelu":  # one slope per channel (`activation_params`, written out)
            params += n
        if fields["norm"]:
            params += 2 * n  # BatchNorm's scale and shift (`cost.batchnorm_params`, unchecked)
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
