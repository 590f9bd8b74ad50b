"""What every network spec shares: named stages of layer specs, one `build`, one `cost`.

A network spec is a frozen dataclass holding its paper's table; `_make_stages()` and
`_make_classifier()` turn the table into layer specs, and everything else (`stages()`,
`build()`, `cost()`, pruning, drawing) reads those. The helpers at the end are shared by the
tables of several families."""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from torch import nn

from lwcnn import checks
from lwcnn.blocks.spec import frozen_spec, trusted_fields
from lwcnn.cost import Size
from lwcnn.models.layers import Dropout, Flatten, Linear


@frozen_spec
class Stage:
    """A named run of layer specs applied one after another (a row group of the paper's table)."""

    name: str
    layers: tuple[Any, ...]


@frozen_spec
class StageCost:
    """Params and conv+linear MACs of one stage, and the shape it hands on."""

    name: str
    params: int
    macs: int
    out_channels: int
    out_size: tuple[int, int]


@frozen_spec
class NetworkCost:
    """A network's params and conv+linear MACs at one input size, stage by stage.

    `stages` ends with the "classifier" (everything after the global average pooling).
    """

    input_size: tuple[int, int]
    params: int
    macs: int
    stages: tuple[StageCost, ...]

    @property
    def flops(self) -> int:
        """Two FLOPs (a multiply and an add) per multiply-accumulate."""
        return 2 * self.macs

    def stage(self, name: str) -> StageCost:
        """The row of stage `name`."""
        for row in self.stages:
            if row.name == name:
                return row
        raise ValueError(f"no stage {name!r}; stages: {', '.join(row.name for row in self.stages)}")

    def table(self) -> str:
        """A fixed-width table: one line per stage, then the total."""
        lines = [f"{'stage':<12}{'output':>14}{'params':>14}{'MACs':>16}"]
        for row in self.stages:
            shape = f"{row.out_channels}x{row.out_size[0]}x{row.out_size[1]}"
            lines.append(f"{row.name:<12}{shape:>14}{row.params:>14,}{row.macs:>16,}")
        size = f"{self.input_size[0]}x{self.input_size[1]}"
        lines.append(f"{'total':<12}{size:>14}{self.params:>14,}{self.macs:>16,}")
        return "\n".join(lines)


NO_SE = 0  # squeeze_channels of a block without squeeze-and-excite
SMALL_INPUT_NORM_MOMENTUM = 0.1  # BatchNorm momentum of every `small_input=True` network

# A layer of a network is a spec (a block or one of the layers above); a stage is named.
Layer = Any
StageLayers = tuple[str, Sequence[Layer]]  # (stage name, its layers)


