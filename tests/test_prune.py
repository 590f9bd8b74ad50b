"""lwcnn.prune: slimming is exact by construction, and its groups, costs and files are right.

Oracles: the zeroed full network (`zero_masked`) for the rebuilt one's outputs, torch's
parameter count and FlopCounterMode for its cost, Torch-Pruning's dependency graph for which
BatchNorms must be pruned together, and plain autograd for the sparsity subgradient.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
from pathlib import Path

import pytest
import torch
import torch_pruning as tp
import torchvision
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracles import counted_macs, counted_params
from torch import nn

from lwcnn import models, prune
from lwcnn.blocks import InvertedResidual
from lwcnn.paths import PRUNING_CHECKPOINT, PRUNING_DIR

# (name, options, input resolution): the four MobileNetV3s, then the other families
V3_CASES = [
    ("mobilenet_v3_small", {}, 224),
    ("mobilenet_v3_large", {}, 224),
    ("mobilenet_v3_small", {"small_input": True, "num_classes": 10, "in_channels": 1}, 32),
    ("mobilenet_v3_large", {"small_input": True, "num_classes": 10}, 32),
    # the slimming study's CIFAR variant: BatchNorm1d after the hidden linear layer, pruned too
    ("mobilenet_v3_small", {"small_input": True, "num_classes": 10, "classifier_norm": True}, 32),
]
OTHER_CASES = [
    ("mobilenet_v1", {"width_multiplier": 0.5}, 64),
    ("mobilenet_v2", {"small_input": True, "num_classes": 10}, 32),
    ("mnasnet_a1", {}, 64),
    ("efficientnet", {"width_multiplier": 0.5}, 64),
]


def _declares_its_channels(name: str) -> bool:
    """Whether every layer of the network declares its channel roles (all that slimming reads)."""
    spec = models.spec(name)
    layers = [*(layer for stage in spec.stages() for layer in stage.layers), *spec.classifier()]
    try:
        return all(layer.channel_roles() is not None for layer in layers)
    except TypeError:  # a grouped (not depthwise) conv
        return False


SUPPORTED_NAMES = [name for name in models.MODEL_NAMES if _declares_its_channels(name)]


def randomised(spec: models.NetworkSpec, seed: int, resolution: int = 32) -> nn.Module:
    """`spec` built in eval mode with trained-looking BatchNorms: scales spread over (0, 2) with
    many near 0, random shifts, and running statistics measured on random images (so the signal
    neither dies nor explodes with depth and every channel matters to the output)."""
    generator = torch.Generator().manual_seed(seed)
    model = spec.build()
    norms = [module for module in model.modules() if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d)]
    with torch.no_grad():
        for module in norms:
            module.weight.copy_(2 * torch.rand(module.num_features, generator=generator) ** 2)
            module.bias.copy_(0.2 * torch.randn(module.num_features, generator=generator))
            module.reset_running_stats()
            module.momentum = None  # a plain average over the calibration batches
        for module in model.modules():
            if isinstance(module, nn.Linear):
                module.weight.normal_(0, module.in_features**-0.5, generator=generator)
        images = torch.randn(16, spec.in_channels, resolution, resolution, generator=generator)
        model.train()(images)
    return model.eval()


def outputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


def check_exact(model: nn.Module, result: prune.SlimResult, resolution: int, float32: float = 1e-5) -> None:
    spec = prune.spec_of(model)
    x = torch.randn(2, spec.in_channels, resolution, resolution, generator=torch.Generator().manual_seed(1))
    zeroed = prune.zero_masked(model, result.masks)
    rebuilt_out, zeroed_out = outputs(result.model, x), outputs(zeroed, x)
    # float32: the same sums in another order, so equal up to rounding relative to the logits. A
    # BatchNorm1d on pooled features divides by their small spread across images, which magnifies
    # that rounding about tenfold; the float64 check below is the exact one either way.
    magnified = any(isinstance(module, nn.BatchNorm1d) for module in model.modules())
    tolerance = (max(1e-4, float32) if magnified else float32) * max(1.0, zeroed_out.abs().max().item())
    assert (rebuilt_out - zeroed_out).abs().max().item() <= tolerance
    # float64: the rounding gone, the two networks compute the same function
    x64 = x.double()
    difference = outputs(copy.deepcopy(result.model).double(), x64) - outputs(zeroed.double(), x64)
    assert difference.abs().max().item() <= 1e-9
    removed = sum(int((~mask).sum()) for mask in result.masks.values())
    total = sum(mask.numel() for mask in result.masks.values())
    # the zeroed model really differs from the original: the check has teeth. Not asked of a cut
    # of a channel or two: the lowest-|gamma| channel can be dead already (ReLU of a negative
    # beta), and removing it changes nothing at all (mnasnet1_0 at 1/16384, hypothesis found it)
    if removed >= max(2, 0.01 * total):
        assert (outputs(model, x) - zeroed_out).abs().max().item() > 1e-4
    cost = models.cost(result.cfg, resolution=resolution)
    assert counted_params(result.model) == cost.params
    assert counted_macs(result.model, x[:1])[0] == cost.macs


@pytest.mark.parametrize(("name", "options", "resolution"), V3_CASES + OTHER_CASES)
@pytest.mark.parametrize("prune_rate", [0.0, 0.25, 0.5, 0.8])
def test_slim_equals_zero_masked_and_costs_what_cfg_says(name, options, resolution, prune_rate):
    model = randomised(models.spec(name, **options), seed=0, resolution=resolution)
    result = prune.slim(model, prune_rate)
    check_exact(model, result, resolution)
    prunable = sum(mask.numel() for mask in result.masks.values())
    removed = prunable - sum(int(mask.sum()) for mask in result.masks.values())
    if not result.floored:  # the global threshold removes exactly round(rate * channels)
        assert removed == round(prune_rate * prunable)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(SUPPORTED_NAMES),
    width=st.sampled_from([0.25, 0.35, 0.5]),
    small_input=st.booleans(),
    classifier_norm=st.booleans(),
    prune_rate=st.floats(0, 0.95),
    min_channels=st.integers(1, 12),
    seed=st.integers(0, 2**16),
)
def test_slim_is_exact_for_any_supported_network_rate_and_floor(
    name, width, small_input, classifier_norm, prune_rate, min_channels, seed
):
    allowed = models.options(name)
    spec = models.spec(name, num_classes=7)
    if "width_multiplier" in allowed:
        spec = dataclasses.replace(spec, width_multiplier=width)
    if "small_input" in allowed:
        spec = dataclasses.replace(spec, small_input=small_input)
    if "classifier_norm" in allowed:
        spec = dataclasses.replace(spec, classifier_norm=classifier_norm)
    resolution = 32 if getattr(spec, "small_input", False) else 64
    model = randomised(spec, seed, resolution)
    result = prune.slim(model, prune_rate, min_channels=min_channels)
    # any network, EfficientNet-B3's 26 blocks included: float32 rounding grows with depth (a
    # fresh-clone run drew 1.3e-5), so 1e-4 here; the float64 check inside stays at 1e-9
    check_exact(model, result, resolution, float32=1e-4)
    for name_, mask in result.masks.items():
        assert int(mask.sum()) >= min(min_channels, mask.numel()), name_


@pytest.mark.parametrize(("name", "options", "resolution"), V3_CASES + OTHER_CASES)
def test_channel_groups_match_torch_prunings_dependency_graph(name, options, resolution):
    """For every BatchNorm, the BatchNorms Torch-Pruning couples with it are our group's norms."""
    spec = models.spec(name, **options)
    model = spec.build().eval()
    graph = tp.DependencyGraph().build_dependency(
        model, example_inputs=torch.randn(1, spec.in_channels, resolution, resolution)
    )
    module_names = {module: path for path, module in model.named_modules()}
    ours = {path: set(group.norms) for group in prune.channel_groups(spec) for path in group.norms}
    batchnorm = nn.BatchNorm1d | nn.BatchNorm2d
    norms = [(path, module) for path, module in model.named_modules() if isinstance(module, batchnorm)]
    assert set(ours) == {path for path, _ in norms}
    for path, module in norms:
        group = graph.get_pruning_group(module, tp.prune_batchnorm_out_channels, idxs=[0])
        theirs = {
            module_names[dep.target.module] for dep, _ in group if isinstance(dep.target.module, batchnorm)
        }
        assert theirs == ours[path], path


