"""MnasNet's reward and the Pareto front: what a search maximises, and what it trades.

The reward is MnasNet's eq. 2 (Tan et al. 2019): `ACC * (LAT / T)^w` with `w = alpha` if
`LAT <= T` else `beta`; `SOFT = (-0.07, -0.07)` (section 3: 2x the latency must buy about 5%
accuracy), `HARD = (0, -1)` (latency is a constraint, not a trade). EfficientNetV2's
training-aware reward `A * S^w * P^v` (`efficientnet_v2_reward`) is the same idea with two
costs, the training step time and the parameters.

    >>> round(mnas_reward(0.9, 2.0, 1.0), 4)   # twice the target: 0.9 * 2^-0.07
    0.8574
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lwcnn import checks

SOFT = (-0.07, -0.07)  # MnasNet's soft constraint (alpha, beta)
HARD = (0.0, -1.0)  # its hard constraint
EFFICIENTNET_V2_EXPONENTS = (-0.07, -0.05)  # EfficientNetV2, Sec. 3.3: (w, v)


def mnas_reward(
    accuracy: float, latency: float, target: float, alpha: float = SOFT[0], beta: float = SOFT[1]
) -> float:
    """MnasNet's objective `ACC * (LAT / T)^w`, `w = alpha` if `LAT <= T` else `beta`.

    `SOFT` (alpha = beta = -0.07) trades latency for accuracy smoothly; `HARD` (0, -1) ignores
    latency under the target and divides by it above.
    """
    checks.check_greater("accuracy", accuracy, or_equal=True)
    checks.check_greater("latency", latency)
    checks.check_greater("target", target)
    if not math.isfinite(latency) or not math.isfinite(target):  # an inf ratio has no power
        raise ValueError(f"latency and target must be finite, got latency={latency!r}, target={target!r}")
    exponent = alpha if latency <= target else beta
    return accuracy * (latency / target) ** exponent


def efficientnet_v2_reward(
    accuracy: float,
    step_time: float,
    params: float,
    w: float = EFFICIENTNET_V2_EXPONENTS[0],
    v: float = EFFICIENTNET_V2_EXPONENTS[1],
) -> float:
    """EfficientNetV2's training-aware search reward `A * S^w * P^v` (Tan & Le 2021, Sec. 3.3):
    accuracy A, the normalized training step time S, the parameter size P, w = -0.07, v = -0.05.

    No target: S and P are divided by whatever normalises them (the caller's unit), and the
    exponents say that doubling the step time must buy `2^0.07 - 1`, about 5% more accuracy,
    doubling the parameters `2^0.05 - 1`, about 3.5%.

    >>> round(efficientnet_v2_reward(0.8, 2.0, 1.0) / efficientnet_v2_reward(0.8, 1.0, 1.0), 4)
    0.9526
    """
    checks.check_greater("accuracy", accuracy, or_equal=True)
    checks.check_greater("step_time", step_time)
    checks.check_greater("params", params)
    return accuracy * step_time**w * params**v


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
