"""Structured pruning by network slimming, and unstructured pruning for contrast.

Network slimming (Liu et al., "Learning Efficient Convolutional Networks through Network
Slimming", ICCV 2017) in four steps:

1. Train with an L1 penalty on the BatchNorm scale factors, `s * sum|gamma|` (eq. 1):
   `train(..., extra_loss=sparsity_penalty(s))`, or `sparsity_step(model, s)` between
   `backward()` and `optimizer.step()` (the paper's subgradient form). Unneeded channels drift
   to gamma ~ 0, and a channel whose BatchNorm outputs ~0 carries nothing.
2. One global threshold: the `prune_rate` fraction of channels with the smallest |gamma|, over
   the whole network, go (`slim`). Layers that matter keep more channels than layers that do not.
3. `cfg`, the kept channels per prunable layer, describes a physically smaller network:
   `slim` builds it and copies the kept weights into it.
4. Fine-tune it (`lwcnn.train.train`), and prune again if you like.

Channels that cannot be pruned alone are pruned together, as one *channel group*:

- an inverted residual's 1x1 expansion conv, its depthwise conv (which maps channel i to
  channel i), their BatchNorms, and the squeeze-and-excite convs that read and rescale those
  channels: the group is scored by the larger |gamma| of the two BatchNorms;
- channels that meet at a residual add: the projections of every block in a stage with
  shortcuts, and the conv that feeds the stage, are one group (pruned together or not at all);
- the last conv before pooling and the classifier's first linear layer (which loses the columns
  of the removed channels);
- a linear layer's outputs, when a BatchNorm1d follows it (`MobileNetV3(classifier_norm=True)`),
  with the next linear layer's columns; a linear layer without one keeps all its outputs.

A channel is kept when its group's score is above the global threshold; a group never keeps
fewer than `min_channels` (its highest-scoring channels), so no layer is ever emptied. Channels
that the network cannot lose (the input image, the logits) or that no BatchNorm scores are never
pruned.

The pruned network is a spec like any other (`PrunedSpec`): `lwcnn.models.cost(cfg)` gives its
params and MACs without building it, `cfg.build()` builds it, and `save_pruned` stores it beside
its weights so that `load_pruned` can rebuild it with `torch.load(..., weights_only=True)`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from lwcnn import blocks, checks, models
from lwcnn.blocks import BlockSpec, Channels
from lwcnn.models import NetworkSpec

# Activations that map 0 to 0: a channel whose BatchNorm gamma and beta are 0 then outputs
# exactly 0, so removing it changes nothing (what makes `slim` and `zero_masked` agree).
ZERO_PRESERVING = ("relu", "relu6", "hswish", "silu", "swish", "prelu", "identity", None)
CHECKPOINT_FORMAT = "lwcnn.pruned/1"


# --- the channel groups of a network ------------------------------------------------------------


@dataclass(frozen=True)
class ChannelGroup:
    """Channels that are kept or removed together, and the BatchNorms whose |gamma| score them.

    `name` is the first layer output in the group (`"features.stage2.0.expanded"`), `channels`
    its width, `norms` the module paths of its BatchNorms; `fixed` says why it cannot be pruned
    (empty when it can).
    """

    name: str
    channels: int
    norms: tuple[str, ...]
    fixed: str = ""

    @property
    def prunable(self) -> bool:
        return not self.fixed


@dataclass(frozen=True)
class _PlannedLayer:
    path: str  # module path in the built network
    spec: Any
    declared: Channels  # what the layer says of its channels (`spec.channel_roles()`)
    nodes: dict[str, int]  # its roles -> node ids
    parts: tuple[_PlannedLayer, ...]  # a composite's sub-layers, planned the same way

    def walk(self) -> Iterator[_PlannedLayer]:
        yield self
        for part in self.parts:
            yield from part.walk()


@dataclass(frozen=True)
class _Plan:
    stages: tuple[tuple[str, tuple[_PlannedLayer, ...]], ...]
    classifier: tuple[_PlannedLayer, ...]
    groups: tuple[ChannelGroup, ...]
    group_of: tuple[int, ...]  # node id -> index into groups

    def layers(self) -> tuple[_PlannedLayer, ...]:
        return tuple(layer for _, layers in self.stages for layer in layers) + self.classifier


class _Nodes:
    """Union-find over layer outputs ("nodes"): an output and the outputs it must match."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.names: list[str] = []
        self.widths: list[int] = []
        self.norms: list[list[str]] = []
        self.fixed: list[str] = []

    def new(self, name: str, width: int, norm: str | None = None, fixed: str = "") -> int:
        self.parent.append(len(self.parent))
        self.names.append(name)
        self.widths.append(width)
        self.norms.append([norm] if norm else [])
        self.fixed.append(fixed)
        return len(self.parent) - 1

    def find(self, node: int) -> int:
        while self.parent[node] != node:
            self.parent[node] = self.parent[self.parent[node]]
            node = self.parent[node]
        return node

    def join(self, first: int, second: int) -> None:
        a, b = sorted((self.find(first), self.find(second)))  # the older node stays the root
        if a != b:
            self.parent[b] = a
            self.norms[a] += self.norms[b]
            self.fixed[a] = self.fixed[a] or self.fixed[b]

    def add_norm(self, node: int, norm: str) -> None:
        self.norms[self.find(node)].append(norm)

    def fix(self, node: int, reason: str) -> None:
        root = self.find(node)
        self.fixed[root] = self.fixed[root] or reason


