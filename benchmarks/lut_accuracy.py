"""How well a per-block latency lookup table predicts whole networks on this CPU (FBNet's assumption).

30 seeded random networks from a MobileNetV2/V3-style space at 32x32 (CIFAR-style
`small_input=True`, 10 classes: the course's setting), one CPU thread, batch 1:

* the space, per stage: expansion 3 or 6, kernel 3 or 5, SE or not, ReLU or h-swish (V3 style),
  a width from a short list, 1-3 repeats; a network is MobileNetV3-style (its table rows) or,
  one time in three, MobileNetV2-style (3x3, ReLU6, no SE); 5 or 6 stages, widths scaled 0.5-1.
* one lookup table holds every block of these networks and of 20 more *calibration* networks
  (another seed): each block timed alone (the plain FBNet number) and in context (see
  `lwcnn.lut`); the calibration networks, measured whole, fit the table's scale. The 30
  evaluation networks never take part in any fit.
* blocks and networks are measured in the same run, interleaved: each round alternates slices of
  blocks with visits to networks (shuffled anew each round; each network is visited 3 times a
  round), so that the machine's drifting speed hits both alike.
* every latency (block or network) is a statistic of single calls: the lower quartile (the
  table's default: other programs only ever add time, so it is the more reproducible here) and
  the median (the course's usual statistic) beside it.

Prints one line per evaluation network (lower quartiles), the plain-sum, context-sum and modelled
MAPEs for both statistics, and as its last line `lut_mape_percent=<modelled MAPE, lower quartile>`.
Writes the table (with both calibrations) to `data/latency/<device>.lut.csv` only with `--save`.
About 3 minutes on 2 cores.

    .venv/bin/python benchmarks/lut_accuracy.py
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

import torch

from lwcnn import lut
from lwcnn.models import MobileNetV2, MobileNetV3, NetworkSpec, V2Row, V3Row

RESOLUTION = 32
NUM_CLASSES = 10
EVALUATION_NETWORKS, EVALUATION_SEED = 30, 0
CALIBRATION_NETWORKS, CALIBRATION_SEED = 20, 1
ROUNDS = 24
VISITS = 3  # timed calls of each network per round, each at another moment
BLOCK_ROUND_MS = 3.0  # time each block alone for about this long per round
SLICES = 8  # per round, alternate this many slices of blocks and of networks
THREADS = 1

STAGE_WIDTHS = ((16, 24), (24, 32, 40), (32, 40, 48, 64), (64, 80, 96), (96, 112, 128), (128, 160, 192))
STAGE_STRIDES = (1, 2, 2, 2, 1, 2)  # small_input turns the first stride-2 stage into stride 1


def random_network(rng: random.Random) -> NetworkSpec:
    """One network of the space (see the module docstring), drawn with `rng`."""
    stages = rng.choice((5, 6))
    scale = rng.choice((0.5, 0.75, 1.0))
    family = rng.choice(("v2", "v3", "v3"))
    rows = []
    for index in range(stages):
        width = max(8, int(rng.choice(STAGE_WIDTHS[index]) * scale) // 8 * 8)
        expansion = rng.choice((3, 6)) if index else 1
        kernel, squeeze_excite = rng.choice((3, 5)), rng.random() < 0.5
        activation = rng.choice(("relu", "hswish"))
        repeats = 1 if index == 0 else rng.choice((1, 2, 3))
        rows.append((expansion, kernel, squeeze_excite, activation, width, repeats, STAGE_STRIDES[index]))
    if family == "v2":
        table = tuple(V2Row(t, c, n, s) for t, _, _, _, c, n, s in rows)
        return MobileNetV2(table=table, small_input=True, num_classes=NUM_CLASSES)
    v3_rows, channels = [], MobileNetV3.stem_channels
    for expansion, kernel, squeeze_excite, activation, width, repeats, stride in rows:
        for repeat in range(repeats):
            expanded = channels * expansion
            v3_rows.append(
                V3Row(kernel, expanded, width, squeeze_excite, activation, stride if repeat == 0 else 1)
            )
            channels = width
    return MobileNetV3(table=tuple(v3_rows), small_input=True, num_classes=NUM_CLASSES)


def random_networks(count: int, seed: int, exclude: tuple[NetworkSpec, ...] = ()) -> list[NetworkSpec]:
    """`count` distinct networks of the space (none of `exclude`), drawn with `random.Random(seed)`."""
    rng = random.Random(seed)
    chosen: list[NetworkSpec] = []
    while len(chosen) < count:
        network = random_network(rng)
        if network not in chosen and network not in exclude:
            chosen.append(network)
    return chosen


def describe(network: NetworkSpec) -> str:
    """e.g. 'V3 14 blocks, 5 SE': the family, the inverted residuals, how many have SE."""
    family = "V2" if isinstance(network, MobileNetV2) else "V3"
    blocks = [block for stage in network.stages()[1:-1] for block in stage.layers]
    with_se = sum(block.squeeze_channels > 0 for block in blocks)
    return f"{family} {len(blocks):2d} blocks, {with_se:2d} SE"


def measure(
    evaluation: list[NetworkSpec], calibration: list[NetworkSpec], resolution: int, rounds: int
) -> tuple[lut.LatencyTable, dict[NetworkSpec, dict[str, float]]]:
    """Build the table and measure every network whole, interleaved so that both see the machine
    in the same states (its speed drifts within seconds): each round deals the blocks into
    `SLICES` slices and, after each slice, visits some networks; every network is visited
    `VISITS` times a round, each visit one untimed call (to warm it up as back-to-back inference
    would) and one timed call. Many short visits average the drifts out; a few long ones do not."""
    networks = evaluation + calibration
    blocks = list(dict.fromkeys(pair for net in networks for pair in lut.network_blocks(net, resolution)))
    print(f"{len(networks)} networks, {len(blocks)} distinct blocks; {rounds} rounds", flush=True)
    torch.manual_seed(0)
    models = [network.build().eval() for network in networks]
    x = torch.randn(1, 3, resolution, resolution)
    times: list[list[float]] = [[] for _ in networks]
    table = lut.LatencyTable(metadata={"benchmark": "benchmarks/lut_accuracy.py"})
    rng = random.Random(0)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        with torch.no_grad():
            for round_index in range(rounds):
                start = time.perf_counter()
                block_order = rng.sample(blocks, len(blocks))
                visits = rng.sample(range(len(models)), len(models)) * VISITS
                for part in range(SLICES):
                    table.measure_blocks(
                        block_order[part::SLICES],
                        threads=THREADS,
                        rounds=1,
                        round_time_ms=BLOCK_ROUND_MS,
                        seed=round_index * SLICES + part,
                        progress=False,  # one bar line per round is printed below
                    )
                    for index in visits[part::SLICES]:
                        models[index](x)
                        times[index] += lut.time_calls(models[index], x, 1)
                print(
                    f"  round {round_index + 1}/{rounds}: {time.perf_counter() - start:.1f} s, "
                    f"load average {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
    finally:
        torch.set_num_threads(previous_threads)
    measured = {network: lut.summarize_ms(t) for network, t in zip(networks, times, strict=True)}
    return table, measured


def percent_error(predicted: float, measured: float) -> float:
    return 100 * (predicted - measured) / measured


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--resolution", type=int, default=RESOLUTION, help="input size (default 32)")
    parser.add_argument("--save", action="store_true", help="write data/latency/<device>.lut.csv")
    args = parser.parse_args(argv)

    started, load_before = time.perf_counter(), os.getloadavg()[0]
    evaluation = random_networks(EVALUATION_NETWORKS, EVALUATION_SEED)
    calibration = random_networks(CALIBRATION_NETWORKS, CALIBRATION_SEED, exclude=tuple(evaluation))
    resolution = args.resolution
    table, measured = measure(evaluation, calibration, resolution, args.rounds)
    summaries = {}
    for statistic in lut.STATISTICS:  # the lower quartile (the table's default), then the median
        fit = table.calibrate(
            [(network, measured[network][statistic]) for network in calibration],
            resolution,
            statistic=statistic,
            fitted_on=f"{len(calibration)} random networks (seed {CALIBRATION_SEED}) at {resolution}x{resolution}",
        )
        rows, errors = [], {"plain": [], "context": [], "model": []}
        for network in evaluation:
            prediction = table.predict(network, resolution, statistic=statistic)
            truth = measured[network][statistic]
            values = {
                "plain": prediction.plain_ms,
                "context": prediction.context_ms,
                "model": prediction.latency_ms,
            }
            for name, value in values.items():
                errors[name].append(percent_error(value, truth))
            rows.append((network, truth, values))
        summaries[statistic] = (fit, rows, errors)

    fit, rows, errors = summaries[table.statistic]
    print(f"\nper network, {table.statistic} of the calls; errors against measured:")
    print(f"{'#':>3} {'network':<22}{'MMACs':>7}{'measured':>10}{'plain':>16}{'context':>16}{'model':>16}")
    for number, (network, truth, values) in enumerate(rows, 1):
        cells = "".join(f"{v:>9.2f} {percent_error(v, truth):+5.1f}%" for v in values.values())
        macs = network.cost(resolution).macs / 1e6
        print(f"{number:>3} {describe(network):<22}{macs:>7.1f}{truth:>10.2f}{cells}")

    def mape(values: list[float]) -> float:
        return statistics.fmean(abs(v) for v in values)

    for statistic, (fit, _, errors) in summaries.items():
        under = sum(e < 0 for e in errors["plain"])
        print(
            f"\n{statistic}: plain sum of blocks alone MAPE {mape(errors['plain']):.1f}% "
            f"(mean {statistics.fmean(errors['plain']):+.1f}%, {under}/{len(rows)} under-predicted); "
            f"in context {mape(errors['context']):.1f}% (mean {statistics.fmean(errors['context']):+.1f}%); "
            f"model, context x {fit.scale:.3f} (fitted on {fit.networks} other networks, {fit.mape_percent:.1f}% "
            f"there): {mape(errors['model']):.1f}% (mean {statistics.fmean(errors['model']):+.1f}%)"
        )
    print(
        f"\ndevice {lut.device_label()} ({THREADS} thread), {resolution}x{resolution}, batch 1, "
        f"{time.perf_counter() - started:.0f} s; load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    if args.save:
        table.metadata["created"] = time.strftime("%Y-%m-%d")
        table.metadata["command"] = "python benchmarks/lut_accuracy.py"
        path = table.save(lut.DATA_DIR / f"{lut.device_slug()}{lut.TABLE_SUFFIX}")
        print(f"saved {path} ({path.stat().st_size / 1024:.0f} KiB)")
    result = mape(summaries[table.statistic][2]["model"])
    print(f"lut_mape_percent={result:.2f}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
