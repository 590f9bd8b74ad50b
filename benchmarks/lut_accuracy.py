"""How well a per-block latency lookup table predicts whole networks on this CPU (FBNet's assumption), by input size.

At each input size asked (`--resolutions`, default 32), 30 seeded random networks from a
MobileNetV2/V3-style space, 10 classes, one CPU thread, batch 1; at 32 and 64 in the CIFAR-style
layout (`small_input=True`, the course's setting), from 128 up in the ImageNet one. At 224 also the
zoo as published (MobileNetV2, V3-Large, V3-Small, MnasNet-A1, EfficientNet-B0; 1000 classes):

* the space, per stage: expansion 3 or 6, kernel 3 or 5, SE or not, ReLU or h-swish (V3 style),
  a width from a short list, 1-3 repeats; a network is MobileNetV3-style (its table rows) or,
  one time in three, MobileNetV2-style (3x3, ReLU6, no SE); 5 or 6 stages, widths scaled 0.5-1.
* one lookup table holds every block of these networks and of 20 more *calibration* networks
  (another seed): each block timed alone (the plain FBNet number) and in context (see
  `lwcnn.lut`); the calibration networks, measured whole, fit the table's calibration (its
  scale, and the share of the in-context excess a network pays: `LatencyTable.calibrate`). The
  30 evaluation networks never take part in any fit.
* blocks and networks are measured in the same run, interleaved: each round alternates slices of
  blocks with visits to networks (shuffled anew each round; each network is visited 3 times a
  round), so that the machine's drifting speed hits both alike.
* every latency (block or network) is a statistic of single calls: the lower quartile (the
  table's default: other programs only ever add time, so it is the more reproducible here) and
  the median (the course's usual statistic) beside it.

Each size is its own run of all that (its own table and calibration), one after the other. Every
timing keeps freed memory in the process (`lwcnn.latency.steady_allocator`: without it, from 64x64
up most of a big block's time was page faults, and how many depended on what ran before it).

Prints one row per size (MAPE of the plain sum, the in-context sum and the model, lower quartiles;
the model with medians beside it), the zoo's networks against their measured latency, and as its
last line `lut_mape_percent_max=<worst size's model MAPE> worst_resolution=<that size>
zoo_mape_percent=<the zoo's model MAPE, or nan without 224>`. `--networks` adds one line per
evaluation network. With `--save` it writes each size's table (entries and calibrations) to
`data/latency/<device>.<size>.lut.csv` (`lwcnn.lut.table_path`) and every network's measured and
predicted time to `data/latency/lut_accuracy/<device>.csv` (`lwcnn.lut.lut_accuracy` reads it).
One table per size: the 32x32 networks and the 128x128 ones share most block shapes, and a
block timed in two runs differs by the machine's drift between them; each size's table is the
one its networks were measured beside.
About 2, 2, 1.5 and 2.5 minutes for 32, 64, 128 and 224 on 2 cores.

    .venv/bin/python benchmarks/lut_accuracy.py --resolutions 32,64,128,224 --save
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import random
import statistics
import sys
import time

import torch

from lwcnn import lut
from lwcnn import models as zoo_models
from lwcnn.models import MobileNetV2, MobileNetV3, NetworkSpec, V2Row, V3Row

RESOLUTION = 32  # the course's size, and the default
SMALL_INPUT_UP_TO = 64  # the CIFAR-style layout at and below this size, the ImageNet one above
NUM_CLASSES = 10
EVALUATION_NETWORKS, EVALUATION_SEED = 30, 0
CALIBRATION_NETWORKS, CALIBRATION_SEED = 20, 1
ROUNDS = {32: 16, 64: 10, 128: 8, 224: 8}  # fewer at larger sizes: longer calls vary less
ZOO = ("mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "mnasnet_a1", "efficientnet_b0")
ZOO_RESOLUTION = 224
VISITS = 3  # timed calls of each network per round, each at another moment
BLOCK_ROUND_MS = 3.0  # time each block alone for about this long per round
SLICES = 8  # per round, alternate this many slices of blocks and of networks
THREADS = 1

STAGE_WIDTHS = ((16, 24), (24, 32, 40), (32, 40, 48, 64), (64, 80, 96), (96, 112, 128), (128, 160, 192))
STAGE_STRIDES = (1, 2, 2, 2, 1, 2)  # small_input turns the first stride-2 stage into stride 1


def random_network(rng: random.Random, small_input: bool = True) -> NetworkSpec:
    """One network of the space (see the module docstring), drawn with `rng`; `small_input`:
    the CIFAR-style layout (first stride-2 stage at stride 1) or the ImageNet one."""
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
        return MobileNetV2(table=table, small_input=small_input, num_classes=NUM_CLASSES)
    v3_rows, channels = [], MobileNetV3.stem_channels
    for expansion, kernel, squeeze_excite, activation, width, repeats, stride in rows:
        for repeat in range(repeats):
            expanded = channels * expansion
            v3_rows.append(
                V3Row(kernel, expanded, width, squeeze_excite, activation, stride if repeat == 0 else 1)
            )
            channels = width
    return MobileNetV3(table=tuple(v3_rows), small_input=small_input, num_classes=NUM_CLASSES)


def random_networks(
    count: int, seed: int, exclude: tuple[NetworkSpec, ...] = (), small_input: bool = True
) -> list[NetworkSpec]:
    """`count` distinct networks of the space (none of `exclude`), drawn with `random.Random(seed)`."""
    rng = random.Random(seed)
    chosen: list[NetworkSpec] = []
    while len(chosen) < count:
        network = random_network(rng, small_input)
        if network not in chosen and network not in exclude:
            chosen.append(network)
    return chosen


def describe(network: NetworkSpec) -> str:
    """e.g. 'V3 14 blocks, 5 SE': the family, the blocks between stem and head, how many have SE."""
    family = {MobileNetV2: "V2", MobileNetV3: "V3"}.get(type(network), type(network).__name__)
    blocks = [block for stage in network.stages()[1:-1] for block in stage.layers]
    with_se = sum(getattr(block, "squeeze_channels", 0) > 0 for block in blocks)
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


def rounds_for(resolution: int) -> int:
    """The rounds measured at `resolution`: `ROUNDS`' entry, else that of the next size up."""
    return ROUNDS.get(resolution) or next(
        (ROUNDS[s] for s in sorted(ROUNDS) if s >= resolution), min(ROUNDS.values())
    )


