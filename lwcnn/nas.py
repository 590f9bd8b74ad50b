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
"""

from __future__ import annotations

import csv
import math
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from lwcnn import cost as C
from lwcnn.blocks import (
    ConvBNAct,
    InvertedResidual,
    LayerCost,
    SqueezeExcite,
    _check_residual,
    _ResidualLayers,
)
from lwcnn.models import Flatten, Linear, NetworkSpec, StageLayers, _layer

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


@dataclass(frozen=True)
class ConvBlock(_ResidualLayers):
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
        C._check_int("squeeze_channels", self.squeeze_channels, minimum=0)
        C.same_padding(self.kernel_size)
        _check_residual(self)

    @property
    def use_residual(self) -> bool:
        return self.residual

    def layers(self) -> list:
        m, n = self.in_channels, self.out_channels
        specs: list = [ConvBNAct(m, n, self.kernel_size, self.stride, activation="relu")]
        if self.squeeze_channels:
            specs.append(SqueezeExcite(n, self.squeeze_channels, "relu", "sigmoid"))
        return specs

    @staticmethod
    def _cost_of(
        height: int,
        width: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        squeeze_channels: int = 0,
        residual: bool = False,
    ) -> LayerCost:
        params, macs, n, height, width = ConvBNAct._cost_of(
            height, width, in_channels, out_channels, kernel_size, stride, 1, 1, "relu"
        )
        if squeeze_channels:
            se_params, se_macs, *_ = SqueezeExcite._cost_of(
                height, width, n, squeeze_channels, "relu", "sigmoid"
            )
            params, macs = params + se_params, macs + se_macs
        return params, macs, n, height, width


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
            C._check_int(name, getattr(self, name))
        for name in ("base_widths", "strides"):
            for value in getattr(self, name):
                C._check_int(name, value)

    def _make_stages(self) -> list[StageLayers]:
        channels = self.stem_channels
        stages: list[StageLayers] = [
            ("stem", [_layer(ConvBNAct, self.in_channels, channels, 3, self.stem_stride, activation="relu")])
        ]
        for index, (block, base, stride) in enumerate(
            zip(self.blocks, self.base_widths, self.strides, strict=False)
        ):
            out = C._make_divisible(base * block.width, 8, 8)
            layers = []
            for layer in range(block.layers):
                layers.append(_op_layer(block, channels, out, stride if layer == 0 else 1))
                channels = out
            stages.append((f"block{index + 1}", layers))
        stages.append(("head", [_layer(ConvBNAct, channels, self.head_channels, 1, activation="relu")]))
        return stages

    def _make_classifier(self) -> list:
        return [_layer(Flatten, self.head_channels), _layer(Linear, self.head_channels, self.num_classes)]


def _op_layer(block: BlockChoice, in_channels: int, out_channels: int, stride: int) -> Any:
    """One layer of a block: the op at these channels and stride, SE and skip as chosen."""
    residual = block.skip == "identity" and stride == 1 and in_channels == out_channels
    if block.op == "conv":
        squeeze = C.se_channels(out_channels, block.se_ratio, 8) if block.se_ratio else 0
        return _layer(ConvBlock, in_channels, out_channels, block.kernel, stride, squeeze, residual)
    expanded = in_channels * EXPANSION[block.op]
    squeeze = C.se_channels(expanded, block.se_ratio, 8) if block.se_ratio else 0
    return _layer(
        InvertedResidual,
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
    C._check_int("layers", block.layers)
    C._check_int("kernel", block.kernel)


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
# 6^3 = 216 networks, each trained on digits in about 10 s on one CPU thread.
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


@dataclass(frozen=True)
class TableRow:
    """One trained network of the tabular benchmark."""

    arch: Arch
    params: int
    macs: int
    accuracy: float
    latency_ms: float


DEFAULT_TABLE = Path(__file__).resolve().parent.parent / "data" / "nasbench_digits.csv"


def load_table(path: str | Path = DEFAULT_TABLE, space: SearchSpace | None = None) -> list[TableRow]:
    """The rows of a tabular benchmark written by `benchmarks/nasbench_build.py` (`#` lines skipped)."""
    space = TABLE_SPACE if space is None else space
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist; build it with `.venv/bin/python benchmarks/nasbench_build.py` (about 20 minutes)"
        )
    with open(path, newline="") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return [
            TableRow(
                space.decode([int(part) for part in row["code"].split("-")]),
                int(row["params"]),
                int(row["macs"]),
                float(row["test_accuracy"]),
                float(row["latency_ms"]),
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
    """

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        lr: float = 0.5,
        baseline_decay: float = 0.9,
        normalize: bool = False,
    ) -> None:
        super().__init__(space, seed)
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        if not 0 <= baseline_decay < 1:
            raise ValueError(f"baseline_decay must be in [0, 1), got {baseline_decay!r}")
        self.lr, self.baseline_decay, self.normalize = lr, baseline_decay, normalize
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
            for option, probability in enumerate(probabilities):
                logits[option] += self.lr * advantage * ((option == chosen) - probability)
        self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * reward


class RegularizedEvolution(Strategy):
    """Aging evolution (Real et al. 2019): random architectures until the population is full,
    then the best of `sample_size` random members, mutated in one decision; the oldest dies."""

    def __init__(
        self, space: SearchSpace, seed: int = 0, population_size: int = 20, sample_size: int = 5
    ) -> None:
        super().__init__(space, seed)
        C._check_int("population_size", population_size)
        C._check_int("sample_size", sample_size)
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


# The strategies' settings for the course's table, fixed before any search was run on it:
# evolution's population about 5% of the 216 networks; REINFORCE with normalized advantages,
# because rewards differ by a few percent between networks.
TABLE_SETTINGS: dict[str, dict[str, Any]] = {
    "random": {},
    "reinforce": {"lr": 0.5, "normalize": True},
    "evolution": {"population_size": 10, "sample_size": 3},
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
    C._check_int("budget", budget)
    best, curve = -math.inf, []
    for _ in range(budget):
        arch = strategy.ask()
        reward = evaluate(arch)
        strategy.tell(arch, reward)
        best = max(best, reward)
        curve.append(best)
    return curve


def evaluations_to_reach(strategy: Strategy, rewards: Mapping[Arch, float], goal: set, limit: int) -> int:
    """Distinct architectures `strategy` evaluates, with `rewards` as the evaluator, until it has
    asked for one in `goal` (or `limit` asks without one). A repeat is free: a real search would
    look up, not retrain, a network it has already trained."""
    C._check_int("limit", limit)
    seen: set = set()
    for _ in range(limit):
        arch = strategy.ask()
        seen.add(arch)
        strategy.tell(arch, rewards[arch])
        if arch in goal:
            break
    return len(seen)


__all__ = [
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
    "TABLE_SETTINGS",
    "table_rewards",
    "table_strategy",
    "top_share",
    "Strategy",
    "mnas_reward",
    "pareto_front",
    "search",
]
