"""Lesson 02's exercises: depthwise-separable convolution.

Code exercises, each checked against `lwcnn.cost` and `lwcnn.blocks` on edge cases and random inputs:

- `separable_ratio(n, k)`: the exact cost ratio of a separable to a standard `k x k` conv with
  `n` output channels, as a `Fraction`;
- `separable_cost(m, n, k, size, stride=1)`: (params, MACs) of a depthwise `k x k` conv (with the
  stride) followed by a 1x1 conv, MobileNet's order, on a `size x size` input;
- `xception_macs(m, n, k, size, stride=1)`: the MACs of the same factorisation in Xception's
  order (1x1 first, then the depthwise conv on `n` channels), checked against
  `DepthwiseSeparable(..., order="xception").cost(size).macs`.

Questions: `q_saves_8x` (the smallest width at which a 3x3 separable layer saves 8x),
`q_first_proposed` (spot the error in a source: who first proposed the operation) and
`q_stride_order` (Xception's order against MobileNet's on a narrowing stride-2 layer).
"""

from __future__ import annotations

from fractions import Fraction

from lwcnn import cost
from lwcnn.blocks import DepthwiseSeparable
from lwcnn.exercises import RANDOM_CASES, Question, ceil_div, check_function, question_checker, rng, smallest


def check_separable_ratio(separable_ratio) -> str:
    """`1/N + 1/Dk^2` as an exact fraction, for N output channels and a Dk x Dk kernel."""
    r = rng("separable_ratio")
    cases = [(64, 3), (1, 1), (1, 3), (9, 3), (72, 3), (512, 3), (1024, 7), (25, 5), (3, 1)]
    cases += [(100_003, 11)]  # a denominator past 10^6: a float turned back into a Fraction misses it
    while len(cases) < RANDOM_CASES:
        cases.append((r.randint(1, 2048), r.randint(1, 11)))
    return check_function(separable_ratio, cost.separable_to_standard_ratio, cases, "separable_ratio")


def reference_separable_cost(m: int, n: int, k: int, size: int, stride: int = 1) -> tuple[int, int]:
    out = cost.conv2d_output_size(size, k, stride, "same")
    return cost.depthwise_separable_params(m, n, k), cost.depthwise_separable_macs(m, n, k, out)


def _layer_cases(name: str) -> list[tuple]:
    """Edge cases and random (m, n, k, size, stride) of one separable layer, k odd."""
    r = rng(name)
    cases = [
        (32, 64, 3, 112, 1),  # MobileNetV1's first separable layer
        (64, 128, 3, 112, 2),
        (512, 512, 3, 14, 1),
        (512, 128, 3, 28, 2),
        (1, 1, 1, 1, 1),
        (3, 7, 5, 1, 2),
        (8, 2, 7, 9, 3),
        (16, 16, 3, 15, 2),
    ]
    while len(cases) < RANDOM_CASES:
        cases.append(
            (r.randint(1, 256), r.randint(1, 256), r.choice((1, 3, 5, 7)), r.randint(1, 64), r.randint(1, 3))
        )
    return cases


def check_separable_cost(separable_cost) -> str:
    """(params, MACs) of depthwise `k x k` (stride, padding k // 2) + 1x1, bias-free, on `size x size`."""
    return check_function(
        separable_cost, reference_separable_cost, _layer_cases("separable_cost"), "separable_cost"
    )


def reference_xception_macs(m: int, n: int, k: int, size: int, stride: int = 1) -> int:
    """What lwcnn's Xception-order block counts: the 1x1 conv at the input size, then the
    depthwise conv on N channels at the (strided) output size."""
    return DepthwiseSeparable(m, n, k, stride, order="xception").cost(size).macs


def check_xception_macs(xception_macs) -> str:
    """MACs of 1x1 M -> N, then depthwise `k x k` on N channels with the stride."""
    return check_function(
        xception_macs, reference_xception_macs, _layer_cases("xception_macs"), "xception_macs"
    )


def _stride_order_ratio() -> float:
    m, n, k, size, stride = 512, 128, 3, 28, 2
    xception = DepthwiseSeparable(m, n, k, stride, order="xception").cost(size).macs
    mobilenet = DepthwiseSeparable(m, n, k, stride, order="mobilenet").cost(size).macs
    return xception / mobilenet


QUESTIONS = {
    "q_saves_8x": Question(
        "the smallest N for which a 3x3 separable layer has at most 1/8 of a standard conv's MACs",
        lambda: smallest(lambda n: cost.separable_to_standard_ratio(n, 3) <= Fraction(1, 8)),
        hint="solve 1/N + 1/9 <= 1/8 for N, or try widths with your separable_ratio",
    ),
    "q_first_proposed": Question.multiple_choice(
        "what is wrong with 'depthwise separable convolution was first proposed by Xception'",
        "b",
        hint="section 3 says whom MobileNetV1 and Xception themselves credit",
    ),
    "q_stride_order": Question(
        "Xception-order MACs / MobileNet-order MACs for 512 -> 128, 3x3, stride 2, on a 28x28 input",
        _stride_order_ratio,
        tolerance=0.01,
        hint="with the stride on the depthwise conv, at what size does each order run its 1x1 conv?",
    ),
}


check_question = question_checker(QUESTIONS)


# Plausible wrong answers, each of which its check must reject (tests/test_exercises.py).
COMMON_MISTAKES = {
    "separable_ratio": [
        lambda n, k: 1 / n + 1 / k**2,  # a float, not the exact fraction
        lambda n, k: Fraction(1 / n + 1 / k**2).limit_denominator(),  # a float, turned back
        lambda n, k: Fraction(1, n) + Fraction(1, k),  # the kernel's area forgotten
        lambda n, k: Fraction(k * k * n, k * k + n),  # the saving (standard / separable), upside down
    ],
    "separable_cost": [
        lambda m, n, k, size, stride=1: (
            k * k * m + m * n,
            (k * k * m + m * n) * size * size,  # the stride forgotten
        ),
        lambda m, n, k, size, stride=1: (
            k * k * m + m * n,
            (k * k * m + m * n) * (size // stride) ** 2,  # floor instead of ceil
        ),
        lambda m, n, k, size, stride=1: (
            k * k * m * n + m * n,  # a full k x k conv's weights for the first half
            (k * k * m + m * n) * ceil_div(size, stride) ** 2,
        ),
    ],
    "xception_macs": [
        # MobileNet's order
        lambda m, n, k, size, stride=1: (k * k * m + m * n) * ceil_div(size, stride) ** 2,
        # the 1x1 conv at the output size
        lambda m, n, k, size, stride=1: (m * n + k * k * n) * ceil_div(size, stride) ** 2,
        # the stride forgotten
        lambda m, n, k, size, stride=1: (m * n + k * k * n) * size * size,
    ],
}
