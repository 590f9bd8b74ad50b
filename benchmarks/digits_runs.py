"""Record the training experiments of lessons 02, 03 and 06 over several seeds.

    .venv/bin/python benchmarks/digits_runs.py            # about 8 minutes on 2 CPU cores

Trains every variant of every experiment in `lwcnn.experiments.EXPERIMENTS` (lesson 02: standard
vs separable; lesson 03: three widths, both on digits; lesson 06: ReLU, h-swish or h-swish in the
deep half, with or without SE, on the distorted digits) with seeds 0..4, one thread, and writes `data/digits_runs.csv`: a `#` header with the command, machine,
float path and time, then one row per run (experiment, variant, seed, params, MACs, test
accuracy). The lessons state their claims on this file; the run a lesson makes live is the
student's own, and its last digits depend on the CPU.

Last line: `runs=<n> seconds=<s> lowest_accuracy=<x>`.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from lwcnn import experiments, latency

FLOAT_PATH_VARIABLES = ("ATEN_CPU_CAPABILITY", "DNNL_MAX_CPU_ISA", "OMP_NUM_THREADS")


def float_path() -> str:
    """Which float kernels this process runs: torch's CPU capability and the variables that pick it."""
    chosen = [f"{name}={os.environ[name]}" for name in FLOAT_PATH_VARIABLES if name in os.environ]
    return f"ATen {torch.backends.cpu.get_cpu_capability()}" + (f" ({', '.join(chosen)})" if chosen else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..n-1 per variant (default 5)")
    parser.add_argument("--out", type=Path, default=experiments.DEFAULT_RUNS)
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    torch.set_num_threads(1)  # one thread: the order of float sums, hence each run, depends on it
    jobs = [
        (name, variant, seed)
        for name, experiment in experiments.EXPERIMENTS.items()
        for variant in experiment.variants
        for seed in range(args.seeds)
    ]
    loaders = {name: experiment.loaders() for name, experiment in experiments.EXPERIMENTS.items()}
    start = time.perf_counter()
    rows = []
    for name, variant, seed in tqdm(jobs, desc="training runs"):
        spec = experiments.EXPERIMENTS[name].variants[variant]
        history = experiments.train_variant(name, variant, seed, loaders[name], progress=False)
        cost = spec.cost(experiments.EXPERIMENTS[name].image_size)
        rows.append((name, variant, seed, cost.params, cost.macs, history.final_test_accuracy))
    seconds = time.perf_counter() - start
    recipes = {
        name: {"dataset": e.dataset, "epochs": e.epochs, "lr": e.lr, "batch_size": e.batch_size}
        for name, e in experiments.EXPERIMENTS.items()
    }
    with args.out.open("w", newline="") as handle:
        handle.write(
            "# lwcnn: the training experiments of lessons 02, 03 and 06 (lwcnn.experiments)\n"
            "# made by: .venv/bin/python benchmarks/digits_runs.py\n"
            f"# machine: {latency.device_name()}; float path: {float_path()}; torch {torch.__version__}; "
            f"Python {platform.python_version()}\n"
            f"# recipe: Adam, cosine schedule, 32x32, split seed 0; {recipes}; seeds 0-{args.seeds - 1}, "
            f"one thread; {len(rows)} runs in {seconds:.0f} s on {time.strftime('%Y-%m-%d')}\n"
        )
        writer = csv.writer(handle)
        writer.writerow(experiments.RUN_COLUMNS)
        for name, variant, seed, params, macs, accuracy in rows:
            writer.writerow((name, variant, seed, params, macs, f"{accuracy:.6f}"))
    print(f"wrote {args.out}")
    runs = experiments.load_runs(args.out)
    for name in experiments.EXPERIMENTS:
        for variant, values in experiments.accuracies(runs, name).items():
            print(f"{name:<14} {variant:<16} {experiments.describe(values)}")
    print(f"runs={len(rows)} seconds={seconds:.0f} lowest_accuracy={min(row[-1] for row in rows):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
