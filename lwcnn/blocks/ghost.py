"""GhostNet's Ghost module and Ghost bottleneck (Han et al., 2020, Sec. 3.1 and Fig. 3), and
GhostNetV2's DFC attention, the Ghost module it gates and its bottleneck (Tang et al., 2022,
Sec. 3.2-3.3 and Fig. 4)."""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from lwcnn import checks
from lwcnn import cost as C
from lwcnn.blocks.conv import ConvBNAct
from lwcnn.blocks.mbconv import optional_se
from lwcnn.blocks.spec import BlockSpec, LayerCost, SameChannels, chain_cost, frozen_spec


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

    def expansion_module(self) -> GhostModule:
        """The first Ghost module, M -> mid channels, with ReLU."""
        return GhostModule(self.in_channels, self.mid_channels, relu=True)

    def layers(self) -> list:
        mid, k = self.mid_channels, self.kernel_size
        specs: list = [self.expansion_module()]
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


# --- GhostNetV2: DFC attention on the Ghost module ------------------------------------------------

DFC_DIRECTIONS = ("horizontal", "vertical")


@frozen_spec
class DecoupledFC(SameChannels):
    """One of DFC attention's two fully connected layers (GhostNetV2, Sec. 3.2), as the paper
    implements it: a depthwise conv one pixel thick, `1 x K` along each row ("horizontal") or
    `K x 1` along each column ("vertical"), then BatchNorm. Each output pixel mixes the K pixels
    around it on its row (column), one weight per channel and offset.

    Params `K*C + 2C` (weights, BN); MACs `K*C*H*W`: the map keeps its size.
    """

    channels: int
    kernel_size: int = 5  # K, odd: how far along its axis one layer reaches
    direction: str = "horizontal"

    def __post_init__(self):
        self._positive("channels", "kernel_size")
        C.same_padding(self.kernel_size)
        if self.direction not in DFC_DIRECTIONS:
            raise ValueError(f"direction={self.direction!r} is unknown; allowed: {', '.join(DFC_DIRECTIONS)}")

    @property
    def kernel_shape(self) -> tuple[int, int]:
        """(height, width) of the kernel: (1, K) horizontal, (K, 1) vertical."""
        k = self.kernel_size
        return (1, k) if self.direction == "horizontal" else (k, 1)

    def build(self) -> nn.Sequential:
        c, (kernel_h, kernel_w) = self.channels, self.kernel_shape
        conv = nn.Conv2d(
            c, c, (kernel_h, kernel_w), padding=(kernel_h // 2, kernel_w // 2), groups=c, bias=False
        )
        return nn.Sequential(OrderedDict(conv=conv, bn=nn.BatchNorm2d(c)))

    def _cost(self, height: int, width: int) -> LayerCost:
        """Depthwise weights `K*C` + BN `2C`; `K*C` MACs per pixel of the unchanged map."""
        c = self.channels
        weights = C.conv_weights(c, c, *self.kernel_shape, c)
        return weights + C.batchnorm_params(c), weights * height * width, c, height, width


class DFCAttentionBlock(nn.Module):
    """Pool 2x2 -> conv, horizontal FC, vertical FC -> sigmoid -> upsample (nearest) to `size`."""

    def __init__(self, spec: DFCAttention):
        super().__init__()
        self.spec = spec
        names = ("conv", "horizontal_fc", "vertical_fc")
        self.fc = nn.Sequential(
            OrderedDict(zip(names, (layer.build() for layer in spec.layers()), strict=True))
        )

    def forward(self, x: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """The gate, at `size` (default: the map a conv of the spec's stride makes from `x`)."""
        if size is None:
            size = tuple(C.same_out(length, self.spec.stride) for length in x.shape[-2:])
        gate = torch.sigmoid(self.fc(F.avg_pool2d(x, kernel_size=2, stride=2)))
        return F.interpolate(gate, size=size, mode="nearest")


@frozen_spec
class DFCAttention(BlockSpec):
    """GhostNetV2's DFC ("decoupled fully connected") attention (Tang et al. 2022, Sec. 3.2-3.3,
    Fig. 4): a gate in (0, 1) per channel and pixel that sees far along the pixel's row and column.

    On the input pooled 2x2 (a quarter of the pixels; an odd side loses its last row or column),
    a `k x k` conv + BN maps M to N channels, a horizontal then a vertical `DecoupledFC` of reach
    K mix each pixel with its row and its column, a sigmoid makes the gate, and nearest
    upsampling stretches it to the size of the Ghost module's output, `ceil(H/s)`. A full
    self-attention over the same map costs far more: `lwcnn.cost.self_attention_macs` against
    `lwcnn.cost.dfc_attention_macs`. The map must be at least 2x2.
    """

    in_channels: int  # M
    out_channels: int  # N: the Ghost module's output channels, which the gate multiplies
    kernel_size: int = 1  # k, of the conv (the Ghost module's primary conv's)
    stride: int = 1
    fc_kernel_size: int = 5  # K, of both decoupled FCs

    def __post_init__(self):
        self._positive("in_channels", "out_channels", "kernel_size", "stride", "fc_kernel_size")
        C.same_padding(self.kernel_size)
        if self.fc_kernel_size % 2 == 0:
            raise ValueError(f"fc_kernel_size={self.fc_kernel_size} is even: the FCs keep the map's size")

    def layers(self) -> tuple[ConvBNAct, DecoupledFC, DecoupledFC]:
        n, fc_k = self.out_channels, self.fc_kernel_size
        conv = ConvBNAct(self.in_channels, n, self.kernel_size, self.stride, activation=None)
        return conv, DecoupledFC(n, fc_k, "horizontal"), DecoupledFC(n, fc_k, "vertical")

    def build(self) -> DFCAttentionBlock:
        return DFCAttentionBlock(self)

    def _cost(self, height: int, width: int) -> LayerCost:
        """`layers()` in turn on the 2x2-pooled map (pooling, sigmoid and upsampling multiply
        nothing); the gate comes out at the Ghost module's output size."""
        if height < 2 or width < 2:
            raise ValueError(f"DFC attention pools 2x2: it needs a map of at least 2x2, got {height}x{width}")
        params, macs, channels, _, _ = chain_cost(self.layers(), height // 2, width // 2)
        return params, macs, channels, C.same_out(height, self.stride), C.same_out(width, self.stride)


class GhostBlockV2(nn.Module):
    """The Ghost module's output times DFC attention's gate, both made from the same input."""

    def __init__(self, spec: GhostModuleV2):
        super().__init__()
        self.spec = spec
        self.ghost, self.attention = (layer.build() for layer in spec.layers())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.ghost(x)
        return out * self.attention(x, out.shape[-2:])


@frozen_spec
class GhostModuleV2(BlockSpec):
    """GhostNetV2's Ghost module (Tang et al. 2022, Sec. 3.3, Fig. 4): GhostNet's module (the same
    fields, `GhostModule`) multiplied by the `DFCAttention` gate computed beside it from the same
    input, so that the cheap ghosts also carry long-range information.
    """

    in_channels: int
    out_channels: int
    kernel_size: int = 1
    ratio: int = 2
    dw_size: int = 3
    stride: int = 1
    relu: bool = True

    def __post_init__(self):
        GhostModule.__post_init__(self)  # the same fields, the same checks

    def layers(self) -> tuple[GhostModule, DFCAttention]:
        m, n, k, stride = self.in_channels, self.out_channels, self.kernel_size, self.stride
        ghost = GhostModule(m, n, k, self.ratio, self.dw_size, stride, self.relu)
        return ghost, DFCAttention(m, n, k, stride)

    def build(self) -> GhostBlockV2:
        return GhostBlockV2(self)

    def _cost(self, height: int, width: int) -> LayerCost:
        """The two `layers()` side by side on the input; the product multiplies no weights."""
        ghost, attention = self.layers()
        params, macs, channels, out_height, out_width = chain_cost((ghost,), height, width)
        gate_params, gate_macs, *_ = chain_cost((attention,), height, width)
        return params + gate_params, macs + gate_macs, channels, out_height, out_width


@frozen_spec
class GhostBottleneckV2(GhostBottleneck):
    """GhostNetV2's bottleneck (Tang et al. 2022, Fig. 4): GhostNet's bottleneck whose expanding
    Ghost module is a `GhostModuleV2` (DFC attention on it); the depthwise conv, SE, the linear
    projecting Ghost module and the shortcut stay GhostNet's.
    """

    def expansion_module(self) -> GhostModuleV2:
        """The first Ghost module, M -> mid channels, with ReLU, gated by DFC attention."""
        return GhostModuleV2(self.in_channels, self.mid_channels, relu=True)
