"""FBNet's differentiable search (Wu et al. 2019): a supernet trains every candidate block at
once, and the choice of block becomes a softmax over learned logits theta.

Layer l of the supernet runs every candidate block and mixes their outputs,
`x_{l+1} = sum_i m_{l,i} * b_{l,i}(x_l)`, with weights `m_l = GumbelSoftmax(theta_l, tau)`
(section 3.3); the temperature tau starts at 5 and decays by exp(-0.045) per epoch. The loss is
`CE(w, a) * alpha * (log LAT(a))^beta` (eq. 2), and the expected latency
`LAT(a) = sum_l sum_i m_{l,i} * LAT(b_{l,i})` comes from the per-block lookup table
(`SupernetLatency`, from `lwcnn.lut`), so it is differentiable in theta. `fbnet_search` runs it
on digits.

    >>> from lwcnn import lut, paths
    >>> from lwcnn.nas import TABLE_SPACE
    >>> table = lut.LatencyTable.load(paths.DATA_DIR / "fbnet_digits.lut.csv")  # of supernet_blocks
    >>> costs = SupernetLatency.from_table(TABLE_SPACE, table)
    >>> fbnet_search(TABLE_SPACE, costs, seed=0).arch  # a few minutes on one thread: # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from lwcnn import checks
from lwcnn.nas.space import DECISIONS, Arch, BlockChoice, SearchSpace

if TYPE_CHECKING:  # pragma: no cover
    from lwcnn.data import DigitsSplit

# `alpha = 0.2, beta = 0.6` are the values of public re-implementations, with LAT in milliseconds
# on a phone (FBNet-A..C: 19.8-28.1 ms on a Samsung S8). Our networks run in about 1 ms, and
# log(LAT) < 0 has no real power 0.6: `fbnet_loss` takes LAT in a unit (`unit_ms`) that makes it
# larger than 1.
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
    checks.check_greater("temperature", temperature)
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
    checks.check_greater("initial", initial)
    checks.check_interval("decay", decay, 0, 1, low_closed=False)
    checks.check_greater("epoch", epoch, or_equal=True)
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
    checks.check_greater("unit_ms", unit_ms)
    checks.check_greater("alpha", alpha)
    checks.check_greater("beta", beta, or_equal=True)
    latency = torch.as_tensor(latency_ms, dtype=cross_entropy.dtype) / unit_ms
    if not bool((latency > 1).all()):
        raise ValueError(
            f"latency_ms / unit_ms must be > 1 so that (log LAT)^beta is real and positive; got "
            f"{float(latency.detach().min()):.4g} with unit_ms={unit_ms}: pass a smaller unit_ms "
            f"(1e-3 counts microseconds)"
        )
    return cross_entropy * alpha * torch.log(latency) ** beta


def block_candidates(space: SearchSpace) -> list[BlockChoice]:
    """The blocks one supernet layer mixes: every option combination except the width (the
    outputs are summed, so every candidate of a layer must have the same width).

        >>> from lwcnn.nas import TABLE_SPACE
        >>> len(block_candidates(TABLE_SPACE))  # 3 ops x 2 kernels
        6
    """
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


_block_candidates = block_candidates  # its name before it was public (a diagram helper uses it)


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
        self.candidates = block_candidates(space)
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
        arch = self.derive() if arch is None else self.space.check_arch(arch)
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
        arch = self.space.check_arch(arch)
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
        candidates = block_candidates(space)
        per_candidate, fixed = [], None
        for candidate in candidates:
            prediction = table.predict(space.spec((candidate,) * space.blocks), statistic=statistic)
            stages = prediction.by_stage(predicted=True)
            blocks = [stages[f"block{b + 1}"] for b in range(space.blocks)]
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
    for candidate in block_candidates(space):
        pairs += network_blocks(space.spec((candidate,) * space.blocks), batch_size=batch_size)
    return list(dict.fromkeys(pairs))


@dataclass(frozen=True)
class SearchEpoch:
    """One epoch of `fbnet_search`: the temperature at its end, the mean losses, the expected
    latency under softmax(theta), the distribution per block and its mode (`arch`; for
    `masked_search`, the widths)."""

    epoch: int
    temperature: float
    weight_loss: float
    arch_loss: float  # nan during warm-up (theta not trained)
    expected_ms: float
    probabilities: tuple[tuple[float, ...], ...]
    arch: Arch | tuple[int, ...]


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


@dataclass(frozen=True)
class SearchSettings:
    """How a differentiable search trains (`fbnet_search`, `masked_search`): `epochs`, the first
    `warmup_epochs` of them on the weights only, then theta too; digits at `image_size`,
    `batch_size` a batch; the weights' Adam at `weight_lr` on `1 - theta_fraction` of the training
    images, theta's at `theta_lr` on the rest; the Gumbel temperature `temperature *
    temperature_decay^(epochs so far)`; `fbnet_loss`'s `alpha`, `beta` and `unit_ms`.

    Checked when made. `replace(**changes)` is a copy with some of them changed, checked again.
    """

    epochs: int
    warmup_epochs: int
    image_size: int
    batch_size: int
    weight_lr: float
    theta_lr: float
    theta_fraction: float
    temperature: float
    temperature_decay: float
    alpha: float
    beta: float
    unit_ms: float

    def __post_init__(self) -> None:
        for name in ("epochs", "image_size", "batch_size"):
            checks.check_int(name, getattr(self, name))
        warmup = self.warmup_epochs
        if isinstance(warmup, bool) or not isinstance(warmup, int) or not 0 <= warmup < self.epochs:
            raise ValueError(f"warmup_epochs must be an int in [0, epochs={self.epochs}), got {warmup!r}")
        checks.check_interval(
            "theta_fraction", self.theta_fraction, 0, 1, low_closed=False, high_closed=False
        )
        checks.check_greater("weight_lr", self.weight_lr)
        checks.check_greater("theta_lr", self.theta_lr)
        checks.check_greater("temperature", self.temperature)
        checks.check_interval("temperature_decay", self.temperature_decay, 0, 1, low_closed=False)
        checks.check_greater("alpha", self.alpha)
        checks.check_greater("beta", self.beta, or_equal=True)
        checks.check_greater("unit_ms", self.unit_ms)

    def replace(self, **changes: Any) -> SearchSettings:
        """These settings with `changes` (field names) applied, e.g. `replace(epochs=10, beta=3.0)`."""
        names = [field.name for field in dataclasses.fields(self)]
        unknown = sorted(set(changes) - set(names))
        if unknown:
            raise TypeError(
                f"{', '.join(unknown)}: not a search setting; the settings are {', '.join(names)}"
            )
        return dataclasses.replace(self, **changes)

    def temperature_at(self, epoch: float) -> float:
        """The Gumbel temperature after `epoch` epochs (fractional: annealed per step)."""
        return annealed_temperature(epoch, self.temperature, self.temperature_decay)

    def loss(self, cross_entropy: torch.Tensor, latency_ms: torch.Tensor | float) -> torch.Tensor:
        """`fbnet_loss` with these settings' `alpha`, `beta` and `unit_ms`."""
        return fbnet_loss(cross_entropy, latency_ms, self.alpha, self.beta, self.unit_ms)

    def check_latency(self, cheapest_ms: float) -> None:
        """A ValueError if `loss` cannot take the cheapest network's latency in `unit_ms`."""
        self.loss(torch.zeros(()), cheapest_ms)


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
DIGITS_SEARCH = SearchSettings(
    epochs=5,
    warmup_epochs=1,
    image_size=16,
    batch_size=64,
    weight_lr=0.01,
    theta_lr=0.3,
    theta_fraction=0.2,
    temperature=5.0,
    temperature_decay=0.1 ** (1 / 5),
    alpha=FBNET_LOSS[0],
    beta=FBNET_LOSS[1],
    unit_ms=0.05,
)


def search_loaders(
    settings: SearchSettings, seed: int
) -> tuple[DigitsSplit, dict[str, torch.utils.data.DataLoader]]:
    """Digits at the settings' `image_size`, and its training images split in two seeded loaders
    of `batch_size`: "theta" (`theta_fraction` of them, for the architecture's steps) and
    "weights" (the rest)."""
    from lwcnn.data import digits_tensors

    split = digits_tensors(image_size=settings.image_size, seed=seed)
    order = torch.randperm(len(split.train_labels), generator=torch.Generator().manual_seed(seed))
    cut = round(settings.theta_fraction * len(order))
    parts = {"theta": order[:cut], "weights": order[cut:]}
    loaders = {
        name: torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(split.train_images[index], split.train_labels[index]),
            batch_size=settings.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(seed + offset),
        )
        for offset, (name, index) in enumerate(parts.items())
    }
    return split, loaders


def fbnet_search(
    space: SearchSpace,
    latency: SupernetLatency,
    settings: SearchSettings = DIGITS_SEARCH,
    seed: int = 0,
    progress: bool = True,
    **changes: Any,
) -> SearchResult:
    """FBNet's search on digits: the weights (Adam, `weight_lr`) learn on `1 - theta_fraction` of
    the training images, theta (Adam, `theta_lr`) on the rest with `fbnet_loss`, after
    `warmup_epochs` of weights only. Every step draws fresh Gumbel weights at the annealed
    temperature `temperature * temperature_decay^(epochs so far)`. Seeded: the same call on one
    CPU thread gives the same result.

    `settings` (`SearchSettings`) are the course's `DIGITS_SEARCH` unless given; `changes` change
    some of them by name: `fbnet_search(space, latency, beta=1.0, epochs=10)`.
    """
    settings = settings.replace(**changes)
    settings.check_latency(latency.fixed_ms + sum(min(row) for row in latency.block_ms))
    start = time.perf_counter()
    _, loaders = search_loaders(settings, seed)
    supernet = Supernet(space, seed)
    history = search_epochs(supernet, latency.expected_ms, loaders, settings, seed, progress)
    return SearchResult(supernet, history, time.perf_counter() - start)


def search_epochs(
    supernet: nn.Module,
    expected_latency: Callable[[Any], torch.Tensor],
    loaders: dict[str, torch.utils.data.DataLoader],
    settings: SearchSettings,
    seed: int,
    progress: bool,
    record: Callable[..., Any] = SearchEpoch,
) -> list[Any]:
    """The loop of a differentiable search (`fbnet_search`, `masked_search`): per step, a weight
    step (Adam at `weight_lr`) on a fresh Gumbel sample; once the warm-up is over, a theta step
    (Adam at `theta_lr`) with `fbnet_loss` (the settings' `alpha, beta, unit_ms`) every
    (1 - f) / f steps, so that each part of the training images is seen once per epoch. The supernet's
    `sample_weights` and `theta` are one tensor (FBNet's blocks) or one per layer (widths);
    `expected_latency` takes the same form. Each epoch ends in a `record` (`SearchEpoch` or
    `MaskedSearchEpoch`)."""
    from tqdm.auto import tqdm

    def each(weights: Any, function: Callable[[torch.Tensor], torch.Tensor]) -> Any:
        return function(weights) if isinstance(weights, torch.Tensor) else [function(row) for row in weights]

    thetas = [supernet.theta] if isinstance(supernet.theta, torch.Tensor) else list(supernet.theta)
    weight_optimizer = torch.optim.Adam(supernet.weight_parameters(), lr=settings.weight_lr)
    theta_optimizer = torch.optim.Adam(thetas, lr=settings.theta_lr)
    theta_every = max(1, round(len(loaders["weights"].dataset) / len(loaders["theta"].dataset)))
    gumbel = torch.Generator().manual_seed(seed)
    steps_per_epoch = len(loaders["weights"])
    history = []
    for epoch in tqdm(range(1, settings.epochs + 1), desc="search", unit="epoch", disable=not progress):
        supernet.train()
        searching = epoch > settings.warmup_epochs
        theta_batches = iter(loaders["theta"])  # drawn every epoch: it draws the seed of its order
        weight_losses, arch_losses = [], []
        for step, (images, labels) in enumerate(loaders["weights"]):
            tau = settings.temperature_at(epoch - 1 + step / steps_per_epoch)
            sample = each(supernet.sample_weights(tau, gumbel), torch.Tensor.detach)
            loss = F.cross_entropy(supernet(images, sample), labels)
            weight_optimizer.zero_grad()
            loss.backward()
            weight_optimizer.step()
            weight_losses.append(loss.item())
            batch = next(theta_batches, None) if searching and step % theta_every == 0 else None
            if batch is not None:
                weights = supernet.sample_weights(tau, gumbel)
                cross_entropy = F.cross_entropy(supernet(batch[0], weights), batch[1])
                arch_loss = settings.loss(cross_entropy, expected_latency(weights))
                theta_optimizer.zero_grad()
                arch_loss.backward()
                theta_optimizer.step()
                arch_losses.append(arch_loss.item())
        with torch.no_grad():
            expected = float(expected_latency(each(supernet.theta, lambda row: torch.softmax(row, dim=-1))))
        history.append(
            record(
                epoch,
                settings.temperature_at(epoch),
                sum(weight_losses) / len(weight_losses),
                sum(arch_losses) / len(arch_losses) if arch_losses else math.nan,
                expected,
                tuple(tuple(row) for row in supernet.probabilities()),
                supernet.derive(),
            )
        )
    return history
