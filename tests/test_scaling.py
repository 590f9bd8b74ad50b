"""lwcnn.scaling: compound scaling, its grid and inverse, TinyNet's samples and GPs, the trained table.

Oracles: exact fractions and brute force for the grid, hand-written layer counts, torch's
FlopCounterMode and parameter count for the scaled networks, a known smooth function for the GPs.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import counted_macs, counted_params

from lwcnn import models
from lwcnn import scaling as S

positive = st.floats(0.05, 5.0)
at_least_one = st.floats(1.0, 2.0)


@given(d=positive, w=positive, r=positive)
def test_flops_factor_is_d_w2_r2(d, w, r):
    assert S.flops_factor(d, w, r) == pytest.approx(d * w**2 * r**2, rel=1e-12)
    # doubling depth doubles it, doubling width or resolution quadruples it
    assert S.flops_factor(2 * d, w, r) == pytest.approx(2 * S.flops_factor(d, w, r), rel=1e-12)
    assert S.flops_factor(d, 2 * w, r) == pytest.approx(4 * S.flops_factor(d, w, r), rel=1e-12)
    assert S.flops_factor(d, w, 2 * r) == pytest.approx(4 * S.flops_factor(d, w, r), rel=1e-12)


@given(phi=st.floats(-4, 4), psi=st.floats(-4, 4), a=at_least_one, b=at_least_one, g=at_least_one)
def test_compound_multipliers_are_powers_and_flops_grow_as_the_product_to_phi(phi, psi, a, b, g):
    m = S.compound_multipliers(phi, a, b, g)
    assert m == pytest.approx((a**phi, b**phi, g**phi), rel=1e-12)
    assert S.flops_factor(*m) == pytest.approx((a * b * b * g * g) ** phi, rel=1e-9)
    both = S.compound_multipliers(phi + psi, a, b, g)
    assert both == pytest.approx(
        [x * y for x, y in zip(m, S.compound_multipliers(psi, a, b, g), strict=True)]
    )


def test_the_papers_values():
    assert S.compound_multipliers(0) == (1.0, 1.0, 1.0)
    assert S.compound_multipliers(1) == pytest.approx((1.2, 1.1, 1.15))
    assert S.flops_factor(*S.compound_multipliers(1)) == pytest.approx(1.2 * 1.21 * 1.3225)  # 1.92, "about 2"
    assert S.inverse_compound_phi(2) == pytest.approx(math.log(2) / math.log(1.92027))


@pytest.mark.parametrize(("step", "tolerance"), [(0.1, 0.1), (0.1, 0.05), (0.05, 0.02), (0.25, 0.3)])
def test_the_grid_is_every_lattice_point_meeting_the_constraint(step, tolerance):
    grid = S.compound_grid(step, tolerance)
    # brute force in exact arithmetic, an independent enumeration
    q, tol = Fraction(step).limit_denominator(1000), Fraction(tolerance).limit_denominator(1000)
    lattice = [1 + i * q for i in range(int(1 / q) + 1)]
    expected = [
        (a, b, g) for a, b, g in itertools.product(lattice, repeat=3) if abs(a * b * b * g * g - 2) <= tol
    ]
    assert [tuple(map(float, t)) for t in expected] == [tuple(m) for m in grid]
    for a, b, g in grid:
        assert min(a, b, g) >= 1 and abs(a * b * b * g * g - 2) <= tolerance + 1e-12
    assert len(set(grid)) == len(grid) > 0


def test_the_paper_triple_is_on_the_fine_grid():
    assert S.Multipliers(1.2, 1.1, 1.15) in S.compound_grid(0.05, 0.1)
    assert S.Multipliers(1.2, 1.1, 1.15) not in S.compound_grid(0.05, 0.05)  # 1.92 is 0.08 from 2


@given(c=st.floats(0.05, 4.0), a=st.floats(1.01, 2.0), b=at_least_one, g=at_least_one)
def test_inverse_compound_scaling_inverts_compound_scaling(c, a, b, g):
    phi = S.inverse_compound_phi(c, a, b, g)
    assert S.flops_factor(*S.compound_multipliers(phi, a, b, g)) == pytest.approx(c, rel=1e-9)
    assert S.inverse_compound_multipliers(c, a, b, g) == pytest.approx(S.compound_multipliers(phi, a, b, g))
    assert (phi < 0) == (c < 1)
    # and back: the budget of phi gives phi again
    assert S.inverse_compound_phi(
        S.flops_factor(*S.compound_multipliers(phi, a, b, g)), a, b, g
    ) == pytest.approx(phi, abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(c=st.floats(0.1, 1.0), count=st.integers(1, 20), seed=st.integers(0, 2**20))
def test_tinynet_samples_meet_the_budget_inside_their_ranges(c, count, seed):
    samples = S.tinynet_samples(c, count, seed, resolution_range=(0.4, 1.0), depth_range=(0.4, 1.2))
    assert len(samples) == count
    for d, w, r in samples:
        assert r**2 * w**2 * d == pytest.approx(c, rel=1e-9)
        assert 0.4 <= r <= 1.0 and 0.4 <= d <= 1.2 and 0.5 <= w <= 1.5
        assert w == pytest.approx(math.sqrt(c / (r * r * d)))
    assert samples == S.tinynet_samples(c, count, seed, resolution_range=(0.4, 1.0), depth_range=(0.4, 1.2))


def test_tinynet_samples_depend_on_the_seed_and_obey_accept():
    assert S.tinynet_samples(0.5, 5, 0) != S.tinynet_samples(0.5, 5, 1)
    deep = S.tinynet_samples(0.5, 10, 0, accept=lambda m: m.depth > 1.2)
    assert all(m.depth > 1.2 for m in deep)


def test_real_budget_sampling_keeps_the_rounded_network_within_tolerance():
    base = S.digits_base()
    samples = S.tinynet_samples(
        0.5,
        4,
        0,
        accept=lambda m: abs(S.real_flops_factor(base, m) / 0.5 - 1) <= 0.1,
        width_rule=lambda c, d, r: S.real_budget_width(base, c, d, r),
    )
    for m in samples:
        assert m.width in S.WIDTH_STEPS
        nearest = min(abs(S.real_flops_factor(base, (m.depth, w, m.resolution)) - 0.5) for w in S.WIDTH_STEPS)
        assert abs(S.real_flops_factor(base, m) - 0.5) == nearest <= 0.05


def test_real_budget_phi_is_the_nearest_on_its_grid():
    base = S.digits_base()
    phi = S.real_budget_phi(base, 0.5)
    assert phi in S.PHI_STEPS
    miss = abs(S.real_flops_factor(base, S.compound_multipliers(phi)) - 0.5)
    assert all(
        miss <= abs(S.real_flops_factor(base, S.compound_multipliers(p)) - 0.5) for p in S.PHI_STEPS[::7]
    )
    # rounding up (channels, blocks, pixels) makes small networks dearer: phi must go lower than log c / log 1.92
    assert phi < S.inverse_compound_phi(0.5)


def test_the_gp_recovers_a_known_smooth_function():
    rng = np.random.default_rng(0)
    c = np.repeat([0.2, 0.35, 0.5, 0.65, 0.8, 0.95], 4)
    r_true = lambda x: 0.5 + 0.5 * np.sqrt(x)  # noqa: E731
    d_true = lambda x: x**0.3  # noqa: E731
    gp = S.fit_tinynet_gp(
        c, r_true(c) + rng.normal(0, 0.01, c.shape), d_true(c) + rng.normal(0, 0.01, c.shape)
    )
    held_out = np.array([0.3, 0.45, 0.6, 0.75])
    p = gp.predict(held_out)
    assert p["resolution"] == pytest.approx(r_true(held_out), abs=0.02)
    assert p["depth"] == pytest.approx(d_true(held_out), abs=0.02)
    assert np.all(p["resolution_std"] < 0.05) and np.all(p["depth_std"] < 0.05)
    far = gp.predict(3.0)  # far outside the data: the GP says it does not know
    assert far["resolution_std"][0] > 3 * p["resolution_std"].max()
    d, w, r = gp.recommend(0.6)
    assert (d, r) == pytest.approx((p["depth"][2], p["resolution"][2]))
    assert r * r * w * w * d == pytest.approx(0.6)


def test_best_per_budget_keeps_the_top_rows_of_each_budget():
    rows = [S.ScalingRow("tinynet", c, S.Multipliers(1, 1, 1), 8, 1, 1, (acc,)) for c, acc in
            [(0.5, 0.9), (0.25, 0.8), (0.5, 0.95), (0.25, 0.7), (0.5, 0.92), (0.25, 0.85)]]  # fmt: skip
    assert S.best_per_budget(rows, 2) == [rows[1], rows[2], rows[4], rows[5]]
    assert S.best_per_budget(rows, 10) == rows


# --- the scaled networks: rounding, measured against torch ------------------------------------------


@settings(max_examples=8, deadline=None)
@given(d=st.floats(0.3, 2.0), w=st.floats(0.3, 1.6), r=st.floats(0.3, 1.5))
def test_scaled_networks_cost_what_torch_counts(d, w, r):
    base = S.digits_base()
    spec = S.scaled_spec(base, (d, w, r))
    model = spec.build().eval()
    macs, logits = counted_macs(model, torch.zeros(1, 1, spec.resolution, spec.resolution))
    cost = models.cost(spec)
    assert (cost.macs, cost.params) == (macs, counted_params(model))
    assert tuple(logits.shape) == (1, 10)
    base_macs, _ = counted_macs(base.build(), torch.zeros(1, 1, 24, 24))
    assert S.real_flops_factor(base, (d, w, r)) == pytest.approx(macs / base_macs, rel=1e-12)


def test_rounding_by_hand():
    base = S.digits_base()
    # depth 1.5: ceil(1.5 * n) blocks for n = 1, 2, 3
    model = S.scaled_spec(base, (1.5, 1.0, 1.0)).build()
    assert [len(stage) for stage in model.features[1:4]] == [2, 3, 5]
    assert [len(stage) for stage in S.digits_base().build().features[1:4]] == [1, 2, 3]
    # width 0.75: make_divisible(c * 0.75, 8) of the stem 32 and rows 16, 24, 32: 24, 12 -> 16,
    # 18 -> 16 but that is more than 10% down, so 24; 24
    spec = S.scaled_spec(base, (1.0, 0.75, 1.0))
    assert [stage.layers[-1].out_channels for stage in spec.stages()[:4]] == [24, 16, 24, 24]
    # resolution: whole pixels, halves up
    assert [S.scaled_resolution(24, r) for r in (0.5, 1.15, 1.0625, 0.3125)] == [12, 28, 26, 8]
    # so the FLOPs factor is not d w^2 r^2: depth 1.2 makes 1, 2, 3 blocks 2, 3, 4 and costs more
    # than 1.2x; width 0.75 costs more than 0.5625x
    assert [len(stage) for stage in S.scaled_spec(base, (1.2, 1, 1)).build().features[1:4]] == [2, 3, 4]
    assert S.real_flops_factor(base, (1.2, 1, 1)) > 1.3
    assert S.real_flops_factor(base, (1, 0.75, 1)) > 0.75**2


def test_the_base_network():
    base = S.digits_base()
    assert (base.in_channels, base.num_classes, base.input_resolution) == (1, 10, 24)
    assert S.scaled_spec(base, (1, 1, 1)) == base
    assert S.real_flops_factor(base, (1, 1, 1)) == 1


def test_imagenet_released_multipliers_are_smaller_than_alpha_to_the_phi():
    rows = S.imagenet_comparison()
    assert [row["name"] for row in rows] == [f"efficientnet_b{k}" for k in range(4)]
    b1 = rows[1]
    assert b1["released"] == pytest.approx((1.1, 1.0, 240 / 224))
    assert b1["compound"] == pytest.approx((1.2, 1.1, 1.15))
    assert b1["compound_resolution"] == 258  # 224 * 1.15 = 257.6
    for row in rows[1:]:
        assert row["released_factor"] < row["compound_factor"] < row["two_to_phi"]
        assert row["compound_factor"] == pytest.approx(1.9203 ** row["phi"], rel=1e-4)
    # B0 at 224 from the oracle's reference figure, B3 by hand: 300/224 and 1.2, 1.4
    assert rows[0]["released_macs_ratio"] == 1
    assert rows[3]["released_factor"] == pytest.approx(1.4 * 1.2**2 * (300 / 224) ** 2)


# --- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: S.flops_factor(0, 1, 1), "depth must be a positive finite number"),
        (lambda: S.flops_factor(1, float("nan"), 1), "width must be"),
        (lambda: S.compound_multipliers(1, alpha=0.9), "alpha must be >= 1"),
        (lambda: S.compound_multipliers(float("inf")), "phi must be a finite number"),
        (lambda: S.compound_grid(step=0), "step must be a positive"),
        (lambda: S.compound_grid(tolerance=-1), "tolerance must be a number >= 0"),
        (lambda: S.compound_grid(high=0.5), "high must be >= 1"),
        (lambda: S.inverse_compound_phi(-0.5), "budget must be a positive"),
        (lambda: S.inverse_compound_phi(0.5, 1, 1, 1), "alpha \\* beta\\^2 \\* gamma\\^2 must be > 1"),
        (lambda: S.tinynet_samples(0.5, 0), "count must be a positive integer"),
        (lambda: S.tinynet_samples(0.5, 3, seed=-1), "seed must be a non-negative integer"),
        (lambda: S.tinynet_samples(0.5, 3, depth_range=(1.0, 0.5)), "depth_range must have low <= high"),
        (
            lambda: S.tinynet_samples(0.5, 3, resolution_range=1),
            "resolution_range must be a \\(low, high\\) pair",
        ),
        (lambda: S.tinynet_samples(50.0, 3, max_draws=200), "only 0 of count=3 samples met budget=50.0"),
        (lambda: S.tinynet_samples(0.5, 3, max_draws=0), "max_draws must be an integer >= count=3"),
        (lambda: S.tinynet_samples(0.5, 3, max_draws=2.5), "max_draws must be an integer"),
        (lambda: S.compound_multipliers(1e6), "phi=1000000.0 scales past what a float holds"),
        (lambda: S.scaled_resolution(0, 1.0), "base_resolution"),
        (lambda: S.real_budget_phi(S.digits_base(), 2.0), "budget=2.0 needs phi = 1.06.*outside phis"),
        (lambda: S.fit_tinynet_gp([0.5], [1], [1]), "at least 2"),
        (lambda: S.fit_tinynet_gp([0.5, 0.6], [1], [1, 1]), "resolutions must have one value per budget"),
        (lambda: S.best_per_budget([], 0), "top must be a positive integer"),
        (lambda: S.rows_of([], "widths"), "experiment='widths' is unknown; allowed: base, width"),
        (
            lambda: S.scaled_spec(models.spec("mobilenet_v2"), (1, 1, 1)),
            "base must be a lwcnn.models.EfficientNet",
        ),
        (
            lambda: S.scaled_spec(S.digits_base(), (1, 1)),
            "multipliers must be \\(depth, width, resolution\\)",
        ),
    ],
)
def test_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_resolution_is_a_whole_number_of_pixels():
    with pytest.raises(TypeError, match="base_resolution must be an int"):
        S.scaled_resolution(24.5, 1.0)


def test_a_missing_table_says_how_to_build_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="benchmarks/scaling_build.py"):
        S.load_table(tmp_path / "none.csv")


# --- the trained table ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def table():
    return S.load_table()


def test_the_table_costs_what_its_multipliers_build(table):
    assert {row.experiment for row in table} == set(S.EXPERIMENTS)
    base = S.digits_base()
    for row in table:
        spec = S.scaled_spec(base, row.multipliers)
        cost = models.cost(spec)
        assert (row.image_size, row.params, row.macs) == (spec.resolution, cost.params, cost.macs)
        assert len(row.accuracies) == 3 and all(0 <= a <= 1 for a in row.accuracies)  # every network, 3 seeds


def test_the_tables_experiments_are_what_the_build_says(table):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import scaling_build as B

    base = S.digits_base()
    (only_base,) = S.rows_of(table, "base")
    assert only_base.multipliers == (1, 1, 1) and only_base.macs == models.cost(base).macs
    for dimension, values in B.CURVES.items():
        rows = S.rows_of(table, dimension)
        assert [getattr(row.multipliers, dimension) for row in rows] == list(values)
        assert all(sum(m != 1 for m in row.multipliers) == 1 for row in rows)
    grid = S.rows_of(table, "grid")
    assert [row.multipliers for row in grid] == S.compound_grid(B.GRID_STEP, B.GRID_TOLERANCE)
    samples = S.rows_of(table, "tinynet")
    assert sorted({row.budget for row in samples}) == list(B.TINYNET_BUDGETS)
    for row in samples:
        assert abs(row.macs / only_base.macs / row.budget - 1) <= B.REAL_TOLERANCE
    # the GP recommendations follow from the table's own samples
    best = S.best_per_budget(samples, B.TOP)
    gp = S.fit_tinynet_gp(
        [r.budget for r in best],
        [r.multipliers.resolution for r in best],
        [r.multipliers.depth for r in best],
    )
    recommended = S.rows_of(table, "tinynet_gp")
    inverse = S.rows_of(table, "inverse_compound")
    assert [row.budget for row in recommended] == [row.budget for row in inverse] == list(B.HELD_OUT_BUDGETS)
    for row in recommended:
        d, _, r = gp.recommend(row.budget)
        assert (row.multipliers.depth, row.multipliers.resolution) == pytest.approx((d, r), rel=1e-6)
    for row in inverse:
        assert row.multipliers == pytest.approx(S.compound_multipliers(S.real_budget_phi(base, row.budget)))


def test_train_scaled_trains_the_scaled_network_at_its_own_input_side(monkeypatch):
    monkeypatch.setattr(S, "TRAINING_RECIPE", {**S.TRAINING_RECIPE, "epochs": 1})
    seen = []
    original = S.scaled_spec
    monkeypatch.setattr(S, "scaled_spec", lambda base, m: seen.append(original(base, m)) or seen[-1])
    history = S.train_scaled((0.5, 0.5, 0.5), seed=0, progress=False)
    assert seen[0].resolution == 12 and len(history.rows) == 1
    assert 0.2 < history.final_test_accuracy <= 1.0  # it learns something in one epoch (chance is 0.1)


@settings(max_examples=40, deadline=None)
@given(
    first=st.tuples(*[st.sampled_from([0.5, 0.8, 1.0, 1.02, 1.1, 1.2, 1.5])] * 3),
    second=st.tuples(*[st.sampled_from([0.5, 0.8, 1.0, 1.02, 1.1, 1.2, 1.5])] * 3),
)
def test_network_key_is_equal_exactly_when_the_scaled_networks_are(first, second):
    base = S.digits_base()
    a, b = S.scaled_spec(base, first), S.scaled_spec(base, second)
    same_network = (a.resolution, a.stages()) == (b.resolution, b.stages())
    assert (S.network_key(first) == S.network_key(second)) == same_network
    assert S.network_key(first, base) == S.network_key(first)
