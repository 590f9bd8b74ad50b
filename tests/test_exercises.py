"""The exercises: every check can fail, every question has one right answer, and the student's
lessons are generated from the instructor's (otter-grader's Otter Assign) and fail only their checks.

Oracles: the checks compare with lwcnn and torch (`lwcnn/exercises`); here each check must reject
the stub a student starts from (a function returning None), and every plausible mistake listed in
`COMMON_MISTAKES`; each question must accept its right answer and reject others. The solutions
themselves pass in the instructor's lessons, which nbval runs (their test cells raise otherwise).
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lwcnn import exercises

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import student_notebooks  # noqa: E402  (a script of benchmarks/, imported for its helpers)

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "notebooks").glob("*.ipynb"))
STUDENT = ROOT / "student"


def lesson_module(path: Path):
    return importlib.import_module(f"lwcnn.exercises.lesson{path.name[:2]}")


def questions_in(path: Path) -> dict[str, int]:
    return student_notebooks.questions_in(nbformat.read(path, as_version=4))


def checks_of(module) -> list[str]:
    """The code exercises a lesson's module checks: its own `check_<name>` functions."""
    own = {
        name for name, value in vars(module).items() if getattr(value, "__module__", "") == module.__name__
    }
    return sorted(
        name.removeprefix("check_") for name in own if name.startswith("check_") and name != "check_question"
    )


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_every_lesson_has_three_code_exercises_and_two_questions(path):
    found = questions_in(path)
    module = lesson_module(path)
    code = [name for name in found if not name.startswith("q_")]
    asked = [name for name in found if name.startswith("q_")]
    assert len(code) >= 3 and len(asked) >= 2, f"{path.name}: {code} and {asked}"
    assert sorted(code) == checks_of(module), f"{path.name}: the lesson's exercises and lwcnn's checks differ"
    assert sorted(asked) == sorted(
        module.QUESTIONS
    ), f"{path.name}: the lesson's questions and lwcnn's differ"
    assert all(points > 0 for points in found.values())


def _code_checks():
    for path in LESSONS:
        module = lesson_module(path)
        for name in checks_of(module):
            yield pytest.param(module, name, id=f"{path.name[:2]}-{name}")


@pytest.mark.parametrize(("module", "name"), list(_code_checks()))
def test_a_check_rejects_the_stub_and_every_common_mistake(module, name):
    check = getattr(module, f"check_{name}")
    with pytest.raises(AssertionError, match=re.escape(name)):
        check(lambda *args, **kwargs: None)  # what `...` in the student's cell returns
    mistakes = module.COMMON_MISTAKES.get(name, [])
    assert (
        mistakes
    ), f"lesson {module.__name__[-2:]}: no COMMON_MISTAKES for {name}: how do we know the check can fail?"
    for mistake in mistakes:
        with pytest.raises(AssertionError, match="expected"):
            check(mistake)


def _questions():
    for path in LESSONS:
        module = lesson_module(path)
        for name in module.QUESTIONS:
            yield pytest.param(module, name, id=f"{path.name[:2]}-{name}")


@pytest.mark.parametrize(("module", "name"), list(_questions()))
def test_a_question_accepts_its_answer_only(module, name):
    question = module.QUESTIONS[name]
    right = question.answer()
    assert module.check_question(name, right) == f"{name}: right"
    wrong = [c for c in question.choices if c != right] if question.choices else [right * 1.1 + 1, -1]
    for answer in [*wrong, ..., None]:
        with pytest.raises(AssertionError, match=name):
            module.check_question(name, answer)


def test_failures_name_the_input_the_expected_and_the_returned_value():
    def doubled(x):
        return 2 * x if x < 3 else 2 * x + 1

    with pytest.raises(AssertionError, match=r"^twice\(3\) returned 7; expected 6$"):
        exercises.check_function(doubled, lambda x: 2 * x, [(1,), (2,), (3,), (4,)], "twice")
    with pytest.raises(AssertionError, match=r"twice\(0\) raised ZeroDivisionError: .*; expected 0"):
        exercises.check_function(lambda x: 1 / x, lambda x: 2 * x, [(0,)], "twice")
    with pytest.raises(AssertionError, match="not a function"):
        exercises.check_function(..., lambda x: x, [(0,)], "twice")
    assert exercises.check_function(lambda x: 2.0 * x, lambda x: 2 * x + 0.0, [(1,), (2,)], "twice") == (
        "twice: right on 2 inputs"
    )


