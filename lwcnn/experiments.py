"""The lessons' small training experiments on digits, and their recorded results.

Lessons 02, 03 and 06 each train a few small networks on digits for a few seconds and compare
them. A run in the lesson is the student's own: its last digits depend on the CPU's float
kernels and on the number of threads (another CPU sums in another order, and a few ulps early in
training are a different network three epochs later). So each experiment was also run with
several seeds by `benchmarks/digits_runs.py` into `data/digits_runs.csv`, and a lesson states
its claims on those recorded runs, with their spread.

    >>> EXPERIMENTS["width"].lesson, list(EXPERIMENTS["width"].variants)
    ('03', ['0.25', '0.5', '1.0'])
    >>> history = train_variant("width", "0.5", seed=0)  # the lesson's live run, seconds: # doctest: +SKIP
    >>> len(accuracies(load_runs(), "width")["0.5"])  # the recorded seeds' test accuracies
    5
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from lwcnn.data import DATASETS, dataset_loaders
from lwcnn.models import SmallMBConvNet, SmallMobileNet
from lwcnn.paths import DATA_DIR, PRUNING_CHECKPOINT, PRUNING_DIR, read_recorded_csv, recorded_header
from lwcnn.train import History, set_seed, train

DEFAULT_RUNS = DATA_DIR / "digits_runs.csv"
RUN_COLUMNS = ("experiment", "variant", "seed", "params", "macs", "test_accuracy")


@dataclass(frozen=True)
class Experiment:
    """A lesson's comparison: named network specs, trained with one recipe on one split.

    The recipe is `lwcnn.train.train`'s defaults (Adam, cosine schedule) at `lr`, batches of
    `batch_size` 32x32 images; the train/test split is drawn with `split_seed`, the same for every
    seed, so the seeds differ only in the initial weights and the batch order. `dataset` is
    "digits" or "distorted" (`lwcnn.data.distorted_digits_tensors`: the harder task, 2160 test
    images, where differences of a point show).
    """

    lesson: str
    variants: Mapping[str, Any]
    epochs: int
    lr: float = 1e-2
    batch_size: int = 32
    image_size: int = 32
    split_seed: int = 0
    dataset: str = "digits"

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.image_size != 32:
            raise ValueError(f"image_size must be 32 (both datasets are 32x32), got {self.image_size!r}")

    def loaders(self):
        return dataset_loaders(self.dataset, batch_size=self.batch_size, seed=self.split_seed)


EXPERIMENTS: dict[str, Experiment] = {
    # Lesson 02: the same widths with ordinary 3x3 convs and with depthwise-separable ones.
    "separable": Experiment(
        "02",
        {"standard": SmallMobileNet(conv="standard"), "separable": SmallMobileNet(conv="separable")},
        epochs=4,
    ),
    # Lesson 03: MobileNetV1's width multiplier alpha on the separable network.
    "width": Experiment(
        "03", {f"{alpha}": SmallMobileNet(width_multiplier=alpha) for alpha in (0.25, 0.5, 1.0)}, epochs=4
    ),
    # Lesson 06: ReLU, h-swish, or h-swish in the deep half only (MobileNetV3's choice), with or
    # without squeeze-and-excite, in a small MBConv network, on the harder distorted digits.
    "activation_se": Experiment(
        "06",
        {
            f"{name}, SE {'on' if se else 'off'}": SmallMBConvNet(activation, se, deep_activation=deep)
            for name, activation, deep in (
                ("relu", "relu", None),
                ("hswish", "hswish", None),
                ("hswish deep half", "relu", "hswish"),
            )
            for se in (False, True)
        },
        epochs=8,
        dataset="distorted",
    ),
}


def _experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {tuple(EXPERIMENTS)}, got {name!r}")
    return EXPERIMENTS[name]


def train_variant(name: str, variant: str, seed: int = 0, loaders=None, progress: bool = True) -> History:
    """Train one variant of an experiment from scratch with `seed`; return its `History`.

    `set_seed(seed)` before the network is built, so the seed fixes the initial weights as well
    as the batch order. Pass `loaders` to reuse the experiment's (`EXPERIMENTS[name].loaders()`).
    """
    experiment = _experiment(name)
    if variant not in experiment.variants:
        raise ValueError(f"variant must be one of {tuple(experiment.variants)} for {name!r}, got {variant!r}")
    set_seed(seed)
    model = experiment.variants[variant].build()
    return train(
        model,
        loaders or experiment.loaders(),
        epochs=experiment.epochs,
        lr=experiment.lr,
        seed=seed,
        progress=progress,
    )


class Run(NamedTuple):
    """One recorded training run: which network, which seed, its cost and its test accuracy."""

    experiment: str
    variant: str
    seed: int
    params: int
    macs: int
    test_accuracy: float


def load_runs(path: str | Path = DEFAULT_RUNS) -> list[Run]:
    """The recorded runs (`benchmarks/digits_runs.py`); `#` lines on top are the file's header."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; make it with: python benchmarks/digits_runs.py")
    with path.open() as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return [
            Run(
                r["experiment"],
                r["variant"],
                int(r["seed"]),
                int(r["params"]),
                int(r["macs"]),
                float(r["test_accuracy"]),
            )
            for r in rows
        ]


