"""Lesson 13's exercises: SqueezeNet, ShuffleNet, ESPNet, GhostNet, EfficientNetV2.

Code exercises, each checked against `lwcnn` on edge cases and random inputs:

- `fire_params(in_channels, squeeze, expand1x1, expand3x3)`: the parameters of SqueezeNet's Fire
  module, biases included (`lwcnn.blocks.Fire(...).cost(1).params`);
- `group_reach(channels, groups, shuffle)`: which input channels each output channel of two
  stacked grouped 1x1 convs depends on, with or without ShuffleNet's channel shuffle between them
  (through torch, with `lwcnn.blocks.channel_shuffle`);
- `esp_macs(channels, branches, size)`: the multiply-adds of ESPNet's ESP module
  (`lwcnn.blocks.ESPModule(channels, channels, branches).cost(size).macs`).

Questions: `q_last_stage` (the MACs MobileNetV3's efficient last stage saves, counted),
`q_fused` (why EfficientNetV2 fuses only its early stages) and `q_hff` (what ESPNet's
hierarchical feature fusion changes).
"""

from __future__ import annotations

import torch
from torch import nn

from lwcnn.blocks import ESPModule, Fire, channel_shuffle
from lwcnn.exercises import RANDOM_CASES, Question, check_function, question_checker, rng

# --- 1. the Fire module's parameters -----------------------------------------------------------------


def reference_fire_params(in_channels: int, squeeze: int, expand1x1: int, expand3x3: int) -> int:
    return Fire(in_channels, squeeze, expand1x1, expand3x3).cost(1).params


def check_fire_params(fire_params) -> str:
    """Squeeze 1x1 conv, then 1x1 and 3x3 expand convs on its output; every conv with a bias."""
    r = rng("fire_params")
    cases = [
        (96, 16, 64, 64),  # SqueezeNet's fire2
        (512, 64, 256, 256),  # fire9
        (1, 1, 1, 1),
        (16, 16, 1, 1),
        (3, 1, 5, 2),
    ]
    while len(cases) < RANDOM_CASES:
        cases.append((r.randint(1, 600), r.randint(1, 96), r.randint(1, 300), r.randint(1, 300)))
    return check_function(fire_params, reference_fire_params, cases, "fire_params")


# --- 2. how far information travels through grouped convs --------------------------------------------


def reference_group_reach(channels: int, groups: int, shuffle: bool) -> list[list[int]]:
    """Two grouped 1x1 convs of ones, a channel shuffle between them or not; 1 where output
    channel i depends on input channel j."""
    first = nn.Conv2d(channels, channels, 1, groups=groups, bias=False)
    second = nn.Conv2d(channels, channels, 1, groups=groups, bias=False)
    with torch.no_grad():
        first.weight.fill_(1.0)
        second.weight.fill_(1.0)
        one_hot = torch.eye(channels).reshape(channels, channels, 1, 1)  # image j: channel j on
        middle = first(one_hot)
        out = second(channel_shuffle(middle, groups) if shuffle else middle)
    return (out.reshape(channels, channels).T > 0).int().tolist()


def _as_rows(value) -> list[list[int]] | None:
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    try:
        rows = [list(row) for row in value]
    except TypeError:
        return None
    if any(v not in (0, 1) for row in rows for v in row):  # a 0/1 matrix (or bools), not path counts
        return None
    return [[int(v) for v in row] for row in rows]


def _same_reach(got, expected) -> bool:
    return _as_rows(got) == expected


def check_group_reach(group_reach) -> str:
    """A `channels x channels` 0/1 matrix (list of lists or tensor), row i = output channel i."""
    r = rng("group_reach")
    cases = [(12, 3, False), (12, 3, True), (8, 2, True), (6, 1, True), (6, 6, True), (6, 6, False)]
    while len(cases) < 60:  # each case is a C x C matrix: fewer, larger cases
        groups = r.choice([1, 2, 3, 4, 6, 8])
        cases.append((groups * r.randint(1, 6), groups, r.random() < 0.5))
    return check_function(group_reach, reference_group_reach, cases, "group_reach", _same_reach)


# --- 3. the ESP module's multiply-adds ---------------------------------------------------------------


def reference_esp_macs(channels: int, branches: int, size: int) -> int:
    return ESPModule(channels, channels, branches).cost(size).macs