def test_v3_large_stem_and_first_block_are_one_group():
    """The first bneck has no expansion (16 -> 16) and a shortcut: stem, depthwise and projection
    channels are the same channels."""
    groups = prune.channel_groups(models.spec("mobilenet_v3_large"))
    stem = next(group for group in groups if group.name == "features.stem.0.out")
    assert stem.norms == (
        "features.stem.0.bn",
        "features.stage1.0.block.0.bn",
        "features.stage1.0.block.1.bn",
    )
    assert stem.prunable
    fixed = [group for group in groups if not group.prunable]
    assert [group.name for group in fixed] == ["input", "classifier.1.out", "classifier.4.out"]


def test_the_hidden_linear_layer_is_pruned_only_when_a_batchnorm_scores_it():
    plain = models.spec("mobilenet_v3_small", small_input=True, num_classes=10, width_multiplier=0.5)
    hidden = {group.name: group for group in prune.channel_groups(plain)}["classifier.1.out"]
    assert hidden.fixed == "no BatchNorm"
    normed = dataclasses.replace(plain, classifier_norm=True)
    hidden = {group.name: group for group in prune.channel_groups(normed)}["classifier.1.out"]
    assert (hidden.prunable, hidden.norms, hidden.channels) == (True, ("classifier.2",), 512)
    model = randomised(normed, seed=5)
    with torch.no_grad():  # the hidden layer's scores: the lowest of the network
        model.classifier[2].weight.mul_(1e-3)
    result = prune.slim(model, 0.1)
    kept = result.cfg.kept("classifier.1.out")
    assert kept < 512
    linear, norm, last = result.model.classifier[1], result.model.classifier[2], result.model.classifier[5]
    assert (linear.out_features, norm.num_features, last.in_features) == (kept, kept, kept)
    check_exact(model, result, 32)


