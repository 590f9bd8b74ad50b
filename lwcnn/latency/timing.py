"""Measured latency: what a layer really costs on this machine, as opposed to its MACs.

`measure` times a module's forward pass with `torch.utils.benchmark` (warm-up, repeated runs,
CUDA-synchronised on a GPU) and reports the median and spread in milliseconds.
"""

from __future__ import annotations

import logging
import platform
import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

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


def _check_input_and_threads(input_size: tuple[int, ...], threads: int | None) -> None:
    if not input_size or any(isinstance(s, bool) or not isinstance(s, int) or s <= 0 for s in input_size):
        raise ValueError(f"input_size must be positive ints (batch first), got {input_size!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads <= 0):
        raise ValueError(f"threads must be a positive int or None, got {threads!r}")


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
    if device not in DEVICES:
        raise ValueError(f"device={device!r} is unknown; allowed: {', '.join(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but torch sees no CUDA device; use device='cpu'")
    _check_input_and_threads(input_size, threads)

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


def compare(
    modules: dict[str, nn.Module],
    input_size: tuple[int, ...],
    rounds: int = 15,
    calls: int = 10,
    threads: int | None = 1,
    warmup: int = 3,
) -> dict[str, float]:
    """Median forward time in ms of each module, measured side by side on the CPU.

    Each round times `calls` passes of every module in turn, so a busy moment of the machine
    falls on all of them alike; the result is the median over rounds of each round's mean.
    Ratios of these medians are what the lessons and benchmarks report.

    >>> times = compare({"a": nn.Conv2d(8, 8, 3), "b": nn.Conv2d(8, 8, 1)}, (1, 8, 16, 16))
    >>> sorted(times)
    ['a', 'b']
    """
    per_round = _rounds(modules, input_size, rounds, calls, threads, warmup)
    return {
        name: statistics.median(statistics.fmean(times) for times in timed)
        for name, timed in per_round.items()
    }


def fastest(
    modules: dict[str, nn.Module],
    input_size: tuple[int, ...],
    rounds: int = 15,
    calls: int = 5,
    threads: int | None = 1,
    warmup: int = 3,
) -> dict[str, float]:
    """The fastest single forward call in ms of each module, over `rounds` x `calls` calls taken
    side by side (round after round through all modules).

    Other programs only ever add time, so the minimum is the most reproducible statistic for
    networks that differ by little: on the course's 216-network NAS table (about 1 ms each, on a
    shared 2-core VM) two runs agree with correlation 0.94 with it, 0.40 with `compare`'s medians.
    """
    per_round = _rounds(modules, input_size, rounds, calls, threads, warmup)
    return {name: min(min(times) for times in timed) for name, timed in per_round.items()}


def lower_quartile(
    modules: dict[str, nn.Module],
    input_size: tuple[int, ...],
    rounds: int = 15,
    calls: int = 5,
    threads: int | None = 1,
    warmup: int = 3,
) -> dict[str, float]:
    """The lower quartile (p25) of single forward calls in ms of each module, taken side by side
    as in `fastest`: the statistic an `lwcnn.lut.LatencyTable` predicts by default."""
    per_round = _rounds(modules, input_size, rounds, calls, threads, warmup)
    return {
        name: statistics.quantiles([t for times in timed for t in times], n=4)[0]
        for name, timed in per_round.items()
    }


def _rounds(
    modules: dict[str, nn.Module],
    input_size: tuple[int, ...],
    rounds: int,
    calls: int,
    threads: int | None,
    warmup: int,
) -> dict[str, list[list[float]]]:
    """Per module, per round, the time of each single call in ms (eval mode, no_grad)."""
    if not modules:
        raise ValueError("modules is empty: give at least one name -> module")
    for name, value in (("rounds", rounds), ("calls", calls)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    _check_input_and_threads(input_size, threads)
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
                    times = []
                    for _ in range(calls):
                        start = time.perf_counter()
                        module(x)
                        times.append((time.perf_counter() - start) * 1e3)
                    per_round[name].append(times)
        return per_round
    finally:
        for name, module in modules.items():
            module.train(modes[name])
        torch.set_num_threads(previous_threads)
