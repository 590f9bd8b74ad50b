"""Toy neural architecture search: a MnasNet-style space, its reward, and three search strategies.

The search space is MnasNet's factorised hierarchical one (Tan et al. 2019, section 4.1) on a
32x32 backbone: a fixed stem, then `B` blocks, and per block one choice of

- ConvOp: a plain conv ("conv"), a depthwise-separable conv ("dwsep"), or an MBConv with
  expansion 3 or 6 ("mbconv3", "mbconv6"); kernel 3 or 5; squeeze-and-excite ratio 0 or 0.25;
- skip: an identity residual where the shapes allow it, or none;
- a width factor on the block's base width, and the number of layers N_i.

The layers inside a block are identical, so the space has `S^B` points, not `S^(B*N)`.
`SearchSpace.spec(arch)` turns an architecture into an `lwcnn.models` spec (so `models.cost`,
`lwcnn.lut` and `lwcnn.train` work on it); `encode` / `decode` map it to and from integer
choices.

The reward (eq. 2): `ACC * (LAT / T)^w` with `w = alpha` if `LAT <= T` else `beta`;
`SOFT = (-0.07, -0.07)` (2x the latency must buy about 5% accuracy), `HARD = (0, -1)`.

Strategies share one ask/tell interface, so a search is a loop you can also drive yourself (or
hand to a library such as Optuna):

    strategy = RegularizedEvolution(space, seed=0)
    for _ in range(100):
        arch = strategy.ask()
        strategy.tell(arch, my_reward(arch))

`RandomSearch`, `Reinforce` (a per-decision categorical policy trained by REINFORCE with a
moving-average baseline, the paper's controller without its LSTM) and `RegularizedEvolution`
(Real et al. 2019: tournament selection, mutate one decision, the oldest member dies).

FBNet's differentiable search (Wu et al. 2019) trains every candidate block at once: a
`Supernet` mixes them with `gumbel_softmax` weights, its loss `fbnet_loss` multiplies the cross
entropy by `alpha * (log LAT)^beta`, and LAT is the expected latency under those weights from a
latency lookup table (`SupernetLatency`, from `lwcnn.lut`). `fbnet_search` runs it on digits.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import random
import statistics
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from lwcnn import checks
from lwcnn import cost as C
from lwcnn.blocks import (
    ConvBNAct,
    InvertedResidual,
    ResidualLayers,
    SqueezeExcite,
    check_residual,
    frozen_spec,
)
from lwcnn.models import Flatten, Linear, NetworkSpec, StageLayers

OPS = ("conv", "dwsep", "mbconv3", "mbconv6")
EXPANSION = {"conv": 1, "dwsep": 1, "mbconv3": 3, "mbconv6": 6}
SOFT = (-0.07, -0.07)  # MnasNet's soft constraint (alpha, beta)
HARD = (0.0, -1.0)  # its hard constraint


class BlockChoice(NamedTuple):
    """One block's decisions (MnasNet Fig. 4): op, kernel, SE ratio, skip, width factor, layers."""

    op: str = "mbconv6"
    kernel: int = 3
    se_ratio: float = 0.0
    skip: str = "identity"
    width: float = 1.0
    layers: int = 1


DECISIONS = BlockChoice._fields


# --- the plain conv op, with optional SE and shortcut -------------------------------------------


@frozen_spec
class ConvBlock(ResidualLayers):
    """k x k conv -> BN -> ReLU, optional squeeze-and-excite, optional identity shortcut.

    The search space's "conv" op: `ConvBNAct` plus what MnasNet's other ops can have (SE, skip).
    """

    in_channels: int
    out_channels: int
    kernel_size: int = 3
    stride: int = 1
    squeeze_channels: int = 0
    residual: bool = False

    def __post_init__(self) -> None:
        self._positive("in_channels", "out_channels", "kernel_size", "stride")
        checks.check_int("squeeze_channels", self.squeeze_channels, minimum=0)
        C.same_padding(self.kernel_size)
        check_residual(self)

    @property
    def use_residual(self) -> bool:
        return self.residual

    def layers(self) -> list:
        m, n = self.in_channels, self.out_channels
        specs: list = [ConvBNAct(m, n, self.kernel_size, self.stride, activation="relu")]
        if self.squeeze_channels:
            specs.append(SqueezeExcite(n, self.squeeze_channels, "relu", "sigmoid"))
        return specs


# --- the network an architecture describes ------------------------------------------------------


