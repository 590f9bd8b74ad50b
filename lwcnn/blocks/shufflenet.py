"""ShuffleNet's channel shuffle and units: ShuffleNet's (Zhang et al., 2018, Fig. 2b/c) and
ShuffleNetV2's (Ma et al., 2018, Fig. 3c/d)."""

from __future__ import annotations

import torch
from torch import nn

from lwcnn import checks
from lwcnn import cost as C
from lwcnn.blocks.conv import ConvBNAct
from lwcnn.blocks.parts import AvgPool
from lwcnn.blocks.spec import BlockSpec, LayerCost, SameChannels, chain_cost, frozen_spec


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
        params, macs, *_ = chain_cost(shortcut, height, width)
        main_params, main_macs, _, out_height, out_width = chain_cost(main, height, width)
        return params + main_params, macs + main_macs, self.out_channels, out_height, out_width


# --- ShuffleNet (V1) --------------------------------------------------------------------------------


class ChannelShuffleModule(nn.Module):
    """`channel_shuffle` as a layer."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


@frozen_spec
class ChannelShuffle(SameChannels):
    """ShuffleNet's channel shuffle (Sec. 3.1, Fig. 1c) as a layer: a permutation of the channels,
    no parameters and no multiply-adds. After it, each group of the next grouped conv sees
    channels from every group of the one before."""

    channels: int
    groups: int

    def __post_init__(self) -> None:
        self._positive("channels", "groups")
        if self.channels % self.groups:
            raise ValueError(f"groups={self.groups} must divide channels={self.channels}")

    def build(self) -> ChannelShuffleModule:
        return ChannelShuffleModule(self.groups)

    def _cost(self, height: int, width: int) -> LayerCost:
        return 0, 0, self.channels, height, width


class ShuffleV1Block(nn.Module):
    """The residual branch, then: stride 1, add the input; stride 2, concatenate the 3x3
    average-pooled input in front. ReLU last."""

    def __init__(self, spec: ShuffleNetV1Unit):
        super().__init__()
        self.spec = spec
        shortcut, main = spec.branches()
        self.shortcut = nn.Sequential(*(s.build() for s in shortcut))
        self.branch = nn.Sequential(*(s.build() for s in main))
        self.use_residual = spec.use_residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branch(x)
        out = x + out if self.use_residual else torch.cat((self.shortcut(x), out), dim=1)
        return torch.relu(out)


@frozen_spec
class ShuffleNetV1Unit(BlockSpec):
    """ShuffleNet unit (Zhang et al. 2018, Fig. 2b/c): a bottleneck whose 1x1 convs are grouped.

    1x1 group conv (g groups) to the bottleneck, BN, ReLU; channel shuffle; 3x3 depthwise
    conv (stride s), BN, no ReLU; 1x1 group conv, BN. Stride 1 adds the input (Fig. 2b);
    stride 2 concatenates the 3x3 average-pooled input (stride 2) in front, so the branch makes
    only `out_channels - in_channels` channels (Fig. 2c). ReLU after the add or concat.

    The bottleneck is a quarter of the unit's output (Sec. 3.3, also at stride 2);
    `grouped_first=False` makes the first 1x1 conv plain, as in the first unit of Stage 2,
    whose 24 input channels are too few to split (Sec. 3.3).

    >>> ShuffleNetV1Unit(240, 480, groups=3, stride=2).cost(28).macs   # Stage 3's first unit
    9619680
    """

    in_channels: int
    out_channels: int
    groups: int = 3  # g, of both 1x1 convs
    stride: int = 1
    grouped_first: bool = True  # False: the first 1x1 conv is a plain one
    bottleneck_channels: int | None = None  # None: out_channels // 4

    def __post_init__(self):
        self._positive("in_channels", "out_channels", "groups", "stride")
        if self.bottleneck_channels is not None:
            self._positive("bottleneck_channels")
        if self.stride not in (1, 2):
            raise ValueError(f"stride={self.stride}: allowed are 1 (add) and 2 (concat)")
        if self.stride == 1 and self.in_channels != self.out_channels:
            raise ValueError(
                f"stride=1 adds the input: it needs in_channels == out_channels, got "
                f"{self.in_channels} -> {self.out_channels}; use stride=2 to change width"
            )
        if self.stride == 2 and self.out_channels <= self.in_channels:
            raise ValueError(
                f"out_channels={self.out_channels} must exceed in_channels={self.in_channels} at "
                "stride 2 (the pooled input is concatenated to the branch's output)"
            )
        if self.bottleneck < 1:
            raise ValueError(f"out_channels={self.out_channels} leaves no bottleneck (out_channels // 4)")
        g = self.groups
        if self.bottleneck % g:
            raise ValueError(f"groups={g} must divide the bottleneck's {self.bottleneck} channels")
        if self.branch_channels % g:
            raise ValueError(f"groups={g} must divide the {self.branch_channels} channels the branch makes")
        if self.grouped_first and self.in_channels % g:
            raise ValueError(f"groups={g} must divide in_channels={self.in_channels}; or grouped_first=False")

    @property
    def bottleneck(self) -> int:
        """The bottleneck's width: `bottleneck_channels`, by default a quarter of the output."""
        return self.out_channels // 4 if self.bottleneck_channels is None else self.bottleneck_channels

    @property
    def branch_channels(self) -> int:
        """What the residual branch makes: the output, less the pooled input at stride 2."""
        return self.out_channels - (self.in_channels if self.stride == 2 else 0)

    @property
    def use_residual(self) -> bool:
        return self.stride == 1

    def branches(self) -> tuple[list[AvgPool], list]:
        """(shortcut, residual branch): the shortcut is empty (identity) at stride 1."""
        return ([] if self.stride == 1 else [AvgPool(self.in_channels, 3, 2, 1)]), self._residual_branch()

    def _residual_branch(self) -> list:
        m, mid, g = self.in_channels, self.bottleneck, self.groups
        return [
            ConvBNAct(m, mid, 1, groups=g if self.grouped_first else 1),
            ChannelShuffle(mid, g),
            ConvBNAct(mid, mid, 3, self.stride, groups=mid, activation=None),
            ConvBNAct(mid, self.branch_channels, 1, groups=g, activation=None),
        ]

    def build(self) -> ShuffleV1Block:
        return ShuffleV1Block(self)

    def _cost(self, height: int, width: int) -> LayerCost:
        """The paper's formula (ShuffleNet, Sec. 3.2; lesson 13 checks it against the count).

        The residual branch of `branches()` in one go; the shortcut (identity or pooling) costs
        nothing. With M channels in, bottleneck m, branch output B and g groups: MACs
        `H*W*M*m/g + H'*W'*(9*m + m*B/g)` (the first 1x1 conv is dense when not `grouped_first`),
        the paper's `hw(2cm/g + 9m)` at stride 1 (M = B = c). Params: those weights and
        BatchNorm's `2*C` after each of the three convs. The property tests hold it equal to
        the branch's layers costed one by one.
        """
        m, n, g, stride = self.in_channels, self.out_channels, self.groups, self.stride
        mid, made = self.bottleneck, self.branch_channels
        out_height = C.same_out(height, stride)
        out_width = out_height if width == height else C.same_out(width, stride)
        first = C.conv_weights(m, mid, 1, 1, g if self.grouped_first else 1)  # 1x1 (group) conv M -> m
        last = C.conv_weights(mid, made, 1, 1, g)  # 1x1 group conv m -> B, after the depthwise conv's 9*m
        macs = height * width * first + out_height * out_width * (9 * mid + last)
        params = first + 9 * mid + last + 2 * (mid + mid + made)  # + BatchNorm's 2*C, three times
        return params, macs, n, out_height, out_width