def header(path: str | Path = DEFAULT_RUNS) -> str:
    """The `#` lines on top of the recorded runs: the command, machine and time that made them."""
    return recorded_header(path)


def accuracies(runs: Iterable[Run], name: str) -> dict[str, list[float]]:
    """{variant: test accuracy of each recorded seed, in seed order} for one experiment, in the
    experiment's order of variants (for lesson 08's `PRUNING` and lesson 11's `SCALING` runs, in
    the runs' order)."""
    chosen = sorted((run for run in runs if run.experiment == name), key=lambda run: run.seed)
    if name in RECORDED_BY:
        variants = list(dict.fromkeys(run.variant for run in chosen))
        if not variants:
            raise ValueError(f"no recorded runs of {name!r}; re-run {RECORDED_BY[name]}")
    else:
        variants = list(_experiment(name).variants)
    found = {variant: [run.test_accuracy for run in chosen if run.variant == variant] for variant in variants}
    missing = [variant for variant, values in found.items() if not values]
    if missing:
        raise ValueError(f"no recorded runs of {name!r} for {missing}; re-run benchmarks/digits_runs.py")
    return found


# --- lesson 08's recorded pruning sweeps, as runs -------------------------------------------

PRUNING = "pruning"  # the experiment name of lesson 08's runs


def pruning_variant(training: str, stage: str, rate: float = 0.0, how: str = "") -> str:
    """The name of one pruned (or unpruned) network of lesson 08's sweeps.

    `training` is "plain" or "sparsity"; `stage` "unpruned", "before fine-tuning" (then `how` is
    the scores, "raw" or "mean") or "fine-tuned" (`how` is the schedule, "one-shot" or
    "iterative"); `rate` the share of channels removed.

    >>> pruning_variant("sparsity", "before fine-tuning", 0.4, "raw")
    'sparsity, 40% cut, raw scores, before fine-tuning'
    >>> pruning_variant("plain", "fine-tuned", 0.6, "iterative")
    'plain, 60% cut, iterative, fine-tuned'
    """
    if stage == "unpruned":
        return f"{training}, unpruned"
    if stage not in ("before fine-tuning", "fine-tuned"):
        raise ValueError(f"stage must be 'unpruned', 'before fine-tuning' or 'fine-tuned', got {stage!r}")
    detail = f"{how} scores" if stage == "before fine-tuning" else how
    return f"{training}, {rate:.0%} cut, {detail}, {stage}"


def load_pruning_runs(folder: str | Path = PRUNING_DIR) -> list[Run]:
    """Lesson 08's sweeps (`before_finetuning.csv`, `sweep.csv`) as `Run`s of experiment `PRUNING`,
    one per trained or pruned network and seed, named by `pruning_variant`."""
    folder = Path(folder)
    read = {}
    for name in ("before_finetuning.csv", "sweep.csv"):
        rows, _ = read_recorded_csv(folder / name, "benchmarks/pruning_sweep.py", 25)
        read[name] = rows
    runs = []
    for row in read["before_finetuning.csv"]:
        rate = float(row["prune_rate"])
        if rate == 0:
            continue  # the unpruned network, which sweep.csv names too
        variant = pruning_variant(row["training"], "before fine-tuning", rate, row["scores"])
        runs.append(_pruning_run(variant, row, "test_accuracy"))
    for row in read["sweep.csv"]:
        if row["schedule"] == "none":
            runs.append(_pruning_run(pruning_variant(row["training"], "unpruned"), row, "baseline_accuracy"))
            continue
        variant = pruning_variant(row["training"], "fine-tuned", float(row["prune_rate"]), row["schedule"])
        runs.append(_pruning_run(variant, row, "finetuned_accuracy"))
    return runs