@dataclass(frozen=True)
class SearchedNet(NetworkSpec):
    """A network of the search space: stem (3x3, `stem_stride`), one stage per block choice, a 1x1
    head, global pooling and a linear classifier.

    Block i has `layers` identical layers of `make_divisible(base_widths[i] * width, 8)`
    channels; the first has stride `strides[i]`. "identity" skip adds a shortcut to every layer
    whose input and output shapes match (MnasNet: skip ops apply where they can).
    """

    blocks: tuple[BlockChoice, ...]
    base_widths: tuple[int, ...] = (16, 24, 40, 64)
    strides: tuple[int, ...] = (1, 2, 2, 2)
    stem_channels: int = 16
    stem_stride: int = 1
    head_channels: int = 128
    num_classes: int = 10
    in_channels: int = 1
    resolution: int | None = None

    default_resolution: ClassVar[int] = 32

    def __post_init__(self) -> None:
        self._check_common()
        object.__setattr__(self, "blocks", tuple(BlockChoice(*block) for block in self.blocks))
        if not len(self.blocks) == len(self.base_widths) == len(self.strides):
            raise ValueError(
                f"blocks, base_widths and strides must have one entry per block, got "
                f"{len(self.blocks)}, {len(self.base_widths)} and {len(self.strides)}"
            )
        for block in self.blocks:
            _check_block(block)
        for name in ("stem_channels", "stem_stride", "head_channels"):
            checks.check_int(name, getattr(self, name))
        for name in ("base_widths", "strides"):
            for value in getattr(self, name):
                checks.check_int(name, value)

    def _make_stages(self) -> list[StageLayers]:
        channels = self.stem_channels
        stages: list[StageLayers] = [
            ("stem", [ConvBNAct(self.in_channels, channels, 3, self.stem_stride, activation="relu")])
        ]
        for index, (block, base, stride) in enumerate(
            zip(self.blocks, self.base_widths, self.strides, strict=False)
        ):
            out = C.make_divisible(base * block.width, 8, 8)
            layers = []
            for layer in range(block.layers):
                layers.append(_op_layer(block, channels, out, stride if layer == 0 else 1))
                channels = out
            stages.append((f"block{index + 1}", layers))
        stages.append(("head", [ConvBNAct(channels, self.head_channels, 1, activation="relu")]))
        return stages

    def _make_classifier(self) -> list:
        return [Flatten(self.head_channels), Linear(self.head_channels, self.num_classes)]


def _op_layer(block: BlockChoice, in_channels: int, out_channels: int, stride: int) -> Any:
    """One layer of a block: the op at these channels and stride, SE and skip as chosen."""
    residual = block.skip == "identity" and stride == 1 and in_channels == out_channels
    if block.op == "conv":
        squeeze = C.se_channels(out_channels, block.se_ratio, 8) if block.se_ratio else 0
        return ConvBlock(in_channels, out_channels, block.kernel, stride, squeeze, residual)
    expanded = in_channels * EXPANSION[block.op]
    squeeze = C.se_channels(expanded, block.se_ratio, 8) if block.se_ratio else 0
    return InvertedResidual(
        in_channels,
        out_channels,
        expanded,
        block.kernel,
        stride,
        squeeze,
        activation="relu",
        se_gate="sigmoid",
        residual=residual,
    )


def _check_block(block: BlockChoice) -> None:
    if block.op not in OPS:
        raise ValueError(f"op={block.op!r} is unknown; allowed: {', '.join(OPS)}")
    if block.skip not in ("identity", "none"):
        raise ValueError(f"skip={block.skip!r} is unknown; allowed: identity, none")
    if not 0 <= block.se_ratio <= 1:
        raise ValueError(f"se_ratio must be in [0, 1], got {block.se_ratio!r}")
    if not block.width > 0:
        raise ValueError(f"width must be > 0, got {block.width!r}")
    checks.check_int("layers", block.layers)
    checks.check_int("kernel", block.kernel)


# --- the search space ---------------------------------------------------------------------------

Arch = tuple[BlockChoice, ...]


@dataclass(frozen=True)
class SearchSpace:
    """The options of every decision, for `blocks` searchable blocks (MnasNet's S^B space).

    Narrow an option tuple to make a sub-space (the course's table uses a small one). An
    architecture is a tuple of `BlockChoice`, one per block.
    """

    ops: tuple[str, ...] = OPS
    kernels: tuple[int, ...] = (3, 5)
    se_ratios: tuple[float, ...] = (0.0, 0.25)
    skips: tuple[str, ...] = ("none", "identity")
    widths: tuple[float, ...] = (0.75, 1.0, 1.25)
    layers: tuple[int, ...] = (1, 2, 3)
    base_widths: tuple[int, ...] = (16, 24, 40, 64)
    strides: tuple[int, ...] = (1, 2, 2, 2)
    network: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)  # SearchedNet options

    def __post_init__(self) -> None:
        for name, options in self.options_per_decision().items():
            if not options or len(set(options)) != len(options):
                raise ValueError(f"{name} must list at least one option, each once; got {options!r}")
        for op in self.ops:
            _check_block(BlockChoice(op=op))
        if len(self.base_widths) != len(self.strides):
            raise ValueError("base_widths and strides must have one entry per block")

    @property
    def blocks(self) -> int:
        return len(self.base_widths)

    def options_per_decision(self) -> dict[str, tuple]:
        """Decision name -> its options, in `BlockChoice` order."""
        return {
            "op": tuple(self.ops),
            "kernel": tuple(self.kernels),
            "se_ratio": tuple(self.se_ratios),
            "skip": tuple(self.skips),
            "width": tuple(self.widths),
            "layers": tuple(self.layers),
        }

    def choices(self) -> list[tuple[int, str, tuple]]:
        """Every decision of an architecture, in encoding order: (block, decision, options)."""
        per_block = self.options_per_decision()
        return [(block, name, options) for block in range(self.blocks) for name, options in per_block.items()]

    @property
    def block_size(self) -> int:
        """S: the choices for one block."""
        return math.prod(len(options) for options in self.options_per_decision().values())

    @property
    def size(self) -> int:
        """S^B: the architectures the space encodes (MnasNet's count)."""
        return self.block_size**self.blocks

    def encode(self, arch: Sequence[BlockChoice]) -> tuple[int, ...]:
        """The option index of each decision, block after block."""
        arch = self._check_arch(arch)
        return tuple(options.index(getattr(arch[block], name)) for block, name, options in self.choices())

    def decode(self, code: Sequence[int]) -> Arch:
        """The architecture whose option indices are `code` (inverse of `encode`)."""
        choices = self.choices()
        if len(code) != len(choices):
            raise ValueError(f"code must have {len(choices)} indices, got {len(code)}")
        values: list[dict[str, Any]] = [{} for _ in range(self.blocks)]
        for index, (block, name, options) in zip(code, choices, strict=True):
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(options):
                raise ValueError(
                    f"code index for block {block} {name} must be in [0, {len(options)}), got {index!r}"
                )
            values[block][name] = options[index]
        return tuple(BlockChoice(**block) for block in values)

    def sample(self, rng: random.Random) -> Arch:
        """One architecture drawn uniformly."""
        return self.decode([rng.randrange(len(options)) for _, _, options in self.choices()])

    def mutate(self, arch: Sequence[BlockChoice], rng: random.Random) -> Arch:
        """`arch` with one decision (drawn uniformly) changed to another of its options."""
        code = list(self.encode(arch))
        movable = [i for i, (_, _, options) in enumerate(self.choices()) if len(options) > 1]
        if not movable:
            raise ValueError("every decision has a single option: nothing to mutate")
        position = rng.choice(movable)
        options = self.choices()[position][2]
        code[position] = rng.choice([i for i in range(len(options)) if i != code[position]])
        return self.decode(code)

    def all_archs(self) -> list[Arch]:
        """Every architecture of the space, in encoding order (only for small sub-spaces)."""
        if self.size > 100_000:
            raise ValueError(f"the space has {self.size:,} architectures; enumerate a sub-space")
        sizes = [len(options) for _, _, options in self.choices()]
        codes = [[]]
        for size in sizes:
            codes = [code + [i] for code in codes for i in range(size)]
        return [self.decode(code) for code in codes]

    def spec(self, arch: Sequence[BlockChoice]) -> SearchedNet:
        """The `lwcnn.models` spec of `arch`: cost it, build it, train it."""
        arch = self._check_arch(arch)
        return SearchedNet(arch, self.base_widths, self.strides, **self.network)

    def _check_arch(self, arch: Sequence[BlockChoice]) -> Arch:
        arch = tuple(BlockChoice(*block) for block in arch)
        if len(arch) != self.blocks:
            raise ValueError(f"arch must have {self.blocks} blocks, got {len(arch)}")
        for block in arch:
            for name, options in self.options_per_decision().items():
                if getattr(block, name) not in options:
                    raise ValueError(
                        f"{name}={getattr(block, name)!r} is not in this space; allowed: {options}"
                    )
        return arch


