"""Latency lookup tables (FBNet): a network's latency as the sum of its blocks' latencies.

FBNet predicts `LAT(net) = sum over layers of LAT(block)` from a per-device table of measured
blocks, so that a search can price many networks without running one:

    >>> table = LatencyTable.build(network_blocks(network), threads=1)  # doctest: +SKIP
    >>> table.predict(network).latency_ms  # doctest: +SKIP
    >>> table.save(table_path(224, device_slug()))  # data/latency/<device>.224.lut.csv  # doctest: +SKIP

The table maps `entry_key` (block, input shape, batch, device, threads; `entry.py`) to an
`Entry` of measured times. The blocks of a network come from `walk.py` (the stem, head, global
pooling, every classifier layer and the `nn.Sequential` calls around the blocks are entries
too); each is timed alone and in context (`context.py` says why a plain sum of the times alone
under-predicts a network, and how the in-context model was found). A prediction is the sum of
the in-context times, times a scale fitted on networks measured whole (`calibrate`). Tables are
plain CSV files (`save`, `load`; `table_file.py`) under `data/latency/`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lwcnn import checks
from lwcnn import cost as C
from lwcnn.latency.context import CONTEXT_GROUP, Job, make_job, time_jobs
from lwcnn.latency.entry import Calibration, Entry, block_key, check_statistic, entry_key
from lwcnn.latency.table_file import read_table, write_table
from lwcnn.latency.timing import DEVICES, check_device, device_label, summarize_ms
from lwcnn.latency.walk import (
    CONTAINER_SHAPE,
    Container,
    Layer,
    container_calls,
    network_blocks,
    network_layers,
)
from lwcnn.paths import LATENCY_DIR, TABLE_SUFFIX, device_file

DATA_DIR = LATENCY_DIR  # lwcnn.lut's name for data/latency/, where the lessons' tables are shipped


# --- the table ---------------------------------------------------------------------------------------------


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
        self.statistic = check_statistic(statistic)
        self.metadata: dict[str, str] = dict(metadata or {})
        # by (device, threads, statistic, resolution): one scale per input size it was fitted at
        self.calibrations: dict[tuple[str, int, str, tuple[int, int] | None], Calibration] = {}
        self._entries: dict[tuple, Entry] = {}
        self._samples: dict[tuple, tuple[list[float], list[float]]] = {}  # this session's, in seconds
        self._jobs: dict[tuple, Job] = {}  # the modules measured this session, kept for more rounds
        for entry in entries:
            self.add(entry)
        for device, threads, calibration in calibrations:
            self.calibrations[(device, threads, calibration.statistic, calibration.resolution)] = calibration

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
            checks.check_positive_int("threads", threads)
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

        Each of `rounds` rounds times every block alone for about `round_time_ms`, then in
        groups of `context_group` run like a network, `context_passes` passes (`context.time_jobs`
        says how). Calling it again for the same blocks adds samples (this session's).
        A tqdm bar counts the rounds unless `progress=False`.
        """
        check_device(device)
        for name, value in (
            ("threads", threads),
            ("rounds", rounds),
            ("context_passes", context_passes),
            ("context_group", context_group),
        ):
            checks.check_positive_int(name, value)
        checks.check_positive_number("round_time_ms", round_time_ms)
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
                        self._jobs[key] = make_job(spec, shape, device)
                jobs = [self._jobs[key] for key in keys]
                alone, context = time_jobs(
                    jobs, device, rounds, round_time_ms, context_passes, context_group, seed, progress
                )
        finally:
            torch.set_num_threads(previous_threads)

        measured = []
        for (spec, shape), key, job, job_alone, job_context in zip(
            pairs, keys, jobs, alone, context, strict=True
        ):
            samples = self._samples.setdefault(key, ([], []))
            samples[0].extend(job_alone)
            samples[1].extend(job_context)
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
        statistic = self.statistic if statistic is None else check_statistic(statistic)
        layers = network_layers(network, resolution, batch_size)
        lacking = self.missing(network, resolution, batch_size, device, threads)
        if lacking:
            raise ValueError(_missing_message(lacking, device, threads, network, resolution, batch_size))
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
        containers = container_calls(network)
        context = sum(row.context_ms for row in rows) + containers * container.context_ms(statistic)
        calibration = self.calibration(layers[0].input_shape[2:], device, threads, statistic)
        scale, share, plain = calibration.scale, calibration.share, sum(row.alone_ms for row in rows)
        return Prediction(
            latency_ms=scale * (plain + share * (context - plain)),
            plain_ms=plain,
            share=share,
            context_ms=context,
            scale=scale,
            statistic=statistic,
            containers=containers,
            container_ms=container.context_ms(statistic),
            layers=tuple(rows),
            device=device,
            threads=threads,
            batch_size=batch_size,
            calibrated_at=calibration.resolution,
        )

    def calibration(
        self,
        resolution: C.Size,
        device: str | None = None,
        threads: int | None = None,
        statistic: str | None = None,
    ) -> Calibration:
        """The calibration a prediction at input size `resolution` uses: the one fitted at that
        size; else the one fitted at the nearest size (ratio of pixel counts); else one fitted at
        no stated size; else none (scale 1)."""
        device, threads = self._resolve(device, threads)
        statistic = self.statistic if statistic is None else check_statistic(statistic)
        height, width = checks.check_pair("resolution", resolution)
        fitted = {
            key[3]: calibration
            for key, calibration in self.calibrations.items()
            if key[:3] == (device, threads, statistic)
        }
        sized = [size for size in fitted if size is not None]
        if sized:
            nearest = min(sized, key=lambda size: (abs(math.log(size[0] * size[1] / (height * width))), size))
            return fitted[nearest]
        return fitted.get(None, Calibration(statistic=statistic))

    def calibrate(
        self,
        measured: Iterable[tuple[Any, float]],
        resolution: C.Size | None = None,
        batch_size: int = 1,
        device: str | None = None,
        threads: int | None = None,
        statistic: str | None = None,
        fitted_on: str = "",
        fit_share: bool = True,
    ) -> Calibration:
        """Fit and store the device's calibration at one input size from (network, measured ms)
        pairs (the same statistic of whole-network calls, every network at that size). Fit it on
        networks you will not evaluate on; a calibration fitted at another size is kept.

        The model: `latency = scale * (plain + share * (context - plain))`: the blocks' times
        alone, plus the `share` of their in-context excess (what neighbours evicting a block's
        weights and code add) that a network of this size really pays; least squares on relative
        errors. `share` is kept in [0, 1] (the scale refitted if it is clipped); with
        `fit_share=False`, or when the networks cannot tell the two terms apart, `share = 1` and
        `scale = sum(r) / sum(r^2)`, `r = context_ms / measured_ms`.
        """
        device, threads = self._resolve(device, threads)
        statistic = self.statistic if statistic is None else check_statistic(statistic)
        pairs = list(measured)
        if not pairs:
            raise ValueError("measured is empty: give (network, measured_ms) pairs")
        sizes = {
            tuple(network_layers(network, resolution, batch_size)[0].input_shape[2:]) for network, _ in pairs
        }
        if len(sizes) != 1:
            raise ValueError(f"measured: every network must run at one input size, got {sorted(sizes)}")
        size = sizes.pop()
        terms = []  # (plain, in-context excess), each relative to the measured time
        for network, latency_ms in pairs:
            checks.check_positive_number("a measured latency_ms", latency_ms)
            prediction = self.predict(network, resolution, batch_size, device, threads, statistic)
            terms.append(
                (prediction.plain_ms / latency_ms, (prediction.context_ms - prediction.plain_ms) / latency_ms)
            )
        scale, share = _fit_scale_and_share(terms) if fit_share else (None, 1.0)
        if scale is None or not 0.0 <= share <= 1.0:
            share = 1.0 if scale is None else min(max(share, 0.0), 1.0)
            combined = [plain + share * excess for plain, excess in terms]
            scale = sum(combined) / sum(r * r for r in combined)
        mape = 100 * statistics.fmean(abs(scale * (plain + share * excess) - 1) for plain, excess in terms)
        calibration = Calibration(scale, statistic, len(pairs), mape, fitted_on, size, share)
        self.calibrations[(device, threads, statistic, size)] = calibration
        return calibration

    # --- files -----------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the table as CSV: `#` lines with metadata and calibrations (JSON), then one row per entry."""
        return write_table(path, self._entries.values(), self.calibrations, self.metadata, self.statistic)

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        """Read a table `save` wrote (plain CSV and JSON: nothing in the file is executed)."""
        return cls(*read_table(path))


