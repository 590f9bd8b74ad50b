"""How fast `lwcnn.models.cost` answers against `thop.profile`, on the same architectures.

60 seeded random architectures of seven families in turn: MobileNetV2, V3-Large and V3-Small,
and the families lesson 13 adds, EfficientNetV2-B0, ShuffleNet V1 (g = 3), ESPNetv2 and FBNet-C;
each with a width multiplier drawn uniformly from [0.25, 1.5] (two decimals) and a resolution
drawn from the multiples of 8 in [96, 256]; all 60 differ.

* lwcnn, cold: `models.cost(name, resolution, width_multiplier=w)` once per architecture, with
  every cache cleared before the pass. This is the headline: each architecture is new and is
  computed from its table (nothing is kept from one architecture to the next).
* lwcnn, repeated: the same 60 queries again, answered from the cache (a slider moving back).
* thop: `thop.profile` on the module (built beforehand, build time not counted) with one
  1x3xRxR forward pass; torch on one thread. Its parameter counts are checked against ours.

A cold pass takes a few milliseconds and the thop pass several seconds, so on a shared machine
a busy moment can land on one and not the other. The two are therefore interleaved: a cold pass
before each tenth of the thop pass and one after it, 11 in all, each after an untimed pass over
60 other architectures and with every cache cleared; the cold figure is their median.

    .venv/bin/python benchmarks/cost_speed.py
    .venv/bin/python benchmarks/cost_speed.py --families mobilenet_v2,mobilenet_v3_large,mobilenet_v3_small

`--families` times another mix (the second line: the MobileNets alone, the mix before lesson 13).
The last line reads `cost_speedup_vs_thop=<cold ratio> specs_per_second=<cold answers per s>`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import statistics
import time

import thop
import torch

from lwcnn import models

FAMILIES = (
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "efficientnetv2_b0",
    "shufflenet_v1_g3",
    "espnetv2",
    "fbnet_c",
)
ARCHITECTURES = 60
SEED = 0
REPEATS = 20
THOP_SLICES = 10  # a cold lwcnn pass before each slice of the thop pass, and one after


def random_architectures(
    count: int = ARCHITECTURES, seed: int = SEED, families: tuple[str, ...] = FAMILIES
) -> list[tuple[str, float, int]]:
    """`count` distinct (name, width_multiplier, resolution) triples, `families` in turn."""
    rng = random.Random(seed)
    chosen: list[tuple[str, float, int]] = []
    while len(chosen) < count:
        architecture = (
            families[len(chosen) % len(families)],
            round(rng.uniform(0.25, 1.5), 2),
            rng.randrange(96, 257, 8),
        )
        if architecture not in chosen:
            chosen.append(architecture)
    return chosen


def time_cold(architectures: list[tuple[str, float, int]], warmup: list[tuple[str, float, int]]) -> float:
    """Seconds for one `models.cost` call per architecture, every cache cleared before.

    An untimed pass over the `warmup` architectures goes first, to warm the interpreter: right
    after thop's forward passes, a first pass also pays for collecting thop's garbage and for
    refilling the CPU caches, which can double its time.
    """
    time_cost(warmup)
    models.clear_cost_caches()
    return time_cost(architectures)


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--families",
        default=",".join(FAMILIES),
        help="comma-separated zoo names that take a width multiplier (default: the seven above)",
    )
    families = tuple(name for name in parser.parse_args(argv).families.split(",") if name)
    unknown = [name for name in families if "width_multiplier" not in models.options(name)]
    if not families or unknown:
        parser.error(
            f"--families: {', '.join(unknown) or 'none given'}: need zoo names with a width multiplier"
        )
    torch.set_num_threads(1)
    architectures = random_architectures(families=families)
    count = len(architectures)

    warmup = random_architectures(
        count, seed=SEED + 1, families=families
    )  # warms the interpreter, not the caches
    cold_passes, thop_seconds, thop_param_matches = [], [], 0
    size = -(-count // THOP_SLICES)
    for start in range(0, count, size):
        cold_passes.append(time_cold(architectures, warmup))
        seconds, matches = time_thop(architectures[start : start + size])
        thop_seconds += seconds
        thop_param_matches += matches
    cold_passes.append(time_cold(architectures, warmup))
    cold_s = statistics.median(cold_passes)
    repeated_s = min(time_cost(architectures) for _ in range(REPEATS))
    thop_s = sum(thop_seconds)

    print(f"{count} architectures: {', '.join(families)}; widths 0.25-1.5, resolutions 96-256")
    print(
        f"thop.profile:          {thop_s / count * 1e3:9.2f} ms per architecture (median {statistics.median(thop_seconds) * 1e3:.2f} ms)"
    )
    print(
        f"lwcnn cost, cold:      {cold_s / count * 1e6:9.1f} us per architecture  ({thop_s / cold_s:,.0f}x thop; "
        f"passes {min(cold_passes) / count * 1e6:.1f}-{max(cold_passes) / count * 1e6:.1f} us)"
    )
    print(
        f"lwcnn cost, repeated:  {repeated_s / count * 1e6:9.1f} us per architecture  ({thop_s / repeated_s:,.0f}x thop)"
    )
    print(f"thop's params == lwcnn's: {thop_param_matches}/{count}")
    print(f"cost_speedup_vs_thop={thop_s / cold_s:.0f} specs_per_second={count / cold_s:.0f}")


if __name__ == "__main__":
    main()
