"""Optuna's samplers behind lwcnn's ask/tell interface, and NSGA-II's search for the Pareto front.

`OptunaStrategy` is a `Strategy` whose `ask` is Optuna's `study.ask()` with one categorical
parameter per decision of the space (`block2.kernel`, ...) and whose `tell` completes that trial,
so `evaluations_to_reach`, `first_hits` and `search` score Optuna's TPE (Bergstra et al. 2011),
its Gaussian-process sampler and NSGA-II exactly as they score lwcnn's own strategies.
`OPTUNA_SETTINGS` are their settings for the course's table, chosen on the held-out table by
`benchmarks/optuna_settings.py`.

Cost: every ask refits the sampler to all trials so far, repeats included. TPE (multivariate,
Optuna 5's default for one objective) takes about 3 ms an ask at 100 trials and 12 ms at 1000,
so a first-hit search on the 216-network table takes about 0.1 s, and a search that never
reaches the top 1% (4320 asks) minutes; the Gaussian process takes seconds a search.

MnasNet folds accuracy and latency into one reward; `nsga2_search` keeps them apart, as two
objectives (maximise accuracy, minimise latency), and returns the front it found. It is scored by
`hypervolume_ratio`: the area its front dominates over the area the table's true front dominates.
Points here are (accuracy, latency_ms), in the objectives' order (`reward.pareto_front` takes
(latency, accuracy)). One seed says little; over 200 seeds NSGA-II's median ratio on the course's
table is 0.98 after 50 networks, random search's 0.91:

    >>> from lwcnn import nas
    >>> from lwcnn.nas import optuna_search
    >>> _, rewards, top = nas.table_task(nas.load_table())
    >>> nas.evaluations_to_reach(optuna_search.optuna_strategy("tpe", seed=0), rewards, top, limit=4000)
    17
    >>> rows = nas.load_table()
    >>> table = [(row.accuracy, row.latency_ms) for row in rows]
    >>> found = optuna_search.nsga2_search(rows, trials=50, seed=0)
    >>> baseline = optuna_search.nsga2_search(rows, trials=50, seed=0, sampler="random")
    >>> len(found.points), len(found.front)
    (50, 4)
    >>> [round(optuna_search.hypervolume_ratio(run.points, table), 3) for run in (found, baseline)]
    [0.846, 0.948]

Optuna is an optional dependency (`pip install 'lwcnn[search]'`), imported when first used.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lwcnn import checks
from lwcnn.nas.reward import pareto_front
from lwcnn.nas.space import TABLE_SPACE, Arch, BlockChoice, SearchSpace
from lwcnn.nas.strategies import Strategy

if TYPE_CHECKING:  # pragma: no cover
    import optuna

    from lwcnn.nas.benchmark import TableRow

# Optuna's single-objective samplers that search categorical parameters themselves, by our name.
SAMPLERS = ("tpe", "random", "gp", "nsga2")
# The others, and why they are not offered.
REFUSED = {
    "cmaes": "CmaEsSampler leaves categorical parameters to its independent (random) sampler",
    "qmc": "QMCSampler leaves categorical parameters to its independent (random) sampler",
    "bruteforce": "BruteForceSampler is uniform sampling without repeats, and calls study.stop() once it "
    "has seen every network, which fails outside study.optimize",
    "grid": "GridSampler needs the whole grid up front and is then uniform sampling without repeats",
    "nsga3": "NSGAIIISampler is NSGA-II for three or more objectives; use 'nsga2'",
}

# The samplers' settings for the course's table, chosen on the held-out table (`HELDOUT_TABLE`)
# by `benchmarks/optuna_settings.py` from its grid, by the rule of `benchmarks/nas_settings.py`
# fixed in advance (lowest median number of distinct evaluations to the top 1%, then the lowest
# mean). No setting was tried on the course's table before it was chosen. Held-out medians
# (200 seeds): TPE 27.5, NSGA-II 27 (1 search failed), Optuna's random search 50; GP 22 (30 seeds).
OPTUNA_SETTINGS: dict[str, dict[str, Any]] = {
    "tpe": {"n_startup_trials": 5, "n_ei_candidates": 24},
    "random": {},
    "gp": {"n_startup_trials": 5, "deterministic_objective": False},
    "nsga2": {"population_size": 5},
}

# `nsga2_search`'s settings and budget: the front search has its own task (hypervolume ratio after
# `FRONT_BUDGET` distinct networks, a quarter of the 216-network table), chosen on the held-out
# table by the same script: the highest median ratio, then the highest mean. Held-out medians
# (200 seeds): NSGA-II 0.970, random search 0.933.
FRONT_BUDGET = 50
FRONT_SETTINGS: dict[str, dict[str, Any]] = {
    "nsga2": {"population_size": 4},
    "random": {},
}


def _optuna() -> Any:
    """Optuna, with its per-trial log lines silenced."""
    try:
        import optuna
    except ImportError as error:  # pragma: no cover - the test environment has it
        raise ImportError("lwcnn.nas.optuna_search needs Optuna: pip install 'lwcnn[search]'") from error
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def make_sampler(name: str, seed: int, **settings: Any) -> optuna.samplers.BaseSampler:
    """Optuna's sampler `name` (one of `SAMPLERS`) seeded with `seed`, with `settings` as its
    keyword arguments (checked against its signature, so a typo is refused, not ignored)."""
    optuna = _optuna()
    classes = {
        "tpe": optuna.samplers.TPESampler,
        "random": optuna.samplers.RandomSampler,
        "gp": optuna.samplers.GPSampler,
        "nsga2": optuna.samplers.NSGAIISampler,
    }
    if name in REFUSED:
        raise ValueError(f"sampler={name!r} is not offered: {REFUSED[name]}; allowed: {', '.join(SAMPLERS)}")
    checks.check_choice("sampler", name, SAMPLERS)
    sampler_class = classes[name]
    allowed = [
        key for key in inspect.signature(sampler_class.__init__).parameters if key not in ("self", "seed")
    ]
    for key in settings:
        if key not in allowed:
            raise TypeError(
                f"{key!r} is not a setting of {sampler_class.__name__} (sampler={name!r}); "
                f"allowed: {', '.join(allowed) or 'none'}"
            )
    return sampler_class(seed=seed, **settings)


def _suggest_arch(trial: optuna.trial.BaseTrial, space: SearchSpace) -> Arch:
    """The architecture `trial` suggests: one categorical per decision with more than one option,
    named `block<i>.<decision>` (blocks counted from 1, as `SearchedNet` names its stages)."""
    blocks: list[dict[str, Any]] = [{} for _ in range(space.blocks)]
    for block, name, options in space.choices():
        if len(options) == 1:  # a fixed decision is not a parameter: nothing to search
            blocks[block][name] = options[0]
        else:  # str, int and float options are all values suggest_categorical allows
            blocks[block][name] = trial.suggest_categorical(f"block{block + 1}.{name}", list(options))
    return space.check_arch(tuple(BlockChoice(**values) for values in blocks))


class OptunaStrategy(Strategy):
    """Optuna's `sampler` ("tpe", "random", "gp", "nsga2") behind lwcnn's ask/tell.

    One in-memory study (maximise the reward); `ask` starts a trial and returns its architecture,
    `tell(arch, reward)` completes it. Only the last asked trial is pending: telling another
    architecture is a ValueError, and asking again before telling marks the pending trial failed
    (Optuna's "no result"), so samplers do not wait on it. Seeded: the same seed, settings and
    rewards ask the same architectures. `sampler_settings` go to the sampler (`make_sampler`).

    `storage` (a URL of `lwcnn.nas.distributed.open_study`: `journal:PATH`, `sqlite:///PATH`,
    `postgresql://...`) puts the study there instead, under `study_name`: strategies in several
    processes or machines with the same URL and name then run *one* search, each sampling from
    every worker's results (give each worker its own seed).
    """

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        sampler: str = "tpe",
        storage: str | None = None,
        study_name: str = "lwcnn_search",
        **sampler_settings: Any,
    ) -> None:
        super().__init__(space, seed)
        optuna = _optuna()
        self.sampler = sampler
        made = make_sampler(sampler, seed, **sampler_settings)
        if storage is None:
            self.study = optuna.create_study(direction="maximize", sampler=made)
        else:
            from lwcnn.nas.distributed import open_study  # imports Optuna: only for a shared search

            self.study = open_study(storage, study_name, heartbeat_seconds=None, sampler=made)
        self._pending: tuple[Arch, optuna.trial.Trial] | None = None

    def ask(self) -> Arch:
        if self._pending is not None:
            self.study.tell(self._pending[1], state=_optuna().trial.TrialState.FAIL)
        trial = self.study.ask()
        self._pending = (_suggest_arch(trial, self.space), trial)
        return self._pending[0]

    def tell(self, arch: Sequence[BlockChoice], reward: float) -> None:
        if self._pending is None:
            raise ValueError("no trial is pending: tell() the architecture that ask() returned, once")
        asked, trial = self._pending
        arch = self.space.check_arch(arch)
        if arch != asked:
            raise ValueError(f"tell() got {arch}, but the pending trial asked for {asked}")
        super().tell(arch, reward)  # checks the reward, keeps the history
        self.study.tell(trial, float(reward))
        self._pending = None


def optuna_strategy(name: str, seed: int, space: SearchSpace = TABLE_SPACE) -> OptunaStrategy:
    """`OptunaStrategy` with sampler `name` and its `OPTUNA_SETTINGS` (chosen on the held-out table)."""
    checks.check_choice("name", name, SAMPLERS)
    return OptunaStrategy(space, seed, name, **OPTUNA_SETTINGS[name])


# --- two objectives: the Pareto front and its hypervolume ---------------------------------------


def hypervolume_2d(points: Sequence[tuple[float, float]], reference: tuple[float, float]) -> float:
    """The area the (accuracy, latency) `points` dominate (maximise accuracy, minimise latency),
    bounded by `reference` = (lowest accuracy, highest latency) that counts.

    Sort by latency and sweep: each point more accurate than all faster ones adds the slab
    `(latency_ref - latency) * (accuracy - best accuracy so far)`. Points no better than the
    reference in both objectives add nothing.

    >>> round(hypervolume_2d([(0.9, 2.0), (0.8, 1.0)], reference=(0.5, 3.0)), 6)   # 0.3 * 2 + 0.1 * 1
    0.7
    """
    reference_accuracy, reference_latency = reference
    inside = sorted(
        (latency, -accuracy)
        for accuracy, latency in points
        if accuracy > reference_accuracy and latency < reference_latency
    )
    area, best = 0.0, reference_accuracy
    for latency, negative_accuracy in inside:
        if -negative_accuracy > best:
            area += (reference_latency - latency) * (-negative_accuracy - best)
            best = -negative_accuracy
    return area


def table_reference(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """The hypervolume reference of a table's (accuracy, latency) points: its lowest accuracy and
    its highest latency (a network at either edge dominates nothing)."""
    if not points:
        raise ValueError("points must hold at least one (accuracy, latency) point")
    return min(accuracy for accuracy, _ in points), max(latency for _, latency in points)


def hypervolume_ratio(
    found_points: Sequence[tuple[float, float]],
    all_points: Sequence[tuple[float, float]],
    reference: tuple[float, float] | None = None,
) -> float:
    """`hypervolume_2d(found) / hypervolume_2d(all)`: 1 when a search found the table's whole
    front, less for every front network it missed. `found_points` are (accuracy, latency) points
    of the table `all_points`; `reference` defaults to `table_reference(all_points)` (the whole
    table's lowest accuracy and highest latency), so the ratio does not depend on what was found.
    """
    reference = table_reference(all_points) if reference is None else reference
    whole = hypervolume_2d(all_points, reference)
    if whole <= 0:
        raise ValueError(f"the table's points dominate no area beyond reference={reference}")
    return hypervolume_2d(found_points, reference) / whole


@dataclass(frozen=True)
class FrontSearch:
    """What a two-objective search evaluated: the distinct networks in the order first asked,
    their (accuracy, latency_ms) points, the non-dominated ones (`front`, by latency) and the
    number of asks (repeats included)."""

    archs: tuple[Arch, ...]
    points: tuple[tuple[float, float], ...]
    front: tuple[tuple[float, float], ...]
    asks: int


def nsga2_search(
    rows: Sequence[TableRow],
    space: SearchSpace = TABLE_SPACE,
    trials: int = FRONT_BUDGET,
    seed: int = 0,
    sampler: str = "nsga2",
    **settings: Any,
) -> FrontSearch:
    """NSGA-II (Deb et al. 2002; Optuna's `NSGAIISampler`) on two objectives, maximise accuracy and
    minimise latency, each network's values looked up in the table `rows` of `space`.

    `trials` counts *distinct* networks, as `first_hits` does: a network asked again is told its
    recorded values again at no cost (a real search would not retrain it). The search stops at
    `trials` distinct networks, or after `20 * len(rows)` asks with fewer. `sampler="random"`
    runs Optuna's random search at the same budget, the baseline. `settings` are added to the
    sampler's `FRONT_SETTINGS` (NSGA-II's `population_size` was chosen on the held-out table).
    """
    optuna = _optuna()
    checks.check_choice("sampler", sampler, FRONT_SETTINGS)
    checks.check_int("trials", trials)
    lookup = {row.arch: (row.accuracy, row.latency_ms) for row in rows}
    if len(lookup) != len(rows) or len(rows) != space.size:
        raise ValueError(
            f"rows must hold each of the space's {space.size} networks once, got {len(rows)} rows"
        )
    if trials > len(rows):
        raise ValueError(f"trials must be at most the table's {len(rows)} networks, got {trials}")
    study = optuna.create_study(
        directions=["maximize", "minimize"],
        sampler=make_sampler(sampler, seed, **{**FRONT_SETTINGS[sampler], **settings}),
    )
    evaluated: dict[Arch, tuple[float, float]] = {}  # insertion order: first asked first
    asks = 0
    while len(evaluated) < trials and asks < 20 * len(rows):
        trial = study.ask()
        arch = _suggest_arch(trial, space)
        if arch not in lookup:
            raise ValueError(f"{arch} is not a row of the table: are rows of this space?")
        evaluated[arch] = lookup[arch]
        study.tell(trial, list(lookup[arch]))
        asks += 1
    points = tuple(evaluated.values())
    front = pareto_front(
        [(latency, accuracy) for accuracy, latency in points]
    )  # it takes (latency, accuracy)
    return FrontSearch(tuple(evaluated), points, tuple(points[i] for i in front), asks)
