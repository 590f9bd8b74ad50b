"""The layers a network puts around its blocks: a plain conv, pooling, flatten, dropout, a
BatchNorm1d, a lone activation and a linear layer. Each is a spec like the blocks (`build`,
`cost`, `channel_roles`), so a stage can mix them with the block specs."""

from __future__ import annotations

from collections import OrderedDict
from operator import attrgetter

from torch import nn

from lwcnn import checks
from lwcnn import cost as C
from lwcnn.blocks import (
    BATCHNORM_KEYS,
    BlockSpec,
    Channels,
    LayerCost,
    SameChannels,
    activation_params,
    check_activation,
    frozen_spec,
    make_activation,
    per_channel_tensors,
)


class PassThrough(SameChannels):
    """A layer that hands its input's channels on untouched and costs nothing: flatten, dropout,
    and (with a size of its own) pooling."""

    def channel_roles(self) -> Channels:
        return Channels(fields={"channels": "in"}, out="in")

    def _cost(self, height: int, width: int) -> LayerCost:
        return 0, 0, self.channels, height, width


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
class MaxPool(PassThrough):
    """Max pooling: no parameters and no multiply-adds, it only shrinks the map.

    `ceil_mode=True` rounds the output size up, as Caffe did (SqueezeNet keeps it); PyTorch then
    drops a last window that would start in the right padding.
    """

    channels: int
    kernel_size: int = 3
    stride: int = 2
    padding: int = 0  # on each side
    ceil_mode: bool = False  # round the output size up

    def __post_init__(self) -> None:
        for name in ("channels", "kernel_size", "stride"):
            checks.check_int(name, getattr(self, name))
        checks.check_int("padding", self.padding, minimum=0)
        if 2 * self.padding > self.kernel_size:  # torch's rule: "pad should be at most half"
            raise ValueError(f"padding={self.padding} must be at most half of kernel_size={self.kernel_size}")

    def build(self) -> nn.MaxPool2d:
        return nn.MaxPool2d(self.kernel_size, self.stride, self.padding, ceil_mode=self.ceil_mode)

    @staticmethod
    def _ceil_pooled(length: int, kernel_size: int, stride: int, padding: int) -> int:
        """The output length with `ceil_mode`: rounded up, less a last window that would start
        in the right padding."""
        k, s, p = kernel_size, stride, padding
        out = -(-(length + 2 * p - k) // s) + 1  # ceil division
        return out - 1 if (out - 1) * s >= length + p else out

    def _cost(self, height: int, width: int) -> LayerCost:
        k, s, p = self.kernel_size, self.stride, self.padding
        if not self.ceil_mode:
            out_height, out_width = C.window_out(height, width, k, s, p)  # raises on a too-small map
            return 0, 0, self.channels, out_height, out_width
        # rounded up, a window may hang over the map's end: torch pools a 2x2 map with a 3x3 window
        out_height, out_width = self._ceil_pooled(height, k, s, p), self._ceil_pooled(width, k, s, p)
        if out_height < 1 or out_width < 1:
            raise ValueError(
                f"input_size={(height, width)} is too small for max pooling with kernel_size={k}, "
                f"stride={s}, padding={p} even rounded up (ceil_mode)"
            )
        return 0, 0, self.channels, out_height, out_width


@frozen_spec
class Flatten(PassThrough):
    """(N, C, 1, 1) -> (N, C) after the global pooling; costs nothing."""

    channels: int

    def build(self) -> nn.Flatten:
        return nn.Flatten()


@frozen_spec
class Dropout(PassThrough):
    """Dropout with probability `p` (identity at inference); costs nothing."""

    channels: int
    p: float = 0.2

    def __post_init__(self) -> None:
        checks.check_probability("p", self.p)

    def build(self) -> nn.Dropout:
        return nn.Dropout(self.p)


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
        tensors = per_channel_tensors("", BATCHNORM_KEYS)
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

    in_channels = property(attrgetter("in_features"), doc="`in_features`, as a block's channels")
    out_channels = property(attrgetter("out_features"), doc="`out_features`, as a block's channels")

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