# The course's tabular benchmark (benchmarks/nasbench_build.py -> data/nasbench_digits.csv): three
# blocks after a stride-2 stem (32 -> 16 -> 8 -> 4), one layer each, op x kernel per block:
# 6^3 = 216 networks, each trained on digits with 3 seeds, about 8 s a run on one CPU thread.
TABLE_SPACE = SearchSpace(
    ops=("dwsep", "mbconv3", "mbconv6"),
    kernels=(3, 5),
    se_ratios=(0.0,),
    skips=("identity",),
    widths=(1.0,),
    layers=(1,),
    base_widths=(16, 24, 40),
    strides=(1, 2, 2),
    network={"stem_stride": 2},
)

# A second, disjoint space of the same shape (same decisions, other networks: every block with SE
# and without the identity shortcut), trained once for a held-out table. Search settings are
# chosen on it, never on the course's table (`benchmarks/nas_settings.py`).
HELDOUT_SPACE = dataclasses.replace(
    TABLE_SPACE, se_ratios=(0.25,), skips=("none",), network=dict(TABLE_SPACE.network)
)
HELDOUT_TABLE = Path(__file__).resolve().parent.parent / "data" / "nasbench_digits_heldout.csv"


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


DEFAULT_TABLE = Path(__file__).resolve().parent.parent / "data" / "nasbench_digits.csv"


