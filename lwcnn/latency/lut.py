"""Latency lookup tables (FBNet): a network's latency as the sum of its blocks' latencies.

FBNet predicts `LAT(net) = sum over layers of LAT(block)` from a per-device table of measured
blocks, so that a search can price many networks without running one:

    >>> table = LatencyTable.build(network_blocks(network), threads=1)  # doctest: +SKIP
    >>> table.predict(network).latency_ms  # doctest: +SKIP
    >>> table.save(DATA_DIR / f"{device_slug()}.lut.csv")  # doctest: +SKIP

An entry is keyed by `block_key(spec)` (the spec's class and non-default fields, e.g.
`InvertedResidual(in_channels=16, out_channels=24, expanded_channels=96, stride=2)`), the input
shape, batch, device (`device_label`) and threads. The stem, head, global pooling, every
classifier layer and the `nn.Sequential` calls around the blocks (`Container`) are entries too.

What a plain sum misses (2-core AMD EPYC VM, 1 thread, batch 1, MobileNetV2/V3-style networks at
32x32; `benchmarks/lut_accuracy.py` and the experiments behind lesson 07):

* Summing blocks timed alone, call after call, under-predicts every network: by 18-19% (lower
  quartiles) or 12-17% (medians) in the final runs, 30 of 30 networks each time.
* It is not the glue between blocks. Timed inside the network (forward hooks), the blocks add up
  to the network's time (mean -0.6%, worst -8.5%, 20 networks); an `nn.Sequential` call costs
  about 4 us in context, 9 of them about 0.04 ms (<1%).
* The blocks themselves are slower inside a network. Alone, a block keeps its weights, its
  buffers, and the Python objects and machine code of its forward pass hot in the caches; in a
  network the other blocks push them out before it runs again. Median per call, alone -> in the
  network: Flatten 3 -> 19 us, Dropout 5 -> 28 us, pooling 17 -> 43 us, ConvBNAct
  142 -> 193 us, inverted residual 573 -> 659 us (+14%), a 768->1280 Linear (3.9 MB of weights)
  0.11 -> 0.47 ms.
* Two causes, told apart by experiment: Flatten (it touches no data) takes 24 us after 16 other
  tiny blocks ran (code and interpreter state evicted, hardly any data) and 20 us after reading a
  16 MB buffer; a 576->1024 Linear (2.4 MB) goes from 66 us to 200 us after that read: its
  weights now stream from memory at ~12 GB/s. Evicting only the 512 KB L2 changes nothing;
  evicting everything (writing 64 MB) over-shoots by ~90%.

The model: time each block the way a network runs it (`measure_blocks`). Blocks are dealt into
groups of `CONTEXT_GROUP` = 16 (a network's worth) and each group is run like a network, pass
after pass, one call per block, its input re-written just before (its predecessor in a network
has just written it). Cycling through all 389 blocks of a table instead, one call each per
cycle, fitted networks less well (up to 15% off on six networks where network-sized groups
stayed under 10%). The sum of the in-context times and the container calls predicted the 30
networks to 3.7-5.1% MAPE; one scale fitted on 20 *other* networks measured whole (`calibrate`,
0.97-0.98, saved with the table) brought it to 2.9-4.0% (three runs).

Noise: every time is a statistic of single calls, by default the lower quartile (`p25`; the
median is kept beside it). Other programs only ever add time, so the lower quartile is the more
reproducible on a shared machine: timing the same networks in two halves of one run, the halves
differed by 4.4% (lower quartiles) vs 6.2% (medians), and by 6.5% vs 9.1% with fewer, longer
timing windows; with medians the model's error was 3.7-4.7% in the final runs. Measure the
table and the networks in the same session on a quiet machine; re-measure on another device.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import platform
import random
import re
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from tqdm.auto import tqdm

import lwcnn
from lwcnn import checks
from lwcnn import cost as C
from lwcnn.blocks import BlockCost
from lwcnn.latency import DEVICES, device_name

DATA_DIR = Path(lwcnn.__file__).resolve().parent.parent / "data" / "latency"
TABLE_SUFFIX = ".lut.csv"  # a lookup table; `<slug>.csv` beside it is the lessons' recorded table
FORMAT, VERSION = "lwcnn-latency-table", 1
STATISTICS = ("p25", "median")  # of the single calls: lower quartile (the default) or median
CONTEXT_GROUP = 16  # blocks timed together in context: about one network's worth
COLUMNS = (
    "block",
    "input_shape",
    "batch",
    "device",
    "threads",
    "median_ms",
    "p25_ms",
    "iqr_ms",
    "context_median_ms",
    "context_p25_ms",
    "context_iqr_ms",
    "runs",
    "context_runs",
    "ops",
    "weight_bytes",
    "activation_bytes",
    "params",
    "macs",
)


# --- keys: a block spec as a stable text, a device as a file name ------------------------------------


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
    parts = []
    for field in dataclasses.fields(spec):
        value, default = getattr(spec, field.name), field.default
        is_default = default is not dataclasses.MISSING and value == default and type(value) is type(default)
        if field.repr and not is_default:
            parts.append(f"{field.name}={value!r}")
    return f"{type(spec).__name__}({', '.join(parts)})"


def entry_key(spec: Any, shape: Sequence[int], device: str, threads: int) -> tuple:
    """The key of a table entry: the block's key, its input shape without the batch, the batch,
    the device label and the thread count (what `Entry.key` holds)."""
    return (block_key(spec), tuple(shape[1:]), shape[0], device, threads)


def device_label(device: str = "cpu") -> str:
    """The device's readable name without the thread count, e.g. 'AMD EPYC' or 'NVIDIA H100 80GB HBM3'."""
    _check_device(device)
    return re.sub(r"\s*\(\d+ threads?\)$", "", device_name(device)).strip() or platform.machine()


