"""Lesson 04's exercises: one large kernel or a stack of 3x3 ones.

Code exercises, each checked against `lwcnn.cost` and `lwcnn.widgets` on edge cases and random inputs:

- `receptive_field(layers)`: the receptive field of a stack of layers given as kernel sizes or
  `(kernel, stride)` pairs;
- `kernel_costs(m, n, k, size)`: the MACs of one `k x k` separable layer M -> N against the stack
  of 3x3 separable layers with the same receptive field (M -> N, then N -> N), on a
  `size x size` output;
- `crossover(m, k=5)`: the smallest N for which the one `k x k` separable layer is cheaper than
  that stack (`k = 5`: `lwcnn.widgets.kernel_crossover`).

Questions: `q_crossover_100` (the crossover width at M = 100), `q_single_op` (what MnasNet's
Table 6 says 5x5 kernels do) and `q_a1_kernels` (what MnasNet-A1's 5x5 kernels cost in MACs).
"""

from __future__ import annotations

from lwcnn import cost, models, papers
from lwcnn.exercises import RANDOM_CASES, Question, check_function, question_checker, rng, smallest
from lwcnn.widgets import kernel_crossover


def check_receptive_field(receptive_field) -> str:
    """`1 + sum_i (k_i - 1) prod_{j<i} s_j` for layers given as `k` or `(k, s)`."""
    r = rng("receptive_field")
    cases = [
        ([5],),
        ([3, 3],),
        ([3, 3, 3],),
        ([1],),
        ([(3, 2), 3],),
        ([(3, 2), (3, 2), (3, 2)],),
        ([(7, 2), (3, 2), 3, 3],),
        ([3, (1, 2), 3],),  # a strided 1x1 adds nothing itself, but spreads what follows
        ([(5, 1)],),
    ]
    while len(cases) < RANDOM_CASES:
        layers = []
        for _ in range(r.randint(1, 8)):
            kernel = r.choice((1, 2, 3, 3, 5, 7))
            layers.append(kernel if r.random() < 0.4 else (kernel, r.choice((1, 1, 2, 2, 3))))
        cases.append((layers,))
    return check_function(receptive_field, cost.receptive_field, cases, "receptive_field")


def reference_kernel_costs(m: int, n: int, k: int, size: int) -> tuple[int, int]:
    """One k x k separable layer against (k - 1) / 2 stacked 3x3 ones, all at `size x size`."""
    one = cost.depthwise_separable_macs(m, n, k, size)
    depth = (k - 1) // 2
    stack = cost.depthwise_separable_macs(m, n, 3, size) + cost.stacked_separable_macs(
        n, [3] * (depth - 1), size
    )
    if k == 5:
        assert (one, stack) == cost.kernel5_vs_two_kernel3_macs(m, n, size)
    return one, stack


def check_kernel_costs(kernel_costs) -> str:
    """(one k x k separable M -> N, (k - 1) / 2 stacked 3x3 separable M -> N -> ... -> N) MACs."""
    r = rng("kernel_costs")
    cases = [
        (32, 32, 5, 28),
        (4, 4, 5, 28),
        (7, 7, 5, 28),
        (128, 128, 7, 14),  # one 7x7 against three 3x3
        (16, 64, 5, 56),
        (64, 16, 9, 7),
        (1, 1, 3, 1),  # k = 3: the "stack" is one 3x3 layer, the same layer
        (3, 5, 11, 2),
    ]
    while len(cases) < RANDOM_CASES:
        cases.append((r.randint(1, 512), r.randint(1, 512), r.choice((3, 5, 5, 7, 9, 11)), r.randint(1, 56)))
    return check_function(kernel_costs, reference_kernel_costs, cases, "kernel_costs")


def reference_crossover(m: int, k: int = 5) -> int:
    """Solved from `M (k^2 - 9) < ((k - 1) / 2 - 1) N (9 + N)`, then confirmed on lwcnn's cost
    formulas: the stack costs more at N, not at N - 1 (and widgets.kernel_crossover agrees at k = 5)."""
    extra_layers = (k - 1) // 2 - 1
    n = smallest(lambda n: m * (k * k - 9) < extra_layers * n * (9 + n))
    one, stack = reference_kernel_costs(m, n, k, 1)
    assert one < stack and (n == 1 or not (lambda c: c[0] < c[1])(reference_kernel_costs(m, n - 1, k, 1)))
    if k == 5:
        assert n == kernel_crossover(m)
    return n


