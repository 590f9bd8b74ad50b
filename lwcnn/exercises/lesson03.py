"""Lesson 03's exercises: the width and resolution multipliers.

Code exercises, each checked against `lwcnn.cost` and `lwcnn.models` on edge cases and random inputs:

- `scaled_separable_macs(m, n, k, size, alpha, rho)`: the MACs of one separable layer under a
  width multiplier `alpha` and a resolution multiplier `rho`, with the rounding the exercise fixes;
- `same_padding_sizes(size, strides)`: the feature-map sizes after a stack of "same"-padded convs
  with the given strides;
- `v1_cost(alpha, resolution, num_classes=1000)`: MobileNetV1's (params, MACs) from its table,
  checked against `lwcnn.models.cost("mobilenet_v1", ...)`.

Questions: `q_ten_classes` (what share of its parameters MobileNetV1 keeps at alpha = 0.25 with a
10-class classifier) and `q_two_knobs` (two settings the `alpha^2 rho^2` rule ranks wrongly).
"""

from __future__ import annotations

from lwcnn import cost, models
from lwcnn.exercises import RANDOM_CASES, Question, ceil_div, check_function, question_checker, rng


def _scaled(value: int, multiplier: float) -> int:
    """`int(multiplier * value)`, at least 1: the rounding `scaled_separable_macs` asks for."""
    return max(1, int(multiplier * value))


def reference_scaled_separable_macs(m: int, n: int, k: int, size: int, alpha: float, rho: float) -> int:
    return cost.depthwise_separable_macs(_scaled(m, alpha), _scaled(n, alpha), k, _scaled(size, rho))


def check_scaled_separable_macs(scaled_separable_macs) -> str:
    """MACs of depthwise k x k + 1x1, `int(alpha * M)` -> `int(alpha * N)` channels (at least 1),
    on an `int(rho * size)` output map (at least 1)."""
    r = rng("scaled_separable_macs")
    cases = [
        (512, 512, 3, 14, 1.0, 1.0),
        (512, 512, 3, 14, 0.75, 1.0),
        (512, 512, 3, 14, 0.25, 0.5),
        (32, 64, 3, 112, 0.5, 0.714),
        (3, 5, 3, 7, 0.25, 0.1),  # both round below 1
        (1, 1, 1, 1, 1.0, 1.0),
        (100, 100, 5, 10, 0.29, 0.29),  # 0.29 * 100 is 28.999... in floating point: int() gives 28
        (64, 128, 3, 28, 1.5, 1.25),  # multipliers above 1
    ]
    while len(cases) < RANDOM_CASES:
        cases.append(
            (
                r.randint(1, 1024),
                r.randint(1, 1024),
                r.choice((1, 3, 5, 7)),
                r.randint(1, 112),
                round(r.uniform(0.05, 2.0), 2),
                round(r.uniform(0.1, 1.5), 3),
            )
        )
    return check_function(
        scaled_separable_macs, reference_scaled_separable_macs, cases, "scaled_separable_macs"
    )


def reference_same_padding_sizes(size: int, strides) -> list[int]:
    sizes = []
    for stride in strides:
        size = cost.conv2d_output_size(size, 3, stride, "same")
        sizes.append(size)
    return sizes


def check_same_padding_sizes(same_padding_sizes) -> str:
    """The output size after each of a stack of "same"-padded convs with the given strides."""
    r = rng("same_padding_sizes")
    v1_strides = [2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]  # MobileNetV1: the stem and 13 depthwise convs
    cases = [
        (224, v1_strides),
        (129, v1_strides),
        (200, [2, 2, 2, 2, 2]),
        (1, [2, 2, 3]),
        (7, [1]),
        (5, [3, 3]),
        (9, []),
    ]
    while len(cases) < RANDOM_CASES:
        strides = [r.choice((1, 1, 2, 2, 3, 4)) for _ in range(r.randint(1, 10))]
        cases.append((r.randint(1, 400), strides))
    return check_function(same_padding_sizes, reference_same_padding_sizes, cases, "same_padding_sizes")


def reference_v1_cost(alpha: float, resolution: int, num_classes: int = 1000) -> tuple[int, int]:
    c = models.cost("mobilenet_v1", resolution, width_multiplier=alpha, num_classes=num_classes)
    return c.params, c.macs


