"""The course's tabular benchmark: every network of `TABLE_SPACE` trained and recorded
(`data/nasbench_digits.csv`, by `benchmarks/nasbench_build.py`), so a search "evaluates" an
architecture by looking up its row and can be repeated over many seeds in seconds (the idea of
NAS-Bench-101, Ying et al. 2019). A strategy is scored by how many distinct networks it asks for
before it reaches the top 1% by MnasNet's reward (`evaluations_to_reach`, `first_hits`).

    >>> from lwcnn import nas
    >>> target, rewards, top = nas.table_task(nas.load_table())
    >>> nas.evaluations_to_reach(nas.table_strategy("evolution", seed=0), rewards, top, limit=4000)
    45
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lwcnn import checks, paths
from lwcnn.nas.reward import SOFT, mnas_reward
from lwcnn.nas.space import HELDOUT_SPACE, TABLE_SPACE, Arch, SearchSpace
from lwcnn.nas.strategies import Strategy

DEFAULT_TABLE = paths.NASBENCH_TABLE
HELDOUT_TABLE = paths.NASBENCH_HELDOUT_TABLE  # of HELDOUT_SPACE: where search settings are chosen


def shipped_table(space: SearchSpace) -> Path:
    """The shipped table of `space`: `HELDOUT_TABLE` for `HELDOUT_SPACE`, else the course's."""
    return Path(HELDOUT_TABLE if space == HELDOUT_SPACE else DEFAULT_TABLE)


def _space_of(path: str | Path) -> SearchSpace:
    """The space a shipped table at `path` was built from (`TABLE_SPACE` for any other file)."""
    return HELDOUT_SPACE if Path(path).resolve() == shipped_table(HELDOUT_SPACE).resolve() else TABLE_SPACE


@dataclass(frozen=True)
class TableRow:
    """One trained network of the tabular benchmark: `accuracy` is the mean over its training
    seeds, `seed_accuracies` each seed's (empty for a table of one run per network)."""

    arch: Arch
    params: int
    macs: int
    accuracy: float
    latency_ms: float
    seed_accuracies: tuple[float, ...] = ()


def load_table(path: str | Path = DEFAULT_TABLE, space: SearchSpace | None = None) -> list[TableRow]:
    """The rows of a tabular benchmark written by `benchmarks/nasbench_build.py` (`#` lines skipped).

    `space` defaults to the one the shipped table at `path` was built from (`HELDOUT_SPACE` for
    `HELDOUT_TABLE`, else `TABLE_SPACE`). A row's code is decoded in `space`; a table of another
    space of the same shape would decode to other networks, so each row's recorded parameter
    count must be its decoded network's, or a ValueError says so.
    """
    space = _space_of(path) if space is None else space
    rows, seeded = paths.read_recorded_csv(path, "benchmarks/nasbench_build.py", minutes=35)
    table = [
        TableRow(
            space.decode([int(part) for part in row["code"].split("-")]),
            int(row["params"]),
            int(row["macs"]),
            float(row["test_accuracy"]),
            float(row["latency_ms"]),
            tuple(float(row[name]) for name in seeded),
        )
        for row in rows
    ]
    for index, row in enumerate(table):
        params = space.spec(row.arch).cost().params
        if row.params != params:
            raise ValueError(
                f"{path}: row {index} records {row.params:,} parameters, but its code is a network of "
                f"{params:,} in this space: a table of another search space? Pass its space"
            )
    return table


def table_rewards(
    rows: Sequence[TableRow], target: float, alpha: float = SOFT[0], beta: float = SOFT[1]
) -> dict[Arch, float]:
    """Each table row's `mnas_reward` at target latency `target`, by architecture (row order)."""
    return {row.arch: mnas_reward(row.accuracy, row.latency_ms, target, alpha, beta) for row in rows}


def top_share(rewards: Mapping[Arch, float], share: float = 0.01) -> set[Arch]:
    """The `ceil(share * n)` architectures with the highest rewards (at least one)."""
    checks.check_interval("share", share, 0, 1, low_closed=False)
    ranked = sorted(rewards, key=rewards.get, reverse=True)
    return set(ranked[: max(1, math.ceil(share * len(ranked)))])


def evaluations_to_reach(strategy: Strategy, rewards: Mapping[Arch, float], goal: set, limit: int) -> float:
    """Distinct architectures `strategy` evaluates, with `rewards` as the evaluator, until it has
    asked for one in `goal`; `math.inf` if `limit` asks pass without one. A repeat is free (a
    real search would look up, not retrain, a network it has already trained), so a search that
    settles on a network outside `goal` and keeps asking for it has *failed*, however few
    networks it saw: it counts as infinitely many, never as the few it evaluated."""
    checks.check_int("limit", limit)
    seen: set = set()
    for _ in range(limit):
        arch = strategy.ask()
        seen.add(arch)
        strategy.tell(arch, rewards[arch])
        if arch in goal:
            return len(seen)
    return math.inf


def table_task(rows: Sequence[TableRow], share: float = 0.01) -> tuple[float, dict[Arch, float], set[Arch]]:
    """The search task the benchmarks set on a table: T = the table's median latency, each
    network's soft-constraint reward at T (`table_rewards`), and the top `share` of them to reach."""
    target = statistics.median(row.latency_ms for row in rows)
    rewards = table_rewards(rows, target)
    return target, rewards, top_share(rewards, share)


def first_hits(
    make: Callable[[int], Strategy], rewards: Mapping[Arch, float], goal: set, seeds: Iterable[int]
) -> list[float]:
    """`evaluations_to_reach(make(seed), rewards, goal, ...)` for each seed, allowing 20 asks per
    network of the table (`math.inf` for a search that is not there by then)."""
    return [evaluations_to_reach(make(seed), rewards, goal, limit=20 * len(rewards)) for seed in seeds]
