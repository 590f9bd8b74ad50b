"""What every block spec shares: the frozen dataclass (`frozen_spec`), `cost` from the spec's own
fields, and the declaration of its channel roles (`Channels`) that pruning reads."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from lwcnn import checks
from lwcnn.cost import Size


@dataclass(frozen=True)
class BlockCost:
    """Analytical cost of a block at one input size: params, conv+linear MACs, output shape."""

    params: int
    macs: int
    out_channels: int
    out_size: tuple[int, int]

    @property
    def flops(self) -> int:
        """Two FLOPs (a multiply and an add) per multiply-accumulate."""
        return 2 * self.macs


# (params, macs, out_channels, out_height, out_width): what every `_cost` returns
LayerCost = tuple[int, int, int, int, int]


# --- channel roles: which channels of a block are removed together ------------------------------

# A role names a run of channels inside a block: "in" is the block's input, the others are made
# inside it ("out", "expanded", ...). Every tensor of the built module whose dimension runs over a
# role's channels loses the removed ones; channels of one role (or of roles tied together) are
# kept or removed together. `lwcnn.prune` reads nothing else about a block.


@dataclass(frozen=True)
class Part:
    """A sub-layer of a composite block: its module path in the block, its spec, and which of the
    block's roles each of its own roles is."""

    path: str
    spec: Any
    roles: dict[str, str]


@dataclass(frozen=True)
class Channels:
    """How a layer's channels prune, declared by the layer (`spec.channel_roles()`).

    * `fields`: each channel field of the spec and the role whose width it holds (a pruned spec
      is the same spec with these fields narrowed);
    * `new`: the roles this layer makes (each starts its own channel group); `out`: the role of
      its output ("in" for a layer that hands on its input's channels);
    * `tied`: pairs of roles that must keep the same channels (a residual add);
    * `norms`: (role, BatchNorm module path) pairs: the BatchNorms whose |gamma| score a role;
    * `tensors`: (state-dict key, the role of each dimension or None) for every tensor that
      loses channels; tensors not named are copied whole;
    * `activations`: (role, activation) pairs: slimming needs activations that map 0 to 0;
    * `fixed`: (role, reason) pairs for channels that can never be removed;
    * `parts`: the sub-layers of a composite block, each declaring its own channels;
    * `keep`: fields a pruned copy must pin, so that narrowing cannot change the structure.
    """

    fields: dict[str, str]
    new: tuple[str, ...] = ()
    out: str = "out"
    tied: tuple[tuple[str, str], ...] = ()
    norms: tuple[tuple[str, str], ...] = ()
    tensors: tuple[tuple[str, tuple[str | None, ...]], ...] = ()
    activations: tuple[tuple[str, str | None], ...] = ()
    fixed: tuple[tuple[str, str], ...] = ()
    parts: tuple[Part, ...] = ()
    keep: dict[str, Any] = field(default_factory=dict)


def per_channel_tensors(prefix: str, keys: tuple[str, ...], role: str = "in") -> tuple:
    """Per-channel vectors (a BatchNorm's weight, bias and running statistics, PReLU's slopes)."""
    return tuple((f"{prefix}{key}", (role,)) for key in keys)


BATCHNORM_KEYS = ("weight", "bias", "running_mean", "running_var")


class _Trusted(threading.local):
    on = False  # per thread: a widget's render thread never skips another thread's checks


_trusted = _Trusted()


class trusted_fields:  # noqa: N801 - used as a function: `with trusted_fields():`
    """Make specs without running their argument checks, for layouts whose every field follows
    from fields checked already: a network spec's layers, made from its checked table. A table
    of one's own is checked once, layer by layer, when its network spec is made (`check_rows`).
    (A class, not a generator: `cost` enters it once per network, and this is cheaper.)
    """

    def __enter__(self) -> None:
        self.before, _trusted.on = _trusted.on, True

    def __exit__(self, *exc_info: object) -> None:
        _trusted.on = self.before


BOOL_TYPES = ((bool, "bool"), ("bool | None", "None | bool", "Optional[bool]"))  # plain, optional


def switch_fields(fields: tuple[dataclasses.Field, ...]) -> dict[str, bool]:
    """{name: optional} of the fields declared `bool` (optional: `bool | None`), the switches
    `frozen_spec` checks."""
    return {
        f.name: f.type in BOOL_TYPES[1] for f in fields if f.type in BOOL_TYPES[0] or f.type in BOOL_TYPES[1]
    }


