"""Precompute lesson 08's pruning data: gamma histograms, the 9-rate sweep, the trained model.

    .venv/bin/python benchmarks/pruning_sweep.py          # about 5 minutes on 2 CPU cores

Writes into data/pruning/:

- `gammas.csv`: every BatchNorm |gamma| of MobileNetV3-Small (32x32, digits) trained with the
  sparsity penalty `s * sum|gamma|` for each s in `HISTOGRAM_S` (the paper's Figure 3);
- `sweep.csv`: for the model trained without and with the penalty, each of 9 prune rates:
  params, MACs, accuracy right after slimming and after fine-tuning (Figure 4);
- `mobilenet_v3_small_digits_sparse.pth`: the sparsity-trained model (lwcnn.prune.save_pruned,
  recipe in its metadata), which the lesson and benchmarks/pruning.py start from;
- `evaluations.csv`: that model's test accuracy as it is, with a share of its weights zeroed
  (`prune.magnitude_prune`) and right after slimming with raw and with mean-normalized scores,
  at each rate, before any fine-tuning. `--evaluations-only` rewrites just this file from the
  shipped model (seconds, no training).

The three trainings and the 18 fine-tunes run in `--jobs` processes (default 2), each on one
thread. Everything is seeded, so a re-run on the same machine writes the same numbers, whatever
the number of processes. The lesson re-runs one prune rate live, next to these files; its
checked claims come from the files, since a live run's last digits depend on the CPU.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import pathlib
import platform
import sys
import time
from typing import Any

import torch
from tqdm.auto import tqdm

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


def _train(s: float) -> dict:
    """Train at sparsity strength s (0: none) on one thread: accuracy, every |gamma|, the weights."""
    torch.set_num_threads(1)  # the order of float sums, hence the numbers, depend on it
    model, history = train_baseline(s, course_loaders(), progress=False)
    return {
        "s": s,
        "accuracy": history.final_test_accuracy,
        "gammas": prune.batchnorm_scales(model).tolist(),
        "state": model.state_dict(),
    }


def _finetune(training: str, s: float, rate: float, trained: dict) -> list:
    """Slim the model trained at s at `rate` and fine-tune it, on one thread: its sweep.csv row."""
    torch.set_num_threads(1)
    model = course_spec().build()
    model.load_state_dict(trained["state"])
    result, before, after = slim_and_finetune(model, rate, course_loaders(), progress=False)
    cost = models.cost(result.cfg)
    return [training, s, rate, cost.params, cost.macs, trained["accuracy"], before, after]


def _work(task: tuple) -> tuple[str, Any]:
    """The pool's one entry point: ("train", s) or ("finetune", training, s, rate, trained)."""
    kind, *arguments = task
    return kind, (_train(*arguments) if kind == "train" else _finetune(*arguments))


EVALUATIONS = OUT / "evaluations.csv"
EVALUATION_COLUMNS = ("pruning", "scores", "prune_rate", "params", "macs", "test_accuracy")


def write_evaluations(checkpoint_path=OUT / "mobilenet_v3_small_digits_sparse.pth") -> None:
    """The shipped model evaluated as it is, zeroed and slimmed at every rate (no fine-tuning)."""
    torch.set_num_threads(1)
    checkpoint = prune.load_pruned(checkpoint_path)
    model, recipe = checkpoint.model.eval(), checkpoint.metadata["recipe"]
    test_loader = course_loaders(recipe)[1]
    full = models.cost(checkpoint.cfg)
    rows = [("none", "", 0.0, full.params, full.macs, evaluate(model, test_loader)[1])]
    for rate in RATES:
        zeroed = prune.magnitude_prune(model, rate)
        rows.append(("zeroed", "", rate, full.params, full.macs, evaluate(zeroed, test_loader)[1]))
    for scores, normalize in (("raw", None), ("mean", "mean")):
        for rate in RATES:
            result = prune.slim(model, rate, normalize=normalize)
            cost = models.cost(result.cfg)
            rows.append(
                ("slimmed", scores, rate, cost.params, cost.macs, evaluate(result.model, test_loader)[1])
            )
    with open(EVALUATIONS, "w", newline="") as handle:
        handle.write(
            f"# {checkpoint_path.name} evaluated on the digits test set, no fine-tuning\n"
            "# made by: .venv/bin/python benchmarks/pruning_sweep.py --evaluations-only\n"
            f"# machine: {latency.device_name()}; torch {torch.__version__}; {time.strftime('%Y-%m-%d')}\n"
        )
        writer = csv.writer(handle)
        writer.writerow(EVALUATION_COLUMNS)
        writer.writerows(rows)
    print(f"wrote {EVALUATIONS.relative_to(ROOT)}: {len(rows)} evaluations of {checkpoint_path.name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2), one thread each")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--evaluations-only", action="store_true", help="only rewrite evaluations.csv from the shipped model"
    )
    args = parser.parse_args()
    if args.evaluations_only:
        write_evaluations()
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    branches = (("plain", 0.0), ("sparsity", RECIPE["sparsity"]))
    others = [s for s in HISTOGRAM_S if s not in dict(branches).values()]
    trained, rows = {}, []
    full = course_spec().cost()
    with (
        multiprocessing.get_context("spawn").Pool(args.jobs) as pool,
        tqdm(total=len(branches) + len(others) + len(branches) * len(RATES), disable=args.no_progress) as bar,
    ):
        # the two sweep branches' trainings first; then their fine-tunes, with the histogram-only
        # trainings among them so that no process waits
        for _, out in pool.imap_unordered(_work, [("train", s) for _, s in branches]):
            trained[out["s"]] = out
            bar.update()
            bar.write(f"s={out['s']:g}: test accuracy {out['accuracy']:.4f}")
        tasks = [("train", s) for s in others]
        tasks += [("finetune", training, s, rate, trained[s]) for training, s in branches for rate in RATES]
        for kind, out in pool.imap_unordered(_work, tasks):
            bar.update()
            if kind == "train":
                trained[out["s"]] = out
                bar.write(f"s={out['s']:g}: test accuracy {out['accuracy']:.4f}")
                continue
            rows.append(out)
            training, _, rate, params, macs, baseline, before, after = out
            bar.write(
                f"{training:>8} rate {rate:.1f}: MACs x{full.macs / macs:.2f} params x{full.params / params:.2f} "
                f"accuracy {before:.4f} -> {after:.4f} (baseline {baseline:.4f})"
            )

    with open(OUT / "gammas.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["s", "test_accuracy", "abs_gamma"])
        for s in HISTOGRAM_S:
            for gamma in trained[s]["gammas"]:
                writer.writerow([s, f"{trained[s]['accuracy']:.4f}", f"{gamma:.6g}"])

    sparse = course_spec().build()
    sparse.load_state_dict(trained[RECIPE["sparsity"]]["state"])
    prune.save_pruned(
        OUT / "mobilenet_v3_small_digits_sparse.pth",
        sparse,
        epoch=RECIPE["epochs"],
        test_accuracy=trained[RECIPE["sparsity"]]["accuracy"],
        recipe=RECIPE,
    )

    write_evaluations()
    order = {training: index for index, (training, _) in enumerate(branches)}
    rows.sort(key=lambda row: (order[row[0]], row[2]))
    header = ["training", "s", "prune_rate", "params", "macs", "baseline_accuracy"]
    with open(OUT / "sweep.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*header, "pruned_accuracy", "finetuned_accuracy"])
        for training, s in branches:
            baseline = trained[s]["accuracy"]
            writer.writerow([training, s, 0.0, full.params, full.macs, baseline, baseline, baseline])
            writer.writerows(row for row in rows if row[0] == training)
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
