"""Execute every lesson top to bottom in a fresh kernel and print how long each one takes.

    python benchmarks/notebook_times.py           # time them, leave the files alone
    python benchmarks/notebook_times.py --write   # also store the fresh outputs in the files
    python benchmarks/notebook_times.py 01 02     # only lessons whose names start so

Last line: `notebooks=<n> total_seconds=<t> slowest_seconds=<s>`. Targets: each lesson under
60 s and the whole course under 300 s on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def lessons(prefixes: list[str]) -> list[Path]:
    """The lessons whose names start with one of `prefixes` (all of them for none), in order."""
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    if prefixes:
        paths = [p for p in paths if p.name.startswith(tuple(prefixes))]
    if not paths:
        sys.exit("no notebooks matched")
    return paths


def run(path: Path, write: bool = False, into: Path | None = None) -> float:
    """Execute one lesson in a fresh kernel; store the outputs in it (`write`) or in `into`/name."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    if write:
        nbformat.write(notebook, path)
    if into is not None:
        nbformat.write(notebook, into / path.name)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("prefixes", nargs="*", help="lesson name prefixes, e.g. 01 02 (default: all)")
    parser.add_argument("--write", action="store_true", help="store the fresh outputs in the notebooks")
    args = parser.parse_args()
    paths = lessons(args.prefixes)
    times = {}
    for path in paths:
        times[path.name] = run(path, args.write)
        print(f"{path.name:45s} {times[path.name]:6.1f} s", flush=True)
    print(
        f"notebooks={len(times)} total_seconds={sum(times.values()):.1f} slowest_seconds={max(times.values()):.1f}"
    )


if __name__ == "__main__":
    main()