def check_crossover(crossover) -> str:
    """The smallest N for which one k x k separable layer M -> N has fewer MACs than the 3x3 stack."""
    r = rng("crossover")
    cases = [
        (32,),
        (1,),
        (7,),  # N = 7 ties (16 * 7 = 7 * 16): the 5x5 is cheaper only from N = 8
        (46,),  # another tie, at N = 23
        (8, 5),
        (256, 5),
        (128, 7),
        (1, 7),
        (50, 9),
        (500, 11),
    ]
    ties = [n * (9 + n) // 16 for n in range(1, 200) if n * (9 + n) % 16 == 0]
    cases += [(m,) for m in ties[:6]]
    while len(cases) < RANDOM_CASES:
        m = r.randint(1, 4096)
        cases.append((m,) if r.random() < 0.5 else (m, r.choice((5, 7, 9, 11))))
    return check_function(crossover, reference_crossover, cases, "crossover")


def _a1_kernel_macs() -> int:
    """MnasNet-A1's MACs minus the same network's with every 5x5 depthwise kernel made 3x3."""
    a1 = models.spec("mnasnet_a1")
    as_3x3 = models.spec("mnasnet_a1", table=tuple(row._replace(kernel_size=3) for row in a1.rows))
    return a1.cost().macs - as_3x3.cost().macs


def _single_op_answer() -> str:
    """'b' (5x5 buys accuracy and costs latency, for both expansions), checked on the table."""
    table = papers.MNASNET_SINGLE_OP
    for expansion in ("MBConv3", "MBConv6"):
        (top1_3, ms_3), (top1_5, ms_5) = table[f"{expansion} 3x3 only"], table[f"{expansion} 5x5 only"]
        assert top1_5 > top1_3 and ms_5 > ms_3
    return "b"


QUESTIONS = {
    "q_crossover_100": Question(
        "the smallest N for which one 5x5 separable layer 100 -> N has fewer MACs than two 3x3 ones",
        lambda: kernel_crossover(100),
        hint="the condition is 16 M < N (9 + N); try N around sqrt(1600)",
    ),
    "q_single_op": Question.multiple_choice(
        "what MnasNet's Table 6 shows replacing 3x3 by 5x5 kernels does to a single-layer-type network",
        _single_op_answer,
        hint="compare the two MBConv3 rows, then the two MBConv6 rows, in both columns",
    ),
    "q_a1_kernels": Question(
        "MACs MnasNet-A1 spends on its 5x5 kernels (its MACs minus the all-3x3 network's)",
        _a1_kernel_macs,
        hint="section 5 does this for MobileNetV3-Large: models.spec('mnasnet_a1', table=...)",
    ),
}


check_question = question_checker(QUESTIONS)


def _rf_without_strides(layers) -> int:
    return 1 + sum((layer if isinstance(layer, int) else layer[0]) - 1 for layer in layers)


def _rf_own_stride_too(layers) -> int:
    """The product taken over j <= i: each layer's own stride multiplies its own kernel."""
    field, jump = 1, 1
    for layer in layers:
        kernel, stride = (layer, 1) if isinstance(layer, int) else layer
        jump *= stride
        field += (kernel - 1) * jump
    return field


def _stack_on_m(m, n, k, size) -> tuple[int, int]:
    """Every 3x3 layer of the stack costed as M -> N: the later ones have N inputs."""
    depth = (k - 1) // 2
    return (k * k * m + m * n) * size * size, depth * (9 * m + m * n) * size * size


def _crossover_allowing_ties(m: int, k: int = 5) -> int:
    n = 1
    while True:
        one, stack = reference_kernel_costs(m, n, k, 1)
        if one <= stack:
            return n
        n += 1


# Plausible wrong answers, each of which its check must reject (tests/test_exercises.py).
COMMON_MISTAKES = {
    "receptive_field": [_rf_without_strides, _rf_own_stride_too],
    "kernel_costs": [
        _stack_on_m,
        lambda m, n, k, size: (
            (k * k * m + m * n) * size * size,
            2 * (9 * m + m * n) * size * size,
        ),  # always two
    ],
    "crossover": [
        _crossover_allowing_ties,  # "cheaper or equal"
        lambda m, k=5: kernel_crossover(m),  # the 5x5 answer for every kernel size
    ],
}
