"""lwcnn.experiments: the lessons' training experiments and the runs recorded from them."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lwcnn import experiments
from lwcnn.counting import count_model


@pytest.fixture(scope="module")
def runs():
    return experiments.load_runs()


def test_every_recorded_run_is_a_variant_with_its_own_cost(runs):
    """The shipped file describes the networks the lessons build: same names, params and MACs."""
    assert runs
    for run in runs:
        experiment = experiments.EXPERIMENTS[run.experiment]
        spec = experiment.variants[run.variant]
        cost = spec.cost(experiment.image_size)
        assert (run.params, run.macs) == (cost.params, cost.macs)
        assert 0.0 <= run.test_accuracy <= 1.0


@pytest.mark.parametrize("name", sorted(experiments.EXPERIMENTS))
def test_each_variant_was_recorded_with_the_same_seeds(runs, name):
    """At least three seeds, the same ones for every variant, so the lessons compare like with like."""
    seeds = {
        variant: sorted(run.seed for run in runs if run.experiment == name and run.variant == variant)
        for variant in experiments.EXPERIMENTS[name].variants
    }
    first = next(iter(seeds.values()))
    assert len(first) >= 3 and len(set(first)) == len(first)
    assert all(values == first for values in seeds.values())
    assert list(experiments.accuracies(runs, name)) == list(experiments.EXPERIMENTS[name].variants)


def test_the_specs_cost_what_torch_counts():
    for experiment in experiments.EXPERIMENTS.values():
        size = experiment.image_size
        for spec in experiment.variants.values():
            counted = count_model(spec.build(), (1, 1, size, size))
            assert (counted.params, counted.macs) == (spec.cost(size).params, spec.cost(size).macs)


def test_train_variant_trains_the_named_network_with_the_recipe():
    torch.set_num_threads(1)
    history = experiments.train_variant("activation_se", "hswish, SE on", seed=3, progress=False)
    assert len(history.rows) == experiments.EXPERIMENTS["activation_se"].epochs
    assert history.final_test_accuracy > 0.5  # two epochs on digits: far above chance (0.1)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("widths", "1.0"), "experiment must be one of"),
        (("width", "0.75"), "variant must be one of"),
    ],
)
def test_train_variant_names_what_exists(arguments, message):
    with pytest.raises(ValueError, match=message):
        experiments.train_variant(*arguments)


def test_missing_runs_and_files_are_explained(tmp_path, runs):
    with pytest.raises(FileNotFoundError, match="benchmarks/digits_runs.py"):
        experiments.load_runs(tmp_path / "absent.csv")
    with pytest.raises(ValueError, match="no recorded runs"):
        experiments.accuracies([run for run in runs if run.variant != "0.5"], "width")


def test_describe_gives_the_mean_and_the_range_in_percent():
    assert experiments.describe([0.9, 0.95, 1.0]) == "95.0% (90.0-100.0, 3 seeds)"


def test_the_header_says_how_the_runs_were_made():
    header = experiments.header()
    assert header.startswith("#") and "benchmarks/digits_runs.py" in header and "machine:" in header


@given(
    first=st.lists(st.floats(0, 1), min_size=1, max_size=6),
    second=st.lists(st.floats(0, 1), min_size=1, max_size=6),
)
def test_a_gap_is_separated_only_when_it_exceeds_both_variants_seed_range(first, second):
    found = experiments.gap({"a": first, "b": second}, "a", "b")
    assert found.spread == max(max(first) - min(first), max(second) - min(second))
    assert found.mean_gap == pytest.approx(sum(first) / len(first) - sum(second) / len(second))
    assert found.separated == (abs(found.mean_gap) > found.spread)
    if min(first) - max(second) > found.spread:  # every seed of a above every seed of b, by more
        assert found.separated and found.mean_gap > 0


def test_a_gap_names_what_is_missing():
    with pytest.raises(ValueError, match="'c' is not a variant; the variants: a, b"):
        experiments.gap({"a": [0.5], "b": [0.6]}, "a", "c")
    with pytest.raises(ValueError, match="'b' has no recorded seeds"):
        experiments.gap({"a": [0.5], "b": []}, "a", "b")


def test_an_experiment_names_its_dataset():
    with pytest.raises(ValueError, match=r"dataset must be one of \('digits', 'distorted'\)"):
        experiments.Experiment("06", {}, epochs=1, dataset="cifar")
    assert experiments.EXPERIMENTS["activation_se"].dataset == "distorted"


def test_lesson_08s_sweeps_read_as_runs_with_every_claims_variant_over_the_same_seeds():
    runs = experiments.load_pruning_runs()
    accuracy = experiments.accuracies(runs, experiments.PRUNING)
    seeds = {tuple(sorted(run.seed for run in runs if run.variant == variant)) for variant in accuracy}
    assert len(seeds) == 1 and len(next(iter(seeds))) >= 3  # every network over the same 3+ seeds
    for name, first, second in experiments.CLAIMS:
        if name == experiments.PRUNING:
            assert first in accuracy and second in accuracy
    unpruned = experiments.pruning_variant("plain", "unpruned")
    cut = experiments.pruning_variant("plain", "before fine-tuning", 0.5, "raw")
    by = {(run.variant, run.seed): run for run in runs}
    seed = next(iter(seeds))[0]
    assert by[cut, seed].params < by[unpruned, seed].params and by[cut, seed].macs < by[unpruned, seed].macs
    assert experiments.source(experiments.PRUNING) == ("08", "distorted")


def test_a_pruning_variant_names_its_stage_and_refuses_others(tmp_path):
    assert experiments.pruning_variant("plain", "unpruned", 0.4, "raw") == "plain, unpruned"
    with pytest.raises(ValueError, match="stage must be 'unpruned', 'before fine-tuning' or 'fine-tuned'"):
        experiments.pruning_variant("plain", "pruned", 0.4)
    with pytest.raises(FileNotFoundError, match="benchmarks/pruning_sweep.py"):
        experiments.load_pruning_runs(tmp_path)
    with pytest.raises(ValueError, match="no recorded runs of 'pruning'"):
        experiments.accuracies([], experiments.PRUNING)


def test_lesson_11s_table_reads_as_runs_with_every_claims_variant_over_the_same_seeds():
    runs = experiments.load_scaling_runs()
    accuracy = experiments.accuracies(runs, experiments.SCALING)
    seeds = {tuple(sorted(run.seed for run in runs if run.variant == variant)) for variant in accuracy}
    assert len(seeds) == 1 and len(next(iter(seeds))) >= 3  # every network over the same 3+ seeds
    for name, first, second in experiments.CLAIMS:
        if name == experiments.SCALING:
            assert {first, second} <= set(accuracy) | set(experiments.RANKED)
    assert experiments.source(experiments.SCALING) == ("11", "distorted")


def test_the_grid_claim_names_the_winner_and_the_runner_up():
    accuracy = {"grid 1.0, 1.0, 1.4": [0.8, 0.9], "grid 1.2, 1.0, 1.3": [0.7, 0.95], "width x2": [0.99, 0.99]}
    assert experiments.resolve(accuracy, "grid winner") == "grid 1.0, 1.0, 1.4"  # mean 0.85 against 0.825
    assert experiments.resolve(accuracy, "grid runner-up") == "grid 1.2, 1.0, 1.3"
    assert experiments.resolve(accuracy, "width x2") == "width x2"
    with pytest.raises(ValueError, match="'grid runner-up' needs at least 2 grid candidates, got 1"):
        experiments.resolve({"grid 1.0, 1.0, 1.4": [0.8]}, "grid runner-up")