def load_table(path: str | Path = DEFAULT_TABLE, space: SearchSpace | None = None) -> list[TableRow]:
    """The rows of a tabular benchmark written by `benchmarks/nasbench_build.py` (`#` lines skipped)."""
    space = TABLE_SPACE if space is None else space
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist; build it with `.venv/bin/python benchmarks/nasbench_build.py` (about 35 minutes)"
        )
    with open(path, newline="") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        seeded = [name for name in rows.fieldnames or () if name.startswith("accuracy_seed")]
        return [
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


# --- the reward and the Pareto front --------------------------------------------------------------


def mnas_reward(
    accuracy: float, latency: float, target: float, alpha: float = SOFT[0], beta: float = SOFT[1]
) -> float:
    """MnasNet's objective `ACC * (LAT / T)^w`, `w = alpha` if `LAT <= T` else `beta`.

    `SOFT` (alpha = beta = -0.07) trades latency for accuracy smoothly; `HARD` (0, -1) ignores
    latency under the target and divides by it above.
    """
    if not accuracy >= 0:
        raise ValueError(f"accuracy must be >= 0, got {accuracy!r}")
    for name, value in (("latency", latency), ("target", target)):
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")
    exponent = alpha if latency <= target else beta
    return accuracy * (latency / target) ** exponent


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the (latency, accuracy) points no other point beats: lower-or-equal latency and
    higher-or-equal accuracy, better in one. Sorted by latency."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


# --- search strategies: ask / tell ---------------------------------------------------------------


class Strategy:
    """`ask()` an architecture, evaluate it your way, `tell(arch, reward)`. Seeded."""

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        if not isinstance(space, SearchSpace):
            raise TypeError(f"space must be a SearchSpace, got {type(space).__name__}")
        self.space = space
        self.rng = random.Random(seed)
        self.history: list[tuple[Arch, float]] = []

    def ask(self) -> Arch:  # pragma: no cover - every strategy overrides
        raise NotImplementedError

    def tell(self, arch: Sequence[BlockChoice], reward: float) -> None:
        if not math.isfinite(reward):
            raise ValueError(f"reward must be a finite number, got {reward!r}")
        self.history.append((self.space._check_arch(arch), float(reward)))

    @property
    def best(self) -> tuple[Arch, float]:
        if not self.history:
            raise ValueError("no architecture has been told yet")
        return max(self.history, key=lambda item: item[1])


class RandomSearch(Strategy):
    """Uniform samples: the baseline every search must beat."""

    def ask(self) -> Arch:
        return self.space.sample(self.rng)


class Reinforce(Strategy):
    """REINFORCE on a per-decision categorical policy, with a moving-average baseline.

    Each decision has its own logits; `ask` samples every decision; `tell` moves the logits of
    the sampled options by `lr * (reward - baseline) * (onehot - softmax)` (the gradient of the
    log-probability) and updates `baseline <- decay * baseline + (1 - decay) * reward`.
    `normalize=True` divides the advantage by a moving average of |reward - baseline|: rewards
    like MnasNet's, which differ by a few percent between networks, then still teach the policy.
    `entropy > 0` adds the standard entropy bonus: each tell also climbs `entropy * H(policy)`
    (the sum of every decision's entropy), whose gradient `-p * (log p + H)` pulls a decision
    that has nearly settled back towards its other options, so a policy that learns fast does
    not collapse onto the first good-looking network and stop exploring.
    """

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        lr: float = 0.5,
        baseline_decay: float = 0.9,
        normalize: bool = False,
        entropy: float = 0.0,
    ) -> None:
        super().__init__(space, seed)
        for name, value in (("lr", lr), ("baseline_decay", baseline_decay), ("entropy", entropy)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        if not 0 <= baseline_decay < 1:
            raise ValueError(f"baseline_decay must be in [0, 1), got {baseline_decay!r}")
        if not 0 <= entropy < math.inf:
            raise ValueError(f"entropy must be a finite number >= 0, got {entropy!r}")
        self.lr, self.baseline_decay, self.normalize = lr, baseline_decay, normalize
        self.entropy = entropy
        self.logits = [[0.0] * len(options) for _, _, options in space.choices()]
        self.baseline: float | None = None
        self.spread: float | None = None  # moving average of |reward - baseline|, for `normalize`

    def probabilities(self) -> list[list[float]]:
        """The policy: per decision, the probability of each option."""
        result = []
        for logits in self.logits:
            top = max(logits)
            weights = [math.exp(value - top) for value in logits]
            total = sum(weights)
            result.append([weight / total for weight in weights])
        return result

    def ask(self) -> Arch:
        code = [self.rng.choices(range(len(p)), weights=p)[0] for p in self.probabilities()]
        return self.space.decode(code)

    def tell(self, arch: Sequence[BlockChoice], reward: float) -> None:
        super().tell(arch, reward)
        if self.baseline is None:
            self.baseline = float(reward)
        advantage = reward - self.baseline
        if self.normalize:  # rewards that differ by 1% would barely move the policy otherwise
            decay = self.baseline_decay
            self.spread = (
                abs(advantage) if not self.spread else decay * self.spread + (1 - decay) * abs(advantage)
            )
            advantage = advantage / self.spread if self.spread else 0.0
        for logits, probabilities, chosen in zip(
            self.logits, self.probabilities(), self.space.encode(arch), strict=True
        ):
            logs = [math.log(p) if p > 0 else 0.0 for p in probabilities]  # p log p -> 0 as p -> 0
            h = -sum(p * log for p, log in zip(probabilities, logs, strict=True))  # this decision's entropy
            for option, (probability, log) in enumerate(zip(probabilities, logs, strict=True)):
                gradient = advantage * ((option == chosen) - probability)  # of advantage * log p(arch)
                gradient -= self.entropy * probability * (log + h)  # of entropy * H
                logits[option] += self.lr * gradient
        self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * reward


class RegularizedEvolution(Strategy):
    """Aging evolution (Real et al. 2019): random architectures until the population is full,
    then the best of `sample_size` random members, mutated in one decision; the oldest dies."""

    def __init__(
        self, space: SearchSpace, seed: int = 0, population_size: int = 20, sample_size: int = 5
    ) -> None:
        super().__init__(space, seed)
        checks.check_int("population_size", population_size)
        checks.check_int("sample_size", sample_size)
        if sample_size > population_size:
            raise ValueError(f"sample_size ({sample_size}) must be <= population_size ({population_size})")
        self.population_size, self.sample_size = population_size, sample_size
        self.population: deque[tuple[Arch, float]] = deque()

    def ask(self) -> Arch:
        if len(self.population) < self.population_size:
            return self.space.sample(self.rng)
        contenders = self.rng.sample(list(self.population), self.sample_size)
        parent = max(contenders, key=lambda item: item[1])[0]
        return self.space.mutate(parent, self.rng)

    def tell(self, arch: Sequence[BlockChoice], reward: float) -> None:
        super().tell(arch, reward)
        self.population.append(self.history[-1])
        if len(self.population) > self.population_size:
            self.population.popleft()


STRATEGIES: dict[str, type[Strategy]] = {
    "random": RandomSearch,
    "reinforce": Reinforce,
    "evolution": RegularizedEvolution,
}


# The strategies' settings for the course's table, chosen on the held-out table
# (`HELDOUT_TABLE`) by `benchmarks/nas_settings.py` from its grid, by its rule fixed in advance
# (lowest median number of evaluations to the top 1%); `data/nas_settings.csv` has every
# setting's figures, and a test checks these are its winners. No setting was tried on the
# course's table before it was chosen.
TABLE_SETTINGS: dict[str, dict[str, Any]] = {
    "random": {},
    "reinforce": {"lr": 0.5, "normalize": True, "entropy": 0.3},
    "evolution": {"population_size": 5, "sample_size": 5},
}


def table_strategy(name: str, seed: int, space: SearchSpace | None = None) -> Strategy:
    """Strategy `name` ("random", "reinforce", "evolution") with the course's `TABLE_SETTINGS`."""
    if name not in STRATEGIES:
        raise ValueError(f"name={name!r} is unknown; allowed: {', '.join(STRATEGIES)}")
    return STRATEGIES[name](TABLE_SPACE if space is None else space, seed, **TABLE_SETTINGS[name])


def table_rewards(
    rows: Sequence[TableRow], target: float, alpha: float = SOFT[0], beta: float = SOFT[1]
) -> dict[Arch, float]:
    """Each table row's `mnas_reward` at target latency `target`, by architecture (row order)."""
    return {row.arch: mnas_reward(row.accuracy, row.latency_ms, target, alpha, beta) for row in rows}


def top_share(rewards: Mapping[Arch, float], share: float = 0.01) -> set[Arch]:
    """The `ceil(share * n)` architectures with the highest rewards (at least one)."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share!r}")
    ranked = sorted(rewards, key=rewards.get, reverse=True)
    return set(ranked[: max(1, math.ceil(share * len(ranked)))])


def search(strategy: Strategy, evaluate: Callable[[Arch], float], budget: int) -> list[float]:
    """Run `budget` ask/evaluate/tell rounds; return the best reward seen after each."""
    checks.check_int("budget", budget)
    best, curve = -math.inf, []
    for _ in range(budget):
        arch = strategy.ask()
        reward = evaluate(arch)
        strategy.tell(arch, reward)
        best = max(best, reward)
        curve.append(best)
    return curve


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


# --- FBNet: differentiable search over a supernet -------------------------------------------------
#
# FBNet (Wu et al. 2019) makes the choice of block differentiable. Layer l of the supernet runs
# every candidate block and mixes their outputs, `x_{l+1} = sum_i m_{l,i} * b_{l,i}(x_l)`, with
# weights `m_l = GumbelSoftmax(theta_l, tau)`; the temperature tau starts at 5 and decays by
# exp(-0.045) per epoch. The loss is `CE(w, a) * alpha * (log LAT(a))^beta` (eq. 2), and the
# expected latency `LAT(a) = sum_l sum_i m_{l,i} * LAT(b_{l,i})` comes from the per-block lookup
# table, so it is differentiable in theta. `alpha = 0.2, beta = 0.6` are the values of public
# re-implementations, with LAT in milliseconds on a phone (FBNet-A..C: 19.8-28.1 ms on a Samsung
# S8). Our networks run in about 1 ms, and log(LAT) < 0 has no real power 0.6: `fbnet_loss`
# takes LAT in a unit (`unit_ms`) that makes it larger than 1.

FBNET_TEMPERATURE = (5.0, math.exp(-0.045))  # initial tau, decay per epoch (FBNet section 3.3)
FBNET_LOSS = (0.2, 0.6)  # alpha, beta (FBNet section 4.1)


def gumbel_softmax(
    logits: torch.Tensor, temperature: float, generator: torch.Generator | None = None, hard: bool = False
) -> torch.Tensor:
    """`softmax((logits + g) / tau)` over the last dimension, `g = -log(-log(U))`, U ~ U(0, 1).

    The argmax of `logits + g` is a sample of `softmax(logits)` (the Gumbel-max trick); dividing
    by a temperature and taking the softmax instead makes the sample differentiable. As tau -> 0
    the weights approach that one-hot sample; as tau grows they approach uniform. `hard=True`
    returns the one-hot sample in the forward pass and the soft weights' gradient (straight
    through). Seeded by `generator` (torch's `F.gumbel_softmax` takes none).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    uniform = torch.rand(logits.shape, generator=generator, dtype=logits.dtype, device=logits.device)
    tiny = torch.finfo(logits.dtype).tiny
    gumbel = -torch.log((-torch.log(uniform.clamp_min(tiny))).clamp_min(tiny))
    soft = torch.softmax((logits + gumbel) / temperature, dim=-1)
    if not hard:
        return soft
    onehot = torch.zeros_like(soft).scatter_(-1, soft.argmax(dim=-1, keepdim=True), 1.0)
    return onehot - soft.detach() + soft


def annealed_temperature(
    epoch: float, initial: float = FBNET_TEMPERATURE[0], decay: float = FBNET_TEMPERATURE[1]
) -> float:
    """FBNet's schedule `tau = initial * decay^epoch` (fractional epochs allowed: anneal per step)."""
    if not initial > 0:
        raise ValueError(f"initial must be > 0, got {initial!r}")
    if not 0 < decay <= 1:
        raise ValueError(f"decay must be in (0, 1], got {decay!r}")
    if not epoch >= 0:
        raise ValueError(f"epoch must be >= 0, got {epoch!r}")
    return initial * decay**epoch


def fbnet_loss(
    cross_entropy: torch.Tensor,
    latency_ms: torch.Tensor | float,
    alpha: float = FBNET_LOSS[0],
    beta: float = FBNET_LOSS[1],
    unit_ms: float = 1.0,
) -> torch.Tensor:
    """FBNet's eq. 2, `CE * alpha * (log LAT)^beta`, with `LAT = latency_ms / unit_ms`.

    `LAT` must exceed 1 in the chosen unit: `log(LAT)` is then positive and its power real.
    A sub-millisecond network in milliseconds gives log(LAT) < 0 (NaN for beta = 0.6); measure
    it in microseconds (`unit_ms=1e-3`). beta = 0 ignores latency. Public re-implementations
    often use `CE + beta * log(LAT)` instead, a different trade-off: there the latency term's
    gradient does not shrink as CE falls.
    """
    if not unit_ms > 0:
        raise ValueError(f"unit_ms must be > 0, got {unit_ms!r}")
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha!r}")
    if not beta >= 0:
        raise ValueError(f"beta must be >= 0, got {beta!r}")
    latency = torch.as_tensor(latency_ms, dtype=cross_entropy.dtype) / unit_ms
    if not bool((latency > 1).all()):
        raise ValueError(
            f"latency_ms / unit_ms must be > 1 so that (log LAT)^beta is real and positive; got "
            f"{float(latency.detach().min()):.4g} with unit_ms={unit_ms}: pass a smaller unit_ms "
            f"(1e-3 counts microseconds)"
        )
    return cross_entropy * alpha * torch.log(latency) ** beta


