"""Random search vs REINFORCE vs regularized evolution on the course's tabular NAS benchmark.

    .venv/bin/python benchmarks/nas_compare.py            # under a minute: every evaluation is a look-up

The reward is MnasNet's soft-constraint objective `ACC * (LAT / T)^-0.07` over
`data/nasbench_digits.csv`, with T the table's median latency. For each of `--seeds` seeds, each
strategy asks and is told rewards until it has evaluated an architecture in the top 1% of the
table's rewards; the count is of *distinct* architectures (a repeat is a cache hit: a real search
would not train the same network twice); a search that is not there after 20 x 216 asks (a
REINFORCE policy that settled on another network) has failed and counts as infinitely many. The
strategies' settings are `lwcnn.nas.TABLE_SETTINGS` (chosen on the held-out table by
`benchmarks/nas_settings.py`); `--settings` runs others, for a look only:

    .venv/bin/python benchmarks/nas_compare.py --settings \\
        '{"reinforce": {"lr": 0.5, "normalize": true}, "evolution": {"population_size": 10, "sample_size": 3}}'

1000 seeds by default: a median of first-hit counts is a noisy statistic (random search's is
about 45 +- 4 at 200 seeds, +- 8 at 50), and the ratios below divide two of them. `--save`
writes the figures into `data/nas_compare.csv` (one row per strategy and settings, replacing the
rows of the same settings), which lesson 09 reads. The last line:

    rl_vs_random=<median RL count / median random count> evo_vs_random=<same for evolution>
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from lwcnn import latency, nas

SAVED = Path(__file__).resolve().parents[1] / "data" / "nas_compare.csv"
COLUMNS = ("settings", "strategy", "seeds", "median", "q1", "q3", "worst", "failed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000, help="searches per strategy (default 1000)")
    parser.add_argument("--table", default=str(nas.DEFAULT_TABLE))
    parser.add_argument(
        "--settings",
        type=json.loads,
        default={},
        help='other settings than lwcnn.nas.TABLE_SETTINGS, as JSON: \'{"reinforce": {"lr": 0.5, "normalize": true}}\'',
    )
    parser.add_argument(
        "--save", action="store_true", help=f"write the figures into {SAVED.relative_to(SAVED.parents[1])}"
    )
    args = parser.parse_args()
    start = time.perf_counter()
    unknown = set(args.settings) - set(nas.STRATEGIES)
    if unknown:
        parser.error(f"--settings names {sorted(unknown)}; allowed: {', '.join(nas.STRATEGIES)}")
    settings = {name: args.settings.get(name, nas.TABLE_SETTINGS[name]) for name in nas.STRATEGIES}
    print(f"settings: {json.dumps(settings)}")
    rows = nas.load_table(args.table)
    target, rewards, top = nas.table_task(rows)
    ranked = sorted(rewards, key=rewards.get, reverse=True)
    print(f"{len(rows)} networks; T = {target:.3f} ms (median); top 1% = {len(top)} networks:")
    for arch in ranked[: len(top)]:
        row = next(row for row in rows if row.arch == arch)
        ops = ", ".join(f"{block.op} k{block.kernel}" for block in arch)
        print(f"  {ops}: accuracy {row.accuracy:.4f}, {row.latency_ms:.3f} ms, reward {rewards[arch]:.4f}")
    counts = {}
    for name in nas.STRATEGIES:
        counts[name] = nas.first_hits(
            lambda seed, name=name: nas.STRATEGIES[name](nas.TABLE_SPACE, seed, **settings[name]),
            rewards,
            top,
            tqdm(range(args.seeds), desc=name, leave=False),
        )
        quartiles = statistics.quantiles(counts[name], n=4)
        failed = counts[name].count(math.inf)
        print(
            f"{name:>10}: median {statistics.median(counts[name]):5.1f} distinct evaluations "
            f"(quartiles {quartiles[0]:.0f}-{quartiles[2]:.0f}, worst {max(counts[name])}) over {args.seeds} seeds, {failed} never there"
        )
    if args.save:
        save(settings, counts, args.seeds, time.perf_counter() - start)
    random_median = statistics.median(counts["random"])
    print(
        f"rl_vs_random={statistics.median(counts['reinforce']) / random_median:.2f} "
        f"evo_vs_random={statistics.median(counts['evolution']) / random_median:.2f}"
    )
    return 0


def save(settings: dict, counts: dict[str, list[float]], seeds: int, seconds: float) -> None:
    """Write this run's rows into SAVED, keeping the rows of other settings."""
    key = json.dumps(settings, sort_keys=True)
    kept = []
    if SAVED.exists():
        with SAVED.open() as handle:
            kept = [
                row
                for row in csv.DictReader(line for line in handle if not line.startswith("#"))
                if row["settings"] != key
            ]
    rows = kept + [
        {
            "settings": key,
            "strategy": name,
            "seeds": seeds,
            "median": statistics.median(values),
            "q1": statistics.quantiles(values, n=4)[0],
            "q3": statistics.quantiles(values, n=4)[2],
            "worst": max(values),
            "failed": values.count(math.inf),
        }
        for name, values in counts.items()
    ]
    with SAVED.open("w", newline="") as handle:
        handle.write(
            "# lwcnn: random search, REINFORCE and regularized evolution on data/nasbench_digits.csv\n"
            "# made by: .venv/bin/python benchmarks/nas_compare.py --save [--settings JSON]\n"
            f"# machine: {latency.device_name()}; Python {platform.python_version()}; last run {time.strftime('%Y-%m-%d')}, "
            f"{seconds:.0f} s (pure Python: the same figures on every machine)\n"
            "# task: distinct evaluations until the top 1% of the soft-constraint reward (T = median latency); "
            "inf: not within 20 x 216 asks\n"
        )
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {SAVED}")


if __name__ == "__main__":
    sys.exit(main())