def check_v1_cost(v1_cost) -> str:
    """MobileNetV1's (params, MACs) at width `alpha`, input `resolution`, `num_classes` outputs."""
    r = rng("v1_cost")
    cases = [
        (1.0, 224, 1000),
        (0.25, 224, 1000),
        (0.5, 160, 1000),
        (0.25, 224, 10),
        (0.1, 224, 10),  # every width floors at 8
        (1.0, 129, 1000),  # odd sizes: each stride 2 rounds up
        (1.4, 32, 1),
        (0.75, 1, 3),
    ]
    while len(cases) < RANDOM_CASES:
        cases.append((round(r.uniform(0.05, 2.0), 2), r.randint(1, 400), r.randint(1, 2000)))
    return check_function(v1_cost, reference_v1_cost, cases, "v1_cost")


def _params_kept(alpha: float, num_classes: int) -> float:
    thin = models.cost("mobilenet_v1", 224, width_multiplier=alpha, num_classes=num_classes)
    return thin.params / models.cost("mobilenet_v1", 224, num_classes=num_classes).params


def _macs_ratio(first: tuple[float, int], second: tuple[float, int]) -> float:
    (alpha_a, res_a), (alpha_b, res_b) = first, second
    a = models.cost("mobilenet_v1", res_a, width_multiplier=alpha_a).macs
    return a / models.cost("mobilenet_v1", res_b, width_multiplier=alpha_b).macs


QUESTIONS = {
    "q_ten_classes": Question(
        "params of MobileNetV1 at alpha = 0.25 / params at alpha = 1, both with 10 classes, at 224",
        lambda: _params_kept(0.25, 10),
        tolerance=0.01,
        hint="models.cost takes num_classes=10; the classifier is now a tiny part of the network",
    ),
    "q_two_knobs": Question(
        "MACs of MobileNetV1 at alpha = 0.25, 304x304 / MACs at alpha = 0.6, 128x128",
        lambda: _macs_ratio((0.25, 304), (0.6, 128)),
        tolerance=0.01,
        hint="count both with models.cost (or your v1_cost) rather than with alpha^2 rho^2",
    ),
}


check_question = question_checker(QUESTIONS)


def _v1_with(alpha, resolution, num_classes, width, halve, norm: bool = True, bias: bool = True):
    """MobileNetV1's cost with a chosen width rounding and stride rounding: the mistakes below."""
    channels, size = width(32), halve(resolution, 2)
    params = 27 * channels + (2 * channels if norm else 0)
    macs = 27 * channels * size * size
    for out_channels, stride in models.MOBILENET_V1_TABLE:
        out, size = width(out_channels), halve(size, stride)
        params += 9 * channels + channels * out + (2 * (channels + out) if norm else 0)
        macs += (9 * channels + channels * out) * size * size
        channels = out
    params += channels * num_classes + (num_classes if bias else 0)
    return params, macs + channels * num_classes


# Plausible wrong answers, each of which its check must reject (tests/test_exercises.py).
COMMON_MISTAKES = {
    "scaled_separable_macs": [
        # the alpha^2 rho^2 rule applied to the whole layer
        lambda m, n, k, size, alpha, rho: int(alpha**2 * rho**2 * (k * k * m + m * n) * size * size),
        # round() for the map instead of int(), and no floor at 1
        lambda m, n, k, size, alpha, rho: (
            (k * k * int(alpha * m) + int(alpha * m) * int(alpha * n)) * round(rho * size) ** 2
        ),
        # alpha on the pointwise conv only: its depthwise conv keeps all M channels
        lambda m, n, k, size, alpha, rho: (
            (k * k * m + max(1, int(alpha * m)) * max(1, int(alpha * n))) * max(1, int(rho * size)) ** 2
        ),
    ],
    "same_padding_sizes": [
        # each from the input, not the layer before
        lambda size, strides: [ceil_div(size, s) for s in strides],
        lambda size, strides: _running(size, strides, lambda d, s: d // s),  # floor instead of ceil
        lambda size, strides: _running(size, strides, lambda d, s: round(d / s)),  # round instead of ceil
    ],
    "v1_cost": [
        lambda alpha, res, classes=1000: _v1_with(
            alpha, res, classes, lambda c: max(8, int(alpha * c)), ceil_div, norm=False
        ),  # BatchNorm's parameters forgotten
        lambda alpha, res, classes=1000: _v1_with(
            alpha, res, classes, lambda c: max(1, int(alpha * c)), ceil_div
        ),  # widths not floored at 8
        lambda alpha, res, classes=1000: _v1_with(
            alpha, res, classes, lambda c: max(8, int(alpha * c)), lambda d, s: d // s
        ),  # floor instead of ceil for the stride-2 layers
        lambda alpha, res, classes=1000: _v1_with(
            alpha, res, classes, lambda c: max(8, int(alpha * c)), ceil_div, bias=False
        ),  # the classifier's bias forgotten
    ],
}


def _running(size: int, strides, step) -> list[int]:
    sizes = []
    for stride in strides:
        size = step(size, stride)
        sizes.append(size)
    return sizes
