"""Every search of lessons 09-14 on the course's tabular benchmark, side by side.

    .venv/bin/python benchmarks/search_compare.py            # about a minute on 2 cores
    .venv/bin/python benchmarks/search_compare.py --save     # also writes data/search_compare.csv

One task for all, `benchmarks/nas_compare.py`'s: on `data/nasbench_digits.csv`, the soft-constraint
reward `ACC * (LAT / T)^-0.07` (T = the table's median latency); each search asks until it has
evaluated a network of the top 1%, and the count is of *distinct* networks (a repeat is a
look-up, not a training); a search not there after 20 x 216 asks has failed (`inf`). The same
`--seeds` seeds for every strategy, each with its settings chosen on the held-out table before
this table was searched:

* random search, REINFORCE, regularized evolution: `lwcnn.nas.TABLE_SETTINGS` (`nas_settings.py`);
* predictor-guided evolution: `lwcnn.nas.PREDICTOR_SETTINGS` (`predictor_settings.py`); its
  predictor learns only from the networks the search itself evaluated, so every training it
  needed is counted;
* Optuna's TPE, NSGA-II (as a single-objective sampler) and random sampler:
  `lwcnn.nas.OPTUNA_SETTINGS` (`optuna_settings.py`); `--gp` adds the Gaussian-process sampler
  (about 3 s a search).

Then, not as first-hit counts:

* the accuracy predictor's Kendall tau on held-out networks: ridge regression on the one-hot
  encoding fitted to a random half of this table, ranked on the other half, over 20 splits;
* NSGA-II on the two objectives (accuracy, latency) for `lwcnn.nas.FRONT_BUDGET` distinct
  networks: the hypervolume its front dominates over the table's true front's (`hypervolume_ratio`),
  beside Optuna's random sampler at the same budget;
* NetAdapt against uniform width scaling, read from the recording `data/netadapt.csv`
  (`benchmarks/netadapt.py`: three seeds of training, about 10 minutes): the test-accuracy gap in
  points, per seed, and both networks' measured latency.

The last line:

    predictor_kendall_tau=<mean> predictor_saves=<1 - guided median / evolution median>
    tpe_vs_random=<TPE median / random median> nsga2_hypervolume_ratio=<median>
    netadapt_acc_gain_points=<mean NetAdapt - uniform accuracy, points>
"""

from __future__ import annotations

import argparse
import csv
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from lwcnn import latency, nas, paths

ROOT = Path(__file__).resolve().parents[1]
SAVED = paths.SEARCH_COMPARE
TAU_SPLITS, TAU_SHARE = 20, 0.5
COLUMNS = ("strategy", "seeds", "median", "q1", "q3", "worst", "failed")


def strategies(rows: list[nas.TableRow], gp: bool) -> dict[str, object]:
    """Name -> a function of the seed that makes the strategy, with its held-out-chosen settings."""
    made = {
        "random": lambda seed: nas.table_strategy("random", seed),
        "reinforce": lambda seed: nas.table_strategy("reinforce", seed),
        "evolution": lambda seed: nas.table_strategy("evolution", seed),
        "predictor evolution": lambda seed: nas.predictor_strategy(seed, rows=rows),
        "optuna tpe": lambda seed: nas.optuna_strategy("tpe", seed),
        "optuna nsga2": lambda seed: nas.optuna_strategy("nsga2", seed),
        "optuna random": lambda seed: nas.optuna_strategy("random", seed),
    }
    if gp:
        made["optuna gp"] = lambda seed: nas.optuna_strategy("gp", seed)
    return made


def summary(counts: list[float]) -> dict[str, float]:
    quartiles = statistics.quantiles(counts, n=4)
    return {
        "median": statistics.median(counts),
        "q1": quartiles[0],
        "q3": quartiles[2],
        "worst": max(counts),
        "failed": counts.count(math.inf),
    }