def test_a_layer_the_threshold_would_empty_keeps_its_best_channels():
    model = randomised(models.spec("mobilenet_v3_small", small_input=True, num_classes=10), seed=3)
    target = "features.stage3.1.expanded"
    group = next(group for group in prune.channel_groups(prune.spec_of(model)) if group.name == target)
    with torch.no_grad():
        for path in group.norms:  # every channel of the group scores below the rest of the network
            model.get_submodule(path).weight.mul_(1e-6)
        best = torch.tensor([7, 3, 50, 11])
        for rank, channel in enumerate(best):
            model.get_submodule(group.norms[0]).weight[channel] = 1e-5 * (4 - rank)
    result = prune.slim(model, 0.5, min_channels=4)
    assert target in result.floored
    assert torch.equal(torch.nonzero(result.masks[target]).flatten(), best.sort().values)
    assert result.cfg.kept(target) == 4
    check_exact(model, result, 32)
    with pytest.raises(ValueError, match="keeps no channel"):
        prune.apply_masks(model, {target: torch.zeros(group.channels, dtype=torch.bool)})


def test_blocks_keep_their_expansion_and_shortcut_when_widths_meet_by_chance():
    spec = models.spec("mobilenet_v3_small", small_input=True, num_classes=10)
    model = randomised(spec, seed=4)
    groups = {group.name: group for group in prune.channel_groups(spec)}
    # stage3.0: 24 -> expanded 96 -> 40, stride 2; stage3.3 (40 -> 48, stride 1, no shortcut)
    masks = {
        "features.stage3.0.expanded": torch.arange(96) < 24,  # E pruned to M = 24
        "features.stage3.0.out": torch.arange(40) < 40,
        "features.stage3.3.out": torch.arange(48) < 40,  # N pruned to M = 40
    }
    assert set(masks) <= set(groups)
    result = prune.apply_masks(model, masks)
    stages = result.cfg.stages()
    first = stages[3].layers[0] if stages[3].name == "stage3" else None
    assert first is not None and first.in_channels == first.expanded_channels == 24
    assert first.has_expansion and isinstance(
        result.model.get_submodule("features.stage3.0.block.0.conv"), nn.Conv2d
    )
    wide = stages[3].layers[3]
    assert wide.in_channels == wide.out_channels == 40 and wide.stride == 1
    assert not wide.use_residual and not result.model.get_submodule("features.stage3.3").use_residual
    check_exact(model, result, 32)


