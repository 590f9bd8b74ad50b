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
about 45 +- 4 at 200 seeds, +- 8 at 50), and the ratios below divide two of them. The last line:

    rl_vs_random=<median RL count / median random count> evo_vs_random=<same for evolution>
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys

from tqdm.auto import tqdm

from lwcnn import nas


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
    args = parser.parse_args()
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
    random_median = statistics.median(counts["random"])
    print(
        f"rl_vs_random={statistics.median(counts['reinforce']) / random_median:.2f} "
        f"evo_vs_random={statistics.median(counts['evolution']) / random_median:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
