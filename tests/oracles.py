"""Independent counts the tests compare lwcnn's formulas against (torch itself, not lwcnn)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def counted_params(module: nn.Module) -> int:
    """Parameters as torch stores them."""
    return sum(p.numel() for p in module.parameters())


def counted_macs(module: nn.Module, x: torch.Tensor) -> tuple[int, torch.Tensor]:
    """(conv+linear multiply-adds, output) from torch's FlopCounterMode (2 FLOPs per MAC)."""
    module.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = module(x)
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2, out
