"""Lesson 09's exercises: architecture search, MnasNet-style.

Code exercises, each checked against `lwcnn.nas` and torch on edge cases and random inputs:

- `mnas_reward(accuracy, latency, target, alpha=-0.07, beta=-0.07)`: MnasNet's reward
  `ACC * (LAT / T)^w`, soft or hard (`lwcnn.nas.mnas_reward`);
- `pareto_front(points)`: the (latency, accuracy) points no other point beats, fastest first
  (`lwcnn.nas.pareto_front`);
- `reinforce_step(logits, choice, advantage, lr, entropy=0.0)`: one REINFORCE update of one
  decision's logits, with the entropy bonus, checked against torch's autograd.

Questions: `q_soft_percent` (what doubling the latency must buy under the soft constraint) and
`q_space_b5` (how large the factorised space is with five blocks).
"""

from __future__ import annotations

import torch

from lwcnn import nas
from lwcnn.exercises import RANDOM_CASES, Question, check_function, question_checker, rng

# --- 1. the reward ----------------------------------------------------------------------------------


def reference_mnas_reward(
    accuracy: float, latency: float, target: float, alpha: float = nas.SOFT[0], beta: float = nas.SOFT[1]
) -> float:
    return nas.mnas_reward(accuracy, latency, target, alpha, beta)


def check_mnas_reward(mnas_reward) -> str:
    """`ACC * (LAT / T)^w`, `w = alpha` if `LAT <= T` else `beta`, as `lwcnn.nas.mnas_reward`."""
    r = rng("mnas_reward")
    cases = [
        (0.75, 1.0, 1.0),  # at the target: the accuracy itself
        (0.75, 2.0, 1.0),  # twice as slow, soft constraint
        (0.75, 0.5, 1.0),  # twice as fast
        (0.9, 0.8, 1.0, *nas.HARD),  # hard constraint, under the target: accuracy only
        (0.9, 1.25, 1.0, *nas.HARD),  # hard constraint, above it: accuracy * T / LAT
        (0.9, 0.8, 1.0, -0.05, -0.5),  # alpha under the target
        (0.9, 1.2, 1.0, -0.05, -0.5),  # beta above it
        (0.0, 3.0, 1.0),
    ]
    while len(cases) < RANDOM_CASES:
        accuracy, latency, target = (
            round(r.uniform(0.5, 1), 4),
            round(r.uniform(0.2, 3), 3),
            round(r.uniform(0.2, 3), 3),
        )
        kind = r.random()
        if kind < 0.4:
            cases.append((accuracy, latency, target))
        elif kind < 0.6:
            cases.append((accuracy, latency, target, *nas.HARD))
        else:
            cases.append((accuracy, latency, target, -round(r.uniform(0, 1), 3), -round(r.uniform(0, 1), 3)))
    return check_function(mnas_reward, reference_mnas_reward, cases, "mnas_reward")


# --- 2. the Pareto front ---------------------------------------------------------------------------


def reference_pareto_front(points: list[tuple[float, float]]) -> list[int]:
    return nas.pareto_front(points)


def _distinct(r, count: int, low: int, high: int, scale: float) -> list[float]:
    return [value / scale for value in r.sample(range(low, high), count)]


def check_pareto_front(pareto_front) -> str:
    """Indices of the non-dominated (latency, accuracy) points, by latency; distinct values only."""
    r = rng("pareto_front")
    cases = [
        ([],),
        ([(1.0, 0.9)],),
        ([(1.0, 0.9), (2.0, 0.8)],),  # the slower one is also less accurate
        ([(2.0, 0.95), (1.0, 0.9)],),  # both on the front: fastest first
        ([(1.0, 0.90), (2.0, 0.92), (3.0, 0.91), (4.0, 0.95)],),  # 3.0 loses to 2.0
        ([(3.0, 0.99), (2.0, 0.97), (1.0, 0.95)],),  # every one: sorted by latency, not by index
        ([(1.0, 0.99), (2.0, 0.80), (3.0, 0.85), (4.0, 0.90)],),  # the fastest beats them all
    ]
    while len(cases) < RANDOM_CASES:
        count = r.randint(1, 40)
        latencies = _distinct(r, count, 200, 3000, 1000)  # ms, distinct
        accuracies = _distinct(r, count, 8000, 10000, 10000)  # distinct
        cases.append((list(zip(latencies, accuracies, strict=True)),))
    return check_function(pareto_front, reference_pareto_front, cases, "pareto_front")


# --- 3. one REINFORCE update ------------------------------------------------------------------------


def reference_reinforce_step(
    logits: torch.Tensor, choice: int, advantage: float, lr: float, entropy: float = 0.0
) -> torch.Tensor:
    """Gradient ascent on `advantage * log p[choice] + entropy * H(p)`, `p = softmax(logits)`, by autograd."""
    theta = logits.detach().clone().requires_grad_(True)
    log_p = torch.log_softmax(theta, dim=-1)
    objective = advantage * log_p[choice] - entropy * (log_p.exp() * log_p).sum()
    objective.backward()
    return (logits + lr * theta.grad).detach()