def _fit_scale_and_share(terms: Sequence[tuple[float, float]]) -> tuple[float | None, float]:
    """Least squares `a * plain + b * excess = 1` over the (plain, excess) pairs (each relative to
    a measured time); returns (a, b / a), or (None, 1) when the normal equations are singular."""
    sxx = sum(p * p for p, _ in terms)
    sxy = sum(p * e for p, e in terms)
    syy = sum(e * e for _, e in terms)
    sx, sy = sum(p for p, _ in terms), sum(e for _, e in terms)
    determinant = sxx * syy - sxy * sxy
    if len(terms) < 3 or determinant <= 1e-9 * sxx * syy:
        return None, 1.0
    a = (sx * syy - sy * sxy) / determinant
    b = (sy * sxx - sx * sxy) / determinant
    return (a, b / a) if a > 0 else (None, 1.0)


def table_path(resolution: int = 32, slug: str | None = None, folder: str | Path = DATA_DIR) -> Path:
    """The lookup table measured at input size `resolution` on device `slug`:
    `<folder>/<slug>.<resolution>.lut.csv` (`benchmarks/lut_accuracy.py --save` writes them, one per
    size). `slug` None: the only device whose table at that size is in `folder`."""
    checks.check_positive_int("resolution", resolution)
    return device_file(folder, f".{resolution}{TABLE_SUFFIX}", slug)


