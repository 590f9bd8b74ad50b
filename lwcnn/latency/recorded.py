"""The lessons' recorded latencies: what `benchmarks/record_latency.py` measured on each device,
shipped as `data/latency/<device slug>.csv` so that a lesson shows the same numbers everywhere.

`recorded_tables` reads every device's recording (not the `*.lut.csv` lookup tables beside them,
see `lut.py`); `side_by_side` prints one lesson table with a column per device:

    >>> print(side_by_side("zoo"))  # doctest: +SKIP

`lut_accuracy` reads how well a device's lookup table predicted networks measured whole, at each
input size (`benchmarks/lut_accuracy.py` writes `data/latency/lut_accuracy/<slug>.csv`), and
`lut_errors` sums it up per size:

    >>> rows = lut_accuracy()
    >>> sorted(lut_errors(rows))
    [32, 64, 128, 224]
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lwcnn.paths import LATENCY_DIR, LUT_ACCURACY_DIR, TABLE_SUFFIX, device_file, read_recorded_csv

RECORDED_COLUMNS = (
    "table",
    "item",
    "input_shape",
    "batch",
    "threads",
    "params",
    "macs",
    "median_ms",
    "iqr_ms",
    "runs",
)


@dataclass(frozen=True)
class RecordedTable:
    """The latencies `benchmarks/record_latency.py` recorded on one device, with how they were taken."""

    slug: str
    metadata: dict[str, str]
    rows: tuple[dict[str, Any], ...]

    @property
    def device(self) -> str:
        return self.metadata.get("device", self.slug)

    def select(self, table: str) -> list[dict[str, Any]]:
        """The rows of one lesson table ('separable', 'kernel', 'activation', 'se', 'zoo' or 'guidelines')."""
        rows = [row for row in self.rows if row["table"] == table]
        if not rows:
            names = ", ".join(dict.fromkeys(row["table"] for row in self.rows))
            raise ValueError(f"table={table!r} is not in {self.slug}'s recording; it has: {names}")
        return rows


def recorded_tables(directory: str | Path | None = None) -> dict[str, RecordedTable]:
    """Every device's recorded lesson table in `directory` (default `data/latency/`), by device slug.

    Reads each `<slug>.csv` (not the `*.lut.csv` lookup tables); `# key: value` lines at the top
    are its metadata (device, torch, threads, date, command).
    """
    folder = LATENCY_DIR if directory is None else Path(directory)
    if not folder.is_dir():
        raise ValueError(
            f"no recorded latencies: {folder} does not exist; run `python benchmarks/record_latency.py` "
            "in the course repository (the data/ folder sits beside the lwcnn package)"
        )
    paths = sorted(p for p in folder.glob("*.csv") if not p.name.endswith(TABLE_SUFFIX))
    if not paths:
        raise ValueError(f"no recorded latencies in {folder}; run `python benchmarks/record_latency.py`")
    return {path.stem: _read_recorded(path) for path in paths}


def _read_recorded(path: Path) -> RecordedTable:
    metadata: dict[str, str] = {}
    body = []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            if value:
                metadata[key.strip()] = value.strip()
        elif line.strip():
            body.append(line)
    reader = csv.DictReader(body)
    if reader.fieldnames is None or tuple(reader.fieldnames) != RECORDED_COLUMNS:
        raise ValueError(f"{path}: the header must be {','.join(RECORDED_COLUMNS)}, got {reader.fieldnames}")
    rows = []
    for number, record in enumerate(reader, 2):
        row: dict[str, Any] = dict(record)
        try:
            for name in ("batch", "threads", "params", "macs", "runs"):
                row[name] = int(record[name])
            for name in ("median_ms", "iqr_ms"):
                row[name] = float(record[name])
        except (TypeError, ValueError) as error:  # a short row gives None, a hand edit any text
            raise ValueError(
                f"{path}: row {number} of the table (after the # lines): bad value ({error})"
            ) from None
        rows.append(row)
    return RecordedTable(path.stem, metadata, tuple(rows))


def side_by_side(table: str, directory: str | Path | None = None) -> str:
    """One lesson table ('separable', 'kernel', 'activation', 'se', 'zoo' or 'guidelines') as text: a row per
    item and input shape, with its MACs and one median-ms column per recorded device.

    The lessons print it so that every device recorded under `data/latency/` shows next to the
    others (with only this CPU's recording, one column).
    """
    recorded = recorded_tables(directory)
    columns = {  # a device recorded before the table existed shows "-" in its column
        slug: {(r["item"], r["input_shape"]): r for r in rec.rows if r["table"] == table}
        for slug, rec in recorded.items()
    }
    if not any(columns.values()):
        next(iter(recorded.values())).select(table)  # no device has it: say which tables there are
    keys = list(dict.fromkeys(key for rows in columns.values() for key in rows))
    macs = {key: rows[key]["macs"] for rows in columns.values() for key in rows}
    width = max(len(f"{item} @ {shape}") for item, shape in keys)
    names = [recorded[slug].device for slug in columns]
    lines = [f"{'item @ input':{width}s} {'MACs':>13s} " + " ".join(f"{name[:22]:>22s}" for name in names)]
    for key in keys:
        cells = [
            f"{rows[key]['median_ms']:19.3f} ms" if key in rows else f"{'-':>22s}"
            for rows in columns.values()
        ]
        lines.append(f"{key[0] + ' @ ' + key[1]:{width}s} {int(macs[key]):13,d} " + " ".join(cells))
    return "\n".join(lines)


# --- the lookup table against whole networks, by input size ---------------------------------------------

LUT_ACCURACY_COLUMNS = (
    "resolution",  # the input's side
    "role",  # "evaluation" (the MAPE), "calibration" (fitted the size's scale) or "zoo"
    "network",  # "random <seed>/<index>" or the zoo name
    "family",  # e.g. "V3 14 blocks, 5 SE"
    "macs",
    "measured_p25_ms",  # the lower quartile of single calls of the whole network
    "measured_median_ms",
    "plain_ms",  # the sum of its blocks timed alone (FBNet's sum)
    "context_ms",  # the sum of its blocks timed in context, plus the container calls
    "predicted_ms",  # the table's prediction: the size's calibration applied (lower quartiles)
    "scale",  # the calibration: predicted = scale * (plain + share * (context - plain))
    "share",
)
LUT_ACCURACY_SCRIPT = "benchmarks/lut_accuracy.py --resolutions 32,64,128,224 --save"


def lut_accuracy(slug: str | None = None, folder: str | Path = LUT_ACCURACY_DIR) -> list[dict[str, Any]]:
    """The rows of `<folder>/<slug>.csv` (default: the only device recorded), numbers converted."""
    rows, _ = read_recorded_csv(device_file(folder, ".csv", slug), LUT_ACCURACY_SCRIPT, 25)
    return [{name: _typed(name, row[name]) for name in LUT_ACCURACY_COLUMNS} for row in rows]


def _typed(column: str, text: str) -> Any:
    if column in ("resolution", "macs"):
        return int(text)
    if column.endswith("_ms") or column in ("scale", "share"):
        return float(text)
    return text


def lut_errors(rows: list[dict[str, Any]], role: str = "evaluation") -> dict[int, dict[str, float]]:
    """Per input size, over the rows of `role`: the mean absolute percent error (MAPE) of the plain
    sum, the in-context sum and the prediction against the measured lower quartile, the mean
    signed error of the prediction, and how many networks."""
    by_size: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        if row["role"] == role:
            by_size.setdefault(row["resolution"], []).append(row)
    if not by_size:
        raise ValueError(f"role={role!r}: no rows; the roles are evaluation, calibration, zoo")
    summary = {}
    for size, group in sorted(by_size.items()):
        errors = {
            name: [100 * (row[column] - row["measured_p25_ms"]) / row["measured_p25_ms"] for row in group]
            for name, column in (("plain", "plain_ms"), ("context", "context_ms"), ("model", "predicted_ms"))
        }
        summary[size] = {
            **{f"{name}_mape": sum(map(abs, values)) / len(values) for name, values in errors.items()},
            "model_bias": sum(errors["model"]) / len(group),
            "networks": len(group),
        }
    return summary
