"""How fast `lwcnn.models.cost` answers against `thop.profile`, on the same architectures.

60 seeded random architectures: MobileNetV2, V3-Large and V3-Small in turn, each with a width
multiplier drawn uniformly from [0.25, 1.5] (two decimals) and a resolution drawn from the
multiples of 8 in [96, 256]; all 60 differ.

* lwcnn, cold: `models.cost(name, resolution, width_multiplier=w)` once per architecture, with
  every cache cleared before the pass. This is the headline: each architecture is new, and only
  block costs that two architectures share (same block at the same input size) are reused,
  as they would be in a real session.
* lwcnn, repeated: the same 60 queries again, answered from the cache (a slider moving back).
* thop: `thop.profile` on the module (built beforehand, build time not counted) with one
  1x3xRxR forward pass; torch on one thread. Its parameter counts are checked against ours.

    .venv/bin/python benchmarks/cost_speed.py

The last line reads `cost_speedup_vs_thop=<cold ratio> specs_per_second=<cold answers per s>`.
"""

from __future__ import annotations

import contextlib
import io
import random
import statistics
import time

import thop
import torch

from lwcnn import models

FAMILIES = ("mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small")
ARCHITECTURES = 60
SEED = 0
REPEATS = 20


def random_architectures(count: int = ARCHITECTURES, seed: int = SEED) -> list[tuple[str, float, int]]:
    """`count` distinct (name, width_multiplier, resolution) triples, families in turn."""
    rng = random.Random(seed)
    chosen: list[tuple[str, float, int]] = []
    while len(chosen) < count:
        architecture = (
            FAMILIES[len(chosen) % len(FAMILIES)],
            round(rng.uniform(0.25, 1.5), 2),
            rng.randrange(96, 257, 8),
        )
        if architecture not in chosen:
            chosen.append(architecture)
    return chosen


def time_cost(architectures: list[tuple[str, float, int]]) -> float:
    """Seconds for one `models.cost` call per architecture, in order."""
    start = time.perf_counter()
    for name, width, resolution in architectures:
        models.cost(name, resolution, width_multiplier=width)
    return time.perf_counter() - start


def time_thop(architectures: list[tuple[str, float, int]]) -> tuple[list[float], int]:
    """Seconds of `thop.profile` per architecture, and how many parameter counts match ours."""
    seconds, matches = [], 0
    for name, width, resolution in architectures:
        torch.manual_seed(0)
        model = models.build(name, width_multiplier=width).eval()
        x = torch.randn(1, 3, resolution, resolution)
        with contextlib.redirect_stdout(io.StringIO()):
            start = time.perf_counter()
            _, params = thop.profile(model, inputs=(x,), verbose=False)
            seconds.append(time.perf_counter() - start)
        matches += int(params) == models.cost(name, resolution, width_multiplier=width).params
    return seconds, matches


def main() -> None:
    torch.set_num_threads(1)
    architectures = random_architectures()
    count = len(architectures)

    time_cost(random_architectures(6, seed=SEED + 1))  # warm the interpreter, not the caches
    models.clear_cost_caches()
    cold_s = time_cost(architectures)
    repeated_s = min(time_cost(architectures) for _ in range(REPEATS))
    thop_seconds, thop_param_matches = time_thop(architectures)
    thop_s = sum(thop_seconds)

    print(f"{count} architectures: {', '.join(FAMILIES)}; widths 0.25-1.5, resolutions 96-256")
    print(
        f"thop.profile:          {thop_s / count * 1e3:9.2f} ms per architecture (median {statistics.median(thop_seconds) * 1e3:.2f} ms)"
    )
    print(
        f"lwcnn cost, cold:      {cold_s / count * 1e6:9.1f} us per architecture  ({thop_s / cold_s:,.0f}x thop)"
    )
    print(
        f"lwcnn cost, repeated:  {repeated_s / count * 1e6:9.1f} us per architecture  ({thop_s / repeated_s:,.0f}x thop)"
    )
    print(f"thop's params == lwcnn's: {thop_param_matches}/{count}")
    print(f"cost_speedup_vs_thop={thop_s / cold_s:.0f} specs_per_second={count / cold_s:.0f}")


if __name__ == "__main__":
    main()