def _supported() -> str:
    kinds = [*blocks.BLOCKS, *models.GLUE_LAYERS]
    return ", ".join(kind.__name__ for kind in kinds if kind.channel_roles is not BlockSpec.channel_roles)


def _plan_layer(nodes: _Nodes, path: str, spec: Any, roles: dict[str, int]) -> _PlannedLayer:
    """One layer as it declares its channels: its new roles as nodes, its ties, its BatchNorms."""
    try:
        declared = spec.channel_roles()
    except TypeError as error:
        raise TypeError(f"{path}: lwcnn.prune {error}") from None
    if declared is None:
        raise TypeError(
            f"{path}: lwcnn.prune cannot prune through a {type(spec).__name__} layer; supported layers: "
            f"{_supported()} (MobileNetV1/V2/V3, MnasNet, EfficientNet)"
        )
    roles = dict(roles)
    widths = {role: getattr(spec, name) for name, role in declared.fields.items()}
    for role in declared.new:
        if role not in roles:  # a composite's part uses the role its block made
            roles[role] = nodes.new(f"{path}.{role}", widths[role])
    for first, second in declared.tied:
        nodes.join(roles[first], roles[second])
    for role, norm in declared.norms:
        nodes.add_norm(roles[role], f"{path}.{norm}" if norm else path)
    for role, activation in declared.activations:
        if activation not in ZERO_PRESERVING:
            nodes.fix(roles[role], f"{path} uses {activation}, which does not map 0 to 0")
    for role, reason in declared.fixed:
        nodes.fix(roles[role], f"{path}: {reason}")
    parts = tuple(
        _plan_layer(
            nodes, f"{path}.{part.path}", part.spec, {own: roles[role] for own, role in part.roles.items()}
        )
        for part in declared.parts
    )
    return _PlannedLayer(path, spec, declared, roles, parts)