def networks_at(
    resolution: int,
) -> tuple[list[NetworkSpec], list[NetworkSpec], list[tuple[str, NetworkSpec]]]:
    """The evaluation and calibration networks at `resolution`, and the zoo (named) at `ZOO_RESOLUTION`."""
    small_input = resolution <= SMALL_INPUT_UP_TO
    evaluation = random_networks(EVALUATION_NETWORKS, EVALUATION_SEED, small_input=small_input)
    calibration = random_networks(
        CALIBRATION_NETWORKS, CALIBRATION_SEED, exclude=tuple(evaluation), small_input=small_input
    )
    zoo = [(name, zoo_models.spec(name)) for name in ZOO] if resolution == ZOO_RESOLUTION else []
    return evaluation, calibration, zoo


def run_size(resolution: int, rounds: int) -> tuple[lut.LatencyTable, list[dict], float]:
    """One size: measure, calibrate on the calibration networks (both statistics), predict every
    network; returns the table, one row per network (`lut.LUT_ACCURACY_COLUMNS`) and the model's
    MAPE with medians."""
    evaluation, calibration, zoo = networks_at(resolution)
    table, measured = measure(evaluation + [spec for _, spec in zoo], calibration, resolution, rounds)
    fitted_on = f"{len(calibration)} random networks (seed {CALIBRATION_SEED}) at {resolution}x{resolution}"
    for statistic in lut.STATISTICS:
        table.calibrate(
            [(network, measured[network][statistic]) for network in calibration],
            resolution,
            statistic=statistic,
            fitted_on=fitted_on,
        )
    rows = []
    named = [
        *((f"random {EVALUATION_SEED}/{i}", "evaluation", n) for i, n in enumerate(evaluation)),
        *((f"random {CALIBRATION_SEED}/{i}", "calibration", n) for i, n in enumerate(calibration)),
        *((name, "zoo", n) for name, n in zoo),
    ]
    for name, role, network in named:
        prediction = table.predict(network, resolution)
        rows.append(
            {
                "resolution": resolution,
                "role": role,
                "network": name,
                "family": describe(network),
                "macs": network.cost(resolution).macs,
                "measured_p25_ms": measured[network]["p25"],
                "measured_median_ms": measured[network]["median"],
                "plain_ms": prediction.plain_ms,
                "context_ms": prediction.context_ms,
                "predicted_ms": prediction.latency_ms,
                "scale": prediction.scale,
                "share": prediction.share,
            }
        )
    median_errors = [
        abs(table.predict(n, resolution, statistic="median").latency_ms / measured[n]["median"] - 1)
        for n in evaluation
    ]
    return table, rows, 100 * statistics.fmean(median_errors)


def write_accuracy(rows: list[dict], header: list[str]) -> str:
    """Every network's row to `data/latency/lut_accuracy/<device>.csv`, under `#` lines `header`."""
    path = lut.LUT_ACCURACY_DIR / f"{lut.device_slug()}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        handle.writelines(f"# {line}\n" for line in header)
        writer = csv.DictWriter(handle, fieldnames=lut.LUT_ACCURACY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()})
    return str(path)


