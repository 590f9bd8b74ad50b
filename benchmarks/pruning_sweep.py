"""Precompute lesson 08's pruning data: gamma histograms, the sweeps over seeds, the trained model.

    .venv/bin/python benchmarks/pruning_sweep.py          # about 20 minutes on 2 CPU cores

Everything trains on distorted digits (`lwcnn.data.distorted_digits_loaders`, 2160 test
images), where the course's networks land near 80% and an effect of pruning can show; on plain
digits every curve ends near 98%. Writes into data/pruning/:

- `gammas.csv`: every BatchNorm |gamma| of MobileNetV3-Small (32x32) trained with the sparsity
  penalty `s * sum|gamma|` for each s in `HISTOGRAM_S` (the study's Figure 3), seed 0;
- `before_finetuning.csv`: for the model trained without and with the penalty, each seed of
  `SEEDS`, each of 9 prune rates and both scores (raw |gamma|, |gamma| over its layer's mean):
  params, MACs and test accuracy right after slimming (the study's Figure 4, before fine-tuning);
- `sweep.csv`: the same two trainings and seeds, slimmed at each of `FINETUNE_RATES` with the
  recipe's scores and fine-tuned, in one shot (one cut, `finetune_epochs` epochs) and, at
  `ITERATIVE_RATES`, iteratively (`finetune_epochs` equal cuts, one epoch after each: the same
  fine-tuning budget): params, MACs, accuracy before and after fine-tuning;
- `mobilenet_v3_small_digits_sparse.pth`: the sparsity-trained model of seed 0
  (lwcnn.prune.save_pruned, recipe in its metadata), which the lesson and benchmarks/pruning.py
  start from;
- `evaluations.csv`: that model's test accuracy as it is, with a share of its weights zeroed
  (`prune.magnitude_prune`) and right after slimming with raw and with mean-normalized scores,
  at each rate, before any fine-tuning. `--evaluations-only` rewrites just this file from the
  shipped model (seconds, no training).

The trainings and fine-tunes run in `--jobs` processes (default 2), each on one thread.
Everything is seeded, so a re-run on the same machine writes the same numbers, whatever the
number of processes. The lesson re-runs one prune rate live, next to these files; its checked
claims come from the files, since a live run's last digits depend on the CPU.
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
from lwcnn.data import dataset_loaders
from lwcnn.paths import PRUNING_CHECKPOINT, PRUNING_DIR
from lwcnn.train import evaluate, set_seed, train

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = PRUNING_DIR

# The course's recipe (also stored in the checkpoint's metadata, where the lesson reads it).
# SGD as in the paper: with Adam, whose steps are at most lr whatever the gradient, 6 short epochs
# cannot move gammas from 1 to 0 and sparsity training does nothing visible.
RECIPE = {
    "model": "mobilenet_v3_small",
    "width_multiplier": 0.5,
    "classifier_norm": True,  # BatchNorm1d after the hidden linear layer: its outputs are pruned too
    "dataset": "distorted",  # lwcnn.data.DATASETS
    "optimizer": "sgd",  # momentum 0.9 (Nesterov)
    "scheduler": "onecycle",  # warm-up, then decay: with lr 0.1 from the start, 1 of 3 plain seeds never learned
    "epochs": 6,
    "lr": 0.1,
    "batch_size": 32,
    "sparsity": 5e-3,  # s of the sparsity-trained model
    "finetune_epochs": 3,
    "finetune_lr": 0.05,
    "normalize": "mean",  # slim's score normalization (lwcnn.prune.group_scores)
    "seed": 0,  # the data split's seed, and the training seed of the shipped model
}
SEEDS = (0, 1, 2)  # training seeds of the sweeps (the data split stays the recipe's)
HISTOGRAM_S = (0.0, 5e-3, 1e-2)
RATES = tuple(round(0.1 * step, 1) for step in range(1, 10))
FINETUNE_RATES = (0.2, 0.4, 0.6, 0.8)
ITERATIVE_RATES = (0.4, 0.6)
SCORES = {"raw": None, "mean": "mean"}  # scores column -> slim's normalize


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
    return dataset_loaders(
        recipe.get("dataset", "digits"), batch_size=recipe["batch_size"], seed=recipe["seed"]
    )


def train_baseline(s: float, loaders, recipe: dict = RECIPE, progress: bool = True, seed: int | None = None):
    """MobileNetV3-Small with the sparsity penalty at strength s (0: none), trained from `seed`
    (default: the recipe's)."""
    seed = recipe["seed"] if seed is None else seed
    set_seed(seed)
    model = course_spec(recipe).build()
    history = train(
        model,
        loaders,
        epochs=recipe["epochs"],
        lr=recipe["lr"],
        optimizer=recipe["optimizer"],
        scheduler=recipe.get("scheduler", "cosine"),
        seed=seed,
        progress=progress,
        extra_loss=prune.sparsity_penalty(s) if s else None,
    )
    return model, history


def _finetune_model(model, loaders, epochs: int, recipe: dict, seed: int, progress: bool):
    return train(
        model,
        loaders,
        epochs=epochs,
        lr=recipe["finetune_lr"],
        optimizer=recipe["optimizer"],
        seed=seed,
        progress=progress,
    )


def slim_and_finetune(
    model, prune_rate: float, loaders, recipe: dict = RECIPE, progress: bool = True, seed: int | None = None
):
    """Slim at `prune_rate` (the recipe's score normalization), then fine-tune: (result, before, after)."""
    seed = recipe["seed"] if seed is None else seed
    result = prune.slim(model, prune_rate, normalize=recipe["normalize"])
    before = evaluate(result.model, loaders[1])[1]
    history = _finetune_model(result.model, loaders, recipe["finetune_epochs"], recipe, seed, progress)
    return result, before, history.final_test_accuracy


def slim_iteratively(
    model, prune_rate: float, loaders, recipe: dict = RECIPE, progress: bool = True, seed: int | None = None
):
    """Reach `prune_rate` in `finetune_epochs` equal cuts (shares of the original channels), one
    epoch of fine-tuning after each: (last result, accuracy right after the first cut, after)."""
    seed = recipe["seed"] if seed is None else seed
    steps = recipe["finetune_epochs"]
    removed, first, history = 0.0, None, None
    for step in range(1, steps + 1):
        target = prune_rate * step / steps  # share of the original channels gone after this cut
        result = prune.slim(model, (target - removed) / (1 - removed), normalize=recipe["normalize"])
        removed, model = target, result.model
        if first is None:
            first = evaluate(model, loaders[1])[1]
        history = _finetune_model(model, loaders, 1, recipe, seed + step, progress)
    return result, first, history.final_test_accuracy


def _train(s: float, seed: int) -> dict:
    """Train at strength s (0: none) from `seed` on one thread: accuracy, every |gamma|, the
    weights, and the slimmed network's accuracy before fine-tuning at every rate and score."""
    torch.set_num_threads(1)  # the order of float sums, hence the numbers, depend on it
    loaders = course_loaders()
    model, history = train_baseline(s, loaders, progress=False, seed=seed)
    return {
        "s": s,
        "seed": seed,
        "accuracy": history.final_test_accuracy,
        "gammas": prune.batchnorm_scales(model).tolist(),
        "state": model.state_dict(),
        "before": _slimmed_rows(model, loaders[1]),
    }


def _slimmed_rows(model, test_loader) -> list[list]:
    """[scores, rate, params, MACs, test accuracy] of `model` slimmed at every rate with every
    score, before any fine-tuning."""
    rows = []
    for scores, normalize in SCORES.items():
        for rate in RATES:
            result = prune.slim(model, rate, normalize=normalize)
            cost = models.cost(result.cfg)
            rows.append([scores, rate, cost.params, cost.macs, evaluate(result.model, test_loader)[1]])
    return rows


def _finetune(training: str, schedule: str, rate: float, trained: dict) -> list:
    """Slim the model trained at s at `rate` and fine-tune it, on one thread: its sweep.csv row."""
    torch.set_num_threads(1)
    model = course_spec().build()
    model.load_state_dict(trained["state"])
    slimming = slim_and_finetune if schedule == "one-shot" else slim_iteratively
    result, before, after = slimming(model, rate, course_loaders(), progress=False, seed=trained["seed"])
    cost = models.cost(result.cfg)
    return [
        training,
        trained["s"],
        trained["seed"],
        schedule,
        rate,
        cost.params,
        cost.macs,
        trained["accuracy"],
        before,
        after,
    ]


def _work(task: tuple) -> tuple[str, Any]:
    """The pool's one entry point: ("train", s, seed) or ("finetune", training, schedule, rate, trained)."""
    kind, *arguments = task
    return kind, (_train(*arguments) if kind == "train" else _finetune(*arguments))


EVALUATIONS = OUT / "evaluations.csv"
EVALUATION_COLUMNS = ("pruning", "scores", "prune_rate", "params", "macs", "test_accuracy")


def write_evaluations(checkpoint_path=PRUNING_CHECKPOINT) -> None:
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
    rows += [("slimmed", *row) for row in _slimmed_rows(model, test_loader)]
    with open(EVALUATIONS, "w", newline="") as handle:
        handle.write(
            f"# {checkpoint_path.name} evaluated on the {recipe.get('dataset', 'digits')} test set, no fine-tuning\n"
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
    branches = {0.0: "plain", RECIPE["sparsity"]: "sparsity"}
    trainings = [(s, seed) for seed in SEEDS for s in branches]
    trainings += [(s, SEEDS[0]) for s in HISTOGRAM_S if s not in branches]
    schedules = [("one-shot", rate) for rate in FINETUNE_RATES] + [
        ("iterative", rate) for rate in ITERATIVE_RATES
    ]
    trained, rows = {}, []
    full = course_spec().cost()
    with (
        multiprocessing.get_context("spawn").Pool(args.jobs) as pool,
        tqdm(
            total=len(trainings) + len(SEEDS) * len(branches) * len(schedules), disable=args.no_progress
        ) as bar,
    ):
        # each sweep training's fine-tunes are queued as soon as it is trained, so no process waits
        pending = [pool.apply_async(_work, (("train", s, seed),)) for s, seed in trainings]
        while pending:
            kind, out = pending.pop(0).get()
            bar.update()
            if kind == "train":
                trained[out["s"], out["seed"]] = out
                bar.write(f"s={out['s']:g} seed {out['seed']}: test accuracy {out['accuracy']:.4f}")
                if out["s"] in branches:
                    pending += [
                        pool.apply_async(_work, (("finetune", branches[out["s"]], schedule, rate, out),))
                        for schedule, rate in schedules
                    ]
                continue
            rows.append(out)
            training, _, seed, schedule, rate, params, macs, baseline, before, after = out
            bar.write(
                f"{training:>8} seed {seed} {schedule:>9} {rate:.1f}: MACs x{full.macs / macs:.2f} "
                f"accuracy {before:.4f} -> {after:.4f} (baseline {baseline:.4f})"
            )

    with open(OUT / "gammas.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["s", "test_accuracy", "abs_gamma"])
        for s in HISTOGRAM_S:
            out = trained[s, SEEDS[0]]
            writer.writerows([s, f"{out['accuracy']:.4f}", f"{gamma:.6g}"] for gamma in out["gammas"])

    with open(OUT / "before_finetuning.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["training", "s", "seed", "scores", "prune_rate", "params", "macs", "test_accuracy"])
        for seed in SEEDS:
            for s, training in branches.items():
                out = trained[s, seed]
                for scores in SCORES:
                    writer.writerow([training, s, seed, scores, 0.0, full.params, full.macs, out["accuracy"]])
                writer.writerows([training, s, seed, *row] for row in out["before"])

    sparse = course_spec().build()
    sparse.load_state_dict(trained[RECIPE["sparsity"], RECIPE["seed"]]["state"])
    prune.save_pruned(
        PRUNING_CHECKPOINT,
        sparse,
        epoch=RECIPE["epochs"],
        test_accuracy=trained[RECIPE["sparsity"], RECIPE["seed"]]["accuracy"],
        recipe=RECIPE,
    )

    write_evaluations()
    order = {training: index for index, training in enumerate(branches.values())}
    rows.sort(key=lambda row: (order[row[0]], row[2], row[3] != "one-shot", row[4]))
    header = ["training", "s", "seed", "schedule", "prune_rate", "params", "macs", "baseline_accuracy"]
    with open(OUT / "sweep.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*header, "pruned_accuracy", "finetuned_accuracy"])
        for s, training in branches.items():
            for seed in SEEDS:
                baseline = trained[s, seed]["accuracy"]
                writer.writerow([training, s, seed, "none", 0.0, full.params, full.macs, *[baseline] * 3])
                writer.writerows(row for row in rows if row[0] == training and row[2] == seed)
    elapsed = time.perf_counter() - start
    with open(OUT / "README.md", "w") as handle:
        handle.write(
            "# Lesson 08's precomputed pruning data\n\n"
            "Made by `.venv/bin/python benchmarks/pruning_sweep.py` (see its docstring for the files "
            "and the recipe).\n\n"
            f"Last run: {elapsed:.0f} s with {args.jobs} processes of one thread on {latency.device_name()}, "
            f"torch {torch.__version__}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}.\n\n"
            "`evaluations.csv` (the shipped model evaluated as it is, zeroed and slimmed at each rate, "
            "before\nfine-tuning) is rewritten alone, in seconds, by `.venv/bin/python "
            "benchmarks/pruning_sweep.py\n--evaluations-only`; its header names the machine and date.\n"
        )
    print(f"wrote {OUT.relative_to(ROOT)}/ in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
