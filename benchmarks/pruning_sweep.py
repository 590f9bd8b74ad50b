"""Precompute lesson 08's pruning data: gamma histograms, the 9-rate sweep, the trained model.

    .venv/bin/python benchmarks/pruning_sweep.py          # about 10 minutes on one CPU thread

Writes into data/pruning/:

- `gammas.csv`: every BatchNorm |gamma| of MobileNetV3-Small (32x32, digits) trained with the
  sparsity penalty `s * sum|gamma|` for each s in `HISTOGRAM_S` (the paper's Figure 3);
- `sweep.csv`: for the model trained without and with the penalty, each of 9 prune rates:
  params, MACs, accuracy right after slimming and after fine-tuning (Figure 4);
- `mobilenet_v3_small_digits_sparse.pth`: the sparsity-trained model (lwcnn.prune.save_pruned,
  recipe in its metadata), which the lesson and benchmarks/pruning.py start from.

Everything is seeded and runs on one thread, so a re-run on the same machine writes the same
numbers; the lesson re-runs one prune rate live and checks it against `sweep.csv`.
"""

from __future__ import annotations

import argparse
import csv
import pathlib
import sys
import time

import torch

from lwcnn import models, prune
from lwcnn.data import digits_loaders
from lwcnn.train import evaluate, set_seed, train

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "pruning"

# The course's recipe (also stored in the checkpoint's metadata, where the lesson reads it).
RECIPE = {
    "model": "mobilenet_v3_small",
    "width_multiplier": 0.5,
    "epochs": 6,
    "lr": 5e-3,
    "batch_size": 64,
    "sparsity": 1e-2,  # s of the sparsity-trained model
    "finetune_epochs": 6,
    "finetune_lr": 5e-3,
    "normalize": "mean",
    "seed": 0,
}
HISTOGRAM_S = (0.0, 1e-3, 1e-2)
RATES = tuple(round(0.1 * step, 1) for step in range(1, 10))


def course_spec(recipe: dict = RECIPE) -> models.NetworkSpec:
    return models.spec(
        recipe["model"],
        small_input=True,
        in_channels=1,
        num_classes=10,
        width_multiplier=recipe["width_multiplier"],
    )


def train_baseline(s: float, loaders, recipe: dict = RECIPE, progress: bool = True):
    """MobileNetV3-Small on digits with the sparsity penalty at strength s (0: none)."""
    set_seed(recipe["seed"])
    model = course_spec(recipe).build()
    history = train(
        model,
        loaders,
        epochs=recipe["epochs"],
        lr=recipe["lr"],
        seed=recipe["seed"],
        progress=progress,
        extra_loss=prune.sparsity_penalty(s) if s else None,
    )
    return model, history


def slim_and_finetune(model, prune_rate: float, loaders, recipe: dict = RECIPE, progress: bool = True):
    """Slim at `prune_rate` (the recipe's score normalization), then fine-tune: (result, before, after)."""
    result = prune.slim(model, prune_rate, normalize=recipe["normalize"])
    before = evaluate(result.model, loaders[1])[1]
    history = train(
        result.model,
        loaders,
        epochs=recipe["finetune_epochs"],
        lr=recipe["finetune_lr"],
        seed=recipe["seed"],
        progress=progress,
    )
    return result, before, history.final_test_accuracy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the order of float sums, hence the numbers, depend on it
    OUT.mkdir(parents=True, exist_ok=True)
    loaders = digits_loaders(batch_size=RECIPE["batch_size"], seed=RECIPE["seed"])
    start = time.perf_counter()

    trained = {}
    with open(OUT / "gammas.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["s", "test_accuracy", "abs_gamma"])
        for s in HISTOGRAM_S:
            model, history = train_baseline(s, loaders, progress=not args.no_progress)
            trained[s] = (model, history.final_test_accuracy)
            print(f"s={s:g}: test accuracy {history.final_test_accuracy:.4f}", flush=True)
            for gamma in prune.batchnorm_scales(model).tolist():
                writer.writerow([s, f"{history.final_test_accuracy:.4f}", f"{gamma:.6g}"])

    sparse, sparse_accuracy = trained[RECIPE["sparsity"]]
    prune.save_pruned(
        OUT / "mobilenet_v3_small_digits_sparse.pth",
        sparse,
        epoch=RECIPE["epochs"],
        test_accuracy=sparse_accuracy,
        recipe=RECIPE,
    )

    full = course_spec().cost()
    with open(OUT / "sweep.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "training",
                "s",
                "prune_rate",
                "params",
                "macs",
                "baseline_accuracy",
                "pruned_accuracy",
                "finetuned_accuracy",
            ]
        )
        writer.writerow(
            [
                "sparsity",
                RECIPE["sparsity"],
                0.0,
                full.params,
                full.macs,
                sparse_accuracy,
                sparse_accuracy,
                "",
            ]
        )
        for training, s in (("plain", 0.0), ("sparsity", RECIPE["sparsity"])):
            model, baseline = trained[s]
            if training == "plain":
                writer.writerow([training, s, 0.0, full.params, full.macs, baseline, baseline, ""])
            for rate in RATES:
                result, before, after = slim_and_finetune(model, rate, loaders, progress=not args.no_progress)
                cost = models.cost(result.cfg)
                writer.writerow([training, s, rate, cost.params, cost.macs, baseline, before, after])
                print(
                    f"{training:>8} rate {rate:.1f}: MACs x{full.macs / cost.macs:.2f} params x{full.params / cost.params:.2f} "
                    f"accuracy {before:.4f} -> {after:.4f} (baseline {baseline:.4f})",
                    flush=True,
                )
    print(f"wrote {OUT.relative_to(ROOT)}/ in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