def frozen_spec(cls: type | None = None, /, *, kw_only: bool = False, always_check: bool = False) -> Any:
    """`@dataclass(frozen=True)`, with an `__init__` that sets all the fields in one step.

    A frozen dataclass's own `__init__` sets its fields one at a time through
    `object.__setattr__`, which made building a network's layer specs most of `models.cost`'s
    time. This one fills the instance's dict directly, then runs `__post_init__` (the argument
    checks) as before, unless `trusted_fields` is on; everything else (frozen, eq, hash, repr,
    `replace`) is the dataclass's.

    `@frozen_spec(kw_only=True)` makes every field keyword-only, as `dataclass(kw_only=True)`
    (fields after a `KW_ONLY` marker are keyword-only either way); `always_check=True` runs
    `__post_init__` even under `trusted_fields` (the network specs: their checks also store the
    table as a tuple). Before `__post_init__`, each field declared `bool` (or `bool | None`) is
    checked to be one: a TypeError names it.
    """
    if cls is None:  # with options: @frozen_spec(kw_only=True)
        return lambda cls: frozen_spec(cls, kw_only=kw_only, always_check=always_check)
    cls = dataclass(frozen=True, kw_only=kw_only)(cls)
    fields = dataclasses.fields(cls)
    defaults = {f"_{f.name}": f.default for f in fields if f.default is not dataclasses.MISSING}
    if any(f.default_factory is not dataclasses.MISSING or not f.init for f in fields):
        raise TypeError(f"{cls.__name__}: frozen_spec takes plain fields with plain defaults")

    def argument(f: dataclasses.Field) -> str:
        return f"{f.name}=_{f.name}" if f"_{f.name}" in defaults else f.name

    # as the dataclass orders them: the positional fields, then the keyword-only ones
    keywords = [argument(f) for f in fields if f.kw_only]
    arguments = ", ".join(
        [argument(f) for f in fields if not f.kw_only] + (["*", *keywords] if keywords else [])
    )
    # item by item into the instance's own dict: cheaper than a new dict, or a setattr per field
    values = "".join(f"\n    fields[{f.name!r}] = {f.name}" for f in fields)
    # a field declared bool takes True or False only: a truthy "no" must not switch a part on
    checks_ = "".join(
        f"\n    if {name} is not None and type({name}) is not bool: _check_bool({name!r}, {name}, True)"
        if optional
        else f"\n    if type({name}) is not bool: _check_bool({name!r}, {name})"
        for name, optional in switch_fields(fields).items()
    )
    if hasattr(cls, "__post_init__"):
        checks_ += "\n    self.__post_init__()"
    if checks_ and not always_check:
        checks_ = "\n    if not _trusted.on:" + checks_.replace("\n    ", "\n        ")
    source = f"def __init__(self, {arguments}):\n    fields = self.__dict__{values}{checks_}"
    namespace: dict = {}
    exec(source, {"_trusted": _trusted, "_check_bool": checks.check_bool, **defaults}, namespace)  # noqa: S102 - fixed template
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init
    return cls


def chain_cost(layers, height: int, width: int) -> LayerCost:
    """Layer specs costed one after another, each on the map the previous one made."""
    params = macs = channels = 0
    for layer in layers:
        step_params, step_macs, channels, height, width = layer._cost(height, width)
        params += step_params
        macs += step_macs
    return params, macs, channels, height, width


class BlockSpec:
    """What the block specs share: argument checks, `cost` and `output_shape`.

    A spec writes `_cost(height, width)` from its own fields, which were checked when it was
    made, so it only does arithmetic. By default that is its `layers()` costed in turn.
    """

    def _positive(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            if type(value) is not int or value < 1:  # the common case costs one test
                checks.check_int(name, value)

    def _cost(self, height: int, width: int) -> LayerCost:
        """The `layers()` costed in turn (a block with branches or a closed form overrides it)."""
        return chain_cost(self.layers(), height, width)

    def channel_roles(self) -> Channels | None:
        """How this layer's channels prune (`Channels`); None: it cannot be pruned through."""
        return None

    def cost(self, input_size: Size) -> BlockCost:
        """Parameters, conv+linear multiply-adds and output shape at `input_size` (int or (h, w))."""
        height, width = checks.check_pair("input_size", input_size)
        params, macs, channels, out_height, out_width = self._cost(height, width)
        return BlockCost(params, macs, channels, (out_height, out_width))

    def output_shape(self, input_size: Size) -> tuple[int, int, int]:
        """(channels, height, width) of the block's output for an input of `input_size`."""
        result = self.cost(input_size)
        return (result.out_channels, *result.out_size)


class SameChannels(BlockSpec):
    """A spec that hands on as many channels as it gets (`channels`): SE, pooling, dropout, norms."""

    channels: int

    in_channels = out_channels = property(attrgetter("channels"), doc="`channels`, in and out")