def device_slug(device: str = "cpu") -> str:
    """`device_label` as a file name: lower case, other characters runs of '-' ('amd-epyc')."""
    return _slug(device_label(device))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "device"


# --- the layers of a network ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GlobalAvgPool:
    """The global average pooling between a network's features and its classifier."""

    channels: int

    in_channels = out_channels = property(lambda self: self.channels)

    def build(self) -> nn.AdaptiveAvgPool2d:
        return nn.AdaptiveAvgPool2d(1)

    def cost(self, input_size: C.Size) -> BlockCost:
        checks.check_pair("input_size", input_size)
        return BlockCost(0, 0, self.channels, (1, 1))


@dataclass(frozen=True)
class Container:
    """One call of an empty `nn.Sequential`: what each container level of a network adds."""

    def build(self) -> nn.Sequential:
        return nn.Sequential()

    def cost(self, input_size: C.Size) -> BlockCost:
        return BlockCost(0, 0, 1, checks.check_pair("input_size", input_size))


CONTAINER_SHAPE = (1,)  # a container's time does not depend on its input; this is its shape key


@dataclass(frozen=True)
class Layer:
    """One module call of a network: where it sits, its spec and the shape it receives (batch first)."""

    stage: str
    spec: Any
    input_shape: tuple[int, ...]


def network_layers(network: Any, resolution: C.Size | None = None, batch_size: int = 1) -> list[Layer]:
    """Every block a network calls, in order, with its input shape: the stages' blocks (stem and
    head included), the global average pooling and each classifier layer.

    `network` is a `lwcnn.models` spec (with `stages()` and `classifier()`) or a `SmallMobileNet`;
    `resolution` defaults to the spec's `input_resolution` (32 for a SmallMobileNet).
    """
    _check_positive_int("batch_size", batch_size)
    if callable(getattr(network, "stages", None)) and callable(getattr(network, "classifier", None)):
        stages = [(stage.name, stage.layers) for stage in network.stages()]
        classifier, default = list(network.classifier()), network.input_resolution
    elif callable(getattr(network, "layers", None)) and hasattr(network, "feature_channels"):
        from lwcnn.models import Flatten, Linear  # SmallMobileNet: features, pool, flatten, linear

        width = network.feature_channels
        stages, default = [("features", network.layers())], 32
        classifier = [Flatten(width), Linear(width, network.num_classes)]
    else:
        raise ValueError(
            f"network must be a lwcnn.models network spec (with stages() and classifier()), "
            f"got {type(network).__name__}"
        )
    size = _size("resolution", default if resolution is None else resolution)
    channels, layers = network.in_channels, []
    for name, stage_layers in stages:
        for spec in stage_layers:
            layers.append(Layer(name, spec, (batch_size, channels, *size)))
            step = spec.cost(size)
            channels, size = step.out_channels, step.out_size
    layers.append(Layer("avgpool", GlobalAvgPool(channels), (batch_size, channels, *size)))
    shape: tuple[int, ...] = (batch_size, channels, 1, 1)
    for spec in classifier:
        layers.append(Layer("classifier", spec, shape))
        if type(spec).__name__ == "Flatten":
            shape = (batch_size, shape[1])
        elif type(spec).__name__ == "Linear":
            shape = (batch_size, spec.out_features)
        elif len(shape) == 4:  # a 1x1 conv on the pooled map (GhostNet's conv_head)
            shape = (batch_size, spec.out_channels, 1, 1)
    return layers


def network_blocks(
    network: Any, resolution: C.Size | None = None, batch_size: int = 1
) -> list[tuple[Any, tuple[int, ...]]]:
    """The (block spec, input shape) pairs a table needs to predict `network`: each layer of
    `network_layers` and the container, once each.

    >>> from lwcnn.models import spec
    >>> len(network_blocks(spec("mobilenet_v3_small"), resolution=96))  # 2 repeated blocks once
    18
    """
    pairs = [(layer.spec, layer.input_shape) for layer in network_layers(network, resolution, batch_size)]
    return list(dict.fromkeys([*pairs, (Container(), (batch_size, *CONTAINER_SHAPE))]))


