"""Lesson 01's exercises: what a convolution costs.

Code exercises, each checked against `lwcnn.cost` and torch on edge cases and random inputs:

- `conv_cost(c_in, c_out, k, size, stride=1, groups=1)`: (params, MACs) of a bias-free conv with
  "same" padding on a `size x size` input;
- `smallest_input(out, k, s=1, p=0, d=1)`: the smallest input size that gives an output of
  `out` (the output-size formula run backwards);
- `network_macs(layers, size, in_channels)`: the multiply-adds of a stack of "same"-padded convs,
  checked against torch's own `FlopCounterMode` on the built stack.

Questions: `q_flops` (what FlopCounterMode reports for one grouped conv), `q_resnet` (how many
times MobileNetV2's MACs ResNet-18 needs) and `q_thop_norm` (what thop adds for one BatchNorm).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lwcnn import cost
from lwcnn.counting import count_model
from lwcnn.exercises import RANDOM_CASES, Question, ceil_div, check_function, question_checker, rng, smallest


def _groups(c_in: int, c_out: int, pick) -> int:
    common = math.gcd(c_in, c_out)
    return pick([g for g in range(1, common + 1) if common % g == 0])


def reference_conv_cost(
    c_in: int, c_out: int, k: int, size: int, stride: int = 1, groups: int = 1
) -> tuple[int, int]:
    out = cost.conv2d_output_size(size, k, stride, "same")
    return cost.conv2d_params(c_in, c_out, k, groups), cost.conv2d_macs(c_in, c_out, k, out, groups)


def check_conv_cost(conv_cost) -> str:
    """(params, MACs) of `Conv2d(c_in, c_out, k, stride, padding=k // 2, groups, bias=False)` on a
    `size x size` input, for odd k."""
    r = rng("conv_cost")
    cases = [(3, 32, 3, 224, 2, 1), (32, 32, 3, 112, 1, 32), (64, 128, 1, 56, 1, 1), (64, 128, 3, 28, 2, 4)]
    cases += [(1, 1, 1, 1, 1, 1), (8, 8, 7, 5, 3, 8), (6, 9, 5, 9, 4, 3)]
    while len(cases) < RANDOM_CASES:
        c_in, c_out = r.randint(1, 96), r.randint(1, 96)
        cases.append(
            (
                c_in,
                c_out,
                r.choice((1, 3, 5, 7)),
                r.randint(1, 64),
                r.randint(1, 4),
                _groups(c_in, c_out, r.choice),
            )
        )
    return check_function(conv_cost, reference_conv_cost, cases, "conv_cost")


def reference_smallest_input(out: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Searched with lwcnn's output-size formula, not solved: an independent answer."""
    return smallest(
        lambda size: size + 2 * p >= d * (k - 1) + 1 and cost.conv2d_output_size(size, k, s, p, d) >= out
    )


def check_smallest_input(smallest_input) -> str:
    """The smallest input size D >= 1 for which a conv (k, s, p, d) outputs `out` pixels."""
    r = rng("smallest_input")
    cases = [(112, 3, 2, 1, 1), (7, 1, 1, 0, 1)]  # the MobileNets' first conv, a 1x1 conv
    cases += [(1, 3, 1, 0, 1), (1, 3, 1, 1, 1), (1, 1, 2, 0, 1)]  # a single output pixel
    cases += [(5, 3, 1, 2, 2), (4, 7, 3, 3, 1)]  # a dilated kernel, a large kernel and stride
    while len(cases) < RANDOM_CASES:
        cases.append(
            (r.randint(1, 60), r.choice((1, 2, 3, 5, 7)), r.randint(1, 4), r.randint(0, 3), r.randint(1, 3))
        )
    return check_function(smallest_input, reference_smallest_input, cases, "smallest_input")


