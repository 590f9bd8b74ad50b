"""Random search vs REINFORCE vs regularized evolution on the course's tabular NAS benchmark.

    .venv/bin/python benchmarks/nas_compare.py            # seconds: every evaluation is a look-up

The reward is MnasNet's soft-constraint objective `ACC * (LAT / T)^-0.07` over
`data/nasbench_digits.csv`, with T the table's median latency. For each of `--seeds` seeds, each
strategy asks and is told rewards until it has evaluated an architecture in the top 1% of the
table's rewards; the count is of *distinct* architectures (a repeat is a cache hit: a real search
would not train the same network twice). The last line:

    rl_vs_random=<median RL count / median random count> evo_vs_random=<same for evolution>
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys

from lwcnn import nas

# The strategies' settings, chosen for a 216-network space before looking at the results:
# evolution's population about 5% of the space; REINFORCE with normalized advantages, because
# rewards differ by a few percent between networks.
STRATEGIES = {
    "random": lambda space, seed: nas.RandomSearch(space, seed),
    "reinforce": lambda space, seed: nas.Reinforce(space, seed, lr=0.5, normalize=True),
    "evolution": lambda space, seed: nas.RegularizedEvolution(space, seed, population_size=10, sample_size=3),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50, help="searches per strategy (default 50)")
    parser.add_argument("--table", default=str(nas.DEFAULT_TABLE))
    args = parser.parse_args()
    rows = nas.load_table(args.table)
    target = statistics.median(row.latency_ms for row in rows)
    rewards = {row.arch: nas.mnas_reward(row.accuracy, row.latency_ms, target) for row in rows}
    ranked = sorted(rewards, key=rewards.get, reverse=True)
    top = set(ranked[: max(1, math.ceil(0.01 * len(ranked)))])
    print(f"{len(rows)} networks; T = {target:.3f} ms (median); top 1% = {len(top)} networks:")
    for arch in ranked[: len(top)]:
        row = next(row for row in rows if row.arch == arch)
        ops = ", ".join(f"{block.op} k{block.kernel}" for block in arch)
        print(f"  {ops}: accuracy {row.accuracy:.4f}, {row.latency_ms:.3f} ms, reward {rewards[arch]:.4f}")
    counts = {}
    for name, make in STRATEGIES.items():
        counts[name] = [
            nas.evaluations_to_reach(make(nas.TABLE_SPACE, seed), rewards, top, limit=20 * len(rows))
            for seed in range(args.seeds)
        ]
        quartiles = statistics.quantiles(counts[name], n=4)
        print(
            f"{name:>10}: median {statistics.median(counts[name]):5.1f} distinct evaluations "
            f"(quartiles {quartiles[0]:.0f}-{quartiles[2]:.0f}, worst {max(counts[name])}) over {args.seeds} seeds"
        )
    random_median = statistics.median(counts["random"])
    print(
        f"rl_vs_random={statistics.median(counts['reinforce']) / random_median:.2f} "
        f"evo_vs_random={statistics.median(counts['evolution']) / random_median:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
