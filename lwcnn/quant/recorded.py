"""Lesson 12's recorded tables in `data/quantization/`: what took training or a timed runtime.

Each table is a CSV with `#` lines on top that say the command, machine and date that made it:

- `int8_runtime`, `weight_bits`, `deep_compression`: `benchmarks/quantization.py --save`;
- `activations`, `activation_ranges`, `calibration`, `qat`: `benchmarks/quant_training.py --save`.

    >>> rows = load("weight_bits")
    >>> sorted(rows[0])
    ['bits', 'per_channel', 'symmetric', 'test_accuracy']
    >>> weight_bits_accuracy(8, per_channel=True, symmetric=True) > 0.9
    True
"""

from __future__ import annotations

from pathlib import Path

from lwcnn.paths import QUANTIZATION_DIR, read_recorded_csv, recorded_header

# table -> (the script that writes it with --save, about how many minutes it takes)
TABLES = {
    "int8_runtime": ("benchmarks/quantization.py --save", 20),
    "weight_bits": ("benchmarks/quantization.py --save", 20),
    "deep_compression": ("benchmarks/quantization.py --save", 20),
    "activations": ("benchmarks/quant_training.py --save", 25),
    "activation_ranges": ("benchmarks/quant_training.py --save", 25),
    "calibration": ("benchmarks/quant_training.py --save", 25),
    "qat": ("benchmarks/quant_training.py --save", 25),
}


def path(table: str) -> Path:
    """The file of a recorded table (`TABLES`)."""
    if table not in TABLES:
        raise ValueError(f"table must be one of {', '.join(TABLES)}, got {table!r}")
    return QUANTIZATION_DIR / f"{table}.csv"


def _value(text: str):
    """A cell as what it holds: None (empty), a bool, an int, a float, or the text."""
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def load(table: str) -> list[dict]:
    """The rows of a recorded table, each cell converted (`True`/`False`, numbers, None for empty)."""
    file = path(table)  # checks the name
    rows, _ = read_recorded_csv(file, *TABLES[table])
    return [{key: _value(value) for key, value in row.items()} for row in rows]


def header(table: str) -> str:
    """The `#` lines on top of a recorded table: how, where and when it was made."""
    return recorded_header(path(table))


def weight_bits_accuracy(bits: int, *, per_channel: bool, symmetric: bool) -> float:
    """The recorded test accuracy of lesson 12's network with only its weights quantized."""
    for row in load("weight_bits"):
        if (row["bits"], row["per_channel"], row["symmetric"]) == (bits, per_channel, symmetric):
            return row["test_accuracy"]
    raise ValueError(
        f"no recorded row for bits={bits!r}, per_channel={per_channel!r}, symmetric={symmetric!r}"
    )
