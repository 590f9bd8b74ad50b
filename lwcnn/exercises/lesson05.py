"""Lesson 05's exercises: inverted residuals and linear bottlenecks.

Code exercises, each checked against `lwcnn.blocks` and `lwcnn.cost` on edge cases and random inputs:

- `inverted_residual_macs(m, n, t, k, size, stride)`: the multiply-adds of MobileNetV2's block
  (1x1 expansion to `t m` channels unless `t == 1`, k x k depthwise with the stride, linear 1x1
  projection) on a `size x size` input;
- `inverted_residual_params(m, n, t, k, se=0)`: its parameters, BatchNorm included, with an
  optional squeeze-and-excite of `se` squeeze channels (MobileNetV3);
- `make_divisible(value, divisor=8)`: the MobileNets' channel rounding, never more than 10% down.

Questions: `q_v3_small` (spot the error: MobileNetV3-Small's bottleneck blocks and shortcuts),
`q_break_even` (the expansion at which a V2 block costs more than V1's wide layer) and
`q_v3_block_macs` (the multiply-adds of a MobileNetV3-Large block with stride and SE).
"""

from __future__ import annotations

from lwcnn import cost, models
from lwcnn.blocks import DepthwiseSeparable, InvertedResidual
from lwcnn.exercises import RANDOM_CASES, Question, ceil_div, check_function, question_checker, rng, smallest


def reference_inverted_residual_macs(m: int, n: int, t: int, k: int, size: int, stride: int) -> int:
    spec = InvertedResidual.with_ratio(m, n, expand_ratio=t, kernel_size=k, stride=stride)
    return spec.cost(size).macs


def check_inverted_residual_macs(inverted_residual_macs) -> str:
    """Multiply-adds of `InvertedResidual.with_ratio(m, n, t, k, stride)` at `size x size`, no SE."""
    r = rng("inverted_residual_macs")
    cases = [(24, 24, 6, 3, 56, 1), (16, 24, 6, 3, 112, 2), (32, 16, 1, 3, 112, 1), (16, 16, 1, 3, 7, 2)]
    cases += [(1, 1, 1, 1, 1, 1), (3, 5, 2, 5, 9, 2), (8, 8, 4, 7, 15, 3), (40, 80, 6, 3, 1, 2)]
    while len(cases) < RANDOM_CASES:
        cases.append(
            (
                r.randint(1, 96),
                r.randint(1, 96),
                r.choice((1, 1, 2, 3, 4, 6)),
                r.choice((1, 3, 5, 7)),
                r.randint(1, 60),
                r.choice((1, 2, 2, 3)),
            )
        )
    return check_function(
        inverted_residual_macs, reference_inverted_residual_macs, cases, "inverted_residual_macs"
    )


def reference_inverted_residual_params(m: int, n: int, t: int, k: int, se: int = 0) -> int:
    return InvertedResidual(m, n, m * t, kernel_size=k, squeeze_channels=se).cost(1).params


def check_inverted_residual_params(inverted_residual_params) -> str:
    """Parameters of `InvertedResidual(m, n, m * t, k, squeeze_channels=se)`: weights, BatchNorm's
    2 per channel after every conv, SE's two 1x1 convs with their biases."""
    r = rng("inverted_residual_params")
    cases = [(24, 24, 6, 3), (32, 16, 1, 3), (24, 40, 3, 5, 24), (16, 16, 1, 3, 8)]
    cases += [(1, 1, 1, 1), (1, 1, 1, 1, 1), (3, 7, 2, 5, 2), (40, 40, 3, 5, 32)]
    while len(cases) < RANDOM_CASES:
        m, t = r.randint(1, 160), r.choice((1, 1, 2, 3, 4, 6))
        case = (m, r.randint(1, 160), t, r.choice((1, 3, 5, 7)))
        cases.append(case + (r.randint(1, m * t),) if r.random() < 0.5 else case)
    return check_function(
        inverted_residual_params, reference_inverted_residual_params, cases, "inverted_residual_params"
    )


def reference_make_divisible(value: float, divisor: int = 8) -> int:
    return cost.make_divisible(value, divisor)