def _pruning_run(variant: str, row: Mapping[str, str], column: str) -> Run:
    return Run(PRUNING, variant, int(row["seed"]), int(row["params"]), int(row["macs"]), float(row[column]))


# --- lesson 11's recorded scaled networks, as runs ----------------------------------------------

SCALING = "scaling"  # the experiment name of lesson 11's runs
RECORDED_BY = {PRUNING: "benchmarks/pruning_sweep.py", SCALING: "benchmarks/scaling_build.py"}
RANKED = {"grid winner": 0, "grid runner-up": 1}  # claim names resolved on the runs: see `claims`


def load_scaling_runs(path: str | Path | None = None) -> list[Run]:
    """Lesson 11's table (`lwcnn.scaling.load_table`) as `Run`s of experiment `SCALING`, one per
    network and seed, named by `ScalingRow.name` (a network in two experiments, such as a TinyNet
    sample that is also a curve's point, appears under each name)."""
    from lwcnn import scaling  # scaling imports the model zoo; most users of this module do not need it

    rows = scaling.load_table() if path is None else scaling.load_table(path)
    return [
        Run(SCALING, row.name, seed, row.params, row.macs, accuracy)
        for row in rows
        for seed, accuracy in enumerate(row.accuracies)
    ]


def describe(values: Iterable[float]) -> str:
    """`mean (min-max, n seeds)` of accuracies, in percent: how a lesson prints recorded runs."""
    values = list(values)
    return (
        f"{100 * statistics.fmean(values):.1f}% "
        f"({100 * min(values):.1f}-{100 * max(values):.1f}, {len(values)} seeds)"
    )


class Gap(NamedTuple):
    """How far apart two variants' recorded accuracies are, against their seeds' spread.

    `mean_gap` is mean(first) - mean(second); `spread` the larger of the two variants' seed ranges
    (max - min). `separated` when the gap is larger than that spread: only then does a lesson say
    that one beats the other.
    """

    first: str
    second: str
    mean_gap: float
    spread: float

    @property
    def separated(self) -> bool:
        return abs(self.mean_gap) > self.spread

    def __str__(self) -> str:
        verdict = "separated" if self.separated else "within the seeds' spread"
        return (
            f"{self.first} - {self.second}: {100 * self.mean_gap:+.1f} points "
            f"(seed spread {100 * self.spread:.1f}): {verdict}"
        )


def gap(accuracy: Mapping[str, Sequence[float]], first: str, second: str) -> Gap:
    """The `Gap` between two variants of `accuracy` ({variant: accuracies of its seeds}).

    >>> str(gap({"a": [0.80, 0.82], "b": [0.75, 0.76]}, "a", "b"))
    'a - b: +5.5 points (seed spread 2.0): separated'
    """
    for name in (first, second):
        if name not in accuracy:
            raise ValueError(f"{name!r} is not a variant; the variants: {', '.join(accuracy)}")
        if not accuracy[name]:
            raise ValueError(f"{name!r} has no recorded seeds")
    a, b = accuracy[first], accuracy[second]
    spread = max(max(a) - min(a), max(b) - min(b))
    return Gap(first, second, statistics.fmean(a) - statistics.fmean(b), spread)


