"""Choose Optuna's samplers' settings on the held-out table, never on the course's table.

    .venv/bin/python benchmarks/optuna_settings.py      # about 9 minutes on 2 busy CPU cores

The discipline of `benchmarks/nas_settings.py`, for `lwcnn.nas.optuna_search`. Two tasks, both on
`data/nasbench_digits_heldout.csv` (`lwcnn.nas.HELDOUT_SPACE`):

- first hit: `OptunaStrategy` with each setting of `GRID`, scored as `nas_settings` scores
  lwcnn's strategies: distinct evaluations until an architecture in the top 1% of the
  soft-constraint reward (T = that table's median latency), `inf` if not within 20 x 216 asks
  (`failed` counts those); over `--seeds` seeds (`--gp-seeds` for the Gaussian process, whose
  fit takes seconds per search where TPE's takes a fraction of one);
- front: `nsga2_search` with each setting of `FRONT_GRID` at `FRONT_BUDGET` distinct networks,
  scored by `hypervolume_ratio` against the held-out table's whole front, over `--seeds` seeds.

The rules, fixed with the grids before any run: first hit, per sampler, the lowest median, ties to
the lower mean (`nas_settings`'s rule); front, the highest median ratio, ties to the higher mean;
a tie in both goes to the setting listed first in the grid (added after the first run, where
GP's two settings with `n_startup_trials=5` tied in both over 30 seeds: it keeps the one that
run had picked by finishing first, and makes the choice independent of finishing order).
One row per setting as it finishes; `lwcnn.nas.optuna_search.OPTUNA_SETTINGS` and
`FRONT_SETTINGS` hold the winners. The last line: `tpe=<settings> gp=<settings> nsga2=<settings>
front_nsga2=<settings>`.

Left out of the grids: TPE's `consider_endpoints`, `prior_weight`, `gamma` and `weights`
(deprecated since Optuna 4.9; `consider_endpoints` only acts on numeric parameters anyway) and the
independent TPE (`multivariate=False`): a look at 10 held-out seeds before the grid showed it
asking the same networks again and again (551 asks for 50 distinct networks), and one search ran
over 5 minutes without reaching the top 1%, too slow for 200 seeds. TPE is Optuna 5's default,
the multivariate TPE.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import statistics
import sys
import time
from collections import defaultdict

from tqdm.auto import tqdm

from lwcnn import nas
from lwcnn.nas import optuna_search

GRID: dict[str, list[dict]] = {
    "tpe": [
        {"n_startup_trials": startup, "n_ei_candidates": candidates}
        for startup in (5, 10, 20)
        for candidates in (8, 24, 96)
    ],
    "random": [{}],
    "gp": [
        {"n_startup_trials": startup, "deterministic_objective": deterministic}
        for startup in (5, 10)
        for deterministic in (False, True)
    ],
    "nsga2": [{"population_size": population} for population in (5, 10, 20)],
}
FRONT_GRID: dict[str, list[dict]] = {
    "nsga2": [{"population_size": population} for population in (4, 8, 12, 16, 25)],
    "random": [{}],
}
CHUNK = {"gp": 5}  # seeds per job (25 for the others): the two processes stay busy to the end


def _worker_init() -> None:
    import warnings

    import torch
    from optuna.exceptions import ExperimentalWarning

    warnings.simplefilter("ignore", ExperimentalWarning)  # GP's deterministic_objective, each search

    torch.set_num_threads(1)  # GPSampler fits with torch: 2 threads on 2 shared cores spin-wait


def _run(job: tuple[str, str, str, list[int]]) -> tuple[str, str, str, list[float], float]:
    """One setting (as JSON) of one task over some seeds on the held-out table."""
    task, sampler, setting, seeds = job
    start = time.perf_counter()
    rows = nas.load_table(nas.HELDOUT_TABLE, nas.HELDOUT_SPACE)
    settings = json.loads(setting)
    if task == "first hit":
        _, rewards, top = nas.table_task(rows)
        scores = nas.first_hits(
            lambda seed: optuna_search.OptunaStrategy(nas.HELDOUT_SPACE, seed, sampler, **settings),
            rewards,
            top,
            seeds,
        )
    else:
        table = [(row.accuracy, row.latency_ms) for row in rows]
        scores = [
            optuna_search.hypervolume_ratio(
                optuna_search.nsga2_search(
                    rows, nas.HELDOUT_SPACE, optuna_search.FRONT_BUDGET, seed, sampler, **settings
                ).points,
                table,
            )
            for seed in seeds
        ]
    return task, sampler, setting, scores, time.perf_counter() - start


def summary(scores: list[float]) -> dict:
    quartiles = statistics.quantiles(scores, n=4)
    return {
        "median": statistics.median(scores),
        "mean": statistics.fmean(scores),
        "q1": quartiles[0],
        "q3": quartiles[2],
        "failed": scores.count(math.inf),
    }


def choose(rows: list[dict]) -> dict[tuple[str, str], dict]:
    """The rules: first hit, the lowest (median, mean); front, the highest; ties: the first row."""
    best: dict[tuple[str, str], dict] = {}
    for row in rows:
        sign = 1 if row["task"] == "first hit" else -1
        key = (sign * row["median"], sign * row["mean"])
        current = best.get((row["task"], row["sampler"]))
        if current is None or key < (sign * current["median"], sign * current["mean"]):
            best[(row["task"], row["sampler"])] = row
    return {name: json.loads(row["settings"]) for name, row in best.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200, help="searches per setting (default 200)")
    parser.add_argument("--gp-seeds", type=int, default=30, help="for the Gaussian process (default 30)")
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    args = parser.parse_args()
    _, rewards, top = nas.table_task(nas.load_table(nas.HELDOUT_TABLE, nas.HELDOUT_SPACE))
    print(f"held-out table: {len(rewards)} networks, top 1% = {len(top)} of them")
    settings = [("first hit", name, setting) for name, grid in GRID.items() for setting in grid]
    settings += [("front", name, setting) for name, grid in FRONT_GRID.items() for setting in grid]
    jobs, expected = [], {}
    for task, name, setting in settings:
        seeds = list(range(args.gp_seeds if name == "gp" else args.seeds))
        size = CHUNK.get(name, 25)
        key = (task, name, json.dumps(setting, sort_keys=True))
        chunks = [seeds[i : i + size] for i in range(0, len(seeds), size)]
        expected[key] = len(chunks)
        jobs += [(*key, chunk) for chunk in chunks]
    jobs.sort(key=lambda job: job[1] != "gp")  # the slow ones first
    start = time.perf_counter()
    parts: dict[tuple, list] = defaultdict(list)
    results = []
    with multiprocessing.get_context("spawn").Pool(args.jobs, initializer=_worker_init) as pool:
        for task, name, setting, scores, seconds in tqdm(
            pool.imap_unordered(_run, jobs), total=len(jobs), desc="jobs"
        ):
            key = (task, name, setting)
            parts[key].append((scores, seconds))
            if len(parts[key]) < expected[key]:
                continue
            all_scores = [score for chunk, _ in parts[key] for score in chunk]
            row = {"task": task, "sampler": name, "settings": setting, "seeds": len(all_scores)}
            row |= summary(all_scores) | {"cpu_s": sum(seconds for _, seconds in parts[key])}
            results.append(row)
            tqdm.write(
                f"{task:>9} {name:>6} {setting:<52} {row['seeds']:>4} seeds  median {row['median']:7.3f}"
                f"  mean {row['mean']:7.3f}  q1 {row['q1']:7.3f}  q3 {row['q3']:7.3f}"
                f"  failed {row['failed']}  {row['cpu_s']:6.1f} s"
            )
    order = [(task, name, json.dumps(setting, sort_keys=True)) for task, name, setting in settings]
    results.sort(key=lambda row: order.index((row["task"], row["sampler"], row["settings"])))  # grid order
    chosen = choose(results)
    print(f"{time.perf_counter() - start:.0f} s on {args.jobs} processes")
    print(
        " ".join(
            f"{name}={json.dumps(chosen['first hit', name], sort_keys=True)}"
            for name in ("tpe", "gp", "nsga2")
        )
        + f" front_nsga2={json.dumps(chosen['front', 'nsga2'], sort_keys=True)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
