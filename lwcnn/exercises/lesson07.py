"""Lesson 07's exercises: FLOPs are not latency.

Code exercises, each checked against `lwcnn` on edge cases and random inputs:

- `channel_shuffle(x, groups)`: ShuffleNet's channel shuffle of an `(N, C, H, W)` tensor (checked
  for exact equality with `lwcnn.blocks.channel_shuffle`);
- `memory_access_cost(h, w, c1, c2, groups=1)`: ShuffleNetV2's memory access of a 1x1 conv, in
  elements (checked against `lwcnn.cost.pointwise_memory_access_cost`);
- `ghost_module_macs(m, n, size, ratio=2)`: the multiply-adds of GhostNet's module (checked against
  `lwcnn.blocks.GhostModule(...).cost(size).macs`).

Questions: `q_g2` (spot the error: what ShuffleNetV2's guideline G2 says), `q_bound` (how far a
1:4 layer sits above the memory-access lower bound) and `q_ghost_ratio` (what a Ghost module with
ratio 4 saves).
"""

from __future__ import annotations

import math

import torch

from lwcnn import cost, papers
from lwcnn.blocks import ConvBNAct, GhostModule
from lwcnn.blocks import channel_shuffle as lwcnn_channel_shuffle
from lwcnn.exercises import RANDOM_CASES, Question, ceil_div, check_function, question_checker, rng


def _divisors(value: int) -> list[int]:
    return [d for d in range(1, value + 1) if value % d == 0]


def reference_channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    return lwcnn_channel_shuffle(x, groups)


def _exactly(got, expected) -> bool:
    return isinstance(got, torch.Tensor) and got.shape == expected.shape and torch.equal(got, expected)


def _numbered(r, shape: tuple[int, int, int, int]) -> torch.Tensor:
    """Distinct values in a seeded order: any two channels that trade places show."""
    count = math.prod(shape)
    values = list(range(count))
    r.shuffle(values)
    return torch.tensor(values, dtype=torch.float32).reshape(shape)


def check_channel_shuffle(channel_shuffle) -> str:
    """`groups` groups of C / groups channels, interleaved: the reshape (g, C/g), transpose, flatten."""
    r = rng("channel_shuffle")
    cases = [
        (torch.arange(8.0).view(1, 8, 1, 1), 2),
        (torch.arange(6.0).view(1, 6, 1, 1), 3),
        (torch.arange(12.0).view(1, 12, 1, 1), 3),
        (torch.arange(24.0).view(2, 6, 2, 1), 2),
        (torch.arange(5.0).view(1, 5, 1, 1), 1),
        (torch.arange(5.0).view(1, 5, 1, 1), 5),
    ]
    while len(cases) < RANDOM_CASES:
        channels = r.randint(1, 24)
        shape = (r.randint(1, 3), channels, r.randint(1, 4), r.randint(1, 4))
        cases.append((_numbered(r, shape), r.choice(_divisors(channels))))
    return check_function(channel_shuffle, reference_channel_shuffle, cases, "channel_shuffle", _exactly)


def reference_memory_access_cost(h: int, w: int, c1: int, c2: int, groups: int = 1) -> int:
    return cost.pointwise_memory_access_cost(h, w, c1, c2, groups)


def check_memory_access_cost(memory_access_cost) -> str:
    """`h w (c1 + c2) + c1 c2 / g`: the input map read, the output map written, the weights read."""
    r = rng("memory_access_cost")
    cases = [(56, 56, 128, 128), (56, 56, 90, 180), (56, 56, 180, 180, 2), (56, 56, 360, 360, 8)]
    cases += [(1, 1, 1, 1), (7, 7, 512, 512), (3, 5, 12, 8, 4), (1, 9, 6, 6, 6)]
    while len(cases) < RANDOM_CASES:
        common = r.randint(1, 64)
        groups = r.choice(_divisors(common))
        c1, c2 = common * r.randint(1, 8), common * r.randint(1, 8)
        cases.append((r.randint(1, 64), r.randint(1, 64), c1, c2, groups))
    return check_function(memory_access_cost, reference_memory_access_cost, cases, "memory_access_cost")


def reference_ghost_module_macs(m: int, n: int, size: int, ratio: int = 2) -> int:
    return GhostModule(m, n, ratio=ratio).cost(size).macs


