"""Lesson 10's exercises: differentiable architecture search, FBNet-style.

Code exercises, each checked against `lwcnn.nas` and torch on edge cases and random inputs:

- `gumbel_softmax(logits, tau, uniform, hard=False)`: Gumbel-softmax weights from given uniform
  noise, clamped as `lwcnn.nas.gumbel_softmax` clamps it, with the straight-through one-hot
  variant; the check compares the weights and their gradient;
- `fbnet_loss(ce, latency_ms, alpha=0.2, beta=0.6, unit_ms=1.0)`: FBNet's loss
  `CE * alpha * (log LAT)^beta` with LAT in a chosen unit (`lwcnn.nas.fbnet_loss`);
- `latency_gradient(theta, block_ms, tau=1.0)`: how the expected latency of the lookup table
  moves with the architecture logits, by hand, checked against autograd through
  `lwcnn.nas.SupernetLatency.expected_ms`.

Questions: `q_loss_form` (a source article's version of FBNet's loss, spotted) and
`q_tau_epoch` (when FBNet's temperature schedule drops below 1).
"""

from __future__ import annotations

import math
from unittest import mock

import torch

from lwcnn import nas
from lwcnn.exercises import RANDOM_CASES, Question, check_function, question_checker, rng, smallest

# --- 1. the Gumbel-softmax ----------------------------------------------------------------------------


def reference_gumbel_softmax(
    logits: torch.Tensor, tau: float, uniform: torch.Tensor, hard: bool = False
) -> torch.Tensor:
    """`lwcnn.nas.gumbel_softmax` itself, handed `uniform` where it would draw its noise."""
    with mock.patch.object(torch, "rand", lambda *args, **kwargs: uniform):
        return nas.gumbel_softmax(logits, tau, None, hard)


def _gradient_of(gumbel_softmax):
    """The gradient w.r.t. `logits` of `sum(weights * c)`, c = 1, 2, 3, ... along the last dimension."""

    def gradient(logits: torch.Tensor, tau: float, uniform: torch.Tensor, hard: bool = False) -> torch.Tensor:
        theta = logits.detach().clone().requires_grad_(True)
        weights = gumbel_softmax(theta, tau, uniform, hard)
        (weights * torch.arange(1, logits.shape[-1] + 1, dtype=logits.dtype)).sum().backward()
        return theta.grad

    return gradient


def check_gumbel_softmax(gumbel_softmax) -> str:
    """`softmax((logits + g) / tau)`, `g = -log(-log U)` clamped at the dtype's tiny, and the
    straight-through one-hot for `hard=True`; the weights and their gradient w.r.t. the logits."""
    r = rng("gumbel_softmax")
    d = torch.float64
    toy = torch.tensor([1.0, 0.5, 0.0, -1.0], dtype=d)
    cases = [
        (toy, 1.0, torch.full((4,), 0.5, dtype=d)),  # equal noise: softmax(logits) itself
        (toy, 1.0, torch.tensor([0.2, 0.9, 0.4, 0.6], dtype=d)),
        (toy, 0.1, torch.tensor([0.2, 0.9, 0.4, 0.6], dtype=d)),  # cold: nearly one-hot
        (toy, 10.0, torch.tensor([0.2, 0.9, 0.4, 0.6], dtype=d)),  # hot: nearly uniform
        (toy, 1.0, torch.tensor([0.0, 0.3, 0.6, 0.9], dtype=d)),  # U = 0: clamped, no -inf
        (toy, 1.0, torch.tensor([0.3, 1.0, 0.6, 0.9], dtype=d)),  # U = 1: clamped, no inf
        (toy.float(), 1.0, torch.tensor([0.3, 1.0, 0.6, 0.9])),  # float32: its own tiny
        (toy, 1.0, torch.tensor([0.2, 0.9, 0.4, 0.6], dtype=d), True),  # hard: one-hot forward
        (
            toy.expand(3, 4),
            0.5,
            torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.9, 0.5, 0.5, 0.1], [0.5] * 4], dtype=d),
        ),
    ]
    while len(cases) < RANDOM_CASES:
        shape = (r.randint(2, 6),) if r.random() < 0.5 else (r.randint(1, 4), r.randint(2, 6))
        generator = torch.Generator().manual_seed(r.randrange(10**6))
        logits = 6 * torch.rand(shape, generator=generator, dtype=d) - 3
        uniform = torch.rand(shape, generator=generator, dtype=d)
        tau = round(math.exp(r.uniform(math.log(0.1), math.log(10))), 3)
        cases.append((logits, tau, uniform, r.random() < 0.3))
    done = check_function(gumbel_softmax, reference_gumbel_softmax, cases, "gumbel_softmax")
    if callable(gumbel_softmax):
        check_function(
            _gradient_of(gumbel_softmax),
            _gradient_of(reference_gumbel_softmax),
            cases[:60],
            "the gradient (w.r.t. logits, of sum(weights * [1, 2, 3, ...])) of gumbel_softmax",
        )
    return done + ", and their gradients"


