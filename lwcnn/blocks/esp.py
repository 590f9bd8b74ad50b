"""ESPNet's efficient spatial pyramid module (Mehta et al., 2018, Sec. 3.1, ESP-B)."""

from __future__ import annotations

import torch
from torch import nn

from lwcnn import cost as C
from lwcnn.blocks.activations import activation_params
from lwcnn.blocks.conv import ConvBNAct
from lwcnn.blocks.spec import BlockSpec, LayerCost, frozen_spec


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
        params += C.batchnorm_params(n) + activation_params("prelu", n)
        return params, macs, n, height, width


def _esp_widths(out_channels: int, branches: int) -> tuple[int, int]:
    """(d, first): each branch's d = N // K channels; the first branch takes the remainder too."""
    width = out_channels // branches
    return width, out_channels - (branches - 1) * width


def _esp_dilations(branches: int) -> tuple[int, ...]:
    """1, 2, 4, ..., 2^(K-1)."""
    return tuple(2**k for k in range(branches))
