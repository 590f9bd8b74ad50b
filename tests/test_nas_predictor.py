"""lwcnn.nas.predictor: the encoding decodes back, tau is scipy's, the predictor ranks, and the
guided search asks what it says it asks.

Oracles: `SearchSpace.decode` for the one-hot encoding, `scipy.stats.kendalltau` for tau-b,
`mnas_reward` for its inverse, `RegularizedEvolution` and `RandomSearch` for the search's two
limits (one candidate; a warmup longer than any search).
"""

from __future__ import annotations

import dataclasses
import math
import random

import benchmark_scripts
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from lwcnn import nas
from lwcnn.nas import predictor as P

SPACE = nas.SearchSpace()
COURSE = nas.load_table()
HELDOUT = nas.load_table(nas.HELDOUT_TABLE, nas.HELDOUT_SPACE)
FAST = {"model": "ridge", "exploration": 0.0}  # a 2 ms fit: the search tests run many asks


@settings(max_examples=50, deadline=None)
@given(data=st.data(), space=st.sampled_from([SPACE, nas.TABLE_SPACE, nas.HELDOUT_SPACE]))
def test_features_are_one_hot_per_decision_and_decode_back(data, space):
    code = [data.draw(st.integers(0, len(options) - 1)) for _, _, options in space.choices()]
    arch = space.decode(code)
    features = P.arch_features(space, arch)
    assert len(features) == sum(len(options) for _, _, options in space.choices())
    start = 0
    for index, (_, _, options) in zip(code, space.choices(), strict=True):
        segment = features[start : start + len(options)]
        assert segment == [1.0 if i == index else 0.0 for i in range(len(options))]
        start += len(options)
    assert P.arch_from_features(space, features) == arch
    assert P.feature_matrix(space, [arch, arch]).tolist() == [features, features]


def test_the_course_encoding_has_27_features_and_rejects_a_wrong_length():
    assert len(P.arch_features(nas.TABLE_SPACE, COURSE[0].arch)) == 3 * (3 + 2 + 1 + 1 + 1 + 1)
    assert P.feature_matrix(nas.TABLE_SPACE, []).shape == (0, 27)
    with pytest.raises(ValueError, match="features must have 27"):
        P.arch_from_features(nas.TABLE_SPACE, [1.0] * 26)


values = st.one_of(
    st.lists(st.integers(0, 3), min_size=2, max_size=30),  # many ties
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=30),
)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), x=values)
def test_kendall_tau_is_scipys_tau_b(data, x):
    y = data.draw(st.lists(st.integers(0, 3), min_size=len(x), max_size=len(x)))
    expected = stats.kendalltau(x, y, variant="b").statistic
    ours = P.kendall_tau(x, y)
    assert (math.isnan(ours) and math.isnan(expected)) or ours == pytest.approx(expected, abs=1e-12)
    # a regressor's predictions come as NumPy arrays: the same tau
    as_arrays = P.kendall_tau(np.array(x), np.array(y))
    assert (math.isnan(ours) and math.isnan(as_arrays)) or as_arrays == ours