# --- 2. the loss ----------------------------------------------------------------------------------------


def reference_fbnet_loss(
    ce: torch.Tensor,
    latency_ms: torch.Tensor | float,
    alpha: float = nas.FBNET_LOSS[0],
    beta: float = nas.FBNET_LOSS[1],
    unit_ms: float = 1.0,
) -> torch.Tensor:
    return nas.fbnet_loss(ce, latency_ms, alpha, beta, unit_ms)


def check_fbnet_loss(fbnet_loss) -> str:
    """`ce * alpha * (log(latency_ms / unit_ms))^beta`, natural log, for latency_ms / unit_ms > 1."""
    r = rng("fbnet_loss")
    t = torch.tensor
    cases = [
        (t(2.0), 20.0),  # the paper's range: about 20 ms
        (t(2.0), math.e),  # log LAT = 1: only alpha is left
        (t([0.5, 1.0, 2.0]), 20.0),  # a cross entropy per image
        (t(1.0), 1.048, 0.2, 0.6, 0.05),  # the course's unit: 50 us
        (t(1.0), 1.048, 0.2, 0.6, 1e-3),  # microseconds
        (t(1.5), 25.0, 0.2, 0.0),  # beta = 0: latency ignored
        (t(1.5), t(25.0), 0.5, 1.0),  # the latency as a tensor, as the supernet makes it
        (t(1.5, dtype=torch.float64), 3.0, 0.2, 2.0),
    ]
    while len(cases) < RANDOM_CASES:
        unit_ms = r.choice((1.0, 1.0, 0.05, 1e-3, 0.5))
        latency_ms = round(unit_ms * math.exp(r.uniform(0.05, 5)), 6)
        size = r.choice((None, r.randint(1, 8)))
        generator = torch.Generator().manual_seed(r.randrange(10**6))
        ce = 3 * torch.rand(() if size is None else (size,), generator=generator, dtype=torch.float64)
        latency = torch.tensor(latency_ms, dtype=torch.float64) if r.random() < 0.3 else latency_ms
        alpha, beta = round(r.uniform(0.05, 1), 3), round(r.uniform(0, 2), 3)
        cases.append((ce, latency, alpha, beta, unit_ms))
    done = check_function(fbnet_loss, reference_fbnet_loss, cases, "fbnet_loss")
    if callable(fbnet_loss):  # the latency term is there to move theta: its gradient must flow
        check_function(
            _latency_gradient_of(fbnet_loss),
            _latency_gradient_of(reference_fbnet_loss),
            cases[:60],
            "the gradient (w.r.t. latency_ms, of the summed loss) of fbnet_loss",
        )
    return done + ", and its gradient w.r.t. the latency"


def _latency_gradient_of(fbnet_loss):
    """d sum(loss) / d latency_ms, the latency given as a tensor that requires grad (as the
    supernet's expected latency is); None when the loss does not depend on it through autograd."""

    def gradient(ce: torch.Tensor, latency_ms, *settings) -> torch.Tensor | None:
        latency = torch.as_tensor(latency_ms, dtype=torch.float64).detach().clone().requires_grad_(True)
        loss = fbnet_loss(ce, latency, *settings)
        if not isinstance(loss, torch.Tensor) or loss.grad_fn is None:
            return None
        loss.sum().backward()
        return latency.grad

    return gradient


# --- 3. the gradient of the expected latency -------------------------------------------------------


def reference_latency_gradient(
    theta: torch.Tensor, block_ms: list[list[float]], tau: float = 1.0
) -> torch.Tensor:
    """Autograd through `SupernetLatency.expected_ms` at the weights `softmax(theta / tau)`."""
    costs = nas.SupernetLatency(0.0, tuple(tuple(row) for row in block_ms))
    logits = theta.detach().clone().requires_grad_(True)
    costs.expected_ms(torch.softmax(logits / tau, dim=-1)).backward()
    return logits.grad