def check_ghost_module_macs(ghost_module_macs) -> str:
    """A 1x1 conv m -> ceil(n / s), then a 3x3 depthwise op making s - 1 ghosts of each of those
    maps, all of them computed before the output is cut to n channels."""
    r = rng("ghost_module_macs")
    cases = [(16, 16, 28), (64, 128, 28), (160, 960, 28), (16, 15, 28), (1, 1, 1), (3, 7, 5, 3), (8, 9, 4, 4)]
    cases += [(24, 10, 7, 5), (5, 1, 3, 2)]
    while len(cases) < RANDOM_CASES:
        cases.append((r.randint(1, 160), r.randint(1, 200), r.randint(1, 56), r.choice((2, 2, 3, 4, 5))))
    return check_function(ghost_module_macs, reference_ghost_module_macs, cases, "ghost_module_macs")


G2_CHOICES = {
    "a": "use group convolutions: they divide a layer's FLOPs by the number of groups",
    "b": "excessive group convolution increases memory access cost: choose the number of groups carefully",
    "c": "replace every group convolution by a depthwise convolution",
    "d": "at a fixed FLOP budget the number of groups does not change the speed",
}


def _g2_answer() -> str:
    """The choice that states the paper's guideline (`papers.SHUFFLENET_V2_GUIDELINES`)."""
    stated = papers.SHUFFLENET_V2_GUIDELINES["G2"].guideline
    return next(letter for letter, text in G2_CHOICES.items() if text.startswith(stated))


def _bound_ratio() -> float:
    macs = cost.pointwise_conv_macs(64, 256, 56)
    return cost.pointwise_memory_access_cost(56, 56, 64, 256) / cost.memory_access_lower_bound(56, 56, macs)


QUESTIONS = {
    "q_g2": Question.multiple_choice(
        "what ShuffleNetV2's guideline G2 says",
        _g2_answer,
        choices=tuple(G2_CHOICES),
        hint="reread section 2 and what the paper's Table 2 measured at a fixed number of multiply-adds",
    ),
    "q_bound": Question(
        "memory access of a 1x1 conv 64 -> 256 at 56x56, as a multiple of ShuffleNetV2's lower bound for its MACs",
        _bound_ratio,
        tolerance=0.005,
        hint="B = h w c1 c2; the bound is 2 sqrt(h w B) + B / (h w); two decimals are enough",
    ),
    "q_ghost_ratio": Question(
        "how many times the MACs of a GhostModule(160, 960, ratio=4) at 28x28 an ordinary 1x1 conv 160 -> 960 needs",
        lambda: ConvBNAct(160, 960, 1).cost(28).macs / GhostModule(160, 960, ratio=4).cost(28).macs,
        tolerance=0.005,
        hint="use your ghost_module_macs; the ordinary conv does 160 x 960 multiply-adds per position",
    ),
}


check_question = question_checker(QUESTIONS)


def _ghost_macs(m: int, size: int, intrinsic: int, ghosts: int, cheap_kernel: int) -> int:
    """A 1x1 conv m -> intrinsic, and `cheap_kernel` multiply-adds per ghost map, per position."""
    return size * size * (m * intrinsic + cheap_kernel * ghosts)


# Plausible wrong answers, each of which its check must reject (tests/test_exercises.py).
COMMON_MISTAKES = {
    "channel_shuffle": [
        # the two axes the other way round: the inverse shuffle
        lambda x, groups: x.reshape(x.shape[0], x.shape[1] // groups, groups, *x.shape[2:])
        .transpose(1, 2)
        .reshape(x.shape),
        # the batch axis forgotten: with several images, their channels get mixed
        lambda x, groups: x.reshape(groups, -1, *x.shape[2:]).transpose(0, 1).reshape(x.shape),
    ],
    "memory_access_cost": [
        # the weights read forgotten
        lambda h, w, c1, c2, groups=1: h * w * (c1 + c2),
        # the groups forgotten in the weights
        lambda h, w, c1, c2, groups=1: h * w * (c1 + c2) + c1 * c2,
    ],
    "ghost_module_macs": [
        # only the ghosts that are kept after the cut to n channels counted
        lambda m, n, size, ratio=2: _ghost_macs(m, size, ceil_div(n, ratio), n - ceil_div(n, ratio), 9),
        # floor(n / s) intrinsic maps instead of ceil(n / s)
        lambda m, n, size, ratio=2: _ghost_macs(
            m, size, max(1, n // ratio), max(1, n // ratio) * (ratio - 1), 9
        ),
        # the cheap op as a dense 3x3 conv from the intrinsic maps
        lambda m, n, size, ratio=2: _ghost_macs(
            m, size, ceil_div(n, ratio), ceil_div(n, ratio) * (ratio - 1), 9 * ceil_div(n, ratio)
        ),
    ],
}