def test_pruning_a_pruned_network_again_stays_exact_and_keeps_the_base():
    model = randomised(models.spec("mobilenet_v3_large", small_input=True, num_classes=10), seed=5)
    once = prune.slim(model, 0.3)
    twice = prune.slim(once.model, 0.3)
    assert twice.cfg.base == once.cfg.base == prune.spec_of(model)
    check_exact(once.model, twice, 32)
    assert models.cost(twice.cfg).params < models.cost(once.cfg).params


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("mobilenet_v3_small", {"small_input": True}),
        ("mobilenet_v2", {"small_input": True}),
        ("mnasnet1_0", {}),
    ],
)
def test_a_group_cut_to_one_channel_is_still_the_bases_group_when_pruned_again(name, options):
    """A depthwise conv narrowed to one channel has groups=1, like a plain 1 -> 1 conv: the
    pruned network's groups still are the base's, so it can be slimmed again (iterative pruning)."""
    spec = models.spec(name, num_classes=10, **options)
    model = randomised(spec, seed=6)
    depthwise_first = next(  # the first group whose BatchNorms include a depthwise conv's
        group
        for group in prune.channel_groups(spec)
        if group.prunable
        and any(
            isinstance(m := model.get_submodule(path.removesuffix(".bn") + ".conv"), nn.Conv2d)
            and m.groups > 1
            for path in group.norms
            if path.endswith(".bn")
        )
    )
    masks = {depthwise_first.name: torch.arange(depthwise_first.channels) == 0}
    once = prune.apply_masks(model, masks)
    assert once.cfg.kept(depthwise_first.name) == 1
    base_names = [group.name for group in prune.channel_groups(spec)]
    assert [group.name for group in prune.channel_groups(once.cfg)] == base_names
    assert {g.name: g.channels for g in prune.channel_groups(once.cfg)}[depthwise_first.name] == 1
    twice = prune.slim(once.model, 0.3)
    assert twice.cfg.base == spec and twice.cfg.kept(depthwise_first.name) == 1
    check_exact(once.model, twice, 32)


def test_slim_leaves_the_model_unchanged_and_keeps_its_mode():
    model = randomised(models.spec("mobilenet_v3_small", small_input=True, num_classes=10), seed=6)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    model.train()
    result = prune.slim(model, 0.5)
    assert result.model.training
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())


@pytest.mark.parametrize("prune_rate", [-0.1, 1.0, 1.5, True, "0.4", float("nan")])
def test_bad_prune_rates_are_refused(prune_rate):
    model = models.build("mobilenet_v3_small", num_classes=10)
    with pytest.raises(ValueError, match="prune_rate"):
        prune.slim(model, prune_rate)


def test_models_slim_cannot_read_are_refused_clearly():
    with pytest.raises(TypeError, match="model.spec"):
        prune.slim(torchvision.models.mobilenet_v3_small(), 0.4)
    with pytest.raises(TypeError, match="ShuffleNetV2Unit"):
        prune.slim(models.build("shufflenet_v2_x0_5"), 0.4)
    with pytest.raises(ValueError, match="min_channels"):
        prune.slim(models.build("mobilenet_v3_small"), 0.4, min_channels=0)


