"""The lessons' small training experiments on digits, and their recorded results.

Lessons 02, 03 and 06 each train a few small networks on digits for a few seconds and compare
them. A run in the lesson is the student's own: its last digits depend on the CPU's float
kernels and on the number of threads (another CPU sums in another order, and a few ulps early in
training are a different network three epochs later). So each experiment was also run with
several seeds by `benchmarks/digits_runs.py` into `data/digits_runs.csv`, and a lesson states
its claims on those recorded runs, with their spread.

    >>> EXPERIMENTS["width"].lesson, list(EXPERIMENTS["width"].variants)
    ('03', ['0.25', '0.5', '1.0'])
    >>> history = train_variant("width", "0.5", seed=0)       # the lesson's live run (seconds)
    >>> accuracies(load_runs(), "width")["0.5"]               # the recorded seeds' test accuracies
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from lwcnn.data import digits_loaders
from lwcnn.models import SmallMBConvNet, SmallMobileNet
from lwcnn.train import History, set_seed, train

DEFAULT_RUNS = Path(__file__).resolve().parent.parent / "data" / "digits_runs.csv"
RUN_COLUMNS = ("experiment", "variant", "seed", "params", "macs", "test_accuracy")


@dataclass(frozen=True)
class Experiment:
    """A lesson's comparison: named network specs, trained with one recipe on one digits split.

    The recipe is `lwcnn.train.train`'s defaults (Adam, cosine schedule) at `lr`, batches of
    `batch_size` 32x32 images; the train/test split is drawn with `split_seed`, the same for every
    seed, so the seeds differ only in the initial weights and the batch order.
    """

    lesson: str
    variants: Mapping[str, Any]
    epochs: int
    lr: float = 1e-2
    batch_size: int = 32
    image_size: int = 32
    split_seed: int = 0

    def loaders(self):
        return digits_loaders(batch_size=self.batch_size, image_size=self.image_size, seed=self.split_seed)


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
    # Lesson 06: ReLU or h-swish, with or without squeeze-and-excite, in a small MBConv network.
    "activation_se": Experiment(
        "06",
        {
            f"{activation}, SE {'on' if se else 'off'}": SmallMBConvNet(activation, se)
            for activation in ("relu", "hswish")
            for se in (False, True)
        },
        epochs=2,
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
    with Path(path).open() as handle:
        return "".join(line for line in handle if line.startswith("#"))


def accuracies(runs: Iterable[Run], name: str) -> dict[str, list[float]]:
    """{variant: test accuracy of each recorded seed, in seed order} for one experiment, in the
    experiment's order of variants."""
    experiment = _experiment(name)
    chosen = sorted((run for run in runs if run.experiment == name), key=lambda run: run.seed)
    found = {
        variant: [run.test_accuracy for run in chosen if run.variant == variant]
        for variant in experiment.variants
    }
    missing = [variant for variant, values in found.items() if not values]
    if missing:
        raise ValueError(f"no recorded runs of {name!r} for {missing}; re-run benchmarks/digits_runs.py")
    return found


def describe(values: Iterable[float]) -> str:
    """`mean (min-max, n seeds)` of accuracies, in percent: how a lesson prints recorded runs."""
    values = list(values)
    return (
        f"{100 * statistics.fmean(values):.1f}% "
        f"({100 * min(values):.1f}-{100 * max(values):.1f}, {len(values)} seeds)"
    )
