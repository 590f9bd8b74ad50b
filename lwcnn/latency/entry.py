"""One row of a latency lookup table: its key and its times, and a table's calibration.

An entry is keyed by `entry_key`, the one place the key is built: `block_key(spec)` (the spec's
class and non-default fields, e.g.
`InvertedResidual(in_channels=16, out_channels=24, expanded_channels=96, stride=2)`), the input
shape without the batch, the batch, the device label and the thread count. `Entry` holds a
block's times alone and in context (`context.py` says why both), `Calibration` the scale a
table's in-context sum is multiplied by (fitted on networks measured whole, FBNet's sum alone
under-predicts).

    >>> from lwcnn.blocks import InvertedResidual
    >>> entry_key(InvertedResidual(16, 24, 96, stride=2), (1, 16, 32, 32), "AMD EPYC", 1)[1:]
    ((16, 32, 32), 1, 'AMD EPYC', 1)
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lwcnn import checks

STATISTICS = ("p25", "median")  # of the single calls: lower quartile (the default) or median


def block_key(spec: Any) -> str:
    """A stable, readable text key of a block spec: its class and the fields that are not defaults.

    Required fields are always written, defaulted ones only when they differ, so a field added
    later with a default does not change old keys. No memory addresses, no hashing: the same
    spec gives the same key in every process.

    >>> from lwcnn.blocks import InvertedResidual
    >>> block_key(InvertedResidual(16, 24, 96, stride=2))
    'InvertedResidual(in_channels=16, out_channels=24, expanded_channels=96, stride=2)'
    """
    if not dataclasses.is_dataclass(spec) or isinstance(spec, type):
        raise ValueError(f"spec must be a block spec (a dataclass instance), got {type(spec).__name__}")
    kinds = _numeric_kinds(type(spec))
    parts = []
    for field in dataclasses.fields(spec):
        kind = kinds.get(field.name)
        value, default = _as_declared(getattr(spec, field.name), kind), _as_declared(field.default, kind)
        is_default = default is not dataclasses.MISSING and value == default and type(value) is type(default)
        if field.repr and not is_default:
            parts.append(f"{field.name}={value!r}")
    return f"{type(spec).__name__}({', '.join(parts)})"


@functools.cache
def _numeric_kinds(spec_type: type) -> dict[str, type]:
    """{field: float, int or bool} for the fields a spec class declares as one of those numbers
    (or as it or None)."""
    kinds = {}
    for name, hint in typing.get_type_hints(spec_type).items():
        options = set(typing.get_args(hint)) - {type(None)} or {hint}
        if len(options) == 1 and (kind := options.pop()) in (float, int, bool):
            kinds[name] = kind
    return kinds


def _as_declared(value: Any, kind: type | None) -> Any:
    """`value` as the number type its field declares, where it equals it: `p=0` in a float field
    is written `p=0.0`, so two specs that compare equal share one key."""
    if kind is None or isinstance(value, bool) and kind is bool or type(value) not in (int, float, bool):
        return value
    converted = kind(value)
    return converted if converted == value else value


def entry_key(spec: Any, shape: Sequence[int], device: str, threads: int) -> tuple:
    """The key of a table entry: the block's key, its input shape without the batch, the batch,
    the device label and the thread count (what `Entry.key` holds)."""
    return (block_key(spec), tuple(shape[1:]), shape[0], device, threads)


@dataclass(frozen=True)
class Entry:
    """One row of a latency table: a block at one input shape on one device, and its latencies.

    Alone: the block called again and again, the plain FBNet number; its weights, buffers and
    code stay hot in the caches. In context: one call at a time between calls of other blocks,
    its input freshly written, as in a network (see the module docstring).
    """

    block: str  # the spec's `block_key`, e.g. "ConvBNAct(in_channels=16, out_channels=32)"
    input_shape: tuple[int, ...]  # without the batch dimension, e.g. (16, 32, 32)
    batch: int
    device: str  # `device_label`, e.g. "AMD EPYC"
    threads: int  # torch's intra-op threads
    median_ms: float  # alone: median, lower quartile and interquartile range of single calls
    p25_ms: float
    iqr_ms: float
    context_median_ms: float  # in context: the same statistics
    context_p25_ms: float
    context_iqr_ms: float
    runs: int  # calls timed alone
    context_runs: int  # calls timed in context
    ops: int = 0  # aten operations in one call
    weight_bytes: int = 0  # what its weights and buffers hold
    activation_bytes: int = 0  # what its operations write
    params: int = 0
    macs: int = 0

    @property
    def key(self) -> tuple[str, tuple[int, ...], int, str, int]:
        return (self.block, self.input_shape, self.batch, self.device, self.threads)

    def alone_ms(self, statistic: str = "p25") -> float:
        return self.p25_ms if check_statistic(statistic) == "p25" else self.median_ms

    def context_ms(self, statistic: str = "p25") -> float:
        return self.context_p25_ms if check_statistic(statistic) == "p25" else self.context_median_ms


@dataclass(frozen=True)
class Calibration:
    """What a table's sums still miss, fitted on networks measured whole: predicted =
    `scale * (plain + share * (context - plain))` (`LatencyTable.calibrate` says why), for one
    `statistic`, at the input size `resolution`
    (height, width; None: fitted at no stated size, as in tables written before sizes were told
    apart); `fitted_on` says which networks (never the ones a benchmark evaluates on),
    `mape_percent` how well it fits them."""

    scale: float = 1.0
    statistic: str = "p25"
    networks: int = 0
    mape_percent: float = 0.0
    fitted_on: str = ""
    resolution: tuple[int, int] | None = None
    # of the in-context excess a network pays: predicted = scale * (plain + share * excess)
    share: float = 1.0


def check_statistic(statistic: Any) -> str:
    """'p25' (the lower quartile of single calls) or 'median'."""
    return checks.check_choice("statistic", statistic, STATISTICS)