def test_same_is_exact_for_counts_and_tolerant_for_floats():
    import torch

    assert exercises.same(3, 3) and not exercises.same(3.0, 3) and not exercises.same(True, 1)
    assert exercises.same(0.1 + 0.2, 0.3) and not exercises.same(0.31, 0.3)
    assert exercises.same((1, 2.0), (1, 2.0)) and not exercises.same((1, 2), (1, 2, 3))
    t = torch.linspace(-3, 3, 7)
    assert exercises.same(t + 1e-9, t) and not exercises.same(t[:3], t) and not exercises.same(t.tolist(), t)


def test_a_count_of_any_integer_type_is_right_and_a_float_one_says_so():
    """NumPy's and Python's ints are counts alike; a float count fails with its ".0" shown, so
    the message does not read "returned 223; expected 223"."""
    import numpy as np

    from lwcnn.exercises import lesson01

    right = lambda out, k, s=1, p=0, d=1: max(1, (out - 1) * s + d * (k - 1) + 1 - 2 * p)  # noqa: E731
    assert lesson01.check_smallest_input(lambda *args: np.int64(right(*args)))
    with pytest.raises(AssertionError, match=r"returned \d+\.0; expected \d+$"):
        lesson01.check_smallest_input(lambda *args: float(right(*args)))
    assert exercises.same(np.int64(3), 3) and not exercises.same(np.float64(3.0), 3)


def test_a_function_that_changes_its_input_in_place_fails_naming_the_argument():
    import torch

    double = lambda x: x.mul_(2)  # noqa: E731 - the right values, written into the caller's tensor
    with pytest.raises(AssertionError, match="changed its argument 0 in place"):
        exercises.check_function(double, lambda x: 2 * x, [(torch.ones(3),)], "double")
    nan = torch.tensor([float("nan"), 1.0])
    assert exercises.check_function(lambda x: x * 2, lambda x: 2 * x, [(nan,)], "double")  # NaN stays NaN


def test_the_students_lessons_are_generated_from_the_instructors():
    """`benchmarks/student_notebooks.py --check` regenerates every student lesson with Otter
    Assign and compares: a lesson edited without regenerating fails here."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "student_notebooks.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in STUDENT.glob("*.ipynb")) == [p.name for p in LESSONS]


def test_the_students_lessons_hold_no_solution():
    for path in LESSONS:
        student = json.loads((STUDENT / path.name).read_text())
        sources = "\n".join("".join(c["source"]) for c in student["cells"])
        assert "BEGIN SOLUTION" not in sources and "# SOLUTION" not in sources, path.name
        assert set(student["metadata"]["otter"]["tests"]) == set(questions_in(path)), path.name


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_a_students_lesson_runs_through_and_fails_exactly_its_checks(path):
    """Run All on the student's lesson, as handed out: no error anywhere, and every exercise's
    `grader.check` reports a failure (a stub that passed would be a check that cannot fail)."""
    results = student_notebooks.check_results(nbformat.read(STUDENT / path.name, as_version=4))
    assert list(results) == list(questions_in(path))
    passed = [name for name, (ok, _) in results.items() if ok]
    assert not passed, f"{path.name}: the unfilled stubs pass {passed}"
    assert all("Test case failed" in printed for _, printed in results.values())


def test_lesson14_checks_reject_wrong_answers_and_take_the_worked_examples():
    from lwcnn.exercises import lesson14

    assert lesson14.reference_filters_removed(32, 1000, 50_000, 70_000, 4) == 12  # the lesson's example
    assert lesson14.reference_kendall_tau([1, 2, 3, 4], [10, 20, 40, 30]) == pytest.approx(4 / 6)
    assert lesson14.reference_hypervolume([(0.9, 2.0), (0.8, 1.0)], (0.5, 3.0)) == pytest.approx(0.7)
    with pytest.raises(AssertionError, match="filters_removed.*expected"):
        lesson14.check_filters_removed(lambda c, per, fixed, target, step: c - (target - fixed) // per)
    with pytest.raises(AssertionError, match="q_mask"):
        lesson14.check_question("q_mask", 0.4)  # the widest width's weight alone
    assert lesson14.check_question("q_mask", 0.7) == "q_mask: right"
    with pytest.raises(AssertionError, match="q_netadapt"):
        lesson14.check_question("q_netadapt", "a")
