"""Lesson 14's exercises: NetAdapt, FBNetV2's channel masks, accuracy predictors, NSGA-II's fronts.

Code exercises, each checked against `lwcnn` on edge cases and random inputs:

- `filters_removed(channels, macs_per_channel, fixed_macs, target_macs, step)`: how many filters
  one NetAdapt proposal removes from a layer so that the network's MACs meet the iteration's
  target (the fewest, in multiples of `step`; None when no width meets it);
- `kendall_tau(x, y)`: Kendall's tau-b of two rankings, ties included
  (`lwcnn.nas.kendall_tau`);
- `hypervolume(points, reference)`: the area that (accuracy, latency) points dominate
  (`lwcnn.nas.hypervolume_2d`).

Questions: `q_mask` (the value of FBNetV2's weighted mask on one channel, from
`lwcnn.nas.ChannelMask`) and `q_netadapt` (what the NetAdapt recording says against uniform width
scaling, from `data/netadapt.csv`).
"""

from __future__ import annotations

import math

from lwcnn.exercises import RANDOM_CASES, Question, check_function, question_checker, rng, same

# --- 1. the filters a NetAdapt proposal removes ------------------------------------------------------


def reference_filters_removed(
    channels: int, macs_per_channel: int, fixed_macs: int, target_macs: int, step: int
) -> int | None:
    """The layer keeps the most channels `kept`, a multiple of `step` (at least `step`, at most
    `channels`), with `fixed_macs + macs_per_channel * kept <= target_macs`; returns
    `channels - kept`, or None when even `step` channels miss the target."""
    for kept in range(channels - channels % step, 0, -step):
        if fixed_macs + macs_per_channel * kept <= target_macs:
            return channels - kept
    return None


def check_filters_removed(filters_removed) -> str:
    """NetAdapt's step 2 on a layer whose MACs grow linearly with its kept channels."""
    r = rng("filters_removed")
    cases = [
        (32, 1000, 50_000, 70_000, 4),  # 20 channels fit: keep 20, remove 12
        (32, 1000, 50_000, 82_000, 4),  # all 32 fit: remove none
        (32, 1000, 50_000, 53_999, 4),  # 3.999 channels: not even 4
        (32, 1000, 50_000, 54_000, 4),  # exactly 4
        (30, 10, 0, 295, 8),  # 30 is no multiple of 8: keep 24
        (30, 10, 0, 400, 8),  # all 30 would fit, but 30 is no multiple of 8: keep 24, remove 6
        (6, 1, 0, 100, 4),  # the same below one step's worth: keep 4, remove 2
        (1, 5, 5, 10, 1),
        (16, 7, 100, 99, 1),  # the fixed part alone misses the target
    ]
    while len(cases) < RANDOM_CASES:
        step = r.choice([1, 2, 4, 8])
        channels = r.randint(1, 64) * r.choice([1, step])
        per, fixed = r.randint(1, 5000), r.randint(0, 200_000)
        cases.append((channels, per, fixed, fixed + r.randint(-per, per * (channels + step)), step))
    return check_function(filters_removed, reference_filters_removed, cases, "filters_removed")


# --- 2. Kendall's tau-b ------------------------------------------------------------------------------


def reference_kendall_tau(x, y) -> float:
    from lwcnn.nas import kendall_tau

    return kendall_tau(list(x), list(y))


def _same_tau(got, expected) -> bool:
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(got, float) and math.isnan(got)
    return same(got, expected)


def check_kendall_tau(kendall_tau) -> str:
    """Tau-b over every pair: ties in x or y shrink the denominator; NaN for a constant ranking."""
    r = rng("kendall_tau")
    cases = [
        ([1, 2, 3, 4], [10, 20, 40, 30]),
        ([1, 2, 3], [3, 2, 1]),
        ([1, 1, 2, 3], [1, 2, 2, 3]),
        ([1, 2, 2, 3, 3], [5, 4, 4, 1, 2]),
        ([0.5, 0.7], [0.1, 0.3]),
        ([1, 1, 1], [1, 2, 3]),
    ]
    while len(cases) < RANDOM_CASES:
        n = r.randint(2, 12)
        levels = r.choice([3, 5, 100])
        cases.append(([r.randint(0, levels) for _ in range(n)], [r.randint(0, levels) for _ in range(n)]))
    return check_function(kendall_tau, reference_kendall_tau, cases, "kendall_tau", _same_tau)


# --- 3. the hypervolume of a front -------------------------------------------------------------------


def reference_hypervolume(points, reference) -> float:
    from lwcnn.nas import hypervolume_2d

    return hypervolume_2d([tuple(p) for p in points], tuple(reference))


def check_hypervolume(hypervolume) -> str:
    """(accuracy, latency) points, accuracy maximised and latency minimised, against a reference
    (lowest accuracy, highest latency); points beyond the reference add nothing."""
    r = rng("hypervolume")
    cases = [
        ([(0.9, 2.0), (0.8, 1.0)], (0.5, 3.0)),
        ([(0.9, 2.0), (0.8, 1.0), (0.7, 1.5)], (0.5, 3.0)),  # the third is dominated
        ([(0.6, 1.0)], (0.5, 3.0)),
        ([], (0.5, 3.0)),
        ([(0.4, 1.0), (0.9, 3.5)], (0.5, 3.0)),  # both outside the reference box
        ([(0.8, 1.0), (0.8, 1.0)], (0.5, 3.0)),  # the same point twice
    ]
    while len(cases) < RANDOM_CASES:
        n = r.randint(1, 8)
        points = [(round(r.uniform(0.3, 1.0), 3), round(r.uniform(0.5, 5.0), 3)) for _ in range(n)]
        cases.append((points, (round(r.uniform(0.3, 0.6), 3), round(r.uniform(3.0, 5.0), 3))))
    return check_function(hypervolume, reference_hypervolume, cases, "hypervolume")


