"""GhostNet's Ghost module and Ghost bottleneck (Han et al., 2020, Sec. 3.1 and Fig. 3)."""

from __future__ import annotations

import math

import torch
from torch import nn

from lwcnn import checks
from lwcnn import cost as C
from lwcnn.blocks.conv import ConvBNAct
from lwcnn.blocks.mbconv import optional_se
from lwcnn.blocks.spec import BlockSpec, LayerCost, chain_cost, frozen_spec


class GhostBlock(nn.Module):
    """Ghost module: a few intrinsic maps by an ordinary conv, the rest by cheap depthwise ops."""

    def __init__(self, spec: GhostModule):
        super().__init__()
        self.spec = spec
        self.primary_conv, self.cheap_operation = (layer.build() for layer in spec.layers())
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
    out_channels: int  # N
    kernel_size: int = 1  # k, of the primary conv
    ratio: int = 2  # s: each intrinsic map yields s - 1 ghosts
    dw_size: int = 3  # d, of the cheap depthwise conv
    stride: int = 1
    relu: bool = True  # ReLU after both convs (False: linear, the bottleneck's second module)

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
        params, macs, _, out_height, out_width = chain_cost(self.layers(), height, width)
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
    mid_channels: int  # the first Ghost module's output, the "expansion size" of Table 1
    out_channels: int
    kernel_size: int = 3  # of the depthwise convs (stride 2 only)
    stride: int = 1
    squeeze_channels: int = 0  # SE on the mid channels; 0: no SE

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
        specs += optional_se(mid, self.squeeze_channels, "relu", "hsigmoid")
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
        params, macs, channels, out_height, out_width = chain_cost(self.layers(), height, width)
        shortcut_params, shortcut_macs, *_ = chain_cost(self.shortcut_layers(), height, width)
        return params + shortcut_params, macs + shortcut_macs, channels, out_height, out_width
