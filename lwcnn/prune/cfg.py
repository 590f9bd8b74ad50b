"""The pruned network as a spec (`PrunedSpec`, the `cfg` of network slimming): the base network
with each channel group narrowed, so `build()` makes it and `cost()` counts it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from lwcnn import models
from lwcnn.models import NetworkSpec
from lwcnn.prune.groups import PlannedLayer, channel_groups, channel_plan


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
        names = [str(name) for name, _ in self.widths]
        unknown, missing = (
            sorted(set(names) - set(prunable)),
            [name for name in prunable if name not in names],
        )
        repeated = sorted({name for name in names if names.count(name) > 1})
        if unknown or missing or repeated:
            raise ValueError(
                f"widths must name each prunable channel group of the base once; unknown: {unknown or 'none'}, "
                f"missing: {missing or 'none'}, named twice: {repeated or 'none'}"
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
        plan = channel_plan(self.base)
        kept = dict(self.widths)
        group_widths = [kept.get(group.name, group.channels) for group in plan.groups]
        return [group_widths[group] for group in plan.group_of]

    def _relaid(self, layers: tuple[PlannedLayer, ...], width_of: list[int]) -> list[models.Layer]:
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
        return [(name, self._relaid(layers, width_of)) for name, layers in channel_plan(self.base).stages]

    def _make_classifier(self) -> list[models.Layer]:
        return self._relaid(channel_plan(self.base).classifier, self._width_of())


def unpruned_cfg(spec: NetworkSpec) -> PrunedSpec:
    """`spec` as a `PrunedSpec` that keeps every channel."""
    return PrunedSpec(
        spec, tuple((group.name, group.channels) for group in channel_groups(spec) if group.prunable)
    )