def netadapt_gaps() -> list[dict[str, float]]:
    """Per seed of the NetAdapt recording: test accuracy and measured latency of the NetAdapt and
    the uniformly scaled network (same predicted latency budget)."""
    return [
        {
            "seed": seed,
            "netadapt": float(kinds["netadapt"]["test_accuracy"]),
            "uniform": float(kinds["uniform"]["test_accuracy"]),
            "netadapt_ms": float(kinds["netadapt"]["measured_ms"]),
            "uniform_ms": float(kinds["uniform"]["measured_ms"]),
        }
        for seed, kinds in nas.recorded_finals(nas.recorded_netadapt()).items()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200, help="searches per strategy (default 200)")
    parser.add_argument("--gp", action="store_true", help="add Optuna's GP sampler (about 3 s a search)")
    parser.add_argument("--save", action="store_true", help=f"write {SAVED.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    if args.seeds < 4:
        parser.error("--seeds must be at least 4 (quartiles)")
    torch.set_num_threads(1)  # the GP sampler's torch: two threads on two shared cores crawl
    start = time.perf_counter()
    rows = nas.load_table()
    _, rewards, top = nas.table_task(rows)
    seeds = range(args.seeds)

    results = {}
    print(
        f"{len(rows)} networks, top 1% = {len(top)}; distinct evaluations to reach it over {args.seeds} seeds"
    )
    print(f"{'strategy':>20}  {'median':>6}  {'quartiles':>11}  {'worst':>5}  failed")
    for name, make in strategies(rows, args.gp).items():
        counts = nas.first_hits(make, rewards, top, tqdm(seeds, desc=name, leave=False))
        results[name] = summary(counts)
        figures = results[name]
        print(
            f"{name:>20}  {figures['median']:6.1f}  {figures['q1']:5.1f}-{figures['q3']:<5.1f}  "
            f"{figures['worst']:>5}  {figures['failed']}"
        )

    taus = [
        nas.predictor_rank_correlation(rows, nas.TABLE_SPACE, TAU_SHARE, seed)[0]
        for seed in range(TAU_SPLITS)
    ]
    tau = statistics.mean(taus)
    print(
        f"predictor (ridge, one-hot): Kendall tau {tau:.3f} on the held-out half, mean of {TAU_SPLITS} splits "
        f"(range {min(taus):.3f}-{max(taus):.3f})"
    )

    table = [(row.accuracy, row.latency_ms) for row in rows]
    ratios = {}
    for sampler in ("nsga2", "random"):
        ratios[sampler] = [
            nas.hypervolume_ratio(nas.nsga2_search(rows, seed=seed, sampler=sampler).points, table)
            for seed in tqdm(seeds, desc=f"front {sampler}", leave=False)
        ]
        quartiles = statistics.quantiles(ratios[sampler], n=4)
        print(
            f"front after {nas.FRONT_BUDGET} networks, {sampler:>6}: hypervolume ratio median "
            f"{statistics.median(ratios[sampler]):.3f} (quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f})"
        )

    gaps = netadapt_gaps()
    for gap in gaps:
        print(
            f"NetAdapt seed {gap['seed']}: test accuracy {gap['netadapt']:.4f} vs uniform {gap['uniform']:.4f} "
            f"({100 * (gap['netadapt'] - gap['uniform']):+.2f} points); measured {gap['netadapt_ms']:.2f} vs "
            f"{gap['uniform_ms']:.2f} ms (recorded: data/netadapt.csv)"
        )
    netadapt_gain = statistics.mean(100 * (gap["netadapt"] - gap["uniform"]) for gap in gaps)

    if args.save:
        save(results, args.seeds, tau, ratios, time.perf_counter() - start)
    saves = 1 - results["predictor evolution"]["median"] / results["evolution"]["median"]
    print(
        f"predictor_kendall_tau={tau:.3f} predictor_saves={saves:.2f} "
        f"tpe_vs_random={results['optuna tpe']['median'] / results['random']['median']:.2f} "
        f"nsga2_hypervolume_ratio={statistics.median(ratios['nsga2']):.3f} "
        f"netadapt_acc_gain_points={netadapt_gain:+.2f}"
    )
    return 0


def save(results: dict, seeds: int, tau: float, ratios: dict[str, list[float]], seconds: float) -> None:
    """The first-hit table, then the predictor's tau and the fronts' ratios as rows of their own."""
    with SAVED.open("w", newline="") as handle:
        handle.write(
            "# lwcnn: every search on data/nasbench_digits.csv, distinct evaluations to the top 1% "
            "(inf: not within 20 x 216 asks)\n"
            "# made by: .venv/bin/python benchmarks/search_compare.py --save\n"
            f"# machine: {latency.device_name()}; Python {platform.python_version()}; {time.strftime('%Y-%m-%d')}, "
            f"{seconds:.0f} s (table look-ups and seeded samplers)\n"
            f"# predictor_kendall_tau: mean over {TAU_SPLITS} splits at train share {TAU_SHARE}; "
            f"front rows: median hypervolume ratio after {nas.FRONT_BUDGET} networks in the median column\n"
        )
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        for name, figures in results.items():
            writer.writerow({"strategy": name, "seeds": seeds, **figures})
        writer.writerow({"strategy": "predictor_kendall_tau", "seeds": TAU_SPLITS, "median": round(tau, 4)})
        for sampler, values in ratios.items():
            quartiles = statistics.quantiles(values, n=4)
            writer.writerow(
                {
                    "strategy": f"front {sampler}",
                    "seeds": seeds,
                    "median": round(statistics.median(values), 4),
                    "q1": round(quartiles[0], 4),
                    "q3": round(quartiles[2], 4),
                    "worst": round(min(values), 4),
                }
            )
    print(f"wrote {SAVED}")


if __name__ == "__main__":
    sys.exit(main())