@functools.lru_cache(maxsize=256)
def _plan(spec: NetworkSpec) -> _Plan:
    """Walk the spec's layers once: each layer's channel roles as nodes, joined into groups."""
    nodes = _Nodes()
    current = nodes.new("input", spec.in_channels, fixed="the input image")

    def walk(prefix: str, layers: Any) -> tuple[_PlannedLayer, ...]:
        nonlocal current
        planned = []
        for index, layer in enumerate(layers):
            planned.append(_plan_layer(nodes, f"{prefix}.{index}", layer, {"in": current}))
            current = planned[-1].nodes[planned[-1].declared.out]
        return tuple(planned)

    stages = tuple((stage.name, walk(f"features.{stage.name}", stage.layers)) for stage in spec.stages())
    classifier = walk("classifier", spec.classifier())
    nodes.fix(current, "the network's output")
    roots, groups = {}, []
    for node in range(len(nodes.parent)):
        root = nodes.find(node)
        if root not in roots:
            roots[root] = len(groups)
            fixed = nodes.fixed[root] or ("" if nodes.norms[root] else "no BatchNorm")
            groups.append(
                ChannelGroup(nodes.names[root], nodes.widths[root], tuple(nodes.norms[root]), fixed)
            )
    group_of = tuple(roots[nodes.find(node)] for node in range(len(nodes.parent)))
    return _Plan(stages, classifier, tuple(groups), group_of)


def channel_groups(spec: NetworkSpec) -> tuple[ChannelGroup, ...]:
    """The channel groups of a network spec (or a `PrunedSpec`), in layer order.

    >>> groups = channel_groups(models.spec("mobilenet_v3_small"))
    >>> [group.name for group in groups if group.prunable][:3]
    ['features.stem.0.out', 'features.stage2.0.expanded', 'features.stage2.0.out']
    """
    if not isinstance(spec, NetworkSpec):
        raise TypeError(f"spec must be a network spec (lwcnn.models.spec(...)), got {type(spec).__name__}")
    return _plan(spec).groups


# --- the pruned network as a spec -----------------------------------------------------------------


@dataclass(frozen=True)
class PrunedSpec(NetworkSpec):
    """A network spec with some channel groups narrowed: the `cfg` of network slimming.

    `base` is the unpruned spec and `widths` the kept channels of every prunable channel group,
    as `(group name, kept)` pairs in layer order. Its layout is the base's with the channel
    counts replaced, so `build()` makes the smaller network and `cost()` (or
    `lwcnn.models.cost(cfg)`) counts it. Squeeze-and-excite's inner width is not pruned (it has
    no BatchNorm to score it); inverted residuals keep their expansion conv and their shortcut
    exactly as in the base, even where pruning makes two widths equal by chance.
    """

    base: NetworkSpec
    widths: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        if not isinstance(self.base, NetworkSpec) or isinstance(self.base, PrunedSpec):
            raise TypeError(
                f"base must be an unpruned network spec (lwcnn.models.spec(...)), got {type(self.base).__name__}"
            )
        try:
            widths = tuple((str(name), kept) for name, kept in dict(self.widths).items())
        except (TypeError, ValueError) as error:
            raise TypeError("widths must be (group name, kept channels) pairs") from error
        prunable = {group.name: group.channels for group in channel_groups(self.base) if group.prunable}
        names = [name for name, _ in widths]
        unknown, missing = (
            sorted(set(names) - set(prunable)),
            [name for name in prunable if name not in names],
        )
        if unknown or missing or len(names) != len(self.widths):
            raise ValueError(
                f"widths must name each prunable channel group of the base once; unknown: {unknown or 'none'}, "
                f"missing: {missing or 'none'}"
            )
        for name, kept in widths:
            if isinstance(kept, bool) or not isinstance(kept, int) or not 1 <= kept <= prunable[name]:
                raise ValueError(f"widths[{name!r}] must be an int in [1, {prunable[name]}], got {kept!r}")
        order = {name: index for index, name in enumerate(prunable)}
        object.__setattr__(self, "widths", tuple(sorted(widths, key=lambda pair: order[pair[0]])))

    # the base's settings
    num_classes = property(lambda self: self.base.num_classes)
    in_channels = property(lambda self: self.base.in_channels)
    resolution = property(lambda self: self.base.resolution)
    small_input = property(lambda self: getattr(self.base, "small_input", False))
    norm_eps = property(lambda self: self.base.norm_eps)
    norm_momentum = property(lambda self: self.base.norm_momentum)

    def kept(self, group: str) -> int:
        """The channels group `group` keeps."""
        widths = dict(self.widths)
        if group not in widths:
            raise ValueError(f"no prunable channel group {group!r}; groups: {', '.join(widths)}")
        return widths[group]

    def table(self) -> str:
        """One line per prunable channel group: its width before and after, and the share kept."""
        groups = {group.name: group for group in channel_groups(self.base)}
        lines = [f"{'channel group':<34}{'before':>8}{'after':>8}{'kept':>8}"]
        for name, kept in self.widths:
            before = groups[name].channels
            lines.append(f"{name:<34}{before:>8}{kept:>8}{kept / before:>8.0%}")
        return "\n".join(lines)

    def _width_of(self) -> list[int]:
        plan = _plan(self.base)
        kept = dict(self.widths)
        group_widths = [kept.get(group.name, group.channels) for group in plan.groups]
        return [group_widths[group] for group in plan.group_of]

    def _relaid(self, layers: tuple[_PlannedLayer, ...], width_of: list[int]) -> list[models.Layer]:
        """The base's layer specs with each channel field narrowed to its group's kept width."""
        return [
            dataclasses.replace(
                layer.spec,
                **{name: width_of[layer.nodes[role]] for name, role in layer.declared.fields.items()},
                **layer.declared.keep,
            )
            for layer in layers
        ]

    def _make_stages(self) -> list[models.StageLayers]:
        width_of = self._width_of()
        return [(name, self._relaid(layers, width_of)) for name, layers in _plan(self.base).stages]

    def _make_classifier(self) -> list[models.Layer]:
        return self._relaid(_plan(self.base).classifier, self._width_of())