def _block_candidates(space: SearchSpace) -> list[BlockChoice]:
    """The blocks one supernet layer mixes: every option combination except the width (the
    outputs are summed, so every candidate of a layer must have the same width)."""
    if len(space.widths) != 1:
        raise ValueError(
            f"a supernet needs one width per block (outputs of different widths cannot be mixed); "
            f"the space has widths={space.widths!r}"
        )
    options = space.options_per_decision()
    combos = [[]]
    for name in DECISIONS:
        combos = [combo + [value] for combo in combos for value in options[name]]
    return [BlockChoice(*combo) for combo in combos]


class Supernet(nn.Module):
    """Every architecture of `space` in one network (FBNet section 3.2): the fixed stem, then per
    block a `candidates` list of modules whose outputs are mixed by weights, the head, pooling
    and the classifier, as `space.spec(arch).build()` makes them.

    `forward(x, weights)` takes one weight vector per block (e.g. `sample_weights`); `theta`
    holds the architecture logits, one row per block, one column per candidate.
    """

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        super().__init__()
        if not isinstance(space, SearchSpace):
            raise TypeError(f"space must be a SearchSpace, got {type(space).__name__}")
        self.space = space
        self.candidates = _block_candidates(space)
        torch.manual_seed(seed)
        self.blocks = nn.ModuleList(nn.ModuleList() for _ in range(space.blocks))
        shared = None
        for candidate in self.candidates:  # one network per candidate: the same choice everywhere
            network = space.spec((candidate,) * space.blocks).build()
            shared = network if shared is None else shared
            for index, mixed in enumerate(self.blocks):
                mixed.append(getattr(network.features, f"block{index + 1}"))
        self.stem, self.head = shared.features.stem, shared.features.head
        self.avgpool, self.classifier = shared.avgpool, shared.classifier
        self.theta = nn.Parameter(torch.zeros(space.blocks, len(self.candidates)))

    def weight_parameters(self) -> list[nn.Parameter]:
        """The blocks' weights (trained on one part of the data)."""
        return [p for name, p in self.named_parameters() if name != "theta"]

    def sample_weights(self, temperature: float, generator: torch.Generator | None = None) -> torch.Tensor:
        """Gumbel-softmax mixing weights: one row per block, one column per candidate."""
        return gumbel_softmax(self.theta, temperature, generator)

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """The mixed network; `weights=None` uses softmax(theta) (no noise)."""
        weights = torch.softmax(self.theta, dim=-1) if weights is None else weights
        if weights.shape != self.theta.shape:
            raise ValueError(f"weights must have shape {tuple(self.theta.shape)}, got {tuple(weights.shape)}")
        x = self.stem(x)
        for mixed, row in zip(self.blocks, weights, strict=True):
            x = sum(weight * candidate(x) for weight, candidate in zip(row, mixed, strict=True))
        x = self.avgpool(self.head(x))
        return self.classifier(x)

    def probabilities(self) -> list[list[float]]:
        """softmax(theta) per block: the distribution the search has learned."""
        return torch.softmax(self.theta.detach(), dim=-1).tolist()

    def extract(self, arch: Sequence[BlockChoice] | None = None) -> nn.Sequential:
        """The network of `arch` (default `derive()`) as `space.spec(arch).build()` makes it, with
        the supernet's weights of the chosen candidates (FBNet itself retrains it from scratch).
        In eval mode it computes what the supernet computes with one-hot weights on `arch`."""
        arch = self.derive() if arch is None else self.space._check_arch(arch)
        model = self.space.spec(arch).build()
        model.features.stem.load_state_dict(self.stem.state_dict())
        model.features.head.load_state_dict(self.head.state_dict())
        model.classifier.load_state_dict(self.classifier.state_dict())
        for index, choice in enumerate(arch):
            candidate = self.blocks[index][self.candidates.index(choice)]
            getattr(model.features, f"block{index + 1}").load_state_dict(candidate.state_dict())
        return model

    def one_hot(self, arch: Sequence[BlockChoice]) -> torch.Tensor:
        """Mixing weights that select `arch`: 1 on its candidate in each block."""
        arch = self.space._check_arch(arch)
        weights = torch.zeros_like(self.theta.detach())
        for index, choice in enumerate(arch):
            weights[index, self.candidates.index(choice)] = 1.0
        return weights

    def derive(self) -> Arch:
        """The most likely candidate of each block (FBNet samples the final distribution; its
        mode is the deterministic reading)."""
        return tuple(self.candidates[int(index)] for index in self.theta.detach().argmax(dim=-1))


