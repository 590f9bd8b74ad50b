"""Build the course's tabular NAS benchmark: every network of `lwcnn.nas.TABLE_SPACE`, trained.

    .venv/bin/python benchmarks/nasbench_build.py            # about 20 minutes on 2 CPU cores

Trains each of the 216 architectures on digits (seeded, `RECIPE`), in `--jobs` processes of one
thread, then times them side by side on one thread (`lwcnn.latency.fastest`: the fastest of 75
calls each; batch 1, 32x32, eval mode) with nothing else running. Writes `data/nasbench_digits.csv`: a header of `#` lines (command, machine, recipe,
build time), then one row per architecture: its code (`TABLE_SPACE.encode`), ops and kernels,
params, MACs, test accuracy and CPU latency (ms).

Interrupted runs resume: finished trainings are kept in `data/nasbench_digits.partial.csv`
and skipped on the next run (delete it to start over).
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
OUT = ROOT / "data" / "nasbench_digits.csv"
PARTIAL = OUT.with_suffix(".partial.csv")
RECIPE = {"epochs": 3, "optimizer": "adam", "lr": 0.01, "batch_size": 64, "seed": 0}
LATENCY_ROUNDS, LATENCY_CALLS = 15, 5  # latency.fastest: the fastest of 75 calls per network
TRAINED = ["code", "params", "macs", "test_accuracy", "train_seconds"]


def _code_text(code: tuple[int, ...]) -> str:
    return "-".join(map(str, code))


def _train(code: tuple[int, ...]) -> list:
    """Train one architecture on one thread: its row of TRAINED."""
    torch.set_num_threads(1)  # the order of float sums, hence the numbers, depend on it
    spec = nas.TABLE_SPACE.spec(nas.TABLE_SPACE.decode(code))
    set_seed(RECIPE["seed"])
    model = spec.build()
    loaders = digits_loaders(batch_size=RECIPE["batch_size"], seed=RECIPE["seed"])
    start = time.perf_counter()
    history = train(
        model,
        loaders,
        epochs=RECIPE["epochs"],
        lr=RECIPE["lr"],
        optimizer=RECIPE["optimizer"],
        seed=RECIPE["seed"],
        progress=False,
    )
    cost = spec.cost()
    return [
        _code_text(code),
        cost.params,
        cost.macs,
        history.final_test_accuracy,
        time.perf_counter() - start,
    ]


def _read_partial() -> dict[str, list]:
    if not PARTIAL.exists():
        return {}
    with open(PARTIAL, newline="") as handle:
        return {row[0]: row for row in csv.reader(handle)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="training processes (default 2), one thread each")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    space = nas.TABLE_SPACE
    codes = [space.encode(arch) for arch in space.all_archs()]
    done = _read_partial()
    todo = [code for code in codes if _code_text(code) not in done]
    start = time.perf_counter()
    if todo:
        with (
            multiprocessing.get_context("spawn").Pool(args.jobs) as pool,
            open(PARTIAL, "a", newline="") as handle,
            tqdm(
                total=len(codes), initial=len(codes) - len(todo), desc="training", disable=args.no_progress
            ) as bar,
        ):
            writer = csv.writer(handle)
            for row in pool.imap_unordered(_train, todo):
                writer.writerow(row)
                handle.flush()
                done[row[0]] = row
                bar.update()
    train_seconds = sum(float(row[4]) for row in done.values())

    torch.set_num_threads(1)
    print(f"timing {len(codes)} networks side by side (about a minute; keep the machine quiet)", flush=True)
    networks = {_code_text(code): space.spec(space.decode(code)).build().eval() for code in codes}
    latencies = latency.fastest(
        networks, (1, 1, 32, 32), rounds=LATENCY_ROUNDS, calls=LATENCY_CALLS, threads=1
    )

    with open(OUT, "w", newline="") as handle:
        handle.write(
            "# lwcnn tabular NAS benchmark: every network of lwcnn.nas.TABLE_SPACE trained on digits\n"
            "# made by: .venv/bin/python benchmarks/nasbench_build.py\n"
            f"# machine: {latency.device_name()}; torch {torch.__version__}; Python {platform.python_version()}\n"
            f"# training: {RECIPE}, one thread per network; {train_seconds:.0f} s of training in all, "
            f"{args.jobs} processes\n"
            f"# latency: fastest of {LATENCY_ROUNDS * LATENCY_CALLS} calls in ms (lwcnn.latency.fastest, all networks side by side),"
            " one 32x32 image, batch 1, eval mode, one thread\n"
        )
        writer = csv.writer(handle)
        columns = [f"{name}{block + 1}" for block in range(space.blocks) for name in ("op", "kernel")]
        writer.writerow(["code", *columns, "params", "macs", "test_accuracy", "latency_ms"])
        for code in codes:
            row = done[_code_text(code)]
            arch = space.decode(code)
            choices = [value for block in arch for value in (block.op, block.kernel)]
            writer.writerow(
                [row[0], *choices, row[1], row[2], f"{float(row[3]):.6f}", f"{latencies[row[0]]:.4f}"]
            )
    print(
        f"wrote {OUT.relative_to(ROOT)}: {len(codes)} networks, {time.perf_counter() - start:.0f} s this run"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
