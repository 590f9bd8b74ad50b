"""BatchNorm folded into the conv before it: what a deployed (and a quantized) network runs.

In eval mode a BatchNorm is a fixed per-channel affine map, so a conv followed by one is a
single conv (Jacob et al. 2018, Sec. 3.2; Krishnamoorthi 2018, Sec. 2.5). For output channel o:

    s_o = gamma_o / sqrt(var_o + eps)
    W'_o = s_o * W_o                      (the whole filter of channel o)
    b'_o = s_o * (b_o - mean_o) + beta_o  (b_o = 0 for a conv without bias)

Each output channel owns its filter whatever `groups` is, so a depthwise conv folds the same
way. Its weights are then those a quantizer sees: a channel whose `s_o` is large gets a wide
range, which is why per-tensor scales break depthwise layers.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def fold_batchnorm(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> nn.Conv2d:
    """One conv computing `norm(conv(x))` with `norm` in eval mode (its running statistics).

    A copy of `conv` with the folded weight and a bias; `conv` and `norm` are unchanged. The
    scale `s` is computed in float64, then the weights are stored in `conv`'s dtype.
    """
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"conv must be an nn.Conv2d, got {type(conv).__name__}")
    if not isinstance(norm, nn.BatchNorm2d):
        raise TypeError(f"norm must be an nn.BatchNorm2d, got {type(norm).__name__}")
    if norm.running_mean is None or norm.running_var is None:
        raise ValueError(
            "norm keeps no running statistics (track_running_stats=False): nothing fixed to fold"
        )
    if norm.num_features != conv.out_channels:
        raise ValueError(
            f"norm has {norm.num_features} channels but conv makes {conv.out_channels}: they are not a pair"
        )
    with torch.no_grad():
        mean, var = norm.running_mean.double(), norm.running_var.double()
        gamma = norm.weight.double() if norm.weight is not None else torch.ones_like(mean)
        beta = norm.bias.double() if norm.bias is not None else torch.zeros_like(mean)
        bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(mean)
        scale = gamma / torch.sqrt(var + norm.eps)
        folded = copy.deepcopy(conv)  # the same shape options; its weight and bias replaced below
        folded.weight.copy_(conv.weight.double() * scale.reshape(-1, 1, 1, 1))
        folded.bias = nn.Parameter((scale * (bias - mean) + beta).to(conv.weight.device, conv.weight.dtype))
    return folded


def fold_network(model: nn.Module) -> nn.Module:
    """A copy of `model` in eval mode with every `BatchNorm2d` that directly follows a `Conv2d`
    in an `nn.Sequential` (where children run in order) folded into it and replaced by an
    `nn.Identity`; any other BatchNorm stays. `model` is unchanged."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if not isinstance(module, nn.Sequential):
            continue
        names = list(module._modules)
        for first, second in zip(names, names[1:], strict=False):
            conv, norm = module._modules[first], module._modules[second]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d) and norm.track_running_stats:
                module._modules[first] = fold_batchnorm(conv, norm).eval()
                module._modules[second] = nn.Identity()
    return folded
