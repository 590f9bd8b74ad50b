"""Sparsity training: the L1 penalty on BatchNorm scale factors (network slimming's eq. 1), its
subgradient step, and per-channel cost weights in the spirit of MorphNet."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from lwcnn import models
from lwcnn.models import NetworkSpec
from lwcnn.prune.cfg import PrunedSpec, unpruned_cfg
from lwcnn.prune.groups import channel_groups


def _batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [module for module in model.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]


def batchnorm_l1(model: nn.Module, weights: Mapping[str, float] | None = None) -> torch.Tensor:
    """`sum |gamma|` over every BatchNorm scale factor of `model` (network slimming's eq. 1);
    with `weights` (module path -> factor), `sum_l w_l * sum|gamma_l|`, factor 1 where not named."""
    factors = weights or {}
    modules = dict(model.named_modules())
    unknown = sorted(factors.keys() - modules.keys())
    if unknown:
        raise ValueError(f"weights name modules the model does not have: {unknown[:3]}")
    scales = [
        factors.get(path, 1.0) * module.weight.abs().sum()
        for path, module in modules.items()
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.weight is not None
    ]
    if not scales:
        raise ValueError("model has no BatchNorm layer with a scale factor (affine=True)")
    return torch.stack(scales).sum()


def _check_strength(s: Any) -> float:
    if isinstance(s, bool) or not isinstance(s, int | float) or not math.isfinite(s) or s < 0:
        raise ValueError(f"s (the sparsity strength) must be a finite number >= 0, got {s!r}")
    return float(s)


def sparsity_penalty(
    s: float, weights: Mapping[str, float] | None = None
) -> Callable[[nn.Module], torch.Tensor]:
    """The loss term `s * sum|gamma|`, for `lwcnn.train.train(..., extra_loss=...)`.

    The paper uses s = 1e-4 to 1e-5 for 160 epochs of SGD on CIFAR; 6 epochs of SGD on digits
    need about 5e-3 (lesson 08). Adam barely shows the penalty in short runs: its steps are at
    most about `lr`, too small to carry a gamma from 1 to 0 in a few hundred steps.
    `weights` (BatchNorm module path -> factor, e.g. from `cost_weights`) scales each layer's
    term, `s * sum_l w_l * sum|gamma_l|`, so expensive channels are pushed harder towards 0;
    layers not named keep factor 1.
    """
    strength = _check_strength(s)
    factors = dict(weights or {})
    for path, factor in factors.items():
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not factor >= 0:
            raise ValueError(f"weights[{path!r}] must be a number >= 0, got {factor!r}")

    def penalty(model: nn.Module) -> torch.Tensor:
        return strength * batchnorm_l1(model, factors)

    return penalty


def channel_costs(spec: NetworkSpec, resolution: int | None = None) -> dict[str, tuple[int, int]]:
    """What one channel of each prunable group costs: (params, MACs) saved by removing it.

    Exact, from `models.cost` of the spec and of the same spec with that group one channel
    narrower; in a convolutional network it is the same for every channel of the group.
    """
    cfg = spec if isinstance(spec, PrunedSpec) else unpruned_cfg(spec)
    full = models.cost(cfg, resolution)
    costs = {}
    for name, kept in cfg.widths:
        if kept == 1:
            continue  # cannot narrow further; it is never pruned below one channel anyway
        narrower = PrunedSpec(cfg.base, tuple((n, k - (n == name)) for n, k in cfg.widths))
        cost = models.cost(narrower, resolution)
        costs[name] = (full.params - cost.params, full.macs - cost.macs)
    return costs


def cost_weights(spec: NetworkSpec, resolution: int | None = None) -> dict[str, float]:
    """Per-BatchNorm factors for `sparsity_penalty`: a channel's share of params and of MACs.

    Each prunable group's weight is `(params_g / mean params + macs_g / mean macs) / 2` over
    the groups' one-channel costs (`channel_costs`): a channel that costs the average in both
    gets 1. Resource-weighted sparsity in the spirit of MorphNet (Gordon et al., CVPR 2018).
    """
    costs = channel_costs(spec, resolution)
    mean_params = sum(p for p, _ in costs.values()) / len(costs)
    mean_macs = sum(m for _, m in costs.values()) / len(costs)
    weights = {}
    for group in channel_groups(spec):
        if group.name in costs:
            params, macs = costs[group.name]
            for path in group.norms:
                weights[path] = (params / mean_params + macs / mean_macs) / 2
    return weights


@torch.no_grad()
def sparsity_step(model: nn.Module, s: float) -> None:
    """Add the subgradient `s * sign(gamma)` to every BatchNorm scale's gradient (the paper's code).

    Call it after `loss.backward()` and before `optimizer.step()`: the same as adding
    `sparsity_penalty(s)` to the loss, without building the penalty into the graph.
    """
    strength = _check_strength(s)
    for module in _batchnorms(model):
        if module.weight is not None and module.weight.grad is not None:
            module.weight.grad.add_(strength * torch.sign(module.weight))


def batchnorm_scales(model: nn.Module) -> torch.Tensor:
    """Every BatchNorm |gamma| of `model`, concatenated (for the histograms of the paper's Fig. 3)."""
    scales = [
        module.weight.detach().abs().flatten() for module in _batchnorms(model) if module.weight is not None
    ]
    if not scales:
        raise ValueError("model has no BatchNorm layer with a scale factor (affine=True)")
    return torch.cat(scales).cpu()
