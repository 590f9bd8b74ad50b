"""Precompute lesson 08's pruning data: gamma histograms, the 9-rate sweep, the trained model.

    .venv/bin/python benchmarks/pruning_sweep.py          # about 5 minutes on 2 CPU cores

Writes into data/pruning/:

- `gammas.csv`: every BatchNorm |gamma| of MobileNetV3-Small (32x32, digits) trained with the
  sparsity penalty `s * sum|gamma|` for each s in `HISTOGRAM_S` (the paper's Figure 3);
- `sweep.csv`: for the model trained without and with the penalty, each of 9 prune rates:
  params, MACs, accuracy right after slimming and after fine-tuning (Figure 4);
- `mobilenet_v3_small_digits_sparse.pth`: the sparsity-trained model (lwcnn.prune.save_pruned,
  recipe in its metadata), which the lesson and benchmarks/pruning.py start from.

The three trainings and their fine-tunes run in `--jobs` processes (default 2), each on one
thread. Everything is seeded, so a re-run on the same machine writes the same numbers, whatever
the number of processes; the lesson re-runs one prune rate live and checks it against
`sweep.csv`.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import pathlib
import platform
import sys
import time

import torch

from lwcnn import latency, models, prune
from lwcnn.data import digits_loaders
from lwcnn.train import evaluate, set_seed, train

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "pruning"

# The course's recipe (also stored in the checkpoint's metadata, where the lesson reads it).
# SGD as in the paper: with Adam, whose steps are at most lr whatever the gradient, 6 short epochs
# cannot move gammas from 1 to 0 and sparsity training does nothing visible.
RECIPE = {
    "model": "mobilenet_v3_small",
    "width_multiplier": 0.5,
    "classifier_norm": True,  # BatchNorm1d after the hidden linear layer: its outputs are pruned too
    "optimizer": "sgd",  # momentum 0.9 (Nesterov), cosine schedule
    "epochs": 6,
    "lr": 0.1,
    "batch_size": 32,
    "sparsity": 5e-3,  # s of the sparsity-trained model
    "finetune_epochs": 3,
    "finetune_lr": 0.05,
    "normalize": "mean",  # slim's score normalization (lwcnn.prune.group_scores)
    "seed": 0,
}
HISTOGRAM_S = (0.0, 5e-3, 1e-2)
RATES = tuple(round(0.1 * step, 1) for step in range(1, 10))


def course_spec(recipe: dict = RECIPE) -> models.NetworkSpec:
    return models.spec(
        recipe["model"],
        small_input=True,
        in_channels=1,
        num_classes=10,
        width_multiplier=recipe["width_multiplier"],
        classifier_norm=recipe["classifier_norm"],
    )


def course_loaders(recipe: dict = RECIPE):
    return digits_loaders(batch_size=recipe["batch_size"], seed=recipe["seed"])


def train_baseline(s: float, loaders, recipe: dict = RECIPE, progress: bool = True):
    """MobileNetV3-Small on digits with the sparsity penalty at strength s (0: none)."""
    set_seed(recipe["seed"])
    model = course_spec(recipe).build()
    history = train(
        model,
        loaders,
        epochs=recipe["epochs"],
        lr=recipe["lr"],
        optimizer=recipe["optimizer"],
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
        optimizer=recipe["optimizer"],
        seed=recipe["seed"],
        progress=progress,
    )
    return result, before, history.final_test_accuracy


def _run(task: tuple[str, float, bool]) -> dict:
    """One process's share: train at strength s and, for a sweep branch, slim and fine-tune at every rate."""
    training, s, progress = task
    torch.set_num_threads(1)  # the order of float sums, hence the numbers, depend on it
    loaders = course_loaders()
    model, history = train_baseline(s, loaders, progress=progress)
    baseline = history.final_test_accuracy
    print(f"s={s:g}: test accuracy {baseline:.4f}", flush=True)
    out = {"s": s, "accuracy": baseline, "gammas": prune.batchnorm_scales(model).tolist(), "rows": []}
    if s == RECIPE["sparsity"]:
        out["state"] = {key: value.clone() for key, value in model.state_dict().items()}
    if training:
        full = course_spec().cost()
        for rate in RATES:
            result, before, after = slim_and_finetune(model, rate, loaders, progress=progress)
            cost = models.cost(result.cfg)
            out["rows"].append([training, s, rate, cost.params, cost.macs, baseline, before, after])
            print(
                f"{training:>8} rate {rate:.1f}: MACs x{full.macs / cost.macs:.2f} params x{full.params / cost.params:.2f} "
                f"accuracy {before:.4f} -> {after:.4f} (baseline {baseline:.4f})",
                flush=True,
            )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2), one thread each")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    progress = not args.no_progress and args.jobs == 1
    tasks = [("plain", 0.0, progress), ("sparsity", RECIPE["sparsity"], progress)]
    tasks += [("", s, progress) for s in HISTOGRAM_S if s not in (0.0, RECIPE["sparsity"])]
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        done = {out["s"]: out for out in pool.map(_run, tasks, chunksize=1)}

    with open(OUT / "gammas.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["s", "test_accuracy", "abs_gamma"])
        for s in HISTOGRAM_S:
            for gamma in done[s]["gammas"]:
                writer.writerow([s, f"{done[s]['accuracy']:.4f}", f"{gamma:.6g}"])

    sparse = course_spec().build()
    sparse.load_state_dict(done[RECIPE["sparsity"]]["state"])
    prune.save_pruned(
        OUT / "mobilenet_v3_small_digits_sparse.pth",
        sparse,
        epoch=RECIPE["epochs"],
        test_accuracy=done[RECIPE["sparsity"]]["accuracy"],
        recipe=RECIPE,
    )

    full = course_spec().cost()
    header = ["training", "s", "prune_rate", "params", "macs", "baseline_accuracy"]
    with open(OUT / "sweep.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*header, "pruned_accuracy", "finetuned_accuracy"])
        for training, s, _ in tasks[:2]:
            baseline = done[s]["accuracy"]
            writer.writerow([training, s, 0.0, full.params, full.macs, baseline, baseline, baseline])
            writer.writerows(done[s]["rows"])
    elapsed = time.perf_counter() - start
    with open(OUT / "README.md", "w") as handle:
        handle.write(
            "# Lesson 08's precomputed pruning data\n\n"
            "Made by `.venv/bin/python benchmarks/pruning_sweep.py` (see its docstring for the files "
            "and the recipe).\n\n"
            f"Last run: {elapsed:.0f} s with {args.jobs} processes of one thread on {latency.device_name()}, "
            f"torch {torch.__version__}, Python {platform.python_version()}.\n"
        )
    print(f"wrote {OUT.relative_to(ROOT)}/ in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
