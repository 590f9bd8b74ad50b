"""How fast every lesson's widget answers in a real JupyterLab: key press to new text on the page.

    python benchmarks/widget_times.py              # run the browser suite's widget tests, then report
    python benchmarks/widget_times.py -k 08        # only lessons whose test id matches (pytest -k)
    python benchmarks/widget_times.py --csv-only   # report the CSV of the last run, run nothing

The browser suite (`tests/browser`, Playwright and Debian's Chromium) moves every control of
every lesson's widget and writes each move's time, from the key event to the first frame
showing the new text as the page's own clock records it, to `build/browser/widget_times.csv`; this
prints that table. Targets on a 2-core CPU: a control that only recomputes costs answers within
0.3 s, one whose render evaluates a network ("network") within 2 s, showing that it is working
meanwhile (the `busy_shown` column). Last line:
`slowest_cost_control_s=<x> slowest_network_control_s=<y>` (`nan` for a kind not moved).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CSV = Path(os.environ.get("LWCNN_SCREENSHOTS", ROOT / "build" / "browser")) / "widget_times.csv"
TARGET_S = {"cost": 0.3, "network": 2.0}


def run_suite(keyword: str | None) -> int:
    """Run the browser suite's widget tests (all lessons, or those matching `keyword`)."""
    selection = "lesson_widgets" if keyword is None else f"lesson_widgets and ({keyword})"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CHROMIUM": os.environ.get("CHROMIUM", "/usr/bin/chromium")}
    command = [sys.executable, "-m", "pytest", "tests/browser", "-q", "-k", selection]
    return subprocess.run(command, cwd=ROOT, env=env).returncode


def slowest(rows: list[dict], kind: str) -> float:
    """The slowest time of a control of `kind` (nan when none was moved)."""
    times = [float(row["seconds"]) for row in rows if row["kind"] == kind]
    return max(times) if times else float("nan")


def report(rows: list[dict]) -> list[str]:
    """One line per control, with its target and whether it met it, then the summary line."""
    lines = [
        f"{'lesson':<6} {'kind':<7} {'seconds':>7} {'target':>6}  {'met':<3}  busy shown  control (widget)"
    ]
    for row in sorted(rows, key=lambda row: (row["lesson"], row["widget"])):
        seconds, target = float(row["seconds"]), TARGET_S[row["kind"]]
        lines.append(
            f"{row['lesson']:<6} {row['kind']:<7} {seconds:7.3f} {target:6.1f}  "
            f"{'yes' if seconds <= target else 'NO':<3}  {row['busy_shown'] or '-':<10}  "
            f"{row['control']} ({row['widget']})"
        )
    lines.append(
        f"slowest_cost_control_s={slowest(rows, 'cost'):.3f} "
        f"slowest_network_control_s={slowest(rows, 'network'):.3f}"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", dest="keyword", help="only the lesson tests matching this pytest -k expression")
    parser.add_argument("--csv-only", action="store_true", help="report the last run's CSV, run nothing")
    args = parser.parse_args()
    if not args.csv_only:
        if CSV.exists():
            CSV.unlink()  # a failed run must not report the last one's times
        code = run_suite(args.keyword)
        if code != 0:
            print(f"the browser suite failed (exit {code}); times below are of the controls it moved")
    if not CSV.exists():
        sys.exit(f"no {CSV}: the browser suite moved no control")
    with CSV.open(newline="") as source:
        rows = list(csv.DictReader(source))
    print("\n".join(report(rows)))


if __name__ == "__main__":
    main()