def _containers(network: Any) -> int:
    """nn.Sequential calls around the blocks: the model, `features`, one per stage and the
    classifier (`NetworkSpec.build`); a SmallMobileNet: the model and `features`."""
    return 3 + len(network.stages()) if callable(getattr(network, "stages", None)) else 2


# --- timing ----------------------------------------------------------------------------------------------


def time_calls(module: nn.Module, x: torch.Tensor, calls: int, device: str = "cpu") -> list[float]:
    """Seconds of each of `calls` forward passes, timed one by one (CUDA-synchronised on a GPU)."""
    times = []
    for _ in range(calls):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        module(x)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


def summarize_ms(times_s: Sequence[float]) -> dict[str, float]:
    """{'p25', 'median', 'iqr'} of per-call times (seconds in, milliseconds out).

    The lower quartile `p25` is what a table predicts with by default: other programs only ever
    add time, so it is the more reproducible on a shared machine (see the module docstring).
    """
    if not times_s:
        raise ValueError("times_s is empty")
    if len(times_s) == 1:
        return {"p25": times_s[0] * 1e3, "median": times_s[0] * 1e3, "iqr": 0.0}
    q1, q2, q3 = statistics.quantiles(times_s, n=4)
    return {"p25": q1 * 1e3, "median": q2 * 1e3, "iqr": (q3 - q1) * 1e3}


class _OpCounter(TorchDispatchMode):
    """Counts the aten operations a forward pass runs and the bytes of the tensors they return."""

    def __init__(self) -> None:
        super().__init__()
        self.ops = self.output_bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.ops += 1
        for tensor in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(tensor, torch.Tensor):
                self.output_bytes += tensor.numel() * tensor.element_size()
        return out


