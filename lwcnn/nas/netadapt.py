"""NetAdapt (Yang et al., "NetAdapt: Platform-Aware Neural Network Adaptation for Mobile
Applications", ECCV 2018, arXiv 1804.03230), the adaptation MobileNetV3 ran after its search.

Start from a trained network and shrink it, one layer per iteration, until a latency budget is met:

1. The iteration's target is the current predicted latency minus the decrement, which shrinks by
   `decrement_decay` per iteration (the official code's "resource reduction schedule":
   `target = current - init_reduction * decay ** (iteration - 1)`).
2. For every prunable channel group (a "layer": channels removed together, `lwcnn.prune`; among
   them an inverted residual's expansion and the channels residual adds tie together, the two
   kinds of proposal MobileNetV3 made), keep the most channels, a multiple of `channel_step`, whose
   predicted latency meets the target: the fewest filters removed. A group that cannot meet it
   offers no proposal.
3. Which filters go: those with the smallest L2 norm (`filter_norms`); `lwcnn.prune.apply_masks`
   builds the narrower network with the kept weights copied in.
4. Each proposal is fine-tuned briefly (`short_term_steps` batches) and scored on a holdout set
   (images kept out of training, so the test set never chooses); the most accurate proposal
   becomes the next network.
5. Repeat until the predicted latency is at or below the budget; then fine-tune the result for
   longer (`lwcnn.train.train`), which this module leaves to the caller.

Latency comes from `predict_latency(spec)`, any callable of a network spec: a measured
`lwcnn.latency.LatencyTable` (`lambda spec: table.predict(spec).latency_ms`), or the analytical
MACs as a stand-in (`lambda spec: models.cost(spec).macs`); `budget` and `decrement` are in its
units. `uniform_scaling_at` finds the width multiplier with the same predicted latency, the
baseline NetAdapt is compared with.

    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> from lwcnn import models
    >>> tiny = ((1, 8, 1, 1), (2, 16, 2, 2))  # a two-row MobileNetV2 table: t, c, n, s
    >>> spec = models.spec("mobilenet_v2", table=tiny, small_input=True, in_channels=1, num_classes=4,
    ...                    resolution=8)
    >>> _ = torch.manual_seed(0)
    >>> data = DataLoader(TensorDataset(torch.randn(8, 1, 8, 8), torch.arange(8) % 4), batch_size=8)
    >>> macs = lambda spec: models.cost(spec).macs  # the analytical stand-in for a latency table
    >>> adapt = NetAdapt(spec.build(), macs, data, data, budget=0.6 * macs(spec),
    ...                  decrement=0.15 * macs(spec), short_term_steps=1, channel_step=4, progress=False)
    >>> history = adapt.run()
    >>> [(step.group, step.removed) for step in history]
    [('features.stage2.0.out', 4), ('features.stage2.0.out', 4)]
    >>> adapt.latency <= 0.6 * macs(spec), all(step.latency <= step.target for step in history)
    (True, True)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from lwcnn import checks, paths
from lwcnn.models import NetworkSpec, ScaledNetwork
from lwcnn.prune import (
    ChannelGroup,
    PrunedSpec,
    SlimResult,
    apply_masks,
    channel_groups,
    channel_plan,
    spec_of,
    unpruned_cfg,
)
from lwcnn.train import OPTIMIZERS, evaluate, make_optimizer, resolve_device, set_seed

LatencyFn = Callable[[NetworkSpec], float]  # a network spec -> its predicted latency (or MACs)


# --- which filters: the L2 norm -----------------------------------------------------------------


def filter_norms(model: nn.Module) -> dict[str, torch.Tensor]:
    """Each prunable channel group's per-channel L2 norm of the filters that make the channel.

    A channel's filters are the rows, along the output dimension, of every plain conv or linear
    weight of its group (a depthwise conv only passes the channel on): for an inverted residual's
    expanded channels, the 1x1 expansion conv's filter; for channels tied by residual adds, the
    filters of every conv that writes into the sum, together: `sqrt(sum of squares)`.
    """
    plan = channel_plan(spec_of(model))
    state = model.state_dict()
    squares = {group.name: torch.zeros(group.channels) for group in plan.groups if group.prunable}
    for top in plan.layers():
        for layer in top.walk():
            for key, roles in layer.declared.tensors:
                # filters: weights whose output and input dimensions are both channels (not a
                # per-channel vector, a depthwise conv or squeeze-and-excite's gate weights)
                if len(roles) < 2 or roles[0] is None or roles[1] is None:
                    continue
                name = plan.groups[plan.group_of[layer.nodes[roles[0]]]].name
                if name in squares:
                    weight = state[f"{layer.path}.{key}" if key else layer.path].detach().float().cpu()
                    squares[name] += weight.pow(2).flatten(1).sum(dim=1)
    return {name: total.sqrt() for name, total in squares.items()}


def keep_largest(norms: torch.Tensor, kept: int) -> torch.Tensor:
    """A keep mask (True: kept) of the `kept` largest norms; ties keep the earlier channel."""
    kept = checks.check_int("kept", kept)
    if kept > norms.numel():
        raise ValueError(f"kept must be at most the {norms.numel()} channels, got {kept}")
    mask = torch.zeros(norms.numel(), dtype=torch.bool)
    mask[torch.argsort(norms, descending=True, stable=True)[:kept]] = True
    return mask


def prune_filters(model: nn.Module, group: str, kept: int) -> SlimResult:
    """`model` with channel group `group` narrowed to its `kept` largest-norm filters (a new model).

    >>> from lwcnn import models
    >>> model = models.build("mobilenet_v2", width_multiplier=0.5, num_classes=10)
    >>> prune_filters(model, "features.stage2.0.expanded", 16).cfg.kept("features.stage2.0.expanded")
    16
    """
    norms = filter_norms(model)
    if group not in norms:
        raise ValueError(f"group must be a prunable channel group; groups: {', '.join(norms)}, got {group!r}")
    return apply_masks(model, {group: keep_largest(norms[group], kept)})


def narrowed(spec: NetworkSpec, group: str, kept: int) -> PrunedSpec:
    """`spec` (a network spec or a `PrunedSpec`) with channel group `group` at `kept` channels."""
    current = spec if isinstance(spec, PrunedSpec) else unpruned_cfg(spec)
    return PrunedSpec(current.base, tuple({**dict(current.widths), group: kept}.items()))


# --- the records ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """One channel group's proposal in one iteration (the paper's "network proposal").

    `channels` is the group's width before, `kept` after; `latency` the predicted latency with
    `kept`, `accuracy` the holdout accuracy after the short-term fine-tune. A group that cannot
    meet the target keeps all its channels, has no latency or accuracy, and says why (`skipped`).
    """

    group: str
    channels: int
    kept: int
    latency: float | None
    accuracy: float | None
    skipped: str = ""

    @property
    def removed(self) -> int:
        return self.channels - self.kept


@dataclass(frozen=True)
class NetAdaptIteration:
    """One iteration: its target, the proposal it chose (its group, channels, latency, accuracy),
    the narrower network (`cfg`) and every group's proposal."""

    iteration: int
    decrement: float
    target: float
    group: str
    channels: int
    kept: int
    latency: float
    accuracy: float
    cfg: PrunedSpec
    proposals: tuple[Proposal, ...]

    @property
    def removed(self) -> int:
        return self.channels - self.kept