def test_bad_masks_and_cfgs_are_refused():
    spec = models.spec("mobilenet_v3_small", small_input=True, num_classes=10)
    model = spec.build()
    with pytest.raises(ValueError, match="no prunable channel group 'nope'"):
        prune.zero_masked(model, {"nope": torch.ones(3, dtype=torch.bool)})
    with pytest.raises(ValueError, match="bool tensor of 16 channels"):
        prune.zero_masked(model, {"features.stem.0.out": torch.ones(15, dtype=torch.bool)})
    widths = dict(prune.unpruned_cfg(spec).widths)
    with pytest.raises(ValueError, match=r"widths\['features.stem.0.out'\] must be an int in \[1, 16\]"):
        prune.PrunedSpec(spec, tuple({**widths, "features.stem.0.out": 17}.items()))
    with pytest.raises(ValueError, match="missing"):
        prune.PrunedSpec(spec, tuple(list(widths.items())[1:]))
    with pytest.raises(ValueError, match=r"named twice: \['features.stem.0.out'\]"):
        prune.PrunedSpec(spec, (*widths.items(), ("features.stem.0.out", 3)))
    with pytest.raises(TypeError, match="unpruned network spec"):
        prune.PrunedSpec(prune.unpruned_cfg(spec), tuple(widths.items()))


def test_masks_of_some_groups_keep_the_rest_and_count_them_in_the_kept_fraction():
    """Groups `apply_masks` is not given keep every channel, and the result says so: its masks
    cover every prunable group, so `kept_fraction` is the share of all prunable channels."""
    spec = models.spec("mobilenet_v3_small", small_input=True, num_classes=10)
    model = spec.build()
    groups = [group for group in prune.channel_groups(spec) if group.prunable]
    first = groups[0]
    result = prune.apply_masks(model, {first.name: torch.arange(first.channels) < 1})
    assert set(result.masks) == {group.name for group in groups}
    total = sum(group.channels for group in groups)
    assert result.kept_fraction == (total - first.channels + 1) / total
    assert prune.apply_masks(model, {}).kept_fraction == 1.0


def test_unpruned_cfg_builds_and_costs_the_same_network():
    spec = models.spec("mobilenet_v3_large", small_input=True, num_classes=10)
    cfg = prune.unpruned_cfg(spec)
    assert models.cost(cfg) == models.cost(spec)
    assert [tuple(v.shape) for v in cfg.build().state_dict().values()] == [
        tuple(v.shape) for v in spec.build().state_dict().values()
    ]


# --- checkpoints -------------------------------------------------------------------------------------


def test_checkpoint_round_trip_rebuilds_the_pruned_network(tmp_path):
    model = randomised(models.spec("mobilenet_v3_small", small_input=True, num_classes=10), seed=7)
    result = prune.slim(model, 0.4)
    optimizer = torch.optim.SGD(result.model.parameters(), lr=0.1, momentum=0.9)
    result.model(torch.randn(2, 3, 32, 32)).sum().backward()
    optimizer.step()
    path = tmp_path / "pruned.pth"
    prune.save_pruned(path, result.model, result.cfg, optimizer=optimizer, epoch=12, accuracy=0.97)
    raw = torch.load(path, weights_only=True)  # plain data: no pickled class
    assert raw["format"] == prune.CHECKPOINT_FORMAT and raw["epoch"] == 12
    loaded = prune.load_pruned(path)
    assert loaded.cfg == result.cfg and loaded.epoch == 12 and loaded.metadata == {"accuracy": 0.97}
    assert loaded.optimizer_state["param_groups"][0]["lr"] == 0.1
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(outputs(loaded.model, x), outputs(result.model, x))
    fresh = torch.optim.SGD(loaded.model.parameters(), lr=0.1, momentum=0.9)
    fresh.load_state_dict(loaded.optimizer_state)


def test_a_checkpoint_whose_weights_do_not_fit_its_cfg_is_refused(tmp_path):
    spec = models.spec("mobilenet_v3_small", small_input=True, num_classes=10)
    result = prune.slim(randomised(spec, seed=8), 0.4)
    with pytest.raises(ValueError, match="does not fit the cfg"):
        prune.save_pruned(tmp_path / "bad.pth", result.model, prune.unpruned_cfg(spec))
    assert not (tmp_path / "bad.pth").exists()
    path = tmp_path / "good.pth"
    prune.save_pruned(path, result.model, result.cfg)
    payload = torch.load(path, weights_only=True)
    payload["cfg"] = prune.cfg_to_dict(prune.unpruned_cfg(spec))  # another cfg beside these weights
    torch.save(payload, path)
    with pytest.raises(ValueError, match="does not fit the cfg"):
        prune.load_pruned(path)
    torch.save({"state_dict": {}}, path)
    with pytest.raises(ValueError, match="not an lwcnn pruned checkpoint"):
        prune.load_pruned(path)


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(models.MODEL_NAMES), width=st.sampled_from([0.5, 0.75, 1.0]))
def test_every_spec_survives_a_trip_through_plain_data(name, width):
    options = {"width_multiplier": width} if "width_multiplier" in models.options(name) else {}
    spec = models.spec(name, num_classes=10, **options)
    assert prune.cfg_from_dict(prune.cfg_to_dict(spec)) == spec


