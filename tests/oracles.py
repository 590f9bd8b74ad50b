"""Independent counts the tests compare lwcnn's formulas against (torch itself, not lwcnn)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

# The course brief's reference figures, an outside oracle (torchvision 0.29: params, conv+linear MACs at 224).
BRIEF_REFERENCE = {
    "mobilenet_v2": (3_504_872, 300_774_272),
    "mobilenet_v3_large": (5_483_032, 216_589_760),
    "mobilenet_v3_small": (2_542_856, 56_510_400),
    "mnasnet1_0": (4_383_312, 314_415_872),
    "shufflenet_v2_x1_0": (2_278_604, 144_907_992),
    "efficientnet_b0": (5_288_548, 385_814_752),
    "squeezenet1_1": (1_235_496, 349_151_936),
}


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


def spread_batchnorms(
    model: nn.Module,
    *,
    mean: tuple[float, float] | None,
    var: tuple[float, float],
    gamma: tuple[float, float],
) -> nn.Module:
    """Give every BatchNorm2d of `model` running statistics and scales drawn uniformly from these
    ranges (mean skipped when None), as training leaves them, so that folding them matters. In
    place, from torch's global generator; returns `model` in eval mode."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                if mean is not None:
                    module.running_mean.uniform_(*mean)
                module.running_var.uniform_(*var)
                module.weight.uniform_(*gamma)
    return model.eval()
