"""Lesson 12's exercises: quantization and Deep Compression.

Code exercises, each checked against `lwcnn.quant` (itself held to torch's observers and
kernels) on edge cases and random inputs:

- `scale_and_zero_point(x_min, x_max, bits, symmetric)`: the grid's parameters from a range, as
  PyTorch's MinMax observer computes them (`lwcnn.quant.qparams_from_range`);
- `fold(weight, conv_bias, mean, var, gamma, beta, eps)`: a BatchNorm folded into the conv before
  it (`lwcnn.quant.fold_batchnorm`);
- `huffman_bits(counts)`: the exact size in bits of the Huffman-coded indices
  (`lwcnn.quant.huffman_lengths`).

Questions: `q_zero_share` (how much of the depthwise layer per-tensor 8 bits turns into zeros,
from the widget's summary), `q_thin` (why a thin MobileNet compresses less than AlexNet) and
`q_batch1` (why int8 gains less at batch 1).
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from lwcnn.exercises import RANDOM_CASES, Question, check_function, question_checker, rng

# --- 1. scale and zero point from a range ------------------------------------------------------------


def reference_scale_and_zero_point(
    x_min: float, x_max: float, bits: int, symmetric: bool
) -> tuple[float, int]:
    from lwcnn.quant import Scheme, qparams_from_range

    scale, zero_point = qparams_from_range(x_min, x_max, Scheme(bits, symmetric))
    return float(scale), int(zero_point)


def _clear_of_ties(x_min: float, x_max: float, bits: int, symmetric: bool) -> bool:
    """True when the zero point's rounding is far from a .5 tie, where float32 and float64 may disagree."""
    if symmetric:
        return True
    low, high = min(x_min, 0.0), max(x_max, 0.0)
    scale = (high - low) / (2**bits - 1)
    if scale <= 1e-6:
        return False
    fraction = (-low / scale) % 1
    return abs(fraction - 0.5) > 1e-3


def _compare_grid(got, expected) -> bool:
    if not isinstance(got, tuple | list) or len(got) != 2:
        return False
    scale, zero_point = got
    if (
        isinstance(zero_point, torch.Tensor)
        and zero_point.numel() == 1
        and not zero_point.is_floating_point()
    ):
        zero_point = zero_point.item()
    if isinstance(zero_point, bool) or not isinstance(zero_point, numbers.Integral):
        return False  # a zero point is an integer code: 85.0 or "85" is not one
    try:
        return math.isclose(float(scale), expected[0], rel_tol=1e-5) and zero_point == expected[1]
    except (TypeError, ValueError):
        return False


def check_scale_and_zero_point(scale_and_zero_point) -> str:
    """(scale, zero_point) of a `bits` grid over [x_min, x_max], widened to hold 0, as torch's MinMax observer."""
    r = rng("scale_and_zero_point")
    cases = [
        (-1.0, 2.0, 8, False),  # the formula's worked example: scale 3/255, zero point 85
        (-1.0, 2.0, 8, True),  # symmetric: max |x| / 127.5, zero point 0
        (0.0, 6.0, 8, False),  # a ReLU6's output: zero point 0
        (0.5, 6.0, 8, False),  # the range must hold 0: [0, 6], not [0.5, 6]
        (-3.0, -0.5, 4, False),  # all negative: [-3, 0], zero point at the top
        (-0.3, 0.2, 2, True),  # two bits
        (-5.0, 5.0, 3, False),
    ]
    while len(cases) < RANDOM_CASES:
        spread = 10 ** r.uniform(-3, 2)
        x_min, x_max = sorted(r.uniform(-spread, spread) for _ in range(2))
        case = (round(x_min, 4), round(x_max, 4), r.randint(2, 8), r.random() < 0.5)
        if _clear_of_ties(*case):
            cases.append(case)
    return check_function(
        scale_and_zero_point, reference_scale_and_zero_point, cases, "scale_and_zero_point", _compare_grid
    )


# --- 2. BatchNorm folding ----------------------------------------------------------------------------


