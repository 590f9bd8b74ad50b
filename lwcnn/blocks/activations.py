"""The activations of lightweight CNNs by name: ReLU/ReLU6, and MobileNetV3's hard sigmoid and
hard swish (`h-swish(x) = x * ReLU6(x + 3) / 6`, MobileNetV3 Sec. 5.2), with their parameters."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = ("relu", "relu6", "hswish", "hsigmoid", "sigmoid", "silu", "swish", "prelu", "identity")


class HSigmoid(nn.Module):
    """Hard sigmoid `ReLU6(x + 3) / 6` (MobileNetV3, eq. 2): a piecewise-linear sigmoid.

    The formula written out as torch ops, for reading and for timing against the fused kernel;
    the blocks themselves use torch's fused `nn.Hardsigmoid` (same values, one pass over memory).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(x + 3.0) / 6.0


class HSwish(nn.Module):
    """Hard swish `x * ReLU6(x + 3) / 6` (MobileNetV3): swish with the sigmoid made piecewise linear.

    The formula written out as four torch ops (four passes over memory); the blocks use torch's
    fused `nn.Hardswish`, as torchvision does, so that built networks time like the reference.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * F.relu6(x + 3.0) / 6.0


def check_activation(name: str | None, argument: str = "activation") -> str:
    name = "identity" if name is None else name
    if name not in ACTIVATIONS:
        raise ValueError(f"{argument}={name!r} is unknown; allowed: {', '.join(ACTIVATIONS)} or None")
    return name


def make_activation(name: str | None, channels: int = 1) -> nn.Module:
    """The activation module for a name in `ACTIVATIONS` (`prelu` learns one slope per channel)."""
    name = check_activation(name)
    if name == "prelu":
        return nn.PReLU(channels)
    return {
        "relu": nn.ReLU,
        "relu6": nn.ReLU6,
        "hswish": nn.Hardswish,
        "hsigmoid": nn.Hardsigmoid,
        "sigmoid": nn.Sigmoid,
        "silu": nn.SiLU,
        "swish": nn.SiLU,
        "identity": nn.Identity,
    }[name]()


_NAMES = frozenset((*ACTIVATIONS, None))  # what `check_activation` accepts, for a quick test


def activation_params(name: str | None, channels: int) -> int:
    """Trainable parameters of an activation: `C` for PReLU, 0 for the rest."""
    if name not in _NAMES:  # a set lookup: every layer's cost comes here
        check_activation(name)
    return channels if name == "prelu" else 0
