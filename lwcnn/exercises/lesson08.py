"""Lesson 08's exercises: structured pruning by network slimming.

Code exercises, each checked against `lwcnn.prune` and torch on edge cases and random inputs:

- `slimming_masks(scores, prune_rate, min_channels=1)`: network slimming's one global
  threshold over every layer's channel scores, with the floor that keeps a layer from being
  emptied (`lwcnn.prune.global_masks`);
- `sparsity_penalty(model, s)`: the sparsity-training term `s * sum|gamma|` over every
  BatchNorm of a model, as a tensor the gradient flows through (`lwcnn.prune.sparsity_penalty`);
- `folded_bias(weight, bias, beta, keep)`: the fix the lesson names for a removed channel's
  constant output: fold it into the next linear layer's bias, so that the slimmed classifier
  computes what the one with those channels' gamma at 0 computes.

Questions: `q_abstract_mb` (what the study's abstract implies about its own Table 2) and
`q_schedule` (what is wrong with a learning-rate schedule that follows test accuracy).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lwcnn import papers, prune
from lwcnn.exercises import RANDOM_CASES, Question, check_function, question_checker, rng

# --- 1. the global threshold ---------------------------------------------------------------------


def reference_slimming_masks(
    scores: dict[str, torch.Tensor], prune_rate: float, min_channels: int = 1
) -> dict[str, torch.Tensor]:
    return prune.global_masks(scores, prune_rate, min_channels)[0]


def _shown(masks):
    """Masks as the failure message shows them: one string per group, 1 kept and 0 removed."""
    if not isinstance(masks, dict):
        return masks
    shown = {}
    for name, mask in masks.items():
        if isinstance(mask, torch.Tensor) and mask.dtype == torch.bool and mask.dim() == 1:
            shown[name] = "".join("1" if kept else "0" for kept in mask.tolist())
        elif isinstance(mask, torch.Tensor):
            shown[name] = f"a {mask.dtype} tensor of shape {tuple(mask.shape)}, not 1-D bool"
        else:
            shown[name] = mask
    return shown


def _random_scores(r, groups: int, largest: int) -> dict[str, torch.Tensor]:
    """Channel scores as after sparsity training: mostly positive, some exactly 0, a few tied."""
    scores = {}
    for index in range(groups):
        values = []
        for _ in range(r.randint(1, largest)):
            kind = r.random()
            values.append(0.0 if kind < 0.15 else round(r.uniform(0, 2), 1 if kind < 0.3 else 6))
        scores[f"layer{index + 1}"] = torch.tensor(values)
    return scores


def check_slimming_masks(slimming_masks) -> str:
    """{group: keep mask} from one global threshold over all groups' scores, as `lwcnn.prune.global_masks`."""
    r = rng("slimming_masks")
    t = torch.tensor
    cases = [
        ({"a": t([0.5, 0.1, 0.9, 0.3])}, 0.5),  # one layer: the two smallest go
        ({"a": t([0.5, 0.1]), "b": t([0.9, 0.3])}, 0.5),  # global: 0.1 and 0.3, one from each
        ({"a": t([0.2, 0.4]), "b": t([2.0, 3.0, 1.0])}, 0.4),  # both of "a" go: the floor keeps one
        ({"a": t([0.0, 0.0, 0.0]), "b": t([0.0, 1.0])}, 0.4),  # ties: earlier channels go first
        ({"a": t([0.0, 0.0, 0.0]), "b": t([1.0])}, 0.75),  # "a" emptied: keeps its first (all tied)
        ({"a": t([0.3, 0.1, 0.2]), "b": t([0.5])}, 0.0),  # rate 0 keeps everything
        ({"a": t([0.3, 0.1, 0.2, 0.6]), "b": t([0.5, 0.4])}, 0.5, 2),  # "a" keeps 2 of 4, floored
        ({"a": t([0.1] * 5)}, 0.5),  # round(2.5) = 2: Python rounds halves to even
        ({"a": t([0.1] * 7)}, 0.5),  # round(3.5) = 4
        ({"a": t([0.4, 0.2]), "b": t([0.3])}, 0.9, 3),  # min_channels above a layer's width
    ]
    while len(cases) < RANDOM_CASES:
        scores = _random_scores(r, r.randint(1, 5), r.choice((3, 8, 16, 40)))
        cases.append((scores, round(r.uniform(0, 0.95), 2), r.choice((1, 1, 1, 2, 3))))
    shown = (lambda *args: _shown(slimming_masks(*args))) if callable(slimming_masks) else slimming_masks
    return check_function(
        shown,
        lambda *args: _shown(reference_slimming_masks(*args)),
        cases,
        "slimming_masks",
        compare=lambda got, expected: got == expected and list(got) == list(expected),  # the scores' order
    )


