"""Network slimming end to end: train (seeded), prune 40% of the channels, fine-tune, measure.

    .venv/bin/python benchmarks/pruning.py        # a few minutes on one CPU thread

Trains MobileNetV3-Small (32x32, digits) with the course's sparsity recipe (the RECIPE of
benchmarks/pruning_sweep.py), slims it at 40% with lwcnn.prune.slim, fine-tunes the smaller
network, and times both networks side by side on the CPU (batch 1, one thread). The last line:

    macs_ratio=<x> params_ratio=<x> acc_drop_points=<x> cpu_speedup=<x>

Ratios are unpruned / pruned; the accuracy drop is unpruned minus pruned-and-fine-tuned test
accuracy, in percentage points (negative: the pruned network is more accurate). The speed-up is
reported as measured: it is smaller than the MAC ratio (see lesson 08).
"""

from __future__ import annotations

import argparse
import sys

import torch
from pruning_sweep import RECIPE, course_loaders, slim_and_finetune, train_baseline

from lwcnn import latency, models

PRUNE_RATE = 0.4


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=PRUNE_RATE, help="prune rate (default 0.4)")
    parser.add_argument(
        "--sparsity", type=float, default=RECIPE["sparsity"], help=f"s (default {RECIPE['sparsity']:g})"
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    loaders = course_loaders()
    model, history = train_baseline(args.sparsity, loaders, progress=not args.no_progress)
    result, before, after = slim_and_finetune(model, args.rate, loaders, progress=not args.no_progress)
    full, pruned = models.cost(model.spec), models.cost(result.cfg)
    times = latency.compare({"unpruned": model, "pruned": result.model}, (1, 1, 32, 32), rounds=30, calls=20)
    print(
        f"unpruned: {full.params:,} params, {full.macs:,} MACs, accuracy {history.final_test_accuracy:.4f}, {times['unpruned']:.3f} ms"
    )
    print(
        f"pruned {args.rate:.0%}: {pruned.params:,} params, {pruned.macs:,} MACs, accuracy {before:.4f} before / {after:.4f} after fine-tuning, {times['pruned']:.3f} ms"
    )
    print(
        f"macs_ratio={full.macs / pruned.macs:.2f} params_ratio={full.params / pruned.params:.2f} "
        f"acc_drop_points={100 * (history.final_test_accuracy - after):.2f} "
        f"cpu_speedup={times['unpruned'] / times['pruned']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
