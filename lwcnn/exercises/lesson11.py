"""Lesson 11's exercises: scaling a network up and down (EfficientNet, TinyNet).

Code exercises, each checked against `lwcnn.models` and `lwcnn.scaling` on edge cases and random
inputs:

- `scaled_stages(rows, depth, width)`: the channels and blocks of each stage after scaling, with
  the rounding real networks do (multiples of 8 never more than 10% down, `ceil(n * d)` blocks),
  checked against the stages of `lwcnn.models.EfficientNet`;
- `tinynet_samples(budget, count, seed, ...)`: TinyNet's step 1, random (r, d) with the width
  from the FLOPs budget, kept when the width is in range (`lwcnn.scaling.tinynet_samples`);
- `best_per_budget(rows, top)`: TinyNet's step 2, the best few samples at each budget, which the
  Gaussian processes are fitted on (`lwcnn.scaling.best_per_budget`).

Questions: `q_phi` (inverse compound scaling's phi for a budget of 0.3), `q_table7` (what
EfficientNet's Table 7 shows) and `q_separated` (how many of section 5's gaps exceed the seeds'
spread, on the shipped table).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from lwcnn import cost, models, papers, scaling
from lwcnn.exercises import RANDOM_CASES, Question, check_function, question_checker, rng

# --- 1. the stages of a scaled network --------------------------------------------------------------


def reference_scaled_stages(rows: list[tuple[int, int]], depth: float, width: float) -> list[tuple[int, int]]:
    """(output channels, blocks) of each stage of `lwcnn.models.EfficientNet` built from `rows`."""
    table = tuple(models.MBRow(6, 3, 1, channels, blocks, 0.25) for channels, blocks in rows)
    spec = models.EfficientNet(
        width_multiplier=width, depth_multiplier=depth, table=table, num_classes=10, in_channels=1
    )
    stages = [stage.layers for stage in spec.stages() if stage.name.startswith("stage")]
    return [(layers[-1].out_channels, len(layers)) for layers in stages]


def _near(value: float, step: float) -> bool:
    """Within float noise of a multiple of `step` without being one: a rounding the check avoids."""
    gap = abs(value / step - round(value / step))
    return 0 < gap < 1e-6


def _clear_of_float_noise(rows, depth: float, width: float) -> bool:
    for channels, blocks in rows:
        value = channels * width
        rounded = max(8, int(value + 4) // 8 * 8)
        if _near(value, 4) or _near(blocks * depth, 1) or 0 < abs(rounded - 0.9 * value) < 1e-6:
            return False
    return True


B0_ROWS = [(16, 1), (24, 2), (40, 2), (80, 3), (112, 3), (192, 4), (320, 1)]
DIGITS_ROWS = [(16, 1), (24, 2), (32, 3)]


def check_scaled_stages(scaled_stages) -> str:
    """[(make_divisible(c * w, 8), ceil(n * d))] per stage, as `lwcnn.models.EfficientNet` scales."""
    r = rng("scaled_stages")
    cases = [
        (DIGITS_ROWS, 1.0, 1.0),  # unscaled
        (DIGITS_ROWS, 2.0, 1.0),  # twice the blocks
        (DIGITS_ROWS, 1.2, 1.0),  # 1, 2, 3 blocks -> 2, 3, 4: rounded up
        (DIGITS_ROWS, 1.0, 0.75),  # 18 -> 16 would be more than 10% down: 24
        (DIGITS_ROWS, 0.5, 0.5),  # 8, 12 -> 16 (halves up), 16; 1 block stays 1
        (DIGITS_ROWS, 1.0, 0.25),  # 4 -> never below 8
        (B0_ROWS, 1.2, 1.1),  # EfficientNet-B0 at phi = 1
        (B0_ROWS, 1.1, 1.0),  # the released B1's depth
        (B0_ROWS, 1.4, 1.2),  # the released B3's depth and width
    ]
    while len(cases) < RANDOM_CASES:
        rows = [(r.randint(8, 320), r.randint(1, 5)) for _ in range(r.randint(1, 7))]
        depth, width = round(r.uniform(0.3, 3), 2), round(r.uniform(0.25, 2.5), 2)
        if _clear_of_float_noise(rows, depth, width):
            cases.append((rows, depth, width))
    return check_function(scaled_stages, reference_scaled_stages, cases, "scaled_stages")


# --- 2. TinyNet's samples ----------------------------------------------------------------------------


def reference_tinynet_samples(
    budget: float,
    count: int,
    seed: int,
    resolution_range: tuple[float, float] = (0.5, 1.25),
    depth_range: tuple[float, float] = (0.5, 1.5),
    width_range: tuple[float, float] = (0.5, 1.5),
) -> list[scaling.Multipliers]:
    return scaling.tinynet_samples(budget, count, seed, resolution_range, depth_range, width_range)


def _sample_case(r) -> tuple:
    budget, count, seed = round(r.uniform(0.1, 1.2), 2), r.randint(1, 12), r.randrange(10**4)
    if r.random() < 0.3:
        return budget, count, seed
    low_r, low_d = round(r.uniform(0.3, 1.0), 2), round(r.uniform(0.3, 1.0), 2)
    ranges = (low_r, round(low_r + r.uniform(0.1, 0.8), 2)), (low_d, round(low_d + r.uniform(0.1, 1.0), 2))
    low_w = round(r.uniform(0.3, 0.8), 2)
    return budget, count, seed, *ranges, (low_w, round(low_w + r.uniform(0.3, 1.0), 2))


def check_tinynet_samples(tinynet_samples) -> str:
    """`count` (d, w, r) with r, d drawn from numpy's default_rng(seed) and w = sqrt(c / (r^2 d)) in range."""
    r = rng("tinynet_samples")
    cases = [
        (0.5, 1, 0),
        (0.5, 5, 0),
        (0.25, 3, 1, (0.5, 1.0), (0.5, 1.0)),
        (1.0, 4, 7, (0.8, 1.2), (0.8, 1.2), (0.9, 1.1)),  # a narrow width range: many draws rejected
        (0.75, 12, 42),
    ]
    while len(cases) < 100:  # a case can take thousands of draws: fewer, still random
        case = _sample_case(r)
        try:
            scaling.tinynet_samples(*case[:3], *case[3:], max_draws=2000)
        except ValueError:  # too few draws in range: not a case for this exercise
            continue
        cases.append(case)
    return check_function(tinynet_samples, reference_tinynet_samples, cases, "tinynet_samples")