@dataclass(frozen=True)
class SupernetLatency:
    """The lookup table as the supernet needs it: `fixed_ms` (stem, head, pooling, classifier
    and the nn.Sequential calls, the same in every architecture) and `block_ms[b][i]`, block b's
    candidate i. For a one-hot choice, `expected_ms` equals the table's `predict` of that network.
    """

    fixed_ms: float
    block_ms: tuple[tuple[float, ...], ...]

    @classmethod
    def from_table(cls, space: SearchSpace, table: Any, statistic: str | None = None) -> SupernetLatency:
        """Read every candidate's blocks from an `lwcnn.lut.LatencyTable` (built, e.g., from
        `supernet_blocks(space)`); scaled by the table's calibration like its predictions."""
        candidates = _block_candidates(space)
        per_candidate, fixed = [], None
        for candidate in candidates:
            prediction = table.predict(space.spec((candidate,) * space.blocks), statistic=statistic)
            stages = prediction.by_stage()
            blocks = [prediction.scale * stages[f"block{b + 1}"] for b in range(space.blocks)]
            per_candidate.append(blocks)
            rest = prediction.latency_ms - sum(blocks)
            fixed = rest if fixed is None else fixed
        block_ms = tuple(
            tuple(per_candidate[i][b] for i in range(len(candidates))) for b in range(space.blocks)
        )
        return cls(fixed, block_ms)

    def expected_ms(self, weights: torch.Tensor) -> torch.Tensor:
        """FBNet's expected latency: `fixed + sum_b sum_i weights[b, i] * block_ms[b][i]` (differentiable)."""
        table = torch.tensor(self.block_ms, dtype=weights.dtype)
        if weights.shape != table.shape:
            raise ValueError(f"weights must have shape {tuple(table.shape)}, got {tuple(weights.shape)}")
        return self.fixed_ms + (weights * table).sum()


