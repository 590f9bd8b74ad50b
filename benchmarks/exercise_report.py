"""One row per lesson: its exercises, their points, and whether solutions pass and stubs fail.

    .venv/bin/python benchmarks/exercise_report.py          # all lessons (about 6 minutes on 2 cores)
    .venv/bin/python benchmarks/exercise_report.py 01 08    # only lessons whose names start so

For each lesson, Otter Assign makes the two versions from the instructor's notebook; both are run
top to bottom as a student would run them (from `student/`), and every `grader.check` is read:
in the version with the solutions each must pass, in the student's version, where every
solution is still `...`, each must fail. A code exercise is one whose name does not start with
`q_` (those are questions).

Last line: `lessons=<n> code_exercises=<n> questions=<n> solutions_pass=<n> stubs_fail=<n>`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from notebook_times import lessons
from student_notebooks import autograder_version, check_results, questions_in, student_version
from tqdm.auto import tqdm


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("prefixes", nargs="*", help="lesson name prefixes, e.g. 01 02 (default: all)")
    args = parser.parse_args()
    import nbformat

    totals = dict(lessons=0, code=0, questions=0, passing=0, failing=0)
    print(f"{'lesson':<28}{'code':>5}{'questions':>10}{'points':>7}{'solutions pass':>16}{'stubs fail':>12}")
    for master in tqdm(lessons(args.prefixes), desc="lessons", leave=False):
        points = questions_in(nbformat.read(master, as_version=4))
        with tempfile.TemporaryDirectory() as directory:
            solved = check_results(autograder_version(master, Path(directory)))
        with tempfile.TemporaryDirectory() as directory:
            stubs = check_results(student_version(master, Path(directory)))
        code = [name for name in points if not name.startswith("q_")]
        passing = sum(solved.get(name, (False, ""))[0] for name in points)
        failing = sum(not stubs.get(name, (True, ""))[0] for name in points)
        print(
            f"{master.stem:<28}{len(code):>5}{len(points) - len(code):>10}{sum(points.values()):>7}"
            f"{f'{passing}/{len(points)}':>16}{f'{failing}/{len(points)}':>12}"
        )
        for name in points:
            if not solved.get(name, (False, ""))[0]:
                print(f"  solution of {name} does not pass: {solved.get(name, (False, 'no check ran'))[1]}")
            if stubs.get(name, (True, ""))[0]:
                print(f"  stub of {name} does not fail")
        totals["lessons"] += 1
        totals["code"] += len(code)
        totals["questions"] += len(points) - len(code)
        totals["passing"] += passing
        totals["failing"] += failing
    print(
        f"lessons={totals['lessons']} code_exercises={totals['code']} questions={totals['questions']} "
        f"solutions_pass={totals['passing']} stubs_fail={totals['failing']}"
    )
    return 0 if totals["passing"] == totals["failing"] == totals["code"] + totals["questions"] else 1


if __name__ == "__main__":
    sys.exit(main())
