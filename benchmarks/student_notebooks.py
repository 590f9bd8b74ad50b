"""Generate the student's lessons (`student/`) from the instructor's (`notebooks/`) with Otter Assign.

    .venv/bin/python benchmarks/student_notebooks.py           # regenerate student/ (seconds)
    .venv/bin/python benchmarks/student_notebooks.py --check   # exit 1 if student/ is out of date
    .venv/bin/python benchmarks/student_notebooks.py 01 02     # only lessons whose names start so

The instructor's lessons in `notebooks/` are Otter Assign master notebooks: a raw `# ASSIGNMENT
CONFIG` cell on top, and per exercise raw `# BEGIN QUESTION` ... `# END QUESTION` cells around the
prompt, the solution and the tests (otter-grader's documentation, "Otter Assign format"). Otter
Assign writes the student version: solutions replaced by `...`, outputs removed, the tests moved
into the notebook's metadata, and a `grader.check("name")` cell after each exercise. This script
runs it for every lesson, drops what the instructor's run left in the metadata (execution times,
widget state) and gives every cell an id derived from its content, so that the student version
changes only when a lesson's cells do, and a regeneration from an unchanged lesson is byte-for-byte
the same file (`--check` relies on it).

Last line: `lessons=<n> written=<n>` or, with --check, `lessons=<n> stale=<n>`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import re
import sys
import tempfile
from pathlib import Path

import nbformat
from notebook_times import lessons

ROOT = Path(__file__).resolve().parents[1]
CHECK_CALL = re.compile(r'grader\.check\("([^"]+)"\)')
STUDENT = ROOT / "student"


def student_version(master: Path, work: Path) -> nbformat.NotebookNode:
    """Otter Assign's student notebook for `master`, with content-derived cell ids."""
    from otter.assign import main as assign

    result = work / master.stem
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assign(str(master), str(result), no_pdfs=True, no_run_tests=True)
    notebook = nbformat.read(result / "student" / master.name, as_version=4)
    # What the instructor's run left behind means nothing to a student: the cells' execution
    # times and the widgets' state (the outputs they belong to are gone).
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
    seen: set[str] = set()
    for index, cell in enumerate(notebook.cells):
        digest = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()
        cell_id = (
            digest[:8]
            if digest[:8] not in seen
            else hashlib.sha1(f"{index}{digest}".encode()).hexdigest()[:8]
        )
        seen.add(cell_id)
        cell["id"] = cell_id
    return notebook


def autograder_version(master: Path, work: Path) -> nbformat.NotebookNode:
    """Otter Assign's other output: the lesson with its solutions and the student's check cells."""
    student_version(master, work)  # runs Otter Assign into work/<stem>
    return nbformat.read(work / master.stem / "autograder" / master.name, as_version=4)


def check_results(notebook: nbformat.NotebookNode) -> dict[str, tuple[bool, str]]:
    """Execute a lesson's student or autograder version as a student would (from `student/`,
    where `grader` finds the tests) and return {exercise: (passed, what grader.check printed)}.

    Any error outside a check fails the run (nbclient raises): a student's Run All must reach every
    check."""
    from nbclient import NotebookClient

    NotebookClient(
        notebook, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(STUDENT)}}
    ).execute()
    (STUDENT / ".OTTER_LOG").unlink(missing_ok=True)
    results = {}
    for cell in notebook.cells:
        match = CHECK_CALL.match(cell.source) if cell.cell_type == "code" else None
        if match:
            printed = "".join(
                str(o.get("data", {}).get("text/plain", o.get("text", ""))) for o in cell.outputs
            )
            results[match.group(1)] = ("All test cases passed" in printed, printed)
    return results


def questions_in(notebook: nbformat.NotebookNode) -> dict[str, int]:
    """{exercise name: points} of the Otter questions of an instructor's lesson, in order."""
    found = {}
    for cell in notebook.cells:
        if cell.cell_type == "raw" and cell.source.startswith("# BEGIN QUESTION"):
            config = dict(line.split(":", 1) for line in cell.source.splitlines()[1:] if ":" in line)
            found[config["name"].strip()] = int(config["points"])
    return found


def text(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("prefixes", nargs="*", help="lesson name prefixes, e.g. 01 02 (default: all)")
    parser.add_argument("--check", action="store_true", help="compare with student/ instead of writing it")
    args = parser.parse_args()
    masters = lessons(args.prefixes)
    stale = []
    with tempfile.TemporaryDirectory() as directory:
        for master in masters:
            generated = text(student_version(master, Path(directory)))
            target = STUDENT / master.name
            if args.check:
                if not target.exists() or target.read_text() != generated:
                    stale.append(master.name)
                    print(f"{target.relative_to(ROOT)} is out of date with {master.relative_to(ROOT)}")
            else:
                STUDENT.mkdir(exist_ok=True)
                target.write_text(generated)
                print(f"wrote {target.relative_to(ROOT)}")
    if args.check:
        print(f"lessons={len(masters)} stale={len(stale)}")
        return 1 if stale else 0
    print(f"lessons={len(masters)} written={len(masters)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