def supernet_blocks(space: SearchSpace, batch_size: int = 1) -> list[tuple[Any, tuple[int, ...]]]:
    """The (block spec, input shape) pairs a latency table needs for every architecture of `space`."""
    from lwcnn.lut import network_blocks

    pairs = []
    for candidate in _block_candidates(space):
        pairs += network_blocks(space.spec((candidate,) * space.blocks), batch_size=batch_size)
    return list(dict.fromkeys(pairs))


@dataclass(frozen=True)
class SearchEpoch:
    """One epoch of `fbnet_search`: the temperature at its end, the mean losses, the expected
    latency under softmax(theta), the distribution per block and its mode."""

    epoch: int
    temperature: float
    weight_loss: float
    arch_loss: float  # nan during warm-up (theta not trained)
    expected_ms: float
    probabilities: tuple[tuple[float, ...], ...]
    arch: Arch


@dataclass
class SearchResult:
    """What `fbnet_search` returns: the trained supernet, one `SearchEpoch` per epoch, the derived
    architecture (the last epoch's mode) and the search's wall time."""

    supernet: Supernet
    history: list[SearchEpoch]
    seconds: float

    @property
    def arch(self) -> Arch:
        return self.history[-1].arch


# The course's short search on digits (lesson 10, benchmarks/fbnet_search.py), fixed before the
# runs the lesson reports:
# - 16x16 images: the digits are 8x8, so this 4x cheaper proxy loses nothing (latency is still
#   the 32x32 network's, from the table);
# - one warm-up epoch of weights only, then theta and the weights alternate;
# - theta's Adam at 0.3, not FBNet's 0.01: 4 epochs give theta about 20 steps, not thousands;
# - tau from 5 (FBNet's start) to 0.5 over the 5 epochs (FBNet's exp(-0.045)/epoch takes 51
#   epochs to get there); lower, the weights hardly train, each step feeding one candidate;
# - LAT in units of 50 us: our 1.0-1.7 ms networks then read 20-34, the range of the paper's
#   phone latencies in ms, so beta = 0.6 keeps the paper's trade-off. The unit is not cosmetic:
#   log LAT = ln(LAT) scales the latency term's pull on theta by beta / ln(LAT).
DIGITS_SEARCH: dict[str, Any] = {
    "epochs": 5,
    "warmup_epochs": 1,
    "image_size": 16,
    "batch_size": 64,
    "weight_lr": 0.01,
    "theta_lr": 0.3,
    "theta_fraction": 0.2,
    "temperature": 5.0,
    "temperature_decay": 0.1 ** (1 / 5),
    "alpha": FBNET_LOSS[0],
    "beta": FBNET_LOSS[1],
    "unit_ms": 0.05,
}