# --- 3. the best samples per budget -----------------------------------------------------------------


class Sample(NamedTuple):
    """A trained sample as `best_per_budget` sees it: its budget, its accuracy and a label."""

    budget: float
    accuracy: float
    label: str

    def __repr__(self) -> str:
        return f"{self.label}(c={self.budget:g}, acc={self.accuracy:.4f})"


def reference_best_per_budget(rows: list[Sample], top: int) -> list[Sample]:
    return scaling.best_per_budget(rows, top)


def _samples(pairs) -> list[Sample]:
    return [Sample(budget, accuracy, f"s{index}") for index, (budget, accuracy) in enumerate(pairs)]


def check_best_per_budget(best_per_budget) -> str:
    """The `top` most accurate rows of each budget (ties: the earlier row), in input order."""
    r = rng("best_per_budget")
    cases = [
        (_samples([(0.5, 0.97), (0.5, 0.99), (0.5, 0.98)]), 2),
        (_samples([(0.5, 0.97), (0.5, 0.99), (0.5, 0.98)]), 5),  # fewer rows than top: all of them
        (_samples([(0.25, 0.95), (0.5, 0.97), (0.25, 0.96), (0.5, 0.90)]), 1),  # one per budget
        (_samples([(0.5, 0.98), (0.5, 0.97), (0.5, 0.98), (0.5, 0.98)]), 2),  # ties: the earlier rows
        (_samples([(0.75, 0.9), (0.25, 0.99), (0.75, 0.95), (0.25, 0.98), (0.75, 0.99)]), 2),
    ]
    while len(cases) < RANDOM_CASES:
        budgets = r.sample((0.25, 0.5, 0.75, 1.0), r.randint(1, 3))
        pairs = [(r.choice(budgets), r.randint(340, 360) / 360) for _ in range(r.randint(1, 20))]
        cases.append((_samples(pairs), r.randint(1, 5)))
    return check_function(best_per_budget, reference_best_per_budget, cases, "best_per_budget")


# --- questions --------------------------------------------------------------------------------------


