"""Measured latency: what a module really costs on this machine, as opposed to its MACs.

`measure` times a module's forward pass with `torch.utils.benchmark` (warm-up, repeated runs,
CUDA-synchronised on a GPU) and reports the median and spread in milliseconds. `compare`,
`fastest` and `lower_quartile` time several modules side by side (round after round through all
of them), so that a busy moment of the machine falls on all alike. `time_calls` and
`summarize_ms` are the single-call timer and the statistics the lookup table (`lut.py`) is
built from; `device_label` and `device_slug` name the device a time belongs to.

Every timer here first calls `steady_allocator`: on Linux with glibc, freed memory stays in the
process instead of going back to the system. By default glibc returns large freed blocks (from
about 128 KB up) and the next call page-faults them in again, page by page. At 32x32 maps that
costs little; at 64x64 and up it was most of the time of the big blocks (a 32->192->32
inverted residual on a 64x64 map: 3.1 ms steady, 7-11 ms with the default, and 20 s of a 2-minute
benchmark spent in the kernel). How much a block pays depends on what ran before it (two
identical blocks in a row took 8.1 and 4.4 ms), which no per-block table can know. Deployment
runtimes keep their memory too (arenas, jemalloc, tcmalloc), so the steady time is the one
worth predicting.
"""

from __future__ import annotations

import ctypes
import logging
import platform
import re
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lwcnn import checks

# torch.utils.benchmark imports cpp_extension, which warns about a missing CUDA toolkit on a
# CPU-only machine: noise for a learner, and output that differs from machine to machine.
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
from torch.utils import benchmark  # noqa: E402

DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class Latency:
    """One measurement: median and interquartile range of a forward pass, and its conditions."""

    median_ms: float
    iqr_ms: float
    runs: int
    device: str
    threads: int
    batch_size: int

    def __str__(self) -> str:
        return f"{self.median_ms:.3f} ms (IQR {self.iqr_ms:.3f} ms, {self.runs} runs, {self.device})"


# --- the allocator every timing runs with --------------------------------------------------------------

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD_BYTES = 32 * 2**20  # glibc's largest mmap threshold on 64-bit: blocks below stay in the heap
_allocator: str | None = None  # what `steady_allocator` did, once per process


def steady_allocator() -> str:
    """Keep freed memory in the process from now on (glibc's `mallopt`), so that a timed call
    does not page-fault its activations in again; returns what was done, e.g. for a table's
    metadata. Once per process; other C libraries are left as they are (and say so).
    The module docstring says why."""
    global _allocator
    if _allocator is None:
        _allocator = _keep_freed_memory()
    return _allocator


def _keep_freed_memory() -> str:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return f"{platform.system() or 'unknown'} default allocator (not glibc: left as it is)"
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
        kept = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) and mallopt(M_TRIM_THRESHOLD, 2**31 - 1)
    except (OSError, AttributeError):
        kept = 0
    return "glibc, freed memory kept (mallopt)" if kept else "glibc default (mallopt refused)"


# --- one module, timed alone ----------------------------------------------------------------------------


def measure(
    module: nn.Module,
    input_size: tuple[int, ...],
    device: str = "cpu",
    threads: int | None = None,
    min_run_time_s: float = 0.2,
    warmup: int = 3,
    train: bool = False,
) -> Latency:
    """Median latency of `module(x)` for a random `x` of `input_size` (batch first).

    Eval mode and `no_grad` unless `train=True`; `threads` sets torch's intra-op threads for
    the measurement (restored afterwards).

    >>> measure(nn.Conv2d(8, 8, 3), (1, 8, 16, 16)).median_ms > 0
    True
    """
    check_device(device)
    _check_input_and_threads(input_size, threads)
    checks.check_int("warmup", warmup, minimum=0)
    checks.check_positive_number("min_run_time_s", min_run_time_s)
    steady_allocator()

    previous_threads = torch.get_num_threads()
    was_training = module.training
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        module = module.to(device).train(train)
        x = torch.randn(*input_size, device=device)
        with torch.set_grad_enabled(train):
            for _ in range(warmup):
                module(x)
            timer = benchmark.Timer(
                stmt="module(x)", globals={"module": module, "x": x}, num_threads=torch.get_num_threads()
            )
            result = timer.blocked_autorange(min_run_time=min_run_time_s)
        return Latency(
            median_ms=result.median * 1e3,
            iqr_ms=result.iqr * 1e3,
            runs=len(result.times),
            device=device_name(device),
            threads=torch.get_num_threads(),
            batch_size=input_size[0],
        )
    finally:
        module.train(was_training)
        torch.set_num_threads(previous_threads)