def fbnet_search(
    space: SearchSpace,
    latency: SupernetLatency,
    epochs: int = DIGITS_SEARCH["epochs"],
    warmup_epochs: int = DIGITS_SEARCH["warmup_epochs"],
    image_size: int = DIGITS_SEARCH["image_size"],
    batch_size: int = DIGITS_SEARCH["batch_size"],
    weight_lr: float = DIGITS_SEARCH["weight_lr"],
    theta_lr: float = DIGITS_SEARCH["theta_lr"],
    theta_fraction: float = DIGITS_SEARCH["theta_fraction"],
    temperature: float = DIGITS_SEARCH["temperature"],
    temperature_decay: float = DIGITS_SEARCH["temperature_decay"],
    alpha: float = DIGITS_SEARCH["alpha"],
    beta: float = DIGITS_SEARCH["beta"],
    unit_ms: float = DIGITS_SEARCH["unit_ms"],
    seed: int = 0,
    progress: bool = True,
) -> SearchResult:
    """FBNet's search on digits: the weights (Adam, `weight_lr`) learn on `1 - theta_fraction` of
    the training images, theta (Adam, `theta_lr`) on the rest with `fbnet_loss`, after
    `warmup_epochs` of weights only. Every step draws fresh Gumbel weights at the annealed
    temperature `temperature * temperature_decay^(epochs so far)`. Seeded: the same call on one
    CPU thread gives the same result.
    """
    from tqdm.auto import tqdm

    from lwcnn.data import digits_tensors

    for name, value in (("epochs", epochs), ("image_size", image_size), ("batch_size", batch_size)):
        checks.check_int(name, value)
    if (
        isinstance(warmup_epochs, bool)
        or not isinstance(warmup_epochs, int)
        or not 0 <= warmup_epochs < epochs
    ):
        raise ValueError(f"warmup_epochs must be an int in [0, epochs={epochs}), got {warmup_epochs!r}")
    if not 0 < theta_fraction < 1:
        raise ValueError(f"theta_fraction must be in (0, 1), got {theta_fraction!r}")
    for name, value in (("weight_lr", weight_lr), ("theta_lr", theta_lr)):
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")
    annealed_temperature(0, temperature, temperature_decay)  # checks both
    cheapest_ms = latency.fixed_ms + sum(min(row) for row in latency.block_ms)
    fbnet_loss(torch.zeros(()), cheapest_ms, alpha, beta, unit_ms)  # checks alpha, beta, unit_ms

    start = time.perf_counter()
    split = digits_tensors(image_size=image_size, seed=seed)
    order = torch.randperm(len(split.train_labels), generator=torch.Generator().manual_seed(seed))
    cut = round(theta_fraction * len(order))
    parts = {"theta": order[:cut], "weights": order[cut:]}
    loaders = {
        name: torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(split.train_images[index], split.train_labels[index]),
            batch_size=batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(seed + offset),
        )
        for offset, (name, index) in enumerate(parts.items())
    }
    supernet = Supernet(space, seed)
    weight_optimizer = torch.optim.Adam(supernet.weight_parameters(), lr=weight_lr)
    theta_optimizer = torch.optim.Adam([supernet.theta], lr=theta_lr)
    gumbel = torch.Generator().manual_seed(seed)
    steps_per_epoch = len(loaders["weights"])
    history: list[SearchEpoch] = []
    for epoch in tqdm(range(1, epochs + 1), desc="search", unit="epoch", disable=not progress):
        supernet.train()
        searching = epoch > warmup_epochs
        theta_batches = iter(loaders["theta"])
        weight_losses, arch_losses = [], []
        for step, (images, labels) in enumerate(loaders["weights"]):
            tau = annealed_temperature(epoch - 1 + step / steps_per_epoch, temperature, temperature_decay)
            loss = F.cross_entropy(supernet(images, supernet.sample_weights(tau, gumbel).detach()), labels)
            weight_optimizer.zero_grad()
            loss.backward()
            weight_optimizer.step()
            weight_losses.append(loss.item())
            batch = (
                next(theta_batches, None) if searching and step % round(1 / theta_fraction - 1) == 0 else None
            )
            if batch is not None:  # one theta step per (1 - f) / f weight steps: each part once per epoch
                weights = supernet.sample_weights(tau, gumbel)
                cross_entropy = F.cross_entropy(supernet(batch[0], weights), batch[1])
                arch_loss = fbnet_loss(cross_entropy, latency.expected_ms(weights), alpha, beta, unit_ms)
                theta_optimizer.zero_grad()
                arch_loss.backward()
                theta_optimizer.step()
                arch_losses.append(arch_loss.item())
        with torch.no_grad():
            expected = float(latency.expected_ms(torch.softmax(supernet.theta, dim=-1)))
        history.append(
            SearchEpoch(
                epoch,
                annealed_temperature(epoch, temperature, temperature_decay),
                sum(weight_losses) / len(weight_losses),
                sum(arch_losses) / len(arch_losses) if arch_losses else math.nan,
                expected,
                tuple(tuple(row) for row in supernet.probabilities()),
                supernet.derive(),
            )
        )
    return SearchResult(supernet, history, time.perf_counter() - start)


__all__ = [
    "DIGITS_SEARCH",
    "FBNET_LOSS",
    "FBNET_TEMPERATURE",
    "SearchEpoch",
    "SearchResult",
    "Supernet",
    "SupernetLatency",
    "annealed_temperature",
    "fbnet_loss",
    "fbnet_search",
    "gumbel_softmax",
    "supernet_blocks",
    "BlockChoice",
    "ConvBlock",
    "HARD",
    "OPS",
    "RandomSearch",
    "RegularizedEvolution",
    "Reinforce",
    "SOFT",
    "STRATEGIES",
    "SearchSpace",
    "TABLE_SPACE",
    "SearchedNet",
    "TableRow",
    "load_table",
    "evaluations_to_reach",
    "first_hits",
    "table_task",
    "TABLE_SETTINGS",
    "table_rewards",
    "table_strategy",
    "top_share",
    "Strategy",
    "mnas_reward",
    "pareto_front",
    "search",
]
