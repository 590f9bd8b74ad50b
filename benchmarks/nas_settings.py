"""Choose the search strategies' settings on the held-out table, never on the course's table.

    .venv/bin/python benchmarks/nas_settings.py      # about 95 minutes on 2 CPU cores

`benchmarks/nas_compare.py` measures random search, REINFORCE and evolution on
`data/nasbench_digits.csv`. Settings picked because they do well there would be fitted to the
benchmark that then reports them. So every setting of `GRID` is run here on
`data/nasbench_digits_heldout.csv` instead (`lwcnn.nas.HELDOUT_SPACE`: the same decisions over
other networks, built by `benchmarks/nasbench_build.py --space heldout`), with the same task as
`nas_compare`: the number of distinct evaluations until an architecture in the top 1% of the
soft-constraint reward (T = that table's median latency), over `--seeds` seeds. A search that
never gets there within 20 x 216 asks (a REINFORCE policy that settled on another network) counts
as infinitely many evaluations; `failed` is how many seeds did that.

The rule, fixed with the grid before any run: per strategy, the setting with the lowest median;
ties go to the lower mean. Writes every setting's figures to `data/nas_settings.csv`;
`lwcnn.nas.TABLE_SETTINGS` holds the winners, and a test checks that it does. The last line:
`evolution=<settings> reinforce=<settings>`.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import multiprocessing
import pathlib
import platform
import statistics
import sys
import time

from tqdm.auto import tqdm

from lwcnn import latency, nas

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "nas_settings.csv"
GRID: dict[str, list[dict]] = {
    "evolution": [
        {"population_size": population, "sample_size": sample}
        for population in (5, 10, 20, 40)
        for sample in (2, 3, 5, 10, 20)
        if sample <= population
    ],
    "reinforce": [
        {"lr": lr, "normalize": normalize} for lr in (0.1, 0.25, 0.5, 1.0, 2.0) for normalize in (False, True)
    ]
    # Added after the first run showed normalized REINFORCE collapsing (and before any run with
    # the bonus, on either table): the entropy bonus, from negligible to dominating the update.
    + [
        {"lr": lr, "normalize": True, "entropy": entropy}
        for lr in (0.1, 0.25, 0.5, 1.0, 2.0)
        for entropy in (0.03, 0.1, 0.3, 1.0, 3.0)
    ],
}


def _counts(job: tuple[str, str, int]) -> tuple[str, str, list[float]]:
    """One strategy with one setting (as JSON) over `seeds` seeds on the held-out table."""
    name, setting, seeds = job
    _, rewards, top = nas.table_task(nas.load_table(nas.HELDOUT_TABLE, nas.HELDOUT_SPACE))
    settings = json.loads(setting)
    counts = nas.first_hits(
        lambda seed: nas.STRATEGIES[name](nas.HELDOUT_SPACE, seed, **settings), rewards, top, range(seeds)
    )
    return name, setting, counts


def choose(rows: list[dict]) -> dict[str, dict]:
    """The rule: per strategy, the lowest median, then the lowest mean."""
    best: dict[str, dict] = {}
    for row in rows:
        key = (float(row["median"]), float(row["mean"]))
        current = best.get(row["strategy"])
        if current is None or key < (float(current["median"]), float(current["mean"])):
            best[row["strategy"]] = row
    return {name: json.loads(row["settings"]) for name, row in best.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000, help="searches per setting (default 1000)")
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    args = parser.parse_args()
    _, rewards, top = nas.table_task(nas.load_table(nas.HELDOUT_TABLE, nas.HELDOUT_SPACE))
    print(f"held-out table: {len(rewards)} networks, top 1% = {len(top)} of them")
    jobs = [
        (name, json.dumps(setting, sort_keys=True), args.seeds)
        for name, grid in GRID.items()
        for setting in grid
    ]
    start = time.perf_counter()
    results = []
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for name, setting, counts in tqdm(pool.imap(_counts, jobs), total=len(jobs), desc="settings"):
            quartiles = statistics.quantiles(counts, n=4)
            results.append(
                {
                    "strategy": name,
                    "settings": setting,
                    "median": statistics.median(counts),
                    "mean": round(statistics.fmean(counts), 3),
                    "q1": quartiles[0],
                    "q3": quartiles[2],
                    "worst": max(counts),
                    "failed": counts.count(math.inf),
                }
            )
            tqdm.write(
                f"{name:>10} {setting:<45} median {results[-1]['median']:5.1f}  mean {results[-1]['mean']:6.2f}"
                f"  failed {results[-1]['failed']}"
            )
    chosen = choose(results)
    with open(OUT, "w", newline="") as handle:
        handle.write(
            "# lwcnn: search settings on the held-out table (data/nasbench_digits_heldout.csv)\n"
            "# made by: .venv/bin/python benchmarks/nas_settings.py\n"
            f"# machine: {latency.device_name()}; Python {platform.python_version()}; "
            f"{args.seeds} seeds per setting; {time.perf_counter() - start:.0f} s\n"
            "# task: distinct evaluations until the top 1% of the soft-constraint reward (T = median latency);"
            " inf: not within 20 x 216 asks\n"
            "# rule: per strategy, the lowest median, then the lowest mean\n"
        )
        writer = csv.DictWriter(handle, fieldnames=list(results[0]))
        writer.writeheader()
        writer.writerows(results)
    print(f"wrote {OUT.relative_to(ROOT)}")
    print(
        " ".join(f"{name}={json.dumps(chosen[name], sort_keys=True)}" for name in ("evolution", "reinforce"))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