def check_reinforce_step(reinforce_step) -> str:
    """`logits + lr * (advantage * (onehot - p) - entropy * p * (log p + H))`, checked by autograd."""
    r = rng("reinforce_step")
    d = torch.float64
    cases = [
        (torch.zeros(4, dtype=d), 1, 1.0, 0.5),  # uniform policy, chosen option rewarded
        (torch.zeros(4, dtype=d), 3, -1.0, 0.5),  # punished
        (torch.tensor([2.0, 0.0, -1.0], dtype=d), 0, 0.0, 0.5),  # no advantage: nothing moves
        (torch.tensor([2.0, 0.0, -1.0], dtype=d), 0, 0.0, 0.5, 1.0),  # ... but the entropy bonus does
        (torch.tensor([0.0, 0.0], dtype=d), 0, 0.0, 1.0, 1.0),  # a uniform policy is the entropy's top
        (torch.tensor([5.0, -5.0], dtype=d), 1, 2.0, 0.1, 0.3),
        (torch.tensor([1.0, 0.5, 0.0, -1.0], dtype=d), 2, 0.7, 0.3),
    ]
    while len(cases) < RANDOM_CASES:
        options = r.randint(2, 6)
        logits = torch.tensor([r.uniform(-3, 3) for _ in range(options)], dtype=d)
        case = (logits, r.randrange(options), round(r.uniform(-2, 2), 3), r.choice((0.05, 0.1, 0.5, 1.0)))
        cases.append(case + ((r.choice((0.1, 0.3, 1.0)),) if r.random() < 0.5 else ()))
    return check_function(reinforce_step, reference_reinforce_step, cases, "reinforce_step")


# --- questions --------------------------------------------------------------------------------------

QUESTIONS = {
    "q_soft_percent": Question(
        "how many percent more accurate a network twice as slow must be for the same soft-constraint reward",
        lambda: 100 * (1 / nas.mnas_reward(1.0, 2.0, 1.0, *nas.SOFT) - 1),
        tolerance=1e-3,
        hint="solve ACC_B * (2 LAT / T)^w = ACC_A * (LAT / T)^w for ACC_B / ACC_A, with w = -0.07",
    ),
    "q_space_b5": Question(
        "how many networks the factorised space of nas.SearchSpace()'s per-block options holds with 5 blocks",
        lambda: nas.SearchSpace().block_size ** 5,
        hint="S^B: the choices per block, to the power of the number of blocks",
    ),
}


check_question = question_checker(QUESTIONS)


# --- plausible wrong answers, each of which its check must reject (tests/test_exercises.py) -------


def _front_by_neighbour(points):
    """Compares each point with the previous one only, not with the best so far."""
    order = sorted(range(len(points)), key=lambda i: points[i][0])
    return [i for k, i in enumerate(order) if k == 0 or points[i][1] > points[order[k - 1]][1]]


def _front_by_index(points):
    """The right points, in input order instead of by latency."""
    return sorted(nas.pareto_front(points))


def _reinforce(logits, choice, advantage, lr, entropy=0.0, sign=1.0, baseline=True):
    p = torch.softmax(logits, dim=-1)
    onehot = torch.zeros_like(p)
    onehot[choice] = 1.0
    log_p = torch.log(p)
    h = -(p * log_p).sum()
    gradient = advantage * (onehot - p) if baseline else advantage * onehot
    return logits + lr * (gradient - sign * entropy * p * (log_p + h))


COMMON_MISTAKES = {
    "mnas_reward": [
        lambda accuracy, latency, target, alpha=-0.07, beta=-0.07: accuracy
        * (latency / target) ** (beta if latency <= target else alpha),  # alpha and beta swapped
        lambda accuracy, latency, target, alpha=-0.07, beta=-0.07: accuracy
        * (target / latency) ** (alpha if latency <= target else beta),  # the ratio upside down
    ],
    "pareto_front": [_front_by_neighbour, _front_by_index],
    "reinforce_step": [
        lambda logits, choice, advantage, lr, entropy=0.0: logits.copy_(
            reference_reinforce_step(logits, choice, advantage, lr, entropy)
        ),  # the right step, written into the policy's logits instead of a new tensor
        lambda logits, choice, advantage, lr, entropy=0.0: _reinforce(
            logits, choice, advantage, lr, entropy, baseline=False
        ),  # only the chosen logit moves: d log p / d logits forgotten
        lambda logits, choice, advantage, lr, entropy=0.0: _reinforce(
            logits, choice, advantage, lr, entropy, sign=-1.0
        ),  # the entropy descended, not climbed
        lambda logits, choice, advantage, lr, entropy=0.0: _reinforce(
            logits, choice, -advantage, lr, entropy
        ),  # gradient descent on the reward
    ],
}