def _table7_answer() -> str:
    """'b' (the single dimensions within 0.2 points of each other, compound about 2 points above
    the best of them), checked on the table."""
    top1 = papers.EFFICIENTNET_SINGLE_DIMENSION
    single = [accuracy for name, accuracy in top1.items() if name != "compound"]
    assert round(max(single) - min(single), 1) <= 0.2 and round(top1["compound"] - max(single)) == 2
    return "b"


def _separated_budgets() -> int:
    """At how many held-out budgets TinyNet's recommendation and inverse compound scaling are
    further apart than the seeds' spread (either way), on the shipped table."""
    from lwcnn import experiments

    found = experiments.claims(experiments.load_scaling_runs(), experiments.SCALING)
    return sum(claim.separated for claim in found if claim.first.startswith("TinyNet GP"))


QUESTIONS = {
    "q_phi": Question(
        "phi of inverse compound scaling for a FLOPs budget of 0.3 with B0's alpha, beta, gamma",
        lambda: scaling.inverse_compound_phi(0.3),
        tolerance=1e-3,
        hint="phi = log c / log(alpha beta^2 gamma^2), negative for c < 1",
    ),
    "q_table7": Question.multiple_choice(
        "what EfficientNet's Table 7 shows",
        _table7_answer,
        hint="compare the gaps: between the three single dimensions, and from the best of them to compound",
    ),
    "q_separated": Question(
        "at how many held-out budgets one method beats the other by more than the seeds' spread",
        _separated_budgets,
        hint="a gap counts when its size (either sign) is larger than the spread printed beside it",
    ),
}


check_question = question_checker(QUESTIONS)


# --- plausible wrong answers, each of which its check must reject (tests/test_exercises.py) -------


def _nearest_multiple_of_8(value: float) -> int:
    return max(8, int(value + 4) // 8 * 8)


def _samples_drawn(budget, count, seed, resolution_range=(0.5, 1.25), depth_range=(0.5, 1.5),
                   width_range=(0.5, 1.5), depth_first=False, root=True):  # fmt: skip
    generator, samples = np.random.default_rng(seed), []
    while len(samples) < count:
        first, second = (depth_range, resolution_range) if depth_first else (resolution_range, depth_range)
        a, b = float(generator.uniform(*first)), float(generator.uniform(*second))
        d, res = (a, b) if depth_first else (b, a)
        w = budget / (res**2 * d)
        w = math.sqrt(w) if root else w
        if width_range[0] <= w <= width_range[1]:
            samples.append((d, w, res))
    return samples


def _best_sorted(rows, top):
    """The right rows, most accurate first instead of in input order."""
    best = scaling.best_per_budget(rows, top)
    return sorted(best, key=lambda row: -row.accuracy)


def _best_overall(rows, top):
    """The top rows over all budgets together, not per budget."""
    keep = sorted(range(len(rows)), key=lambda i: (-rows[i].accuracy, i))[:top]
    return [row for i, row in enumerate(rows) if i in keep]


def _best_later_ties(rows, top):
    """Per budget, but a tie goes to the later row."""
    keep = set()
    for budget in {row.budget for row in rows}:
        ranked = sorted(
            (i for i, row in enumerate(rows) if row.budget == budget), key=lambda i: (-rows[i].accuracy, -i)
        )
        keep.update(ranked[:top])
    return [row for i, row in enumerate(rows) if i in keep]


COMMON_MISTAKES = {
    "scaled_stages": [
        # the width's 10% rule forgotten
        lambda rows, depth, width: [
            (_nearest_multiple_of_8(c * width), math.ceil(n * depth)) for c, n in rows
        ],
        # the width's 10% rule forgotten
        lambda rows, depth, width: [
            (max(8, round(c * width / 8) * 8), math.ceil(n * depth)) for c, n in rows
        ],
        # the blocks rounded to nearest, not up
        lambda rows, depth, width: [
            (cost.make_divisible(c * width), max(1, round(n * depth))) for c, n in rows
        ],
    ],
    "tinynet_samples": [
        lambda budget, count, seed, *ranges: _samples_drawn(budget, count, seed, *ranges, depth_first=True),
        lambda budget, count, seed, *ranges: _samples_drawn(budget, count, seed, *ranges, root=False),
    ],
    "best_per_budget": [_best_sorted, _best_overall, _best_later_ties],
}