# --- questions -----------------------------------------------------------------------------------

MASK_WIDTHS = (8, 16, 24, 32)
MASK_WEIGHTS = (0.1, 0.2, 0.3, 0.4)
MASK_CHANNEL = 20  # counted from 0


def _mask_value() -> float:
    import torch

    from lwcnn.nas import ChannelMask

    weighted = torch.tensor(MASK_WEIGHTS, dtype=torch.float64) @ ChannelMask(MASK_WIDTHS).masks.double()
    return round(float(weighted[MASK_CHANNEL]), 10)


def _netadapt_verdict() -> str:
    from lwcnn import nas

    finals = nas.recorded_finals(nas.recorded_netadapt()).values()
    test = {
        kind: [float(kinds[kind]["test_accuracy"]) for kinds in finals] for kind in ("netadapt", "uniform")
    }
    return "a" if sum(test["netadapt"]) > sum(test["uniform"]) else "b"


QUESTIONS = {
    "q_mask": Question(
        "the value of FBNetV2's weighted mask on channel 20 (from 0) for widths 8, 16, 24, 32 and "
        "weights 0.1, 0.2, 0.3, 0.4",
        _mask_value,
        tolerance=1e-6,
        hint="a width's mask is 1 on its first w channels; add the weights of the widths that keep channel 20",
    ),
    "q_netadapt": Question.multiple_choice(
        "what the NetAdapt recording says against uniform width scaling at the same predicted MACs",
        _netadapt_verdict,
        hint="print the mean test accuracy of the two kinds of final rows in data/netadapt.csv",
    ),
}


check_question = question_checker(QUESTIONS)


# --- plausible wrong answers, each of which its check must reject (tests/test_exercises.py) -------


def _removed_rounds_to_nearest(channels, macs_per_channel, fixed_macs, target_macs, step):
    """The affordable channels rounded to the nearest multiple of step, not down."""
    fits = (target_macs - fixed_macs) / macs_per_channel
    kept = min(channels - channels % step, step * round(fits / step))
    return channels - kept if kept >= step else None


def _removed_caps_at_channels(channels, macs_per_channel, fixed_macs, target_macs, step):
    """The affordable multiple of step capped at `channels`, which need not be a multiple itself."""
    affordable = (target_macs - fixed_macs) // macs_per_channel
    kept = min(channels, affordable - affordable % step)
    return channels - kept if kept >= step else None


def _removed_ignores_fixed_macs(channels, macs_per_channel, fixed_macs, target_macs, step):
    return reference_filters_removed(channels, macs_per_channel, 0, target_macs, step)


def _returns_kept(channels, macs_per_channel, fixed_macs, target_macs, step):
    removed = reference_filters_removed(channels, macs_per_channel, fixed_macs, target_macs, step)
    return None if removed is None else channels - removed


def _tau_a(x, y):
    """Tau-a: (C - D) over all pairs, ties not corrected for."""
    n = len(x)
    score = sum(
        ((x[i] > x[j]) - (x[i] < x[j])) * ((y[i] > y[j]) - (y[i] < y[j]))
        for i in range(n)
        for j in range(i + 1, n)
    )
    return score / (n * (n - 1) / 2)


def _tau_ties_concordant(x, y):
    """A pair tied in either ranking counted as concordant."""
    n = len(x)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    concordant = sum((x[i] - x[j]) * (y[i] - y[j]) >= 0 for i, j in pairs)
    return (2 * concordant - len(pairs)) / len(pairs)


def _tau_of_values(x, y):
    """A Pearson correlation of the values, not of the orders."""
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy) if sxx and syy else math.nan


def _hypervolume_sum_of_boxes(points, reference):
    """Each point's box from the reference, added up: overlaps counted twice."""
    acc_ref, lat_ref = reference
    return sum(
        (accuracy - acc_ref) * (lat_ref - latency)
        for accuracy, latency in points
        if accuracy > acc_ref and latency < lat_ref
    )


def _hypervolume_largest_box(points, reference):
    acc_ref, lat_ref = reference
    boxes = [(a - acc_ref) * (lat_ref - t) for a, t in points if a > acc_ref and t < lat_ref]
    return max(boxes, default=0.0)


def _hypervolume_keeps_outside(points, reference):
    """Points beyond the reference box counted with negative widths."""
    acc_ref, lat_ref = reference
    area, best = 0.0, acc_ref
    for latency, accuracy in sorted((t, -a) for a, t in points):
        if -accuracy > best:
            area += (lat_ref - latency) * (-accuracy - best)
            best = -accuracy
    return area


COMMON_MISTAKES = {
    "filters_removed": [
        _removed_rounds_to_nearest,
        _removed_caps_at_channels,
        _removed_ignores_fixed_macs,
        _returns_kept,
    ],
    "kendall_tau": [_tau_a, _tau_ties_concordant, _tau_of_values],
    "hypervolume": [_hypervolume_sum_of_boxes, _hypervolume_largest_box, _hypervolume_keeps_outside],
}
