"""lwcnn.nas.netadapt: NetAdapt's choices follow its rules, and the networks it makes are what
their specs say.

Oracles: the conv weights themselves for the filter norms, torch's parameter count and
FlopCounterMode for a proposal's cost, the analytical MACs re-evaluated for every latency claim.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import counted_macs, counted_params
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lwcnn import models, prune
from lwcnn.nas import netadapt as netadapt_module
from lwcnn.nas.netadapt import (
    NetAdapt,
    filter_norms,
    keep_largest,
    narrowed,
    prune_filters,
    uniform_scaling_at,
)

TINY_TABLE = ((1, 8, 1, 1), (2, 16, 2, 2))  # MobileNetV2 rows (t, c, n, s): 6 channel groups
TINY = models.spec(
    "mobilenet_v2", table=TINY_TABLE, small_input=True, in_channels=1, num_classes=4, resolution=8
)


def macs(spec: models.NetworkSpec) -> int:
    return models.cost(spec).macs


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return TINY.build()


def tiny_loader(seed: int = 0) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(16, 1, 8, 8, generator=generator)
    return DataLoader(
        TensorDataset(images, torch.arange(16) % 4), batch_size=8, shuffle=True, generator=generator
    )


def adapt(model: nn.Module | None = None, **options) -> NetAdapt:
    arguments = {
        "budget": 0.6 * macs(TINY),
        "decrement": 0.15 * macs(TINY),
        "short_term_steps": 1,
        "channel_step": 4,
        "progress": False,
        **options,
    }
    loader = tiny_loader()
    return NetAdapt(model if model is not None else tiny_model(), macs, loader, loader, **arguments)


# --- which filters ------------------------------------------------------------------------------------


def test_filter_norms_are_the_norms_of_the_filters_that_make_each_channel():
    model = tiny_model()
    weight = {name: param.detach() for name, param in model.named_parameters()}
    norms = filter_norms(model)
    expansion = weight["features.stage2.1.block.0.conv.weight"]  # its depthwise conv passes the channels on
    torch.testing.assert_close(norms["features.stage2.1.expanded"], expansion.flatten(1).norm(dim=1))
    # channels tied by the residual add: both projections write them
    projections = [weight[f"features.stage2.{block}.block.2.conv.weight"].flatten(1) for block in (0, 1)]
    tied = torch.cat(projections, dim=1).norm(dim=1)
    torch.testing.assert_close(norms["features.stage2.0.out"], tied)
    torch.testing.assert_close(
        norms["features.head.0.out"], weight["features.head.0.conv.weight"].flatten(1).norm(dim=1)
    )
    assert set(norms) == {group.name for group in prune.channel_groups(TINY) if group.prunable}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=40), st.data())
def test_keep_largest_keeps_exactly_the_largest_norms(values, data):
    norms = torch.tensor(values)
    kept = data.draw(st.integers(1, len(values)))
    mask = keep_largest(norms, kept)
    assert mask.dtype == torch.bool and int(mask.sum()) == kept
    if kept < len(values):
        assert norms[mask].min() >= norms[~mask].max()


def test_prune_filters_keeps_the_largest_norm_filters_and_their_weights():
    model = tiny_model()
    conv = model.get_submodule("features.stage2.1.block.0.conv")
    order = torch.randperm(32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():  # filter i gets norm 1 + order[i]: the kept ones are known
        conv.weight.copy_(conv.weight / conv.weight.flatten(1).norm(dim=1)[:, None, None, None])
        conv.weight.mul_((1.0 + order.float())[:, None, None, None])
    result = prune_filters(model, "features.stage2.1.expanded", 12)
    expected = torch.sort(torch.argsort(order, descending=True)[:12]).values
    assert torch.equal(torch.nonzero(result.masks["features.stage2.1.expanded"]).flatten(), expected)
    smaller = result.model.get_submodule("features.stage2.1.block.0.conv").weight
    torch.testing.assert_close(smaller, conv.weight[expected])
    assert result.cfg == narrowed(TINY, "features.stage2.1.expanded", 12)


@pytest.mark.parametrize(
    "group, kept", [("features.stem.0.out", 8), ("features.stage2.0.out", 4), ("features.head.0.out", 100)]
)
def test_a_pruned_proposal_costs_what_torch_counts(group, kept):
    result = prune_filters(tiny_model(), group, kept)
    cost = models.cost(result.cfg)
    assert cost.params == counted_params(result.model)
    counted, out = counted_macs(result.model, torch.randn(1, 1, 8, 8))
    assert cost.macs == counted and out.shape == (1, 4)


# --- the iterations -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run() -> NetAdapt:
    run = adapt(decrement_decay=0.9)
    run.run()
    return run


def test_each_iteration_meets_its_decrement_with_the_fewest_filters_removed(tiny_run):
    latency = macs(TINY)
    for index, step in enumerate(tiny_run.history, start=1):
        decrement = 0.15 * macs(TINY) * 0.9 ** (index - 1)
        assert step.iteration == index
        assert step.decrement == pytest.approx(decrement) and step.target == pytest.approx(
            latency - decrement
        )
        assert step.latency == macs(step.cfg) <= step.target
        before = narrowed(step.cfg, step.group, step.channels)  # the network the iteration started from
        assert macs(before) == latency
        for proposal in step.proposals:
            if proposal.skipped:  # not even 4 channels meet the target
                assert proposal.kept == proposal.channels and proposal.latency is None
                assert proposal.channels <= 4 or macs(narrowed(before, proposal.group, 4)) > step.target
                continue
            assert proposal.kept % 4 == 0 and proposal.latency == macs(
                narrowed(before, proposal.group, proposal.kept)
            )
            assert proposal.latency <= step.target
            wider = proposal.kept + 4
            assert wider >= proposal.channels or macs(narrowed(before, proposal.group, wider)) > step.target
        chosen = [p for p in step.proposals if p.group == step.group]
        assert chosen[0].accuracy == step.accuracy == max(p.accuracy for p in step.proposals if not p.skipped)
        latency = step.latency


def test_the_most_accurate_proposal_is_chosen_then_the_fastest_then_the_earliest(monkeypatch):
    def accuracy_by_size(model, loader, device):  # distinct accuracies, known in advance
        return 0.0, (counted_params(model) % 101) / 101

    monkeypatch.setattr(netadapt_module, "evaluate", accuracy_by_size)
    step = adapt().step()
    scored = [proposal for proposal in step.proposals if not proposal.skipped]
    assert len({proposal.accuracy for proposal in scored}) > 1
    assert step.accuracy == max(proposal.accuracy for proposal in scored)
    monkeypatch.setattr(netadapt_module, "evaluate", lambda model, loader, device: (0.0, 0.5))
    step = adapt().step()
    fastest = min(proposal.latency for proposal in step.proposals if not proposal.skipped)
    assert step.latency == fastest
    assert step.group == next(p.group for p in step.proposals if p.latency == fastest)

    def halved(spec):  # every proposal ties
        return 0.5 if isinstance(spec, prune.PrunedSpec) else 1.0

    loader = tiny_loader()
    run = NetAdapt(
        tiny_model(), halved, loader, loader, budget=0.6, decrement=0.3, channel_step=4, progress=False
    )
    assert run.step().group == "features.stem.0.out"  # then the earlier group


def test_the_run_stops_at_the_budget(tiny_run):
    history = tiny_run.history
    assert history and tiny_run.done and tiny_run.latency <= tiny_run.budget
    assert all(step.latency > tiny_run.budget for step in history[:-1])  # not one iteration more
    assert tiny_run.latency == history[-1].latency == macs(prune.spec_of(tiny_run.model))
    assert tiny_run.cfg == history[-1].cfg
    with pytest.raises(RuntimeError, match="already within the budget"):
        tiny_run.step()


def test_run_max_iterations_and_a_target_no_group_can_meet():
    run = adapt(budget=0.3 * macs(TINY))
    assert len(run.run(max_iterations=1)) == 1 and not run.done
    with pytest.raises(RuntimeError, match="no channel group can bring"):
        adapt(decrement=0.95 * macs(TINY)).step()


def test_the_start_network_is_not_changed():
    model = tiny_model()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    adapt(model).step()
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())


def test_a_run_repeats_for_a_seed():
    loader = tiny_loader()  # shared: the second run must not depend on where the first left it
    runs = [NetAdapt(tiny_model(3), macs, loader, loader, budget=0.6 * macs(TINY), decrement=0.15 * macs(TINY),
                     short_term_steps=2, channel_step=4, seed=5, progress=False) for _ in range(2)]  # fmt: skip
    for run in runs:
        run.run()
    assert runs[0].history == runs[1].history
    second = runs[1].model.state_dict()
    for key, value in runs[0].model.state_dict().items():
        assert torch.equal(value, second[key]), key


def test_the_short_term_fine_tune_trains_the_chosen_proposal():
    for steps, trained in ((0, False), (2, True)):
        run = adapt(short_term_steps=steps)
        step = run.step()
        pruned = prune_filters(tiny_model(), step.group, step.kept).model.state_dict()
        unchanged = all(torch.equal(pruned[key], value) for key, value in run.model.state_dict().items())
        assert unchanged is not trained, steps


# --- the baseline ------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.floats(0.15, 0.95))
def test_uniform_scaling_at_meets_the_target_within_the_tolerance(fraction):
    spec = models.spec("mobilenet_v2", small_input=True, num_classes=10, resolution=32)
    target = fraction * macs(spec)
    found = uniform_scaling_at(spec, macs, target, tolerance=1e-3)
    assert found.spec == dataclasses.replace(spec, width_multiplier=found.width_multiplier)
    assert found.latency == macs(found.spec) <= target
    wider = dataclasses.replace(spec, width_multiplier=found.width_multiplier + 1e-3)
    assert macs(wider) > target


def test_uniform_scaling_at_a_target_above_the_network_is_the_network():
    found = uniform_scaling_at(TINY, macs, 2 * macs(TINY))
    assert found.width_multiplier == TINY.width_multiplier and found.spec == TINY


# --- argument checks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, error, words",
    [
        ({"budget": 0}, ValueError, ["budget", "positive"]),
        ({"decrement": -1.0}, ValueError, ["decrement", "positive"]),
        ({"decrement_decay": 1.5}, ValueError, ["decrement_decay", "(0, 1]"]),
        ({"short_term_steps": -1}, ValueError, ["short_term_steps", ">= 0"]),
        ({"short_term_steps": 1.5}, TypeError, ["short_term_steps", "int"]),
        ({"channel_step": 0}, ValueError, ["channel_step", "positive"]),
        ({"optimizer": "rmsprop"}, ValueError, ["optimizer", "'adam'", "'sgd'"]),
        ({"lr": 0}, ValueError, ["lr", "positive"]),
        ({"momentum": 1.0}, ValueError, ["momentum", "[0, 1)"]),
        ({"seed": -1}, ValueError, ["seed", ">= 0"]),
    ],
)
def test_netadapt_names_a_bad_argument_and_what_is_allowed(options, error, words):
    with pytest.raises(error) as raised:
        adapt(**options)
    assert all(word in str(raised.value) for word in words), str(raised.value)


def test_netadapt_rejects_what_is_not_an_lwcnn_network_or_a_latency():
    loader = tiny_loader()
    with pytest.raises(TypeError, match="model must be a network built by lwcnn"):
        NetAdapt(nn.Linear(2, 2), macs, loader, loader, budget=1.0, decrement=1.0)
    with pytest.raises(TypeError, match="predict_latency must be a callable"):
        NetAdapt(tiny_model(), 5.0, loader, loader, budget=1.0, decrement=1.0)
    with pytest.raises(TypeError, match="predict_latency must return a number"):
        NetAdapt(tiny_model(), lambda spec: "fast", loader, loader, budget=1.0, decrement=1.0)
    with pytest.raises(ValueError, match="kept must be at most"):
        keep_largest(torch.ones(4), 5)
    with pytest.raises(ValueError, match="group must be a prunable channel group"):
        prune_filters(tiny_model(), "features.nowhere", 4)


def test_uniform_scaling_at_checks_its_arguments():
    with pytest.raises(TypeError, match="width multiplier"):
        uniform_scaling_at(prune.unpruned_cfg(TINY), macs, 1.0)
    with pytest.raises(ValueError, match="target must be reachable"):
        uniform_scaling_at(TINY, macs, 1.0)
    with pytest.raises(ValueError, match="tolerance must be a positive finite number"):
        uniform_scaling_at(TINY, macs, macs(TINY) / 2, tolerance=0)
    with pytest.raises(ValueError, match=r"min_width must be in \(0, 1.0\]"):
        uniform_scaling_at(TINY, macs, macs(TINY) / 2, min_width=2.0)