# --- several modules, timed side by side ----------------------------------------------------------------


# what `compare` makes of each module's per-round single-call times (ms)
def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(q1, median, q3) of the values: `statistics.quantiles`' default method from three values
    up; of one value, itself; of two, the inclusive method, as the exclusive one extrapolates
    past them (a lower quartile below the fastest call, even a negative one)."""
    if not values:
        raise ValueError("no times to summarise")
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive" if len(values) == 2 else "exclusive")
    return q1, q2, q3


SIDE_BY_SIDE_STATISTICS = {
    "median": lambda timed: statistics.median(statistics.fmean(times) for times in timed),
    "min": lambda timed: min(min(times) for times in timed),
    "p25": lambda timed: quartiles([t for times in timed for t in times])[0],
}


def compare(
    modules: dict[str, nn.Module],
    input_size: tuple[int, ...],
    rounds: int = 15,
    calls: int = 10,
    threads: int | None = 1,
    warmup: int = 3,
    statistic: str = "median",
) -> dict[str, float]:
    """Median forward time in ms of each module, measured side by side on the CPU.

    Each round times `calls` passes of every module in turn, so a busy moment of the machine
    falls on all of them alike; the result is the median over rounds of each round's mean.
    Ratios of these medians are what the lessons and benchmarks report. `statistic="min"` and
    `"p25"` summarise the same single calls as `fastest` and `lower_quartile` do.

    >>> times = compare({"a": nn.Conv2d(8, 8, 3), "b": nn.Conv2d(8, 8, 1)}, (1, 8, 16, 16))
    >>> sorted(times)
    ['a', 'b']
    """
    summary = SIDE_BY_SIDE_STATISTICS[checks.check_choice("statistic", statistic, SIDE_BY_SIDE_STATISTICS)]
    per_round = time_side_by_side(modules, input_size, rounds, calls, threads, warmup)
    return {name: summary(timed) for name, timed in per_round.items()}


def fastest(modules: dict[str, nn.Module], input_size: tuple[int, ...], **timing: Any) -> dict[str, float]:
    """The fastest single forward call in ms of each module, over `rounds` x `calls` calls taken
    side by side (round after round through all modules); `timing` as in `compare`, with 5 calls
    a round by default.

    Other programs only ever add time, so the minimum is the most reproducible statistic for
    networks that differ by little: on the course's 216-network NAS table (about 1 ms each, on a
    shared 2-core VM) two runs agree with correlation 0.94 with it, 0.40 with `compare`'s medians.
    """
    _statistic_is_the_functions("fastest", timing)
    return compare(modules, input_size, **{"calls": 5, **timing}, statistic="min")


def _statistic_is_the_functions(name: str, timing: dict[str, Any]) -> None:
    if "statistic" in timing:
        raise TypeError(
            f"{name} takes no statistic: it is {name}'s own; compare(..., statistic=...) takes one"
        )


def lower_quartile(
    modules: dict[str, nn.Module], input_size: tuple[int, ...], **timing: Any
) -> dict[str, float]:
    """The lower quartile (p25) of single forward calls in ms of each module, taken side by side
    as in `fastest`: the statistic an `lwcnn.lut.LatencyTable` predicts by default."""
    _statistic_is_the_functions("lower_quartile", timing)
    return compare(modules, input_size, **{"calls": 5, **timing}, statistic="p25")


def time_side_by_side(
    modules: dict[str, nn.Module],
    input_size: tuple[int, ...],
    rounds: int,
    calls: int,
    threads: int | None,
    warmup: int,
) -> dict[str, list[list[float]]]:
    """Per module, per round, the time of each single call in ms (eval mode, no_grad, CPU):
    what `compare`, `fastest` and `lower_quartile` summarise."""
    if not modules:
        raise ValueError("modules is empty: give at least one name -> module")
    checks.check_positive_int("rounds", rounds)
    checks.check_positive_int("calls", calls)
    checks.check_int("warmup", warmup, minimum=0)
    _check_input_and_threads(input_size, threads)
    steady_allocator()
    previous_threads = torch.get_num_threads()
    modes = {name: module.training for name, module in modules.items()}
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        x = torch.randn(*input_size)
        per_round: dict[str, list[list[float]]] = {name: [] for name in modules}
        with torch.no_grad():
            for module in modules.values():
                module.eval()
                for _ in range(warmup):
                    module(x)
            for _ in range(rounds):
                for name, module in modules.items():
                    per_round[name].append([seconds * 1e3 for seconds in time_calls(module, x, calls)])
        return per_round
    finally:
        for name, module in modules.items():
            module.train(modes[name])
        torch.set_num_threads(previous_threads)


# --- single calls and their statistics -------------------------------------------------------------------


def time_calls(module: nn.Module, x: torch.Tensor, calls: int, device: str = "cpu") -> list[float]:
    """Seconds of each of `calls` forward passes, timed one by one (CUDA-synchronised on a GPU)."""
    steady_allocator()
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
    add time, so it is the more reproducible on a shared machine (see `lwcnn.latency.context`).

    >>> summarize_ms([0.001])
    {'p25': 1.0, 'median': 1.0, 'iqr': 0.0}
    >>> {k: round(v, 6) for k, v in summarize_ms([0.001, 0.010]).items()}  # two: between them
    {'p25': 3.25, 'median': 5.5, 'iqr': 4.5}
    """
    if not times_s:
        raise ValueError("times_s is empty")
    q1, q2, q3 = quartiles(list(times_s))
    return {"p25": q1 * 1e3, "median": q2 * 1e3, "iqr": (q3 - q1) * 1e3}


