"""Lesson 06's exercises: squeeze-and-excite and h-swish.

Code exercises, each checked against torch and `lwcnn` on edge cases and random inputs:

- `hswish_grad(x)`: the derivative of h-swish, element by element, written as its pieces (checked
  against autograd through `torch.nn.functional.hardswish`, at `x = -3` and `3` too);
- `squeeze_excite(x, w1, b1, w2, b2)`: MobileNetV3's SE on a `(N, C, H, W)` tensor, given its
  two 1x1 convs' weights (checked against `lwcnn.blocks.SqueezeExcite` built with those weights);
- `se_params_v3(channels)`: the parameters of MobileNetV3's SE on `C` channels, with its rounding
  of the squeeze width (checked against `lwcnn.cost`).

Questions: `q_se_heavier` (in how many of MobileNetV3-Large's blocks SE outweighs the rest),
`q_rounding` (what the rounding of the squeeze width adds to MobileNetV3-Small) and `q_se_wins`
(how often SE won on the recorded runs on distorted digits, seed by seed).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lwcnn import cost, experiments, models
from lwcnn.blocks import InvertedResidual, SqueezeExcite
from lwcnn.exercises import RANDOM_CASES, Question, check_function, question_checker, rng


def _tensor(r, shape: tuple[int, ...], low: float, high: float, grid: float = 0.0) -> torch.Tensor:
    """A float64 tensor of seeded values (Python's generator: the same on every machine); with
    `grid`, the values are multiples of it, so some fall exactly on the kinks at -3 and 3."""
    count = 1
    for side in shape:
        count *= side
    values = [r.uniform(low, high) for _ in range(count)]
    if grid:
        values = [round(v / grid) * grid for v in values]
    return torch.tensor(values, dtype=torch.float64).reshape(shape)


def reference_hswish_grad(x: torch.Tensor) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.hardswish(x).sum(), x)
    return grad


def check_hswish_grad(hswish_grad) -> str:
    """d/dx of h-swish `x * ReLU6(x + 3) / 6` per element: 0 for x <= -3, 1 for x >= 3,
    `(2x + 3) / 6` in between."""
    r = rng("hswish_grad")
    kinks = torch.tensor([-4.0, -3.0, -2.0, -1.5, 0.0, 1.5, 2.0, 3.0, 4.0], dtype=torch.float64)
    cases = [
        (kinks,),
        (torch.tensor([3.0], dtype=torch.float64),),
        (torch.tensor([-3.0], dtype=torch.float64),),
    ]
    cases += [(torch.linspace(-6, 6, 49, dtype=torch.float64).reshape(7, 7),)]
    while len(cases) < RANDOM_CASES:
        shape = tuple(r.randint(1, 5) for _ in range(r.randint(1, 4)))
        cases.append((_tensor(r, shape, -6.0, 6.0, grid=r.choice((0.0, 0.5))),))
    return check_function(hswish_grad, reference_hswish_grad, cases, "hswish_grad")


def reference_squeeze_excite(x, w1, b1, w2, b2) -> torch.Tensor:
    """lwcnn's SE block (ReLU inside, h-sigmoid gate), built with the given weights, in float64."""
    squeeze, channels = w1.shape
    block = SqueezeExcite(channels, squeeze).build().double()
    with torch.no_grad():
        block.fc1.weight.copy_(w1.reshape(squeeze, channels, 1, 1))
        block.fc1.bias.copy_(b1)
        block.fc2.weight.copy_(w2.reshape(channels, squeeze, 1, 1))
        block.fc2.bias.copy_(b2)
        return block(x)


def check_squeeze_excite(squeeze_excite) -> str:
    """MobileNetV3's SE: pool, 1x1 conv C -> S, ReLU, 1x1 conv S -> C, h-sigmoid gate, rescale x."""
    r = rng("squeeze_excite")
    cases = []
    for n, c, s, h, w in [(1, 8, 2, 4, 4), (2, 16, 8, 3, 5), (1, 1, 1, 1, 1), (3, 4, 8, 1, 1)]:
        cases.append(_se_case(r, n, c, s, h, w))
    while len(cases) < 60:  # each case builds an SE block: fewer, still random
        c = r.randint(1, 24)
        cases.append(_se_case(r, r.randint(1, 3), c, r.randint(1, 8), r.randint(1, 6), r.randint(1, 6)))
    return check_function(squeeze_excite, reference_squeeze_excite, cases, "squeeze_excite")


def _se_case(r, n: int, c: int, s: int, h: int, w: int) -> tuple:
    return (
        _tensor(r, (n, c, h, w), -3.0, 3.0),
        _tensor(r, (s, c), -1.5, 1.5),
        _tensor(r, (s,), -1.0, 1.0),
        _tensor(r, (c, s), -1.5, 1.5),
        _tensor(r, (c,), -1.0, 1.0),
    )


def reference_se_params_v3(channels: int) -> int:
    return cost.se_params(channels, cost.se_channels(channels))


def check_se_params_v3(se_params_v3) -> str:
    """Parameters of SE on C channels with S = make_divisible(max(1, C // 4), 8): `2 C S + S + C`."""
    r = rng("se_params_v3")
    cases = [(72,), (120,), (96,), (16,), (143,), (1,), (3,), (4,), (960,), (35,), (36,), (63,)]
    while len(cases) < RANDOM_CASES:
        cases.append((r.randint(1, 1200),))
    return check_function(se_params_v3, reference_se_params_v3, cases, "se_params_v3")


def _se_blocks(name: str) -> list[InvertedResidual]:
    spec = models.spec(name)
    return [
        block
        for stage in spec.stages()
        for block in stage.layers
        if isinstance(block, InvertedResidual) and block.squeeze_channels
    ]


def _se_heavier() -> int:
    """MobileNetV3-Large's blocks whose SE holds more parameters than the rest of the block."""
    count = 0
    for block in _se_blocks("mobilenet_v3_large"):
        se = cost.se_params(block.expanded_channels, block.squeeze_channels)
        count += se > block.cost(1).params - se
    return count


def _rounding_adds() -> int:
    """Parameters MobileNetV3's rounding of S adds to MobileNetV3-Small's SE blocks, against S = C // 4."""
    total = 0
    for block in _se_blocks("mobilenet_v3_small"):
        c = block.expanded_channels
        total += cost.se_params(c, block.squeeze_channels) - cost.se_params(c, c // 4)
    return total


def _se_wins() -> int:
    """(activation, seed) pairs of the recorded runs in which SE on beats SE off."""
    accuracy = experiments.accuracies(experiments.load_runs(), "activation_se")
    wins = 0
    for activation in ("relu", "hswish", "hswish deep half"):
        on, off = accuracy[f"{activation}, SE on"], accuracy[f"{activation}, SE off"]
        wins += sum(a > b for a, b in zip(on, off, strict=True))
    return wins


QUESTIONS = {
    "q_se_heavier": Question(
        "in how many of MobileNetV3-Large's 8 SE blocks SE holds more parameters than the rest of its block",
        _se_heavier,
        hint="for each InvertedResidual with squeeze_channels > 0, compare cost.se_params(E, S) with "
        "block.cost(1).params minus it",
    ),
    "q_rounding": Question(
        "parameters MobileNetV3's rounding of S adds to MobileNetV3-Small's SE blocks, against S = C // 4",
        _rounding_adds,
        hint="for each SE block, the parameters with its squeeze_channels minus those with expanded_channels // 4",
    ),
    "q_se_wins": Question(
        "recorded runs: (activation, seed) pairs in which SE on has a higher test accuracy than SE off",
        _se_wins,
        hint="experiments.accuracies(experiments.load_runs(), 'activation_se') lists each variant's "
        "accuracies in seed order; a tie is not a win",
    ),
}


check_question = question_checker(QUESTIONS)


def _clamp_hswish_grad_closed(x: torch.Tensor) -> torch.Tensor:
    """The middle piece on the closed interval [-3, 3]: -0.5 at -3 and 1.5 at 3."""
    return torch.where(x < -3, torch.zeros_like(x), torch.where(x > 3, torch.ones_like(x), (2 * x + 3) / 6))


def _se_with(x, w1, b1, w2, b2, inner, gate):
    pooled = x.mean(dim=(2, 3))  # (N, C)
    scale = gate(inner(pooled @ w1.T + b1) @ w2.T + b2)
    return x * scale[:, :, None, None]


# Plausible wrong answers, each of which its check must reject (tests/test_exercises.py).
COMMON_MISTAKES = {
    "hswish_grad": [
        # the derivative of the gate alone, the product rule forgotten
        lambda x: ((x > -3) & (x < 3)).to(x.dtype) / 6,
        # the middle piece's formula on the closed interval: wrong at exactly -3 and 3
        _clamp_hswish_grad_closed,
    ],
    "squeeze_excite": [
        # sigmoid as the gate (SENet's), not MobileNetV3's h-sigmoid
        lambda x, w1, b1, w2, b2: _se_with(x, w1, b1, w2, b2, torch.relu, torch.sigmoid),
        # no ReLU between the two 1x1 convs
        lambda x, w1, b1, w2, b2: _se_with(
            x, w1, b1, w2, b2, lambda v: v, lambda v: torch.clamp(v + 3, 0, 6) / 6
        ),
    ],
    "se_params_v3": [
        # no rounding: S = C // 4
        lambda c: 2 * c * max(1, c // 4) + max(1, c // 4) + c,
        # the biases forgotten
        lambda c: 2 * c * cost.make_divisible(max(1, c // 4), 8),
        # C / 4 rounded without the floor first (C = 143: 40 instead of 32)
        lambda c: 2 * c * cost.make_divisible(c / 4, 8) + cost.make_divisible(c / 4, 8) + c,
    ],
}