# --- 2. the sparsity penalty ---------------------------------------------------------------------


class _Net(nn.Sequential):
    """A small network whose failure messages name its layers on one line."""

    def __repr__(self) -> str:
        parts = []
        for module in self:
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                affine = "" if module.affine else ", affine=False"
                parts.append(f"{type(module).__name__}({module.num_features}{affine})")
            elif isinstance(module, nn.Conv2d):
                parts.append(f"Conv2d({module.in_channels}, {module.out_channels})")
            elif isinstance(module, nn.Linear):
                parts.append(f"Linear({module.in_features}, {module.out_features})")
            else:
                parts.append(type(module).__name__)
        return f"Net({', '.join(parts)})"


def _random_net(r, seed: int) -> _Net:
    """Convs and linears, each followed by a BatchNorm (after the first, now and then without a
    scale). Built with its own seed: the caller's random state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _build_net(r)


def _build_net(r) -> _Net:
    layers, channels = [], r.randint(1, 6)
    for index in range(r.randint(1, 4)):
        out = r.randint(1, 12)
        affine = index == 0 or r.random() > 0.15
        layers += [nn.Conv2d(channels, out, 3, bias=False), nn.BatchNorm2d(out, affine=affine)]
        layers.append(r.choice((nn.ReLU(), nn.Hardswish())))
        channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    for _ in range(r.randint(0, 2)):
        out = r.randint(2, 16)
        layers += [nn.Linear(channels, out, bias=False), nn.BatchNorm1d(out)]
        channels = out
    layers.append(nn.Linear(channels, r.randint(2, 10)))
    net = _Net(*layers)
    with torch.no_grad():  # trained scales and shifts: either sign, some exactly 0
        for module in net.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
                module.weight.normal_().mul_((torch.rand(module.num_features) > 0.2).float())
                module.bias.normal_()
    return net


def reference_sparsity_penalty(model: nn.Module, s: float) -> torch.Tensor:
    return prune.sparsity_penalty(s)(model)


def _penalty_gradient(sparsity_penalty):
    """The gradient the penalty gives every BatchNorm scale, concatenated in module order."""

    def gradient(model: nn.Module, s: float) -> torch.Tensor:
        model.zero_grad()
        sparsity_penalty(model, s).backward()
        scales = [m.weight for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        return torch.cat(
            [w.grad if w.grad is not None else torch.zeros_like(w) for w in scales if w is not None]
        )

    return gradient


def check_sparsity_penalty(sparsity_penalty) -> str:
    """`s * sum|gamma|` over every BatchNorm scale of a model, and its gradient `s * sign(gamma)`."""
    r = rng("sparsity_penalty")
    bn = nn.BatchNorm2d(4)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, -2.0, 0.0, 0.5]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        nested = _Net(nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4)), nn.ReLU(), nn.Sequential(
            nn.Sequential(nn.Conv2d(4, 6, 1), nn.BatchNorm2d(6))))  # fmt: skip
        grouped = _Net(nn.Conv2d(1, 4, 3), nn.GroupNorm(2, 4), nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4))
        for norm in (*nested.modules(), *grouped.modules()):
            if isinstance(norm, nn.BatchNorm2d | nn.GroupNorm):
                nn.init.uniform_(norm.weight, -1.0, 1.0)
    cases = [
        (_Net(nn.Conv2d(1, 4, 3), bn), 0.01),
        (_Net(nn.Conv2d(1, 4, 3), bn), 0.0),
        (nested, 0.01),  # BatchNorms "however deeply nested"
        (grouped, 0.01),  # a GroupNorm's scale is no BatchNorm's: not penalised
    ]
    while len(cases) < 60:  # each case builds a network: fewer, still random
        cases.append((_random_net(r, r.randrange(10**6)), r.choice((1e-5, 1e-4, 5e-3, 0.01, 0.1, 1.0))))
    done = check_function(sparsity_penalty, reference_sparsity_penalty, cases, "sparsity_penalty")
    check_function(
        _penalty_gradient(sparsity_penalty),
        _penalty_gradient(lambda model, s: prune.sparsity_penalty(s)(model)),
        [case for case in cases if case[1] > 0][:20],
        "the gradient (w.r.t. every BatchNorm scale) of sparsity_penalty",
    )
    return done + ", and its gradient reaches every scale"


# --- 3. folding a removed channel's constant into the next layer -------------------------------


def reference_folded_bias(
    weight: torch.Tensor, bias: torch.Tensor, beta: torch.Tensor, keep: torch.Tensor
) -> torch.Tensor:
    """A removed channel (gamma = 0) leaves its BatchNorm as `beta` and Hardswish as
    `hardswish(beta)` on every input: the Linear adds that constant's share to every output."""
    constant = F.hardswish(beta) * ~keep
    return F.linear(constant, weight, bias)


