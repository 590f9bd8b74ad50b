"""Train the scaled networks of lesson 11 on distorted digits: scaling curves, compound grid, TinyNet.

    .venv/bin/python benchmarks/scaling_build.py            # about 32 minutes on 2 CPU cores

Every network is `lwcnn.scaling.scaled_spec(digits_base(), (d, w, r))`, trained on the distorted
digits (resized to the network's input side) by `lwcnn.scaling.train_scaled`, with its recipe,
once per seed of `SEEDS`, in `--jobs` processes of one thread. The experiments:

* base, and single-dimension curves: width, depth or resolution alone (EfficientNet, Fig. 3);
* grid: every (alpha, beta, gamma) of `compound_grid(GRID_STEP, GRID_TOLERANCE)` at phi = 1;
* tinynet: `TINYNET_SAMPLES` samples at each budget of `TINYNET_BUDGETS` (r, d uniform; w solved
  on the rounded network's real FLOPs, kept within `REAL_TOLERANCE` of the budget);
* at each budget of `HELD_OUT_BUDGETS`: TinyNet's GP recommendation (GPs fitted on the `TOP` best
  samples per budget, ranked by their mean accuracy over the seeds) and inverse compound scaling
  (B0's alpha, beta, gamma), both matched to the budget on the real network.

Writes `data/scaling_distorted.csv`: a header of `#` lines (command, machine, recipe, time), then
one row per network of an experiment (its multipliers, image size, params, MACs, one test
accuracy per seed). Identical networks (rounding makes some multipliers equal) train once.
Interrupted runs resume from `data/scaling_distorted.partial.csv` (delete it to start over).
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import pathlib
import platform
import sys
import time

import torch
from tqdm.auto import tqdm

from lwcnn import latency, models, paths
from lwcnn import scaling as S

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = paths.SCALING_TABLE
PARTIAL = OUT.with_suffix(".partial.csv")
RECIPE = S.TRAINING_RECIPE
SEEDS = (0, 1, 2)  # every network trains once per seed (its weights, its split, its distortions)
CURVES = {
    "width": (0.5, 0.75, 1.25, 1.5),
    "depth": (0.5, 1.5, 2.0, 2.5),
    "resolution": (0.5, 0.75, 1.25, 1.5),
}
GRID_STEP, GRID_TOLERANCE = 0.1, 0.05
TINYNET_BUDGETS, TINYNET_SAMPLES, SAMPLE_SEED = (0.25, 0.5, 0.75), 12, 0
REAL_TOLERANCE = 0.1  # a sample's real FLOPs factor within 10% of its budget
TOP = 4  # best samples per budget that the GPs are fitted on
HELD_OUT_BUDGETS = (0.3, 0.4, 0.6, 0.7)


def _train(job: tuple[str, tuple[float, float, float], int]) -> list:
    """Train one network with one seed on one thread: [key, seed, accuracy, seconds]."""
    key, multipliers, seed = job
    torch.set_num_threads(1)  # the order of float sums, hence the numbers, depend on it
    start = time.perf_counter()
    history = S.train_scaled(multipliers, seed=seed, progress=False)
    return [key, seed, f"{history.final_test_accuracy:.6f}", f"{time.perf_counter() - start:.2f}"]


def _read_partial() -> dict[tuple[str, int], list]:
    if not PARTIAL.exists():
        return {}
    with open(PARTIAL, newline="") as handle:
        return {(row[0], int(row[1])): row for row in csv.reader(handle)}


def _run(pool, networks: list[tuple[str, float, S.Multipliers]], done: dict, bar) -> None:
    """Train every (network, seed) not yet in `done`, appending to the partial file."""
    jobs, seen = [], set()
    for _, _, multipliers in networks:
        key = S.network_key(multipliers)
        for seed in SEEDS:
            if (key, seed) not in done and (key, seed) not in seen:
                seen.add((key, seed))
                jobs.append((key, tuple(multipliers), seed))
    bar.total += len(jobs)
    bar.refresh()
    with open(PARTIAL, "a", newline="") as handle:
        writer = csv.writer(handle)
        for row in pool.imap_unordered(_train, jobs):
            writer.writerow(row)
            handle.flush()
            done[(row[0], int(row[1]))] = row
            bar.update()


def _accuracy(done: dict, multipliers: S.Multipliers) -> float:
    key = S.network_key(multipliers)
    return sum(float(done[(key, seed)][2]) for seed in SEEDS) / len(SEEDS)


def first_networks() -> list[tuple[str, float, S.Multipliers]]:
    """(experiment, budget, multipliers) of everything that does not depend on a training result."""
    base = S.digits_base()
    networks = [("base", 1.0, S.Multipliers(1.0, 1.0, 1.0))]
    for dimension, values in CURVES.items():
        for value in values:
            multipliers = S.Multipliers(**{"depth": 1.0, "width": 1.0, "resolution": 1.0, dimension: value})
            networks.append((dimension, S.flops_factor(*multipliers), multipliers))
    for multipliers in S.compound_grid(GRID_STEP, GRID_TOLERANCE):
        networks.append(("grid", S.flops_factor(*multipliers), multipliers))
    for budget in TINYNET_BUDGETS:
        samples = S.tinynet_samples(
            budget,
            TINYNET_SAMPLES,
            seed=SAMPLE_SEED,
            accept=lambda m, c=budget: abs(S.real_flops_factor(base, m) / c - 1) <= REAL_TOLERANCE,
            width_rule=lambda c, d, r: S.real_budget_width(base, c, d, r),
        )
        networks += [("tinynet", budget, m) for m in samples]
    return networks


def held_out_networks(networks, done: dict) -> list[tuple[str, float, S.Multipliers]]:
    """The GP recommendation and inverse compound scaling at each held-out budget."""
    base = S.digits_base()
    samples = [
        S.ScalingRow("tinynet", budget, m, 0, 0, 0, (_accuracy(done, m),))
        for experiment, budget, m in networks
        if experiment == "tinynet"
    ]
    best = S.best_per_budget(samples, TOP)
    gp = S.fit_tinynet_gp(
        [row.budget for row in best],
        [row.multipliers.resolution for row in best],
        [row.multipliers.depth for row in best],
    )
    result = []
    for budget in HELD_OUT_BUDGETS:
        d, _, r = gp.recommend(budget)
        result.append(("tinynet_gp", budget, S.Multipliers(d, S.real_budget_width(base, budget, d, r), r)))
        phi = S.real_budget_phi(base, budget)
        result.append(("inverse_compound", budget, S.compound_multipliers(phi)))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="training processes (default 2), one thread each")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    done = _read_partial()
    networks = first_networks()
    with (
        multiprocessing.get_context("spawn").Pool(args.jobs) as pool,
        tqdm(total=0, desc="training", disable=args.no_progress) as bar,
    ):
        _run(pool, networks, done, bar)
        networks += held_out_networks(networks, done)
        _run(pool, networks, done, bar)
    trained = {(S.network_key(m), seed) for _, _, m in networks for seed in SEEDS}
    train_seconds = sum(float(done[job][3]) for job in trained)

    with open(OUT, "w", newline="") as handle:
        handle.write(
            "# lwcnn scaling experiments: scaled versions of lwcnn.scaling.digits_base() trained on "
            "distorted digits (lwcnn.data.distorted_digits_loaders at each network's input side)\n"
            "# made by: .venv/bin/python benchmarks/scaling_build.py\n"
            f"# machine: {latency.device_name()}; torch {torch.__version__}; Python {platform.python_version()}\n"
            f"# training: {RECIPE}, seeds {SEEDS}, one thread per training; "
            f"{len(trained)} trainings, {train_seconds:.0f} s in all, in {args.jobs} processes: about "
            f"{train_seconds / args.jobs / 60:.0f} minutes of build time\n"
            f"# curves {CURVES}; grid step {GRID_STEP}, tolerance {GRID_TOLERANCE}; TinyNet budgets "
            f"{TINYNET_BUDGETS} x {TINYNET_SAMPLES} samples (seed {SAMPLE_SEED}, real FLOPs within "
            f"{REAL_TOLERANCE:.0%}), GPs on the best {TOP} per budget, held-out budgets {HELD_OUT_BUDGETS}\n"
        )
        writer = csv.writer(handle)
        writer.writerow(
            [
                "experiment",
                "budget",
                "depth",
                "width",
                "resolution",
                "image_size",
                "params",
                "macs",
                *(f"accuracy_seed{seed}" for seed in SEEDS),
            ]
        )
        for experiment, budget, m in networks:
            spec = S.scaled_spec(S.digits_base(), m)
            cost = models.cost(spec)
            key = S.network_key(m)
            writer.writerow(
                [
                    experiment,
                    repr(budget),
                    repr(m.depth),
                    repr(m.width),
                    repr(m.resolution),
                    spec.resolution,
                    cost.params,
                    cost.macs,
                    *(done[(key, seed)][2] for seed in SEEDS),
                ]
            )
    print(
        f"wrote {OUT.relative_to(ROOT)}: {len(networks)} rows, {time.perf_counter() - start:.0f} s this run"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
