"""ShuffleNet's channel shuffle and ShuffleNetV2's unit (Ma et al., 2018, Fig. 3c/d)."""

from __future__ import annotations

import torch
from torch import nn

from lwcnn import checks
from lwcnn import cost as C
from lwcnn.blocks.conv import ConvBNAct
from lwcnn.blocks.spec import BlockSpec, LayerCost, chain_cost, frozen_spec


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