def test_unknown_cfg_classes_are_refused():
    with pytest.raises(ValueError, match="cfg class 'ResNet' is unknown"):
        prune.cfg_from_dict({"class": "ResNet", "fields": {}})


# --- sparsity training and unstructured pruning -------------------------------------------------------


def test_sparsity_step_is_the_gradient_of_the_penalty():
    spec = models.spec("mobilenet_v3_small", small_input=True, num_classes=10)
    x, labels = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    first = randomised(spec, 9)  # eval mode: no dropout draws
    second = copy.deepcopy(first)
    s = 1e-3
    loss = nn.functional.cross_entropy(first(x), labels) + prune.sparsity_penalty(s)(first)
    loss.backward()
    nn.functional.cross_entropy(second(x), labels).backward()
    prune.sparsity_step(second, s)
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-7)
    gammas = torch.cat([m.weight.detach().abs() for m in first.modules() if isinstance(m, nn.BatchNorm2d)])
    assert prune.batchnorm_scales(first).sum().item() == pytest.approx(gammas.sum().item())
    assert prune.sparsity_penalty(s)(first).item() == pytest.approx(s * gammas.sum().item(), rel=1e-6)
    with pytest.raises(ValueError, match="sparsity strength"):
        prune.sparsity_penalty(-1)


@pytest.mark.parametrize("amount", [0.0, 0.3, 0.9])
def test_magnitude_pruning_zeroes_weights_without_shrinking_anything(amount):
    model = randomised(models.spec("mobilenet_v3_small", small_input=True, num_classes=10), 10)
    before = copy.deepcopy(model.state_dict())
    pruned = prune.magnitude_prune(model, amount)
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    total = sum(w.numel() for w in weights)
    # a float32 draw is exactly 0 now and then (the convs' init follows the global generator, so
    # it depends on the tests that ran before); those zeros are the smallest |w|, removed first
    already = sum(int((w == 0).sum()) for w in weights)
    expected = max(round(amount * total), already)
    assert prune.zero_fraction(pruned) == pytest.approx(expected / total, abs=1e-6)
    after = model.state_dict()  # the original is untouched
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert counted_params(pruned) == counted_params(model)
    assert {k: v.shape for k, v in pruned.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }
    kept = torch.cat([w.detach().abs().flatten() for w in weights])
    threshold = kept.sort().values[round(amount * total) - 1] if amount else -1
    for original, new in zip(
        weights, [m.weight for m in pruned.modules() if isinstance(m, nn.Conv2d | nn.Linear)], strict=True
    ):
        large = original.detach().abs() > threshold
        assert torch.equal(new.detach()[large], original.detach()[large])


def test_small_input_networks_use_batchnorm_momentum_0_1():
    """At 0.01 (MobileNetV3's ImageNet value) a few-epoch run evaluates at chance."""
    small = models.build("mobilenet_v3_small", small_input=True, num_classes=10)
    large = models.build("mobilenet_v3_small")
    assert {m.momentum for m in small.modules() if isinstance(m, nn.BatchNorm2d)} == {0.1}
    assert {m.momentum for m in large.modules() if isinstance(m, nn.BatchNorm2d)} == {0.01}
    assert isinstance(prune.spec_of(small).stages()[1].layers[0], InvertedResidual)