def count_ops(module: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """(aten operations, bytes of their outputs) of one forward pass of `module` on `x`."""
    with torch.no_grad(), _OpCounter() as counter:
        module(x)
    return counter.ops, counter.output_bytes


# --- entries and predictions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One row of a latency table: a block at one input shape on one device, and its latencies.

    Alone (`median_ms`, `p25_ms`, `iqr_ms`; `runs` calls): the block called again and again,
    the plain FBNet number; its weights, buffers and code stay hot in the caches. In context
    (`context_*`; `context_runs` calls): one call at a time between calls of other blocks, its
    input freshly written, as in a network (see the module docstring). `ops` (aten operations),
    the bytes its weights hold and its operations write, params and MACs describe the block.
    """

    block: str
    input_shape: tuple[int, ...]  # without the batch dimension, e.g. (16, 32, 32)
    batch: int
    device: str
    threads: int
    median_ms: float
    p25_ms: float
    iqr_ms: float
    context_median_ms: float
    context_p25_ms: float
    context_iqr_ms: float
    runs: int
    context_runs: int
    ops: int = 0
    weight_bytes: int = 0
    activation_bytes: int = 0
    params: int = 0
    macs: int = 0

    @property
    def key(self) -> tuple[str, tuple[int, ...], int, str, int]:
        return (self.block, self.input_shape, self.batch, self.device, self.threads)

    def alone_ms(self, statistic: str = "p25") -> float:
        return self.p25_ms if _check_statistic(statistic) == "p25" else self.median_ms

    def context_ms(self, statistic: str = "p25") -> float:
        return self.context_p25_ms if _check_statistic(statistic) == "p25" else self.context_median_ms


@dataclass(frozen=True)
class Calibration:
    """What a table's context sum still misses, fitted on networks measured whole:
    predicted = `scale` * context sum, for one `statistic`; `fitted_on` says which networks
    (never the ones a benchmark evaluates on), `mape_percent` how well it fits them."""

    scale: float = 1.0
    statistic: str = "p25"
    networks: int = 0
    mape_percent: float = 0.0
    fitted_on: str = ""


@dataclass(frozen=True)
class PredictedLayer:
    """One row of a prediction: a layer of the network and its entry's times."""

    stage: str
    block: str
    input_shape: tuple[int, ...]
    alone_ms: float
    context_ms: float


@dataclass(frozen=True)
class Prediction:
    """A network's predicted latency and where it comes from, layer by layer.

    `plain_ms`: the sum of the blocks timed alone (FBNet's assumption; an under-estimate here).
    `context_ms`: the sum of the blocks timed in context plus the `containers` nn.Sequential
    calls around them. `latency_ms`: the model, `scale * context_ms` (the device's calibration).
    """

    latency_ms: float
    plain_ms: float
    context_ms: float
    scale: float
    statistic: str
    containers: int
    container_ms: float
    layers: tuple[PredictedLayer, ...]
    device: str
    threads: int
    batch_size: int

    def by_stage(self) -> dict[str, float]:
        """In-context milliseconds per stage (stem, stage1, ..., head, avgpool, classifier)."""
        totals: dict[str, float] = {}
        for layer in self.layers:
            totals[layer.stage] = totals.get(layer.stage, 0.0) + layer.context_ms
        return totals

    def table(self) -> str:
        """A fixed-width table: one line per layer (alone and in context), then the totals."""
        lines = [f"{'stage':<11}{'input':>14}{'alone ms':>10}{'context ms':>12}  block"]
        for row in self.layers:
            shape = "x".join(map(str, row.input_shape))
            lines.append(
                f"{row.stage:<11}{shape:>14}{row.alone_ms:>10.3f}{row.context_ms:>12.3f}  {row.block}"
            )
        glue = self.containers * self.container_ms
        lines.append(f"{'containers':<11}{self.containers:>14}{'':>10}{glue:>12.3f}  nn.Sequential calls")
        lines.append(f"{'sum':<11}{'':>14}{self.plain_ms:>10.3f}{self.context_ms:>12.3f}")
        lines.append(f"{'predicted':<11}{f'x {self.scale:.3f}':>14}{'':>10}{self.latency_ms:>12.3f}")
        return "\n".join(lines)


# --- the table ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Job:
    """A block being measured: its module, its input and a pristine copy, calls per round."""

    spec: Any
    shape: tuple[int, ...]
    module: nn.Module
    x: torch.Tensor
    pristine: torch.Tensor
    calls: int = 3
    ops: int = 0
    output_bytes: int = 0


def _make_job(spec: Any, shape: tuple[int, ...], device: str) -> _Job:
    module = spec.build().eval().to(device)
    x = torch.randn(*shape, device=device)
    job = _Job(spec, shape, module, x, x.clone())
    job.ops, job.output_bytes = count_ops(module, x)
    return job


class LatencyTable:
    """A per-block latency lookup table (FBNet), keyed by (block, input shape, batch, device, threads).

    `statistic` ('p25' or 'median') is the one `predict` and `calibrate` use unless told.

    >>> from lwcnn.models import spec
    >>> network = spec("mobilenet_v3_small", num_classes=10, small_input=True)
    >>> table = LatencyTable.build(network_blocks(network), threads=1)  # doctest: +SKIP
    >>> prediction = table.predict(network)  # doctest: +SKIP
    >>> prediction.plain_ms, prediction.latency_ms  # alone vs in context  # doctest: +SKIP
    (6.0, 6.9)
    """

    def __init__(
        self,
        entries: Iterable[Entry] = (),
        calibrations: Iterable[tuple[str, int, Calibration]] = (),
        metadata: dict[str, str] | None = None,
        statistic: str = "p25",
    ) -> None:
        self.statistic = _check_statistic(statistic)
        self.metadata: dict[str, str] = dict(metadata or {})
        self.calibrations: dict[tuple[str, int, str], Calibration] = {}
        self._entries: dict[tuple, Entry] = {}
        self._samples: dict[tuple, tuple[list[float], list[float]]] = {}  # this session's, in seconds
        self._jobs: dict[tuple, _Job] = {}  # the modules measured this session, kept for more rounds
        for entry in entries:
            self.add(entry)
        for device, threads, calibration in calibrations:
            self.calibrations[(device, threads, calibration.statistic)] = calibration

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self):
        return iter(self._entries.values())

    def __repr__(self) -> str:
        devices = ", ".join(f"{d} ({t} thread{'' if t == 1 else 's'})" for d, t in self.devices)
        return f"LatencyTable({len(self)} entries; {devices or 'empty'})"

    @property
    def entries(self) -> tuple[Entry, ...]:
        return tuple(self._entries.values())

    @property
    def devices(self) -> tuple[tuple[str, int], ...]:
        """The (device, threads) pairs the table holds entries for."""
        return tuple(dict.fromkeys((entry.device, entry.threads) for entry in self._entries.values()))

    def add(self, entry: Entry) -> None:
        """Add or replace an entry."""
        if not isinstance(entry, Entry):
            raise ValueError(f"entry must be an Entry, got {type(entry).__name__}")
        self._entries[entry.key] = entry

    def lookup(
        self, spec: Any, input_shape: Sequence[int], device: str | None = None, threads: int | None = None
    ) -> Entry:
        """The entry of `spec` at `input_shape` (batch first); a ValueError says how to add a missing one."""
        device, threads = self._resolve(device, threads)
        shape = _check_shape(input_shape)
        entry = self._entries.get(entry_key(spec, shape, device, threads))
        if entry is None:
            raise ValueError(_missing_message([(spec, shape)], device, threads))
        return entry

    def missing(
        self,
        network: Any,
        resolution: C.Size | None = None,
        batch_size: int = 1,
        device: str | None = None,
        threads: int | None = None,
    ) -> list[tuple[Any, tuple[int, ...]]]:
        """The (spec, input shape) pairs of `network_blocks(network, ...)` the table has no entry for."""
        device, threads = self._resolve(device, threads)
        return [
            (spec, shape)
            for spec, shape in network_blocks(network, resolution, batch_size)
            if entry_key(spec, shape, device, threads) not in self._entries
        ]

    def _resolve(self, device: str | None, threads: int | None) -> tuple[str, int]:
        """The (device label, threads) asked for; by default the table's only pair."""
        if device in DEVICES:
            device = device_label(device)
        if threads is not None:
            _check_positive_int("threads", threads)
        if device is not None and threads is not None:
            return device, threads
        pairs = [(d, t) for d, t in self.devices if device in (None, d) and threads in (None, t)]
        if len(pairs) == 1:
            return pairs[0]
        have = ", ".join(f"device={d!r} threads={t}" for d, t in self.devices) or "no entries"
        raise ValueError(
            f"say which device and threads to use (device=..., threads=...); the table has {have}"
        )

    # --- measuring -------------------------------------------------------------------------------------

    @classmethod
    def build(
        cls, blocks: Iterable[Any], device: str = "cpu", threads: int = 1, **options: Any
    ) -> LatencyTable:
        """A new table with `blocks` measured (see `measure_blocks` for `blocks` and `options`)."""
        table = cls()
        table.measure_blocks(blocks, device=device, threads=threads, **options)
        return table

    def measure_blocks(
        self,
        blocks: Iterable[Any],
        device: str = "cpu",
        threads: int = 1,
        rounds: int = 5,
        round_time_ms: float = 5.0,
        context_passes: int = 4,
        context_group: int = CONTEXT_GROUP,
        seed: int = 0,
        progress: bool = True,
    ) -> list[Entry]:
        """Measure `blocks`, (spec, input shape) pairs (batch first) or `Layer`s, and store their entries.

        Each of `rounds` rounds (blocks in a seeded shuffled order) first times every block alone,
        call after call, for about `round_time_ms` (at least 3 calls). Then it deals the blocks
        into groups of `context_group` (a network's worth; a short group is filled up with other
        blocks, untimed) and runs each group like a network: one untimed pass, then
        `context_passes` timed passes, one call per block per pass, each input re-written just
        before its call. Calling it again for the same blocks adds samples (this session's).
        A tqdm bar counts the rounds unless `progress=False`.
        """
        _check_device(device)
        for name, value in (("threads", threads), ("rounds", rounds), ("context_passes", context_passes)):
            _check_positive_int(name, value)
        _check_positive_int("context_group", context_group)
        if (
            isinstance(round_time_ms, bool)
            or not isinstance(round_time_ms, (int, float))
            or round_time_ms <= 0
        ):
            raise ValueError(f"round_time_ms must be a positive number, got {round_time_ms!r}")
        pairs = list(dict.fromkeys(_as_pair(item) for item in blocks))
        if not pairs:
            raise ValueError("blocks is empty: give (spec, input_shape) pairs, e.g. network_blocks(network)")
        label = device_label(device)
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with torch.no_grad():
                keys = [entry_key(spec, shape, label, threads) for spec, shape in pairs]
                for key, (spec, shape) in zip(keys, pairs, strict=True):
                    if key not in self._jobs:
                        self._jobs[key] = _make_job(spec, shape, device)
                jobs = [self._jobs[key] for key in keys]
                copies = [  # too few blocks for a group: fresh copies (own weights and inputs) fill it
                    _make_job(jobs[i % len(jobs)].spec, jobs[i % len(jobs)].shape, device)
                    for i in range(max(0, context_group - len(jobs)))
                ]
                for job in jobs + copies:  # warm up, then choose the calls that fill round_time_ms
                    warm = min(time_calls(job.module, job.x, 2, device))
                    job.calls = max(3, min(200, int(round_time_ms / 1e3 / max(warm, 1e-6))))
                alone: dict[int, list[float]] = {id(job): [] for job in jobs}
                context: dict[int, list[float]] = {id(job): [] for job in jobs}
                rng = random.Random(seed)
                for _ in tqdm(range(rounds), desc="measuring blocks", unit="round", disable=not progress):
                    for job in rng.sample(jobs, len(jobs)):
                        alone[id(job)] += time_calls(job.module, job.x, job.calls, device)
                    order = rng.sample(jobs, len(jobs))
                    for start in range(0, len(order), context_group):
                        group = order[start : start + context_group]
                        timed_here = len(group)
                        others = [job for job in jobs + copies if job not in group]
                        group += rng.sample(others, min(len(others), context_group - len(group)))
                        for timed in [False] + [True] * context_passes:
                            for position, job in enumerate(group):
                                job.x.copy_(job.pristine)  # as if the previous block had just written it
                                elapsed = time_calls(job.module, job.x, 1, device)[0]
                                if timed and position < timed_here:
                                    context[id(job)].append(elapsed)
        finally:
            torch.set_num_threads(previous_threads)

        measured = []
        for (spec, shape), key, job in zip(pairs, keys, jobs, strict=True):
            samples = self._samples.setdefault(key, ([], []))
            samples[0].extend(alone[id(job)])
            samples[1].extend(context[id(job)])
            alone_ms, context_ms = summarize_ms(samples[0]), summarize_ms(samples[1])
            block_cost = spec.cost(tuple(shape[2:]) if len(shape) == 4 else (1, 1))
            tensors = (*job.module.parameters(), *job.module.buffers())
            entry = Entry(
                *key,
                median_ms=alone_ms["median"],
                p25_ms=alone_ms["p25"],
                iqr_ms=alone_ms["iqr"],
                context_median_ms=context_ms["median"],
                context_p25_ms=context_ms["p25"],
                context_iqr_ms=context_ms["iqr"],
                runs=len(samples[0]),
                context_runs=len(samples[1]),
                ops=job.ops,
                weight_bytes=sum(t.numel() * t.element_size() for t in tensors),
                activation_bytes=job.output_bytes,
                params=block_cost.params,
                macs=block_cost.macs * shape[0],
            )
            self.add(entry)
            measured.append(entry)
        return measured

    # --- predicting --------------------------------------------------------------------------------------

    def predict(
        self,
        network: Any,
        resolution: C.Size | None = None,
        batch_size: int = 1,
        device: str | None = None,
        threads: int | None = None,
        statistic: str | None = None,
    ) -> Prediction:
        """The latency of `network` at `resolution`: the sum over its layers (stages, pooling,
        classifier) of their in-context times, plus its container calls, times the calibration
        scale (1 without one); `plain_ms` is the plain sum of the times alone.

        A ValueError names the blocks the table lacks and how to measure them.
        """
        device, threads = self._resolve(device, threads)
        statistic = self.statistic if statistic is None else _check_statistic(statistic)
        layers = network_layers(network, resolution, batch_size)
        lacking = self.missing(network, resolution, batch_size, device, threads)
        if lacking:
            raise ValueError(_missing_message(lacking, device, threads, network))
        rows = []
        for layer in layers:
            entry = self._entries[
                entry_key(layer.spec, (batch_size, *layer.input_shape[1:]), device, threads)
            ]
            rows.append(
                PredictedLayer(
                    layer.stage,
                    entry.block,
                    layer.input_shape,
                    entry.alone_ms(statistic),
                    entry.context_ms(statistic),
                )
            )
        container = self._entries[entry_key(Container(), (batch_size, *CONTAINER_SHAPE), device, threads)]
        containers = _containers(network)
        context = sum(row.context_ms for row in rows) + containers * container.context_ms(statistic)
        scale = self.calibrations.get((device, threads, statistic), Calibration()).scale
        return Prediction(
            latency_ms=scale * context,
            plain_ms=sum(row.alone_ms for row in rows),
            context_ms=context,
            scale=scale,
            statistic=statistic,
            containers=containers,
            container_ms=container.context_ms(statistic),
            layers=tuple(rows),
            device=device,
            threads=threads,
            batch_size=batch_size,
        )

    def calibrate(
        self,
        measured: Iterable[tuple[Any, float]],
        resolution: C.Size | None = None,
        batch_size: int = 1,
        device: str | None = None,
        threads: int | None = None,
        statistic: str | None = None,
        fitted_on: str = "",
    ) -> Calibration:
        """Fit and store the device's scale from (network, measured ms) pairs (the same statistic
        of whole-network calls): least squares on relative errors, `scale = sum(r) / sum(r^2)`
        with `r = context_ms / measured_ms`. Fit it on networks you will not evaluate on.
        """
        device, threads = self._resolve(device, threads)
        statistic = self.statistic if statistic is None else _check_statistic(statistic)
        pairs = list(measured)
        if not pairs:
            raise ValueError("measured is empty: give (network, measured_ms) pairs")
        ratios = []
        for network, latency_ms in pairs:
            if isinstance(latency_ms, bool) or not isinstance(latency_ms, (int, float)) or not latency_ms > 0:
                raise ValueError(f"measured latencies must be positive numbers of ms, got {latency_ms!r}")
            prediction = self.predict(network, resolution, batch_size, device, threads, statistic)
            ratios.append(prediction.context_ms / latency_ms)
        scale = sum(ratios) / sum(r * r for r in ratios)
        mape = 100 * statistics.fmean(abs(scale * r - 1) for r in ratios)
        calibration = Calibration(scale, statistic, len(pairs), mape, fitted_on)
        self.calibrations[(device, threads, statistic)] = calibration
        return calibration

    # --- files -----------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the table as CSV: `#` lines with metadata and calibrations (JSON), then one row per entry."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "version": VERSION, "torch": torch.__version__, **self.metadata}
        meta["statistic"] = self.statistic
        lines = [
            "# lwcnn latency lookup table: one row per block at one input shape (CxHxW) on one device.",
            "# median/p25/iqr_ms: the block called again and again (alone); context_*: one call at a time",
            "# between other blocks, its input just written, as in a network (lwcnn/lut.py explains).",
            f"# meta: {json.dumps(meta, sort_keys=True)}",
        ]
        for (device, threads, _), calibration in sorted(self.calibrations.items()):
            record = {"device": device, "threads": threads, **dataclasses.asdict(calibration)}
            lines.append(f"# calibration: {json.dumps(record, sort_keys=True)}")
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        for entry in sorted(
            self._entries.values(), key=lambda e: (e.device, e.threads, e.batch, e.block, e.input_shape)
        ):
            row = dataclasses.asdict(entry)
            row["input_shape"] = "x".join(map(str, entry.input_shape))
            writer.writerow([f"{row[c]:.5f}" if isinstance(row[c], float) else row[c] for c in COLUMNS])
        path.write_text("\n".join(lines) + "\n" + buffer.getvalue())
        return path

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        """Read a table `save` wrote (plain CSV and JSON: nothing in the file is executed)."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"path={str(path)!r}: no such file; build a table and save() it first")
        metadata: dict[str, str] = {}
        calibrations, rows = [], []
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.startswith("# meta:"):
                metadata = {str(k): str(v) for k, v in _json(line, path, number).items()}
            elif line.startswith("# calibration:"):
                record = _json(line, path, number)
                try:
                    calibration = Calibration(
                        float(record["scale"]),
                        _check_statistic(record["statistic"]),
                        int(record["networks"]),
                        float(record["mape_percent"]),
                        str(record["fitted_on"]),
                    )
                    calibrations.append((str(record["device"]), int(record["threads"]), calibration))
                except (KeyError, TypeError, ValueError) as error:
                    raise ValueError(f"{path}:{number}: bad calibration line ({error})") from None
            elif line.strip() and not line.startswith("#"):
                rows.append((number, line))
        if metadata.get("format") != FORMAT:
            raise ValueError(
                f'{path} is not a lwcnn latency table (no \'# meta: {{"format": "{FORMAT}"...\' line)'
            )
        reader = csv.reader(line for _, line in rows)
        header = next(reader, None)
        if header is None or tuple(header) != COLUMNS:
            raise ValueError(f"{path}: the header must be {','.join(COLUMNS)}, got {header}")
        types = {f.name: f.type for f in dataclasses.fields(Entry)}
        entries = []
        for (number, _), values in zip(rows[1:], reader, strict=True):
            try:
                record = dict(zip(COLUMNS, values, strict=True))
                converted: dict[str, Any] = {}
                for name, text in record.items():
                    if name == "input_shape":
                        converted[name] = tuple(int(v) for v in text.split("x"))
                    else:
                        converted[name] = {"str": str, "int": int, "float": float}[types[name]](text)
                entries.append(Entry(**converted))
            except ValueError as error:
                raise ValueError(f"{path}:{number}: bad row ({error})") from None
        statistic = metadata.pop("statistic", "p25")
        for key in ("format", "version"):
            metadata.pop(key, None)
        return cls(entries, calibrations, metadata, statistic)


# --- the recorded lesson tables ------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedTable:
    """The latencies `benchmarks/record_latency.py` recorded on one device, with how they were taken."""

    slug: str
    metadata: dict[str, str]
    rows: tuple[dict[str, Any], ...]

    @property
    def device(self) -> str:
        return self.metadata.get("device", self.slug)

    def select(self, table: str) -> list[dict[str, Any]]:
        """The rows of one lesson table ('separable', 'kernel', 'activation', 'se', 'zoo' or 'guidelines')."""
        rows = [row for row in self.rows if row["table"] == table]
        if not rows:
            names = ", ".join(dict.fromkeys(row["table"] for row in self.rows))
            raise ValueError(f"table={table!r} is not in {self.slug}'s recording; it has: {names}")
        return rows


RECORDED_COLUMNS = (
    "table",
    "item",
    "input_shape",
    "batch",
    "threads",
    "params",
    "macs",
    "median_ms",
    "iqr_ms",
    "runs",
)


def recorded_tables(directory: str | Path | None = None) -> dict[str, RecordedTable]:
    """Every device's recorded lesson table in `directory` (default `DATA_DIR`), by device slug.

    Reads each `<slug>.csv` (not the `*.lut.csv` lookup tables); `# key: value` lines at the top
    are its metadata (device, torch, threads, date, command).
    """
    folder = DATA_DIR if directory is None else Path(directory)
    if not folder.is_dir():
        raise ValueError(
            f"no recorded latencies: {folder} does not exist; run `python benchmarks/record_latency.py` "
            "in the course repository (the data/ folder sits beside the lwcnn package)"
        )
    paths = sorted(p for p in folder.glob("*.csv") if not p.name.endswith(TABLE_SUFFIX))
    if not paths:
        raise ValueError(f"no recorded latencies in {folder}; run `python benchmarks/record_latency.py`")
    return {path.stem: _read_recorded(path) for path in paths}


def _read_recorded(path: Path) -> RecordedTable:
    metadata: dict[str, str] = {}
    body = []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            if value:
                metadata[key.strip()] = value.strip()
        elif line.strip():
            body.append(line)
    reader = csv.DictReader(body)
    if reader.fieldnames is None or tuple(reader.fieldnames) != RECORDED_COLUMNS:
        raise ValueError(f"{path}: the header must be {','.join(RECORDED_COLUMNS)}, got {reader.fieldnames}")
    rows = []
    for record in reader:
        row: dict[str, Any] = dict(record)
        for name in ("batch", "threads", "params", "macs", "runs"):
            row[name] = int(record[name])
        for name in ("median_ms", "iqr_ms"):
            row[name] = float(record[name])
        rows.append(row)
    return RecordedTable(path.stem, metadata, tuple(rows))


# --- argument checks -----------------------------------------------------------------------------------


def _check_device(device: Any) -> None:
    if device not in DEVICES:
        raise ValueError(f"device={device!r} is unknown; allowed: {', '.join(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but torch sees no CUDA device; use device='cpu'")


def _check_statistic(statistic: Any) -> str:
    if statistic not in STATISTICS:
        raise ValueError(f"statistic={statistic!r} is unknown; allowed: {', '.join(STATISTICS)}")
    return statistic


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _size(name: str, value: Any) -> tuple[int, int]:
    pair = value if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a (height, width) pair, got {value!r}")
    for item in pair:
        _check_positive_int(name, item)
    return (pair[0], pair[1])


def _check_shape(shape: Any) -> tuple[int, ...]:
    if not isinstance(shape, (tuple, list)) or len(shape) < 2:
        raise ValueError(f"input_shape must be a batch-first shape like (1, 16, 32, 32), got {shape!r}")
    for item in shape:
        _check_positive_int("input_shape", item)
    return tuple(shape)


def _as_pair(item: Any) -> tuple[Any, tuple[int, ...]]:
    if isinstance(item, Layer):
        return item.spec, _check_shape(item.input_shape)
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise ValueError(f"blocks must hold (spec, input_shape) pairs or Layers, got {item!r}")
    spec, shape = item
    block_key(spec)  # a spec, or a ValueError
    if not hasattr(spec, "build"):
        raise ValueError(f"blocks: {type(spec).__name__} has no build(); give block specs")
    return spec, _check_shape(shape)


def _json(line: str, path: Path, number: int) -> dict:
    try:
        record = json.loads(line.split(":", 1)[1])
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{number}: bad JSON ({error})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}:{number}: expected a JSON object")
    return record


def _missing_message(
    lacking: Sequence[tuple[Any, tuple[int, ...]]], device: str, threads: int, network: Any = None
) -> str:
    spec, shape = lacking[0]
    where = f" of {type(network).__name__}" if network is not None else ""
    more = f" (and {len(lacking) - 1} more)" if len(lacking) > 1 else ""
    how = (
        "table.measure_blocks(network_blocks(network, resolution), ...)"
        if network is not None
        else f"table.measure_blocks([(spec, {shape})], ...)"
    )
    return (
        f"no latency for {block_key(spec)} at input {shape} on {device!r} with {threads} thread(s)"
        f"{where}{more}; measure it first: {how} with device='cpu' or 'cuda' and threads={threads}"
    )


def side_by_side(table: str, directory: str | Path | None = None) -> str:
    """One lesson table ('separable', 'kernel', 'activation', 'se', 'zoo' or 'guidelines') as text: a row per
    item and input shape, with its MACs and one median-ms column per recorded device.

    The lessons print it so that every device recorded under `data/latency/` shows next to the
    others (with only this CPU's recording, one column).
    """
    recorded = recorded_tables(directory)
    columns = {
        slug: {(r["item"], r["input_shape"]): r for r in rec.select(table)} for slug, rec in recorded.items()
    }
    keys = list(dict.fromkeys(key for rows in columns.values() for key in rows))
    macs = {key: rows[key]["macs"] for rows in columns.values() for key in rows}
    width = max(len(f"{item} @ {shape}") for item, shape in keys)
    names = [recorded[slug].device for slug in columns]
    lines = [f"{'item @ input':{width}s} {'MACs':>13s} " + " ".join(f"{name[:22]:>22s}" for name in names)]
    for key in keys:
        cells = [
            f"{rows[key]['median_ms']:19.3f} ms" if key in rows else f"{'-':>22s}"
            for rows in columns.values()
        ]
        lines.append(f"{key[0] + ' @ ' + key[1]:{width}s} {int(macs[key]):13,d} " + " ".join(cells))
    return "\n".join(lines)
