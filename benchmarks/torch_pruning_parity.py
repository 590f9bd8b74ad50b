"""lwcnn.prune.slim against Torch-Pruning's BNScalePruner at the same rate on the same model.

    .venv/bin/python benchmarks/torch_pruning_parity.py

Both tools score a channel by |gamma| and cut with one global threshold. Torch-Pruning is set
to score a group of coupled BatchNorms by their largest |gamma| (`group_reduction="max"`, as
lwcnn does) with its normalizer off (lwcnn's `normalize=None`, the paper) or at its default
"mean" (lwcnn's `normalize="mean"`). For each model and rate the script prints how many
BatchNorm layers keep exactly the same channels (same gammas, same order), both tools' params
and MACs, and the largest logit difference between the two pruned networks. Then it shows
Torch-Pruning at its own defaults (group_reduction="mean"), what each tool does with a layer
whose every gamma is below the threshold, and whether each tool's saved file loads with
`torch.load(weights_only=True)`.

The models: the course's sparsity-trained MobileNetV3-Small on distorted digits (the checkpoint in
data/pruning/), and MobileNetV3-Small/-Large at 224 with seeded random gammas (untrained: their
signal fades with depth, so there the kept channels are the comparison, not the logits). Last line:
`identical_layers=<matching BatchNorm layers>/<all> max_logit_diff=<x>`.
"""

from __future__ import annotations

import copy
import io
import pathlib
import sys
import warnings

import torch
import torch_pruning as tp
from torch import nn

from lwcnn import models, prune
from lwcnn.counting import count_model
from lwcnn.paths import PRUNING_CHECKPOINT

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHECKPOINT = PRUNING_CHECKPOINT
RATES = (0.2, 0.4, 0.6, 0.8)


def random_gammas(spec: models.NetworkSpec, seed: int) -> nn.Module:
    """`spec` built with BatchNorm scales drawn as 2*u^2 (many near 0), in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = spec.build().eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
                module.weight.copy_(2 * torch.rand(module.num_features, generator=generator) ** 2)
    return model


def torch_pruning(model: nn.Module, rate: float, example: torch.Tensor, **importance: str) -> nn.Module:
    """A copy of `model` pruned by Torch-Pruning's BNScalePruner, global threshold, logits kept."""
    pruned = copy.deepcopy(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruner = tp.pruner.BNScalePruner(
            pruned,
            example,
            importance=tp.importance.BNScaleImportance(**importance),
            global_pruning=True,
            pruning_ratio=rate,
            ignored_layers=[pruned.classifier[-1]],
        )
        pruner.step()
    return pruned.eval()


def norms(model: nn.Module) -> dict[str, torch.Tensor]:
    return {
        name: module.weight.detach()
        for name, module in model.named_modules()
        if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d)
    }


def compare(
    model: nn.Module, rate: float, example: torch.Tensor, normalize: str | None
) -> tuple[int, int, float]:
    ours = prune.slim(model, rate, normalize=normalize).model.eval()
    theirs = torch_pruning(model, rate, example[:1], group_reduction="max", normalizer=normalize)
    a, b = norms(ours), norms(theirs)
    same = sum(1 for name in a if a[name].shape == b[name].shape and torch.equal(a[name], b[name]))
    with torch.no_grad():
        difference = (ours(example) - theirs(example)).abs().max().item()
    size = tuple(example.shape[1:])
    ours_count, theirs_count = count_model(ours, (1, *size)), count_model(theirs, (1, *size))
    print(
        f"{normalize or 'none':>9} {rate:>5.1f} {same:>5}/{len(a):<4}"
        f"{ours_count.params:>11,}{theirs_count.params:>11,}{ours_count.macs:>13,}{theirs_count.macs:>13,}"
        f"{difference:>11.1e}"
    )
    return same, len(a), difference