def reference_fold(weight, conv_bias, mean, var, gamma, beta, eps):
    from lwcnn.quant import fold_batchnorm

    out_channels, in_per_group = weight.shape[:2]
    groups = 1 if in_per_group != 1 or out_channels == 1 else out_channels
    conv = nn.Conv2d(
        in_per_group * groups, out_channels, weight.shape[2:], groups=groups, bias=conv_bias is not None
    )
    norm = nn.BatchNorm2d(out_channels, eps=eps).eval()
    with torch.no_grad():
        conv.weight.copy_(weight)
        if conv_bias is not None:
            conv.bias.copy_(conv_bias)
        norm.running_mean.copy_(mean)
        norm.running_var.copy_(var)
        norm.weight.copy_(gamma)
        norm.bias.copy_(beta)
    folded = fold_batchnorm(conv, norm)
    return folded.weight.detach(), folded.bias.detach()


def _close_pair(got, expected) -> bool:
    if not isinstance(got, tuple | list) or len(got) != 2:
        return False
    return all(
        isinstance(a, torch.Tensor)
        and a.shape == b.shape
        and torch.allclose(a.float(), b, rtol=1e-4, atol=1e-5)
        for a, b in zip(got, expected, strict=True)
    )


def check_fold(fold) -> str:
    """(weight, bias) of one conv computing BatchNorm(conv(x)) in eval mode, depthwise or not."""
    r = rng("fold")
    generator = torch.Generator().manual_seed(0)

    def case(out_channels, in_per_group, kernel, with_bias, eps=1e-5):
        def draw(*shape, low=-1.0, high=1.0):
            return torch.rand(*shape, generator=generator) * (high - low) + low

        weight = draw(out_channels, in_per_group, kernel, kernel)
        bias = draw(out_channels) if with_bias else None
        var = draw(out_channels, low=0.01, high=4.0)
        return (
            weight,
            bias,
            draw(out_channels),
            var,
            draw(out_channels, low=0.1, high=2.0),
            draw(out_channels),
            eps,
        )

    cases = [
        case(4, 3, 3, False),  # a plain conv, no bias (as before every BatchNorm)
        case(8, 1, 3, False),  # depthwise: one input channel per output channel
        case(5, 2, 1, True),  # a conv with its own bias
        case(1, 1, 1, False, eps=1e-3),  # one channel, another eps
    ]
    while len(cases) < RANDOM_CASES // 4:
        cases.append(
            case(r.randint(1, 16), r.choice([1, r.randint(1, 8)]), r.choice([1, 3, 5]), r.random() < 0.3)
        )
    return check_function(fold, reference_fold, cases, "fold", _close_pair)


# --- 3. Huffman-coded size ---------------------------------------------------------------------------


def reference_huffman_bits(counts: dict) -> int:
    from lwcnn.quant import huffman_lengths

    lengths = huffman_lengths(counts)
    return sum(counts[symbol] * length for symbol, length in lengths.items())


def check_huffman_bits(huffman_bits) -> str:
    """sum(count * code length) of a Huffman code built from the counts (0-count symbols skipped)."""
    r = rng("huffman_bits")
    cases = [
        ({0: 10},),  # one symbol: still 1 bit each
        ({0: 5, 1: 5},),  # two symbols: 1 bit each
        ({0: 1, 1: 1, 2: 1, 3: 1},),  # equal counts: 2 bits each
        ({0: 8, 1: 4, 2: 2, 3: 1, 4: 1},),  # powers of two: lengths 1, 2, 3, 4, 4
        ({0: 100, 1: 1, 2: 0},),  # a symbol that never occurs takes no code
        ({"a": 3, "b": 3, "c": 2, "d": 1},),
    ]
    while len(cases) < RANDOM_CASES:
        symbols = r.randint(1, 32)
        cases.append(
            (
                {s: r.choice([0, r.randint(1, 5), r.randint(1, 1000)]) for s in range(symbols)}
                | {0: r.randint(1, 50)},
            )
        )
    return check_function(huffman_bits, reference_huffman_bits, cases, "huffman_bits")


# --- questions ---------------------------------------------------------------------------------------


def _zero_share() -> float:
    from lwcnn import prune, quant, widgets
    from lwcnn.paths import QUANTIZATION_CHECKPOINT

    folded = quant.fold_network(prune.load_pruned(QUANTIZATION_CHECKPOINT).model.eval())
    layer = next(iter(widgets.layer_choices(folded).values()))  # the depthwise layer the widget opens on
    return 100 * widgets.quant_grid_summary(folded, layer, 8, per_channel=False, symmetric=True)["zero_share"]