def check_latency_gradient(latency_gradient) -> str:
    """`p * (block_ms - sum(p * block_ms)) / tau` per block, `p = softmax(theta / tau)`."""
    r = rng("latency_gradient")
    d = torch.float64
    table = [[0.226, 0.222, 0.307, 0.305, 0.354, 0.362], [0.206, 0.202, 0.281, 0.279, 0.306, 0.304]]
    cases = [
        (torch.zeros(2, 6, dtype=d), table),  # uniform weights
        (torch.zeros(1, 3, dtype=d), [[0.5, 0.5, 0.5]]),  # equal latencies: nothing to gain
        (torch.tensor([[2.0, 0.0, -1.0]], dtype=d), [[0.2, 0.3, 0.4]]),
        (torch.tensor([[2.0, 0.0, -1.0]], dtype=d), [[0.2, 0.3, 0.4]], 0.5),  # colder: steeper
        (
            torch.tensor([[0.5, -0.5], [1.0, 1.0], [-2.0, 2.0]], dtype=d),
            [[0.1, 0.3], [0.2, 0.2], [0.3, 0.1]],
            5.0,
        ),
    ]
    while len(cases) < RANDOM_CASES:
        blocks, candidates = r.randint(1, 4), r.randint(2, 6)
        generator = torch.Generator().manual_seed(r.randrange(10**6))
        theta = 4 * torch.rand(blocks, candidates, generator=generator, dtype=d) - 2
        block_ms = [[round(r.uniform(0.1, 0.5), 3) for _ in range(candidates)] for _ in range(blocks)]
        case = (theta, block_ms)
        cases.append(case + ((round(r.uniform(0.2, 5), 2),) if r.random() < 0.6 else ()))
    return check_function(latency_gradient, reference_latency_gradient, cases, "latency_gradient")


# --- questions --------------------------------------------------------------------------------------

QUESTIONS = {
    "q_loss_form": Question.multiple_choice(
        "what is wrong with writing FBNet's loss as CE * alpha * log(LAT^beta)",
        "b",
        hint="log(x^b) = b log x: what is left of beta's effect on how the loss grows with LAT?",
    ),
    "q_tau_epoch": Question(
        "the first whole epoch at which FBNet's temperature 5 * exp(-0.045)^epoch is below 1",
        lambda: smallest(lambda epoch: nas.annealed_temperature(epoch) < 1, start=0),
        hint="solve 5 * exp(-0.045 e) < 1 for e, then take the first whole epoch",
    ),
}


check_question = question_checker(QUESTIONS)


# --- plausible wrong answers, each of which its check must reject (tests/test_exercises.py) -------


def _gumbel(logits, tau, uniform, hard=False, clamp=True, straight_through=True, noise_over_tau=True):
    if clamp:
        tiny = torch.finfo(logits.dtype).tiny
        gumbel = -torch.log((-torch.log(uniform.clamp_min(tiny))).clamp_min(tiny))
    else:
        gumbel = -torch.log(-torch.log(uniform))
    soft = torch.softmax((logits + gumbel) / tau if noise_over_tau else logits / tau + gumbel, dim=-1)
    if not hard:
        return soft
    onehot = torch.zeros_like(soft).scatter_(-1, soft.argmax(dim=-1, keepdim=True), 1.0)
    return onehot - soft.detach() + soft if straight_through else onehot


def _latency_gradient(theta, block_ms, tau=1.0, over_tau=True, centred=True):
    p = torch.softmax(theta / tau, dim=-1)
    ms = torch.tensor(block_ms, dtype=theta.dtype)
    gradient = p * (ms - (p * ms).sum(dim=-1, keepdim=True)) if centred else p * ms
    return gradient / tau if over_tau else gradient


COMMON_MISTAKES = {
    "gumbel_softmax": [
        lambda logits, tau, uniform, hard=False: _gumbel(logits, tau, uniform, hard, clamp=False),
        lambda logits, tau, uniform, hard=False: _gumbel(logits, tau, uniform, hard, noise_over_tau=False),
        lambda logits, tau, uniform, hard=False: _gumbel(logits, tau, uniform, hard, straight_through=False),
    ],
    "fbnet_loss": [
        lambda ce, latency_ms, alpha=0.2, beta=0.6, unit_ms=1.0: ce
        * alpha
        * torch.log(torch.as_tensor(latency_ms / unit_ms) ** beta),  # the source's log(LAT^beta)
        lambda ce, latency_ms, alpha=0.2, beta=0.6, unit_ms=1.0: ce
        * alpha
        * torch.log(torch.as_tensor(latency_ms)) ** beta,  # the unit forgotten
        lambda ce, latency_ms, alpha=0.2, beta=0.6, unit_ms=1.0: ce
        * alpha
        * torch.log10(torch.as_tensor(latency_ms / unit_ms)) ** beta,  # base 10
        lambda ce, latency_ms, alpha=0.2, beta=0.6, unit_ms=1.0: ce
        * alpha
        * math.log(float(latency_ms) / unit_ms) ** beta,  # right values, but no gradient to theta
    ],
    "latency_gradient": [
        lambda theta, block_ms, tau=1.0: _latency_gradient(theta, block_ms, tau, over_tau=False),
        lambda theta, block_ms, tau=1.0: _latency_gradient(theta, block_ms, tau, centred=False),
        lambda theta, block_ms, tau=1.0: torch.tensor(block_ms, dtype=theta.dtype),  # d LAT / d weights
    ],
}