def emptied_layer() -> None:
    """One expanded group scores below everything else: what does a 50% global cut do with it?"""
    spec = models.spec("mobilenet_v3_small", small_input=True, num_classes=10)
    model = random_gammas(spec, seed=1)
    target = "features.stage3.1.expanded"
    group = next(group for group in prune.channel_groups(spec) if group.name == target)
    with torch.no_grad():
        for path in group.norms:
            model.get_submodule(path).weight.mul_(1e-4)
    result = prune.slim(model, 0.5)
    print(f"\nA layer whose every |gamma| is below the 50% threshold ({target}, {group.channels} channels):")
    print(
        f"  lwcnn keeps {result.cfg.kept(target)} (min_channels=1, its best channel); floored: {result.floored}"
    )
    example = torch.randn(1, 3, 32, 32)
    try:
        theirs = torch_pruning(model, 0.5, example, group_reduction="max", normalizer=None)
        kept = theirs.get_submodule(group.norms[0]).num_features
        print(f"  Torch-Pruning keeps {kept}; the network still runs: {tuple(theirs(example).shape)}")
    except Exception as error:  # noqa: BLE001 - report whatever Torch-Pruning raises
        print(f"  Torch-Pruning fails: {type(error).__name__}: {str(error).splitlines()[0][:100]}")


def file_formats() -> None:
    spec = models.spec("mobilenet_v3_small", small_input=True, num_classes=10)
    model = random_gammas(spec, seed=2)
    theirs = torch_pruning(model, 0.4, torch.randn(1, 3, 32, 32), group_reduction="max", normalizer=None)
    buffer = io.BytesIO()
    torch.save(theirs, buffer)  # Torch-Pruning's documented way: the whole pickled model
    buffer.seek(0)
    try:
        torch.load(buffer, weights_only=True)
        verdict = "loads"
    except Exception as error:  # noqa: BLE001 - the point is that it fails
        verdict = f"refused ({type(error).__name__})"
    print(f"\nTorch-Pruning's torch.save(model) with torch.load(weights_only=True): {verdict}")
    ours = prune.slim(model, 0.4)
    buffer = io.BytesIO()
    prune.save_pruned(buffer, ours.model, ours.cfg)
    buffer.seek(0)
    loaded = prune.load_pruned(buffer)
    print(
        f"lwcnn's save_pruned (cfg + state_dict) with load_pruned (weights_only=True): rebuilt {loaded.cfg == ours.cfg}"
    )


def main() -> int:
    torch.set_num_threads(1)
    cases = []
    if CHECKPOINT.exists():
        trained = prune.load_pruned(CHECKPOINT).model.eval()
        cases.append(
            (
                "MobileNetV3-Small 32x32, sparsity-trained on distorted digits",
                trained,
                torch.randn(8, 1, 32, 32),
            )
        )
    else:
        print(f"({CHECKPOINT.relative_to(ROOT)} is missing: run benchmarks/pruning_sweep.py; skipping it)")
    for name in ("mobilenet_v3_small", "mobilenet_v3_large"):
        cases.append(
            (
                f"{name} 224x224, seeded random gammas",
                random_gammas(models.spec(name), 0),
                torch.randn(2, 3, 224, 224),
            )
        )
    same_total = layers_total = 0
    worst = 0.0
    for title, model, example in cases:
        print(f"\n{title}")
        print(
            f"{'normalize':>9} {'rate':>5} {'same BN':>9}{'params':>11}{'TP params':>11}{'MACs':>13}{'TP MACs':>13}{'|logit diff|':>13}"
        )
        for normalize in (None, "mean"):
            for rate in RATES:
                same, layers, difference = compare(model, rate, example, normalize)
                same_total, layers_total, worst = (
                    same_total + same,
                    layers_total + layers,
                    max(worst, difference),
                )
    spec = models.spec("mobilenet_v3_small")
    model = random_gammas(spec, 0)
    default = torch_pruning(model, 0.4, torch.randn(1, 3, 224, 224))
    ours = prune.slim(model, 0.4, normalize="mean").model
    a, b = norms(ours), norms(default)
    same = sum(1 for name in a if a[name].shape == b[name].shape and torch.equal(a[name], b[name]))
    print(
        f"\nTorch-Pruning at its defaults (mean of the coupled BatchNorms' |gamma|, mean-normalized), "
        f"V3-Small 224, 40%: {same}/{len(a)} BatchNorm layers as lwcnn normalize='mean' (max of them)"
    )
    emptied_layer()
    file_formats()
    print(f"\nidentical_layers={same_total}/{layers_total} max_logit_diff={worst:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