# --- a prediction ---------------------------------------------------------------------------------------


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
    calls around them. `latency_ms`: the model, `scale * (plain_ms + share * (context_ms -
    plain_ms))`, with the device's calibration at the size nearest the network's (`calibrated_at`).
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
    calibrated_at: tuple[int, int] | None = None  # the size `scale` was fitted at (None: no size stated)
    share: float = 1.0  # of the in-context excess over the times alone, as calibrated

    def layer_ms(self, layer: PredictedLayer) -> float:
        """One layer's part of `latency_ms`: `scale * (alone + share * (context - alone))`."""
        return self.scale * (layer.alone_ms + self.share * (layer.context_ms - layer.alone_ms))

    @property
    def containers_ms(self) -> float:
        """The container calls' part of `latency_ms` (they take no time alone)."""
        return self.scale * self.share * self.containers * self.container_ms

    def by_stage(self, predicted: bool = False) -> dict[str, float]:
        """In-context milliseconds per stage (stem, stage1, ..., head, avgpool, classifier), or
        with `predicted=True` each stage's part of `latency_ms` (`layer_ms`; the container calls
        are in none)."""
        totals: dict[str, float] = {}
        for layer in self.layers:
            ms = self.layer_ms(layer) if predicted else layer.context_ms
            totals[layer.stage] = totals.get(layer.stage, 0.0) + ms
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
        how = f"x {self.scale:.3f}" if self.share == 1 else f"x {self.scale:.3f}, {self.share:.2f} of excess"
        lines.append(f"{'predicted':<11}{how:>14}{'':>10}{self.latency_ms:>12.3f}")
        return "\n".join(lines)


# --- argument checks and messages ------------------------------------------------------------------


def _check_shape(shape: Any) -> tuple[int, ...]:
    if not isinstance(shape, (tuple, list)) or len(shape) < 2:
        raise ValueError(f"input_shape must be a batch-first shape like (1, 16, 32, 32), got {shape!r}")
    for item in shape:
        checks.check_positive_int("input_shape", item)
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


def _missing_message(
    lacking: Sequence[tuple[Any, tuple[int, ...]]],
    device: str,
    threads: int,
    network: Any = None,
    resolution: C.Size | None = None,
    batch_size: int = 1,
) -> str:
    """What the table lacks and the call that measures it, at the size and batch that were asked."""
    spec, shape = lacking[0]
    where = f" of {type(network).__name__}" if network is not None else ""
    more = f" (and {len(lacking) - 1} more)" if len(lacking) > 1 else ""
    asked = "".join(
        f", {name}={value!r}" for name, value, plain in (("resolution", resolution, None), ("batch_size", batch_size, 1))
        if value != plain
    )  # fmt: skip
    how = (
        f"table.measure_blocks(network_blocks(network{asked}), ...)"
        if network is not None
        else f"table.measure_blocks([(spec, {shape})], ...)"
    )
    return (
        f"no latency for {block_key(spec)} at input {shape} on {device!r} with {threads} thread(s)"
        f"{where}{more}; measure it first: {how} with device='cpu' or 'cuda' and threads={threads}"
    )
