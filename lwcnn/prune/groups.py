"""The channel groups of a network: channels that are kept or removed together.

Each layer declares its channels (`spec.channel_roles()`: what it makes, what a shortcut ties,
which BatchNorm scores what); this file walks a network's layers once and joins those roles into
groups with a union-find. It knows nothing about any particular block."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lwcnn import blocks, models
from lwcnn.blocks import BlockSpec, Channels
from lwcnn.models import NetworkSpec

# Activations that map 0 to 0: a channel whose BatchNorm gamma and beta are 0 then outputs
# exactly 0, so removing it changes nothing (what makes `slim` and `zero_masked` agree).
ZERO_PRESERVING = ("relu", "relu6", "hswish", "silu", "swish", "prelu", "identity", None)


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
class PlannedLayer:
    path: str  # module path in the built network
    spec: Any
    declared: Channels  # what the layer says of its channels (`spec.channel_roles()`)
    nodes: dict[str, int]  # its roles -> node ids
    parts: tuple[PlannedLayer, ...]  # a composite's sub-layers, planned the same way

    def walk(self) -> Iterator[PlannedLayer]:
        yield self
        for part in self.parts:
            yield from part.walk()


@dataclass(frozen=True)
class ChannelPlan:
    stages: tuple[tuple[str, tuple[PlannedLayer, ...]], ...]
    classifier: tuple[PlannedLayer, ...]
    groups: tuple[ChannelGroup, ...]
    group_of: tuple[int, ...]  # node id -> index into groups

    def layers(self) -> tuple[PlannedLayer, ...]:
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


def supported_layers() -> str:
    kinds = [*blocks.BLOCKS, *models.GLUE_LAYERS]
    return ", ".join(kind.__name__ for kind in kinds if kind.channel_roles is not BlockSpec.channel_roles)


def _plan_layer(nodes: _Nodes, path: str, spec: Any, roles: dict[str, int]) -> PlannedLayer:
    """One layer as it declares its channels: its new roles as nodes, its ties, its BatchNorms."""
    try:
        declared = spec.channel_roles()
    except TypeError as error:
        raise TypeError(f"{path}: lwcnn.prune {error}") from None
    if declared is None:
        raise TypeError(
            f"{path}: lwcnn.prune cannot prune through a {type(spec).__name__} layer; supported layers: "
            f"{supported_layers()} (MobileNetV1/V2/V3, MnasNet, EfficientNet, TinyNet, FBNet-C)"
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
    return PlannedLayer(path, spec, declared, roles, parts)


@functools.lru_cache(maxsize=256)
def channel_plan(spec: NetworkSpec) -> ChannelPlan:
    """Walk the spec's layers once: each layer's channel roles as nodes, joined into groups.

    A pruned network (`PrunedSpec`) is planned as its base, with each group's kept width: its
    structure is the base's. (Read from its own layers, a depthwise conv narrowed to one channel
    would pass for a plain 1 -> 1 conv and open a group of its own, which the base has not.)
    """
    from lwcnn.prune.cfg import PrunedSpec  # cfg.py builds on this module

    if isinstance(spec, PrunedSpec):
        plan, kept = channel_plan(spec.base), dict(spec.widths)
        groups = tuple(
            dataclasses.replace(group, channels=kept.get(group.name, group.channels)) for group in plan.groups
        )
        return dataclasses.replace(plan, groups=groups)
    nodes = _Nodes()
    current = nodes.new("input", spec.in_channels, fixed="the input image")

    def walk(prefix: str, layers: Any) -> tuple[PlannedLayer, ...]:
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
    return ChannelPlan(stages, classifier, tuple(groups), group_of)


def channel_groups(spec: NetworkSpec) -> tuple[ChannelGroup, ...]:
    """The channel groups of a network spec (or a `PrunedSpec`), in layer order.

    >>> groups = channel_groups(models.spec("mobilenet_v3_small"))
    >>> [group.name for group in groups if group.prunable][:3]
    ['features.stem.0.out', 'features.stage1.0.out', 'features.stage2.0.expanded']
    """
    if not isinstance(spec, NetworkSpec):
        raise TypeError(f"spec must be a network spec (lwcnn.models.spec(...)), got {type(spec).__name__}")
    return channel_plan(spec).groups