QUESTIONS = {
    "q_zero_share": Question(
        "the percentage of the widget's depthwise layer's weights that per-tensor symmetric 8 bits turns into 0",
        _zero_share,
        tolerance=0.01,
        hint="set the widget to 8 bits, per channel off, symmetric on, and read 'weights that became 0'",
    ),
    "q_thin": Question.multiple_choice(
        "why a thin MobileNet compresses less than AlexNet under Deep Compression",
        lambda: "c",
        hint="where do AlexNet's weights sit, and how redundant are they compared with a network already made small?",
    ),
    "q_batch1": Question.multiple_choice(
        "why int8 speeds up batch 32 more than batch 1",
        lambda: "b",
        hint="at batch 1 each layer's work is small; what does int8 add to every layer that does not shrink with the batch?",
    ),
}


check_question = question_checker(QUESTIONS)


# --- plausible wrong answers, each of which its check must reject (tests/test_exercises.py) -------


def _grid_without_zero(x_min, x_max, bits, symmetric):
    """The range not widened to hold 0."""
    q_min, q_max = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if symmetric else (0, 2**bits - 1)
    if symmetric:
        return max(abs(x_min), abs(x_max)) / ((q_max - q_min) / 2), 0
    scale = max((x_max - x_min) / (q_max - q_min), 1e-9)
    return scale, min(max(q_min - round(x_min / scale), q_min), q_max)


def _grid_with_2_to_the_b(x_min, x_max, bits, symmetric):
    """2^b steps instead of 2^b - 1."""
    low, high = min(x_min, 0.0), max(x_max, 0.0)
    if symmetric:
        return max(-low, high) / 2 ** (bits - 1), 0
    scale = (high - low) / 2**bits
    return scale, int(-round(low / scale))


def _grid_symmetric_over_q_max(x_min, x_max, bits, symmetric):
    """Symmetric grids divided by q_max (127) rather than (q_max - q_min) / 2 (127.5), as torch does."""
    low, high = min(x_min, 0.0), max(x_max, 0.0)
    if symmetric:
        return max(-low, high) / (2 ** (bits - 1) - 1), 0
    scale = (high - low) / (2**bits - 1)
    return scale, int(-round(low / scale))


def _fold_without_root(weight, conv_bias, mean, var, gamma, beta, eps):
    scale = gamma / (var + eps)
    bias = conv_bias if conv_bias is not None else torch.zeros_like(mean)
    return weight * scale.reshape(-1, 1, 1, 1), scale * (bias - mean) + beta


def _fold_without_mean(weight, conv_bias, mean, var, gamma, beta, eps):
    scale = gamma / torch.sqrt(var + eps)
    bias = conv_bias if conv_bias is not None else torch.zeros_like(mean)
    return weight * scale.reshape(-1, 1, 1, 1), scale * bias + beta


def _fold_bias_unscaled(weight, conv_bias, mean, var, gamma, beta, eps):
    scale = gamma / torch.sqrt(var + eps)
    bias = conv_bias if conv_bias is not None else torch.zeros_like(mean)
    return weight * scale.reshape(-1, 1, 1, 1), bias - mean * scale + beta


def _fixed_length_bits(counts):
    present = [c for c in counts.values() if c > 0]
    return sum(present) * max(1, math.ceil(math.log2(len(present))))


def _entropy_bits(counts):
    present = [c for c in counts.values() if c > 0]
    total = sum(present)
    return math.ceil(-sum(c * math.log2(c / total) for c in present))


def _lone_symbol_free(counts):
    present = {s: c for s, c in counts.items() if c > 0}
    return 0 if len(present) == 1 else reference_huffman_bits(present)


COMMON_MISTAKES = {
    "scale_and_zero_point": [
        _grid_without_zero,
        _grid_with_2_to_the_b,
        _grid_symmetric_over_q_max,
        # the right grid, its zero point left a float: a code is an integer
        lambda x_min, x_max, bits, symmetric: (lambda scale, zero: (scale, float(zero)))(
            *reference_scale_and_zero_point(x_min, x_max, bits, symmetric)
        ),
    ],
    "fold": [_fold_without_root, _fold_without_mean, _fold_bias_unscaled],
    "huffman_bits": [_fixed_length_bits, _entropy_bits, _lone_symbol_free],
}