def unpruned_cfg(spec: NetworkSpec) -> PrunedSpec:
    """`spec` as a `PrunedSpec` that keeps every channel."""
    return PrunedSpec(
        spec, tuple((group.name, group.channels) for group in channel_groups(spec) if group.prunable)
    )


# --- sparsity training ------------------------------------------------------------------------------


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


# --- slimming ------------------------------------------------------------------------------------


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


def _check_prune_rate(prune_rate: Any) -> float:
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
    prune_rate, min_channels = _check_prune_rate(prune_rate), checks.check_int("min_channels", min_channels)
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
    return checked


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
    plan = _plan(spec)
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


# --- unstructured pruning, for contrast -----------------------------------------------------------


def _prunable_weights(model: nn.Module) -> list[tuple[nn.Module, str]]:
    return [(module, "weight") for module in model.modules() if isinstance(module, nn.Conv2d | nn.Linear)]


def magnitude_prune(model: nn.Module, amount: float) -> nn.Module:
    """A copy of `model` with the `amount` fraction of its conv and linear weights with the
    smallest |w| (over the whole network) set to zero, through `torch.nn.utils.prune`.

    The tensors keep their shapes: the same parameter count, the same file size (uncompressed)
    and, without sparse kernels, the same speed. Only the count of non-zero weights falls.
    """
    amount = _check_prune_rate(amount)
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


# --- checkpoints ------------------------------------------------------------------------------------


def cfg_to_dict(cfg: NetworkSpec) -> dict[str, Any]:
    """A spec (pruned or not) as plain dicts, lists and numbers: what `torch.load(weights_only=True)`
    reads back. `cfg_from_dict` inverts it."""
    if isinstance(cfg, PrunedSpec):
        return {
            "class": "PrunedSpec",
            "base": cfg_to_dict(cfg.base),
            "widths": [list(pair) for pair in cfg.widths],
        }
    if not isinstance(cfg, NetworkSpec) or not dataclasses.is_dataclass(cfg):
        raise TypeError(f"cfg must be a network spec or a PrunedSpec, got {type(cfg).__name__}")

    def plain(value: Any) -> Any:
        return [plain(item) for item in value] if isinstance(value, tuple | list) else value

    fields = {field.name: plain(getattr(cfg, field.name)) for field in dataclasses.fields(cfg)}
    return {"class": type(cfg).__name__, "fields": fields}