def test_kendall_tau_edges():
    assert P.kendall_tau([1, 2, 3], [3, 2, 1]) == -1.0
    assert math.isnan(P.kendall_tau([1, 1, 1], [1, 2, 3]))  # a constant ranks nothing
    with pytest.raises(ValueError, match="same length"):
        P.kendall_tau([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="no NaN"):
        P.kendall_tau([1, math.nan, 3], [1, 2, 3])


@settings(max_examples=100, deadline=None)
@given(
    accuracy=st.floats(0.0, 1.0),
    latency=st.floats(0.1, 10.0),
    target=st.floats(0.1, 10.0),
    exponents=st.sampled_from([nas.SOFT, nas.HARD, (-0.2, -0.5)]),
)
def test_accuracy_from_reward_inverts_the_mnas_reward(accuracy, latency, target, exponents):
    reward = nas.mnas_reward(accuracy, latency, target, *exponents)
    assert P.accuracy_from_reward(reward, latency, target, *exponents) == pytest.approx(accuracy, abs=1e-12)


@pytest.mark.parametrize("model", ["ridge", P.PREDICTOR_SETTINGS["model"]])
def test_the_predictor_ranks_held_out_networks_and_a_scrambled_one_does_not(model):
    # ridge measured 0.51 +- 0.05, the forest 0.47 +- 0.04 over 20 splits; chance is 0
    tau, predictor, train, test = P.predictor_rank_correlation(HELDOUT, nas.HELDOUT_SPACE, 0.5, 0, model)
    assert tau > 0.3
    assert len(train) == 108 and len(test) == 108 and not {r.arch for r in train} & {r.arch for r in test}
    assert tau == P.kendall_tau(predictor.predict([r.arch for r in test]), [r.accuracy for r in test])
    # the bound tells a predictor from noise: the same fit on shuffled accuracies fails it
    shuffled = [r.accuracy for r in train]
    random.Random(0).shuffle(shuffled)
    noise = P.AccuracyPredictor(nas.HELDOUT_SPACE, model).fit([r.arch for r in train], shuffled)
    assert P.kendall_tau(noise.predict([r.arch for r in test]), [r.accuracy for r in test]) < 0.3


def test_the_predictor_refuses_bad_models_settings_and_shares():
    with pytest.raises(ValueError, match="model='svm' is unknown; allowed: 'ridge'"):
        P.AccuracyPredictor(nas.TABLE_SPACE, "svm")
    with pytest.raises(ValueError, match=r"model_settings \['n_trees'\].*allowed: .*n_estimators"):
        P.AccuracyPredictor(nas.TABLE_SPACE, "forest", n_trees=5)
    with pytest.raises(TypeError, match="space must be a SearchSpace"):
        P.AccuracyPredictor("space")
    with pytest.raises(ValueError, match="train_share must be in"):
        P.predictor_rank_correlation(COURSE, nas.TABLE_SPACE, 1.0)
    with pytest.raises(ValueError, match="train_share=0.001 .* allowed"):
        P.predictor_rank_correlation(COURSE, nas.TABLE_SPACE, 0.001)
    with pytest.raises(ValueError, match="as many accuracies as archs"):
        P.AccuracyPredictor(nas.TABLE_SPACE).fit([COURSE[0].arch], [])


def _run(strategy, rewards, steps):
    asked = []
    for _ in range(steps):
        arch = strategy.ask()
        asked.append(arch)
        strategy.tell(arch, rewards[arch])
    return asked


def test_guided_asks_are_valid_fresh_and_the_best_predicted():
    target, rewards, _ = nas.table_task(COURSE)
    strategy = P.predictor_strategy(3, COURSE, warmup=5, candidates=8, **FAST)
    screened = 0
    for step in range(60):
        arch = strategy.ask()
        assert nas.TABLE_SPACE.check_arch(arch) == arch and arch in rewards
        evaluated = {told for told, _ in strategy.history}
        if step < 5:
            assert strategy.last_screen == []  # warmup: uniform samples, nothing predicted
        if strategy.last_screen:
            screened += 1
            assert all(candidate not in evaluated for candidate, _ in strategy.last_screen)
            assert arch == max(strategy.last_screen, key=lambda item: item[1])[0]
            predicted = strategy.predictor.predict([arch])[0]
            latency = next(row.latency_ms for row in COURSE if row.arch == arch)
            assert dict(strategy.last_screen)[arch] == pytest.approx(
                nas.mnas_reward(predicted, latency, target)
            )
        strategy.tell(arch, rewards[arch])
    assert screened > 30  # the screen ran on most asks, not only the fallback
    # it learned from its own results only: the accuracies behind the rewards it was told
    recorded = {row.arch: row.accuracy for row in COURSE}
    assert set(strategy.accuracies) == {arch for arch, _ in strategy.history}
    assert all(
        value == pytest.approx(recorded[arch], abs=1e-12) for arch, value in strategy.accuracies.items()
    )


def test_exploration_adds_the_trees_spread_to_each_predicted_accuracy():
    target, rewards, _ = nas.table_task(COURSE)
    strategy = P.predictor_strategy(
        4, COURSE, model="forest", exploration=1.5, refit_every=1, warmup=5, candidates=8
    )
    screened = 0
    for _ in range(40):
        arch = strategy.ask()
        if strategy.last_screen:
            screened += 1
            fresh = [candidate for candidate, _ in strategy.last_screen]
            means, spreads = strategy.predictor.predict_spread(fresh)
            assert means == pytest.approx(
                strategy.predictor.predict(fresh)
            )  # a forest predicts its trees' mean
            assert all(spread >= 0 for spread in spreads) and max(spreads) > 0
            latency = {row.arch: row.latency_ms for row in COURSE}
            for (candidate, reward), mean, spread in zip(strategy.last_screen, means, spreads, strict=True):
                assert reward == pytest.approx(
                    nas.mnas_reward(mean + 1.5 * spread, latency[candidate], target)
                )
            assert arch == max(strategy.last_screen, key=lambda item: item[1])[0]
        strategy.tell(arch, rewards[arch])
    assert screened > 20
    plain = P.predictor_strategy(
        4, COURSE, model="forest", exploration=0.0, refit_every=1, warmup=5, candidates=8
    )
    assert _run(plain, rewards, 40) != [told for told, _ in strategy.history]  # the bound changed the choices
    with pytest.raises(ValueError, match="model='forest'"):
        P.AccuracyPredictor(nas.TABLE_SPACE, "ridge").predict_spread([COURSE[0].arch])


def test_one_candidate_is_regularized_evolution_and_a_long_warmup_is_random_search():
    _, rewards, _ = nas.table_task(COURSE)
    for seed in range(3):
        guided = P.predictor_strategy(seed, COURSE, candidates=1, warmup=5, population_size=5, sample_size=5)
        plain = nas.RegularizedEvolution(nas.TABLE_SPACE, seed, population_size=5, sample_size=5)
        assert _run(guided, rewards, 40) == _run(plain, rewards, 40)
        forever = P.predictor_strategy(seed, COURSE, warmup=10 * len(COURSE), **FAST)
        assert _run(forever, rewards, 40) == _run(nas.RandomSearch(nas.TABLE_SPACE, seed), rewards, 40)
        assert forever.predictor is None


def test_guided_search_is_reproducible_and_never_reads_the_tables_accuracies():
    _, rewards, top = nas.table_task(COURSE)
    first = _run(P.predictor_strategy(7, COURSE, **FAST), rewards, 30)
    assert first == _run(P.predictor_strategy(7, COURSE, **FAST), rewards, 30)
    assert first != _run(P.predictor_strategy(8, COURSE, **FAST), rewards, 30)
    scrambled = [dataclasses.replace(row, accuracy=0.5, seed_accuracies=()) for row in COURSE]
    assert first == _run(P.predictor_strategy(7, scrambled, **FAST), rewards, 30)
    # and with the course's settings it reaches the top 1% like any search does
    counts = nas.first_hits(lambda seed: P.predictor_strategy(seed, COURSE), rewards, top, range(3))
    assert all(1 <= count < math.inf for count in counts)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"latency": 1.0}, TypeError, "latency must be a callable"),
        ({"target": 0.0}, ValueError, "target must be > 0"),
        ({"target": "1"}, TypeError, "target must be a number"),
        ({"alpha": None}, TypeError, "alpha must be a number"),
        ({"beta": math.nan}, ValueError, "beta must be finite"),
        ({"target": math.inf}, ValueError, "target must be finite"),
        ({"warmup": 0}, ValueError, "warmup must be a positive integer"),
        ({"refit_every": 1.5}, TypeError, "refit_every must be an int"),
        ({"candidates": 0}, ValueError, "candidates must be a positive integer"),
        ({"sample_size": 9}, ValueError, r"sample_size \(9\) must be <= population_size"),
        ({"model": "svm"}, ValueError, "model='svm' is unknown"),
        ({"model_settings": [1]}, TypeError, "model_settings must be a dict"),
        ({"model_settings": {"depth": 2}}, ValueError, r"model_settings \['depth'\]"),
        ({"exploration": -1.0}, ValueError, "exploration must be finite and at least 0"),
        ({"exploration": True}, TypeError, "exploration must be a number"),
        ({"exploration": 1.0, "model": "ridge"}, ValueError, "needs model='forest'"),
    ],
)
def test_predictor_evolution_refuses_bad_settings(kwargs, error, message):
    arguments = {"latency": lambda arch: 1.0, "target": 1.0, **kwargs}
    with pytest.raises(error, match=message):
        P.PredictorEvolution(nas.TABLE_SPACE, 0, **arguments)


def test_the_settings_are_a_setting_of_the_scripts_grid():
    """PREDICTOR_SETTINGS must be one the held-out grid tried (its choice: the script's last line)."""
    script = benchmark_scripts.load("predictor_settings")
    assert P.PREDICTOR_SETTINGS in script.GRID
    rows = [
        {"settings": '{"a": 1}', "median": 20.0, "mean": 25.0},
        {"settings": '{"a": 2}', "median": 20.0, "mean": 24.0},
    ]
    assert script.choose(rows) == {"a": 2}  # lowest median, then lowest mean
