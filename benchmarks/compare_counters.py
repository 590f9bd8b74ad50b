"""lwcnn's counting conventions against the real counters, on eight torchvision models at 224x224.

For each model and convention: lwcnn's total (`compare_conventions`, one forward pass per model)
and the real tool's (`lwcnn.counting.run_tool`: thop, fvcore, ptflops, FlopCounterMode), in the
tool's own unit (FLOPs for "torch", MACs otherwise), with the parameter counts. Prints the table,
writes it sorted to data/counter_reference.csv, and ends with `counter_matches=<n>/<total>`.

    .venv/bin/python benchmarks/compare_counters.py
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import torch
import torchvision

from lwcnn.counting import CONVENTIONS, compare_conventions, run_tool

MODELS = (
    "efficientnet_b0",
    "mnasnet1_0",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "resnet18",
    "shufflenet_v2_x1_0",
    "squeezenet1_1",
)
INPUT_SIZE = (1, 3, 224, 224)
CSV_PATH = Path(__file__).resolve().parents[1] / "data" / "counter_reference.csv"
COLUMNS = ("model", "convention", "unit", "lwcnn_total", "tool_total", "lwcnn_params", "tool_params", "match")


def compare_model(name: str) -> list[dict[str, object]]:
    """One row per convention: lwcnn's total and params next to the real tool's."""
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    reports = compare_conventions(model, INPUT_SIZE)
    rows = []
    for convention in sorted(CONVENTIONS):
        report, tool = reports[convention], run_tool(model, convention, INPUT_SIZE)
        in_flops = convention == "torch"  # the one tool whose number is FLOPs, 2 per multiply-add
        lwcnn_total, tool_total = (report.flops, tool.flops) if in_flops else (report.macs, tool.macs)
        same = lwcnn_total == tool_total and report.params == tool.params
        rows.append(
            {
                "model": name,
                "convention": convention,
                "unit": "FLOPs" if in_flops else "MACs",
                "lwcnn_total": lwcnn_total,
                "tool_total": tool_total,
                "lwcnn_params": report.params,
                "tool_params": tool.params,
                "match": "yes" if same else "NO",
            }
        )
    return rows


def main() -> int:
    torch.set_num_threads(1)  # the same numbers on any machine; counting is shape arithmetic
    start = time.perf_counter()
    rows = [row for name in sorted(MODELS) for row in compare_model(name)]
    widths = {column: max(len(column), *(len(f"{row[column]}") for row in rows)) for column in COLUMNS}
    print("  ".join(column.ljust(widths[column]) for column in COLUMNS).rstrip())
    for row in rows:
        print("  ".join(f"{row[column]}".ljust(widths[column]) for column in COLUMNS).rstrip())
    CSV_PATH.parent.mkdir(parents=True, exist_ok=True)
    with CSV_PATH.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    matches = sum(row["match"] == "yes" for row in rows)
    print(f"wrote {CSV_PATH.relative_to(CSV_PATH.parents[1])} in {time.perf_counter() - start:.1f} s")
    print(f"counter_matches={matches}/{len(rows)}")
    return 0 if matches == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
