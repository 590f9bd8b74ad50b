"""Run the lessons on several floating-point paths and list every cell whose text output differs.

    python benchmarks/float_paths.py                 # all lessons, all paths (about 10-25 minutes on 2 cores)
    python benchmarks/float_paths.py 08 10           # only lessons whose names start so
    python benchmarks/float_paths.py --paths generic-1-thread

A student's CPU runs other float kernels than the machine a lesson was executed on: AVX-512 or
AVX2 or NEON convolutions, another number of threads, so other summation orders and other last
bits. A printed count never changes with that; a trained accuracy, a search's choice or a
fine-tune may. This script measures which outputs move: each lesson is executed in a fresh kernel
once per path (the environment variables below select the kernels; they are read when torch
starts), and each code cell's text output is compared with the one stored in the notebook, after
the same sanitising nbval applies. A cell nbval checks must never appear in the list; an ignored
cell that does shows what the lesson must not check.

Last line: `paths=<n> lessons=<n> differing_cells=<n> differing_checked_cells=<n>`.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from notebook_times import lessons, run

ROOT = Path(__file__).resolve().parent.parent
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"


def makefile_generic_floats() -> dict[str, str]:
    """The second float path `make test` runs the lessons on (the Makefile's GENERIC_FLOATS)."""
    line = re.search(r"^GENERIC_FLOATS\s*:=\s*(.+)$", (ROOT / "Makefile").read_text(), re.M)
    if line is None:
        sys.exit("the Makefile defines no GENERIC_FLOATS")
    return dict(item.split("=", 1) for item in line.group(1).split())


# Each path: the environment that selects it. ATen's vectorised kernels (ATEN_CPU_CAPABILITY),
# oneDNN's convolutions (DNNL_MAX_CPU_ISA) and the thread count (OMP_NUM_THREADS) each change
# summation order; `generic-1-thread` is the path `make test` runs the lessons on a second time.
PATHS = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "DNNL_MAX_CPU_ISA": "AVX2"},
    "native-1-thread": {"OMP_NUM_THREADS": "1"},
    "generic-1-thread": makefile_generic_floats(),
}


def sanitizers() -> list[tuple[re.Pattern, str]]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(SANITIZE)
    return [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]


def cell_text(cell, rules) -> str:
    """The text nbval compares: stdout and text/plain results, sanitised (figures and widgets left out)."""
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream" and output["name"] == "stdout":
            parts.append(output["text"])
        elif output["output_type"] in ("execute_result", "display_data"):
            data = output.get("data", {})
            if "image/png" in data or "application/vnd.jupyter.widget-view+json" in data:
                continue
            parts.append(str(data.get("text/plain", "")))
        elif output["output_type"] == "error":
            parts.append(f"ERROR {output['ename']}: {output['evalue']}")
    text = "".join(parts)
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text


def is_checked(cell) -> bool:
    tags = cell.get("metadata", {}).get("tags", [])
    return not (
        "nbval-ignore-output" in tags
        or "nbval-skip" in tags
        or cell.source.lstrip().startswith(("# NBVAL_IGNORE_OUTPUT", "# NBVAL_SKIP"))
    )


def execute_all(paths: list[Path], out_dir: Path) -> None:
    """Executed in a child process whose environment selects the float path."""
    for path in paths:
        run(path, into=out_dir)
        print(f"  executed {path.name}", flush=True)


def compare(stored: Path, executed: Path, rules) -> list[tuple[int, bool, str, str]]:
    """(cell index, checked?, stored text, new text) for every code cell whose text differs."""
    before, after = nbformat.read(stored, as_version=4), nbformat.read(executed, as_version=4)
    found = []
    for index, (old, new) in enumerate(zip(before.cells, after.cells, strict=True)):
        if old.cell_type != "code":
            continue
        a, b = cell_text(old, rules), cell_text(new, rules)
        if a != b:
            found.append((index, is_checked(old), a, b))
    return found


def first_difference(a: str, b: str) -> str:
    for line_a, line_b in zip(a.splitlines(), b.splitlines(), strict=False):
        if line_a != line_b:
            return f"{line_a.strip()[:70]!r} -> {line_b.strip()[:70]!r}"
    return f"{len(a.splitlines())} lines -> {len(b.splitlines())} lines"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("prefixes", nargs="*", help="lesson name prefixes, e.g. 08 10 (default: all)")
    parser.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated, of {', '.join(PATHS)}")
    parser.add_argument("--json", type=Path, help="also write every difference to this file")
    parser.add_argument("--execute-into", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    chosen = lessons(args.prefixes)
    if args.execute_into:
        execute_all(chosen, args.execute_into)
        return
    names = args.paths.split(",")
    unknown = [n for n in names if n not in PATHS]
    if unknown:
        sys.exit(f"--paths: unknown {unknown}; choose from {', '.join(PATHS)}")
    rules = sanitizers()
    report, total, checked_total = {}, 0, 0
    for name in names:
        print(f"path {name}: {PATHS[name] or 'this machine as it is'}", flush=True)
        with tempfile.TemporaryDirectory() as directory:
            subprocess.run(
                [sys.executable, __file__, *[p.name[:2] for p in chosen], "--execute-into", directory],
                env={**os.environ, **PATHS[name]},
                check=True,
            )
            for lesson in chosen:
                found = compare(lesson, Path(directory) / lesson.name, rules)
                report[name, lesson.name] = found
                total += len(found)
                checked_total += sum(checked for _, checked, _, _ in found)
                for index, checked, a, b in found:
                    label = "CHECKED" if checked else "ignored"
                    print(f"  {lesson.stem} cell {index:2d} {label}: {first_difference(a, b)}")
    if args.json:
        rows = [
            {"path": p, "lesson": n, "cell": i, "checked": c, "stored": a, "new": b}
            for (p, n), found in report.items()
            for i, c, a, b in found
        ]
        args.json.write_text(json.dumps(rows, indent=1))
    print(
        f"paths={len(names)} lessons={len(chosen)} differing_cells={total} differing_checked_cells={checked_total}"
    )


if __name__ == "__main__":
    main()
