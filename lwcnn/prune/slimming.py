"""Slimming: score channels by |gamma|, one global threshold, and the physically smaller network
with the kept weights copied in (or the same network with the removed channels zeroed)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lwcnn import checks
from lwcnn.models import NetworkSpec
from lwcnn.prune.cfg import PrunedSpec
from lwcnn.prune.groups import channel_groups, channel_plan


@dataclass
class SlimResult:
    """What `slim` returns: the smaller network, its `cfg`, and the masks that made it.

    `masks` maps each prunable channel group's name to a bool tensor (True: kept) over the
    pruned model's channels; `threshold` is the largest score removed (None if none was);
    `floored` names the groups the global threshold would have cut below `min_channels`, which
    kept their `min_channels` highest-scoring channels instead.
    """

    model: nn.Module
    cfg: PrunedSpec
    masks: dict[str, torch.Tensor]
    threshold: float | None
    floored: tuple[str, ...]

    @property
    def kept_fraction(self) -> float:
        """The share of prunable channels kept."""
        kept = sum(int(mask.sum()) for mask in self.masks.values())
        return kept / sum(mask.numel() for mask in self.masks.values())


def spec_of(model: nn.Module) -> NetworkSpec:
    """The spec a model was built from (`model.spec`, set by every lwcnn network's `build`)."""
    spec = getattr(model, "spec", None)
    if not isinstance(model, nn.Module) or not isinstance(spec, NetworkSpec):
        raise TypeError(
            "model must be a network built by lwcnn (lwcnn.models.build, a spec's .build(), or "
            f"load_pruned), which records its spec in model.spec; got {type(model).__name__} "
            "without one"
        )
    return spec


def check_prune_rate(prune_rate: Any) -> float:
    if isinstance(prune_rate, bool) or not isinstance(prune_rate, int | float) or not 0 <= prune_rate < 1:
        raise ValueError(f"prune_rate must be a number in [0, 1), got {prune_rate!r}")
    return float(prune_rate)


SCORE_NORMALIZATIONS = (None, "mean")


def group_scores(model: nn.Module, normalize: str | None = None) -> dict[str, torch.Tensor]:
    """Each prunable channel group's per-channel score: the largest |gamma| over its BatchNorms.

    `normalize=None` ranks the raw scores, as the paper does: one threshold for the whole
    network. `normalize="mean"` divides each group's scores by their mean first (Torch-Pruning's
    default), so a channel is compared with its own layer's typical channel: the cut spreads
    over all layers instead of falling where |gamma| is small everywhere.
    """
    if normalize not in SCORE_NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {SCORE_NORMALIZATIONS}, got {normalize!r}")
    spec = spec_of(model)
    scores = {}
    for group in channel_groups(spec):
        if group.prunable:
            gammas = [model.get_submodule(path).weight.detach().abs().float().cpu() for path in group.norms]
            score = torch.stack(gammas).amax(dim=0)
            if normalize == "mean" and score.mean() > 0:
                score = score / score.mean()
            scores[group.name] = score
    return scores


def global_masks(
    scores: Mapping[str, torch.Tensor], prune_rate: float, min_channels: int = 1
) -> tuple[dict[str, torch.Tensor], float | None, tuple[str, ...]]:
    """Keep masks from one global threshold: remove the `round(prune_rate * total)` lowest scores.

    Ties are broken by position (earlier channels go first), so the count is exact. A group the
    threshold would cut below `min_channels` keeps its `min_channels` highest-scoring channels.
    Returns (masks, threshold: the largest removed score or None, the floored groups).
    """
    prune_rate, min_channels = check_prune_rate(prune_rate), checks.check_int("min_channels", min_channels)
    names = list(scores)
    flat = torch.cat([scores[name].flatten().float() for name in names])
    removed = round(prune_rate * flat.numel())
    keep = torch.ones(flat.numel(), dtype=torch.bool)
    order = torch.argsort(flat, stable=True)
    keep[order[:removed]] = False
    threshold = float(flat[order[removed - 1]]) if removed else None
    masks, floored, start = {}, [], 0
    for name in names:
        score = scores[name].flatten().float()
        mask = keep[start : start + score.numel()].clone()
        start += score.numel()
        floor = min(min_channels, score.numel())
        if int(mask.sum()) < floor:
            mask[:] = False
            mask[torch.argsort(score, descending=True, stable=True)[:floor]] = True
            floored.append(name)
        masks[name] = mask
    return masks, threshold, tuple(floored)


def _check_masks(spec: NetworkSpec, masks: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    groups = {group.name: group for group in channel_groups(spec) if group.prunable}
    checked = {}
    for name, mask in masks.items():
        if name not in groups:
            raise ValueError(f"masks: no prunable channel group {name!r}; groups: {', '.join(groups)}")
        mask = torch.as_tensor(mask)
        if mask.dtype != torch.bool or mask.shape != (groups[name].channels,):
            raise ValueError(
                f"masks[{name!r}] must be a bool tensor of {groups[name].channels} channels, "
                f"got {mask.dtype} of shape {tuple(mask.shape)}"
            )
        if not mask.any():
            raise ValueError(f"masks[{name!r}] keeps no channel; every layer must keep at least one")
        checked[name] = mask.cpu()
    # a group not named keeps every channel, and says so: the result's masks cover every group
    return {
        name: checked.get(name, torch.ones(group.channels, dtype=torch.bool))
        for name, group in groups.items()
    }


def _cfg_from_masks(spec: NetworkSpec, masks: Mapping[str, torch.Tensor]) -> PrunedSpec:
    if isinstance(spec, PrunedSpec):
        base, widths = spec.base, dict(spec.widths)
    else:
        base, widths = spec, {g.name: g.channels for g in channel_groups(spec) if g.prunable}
    widths.update({name: int(mask.sum()) for name, mask in masks.items()})
    return PrunedSpec(base, tuple(widths.items()))


def slim(
    model: nn.Module, prune_rate: float, min_channels: int = 1, normalize: str | None = None
) -> SlimResult:
    """Prune `model` by network slimming at `prune_rate` and return the physically smaller network.

    `model` is an lwcnn network (it knows its spec), sparsity-trained or not; it is not changed.
    Channels are scored by |gamma| (`group_scores`), the `prune_rate` fraction with the smallest
    scores over the whole network is removed (`global_masks`; `normalize` as in `group_scores`),
    and the kept weights and BatchNorm
    statistics are copied into `cfg.build()`. In eval mode the result computes what
    `zero_masked(model, result.masks)` computes.

    >>> from lwcnn import models
    >>> result = slim(models.build("mobilenet_v3_small", num_classes=10), prune_rate=0.4)
    >>> models.cost(result.cfg).params < models.cost("mobilenet_v3_small", num_classes=10).params
    True
    """
    masks, threshold, floored = global_masks(group_scores(model, normalize), prune_rate, min_channels)
    return apply_masks(model, masks, threshold=threshold, floored=floored)


def apply_masks(model: nn.Module, masks: Mapping[str, torch.Tensor], **details: Any) -> SlimResult:
    """The smaller network that keeps the channels `masks` marks True (groups not named keep all).

    `slim` calls it with its global-threshold masks; call it yourself with masks of your own
    (another importance score, another tool's choices). `details` fill the result's `threshold`
    and `floored`.
    """
    spec = spec_of(model)
    masks = _check_masks(spec, masks)
    cfg = _cfg_from_masks(spec, masks)
    smaller = cfg.build()
    smaller.load_state_dict(_kept_state(model, spec, masks))
    smaller.train(model.training)
    smaller.to(next(model.parameters()).device)
    return SlimResult(smaller, cfg, masks, details.get("threshold"), tuple(details.get("floored", ())))


def _kept_state(
    model: nn.Module, spec: NetworkSpec, masks: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The model's state_dict with only the kept channels, keyed as in the smaller network."""
    plan = channel_plan(spec)
    group_index = {group.name: index for index, group in enumerate(plan.groups)}
    kept_of_group = {group_index[name]: torch.nonzero(mask).flatten() for name, mask in masks.items()}
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    entries: dict[str, torch.Tensor] = {}

    def kept(node: int) -> torch.Tensor | None:
        return kept_of_group.get(plan.group_of[node])

    def take(tensor: torch.Tensor, dim: int, index: torch.Tensor | None) -> torch.Tensor:
        return tensor if index is None else tensor.index_select(dim, index)

    dimensions = {  # state-dict key -> the node each of its dimensions runs over (None: not pruned)
        f"{layer.path}.{key}" if key else layer.path: tuple(
            None if role is None else layer.nodes[role] for role in roles
        )
        for top in plan.layers()
        for layer in top.walk()
        for key, roles in layer.declared.tensors
    }
    for key, tensor in state.items():
        for dim, node in enumerate(dimensions.get(key, ())):
            tensor = take(tensor, dim, None if node is None else kept(node))
        entries[key] = tensor
    return entries


@torch.no_grad()
def zero_masked(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> nn.Module:
    """A copy of `model` whose removed channels output exactly 0: the network before the rebuild.

    Each removed channel's BatchNorm scale and shift (gamma, beta) are set to 0 in every
    BatchNorm of its group; every activation that follows maps 0 to 0, so in eval mode the copy
    computes what the rebuilt network (`slim`, `apply_masks`) computes, with all the weights.
    """
    spec = spec_of(model)
    masks = _check_masks(spec, masks)
    zeroed = copy.deepcopy(model)
    groups = {group.name: group for group in channel_groups(spec)}
    for name, mask in masks.items():
        for path in groups[name].norms:
            norm = zeroed.get_submodule(path)
            removed = (~mask).to(norm.weight.device)
            norm.weight[removed] = 0
            norm.bias[removed] = 0
    return zeroed
