"""FBNet's differentiable search on the course's table space, for several latency weights beta.

    .venv/bin/python benchmarks/fbnet_search.py     # about 3 minutes on 2 CPU cores

1. Measures the latency lookup table of every block the supernet mixes (`nas.supernet_blocks`,
   one thread, batch 1, 32x32) into `data/fbnet_digits.lut.csv`, unless it is there already
   (`--remeasure` measures it again; the searches below then change).
2. Runs `nas.fbnet_search` with the course's `nas.DIGITS_SEARCH` settings for each beta of
   `BETAS` and each seed of `SEEDS`, in `--jobs` processes of one thread each.
3. Looks each derived network up in the tabular benchmark (`data/nasbench_digits.csv`: its
   accuracy after the table's training, and its measured latency), predicts its latency with
   the lookup table, and measures it whole (`latency.lower_quartile`, the table's statistic).

Writes `data/fbnet_digits.csv` (a `#` header with the command, machine and settings, then one
row per search) and prints, per beta, the derived networks' predicted latency and accuracy. The
last line: `lut_mape_percent=<predicted vs measured, the derived networks>
beta0_ms=<mean predicted ms at beta=0> beta_max_ms=<same at the largest beta>`.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import multiprocessing
import pathlib
import platform
import statistics
import sys
import time

import torch
from tqdm.auto import tqdm

from lwcnn import latency, lut, nas

ROOT = pathlib.Path(__file__).resolve().parents[1]
TABLE = ROOT / "data" / "fbnet_digits.lut.csv"
OUT = ROOT / "data" / "fbnet_digits.csv"
BETAS = (0.0, 0.6, 3.0, 10.0)
SEEDS = (0, 1, 2)
COLUMNS = [
    "beta",
    "seed",
    "code",
    "ops",
    "expected_ms",
    "predicted_ms",
    "measured_ms",
    "table_accuracy",
    "table_latency_ms",
    "search_seconds",
    "probabilities",
]


def _search(job: tuple[float, int]) -> tuple[float, int, nas.Arch, float, list, float]:
    """One search on one thread: (beta, seed, derived arch, final expected ms, probabilities, seconds)."""
    torch.set_num_threads(1)  # the order of float sums, hence the search, depends on it
    beta, seed = job
    costs = nas.SupernetLatency.from_table(nas.TABLE_SPACE, lut.LatencyTable.load(TABLE))
    result = nas.fbnet_search(nas.TABLE_SPACE, costs, beta=beta, seed=seed, progress=False)
    last = result.history[-1]
    return (
        beta,
        seed,
        result.arch,
        last.expected_ms,
        [list(row) for row in last.probabilities],
        result.seconds,
    )


def ops_text(arch: nas.Arch) -> str:
    return " ".join(f"{block.op}-k{block.kernel}" for block in arch)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="search processes (default 2), one thread each")
    parser.add_argument("--remeasure", action="store_true", help="measure the lookup table again")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    space = nas.TABLE_SPACE
    torch.set_num_threads(1)  # the table, the timings and the header's machine line: one thread
    start = time.perf_counter()
    if args.remeasure or not TABLE.exists():
        print("measuring the lookup table (one thread; keep the machine quiet)", flush=True)
        table = lut.LatencyTable.build(nas.supernet_blocks(space), threads=1, progress=not args.no_progress)
        table.metadata["made_by"] = "benchmarks/fbnet_search.py"
        table.save(TABLE)
    table = lut.LatencyTable.load(TABLE)

    jobs = [(beta, seed) for beta in BETAS for seed in SEEDS]
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        results = list(
            tqdm(pool.imap(_search, jobs), total=len(jobs), desc="searches", disable=args.no_progress)
        )
    search_seconds = sum(result[-1] for result in results)

    rows = {row.arch: row for row in nas.load_table()}
    derived = {ops_text(arch): arch for _, _, arch, *_ in results}
    torch.manual_seed(0)
    networks = {name: space.spec(arch).build() for name, arch in derived.items()}
    measured = latency.lower_quartile(networks, (1, 1, 32, 32), rounds=30, calls=5, threads=1)

    with open(OUT, "w", newline="") as handle:
        handle.write(
            "# lwcnn: FBNet searches on lwcnn.nas.TABLE_SPACE (digits), one row per (beta, seed)\n"
            "# made by: .venv/bin/python benchmarks/fbnet_search.py\n"
            f"# machine: {latency.device_name()}; torch {torch.__version__}; Python {platform.python_version()}\n"
            f"# settings: {json.dumps(dataclasses.asdict(nas.DIGITS_SEARCH))}; one thread per search; {search_seconds:.0f} s of "
            f"searching in all, {args.jobs} processes\n"
            "# expected_ms: under softmax(theta) at the end; predicted_ms: data/fbnet_digits.lut.csv's prediction"
            " of the derived network; measured_ms: its lower quartile of 150 single calls (1 thread, batch 1);"
            " table_*: its row of data/nasbench_digits.csv\n"
        )
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for beta, seed, arch, expected, probabilities, seconds in results:
            name = ops_text(arch)
            writer.writerow(
                [
                    beta,
                    seed,
                    "-".join(map(str, space.encode(arch))),
                    name,
                    f"{expected:.4f}",
                    f"{table.predict(space.spec(arch)).latency_ms:.4f}",
                    f"{measured[name]:.4f}",
                    f"{rows[arch].accuracy:.6f}",
                    f"{rows[arch].latency_ms:.4f}",
                    f"{seconds:.1f}",
                    json.dumps([[round(p, 4) for p in row] for row in probabilities]),
                ]
            )

    print(
        f"{'beta':>5} {'seed':>4}  {'derived network':<36}{'predicted ms':>13}{'measured ms':>12}{'accuracy':>9}"
    )
    errors, by_beta = [], {}
    for beta, seed, arch, *_ in results:
        name = ops_text(arch)
        predicted = table.predict(space.spec(arch)).latency_ms
        errors.append(abs(predicted - measured[name]) / measured[name] * 100)
        by_beta.setdefault(beta, []).append(predicted)
        print(
            f"{beta:>5} {seed:>4}  {name:<36}{predicted:>13.3f}{measured[name]:>12.3f}{rows[arch].accuracy:>9.4f}"
        )
    print(f"wrote {OUT.relative_to(ROOT)} in {time.perf_counter() - start:.0f} s")
    print(
        f"lut_mape_percent={statistics.fmean(errors):.1f} beta0_ms={statistics.fmean(by_beta[BETAS[0]]):.3f} "
        f"beta_max_ms={statistics.fmean(by_beta[BETAS[-1]]):.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