class NetworkSpec:
    """What every network spec shares.

    A subclass is a frozen dataclass with the fields `num_classes`, `in_channels` and
    `resolution`, and writes from its table `_make_stages()`, the feature extractor as
    (stage name, layers) pairs, and `_make_classifier()`, the layers after global average
    pooling, each layer a spec (`InvertedResidual(...)`, `Linear(...)`), whose constructor checks
    its arguments. `stages()`, `build` and `cost` all read that one layout: `cost` sums each
    layer's own cost, stage by stage.
    """

    norm_eps: ClassVar[float] = 1e-5  # BatchNorm settings of the reference implementation
    norm_momentum: ClassVar[float] = 0.1
    num_classes: int
    in_channels: int
    resolution: int | None

    def _make_stages(self) -> list[StageLayers]:  # pragma: no cover - every spec overrides
        raise NotImplementedError

    def _make_classifier(self) -> list[Layer]:  # pragma: no cover - every spec overrides
        raise NotImplementedError

    # what a subclass declares for the checks below: its table's row type, the fields with a
    # fixed set of values (e.g. {"variant": MOBILENET_V3_TABLES})
    row_type: ClassVar[type | None] = None
    choices: ClassVar[dict[str, Any]] = {}

    def __post_init__(self) -> None:
        """The checks every network shares, from its fields: counts, sizes, multipliers, choices,
        then the table (`check_rows`, which also makes the layer specs once)."""
        checks.check_int("num_classes", self.num_classes)
        checks.check_int("in_channels", self.in_channels)
        if self.resolution is not None:
            checks.check_int("resolution", self.resolution)
        fields = self.__dataclass_fields__
        if "dropout" in fields:  # not hasattr: a missing attribute raises and catches an error
            checks.check_probability("dropout", self.dropout)
        for name in ("width_multiplier", "depth_multiplier"):
            if name in fields and name not in self.choices:
                checks.check_positive_number(name, getattr(self, name))
        for name in ("divisor", "stem_channels"):
            if name in fields:
                checks.check_int(name, getattr(self, name))
        for name, allowed in self.choices.items():
            checks.check_choice(name, getattr(self, name), allowed)
        if self.row_type is not None:
            check_rows(self, "table", self.row_type)

    @property
    def default_resolution(self) -> int:
        """The input size the network was designed for (224; 32 for small-input variants)."""
        return 32 if getattr(self, "small_input", False) else 224

    @property
    def input_resolution(self) -> int:
        """`resolution` if given, else `default_resolution`: the size `cost()` uses by default."""
        return self.default_resolution if self.resolution is None else self.resolution

    def stages(self) -> tuple[Stage, ...]:
        """The feature extractor as named stages of layer specs (made once per spec)."""
        return _specs(self)[0]

    def classifier(self) -> tuple[Any, ...]:
        """The layers after global average pooling, as layer specs."""
        return _specs(self)[1]

    def build(self) -> nn.Sequential:
        """The module: `features` (one nn.Sequential per stage) -> `avgpool` -> `classifier`.

        BatchNorm gets the reference implementation's eps and momentum (0.1 for small-input
        variants, see `batchnorm_momentum`); weights start as in torchvision's MobileNets (Kaiming-normal fan-out convs, BN at 1/0, linear N(0, 0.01)).
        """
        features = OrderedDict(
            (stage.name, nn.Sequential(*(layer.build() for layer in stage.layers))) for stage in self.stages()
        )
        model = nn.Sequential(
            OrderedDict(
                features=nn.Sequential(features),
                avgpool=nn.AdaptiveAvgPool2d(1),
                classifier=nn.Sequential(*(layer.build() for layer in self.classifier())),
            )
        )
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
                module.eps, module.momentum = self.norm_eps, self.batchnorm_momentum
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        model.spec = self  # what it was built from: lwcnn.prune reads it to find the channel groups
        return model

    @property
    def batchnorm_momentum(self) -> float:
        """BatchNorm's running-statistics momentum for `build`: `norm_momentum` (the reference
        implementation's), except 0.1 (PyTorch's default) for `small_input` variants.

        The reference values suit ImageNet runs of 100k+ steps: at MobileNetV3's 0.01 the running
        statistics of a few-epoch digits or CIFAR run still remember the random init, and the
        model evaluates at chance although it trains well.
        """
        return SMALL_INPUT_NORM_MOMENTUM if getattr(self, "small_input", False) else self.norm_momentum

    def cost(self, resolution: Size | None = None) -> NetworkCost:
        """Params and conv+linear MACs per stage at `resolution` (default `input_resolution`).

        Pure integer arithmetic: each layer spec's own cost, no module made. Cached per
        (spec, size), which is safe because specs are frozen.
        """
        size = checks.check_pair("resolution", self.input_resolution if resolution is None else resolution)
        return _network_cost(self, size)


@frozen_spec(kw_only=True, always_check=True)
class ScaledNetwork(NetworkSpec):
    """A zoo family that scales by width and input size: the options every such family takes,
    by name (`MobileNetV2(width_multiplier=0.5)`); a family adds its own after them."""

    width_multiplier: float = 1.0  # every layer's width times this, rounded as the family rounds
    resolution: int | None = None  # the input's side; None: the family's own (`input_resolution`)
    num_classes: int = 1000
    in_channels: int = 3


def _layout(spec: NetworkSpec) -> tuple[tuple[Stage, ...], tuple[Any, ...]]:
    """The spec's stages of layer specs, and its classifier."""
    made = tuple(Stage(name, tuple(layers)) for name, layers in spec._make_stages())
    return made, tuple(spec._make_classifier())


def _trusted_layout(spec: NetworkSpec) -> tuple[tuple[Stage, ...], tuple[Any, ...]]:
    """The spec's layout with its layer specs made unchecked: their fields follow from the
    network's own, checked when it was made (a table of one's own layer by layer, in
    `check_rows`), and checking them again was most of a new architecture's cost."""
    with trusted_fields():
        return _layout(spec)


@functools.lru_cache(maxsize=1024)
def _specs(spec: NetworkSpec) -> tuple[tuple[Stage, ...], tuple[Any, ...]]:
    """The spec's layout, made once (for `stages()`, `classifier()` and `build`)."""
    return _trusted_layout(spec)