# --- the algorithm ----------------------------------------------------------------------------------


class NetAdapt:
    """NetAdapt on a trained lwcnn network: `step()` runs one iteration, `run()` runs to the budget.

    `model` is an lwcnn network (it knows its spec; it is not changed), `predict_latency` a
    callable of a network spec. Each iteration removes filters from one channel group so that
    the predicted latency drops by at least `decrement * decrement_decay ** (iteration - 1)`,
    keeping multiples of `channel_step` channels; each proposal is fine-tuned for
    `short_term_steps` batches of `train_loader` (`optimizer`, `lr`, `momentum`, `weight_decay`
    as in `lwcnn.train.train`; the official code's SGD at 1e-3 by default) and scored by its
    accuracy on `holdout_loader`. Every proposal of an iteration sees the same batches, drawn
    from `seed` and the iteration, so a run is repeatable for a seed.

    After a run, `model` is the adapted network, `latency` its predicted latency and `history`
    one `NetAdaptIteration` per iteration.
    """

    def __init__(
        self,
        model: nn.Module,
        predict_latency: LatencyFn,
        train_loader: Iterable,
        holdout_loader: Iterable,
        budget: float,
        decrement: float,
        decrement_decay: float = 0.96,
        short_term_steps: int = 10,
        channel_step: int = 8,
        optimizer: str = "sgd",
        lr: float = 1e-3,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        seed: int = 0,
        device: str | torch.device = "cpu",
        progress: bool = True,
    ) -> None:
        spec_of(model)  # a TypeError unless lwcnn built it
        if not callable(predict_latency):
            raise TypeError(
                "predict_latency must be a callable of a network spec, e.g. lambda spec: "
                f"table.predict(spec).latency_ms or lambda spec: models.cost(spec).macs; got {predict_latency!r}"
            )
        self.predict_latency = predict_latency
        self.train_loader, self.holdout_loader = train_loader, holdout_loader
        self.budget = checks.check_positive_number("budget", budget)
        self.decrement = checks.check_positive_number("decrement", decrement)
        self.decrement_decay = checks.check_interval(
            "decrement_decay", decrement_decay, 0, 1, low_closed=False
        )
        self.short_term_steps = checks.check_int("short_term_steps", short_term_steps, minimum=0)
        self.channel_step = checks.check_int("channel_step", channel_step)
        self.optimizer = checks.check_choice("optimizer", optimizer, OPTIMIZERS)
        self.lr = checks.check_positive_number("lr", lr)
        self.momentum = checks.check_interval("momentum", momentum, 0, 1, high_closed=False)
        self.weight_decay = checks.check_greater("weight_decay", weight_decay, or_equal=True)
        self.seed = checks.check_int("seed", seed, minimum=0)
        self.device = resolve_device(device)
        self.progress = progress
        self.model = model
        self.latency = self._predict(spec_of(model))
        self.start_latency = self.latency
        self.history: list[NetAdaptIteration] = []

    @property
    def cfg(self) -> NetworkSpec:
        """The current network's spec (a `PrunedSpec` after the first iteration)."""
        return spec_of(self.model)

    @property
    def done(self) -> bool:
        """Whether the predicted latency is at or below the budget."""
        return self.latency <= self.budget

    def target(self, iteration: int) -> tuple[float, float]:
        """(decrement, target) of iteration `iteration` (1, 2, ...) from the current latency."""
        decrement = self.decrement * self.decrement_decay ** (iteration - 1)
        return decrement, self.latency - decrement

    def run(self, max_iterations: int | None = None) -> list[NetAdaptIteration]:
        """Iterate until the predicted latency is within the budget (or `max_iterations` more)."""
        if max_iterations is not None:
            checks.check_int("max_iterations", max_iterations, minimum=0)
        done_before = len(self.history)
        while not self.done and (max_iterations is None or len(self.history) - done_before < max_iterations):
            self.step()
        return self.history

    def step(self) -> NetAdaptIteration:
        """One iteration: a proposal per channel group, the most accurate one kept.

        A RuntimeError says so when no group can meet the target (a smaller `decrement` or
        `channel_step` may).
        """
        if self.done:
            raise RuntimeError(
                f"the predicted latency {self.latency:g} is already within the budget {self.budget:g}"
            )
        iteration = len(self.history) + 1
        decrement, target = self.target(iteration)
        spec, norms = self.cfg, filter_norms(self.model)
        groups = [group for group in channel_groups(spec) if group.prunable]
        proposals, best, best_model = [], None, None
        for group in tqdm(
            groups, desc=f"NetAdapt iteration {iteration}", leave=False, disable=not self.progress
        ):
            kept, latency, why = self._fewest_removed(spec, group, target)
            if kept is None:
                proposals.append(Proposal(group.name, group.channels, group.channels, None, None, why))
                continue
            model = apply_masks(self.model, {group.name: keep_largest(norms[group.name], kept)}).model
            self._short_term_finetune(model, iteration)
            accuracy = evaluate(model, self.holdout_loader, self.device)[1]
            proposal = Proposal(group.name, group.channels, kept, latency, accuracy)
            proposals.append(proposal)
            # the most accurate; on a tie the faster, then the earlier group
            if best is None or (accuracy, -latency) > (best.accuracy, -best.latency):
                best, best_model = proposal, model
        if best is None:
            raise RuntimeError(
                f"iteration {iteration}: no channel group can bring the predicted latency from "
                f"{self.latency:g} to {target:g} with multiples of channel_step={self.channel_step} "
                "channels; use a smaller decrement or channel_step"
            )
        self.model, self.latency = best_model, best.latency
        record = NetAdaptIteration(
            iteration, decrement, target, best.group, best.channels, best.kept, best.latency, best.accuracy,
            spec_of(best_model), tuple(proposals),
        )  # fmt: skip
        self.history.append(record)
        return record

    def _predict(self, spec: NetworkSpec) -> float:
        latency = self.predict_latency(spec)
        if isinstance(latency, bool) or not isinstance(latency, int | float):
            raise TypeError(f"predict_latency must return a number, got {type(latency).__name__} {latency!r}")
        return float(latency)

    def _fewest_removed(
        self, spec: NetworkSpec, group: ChannelGroup, target: float
    ) -> tuple[int | None, float | None, str]:
        """The most channels (a multiple of `channel_step`, below the group's width) whose
        predicted latency is at most `target`: (kept, latency, ""), or (None, None, why not)."""
        step = self.channel_step
        widest = (group.channels - 1) // step * step
        for kept in range(widest, step - 1, -step):
            latency = self._predict(narrowed(spec, group.name, kept))
            if latency <= target:
                return kept, latency, ""
        if widest < step:
            return None, None, f"{group.channels} channels: no multiple of {step} below"
        return None, None, f"{step} channels still predict {latency:g} > {target:g}"

    def _short_term_finetune(self, model: nn.Module, iteration: int) -> None:
        """`short_term_steps` batches of training; every proposal of an iteration sees the same ones."""
        if self.short_term_steps == 0:
            return
        seed = self.seed * 1_000_003 + iteration
        set_seed(seed)
        generator = getattr(self.train_loader, "generator", None)
        if generator is not None:
            generator.manual_seed(seed)
        model.to(self.device).train()
        optimizer = make_optimizer(
            self.optimizer, model.parameters(), self.lr, self.weight_decay, self.momentum
        )
        batches = iter(self.train_loader)
        for _ in range(self.short_term_steps):
            batch = next(batches, None)
            if batch is None:  # another pass over the loader
                batches = iter(self.train_loader)
                batch = next(batches, None)
                if batch is None:
                    raise ValueError("train_loader yields no batches")
            images, labels = batch
            loss = F.cross_entropy(model(images.to(self.device)), labels.to(self.device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()


# --- the baseline: one width multiplier for every layer ------------------------------------------


@dataclass(frozen=True)
class UniformScaling:
    """The width multiplier `uniform_scaling_at` found, its network and predicted latency."""

    width_multiplier: float
    spec: ScaledNetwork
    latency: float


def uniform_scaling_at(
    spec: ScaledNetwork,
    predict_latency: LatencyFn,
    target: float,
    tolerance: float = 1e-3,
    min_width: float = 0.01,
) -> UniformScaling:
    """The widest uniformly scaled `spec` (every layer's width times one multiplier) whose
    predicted latency is at most `target`, by bisection on the width multiplier in
    [`min_width`, spec's own]: it returns `w` with `latency(w) <= target < latency(w + tolerance)`
    (widths round to the family's divisor, so latency is a step function of `w`: the target is met
    from below, not hit exactly; bisection assumes latency grows with `w`). A small network's
    steps are coarse: lesson 11's `digits_base()` at width 1.25 reaches 50% or 58% of its MACs
    uniformly, nothing between.

    >>> from lwcnn import models
    >>> spec = models.spec("mobilenet_v2", num_classes=10, small_input=True, resolution=32)
    >>> macs = lambda spec: models.cost(spec).macs
    >>> found = uniform_scaling_at(spec, macs, 0.5 * macs(spec))
    >>> found.latency <= 0.5 * macs(spec) < macs(models.spec("mobilenet_v2", num_classes=10,
    ...     small_input=True, resolution=32, width_multiplier=found.width_multiplier + 1e-3))
    True
    """
    if not isinstance(spec, ScaledNetwork):
        raise TypeError(
            "spec must be a network spec with a width multiplier (lwcnn.models.spec('mobilenet_v2', ...)), "
            f"got {type(spec).__name__}"
        )
    if not callable(predict_latency):
        raise TypeError(f"predict_latency must be a callable of a network spec, got {predict_latency!r}")
    checks.check_positive_number("target", target)
    checks.check_positive_number("tolerance", tolerance)
    checks.check_interval("min_width", min_width, 0, spec.width_multiplier, low_closed=False)

    def at(width: float) -> tuple[ScaledNetwork, float]:
        scaled = dataclasses.replace(spec, width_multiplier=width)
        return scaled, float(predict_latency(scaled))

    low, high = min_width, spec.width_multiplier
    found, latency = at(high)
    if latency <= target:
        return UniformScaling(high, found, latency)
    found, latency = at(low)
    if latency > target:
        raise ValueError(
            f"target must be reachable: width {min_width:g} still predicts {latency:g} > {target:g}"
        )
    while high - low > tolerance:
        middle = (low + high) / 2
        scaled, middle_latency = at(middle)
        if middle_latency <= target:
            low, found, latency = middle, scaled, middle_latency
        else:
            high = middle
    return UniformScaling(low, found, latency)


def recorded_netadapt(path: str | Path = paths.NETADAPT_RECORDING) -> list[dict[str, str]]:
    """The rows of NetAdapt's recording (`benchmarks/netadapt.py`, `data/netadapt.csv`): per seed
    the start network, every iteration's proposals, and the final "netadapt" and "uniform" rows."""
    return paths.read_recorded_csv(path, "benchmarks/netadapt.py", minutes=15)[0]


def recorded_finals(rows: Iterable[dict[str, str]]) -> dict[int, dict[str, dict[str, str]]]:
    """Per seed of `recorded_netadapt()` rows, its final rows by kind ("netadapt", "uniform")."""
    finals: dict[int, dict[str, dict[str, str]]] = {}
    for row in rows:
        if row["kind"] in ("netadapt", "uniform"):
            finals.setdefault(int(row["seed"]), {})[row["kind"]] = row
    return dict(sorted(finals.items()))