def build_stack(layers, in_channels: int) -> nn.Sequential:
    """The network `network_macs` describes: bias-free convs with "same" padding, in order."""
    convs, channels = [], in_channels
    for c_out, k, stride, groups in layers:
        convs.append(nn.Conv2d(channels, c_out, k, stride, padding=k // 2, groups=groups, bias=False))
        channels = c_out
    return nn.Sequential(*convs)


def reference_network_macs(layers, size: int, in_channels: int) -> int:
    """torch's FlopCounterMode on the built stack, halved (2 FLOPs per MAC)."""
    model = build_stack(layers, in_channels)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, in_channels, size, size))
    return counter.get_total_flops() // 2


def check_network_macs(network_macs) -> str:
    """MACs of a stack of convs, each `(out_channels, k, stride, groups)`, on a `size x size` input."""
    r = rng("network_macs")
    cases = [
        ([(32, 3, 2, 1)], 224, 3),
        ([(32, 3, 2, 1), (32, 3, 1, 32), (64, 1, 1, 1)], 224, 3),  # MobileNetV1's first three layers
        ([(8, 5, 3, 1), (8, 3, 2, 8)], 7, 2),
    ]
    while len(cases) < 60:  # each case builds and runs a network: fewer, still random
        in_channels = current = r.randint(1, 12)
        layers = []
        for _ in range(r.randint(1, 5)):
            c_out = r.randint(1, 24)
            layers.append((c_out, r.choice((1, 3, 5)), r.randint(1, 2), _groups(current, c_out, r.choice)))
            current = c_out
        cases.append((layers, r.randint(1, 40), in_channels))
    return check_function(network_macs, reference_network_macs, cases, "network_macs")


QUESTIONS = {
    "q_flops": Question(
        "FLOPs that FlopCounterMode reports for Conv2d(64, 128, 3, stride=2, padding=1, groups=4) on 1x64x56x56",
        lambda: 2 * cost.conv2d_macs(64, 128, 3, cost.conv2d_output_size(56, 3, 2, 1), groups=4),
        hint="the output is 28x28, each group sees 64 / 4 input channels, and a MAC is 2 FLOPs",
    ),
    "q_resnet": Question(
        "how many times the paper-convention MACs of MobileNetV2 torchvision's resnet18 needs at 224",
        lambda: _resnet_ratio(),
        tolerance=0.01,
        hint="count both with count_model(model, (1, 3, 224, 224)) and divide; one decimal is enough",
    ),
    "q_thop_norm": Question(
        "operations thop adds for BatchNorm2d(96) on a 96x112x112 map",
        lambda: count_model(nn.BatchNorm2d(96), (1, 96, 112, 112), convention="thop").macs,
        hint="thop counts 4 per output element of an affine BatchNorm",
    ),
}


def _resnet_ratio() -> float:
    import torchvision

    size = (1, 3, 224, 224)
    resnet = count_model(torchvision.models.resnet18(weights=None), size).macs
    return resnet / count_model(torchvision.models.mobilenet_v2(weights=None), size).macs


check_question = question_checker(QUESTIONS)


# Plausible wrong answers, each of which its check must reject (tests/test_exercises.py).
COMMON_MISTAKES = {
    "conv_cost": [
        lambda c_in, c_out, k, size, stride=1, groups=1: (
            k * k * c_in * c_out,
            k * k * c_in * c_out * size * size,
        ),
        lambda c_in, c_out, k, size, stride=1, groups=1: (
            k * k * (c_in // groups) * c_out,
            k * k * (c_in // groups) * c_out * (size // stride) ** 2,  # floor instead of ceil
        ),
    ],
    "smallest_input": [
        lambda out, k, s=1, p=0, d=1: (out - 1) * s + k - 2 * p,  # dilation forgotten
        lambda out, k, s=1, p=0, d=1: (out - 1) * s + d * (k - 1) + 1 - 2 * p,  # can go below 1
    ],
    "network_macs": [
        lambda layers, size, in_channels: sum(k * k * c * size * size for c, k, _, _ in layers),
        lambda layers, size, in_channels: _macs_ignoring_groups(layers, size, in_channels),
    ],
}


def _macs_ignoring_groups(layers, size, in_channels):
    total, channels = 0, in_channels
    for c_out, k, stride, _ in layers:
        size = ceil_div(size, stride)
        total += k * k * channels * c_out * size * size
        channels = c_out
    return total