def _fold_case(r, out: int, channels: int, kept: int) -> tuple:
    keep = torch.zeros(channels, dtype=torch.bool)
    keep[r.sample(range(channels), kept)] = True
    generator = torch.Generator().manual_seed(r.randrange(10**6))
    weight = torch.randn(out, channels, generator=generator, dtype=torch.float64)
    bias = torch.randn(out, generator=generator, dtype=torch.float64)
    beta = 4 * torch.randn(channels, generator=generator, dtype=torch.float64)  # both sides of +-3
    return weight, bias, beta, keep


def _given(weight, bias, beta, keep) -> tuple:
    d = torch.float64
    return (
        torch.tensor(weight, dtype=d),
        torch.tensor(bias, dtype=d),
        torch.tensor(beta, dtype=d),
        torch.tensor(keep),
    )


def check_folded_bias(folded_bias) -> str:
    """`bias + weight[:, removed] @ hardswish(beta[removed])`: the bias of the Linear after a
    BatchNorm1d + Hardswish whose removed channels have gamma = 0, once those channels are gone."""
    r = rng("folded_bias")
    cases = [
        _given([[1, 0], [0, 1]], [0, 0], [1, 2], [True, False]),  # hardswish(2) = 2 * 5 / 6
        _given([[1, 1, 1]], [1], [-4, 0, 4], [False, True, False]),  # hardswish: 0 below -3, x above 3
        _given([[1, 2], [3, 4]], [0.5, -0.5], [1, -1], [True, True]),  # nothing removed: bias unchanged
        _given([[2, -1, 0.5]], [0], [-1.5, 3.5, 0.25], [False, False, True]),
    ]
    while len(cases) < RANDOM_CASES:
        channels = r.randint(1, 24)
        cases.append(_fold_case(r, r.randint(1, 12), channels, r.randint(1, channels)))
    return check_function(folded_bias, reference_folded_bias, cases, "folded_bias")


# --- questions --------------------------------------------------------------------------------------

QUESTIONS = {
    "q_abstract_mb": Question(
        "the size in MB the study's pruned file would have if its abstract's ratio applied to Table 2's 93 MB",
        lambda: papers.PRUNING_STUDY.size_before_mb / papers.PRUNING_STUDY.ratio_in_abstract,
        tolerance=0.01,
        hint="'n times smaller' divides the size by n; take the abstract's ratio, not the table's",
    ),
    "q_schedule": Question.multiple_choice(
        "what is wrong with lowering the learning rate when test accuracy stops improving",
        "c",
        hint="ask which data chose the training run whose accuracy is reported",
    ),
}


check_question = question_checker(QUESTIONS)


# --- plausible wrong answers, each of which its check must reject (tests/test_exercises.py) -------


def _masks_int_rule(scores, prune_rate, min_channels=1):
    """Torch-Pruning's count, `total - int(total * (1 - rate))`, instead of round(rate * total)."""
    flat = torch.cat(list(scores.values()))
    removed = flat.numel() - int(flat.numel() * (1 - prune_rate))
    return _masks_removing(scores, removed, min_channels)


