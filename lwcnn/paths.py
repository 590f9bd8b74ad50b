"""Where the course's shipped data lives: `data/` beside the `lwcnn` package, one name per folder
or recorded table; and how a recorded table is read (a CSV whose `#` lines say how it was made).

>>> LATENCY_DIR.name
'latency'
"""

from __future__ import annotations

import csv
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
LATENCY_DIR = DATA_DIR / "latency"  # recorded lesson tables (<device>.csv), lookup tables (<device>.lut.csv)
TABLE_SUFFIX = ".lut.csv"  # a lookup table; `<slug>.csv` beside it is the lessons' recorded table
# <slug>.csv: the lookup table against networks measured whole, by input size
LUT_ACCURACY_DIR = LATENCY_DIR / "lut_accuracy"
NASBENCH_TABLE = DATA_DIR / "nasbench_digits.csv"  # benchmarks/nasbench_build.py
NASBENCH_HELDOUT_TABLE = DATA_DIR / "nasbench_digits_heldout.csv"  # the same, --space heldout
SCALING_TABLE = DATA_DIR / "scaling_distorted.csv"  # benchmarks/scaling_build.py
NETADAPT_RECORDING = DATA_DIR / "netadapt.csv"  # lesson 14's NetAdapt runs: benchmarks/netadapt.py
SEARCH_COMPARE = DATA_DIR / "search_compare.csv"  # every search on the table: benchmarks/search_compare.py
PRUNING_DIR = DATA_DIR / "pruning"  # lesson 08's sweeps and model: benchmarks/pruning_sweep.py
PRUNING_CHECKPOINT = PRUNING_DIR / "mobilenet_v3_small_digits_sparse.pth"  # sparsity-trained, seed 0
QUANTIZATION_DIR = DATA_DIR / "quantization"  # lesson 12's trained network: benchmarks/quantization.py
QUANTIZATION_CHECKPOINT = QUANTIZATION_DIR / "mobilenet_v2_x0.5_distorted.pth"


def read_recorded_csv(path: str | Path, script: str, minutes: int) -> tuple[list[dict[str, str]], list[str]]:
    """The rows of a recorded table (`#` lines skipped) and its `accuracy_seed*` column names.

    A missing file raises FileNotFoundError saying how to rebuild it: run `script`, which takes
    about `minutes`.

        >>> rows, seeds = read_recorded_csv(SCALING_TABLE, "benchmarks/scaling_build.py", 40)
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist; build it with `.venv/bin/python {script}` (about {minutes} minutes)"
        )
    with open(path, newline="") as handle:
        reader = csv.DictReader(line for line in handle if not line.startswith("#"))
        rows = list(reader)
        seeds = [name for name in reader.fieldnames or () if name.startswith("accuracy_seed")]
    return rows, seeds


def device_file(folder: str | Path, suffix: str, slug: str | None = None) -> Path:
    """`<folder>/<slug><suffix>`, a file one device recorded; `slug` None: the only such file in
    `folder` (a ValueError naming `slug` and the files there when there are none or several)."""
    if slug is not None:
        return Path(folder) / f"{slug}{suffix}"
    found = sorted(Path(folder).glob(f"*{suffix}"))
    if len(found) != 1:
        have = ", ".join(path.name for path in found) or "none"
        raise ValueError(f"slug: say which device's file to read ({folder} holds {have} of *{suffix})")
    return found[0]


def recorded_header(path: str | Path) -> str:
    """The `#` lines on top of a recorded table: the command, machine and time that made it."""
    with open(path) as handle:
        return "".join(line for line in handle if line.startswith("#"))