def check_make_divisible(make_divisible) -> str:
    """`value` to the nearest multiple of `divisor` (halves up), at least `divisor`, and one
    multiple higher when that rounding lost more than 10% of `value`."""
    r = rng("make_divisible")
    cases = [(24.0,), (18.0,), (30,), (11.2, 8), (52, 8), (35.75, 8), (4, 8), (0.5, 8), (12, 8), (20, 8)]
    cases += [(1, 1), (7.5, 1), (3, 16), (100, 16), (36, 8), (84, 8)]
    cases += [(10, 9)]  # 9 is exactly 90% of 10: kept (the rule adds one only below 90%)
    multipliers = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
    while len(cases) < RANDOM_CASES:
        divisor = r.choice((1, 2, 4, 8, 8, 8, 16))
        if r.random() < 0.5:  # a width multiplier on a channel count, exact in binary
            value = r.randint(1, 320) * r.choice(multipliers)
        else:  # any quarter, eighth or whole number
            value = r.randint(1, 2000) / r.choice((1, 4, 8))
        cases.append((value, divisor))
    return check_function(make_divisible, reference_make_divisible, cases, "make_divisible")


def _v3_small_blocks() -> list[InvertedResidual]:
    spec = models.spec("mobilenet_v3_small")
    return [block for stage in spec.stages() for block in stage.layers if isinstance(block, InvertedResidual)]


V3_SMALL_CHOICES = {
    "a": (12, 6),
    "b": (11, 6),
    "c": (11, 4),
    "d": (12, 7),
}


def _v3_small_answer() -> str:
    blocks = _v3_small_blocks()
    found = (len(blocks), sum(block.use_residual for block in blocks))
    return next(letter for letter, choice in V3_SMALL_CHOICES.items() if choice == found)


def _break_even() -> int:
    """The smallest expansion at which the V2 block 24 -> 24 costs more MACs than V1's 128-channel layer."""
    v1 = DepthwiseSeparable(128, 128, 3).cost(56).macs
    return smallest(lambda t: InvertedResidual.with_ratio(24, 24, expand_ratio=t).cost(56).macs > v1)


QUESTIONS = {
    "q_v3_small": Question.multiple_choice(
        "MobileNetV3-Small: how many bottleneck blocks, and how many of them with a shortcut",
        _v3_small_answer,
        choices=tuple(V3_SMALL_CHOICES),
        hint="count the InvertedResidual layers of models.spec('mobilenet_v3_small').stages(), and "
        "the ones whose use_residual is True",
    ),
    "q_break_even": Question(
        "the smallest integer t at which the V2 block 24 -> 24 at 56x56 needs more MACs than V1's 128 -> 128 layer",
        _break_even,
        hint="cost both with .cost(56).macs (the V2 block with InvertedResidual.with_ratio) and try t = 1, 2, ...",
    ),
    "q_v3_block_macs": Question(
        "multiply-adds of MobileNetV3-Large's fourth block (24 -> 72 -> 40, 5x5, stride 2, SE 24) on 56x56x24",
        lambda: models.spec("mobilenet_v3_large").stages()[3].layers[0].cost(56).macs,
        hint="the expansion runs at 56x56, the depthwise conv and the projection at 28x28, and SE adds "
        "the multiply-adds of its two 1x1 convs on the pooled vector",
    ),
}


check_question = question_checker(QUESTIONS)


# Plausible wrong answers, each of which its check must reject (tests/test_exercises.py).
COMMON_MISTAKES = {
    "inverted_residual_macs": [
        # every layer at the input size: the stride forgotten
        lambda m, n, t, k, size, stride: size * size * (m * m * t + m * t * k * k + m * t * n),
        # the expansion counted even when t == 1
        lambda m, n, t, k, size, stride: (
            size * size * m * m * t + ceil_div(size, stride) ** 2 * m * t * (k * k + n)
        ),
    ],
    "inverted_residual_params": [
        # BatchNorm forgotten
        lambda m, n, t, k, se=0: (m * m * t if t != 1 else 0)
        + m * t * (k * k + n)
        + (2 * m * t * se + se + m * t if se else 0),
        # the expansion counted even when t == 1
        lambda m, n, t, k, se=0: m * m * t
        + 2 * m * t
        + m * t * (k * k + 2 + n)
        + 2 * n
        + (2 * m * t * se + se + m * t if se else 0),
    ],
    "make_divisible": [
        # Python's round() rounds halves to even: 52 / 8 = 6.5 gives 48, not 56
        lambda value, divisor=8: _with_floor_rule(round(value / divisor) * divisor, value, divisor),
        # the 10% rule forgotten
        lambda value, divisor=8: max(divisor, int(value + divisor / 2) // divisor * divisor),
        # "never more than 10% down" read as "<= 90%": a rounding to exactly 90% gets one more
        lambda value, divisor=8: (lambda r: r + divisor if r <= 0.9 * value else r)(
            max(divisor, int(value + divisor / 2) // divisor * divisor)
        ),
    ],
}


def _with_floor_rule(rounded: int, value: float, divisor: int) -> int:
    rounded = max(divisor, rounded)
    return rounded + divisor if rounded < 0.9 * value else rounded