def _masks_removing(scores, removed, min_channels, floor=True):
    flat = torch.cat(list(scores.values()))
    keep = torch.ones(flat.numel(), dtype=torch.bool)
    keep[torch.argsort(flat, stable=True)[:removed]] = False
    masks, start = {}, 0
    for name, score in scores.items():
        mask = keep[start : start + score.numel()].clone()
        start += score.numel()
        floor_ = min(min_channels, score.numel())
        if floor and int(mask.sum()) < floor_:
            mask[:] = False
            mask[torch.argsort(score, descending=True, stable=True)[:floor_]] = True
        masks[name] = mask
    return masks


def _masks_per_layer(scores, prune_rate, min_channels=1):
    """Each layer loses its own share: a per-layer threshold, not network slimming's global one."""
    masks = {}
    for name, score in scores.items():
        removed = min(round(prune_rate * score.numel()), score.numel() - min(min_channels, score.numel()))
        mask = torch.ones(score.numel(), dtype=torch.bool)
        mask[torch.argsort(score, stable=True)[:removed]] = False
        masks[name] = mask
    return masks


def _masks_threshold(scores, prune_rate, min_channels=1):
    """`score > threshold` with the threshold the k-th smallest score: every tied channel goes."""
    flat = torch.cat(list(scores.values()))
    removed = round(prune_rate * flat.numel())
    if removed == 0:
        return {name: torch.ones(score.numel(), dtype=torch.bool) for name, score in scores.items()}
    threshold = torch.sort(flat).values[removed - 1]
    masks = {name: score > threshold for name, score in scores.items()}
    for name, score in scores.items():
        if int(masks[name].sum()) < min(min_channels, score.numel()):
            masks[name] = torch.zeros(score.numel(), dtype=torch.bool)
            masks[name][torch.argsort(score, descending=True, stable=True)[:min_channels]] = True
    return masks


def _penalty(model, s, kinds=(nn.BatchNorm1d, nn.BatchNorm2d), absolute=True, shifts=False):
    terms = []
    for module in model.modules():
        if isinstance(module, kinds) and module.weight is not None:
            terms.append(module.weight.abs().sum() if absolute else module.weight.sum())
            if shifts:
                terms.append(module.bias.abs().sum())
    return s * torch.stack(terms).sum()


COMMON_MISTAKES = {
    "slimming_masks": [
        lambda scores, prune_rate, min_channels=1: dict(  # the right masks, in another order
            reversed(reference_slimming_masks(scores, prune_rate, min_channels).items())
        ),
        _masks_int_rule,
        _masks_per_layer,
        _masks_threshold,
        lambda scores, prune_rate, min_channels=1: _masks_removing(
            scores, round(prune_rate * sum(s.numel() for s in scores.values())), min_channels, floor=False
        ),
    ],
    "sparsity_penalty": [
        lambda model, s: _penalty(model, s, absolute=False),  # sum of gamma, not of |gamma|
        lambda model, s: _penalty(model, s, kinds=(nn.BatchNorm2d,)),  # the classifier's BatchNorm1d missed
        lambda model, s: _penalty(model, s, shifts=True),  # the shifts beta penalised too
        lambda model, s: _penalty(model, s).detach(),  # the right value, cut from the graph
        lambda model, s: s
        * sum(  # the top level only: model.children(), not model.modules()
            m.weight.abs().sum() for m in model.children() if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d)
        ),
        lambda model, s: s
        * sum(  # every 1-D weight: a GroupNorm's scale too
            p.abs().sum() for name, p in model.named_parameters() if name.endswith("weight") and p.dim() == 1
        ),
    ],
    "folded_bias": [
        lambda weight, bias, beta, keep: bias,  # what slimming does: the constant is lost
        lambda weight, bias, beta, keep: bias + weight[:, ~keep] @ beta[~keep],  # Hardswish forgotten
        lambda weight, bias, beta, keep: bias + weight[:, keep] @ F.hardswish(beta[keep]),  # the kept ones
        lambda weight, bias, beta, keep: bias.add_(
            weight[:, ~keep] @ F.hardswish(beta[~keep])
        ),  # the model's bias changed
    ],
}
