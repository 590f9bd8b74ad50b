"""The lessons' recorded latencies: what `benchmarks/record_latency.py` measured on each device,
shipped as `data/latency/<device slug>.csv` so that a lesson shows the same numbers everywhere.

`recorded_tables` reads every device's recording (not the `*.lut.csv` lookup tables beside them,
see `lut.py`); `side_by_side` prints one lesson table with a column per device:

    >>> print(side_by_side("zoo"))  # doctest: +SKIP
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lwcnn.paths import LATENCY_DIR, TABLE_SUFFIX

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
    for record in reader:
        row: dict[str, Any] = dict(record)
        for name in ("batch", "threads", "params", "macs", "runs"):
            row[name] = int(record[name])
        for name in ("median_ms", "iqr_ms"):
            row[name] = float(record[name])
        rows.append(row)
    return RecordedTable(path.stem, metadata, tuple(rows))


def side_by_side(table: str, directory: str | Path | None = None) -> str:
    """One lesson table ('separable', 'kernel', 'activation', 'se', 'zoo' or 'guidelines') as text: a row per
    item and input shape, with its MACs and one median-ms column per recorded device.

    The lessons print it so that every device recorded under `data/latency/` shows next to the
    others (with only this CPU's recording, one column).
    """
    recorded = recorded_tables(directory)
    columns = {
        slug: {(r["item"], r["input_shape"]): r for r in rec.select(table)} for slug, rec in recorded.items()
    }
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
