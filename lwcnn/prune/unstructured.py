"""Unstructured magnitude pruning, for contrast: zeros in the weights, no smaller network."""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils import prune as torch_prune

from lwcnn.prune.slimming import check_prune_rate


def _prunable_weights(model: nn.Module) -> list[tuple[nn.Module, str]]:
    return [(module, "weight") for module in model.modules() if isinstance(module, nn.Conv2d | nn.Linear)]


def magnitude_prune(model: nn.Module, amount: float) -> nn.Module:
    """A copy of `model` with the `amount` fraction of its conv and linear weights with the
    smallest |w| (over the whole network) set to zero, through `torch.nn.utils.prune`.

    The tensors keep their shapes: the same parameter count, the same file size (uncompressed)
    and, without sparse kernels, the same speed. Only the count of non-zero weights falls.
    """
    amount = check_prune_rate(amount)
    pruned = copy.deepcopy(model)
    targets = _prunable_weights(pruned)
    if not targets:
        raise ValueError("model has no Conv2d or Linear layer to prune")
    torch_prune.global_unstructured(targets, pruning_method=torch_prune.L1Unstructured, amount=amount)
    for module, name in targets:
        torch_prune.remove(module, name)  # make the zeros permanent: a plain weight again
    return pruned


def zero_fraction(model: nn.Module) -> float:
    """The share of conv and linear weights that are exactly zero."""
    targets = _prunable_weights(model)
    if not targets:
        raise ValueError("model has no Conv2d or Linear layer")
    zeros = sum(int((getattr(module, name) == 0).sum()) for module, name in targets)
    return zeros / sum(getattr(module, name).numel() for module, name in targets)
