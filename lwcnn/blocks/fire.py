"""SqueezeNet's Fire module (Iandola et al., 2016, Sec. 3.2)."""

from __future__ import annotations

import torch
from torch import nn

from lwcnn.blocks.conv import ConvBNAct
from lwcnn.blocks.spec import BlockSpec, LayerCost, frozen_spec


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
