"""A latency lookup table as a CSV file: what `LatencyTable.save` writes and `load` reads.

`#` lines first: what the columns mean, `# meta:` (JSON: the format, its version, torch, how the
table was measured, the statistic it predicts with) and one `# calibration:` line (JSON) per
device, threads and statistic; then a header (`COLUMNS`) and one row per entry, input shapes as
`CxHxW`, times in ms with 5 decimals. Plain CSV and JSON: nothing in a file is executed.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from lwcnn.latency.entry import Calibration, Entry, check_statistic

FORMAT, VERSION = "lwcnn-latency-table", 1
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")  # where str.splitlines breaks
COLUMNS = (
    "block",
    "input_shape",
    "batch",
    "device",
    "threads",
    "median_ms",
    "p25_ms",
    "iqr_ms",
    "context_median_ms",
    "context_p25_ms",
    "context_iqr_ms",
    "runs",
    "context_runs",
    "ops",
    "weight_bytes",
    "activation_bytes",
    "params",
    "macs",
)


def write_table(
    path: str | Path,
    entries: Iterable[Entry],
    calibrations: dict[tuple[str, int, str, tuple[int, int] | None], Calibration],
    metadata: dict[str, str],
    statistic: str,
) -> Path:
    """Write a table's entries, calibrations (by (device, threads, statistic, resolution)), metadata and
    default statistic to `path` as CSV; returns the path."""
    path = Path(path)
    reserved = sorted({"format", "version", "statistic"} & set(metadata))
    if reserved:
        raise ValueError(f"metadata must not set {reserved}: the file's own format, version and statistic")
    entries = list(entries)
    for entry in entries:  # a line break inside a field would split its row when read back
        for name in ("block", "device"):
            if any(character in LINE_BREAKS for character in getattr(entry, name)):
                raise ValueError(
                    f"an entry's {name} must not hold a line break, got {getattr(entry, name)!r}"
                )
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"torch": torch.__version__, **metadata, "format": FORMAT, "version": VERSION}
    meta["statistic"] = statistic
    lines = [
        "# lwcnn latency lookup table: one row per block at one input shape (CxHxW) on one device.",
        "# median/p25/iqr_ms: the block called again and again (alone); context_*: one call at a time",
        "# between other blocks, its input just written, as in a network (lwcnn.latency.context explains).",
        f"# meta: {json.dumps(meta, sort_keys=True)}",
    ]
    for (device, threads, *_), calibration in sorted(calibrations.items(), key=_calibration_order):
        record = {"device": device, "threads": threads, **dataclasses.asdict(calibration)}
        if calibration.resolution is None:
            del record["resolution"]
        lines.append(f"# calibration: {json.dumps(record, sort_keys=True)}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for entry in sorted(entries, key=lambda e: (e.device, e.threads, e.batch, e.block, e.input_shape)):
        row = dataclasses.asdict(entry)
        row["input_shape"] = "x".join(map(str, entry.input_shape))
        writer.writerow([f"{row[c]:.5f}" if isinstance(row[c], float) else row[c] for c in COLUMNS])
    path.write_text("\n".join(lines) + "\n" + buffer.getvalue())
    return path


def read_table(
    path: str | Path,
) -> tuple[list[Entry], list[tuple[str, int, Calibration]], dict[str, str], str]:
    """(entries, (device, threads, calibration) triples, metadata, statistic) of a file `write_table`
    wrote; a ValueError names the file and line of anything malformed."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path={str(path)!r}: no such file; build a table and save() it first")
    metadata: dict[str, str] = {}
    calibrations, rows = [], []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not a lwcnn latency table (not UTF-8 text: {error})") from None
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("# meta:"):
            metadata = {str(k): str(v) for k, v in _json(line, path, number).items()}
        elif line.startswith("# calibration:"):
            record = _json(line, path, number)
            try:
                calibration = Calibration(
                    float(record["scale"]),
                    check_statistic(record["statistic"]),
                    int(record["networks"]),
                    float(record["mape_percent"]),
                    str(record["fitted_on"]),
                    _resolution(record.get("resolution")),
                    float(record.get("share", 1.0)),
                )
                calibrations.append((str(record["device"]), int(record["threads"]), calibration))
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(f"{path}:{number}: bad calibration line ({error})") from None
        elif line.strip() and not line.startswith("#"):
            rows.append((number, line))
    if metadata.get("format") != FORMAT:
        raise ValueError(
            f'{path} is not a lwcnn latency table (no \'# meta: {{"format": "{FORMAT}"...\' line)'
        )
    if metadata.get("version") != str(VERSION):
        raise ValueError(
            f"{path}: format version {metadata.get('version')!r}; this lwcnn reads version {VERSION}"
        )
    try:
        check_statistic(metadata.get("statistic", "p25"))
    except ValueError as error:
        raise ValueError(f"{path}: the meta line's {error}") from None
    reader = csv.reader(line for _, line in rows)
    header = next(reader, None)
    if header is None or tuple(header) != COLUMNS:
        raise ValueError(f"{path}: the header must be {','.join(COLUMNS)}, got {header}")
    types = {f.name: f.type for f in dataclasses.fields(Entry)}
    entries = []
    parsed = list(reader)
    if len(parsed) != len(rows) - 1:
        raise ValueError(f"{path}: a quoted field runs over a line break; rows must be one line each")
    for (number, _), values in zip(rows[1:], parsed, strict=True):
        try:
            record = dict(zip(COLUMNS, values, strict=True))
            converted: dict[str, Any] = {}
            for name, text in record.items():
                if name == "input_shape":
                    converted[name] = tuple(int(v) for v in text.split("x"))
                else:
                    converted[name] = {"str": str, "int": int, "float": float}[types[name]](text)
            entries.append(Entry(**converted))
        except ValueError as error:
            raise ValueError(f"{path}:{number}: bad row ({error})") from None
    statistic = metadata.pop("statistic", "p25")
    for key in ("format", "version"):
        metadata.pop(key, None)
    return entries, calibrations, metadata, statistic


def _calibration_order(item: tuple[tuple, Calibration]) -> tuple:
    """Calibrations by device, threads, statistic, then size (those of no stated size first)."""
    (device, threads, statistic, *_), calibration = item
    return device, threads, statistic, calibration.resolution or (0, 0)


def _resolution(value: Any) -> tuple[int, int] | None:
    """A calibration's size as written, [height, width], or None when the line has none."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, int) and v > 0 for v in value):
        raise ValueError(f"resolution must be [height, width], got {value!r}")
    return (value[0], value[1])


def _json(line: str, path: Path, number: int) -> dict:
    try:
        record = json.loads(line.split(":", 1)[1])
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{number}: bad JSON ({error})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}:{number}: expected a JSON object")
    return record