def test_mean_normalized_scores_divide_each_group_by_its_mean():
    model = randomised(models.spec("mobilenet_v3_small", small_input=True, num_classes=10), seed=11)
    raw, normalized = prune.group_scores(model), prune.group_scores(model, normalize="mean")
    for name, score in raw.items():
        torch.testing.assert_close(normalized[name], score / score.mean())
        assert normalized[name].mean().item() == pytest.approx(1.0, rel=1e-5)
    result = prune.slim(model, 0.4, normalize="mean")
    check_exact(model, result, 32)
    with pytest.raises(ValueError, match="normalize must be one of"):
        prune.slim(model, 0.4, normalize="max")


@pytest.mark.parametrize(("name", "options", "resolution"), V3_CASES[2:] + OTHER_CASES[:2])
def test_channel_costs_are_what_a_built_network_one_channel_narrower_saves(name, options, resolution):
    spec = models.spec(name, **options)
    cfg = prune.unpruned_cfg(spec)
    x = torch.randn(1, spec.in_channels, resolution, resolution)
    full_params, full_macs = counted_params(spec.build()), counted_macs(spec.build(), x)[0]
    costs = prune.channel_costs(spec, resolution)
    for group_name in list(costs)[::3]:  # every third group keeps the test quick
        narrower = prune.PrunedSpec(spec, tuple((n, k - (n == group_name)) for n, k in cfg.widths))
        module = narrower.build()
        saved = (full_params - counted_params(module), full_macs - counted_macs(module, x)[0])
        assert costs[group_name] == saved, group_name


def test_cost_weighted_penalty_scales_each_layers_term():
    spec = models.spec("mobilenet_v3_small", small_input=True, num_classes=10)
    model = randomised(spec, seed=12)
    weights = prune.cost_weights(spec)
    assert set(weights) == {
        path for group in prune.channel_groups(spec) if group.prunable for path in group.norms
    }
    expected = sum(
        weights.get(path, 1.0) * module.weight.abs().sum().item()
        for path, module in model.named_modules()
        if isinstance(module, nn.BatchNorm2d)
    )
    assert prune.sparsity_penalty(1e-3, weights)(model).item() == pytest.approx(1e-3 * expected, rel=1e-5)
    stem = weights["features.stem.0.bn"]  # at 32x32 the stem's channels cost far more MACs than the head's
    assert stem > weights["features.head.0.bn"]
    with pytest.raises(ValueError, match="weights"):
        prune.sparsity_penalty(1e-3, {"features.stem.0.bn": -1.0})
    with pytest.raises(ValueError, match="modules the model does not have"):
        prune.sparsity_penalty(1e-3, {"nope": 1.0})(model)


def test_lesson_08s_recorded_evaluations_describe_the_shipped_model():
    """data/pruning/evaluations.csv (the lesson's checked accuracies) belongs to the shipped
    checkpoint: its costs are what slimming that model gives, its unpruned accuracy is the one the
    checkpoint and the sweep recorded, and the sweeps' seed-0 sparsity rows slimmed the same model."""
    folder = PRUNING_DIR
    checkpoint = prune.load_pruned(PRUNING_CHECKPOINT)
    recipe = checkpoint.metadata["recipe"]

    def read(name):
        with open(folder / name) as handle:
            return list(csv.DictReader(line for line in handle if not line.startswith("#")))

    rows, sweep, before = read("evaluations.csv"), read("sweep.csv"), read("before_finetuning.csv")
    full = models.cost(checkpoint.cfg)
    (unpruned,) = [row for row in rows if row["pruning"] == "none"]
    assert float(unpruned["test_accuracy"]) == checkpoint.metadata["test_accuracy"]

    def shipped(r):  # a sweep row of the shipped model: sparsity-trained with the recipe's seed
        return r["training"] == "sparsity" and int(r["seed"]) == recipe["seed"]

    baseline = next(r for r in sweep if shipped(r) and float(r["prune_rate"]) == 0)
    assert float(baseline["baseline_accuracy"]) == checkpoint.metadata["test_accuracy"]
    assert float(baseline["s"]) == recipe["sparsity"]
    for row in rows:
        rate = float(row["prune_rate"])
        if row["pruning"] == "slimmed":
            normalize = None if row["scores"] == "raw" else row["scores"]
            cost = models.cost(prune.slim(checkpoint.model, rate, normalize=normalize).cfg)
        else:
            cost = full
        assert (int(row["params"]), int(row["macs"])) == (cost.params, cost.macs), row
    slimmed = {(r["scores"], float(r["prune_rate"])): r for r in rows if r["pruning"] == "slimmed"}
    for r in sweep:  # the sweep slimmed the same model with the same scores: the same accuracies
        if shipped(r) and r["schedule"] == "one-shot":
            assert float(slimmed[recipe["normalize"], float(r["prune_rate"])]["test_accuracy"]) == float(
                r["pruned_accuracy"]
            )
    checked = 0
    for r in before:
        if shipped(r) and float(r["prune_rate"]) > 0:
            evaluated = slimmed[r["scores"], float(r["prune_rate"])]
            assert (r["params"], r["macs"], float(r["test_accuracy"])) == (
                evaluated["params"],
                evaluated["macs"],
                float(evaluated["test_accuracy"]),
            )
            checked += 1
    assert checked == len(slimmed)