def cfg_from_dict(data: Mapping[str, Any]) -> NetworkSpec:
    """The spec `cfg_to_dict` wrote (its constructor checks every field again)."""
    classes = {spec_class.__name__: spec_class for spec_class in models.NETWORK_SPECS}
    if not isinstance(data, Mapping) or "class" not in data:
        raise ValueError("cfg must be a dict written by cfg_to_dict, with a 'class' entry")
    if data["class"] == "PrunedSpec":
        return PrunedSpec(cfg_from_dict(data["base"]), tuple(tuple(pair) for pair in data["widths"]))
    if data["class"] not in classes:
        raise ValueError(f"cfg class {data['class']!r} is unknown; known: PrunedSpec, {', '.join(classes)}")

    def frozen(value: Any) -> Any:
        return tuple(frozen(item) for item in value) if isinstance(value, list) else value

    try:
        return classes[data["class"]](**{name: frozen(value) for name, value in data["fields"].items()})
    except TypeError as error:
        raise ValueError(f"cfg fields do not fit {data['class']}: {error}") from error


def _check_fits(model: nn.Module, cfg: NetworkSpec, where: str) -> None:
    expected = {key: tuple(value.shape) for key, value in cfg.build().state_dict().items()}
    state = model if isinstance(model, Mapping) else model.state_dict()
    got = {key: tuple(value.shape) for key, value in state.items()}
    if expected.keys() != got.keys():
        extra, missing = sorted(got.keys() - expected.keys()), sorted(expected.keys() - got.keys())
        raise ValueError(
            f"{where} does not fit the cfg: entries the cfg does not build: {extra[:3] or 'none'}; "
            f"entries it lacks: {missing[:3] or 'none'}"
        )
    for key, shape in expected.items():
        if got[key] != shape:
            raise ValueError(
                f"{where} does not fit the cfg: {key} has shape {got[key]}, the cfg builds {shape}"
            )


def save_pruned(
    path: str | os.PathLike | BinaryIO,
    model: nn.Module,
    cfg: NetworkSpec | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    epoch: int | None = None,
    **metadata: Any,
) -> None:
    """Save weights, `cfg`, optimizer state and epoch together in one `.pth` file.

    `cfg` defaults to `model.spec`; the weights must fit it (checked before anything is
    written). `metadata` (numbers, strings, lists, dicts) is stored as is. No pickled classes:
    `load_pruned` reads the file with `torch.load(..., weights_only=True)`.
    """
    cfg = spec_of(model) if cfg is None else cfg
    payload = {
        "format": CHECKPOINT_FORMAT,
        "cfg": cfg_to_dict(cfg),
        "state_dict": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "epoch": epoch,
        "metadata": metadata,
    }
    _check_fits(model, cfg, "model")
    torch.save(payload, path)


@dataclass
class Checkpoint:
    """What `load_pruned` returns: the rebuilt model and what was saved with it."""

    model: nn.Module
    cfg: NetworkSpec
    optimizer_state: dict | None
    epoch: int | None
    metadata: dict


def load_pruned(path: str | os.PathLike | BinaryIO, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the network from the file's `cfg` and load its weights (`weights_only=True`).

    A file that is not an lwcnn checkpoint, or whose weights do not fit its cfg, raises a
    ValueError before any model is returned.
    """
    name = os.fspath(path) if isinstance(path, str | os.PathLike) else "the file"
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{name} is not an lwcnn pruned checkpoint (format {CHECKPOINT_FORMAT!r})")
    cfg = cfg_from_dict(payload["cfg"])
    _check_fits(payload["state_dict"], cfg, f"the weights in {name}")
    model = cfg.build()
    model.load_state_dict(payload["state_dict"])
    return Checkpoint(model, cfg, payload["optimizer"], payload["epoch"], payload["metadata"])


def file_size_bytes(model: nn.Module, path: str | os.PathLike) -> int:
    """The size on disk of `model`'s state_dict saved with `torch.save` to `path`."""
    torch.save(model.state_dict(), path)
    return os.path.getsize(path)
