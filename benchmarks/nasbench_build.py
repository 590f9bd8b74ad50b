"""Build the course's tabular NAS benchmark: every network of `lwcnn.nas.TABLE_SPACE`, trained.

    .venv/bin/python benchmarks/nasbench_build.py                   # about 35 minutes on 2 CPU cores
    .venv/bin/python benchmarks/nasbench_build.py --space heldout   # the held-out table, about 15 minutes

Trains each of the 216 architectures on digits with `RECIPE` once per seed (three for the course's table, as
NAS-Bench-101 and -201 do: one short run's test accuracy is partly luck), in `--jobs` processes of
one thread, then times them side by side on one thread (`lwcnn.latency.fastest`: the fastest of
75 calls each; batch 1, 32x32, eval mode) with nothing else running. Writes
`data/nasbench_digits.csv`: a header of `#` lines (command, machine, recipe, build time), then one
row per architecture: its code (`TABLE_SPACE.encode`), ops and kernels, params, MACs, the mean
test accuracy over the seeds, each seed's accuracy, and the CPU latency (ms).

`--space heldout` builds `data/nasbench_digits_heldout.csv` the same way from
`lwcnn.nas.HELDOUT_SPACE` (the same decisions over other networks: SE in every block, no identity
shortcut) with one seed: the table search settings are chosen on (`benchmarks/nas_settings.py`).

Interrupted runs resume: finished trainings are kept in `<table>.partial.csv` (one row per network
and seed) and skipped on the next run (delete it to start over).
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
from tqdm.auto import tqdm

from lwcnn import latency, nas
from lwcnn.data import digits_loaders
from lwcnn.train import set_seed, train

ROOT = pathlib.Path(__file__).resolve().parents[1]
RECIPE = {"epochs": 3, "optimizer": "adam", "lr": 0.01, "batch_size": 64}
# Each seed seeds the weights and the batch order; every run sees digits' split 0.
SPACES = {
    "table": ("TABLE_SPACE", nas.DEFAULT_TABLE, (0, 1, 2)),
    "heldout": ("HELDOUT_SPACE", nas.HELDOUT_TABLE, (0,)),
}
LATENCY_ROUNDS, LATENCY_CALLS = 15, 5  # latency.fastest: the fastest of 75 calls per network
TRAINED = ["code", "seed", "params", "macs", "test_accuracy", "train_seconds"]


def _code_text(code: tuple[int, ...]) -> str:
    return "-".join(map(str, code))


def _train(job: tuple[str, tuple[int, ...], int]) -> list:
    """Train one architecture of space `nas.<name>` with one seed on one thread: its row of TRAINED."""
    name, code, seed = job
    torch.set_num_threads(1)  # the order of float sums, hence the numbers, depend on it
    space = getattr(nas, name)
    spec = space.spec(space.decode(code))
    set_seed(seed)
    model = spec.build()
    loaders = digits_loaders(batch_size=RECIPE["batch_size"], seed=0)  # one test set for all runs
    start = time.perf_counter()
    history = train(
        model,
        loaders,
        epochs=RECIPE["epochs"],
        lr=RECIPE["lr"],
        optimizer=RECIPE["optimizer"],
        seed=seed,
        progress=False,
    )
    cost = spec.cost()
    return [
        _code_text(code),
        seed,
        cost.params,
        cost.macs,
        history.final_test_accuracy,
        time.perf_counter() - start,
    ]


def _read_partial(partial: pathlib.Path) -> dict[tuple[str, int], list]:
    """Finished trainings by (code, seed). A run's seconds may be empty: carried over untimed."""
    if not partial.exists():
        return {}
    with open(partial, newline="") as handle:
        return {(row[0], int(row[1])): row for row in csv.reader(handle)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="training processes (default 2), one thread each")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--space",
        choices=list(SPACES),
        default="table",
        help="the course's table (default) or the held-out one",
    )
    args = parser.parse_args()
    space_name, out, seeds = SPACES[args.space]
    space = getattr(nas, space_name)
    partial = out.with_suffix(".partial.csv")
    codes = [space.encode(arch) for arch in space.all_archs()]
    done = _read_partial(partial)
    jobs = [(code, seed) for code in codes for seed in seeds]
    todo = [(space_name, code, seed) for code, seed in jobs if (_code_text(code), seed) not in done]
    start = time.perf_counter()
    if todo:
        with (
            multiprocessing.get_context("spawn").Pool(args.jobs) as pool,
            open(partial, "a", newline="") as handle,
            tqdm(
                total=len(jobs), initial=len(jobs) - len(todo), desc="training", disable=args.no_progress
            ) as bar,
        ):
            writer = csv.writer(handle)
            for row in pool.imap_unordered(_train, todo):
                writer.writerow(row)
                handle.flush()
                done[row[0], row[1]] = row
                bar.update()
    timed = [float(row[5]) for row in done.values() if row[5] != ""]
    untimed = len(jobs) - len(timed)
    trained = f"{sum(timed):.0f} s of training over {len(timed)} timed runs" + (
        f" ({untimed} earlier runs of the same recipe kept without a time)" if untimed else ""
    )

    torch.set_num_threads(1)
    print(f"timing {len(codes)} networks side by side (about a minute; keep the machine quiet)", flush=True)
    networks = {_code_text(code): space.spec(space.decode(code)).build().eval() for code in codes}
    latencies = latency.fastest(
        networks, (1, 1, 32, 32), rounds=LATENCY_ROUNDS, calls=LATENCY_CALLS, threads=1
    )

    command = "benchmarks/nasbench_build.py" + ("" if args.space == "table" else f" --space {args.space}")
    with open(out, "w", newline="") as handle:
        handle.write(
            f"# lwcnn tabular NAS benchmark: every network of lwcnn.nas.{space_name} trained on digits\n"
            f"# made by: .venv/bin/python {command}\n"
            f"# machine: {latency.device_name()}; torch {torch.__version__}; Python {platform.python_version()}\n"
            f"# training: {RECIPE}, seeds {list(seeds)} (test_accuracy is their mean), one thread per run; "
            f"{trained}, {args.jobs} processes\n"
            f"# latency: fastest of {LATENCY_ROUNDS * LATENCY_CALLS} calls in ms (lwcnn.latency.fastest, all networks side by side),"
            " one 32x32 image, batch 1, eval mode, one thread\n"
        )
        writer = csv.writer(handle)
        columns = [f"{name}{block + 1}" for block in range(space.blocks) for name in ("op", "kernel")]
        seeded = [f"accuracy_seed{seed}" for seed in seeds]
        writer.writerow(["code", *columns, "params", "macs", "test_accuracy", *seeded, "latency_ms"])
        for code in codes:
            text, arch = _code_text(code), space.decode(code)
            runs = [done[text, seed] for seed in seeds]
            accuracies = [float(run[4]) for run in runs]
            choices = [value for block in arch for value in (block.op, block.kernel)]
            writer.writerow(
                [text, *choices, runs[0][2], runs[0][3], f"{sum(accuracies) / len(accuracies):.6f}"]
                + [f"{accuracy:.6f}" for accuracy in accuracies]
                + [f"{latencies[text]:.4f}"]
            )
    print(
        f"wrote {out.relative_to(ROOT)}: {len(codes)} networks, {time.perf_counter() - start:.0f} s this run"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