# --- blocks declare their channels; pruning reads only that --------------------------------------


@pytest.mark.parametrize("prune_rate", [0.3, 0.7])
def test_a_block_declaring_its_channels_is_slimmed_with_no_code_in_prune(prune_rate):
    """The search space's ConvBlock (conv, SE, identity shortcut) says nothing to lwcnn.prune but
    its `channel_roles()` (inherited from the run-of-layers blocks): that is enough to slim exactly."""
    from lwcnn.nas import BlockChoice, SearchedNet

    spec = SearchedNet(
        (
            BlockChoice("conv", 3, 0.25, "identity", 1.0, 2),
            BlockChoice("mbconv3", 5, 0.0, "identity", 1.0, 2),
            BlockChoice("dwsep", 3, 0.25, "none", 0.5, 1),
            BlockChoice("conv", 5, 0.0, "identity", 1.0, 1),
        )
    )
    model = randomised(spec, seed=3, resolution=32)
    result = prune.slim(model, prune_rate)
    check_exact(model, result, 32)
    # the shortcuts tie each layer's input to its output: the stem and both layers of block1
    # (16 channels, stride 1) are one group, scored by all three BatchNorms
    (tied,) = [group for group in prune.channel_groups(spec) if "features.block1.0.block.0.bn" in group.norms]
    assert tied.name == "features.stem.0.out"
    assert tied.norms == (
        "features.stem.0.bn",
        "features.block1.0.block.0.bn",
        "features.block1.1.block.0.bn",
    )


def test_prune_has_no_dispatch_over_block_classes():
    """Pruning asks each layer (`channel_roles()`); it never tests what class a layer is."""
    import ast

    from lwcnn import blocks

    files = sorted(Path(prune.__file__).parent.glob("*.py"))
    assert len(files) > 1  # the package's files, each read
    source = ast.Module(
        body=[node for file in files for node in ast.parse(file.read_text()).body], type_ignores=[]
    )
    kinds = {kind.__name__ for kind in (*blocks.BLOCKS, *models.GLUE_LAYERS)}
    named = sorted({node.id for node in ast.walk(source) if isinstance(node, ast.Name)} & kinds)
    attributes = sorted(  # blocks.ConvBNAct, models.Linear (torch's nn.Linear is not a block)
        {
            node.attr
            for node in ast.walk(source)
            if isinstance(node, ast.Attribute)
            and ast.unparse(node.value) in ("blocks", "models", "lwcnn.blocks")
        }
        & kinds
    )
    assert named == attributes == [], (named, attributes)
    compared = [
        node
        for node in ast.walk(source)
        if isinstance(node, ast.Compare) and any(isinstance(op, ast.Is) for op in node.ops)
    ]
    assert all("kind" not in ast.unparse(node) for node in compared), [ast.unparse(n) for n in compared]


def test_every_block_either_declares_its_channels_or_is_refused_by_name():
    from lwcnn import blocks

    for kind in (*blocks.BLOCKS, *models.GLUE_LAYERS):
        supported = kind.channel_roles is not blocks.BlockSpec.channel_roles
        assert (kind.__name__ in prune.supported_layers()) == supported, kind