def percent_error(predicted: float, measured: float) -> float:
    return 100 * (predicted - measured) / measured


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--resolutions", default=str(RESOLUTION), help="comma-separated input sizes (default 32)"
    )
    parser.add_argument("--rounds", type=int, help=f"rounds at every size (default per size: {ROUNDS})")
    parser.add_argument("--networks", action="store_true", help="one line per evaluation network too")
    parser.add_argument("--save", action="store_true", help="write the table and the accuracy recording")
    args = parser.parse_args(argv)
    try:
        sizes = [int(text) for text in args.resolutions.split(",") if text.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 32 or len(set(sizes)) != len(sizes):
        parser.error(
            f"--resolutions: distinct sizes of at least 32, e.g. 32,64,128,224; got {args.resolutions!r}"
        )
    if args.rounds is not None and args.rounds < 1:
        parser.error(f"--rounds must be a positive integer, got {args.rounds}")

    allocator = lut.steady_allocator()
    print(f"device {lut.device_label()}, {THREADS} thread, batch 1; allocator: {allocator}", flush=True)
    rows, results, tables = [], [], {}
    for size in sizes:
        started, load_before = time.perf_counter(), os.getloadavg()[0]
        rounds = args.rounds or rounds_for(size)
        print(f"\n{size}x{size}:", flush=True)
        table, size_rows, median_mape = run_size(size, rounds)
        tables[size] = table
        rows += size_rows
        seconds = time.perf_counter() - started
        results.append((size, rounds, len(table), seconds, load_before, os.getloadavg()[0], median_mape))
        if args.networks:
            print(
                f"{'network':<14}{'family':<22}{'MMACs':>8}{'measured':>10}{'plain':>16}{'context':>16}{'model':>16}"
            )
            for row in size_rows:
                if row["role"] == "evaluation":
                    truth = row["measured_p25_ms"]
                    cells = "".join(
                        f"{row[c]:>9.2f} {percent_error(row[c], truth):+5.1f}%"
                        for c in ("plain_ms", "context_ms", "predicted_ms")
                    )
                    print(
                        f"{row['network']:<14}{row['family']:<22}{row['macs'] / 1e6:>8.1f}{truth:>10.2f}{cells}"
                    )

    errors = lut.lut_errors(rows)
    print(
        "\nMAPE against the measured lower quartile of the evaluation networks (the model with medians beside):"
    )
    print(
        f"{'size':>5} {'layout':<9}{'nets':>5}{'blocks':>7}{'rounds':>7}{'seconds':>8}{'load':>10}"
        f"{'plain':>8}{'context':>9}{'model':>7}{'bias':>7}{'scale':>7}{'share':>7}{'median':>8}"
    )
    for size, rounds, blocks, seconds, load_before, load_after, median_mape in results:
        e = errors[size]
        scale, share = next((r["scale"], r["share"]) for r in rows if r["resolution"] == size)
        layout = "CIFAR" if size <= SMALL_INPUT_UP_TO else "ImageNet"
        print(
            f"{size:>5} {layout:<9}{e['networks']:>5}{blocks:>7}{rounds:>7}{seconds:>8.0f}{load_before:>5.2f}/{load_after:<4.2f}"
            f"{e['plain_mape']:>7.1f}%{e['context_mape']:>8.1f}%{e['model_mape']:>6.1f}%{e['model_bias']:>+6.1f}%"
            f"{scale:>7.3f}{share:>7.2f}{median_mape:>7.1f}%"
        )
    zoo_rows = [row for row in rows if row["role"] == "zoo"]
    zoo_mape = math.nan
    if zoo_rows:
        print(f"\nthe zoo at {ZOO_RESOLUTION}x{ZOO_RESOLUTION} (1000 classes), lower quartiles:")
        for row in zoo_rows:
            truth = row["measured_p25_ms"]
            print(
                f"  {row['network']:<20}{row['macs'] / 1e6:>7.0f} MMACs  measured {truth:6.2f} ms  "
                f"predicted {row['predicted_ms']:6.2f} ms ({percent_error(row['predicted_ms'], truth):+.1f}%)  "
                f"plain sum {percent_error(row['plain_ms'], truth):+.1f}%"
            )
        zoo_mape = lut.lut_errors(rows, role="zoo")[ZOO_RESOLUTION]["model_mape"]
    if args.save:
        created = time.strftime("%Y-%m-%d")
        command = f"python benchmarks/lut_accuracy.py --resolutions {args.resolutions} --save"
        for size, rounds, _, seconds, *_ in results:
            tables[size].metadata.update(
                {
                    "benchmark": "benchmarks/lut_accuracy.py",
                    "command": command,
                    "created": created,
                    "allocator": allocator,
                    "resolution": str(size),
                    "rounds": str(rounds),
                    "seconds": f"{seconds:.0f}",
                }
            )
            path = tables[size].save(lut.table_path(size, lut.device_slug()))
            print(f"saved {path} ({path.stat().st_size / 1024:.0f} KiB)")
        timings = ", ".join(f"{size}: {seconds:.0f} s" for size, _, _, seconds, *_ in results)
        header = [
            f"command: {command}",
            f"machine: {lut.device_name()}, {THREADS} thread, batch 1; allocator: {allocator}",
            f"created: {created}; torch {torch.__version__}; time per size: {timings}",
            "one row per network and size; lower quartiles and medians of single whole-network calls",
        ]
        print(f"saved {write_accuracy(rows, header)}")
    worst = max(errors, key=lambda size: errors[size]["model_mape"])
    print(
        f"lut_mape_percent_max={errors[worst]['model_mape']:.2f} worst_resolution={worst} zoo_mape_percent={zoo_mape:.2f}"
    )
    return errors[worst]["model_mape"]


if __name__ == "__main__":
    main(sys.argv[1:])
