"""Timing blocks the way a network runs them: alone, call after call, and in context, one call
at a time between other blocks. Why in context (`lwcnn.latency.lut` sums these times to predict
a network): what a plain FBNet sum of blocks timed alone misses (2-core AMD EPYC VM, 1 thread,
batch 1, MobileNetV2/V3-style networks at 32x32; `benchmarks/lut_accuracy.py` and the
experiments behind lesson 07):

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

Other input sizes. The same model, one calibration fitted per size, holds from 32x32 to 224x224
(`benchmarks/lut_accuracy.py --resolutions 32,64,128,224`; the errors are shipped in
`data/latency/lut_accuracy/`) once freed memory stays in the process: with glibc's default
allocator, from 64x64 up the page faults of re-allocated activations were most of a big block's
time and depended on the blocks before it (`timing.steady_allocator` says more). Without that,
the model was 6.5-10% off at 64x64. Small networks came out slightly over-predicted at every
size with a scale alone (their blocks are evicted less by their own small neighbours than by a
group's random ones): `LatencyTable.calibrate` therefore also fits the share of the in-context
excess that networks of a size pay.

`time_jobs` does the timing for `LatencyTable.measure_blocks`; a `Job` is one block being
measured (its module, input and a pristine copy of the input), kept for later rounds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from tqdm.auto import tqdm

from lwcnn.latency.timing import time_calls

CONTEXT_GROUP = 16  # blocks timed together in context: about one network's worth


@dataclass(eq=False)
class Job:
    """A block being measured: its module, its input and a pristine copy, calls per round."""

    spec: Any
    shape: tuple[int, ...]
    module: nn.Module
    x: torch.Tensor
    pristine: torch.Tensor
    calls: int = 3
    ops: int = 0
    output_bytes: int = 0


def make_job(spec: Any, shape: tuple[int, ...], device: str) -> Job:
    """Build `spec`'s module on `device`, a random input of `shape`, and count its operations."""
    module = spec.build().eval().to(device)
    x = torch.randn(*shape, device=device)
    job = Job(spec, shape, module, x, x.clone())
    job.ops, job.output_bytes = count_ops(module, x)
    return job


def time_jobs(
    jobs: list[Job],
    device: str,
    rounds: int,
    round_time_ms: float,
    context_passes: int,
    context_group: int,
    seed: int,
    progress: bool,
) -> tuple[list[list[float]], list[list[float]]]:
    """Seconds of each job's single calls, (alone, in context), one list per job in `jobs`' order.

    Each of `rounds` rounds (jobs in a seeded shuffled order) first times every block alone,
    call after call, for about `round_time_ms` (at least 3 calls). Then it deals the blocks
    into groups of `context_group` (a network's worth; a short group is filled up with copies
    of the blocks, untimed) and runs each group like a network: one untimed pass, then
    `context_passes` timed passes, one call per block per pass, each input re-written just
    before its call. Call it under `torch.no_grad()` with the threads to measure with set.
    """
    copies = [  # too few blocks for a group: fresh copies (own weights and inputs) fill it
        make_job(jobs[i % len(jobs)].spec, jobs[i % len(jobs)].shape, device)
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
    return [alone[id(job)] for job in jobs], [context[id(job)] for job in jobs]


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