# --- the device a time belongs to --------------------------------------------------------------------------


def device_name(device: str = "cpu") -> str:
    """A readable name of the device, e.g. 'NVIDIA H100 80GB HBM3' or the CPU model."""
    if device == "cuda":
        return torch.cuda.get_device_name()
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    threads = torch.get_num_threads()
    return f"{name} ({threads} thread{'' if threads == 1 else 's'})"


def device_label(device: str = "cpu") -> str:
    """The device's readable name without the thread count, e.g. 'AMD EPYC' or 'NVIDIA H100 80GB HBM3'."""
    check_device(device)
    return re.sub(r"\s*\(\d+ threads?\)$", "", device_name(device)).strip() or platform.machine()


def device_slug(device: str = "cpu") -> str:
    """`device_label` as a file name: lower case, other characters runs of '-' ('amd-epyc')."""
    return slugify(device_label(device))


def slugify(text: str) -> str:
    """A text as a file name: lower case, other characters runs of '-'.

    >>> slugify("AMD EPYC 7B13")
    'amd-epyc-7b13'
    """
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "device"


def check_device(device: Any) -> str:
    """'cpu', or 'cuda' where torch sees a CUDA device."""
    checks.check_choice("device", device, DEVICES)
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but torch sees no CUDA device; use device='cpu'")
    return device


def _check_input_and_threads(input_size: tuple[int, ...], threads: int | None) -> None:
    if not input_size or any(isinstance(s, bool) or not isinstance(s, int) or s <= 0 for s in input_size):
        raise ValueError(f"input_size must be positive ints (batch first), got {input_size!r}")
    if threads is not None:
        checks.check_positive_int("threads", threads)