def check_esp_macs(esp_macs) -> str:
    """A 1x1 reduce to d = N // K, K dilated 3x3 convs (the first with the remainder), stride 1."""
    r = rng("esp_macs")
    cases = [(20, 5, 8), (64, 4, 16), (5, 5, 1), (7, 2, 3), (33, 5, 10), (128, 1, 4)]
    while len(cases) < RANDOM_CASES:
        branches = r.randint(1, 6)
        cases.append((r.randint(branches, 300), branches, r.randint(1, 64)))
    return check_function(esp_macs, reference_esp_macs, cases, "esp_macs")


# --- questions -----------------------------------------------------------------------------------


def _last_stage_saving_millions() -> float:
    from lwcnn.models.mobilenet_v3 import last_stage_cost

    return (last_stage_cost("original")[1] - last_stage_cost("efficient")[1]) / 1e6


QUESTIONS = {
    "q_last_stage": Question(
        "how many million MACs MobileNetV3-Large's efficient last stage saves over the original one, counted",
        _last_stage_saving_millions,
        tolerance=0.005,
        hint="lwcnn.models.mobilenet_v3.last_stage_cost gives (params, MACs) of each; two decimals are enough",
    ),
    "q_fused": Question.multiple_choice(
        "why EfficientNetV2 uses Fused-MBConv only in its early stages",
        "c",
        hint="compare the recorded latency ratio with the MAC ratio at the first and the last shape",
    ),
    "q_hff": Question.multiple_choice(
        "what ESPNet's hierarchical feature fusion changes",
        "b",
        hint="look at the receptive-field images of the last branch's channels with and without fusion",
    ),
}


check_question = question_checker(QUESTIONS)


# --- plausible wrong answers, each of which its check must reject (tests/test_exercises.py) -------


def _fire_without_biases(in_channels, squeeze, expand1x1, expand3x3):
    return in_channels * squeeze + squeeze * expand1x1 + 9 * squeeze * expand3x3


def _fire_expands_on_the_input(in_channels, squeeze, expand1x1, expand3x3):
    """The expand convs read the module's input, not the squeezed map."""
    return (
        in_channels * squeeze
        + squeeze
        + in_channels * expand1x1
        + expand1x1
        + 9 * in_channels * expand3x3
        + expand3x3
    )


def _fire_3x3_as_1x1(in_channels, squeeze, expand1x1, expand3x3):
    return in_channels * squeeze + squeeze + squeeze * (expand1x1 + expand3x3) + expand1x1 + expand3x3


def _reach_without_shuffle(channels, groups, shuffle):
    return reference_group_reach(channels, groups, False)


def _reach_all_connected(channels, groups, shuffle):
    return [[1] * channels for _ in range(channels)]


def _reach_transposed(channels, groups, shuffle):
    """Row j = input channel j: the matrix the other way round."""
    rows = reference_group_reach(channels, groups, shuffle)
    return [list(column) for column in zip(*rows, strict=True)]


def _reach_path_counts(channels, groups, shuffle):
    """How many paths lead from input j to output i, not whether one does."""
    first = torch.zeros(channels, channels)
    size = channels // groups
    for group in range(groups):
        first[group * size : (group + 1) * size, group * size : (group + 1) * size] = 1
    order = torch.arange(channels).reshape(groups, size).T.flatten() if shuffle else torch.arange(channels)
    return (first @ first[order]).int().tolist()  # A P A, P the shuffle's permutation


def _esp_equal_branches(channels, branches, size):
    """Every branch d = N // K channels: the remainder forgotten."""
    d = channels // branches
    return size * size * (channels * d + branches * 9 * d * d)


def _esp_reduce_to_n(channels, branches, size):
    """No reduction: each branch reads all N channels."""
    d = channels // branches
    first = channels - (branches - 1) * d
    return size * size * (channels * channels + 9 * channels * (first + (branches - 1) * d))


def _esp_dilated_taps(channels, branches, size):
    """A dilated 3x3 counted as a dense kernel of its receptive field, (2d + 1)^2 taps."""
    d = channels // branches
    first = channels - (branches - 1) * d
    widths = [first] + [d] * (branches - 1)
    taps = sum((2 * 2**k + 1) ** 2 * d * width for k, width in enumerate(widths))
    return size * size * (channels * d + taps)


COMMON_MISTAKES = {
    "fire_params": [_fire_without_biases, _fire_expands_on_the_input, _fire_3x3_as_1x1],
    "group_reach": [_reach_without_shuffle, _reach_all_connected, _reach_transposed, _reach_path_counts],
    "esp_macs": [_esp_equal_branches, _esp_reduce_to_n, _esp_dilated_taps],
}
