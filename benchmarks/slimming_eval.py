"""How long lesson 08's prune-rate slider takes to evaluate a slimmed network, by batch size.

The slider (`lwcnn.widgets.lesson08`) re-evaluates the shipped slimming checkpoint on the 2160
test images at each move, through `lwcnn.train.inference_copy` (BatchNorm folded, channels-last),
on one thread as lesson 08 runs. The batch it feeds the network decides how much of each layer's
activations stays in cache: too small and per-call overhead dominates, too large and the maps
spill out of L2. This times the evaluation at several batch sizes side by side, interleaved in
rounds (each round visits every size once, in a shuffled order) at fresh slimming rates, and
reports the median per size.

    .venv/bin/python benchmarks/slimming_eval.py [--rounds 5]

Last line: `slider_batch=<EVALUATION_BATCH> slider_eval_s=<median> fastest_batch=<n> fastest_eval_s=<median>`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch

from lwcnn import prune
from lwcnn.data import dataset_loaders
from lwcnn.paths import PRUNING_CHECKPOINT
from lwcnn.train import evaluate, inference_copy
from lwcnn.widgets.lesson08 import EVALUATION_BATCH

BATCHES = (16, 32, 64, 128, 256)
RATES = (0.05, 0.15, 0.25, 0.35)  # light rates: the widest networks, the slowest moves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds over every batch size (default 5)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    checkpoint = prune.load_pruned(PRUNING_CHECKPOINT)
    model, recipe = checkpoint.model.eval(), checkpoint.metadata["recipe"]
    dataset = dataset_loaders(recipe["dataset"], batch_size=recipe["batch_size"], seed=recipe["seed"])[
        1
    ].dataset
    loaders = {batch: torch.utils.data.DataLoader(dataset, batch_size=batch) for batch in BATCHES}
    rng = random.Random(0)
    seconds = {batch: [] for batch in BATCHES}
    for round_ in range(args.rounds):
        folded = inference_copy(prune.slim(model, RATES[round_ % len(RATES)], normalize="mean").model)
        evaluate(folded, loaders[BATCHES[0]])  # untimed: first-call allocations
        order = list(BATCHES)
        rng.shuffle(order)
        for batch in order:
            start = time.perf_counter()
            evaluate(folded, loaders[batch])
            seconds[batch].append(time.perf_counter() - start)
    medians = {batch: statistics.median(times) for batch, times in seconds.items()}
    print(f"{len(dataset)} test images, one thread, {args.rounds} rounds; median seconds per evaluation:")
    for batch, median in medians.items():
        mark = "  <- the slider's EVALUATION_BATCH" if batch == EVALUATION_BATCH else ""
        print(f"  batch {batch:>4}: {median:.3f} s{mark}")
    fastest = min(medians, key=medians.get)
    slider = f"{medians[EVALUATION_BATCH]:.3f}" if EVALUATION_BATCH in medians else "nan"
    print(
        f"slider_batch={EVALUATION_BATCH} slider_eval_s={slider} "
        f"fastest_batch={fastest} fastest_eval_s={medians[fastest]:.3f}"
    )


if __name__ == "__main__":
    main()