# The comparisons a lesson states on its recorded runs: (experiment, first variant, second variant).
CLAIMS: tuple[tuple[str, str, str], ...] = (
    *(
        ("activation_se", f"{name}, SE on", f"{name}, SE off")
        for name in ("relu", "hswish", "hswish deep half")
    ),
    ("activation_se", "hswish, SE off", "relu, SE off"),
    ("activation_se", "hswish, SE on", "relu, SE on"),
    ("activation_se", "hswish deep half, SE on", "relu, SE on"),
    ("activation_se", "hswish deep half, SE on", "hswish, SE on"),
    # lesson 08: does sparsity training cost accuracy; does it keep accuracy through the cut
    # (both scores), after fine-tuning, at the study's 40% and at a deep cut; iterative vs one shot
    (PRUNING, pruning_variant("sparsity", "unpruned"), pruning_variant("plain", "unpruned")),
    *(
        (
            PRUNING,
            pruning_variant("sparsity", "before fine-tuning", rate, how),
            pruning_variant("plain", "before fine-tuning", rate, how),
        )
        for rate in (0.3, 0.4)
        for how in ("raw", "mean")
    ),
    *(
        (
            PRUNING,
            pruning_variant("sparsity", "fine-tuned", rate, "one-shot"),
            pruning_variant("plain", "fine-tuned", rate, "one-shot"),
        )
        for rate in (0.4, 0.8)
    ),
    (
        PRUNING,
        pruning_variant("sparsity", "fine-tuned", 0.4, "one-shot"),
        pruning_variant("sparsity", "unpruned"),
    ),
    *(
        (
            PRUNING,
            pruning_variant("sparsity", "fine-tuned", rate, "iterative"),
            pruning_variant("sparsity", "fine-tuned", rate, "one-shot"),
        )
        for rate in (0.4, 0.6)
    ),
    # lesson 11: does each dimension alone pay from its smallest to its largest multiplier; is the
    # grid search's winner ahead of its runner-up; TinyNet's recipe against inverse compound scaling
    *(
        (SCALING, f"{dimension} x{largest:g}", f"{dimension} x{smallest:g}")
        for dimension, smallest, largest in (
            ("width", 0.5, 1.5),
            ("depth", 0.5, 2.5),
            ("resolution", 0.5, 1.5),
        )
    ),
    *((SCALING, f"{dimension} x1.5", "base") for dimension in ("width", "depth", "resolution")),
    (SCALING, "grid winner", "grid runner-up"),
    *((SCALING, f"TinyNet GP, c = {c:g}", f"inverse compound, c = {c:g}") for c in (0.3, 0.4, 0.6, 0.7)),
)


class Source(NamedTuple):
    """Where an experiment's claims are taught and on which dataset its runs were trained."""

    lesson: str
    dataset: str


def source(name: str) -> Source:
    """The lesson and dataset of experiment `name` (one of `EXPERIMENTS`, or `PRUNING`)."""
    if name == SCALING:
        return Source("11", "distorted")
    if name == PRUNING:
        from lwcnn import prune  # the recipe the sweeps trained with is in the shipped model's metadata

        recipe = prune.load_pruned(PRUNING_CHECKPOINT).metadata["recipe"]
        return Source("08", recipe.get("dataset", "digits"))
    experiment = _experiment(name)
    return Source(experiment.lesson, experiment.dataset)


def resolve(accuracy: Mapping[str, Sequence[float]], variant: str) -> str:
    """`variant`, or for a `RANKED` name the grid candidate of `accuracy` it stands for: "grid
    winner" is the "grid ..." variant with the highest mean accuracy, "grid runner-up" the next.

    >>> resolve({"grid 1.0, 1.0, 1.4": [0.8, 0.9], "grid 1.2, 1.0, 1.3": [0.7, 0.9]}, "grid runner-up")
    'grid 1.2, 1.0, 1.3'
    """
    if variant not in RANKED:
        return variant
    grid = sorted(
        (name for name in accuracy if name.startswith("grid ")),
        key=lambda name: -statistics.fmean(accuracy[name]),
    )
    if len(grid) <= RANKED[variant]:
        raise ValueError(f"{variant!r} needs at least {RANKED[variant] + 1} grid candidates, got {len(grid)}")
    return grid[RANKED[variant]]


def claims(runs: Iterable[Run], name: str) -> list[Gap]:
    """The `Gap` of each of experiment `name`'s `CLAIMS`, on the recorded `runs` (a "grid winner"
    or "grid runner-up" resolved to the candidate it is, by `resolve`)."""
    accuracy = accuracies(list(runs), name)
    return [
        gap(accuracy, resolve(accuracy, first), resolve(accuracy, second))
        for experiment, first, second in CLAIMS
        if experiment == name
    ]