@functools.lru_cache(maxsize=4096)
def _network_cost(spec: NetworkSpec, input_size: tuple[int, int]) -> NetworkCost:
    """Each layer spec's cost on the map the layer before it made, summed per stage."""
    channels, (height, width) = spec.in_channels, input_size
    rows, total_params, total_macs = [], 0, 0
    # Made afresh, not taken from `_specs`'s cache: layouts kept alive for every size asked would cost
    # more in garbage collection than making them again. Unchecked, like the sub-layers a block's
    # `_cost` makes from its own fields: all follow from fields checked already.
    with trusted_fields():
        layout = [*spec._make_stages(), ("classifier", spec._make_classifier())]
        for name, layers in layout:
            if name == "classifier":  # after the global average pooling: on the pooled 1x1 map
                height = width = 1
            params = macs = 0
            last = last_size = step = None  # a block repeated in place costs what it cost before
            for layer in layers:
                if layer.in_channels != channels:
                    raise ValueError(
                        f"{name}: {type(layer).__name__} expects {layer.in_channels} channels, gets {channels}"
                    )
                if layer is not last or last_size != (height, width):  # not the same spec on the same map
                    last, last_size, step = layer, (height, width), layer._cost(height, width)
                step_params, step_macs, channels, height, width = step
                params += step_params
                macs += step_macs
            size = (height, width)
            rows.append(StageCost(name, params, macs, channels, size))
            total_params += params
            total_macs += macs
    return NetworkCost(input_size, total_params, total_macs, tuple(rows))


def clear_cost_caches() -> None:
    """Forget every cached layer spec and cost (for timing cold calls)."""
    for cached in (_specs, _network_cost):
        cached.cache_clear()


# --- helpers shared by the tables -----------------------------------------------------------------


def check_rows(spec: Any, name: str, row_type: type) -> None:
    """Store the table field as a tuple of `row_type` (so plain tuples or lists work too).

    Call it last in `__post_init__`. A table other than the default (the paper's) is checked:
    its channel counts and repeats here, everything else by making the network's layer specs
    once, whose constructors check their arguments; the layout then trusts them (`_trusted_layout`).
    """
    rows = getattr(spec, name)
    if rows is None or rows is spec.__dataclass_fields__[name].default:
        return
    try:
        converted = tuple(row if isinstance(row, row_type) else row_type(*row) for row in rows)
    except TypeError as error:
        raise ValueError(f"{name}: every row must be a {row_type.__name__} {row_type._fields}") from error
    if not converted:
        raise ValueError(f"{name} must hold at least one row")
    for index, row in enumerate(converted):
        for field_name, value in zip(row._fields, row, strict=True):
            if field_name.endswith("channels"):
                checks.check_positive_number(f"{name}[{index}].{field_name}", value)
            elif field_name == "repeats":
                checks.check_int(f"{name}[{index}].repeats", value, minimum=0)
    object.__setattr__(spec, name, converted)
    _layout(spec)  # every layer spec made with its checks on


def without_first_stride(rows: Sequence[Any]) -> tuple[Any, ...]:
    """The rows with the first stride-2 row made stride 1 (the CIFAR-style small-input change)."""
    rows = list(rows)
    for index, row in enumerate(rows):
        if row.stride > 1:
            rows[index] = row._replace(stride=1)
            break
    return tuple(rows)


def numbered_stages(groups: Iterable[Sequence[Layer]], first: int = 1) -> list[StageLayers]:
    return [(f"stage{index}", group) for index, group in enumerate(groups, first)]


def repeated_rows(
    spec: Any, rows: Iterable[Any], channels: int, depth: float = 1.0, first_index: int = 1
) -> tuple[list[StageLayers], int]:
    """One stage per row of `n` repeated blocks (the t, c, n, s rows of MobileNetV2, MnasNet and
    EfficientNet; `ceil(n * depth)` blocks with a depth multiplier): `spec._block(row, M, c', s)`
    first, then the block c' -> c' at stride 1, one layer `n - 1` times over. Returns the stages
    and the channels they end with."""
    stages = []
    for index, row in enumerate(rows, first_index):
        count = row.repeats if depth == 1 else math.ceil(row.repeats * depth)
        out, blocks = spec._width(row.out_channels), []
        if count > 0:
            blocks.append(spec._block(row, channels, out, row.stride))
            channels = out
        if count > 1:
            blocks += [spec._block(row, out, out, 1)] * (count - 1)
        stages.append((f"stage{index}", blocks))
    return stages, channels


def dropout_classifier(channels: int, dropout: float, num_classes: int) -> list[Layer]:
    """Flatten, dropout, linear: the classifier of MobileNetV2, MnasNet, EfficientNet, GhostNet."""
    return [
        Flatten(channels),
        Dropout(channels, dropout),
        Linear(channels, num_classes),
    ]
