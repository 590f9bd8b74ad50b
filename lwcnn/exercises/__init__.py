"""The checks behind the lessons' exercises: many random inputs against lwcnn, a clear first failure.

Every lesson ends with exercises in which the student writes a core piece of the lesson from
scratch (a conv's output size, h-swish, one REINFORCE update) or answers a question with a
number or a choice. One module per lesson (`lesson01` ... `lesson14`) holds the checks:

- a code exercise's check, `check_<name>(fn)`, calls the student's function on edge cases and
  seeded random valid inputs and compares each result with the course's reference (`lwcnn` or
  torch). It raises `AssertionError` naming the first input that fails, the expected and the
  returned value, or returns a one-line summary of what passed;
- a question's check, `check_answer(question, answer)`, compares the student's answer with the
  right one (computed from lwcnn where it can be) without printing it.

The lessons call the checks through otter-grader (`grader.check("name")` in the student's
notebook); the same functions run anywhere:

    >>> from lwcnn.exercises import lesson01
    >>> lesson01.check_smallest_input(lambda out, k, s=1, p=0, d=1: max(1, (out - 1) * s + d * (k - 1) + 1 - 2 * p))
    'smallest_input: right on 200 inputs'
    >>> lesson01.check_smallest_input(lambda out, k, s=1, p=0, d=1: (out - 1) * s + k - 2 * p)
    Traceback (most recent call last):
    AssertionError: smallest_input(5, 3, 1, 2, 2) returned 3; expected 5

The random inputs are drawn from `random.Random(<exercise name>)`, so every machine checks the
same inputs; float results are compared with a tolerance, so every CPU agrees on the verdict.
"""

from __future__ import annotations

import itertools
import math
import numbers
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import torch

RANDOM_CASES = 200  # random inputs per code exercise, after its edge cases


def rng(name: str) -> random.Random:
    """The seeded generator of one exercise's random inputs: the same inputs on every machine."""
    return random.Random(name)


def ceil_div(a: int, b: int) -> int:
    """`a / b` rounded up, in whole numbers: the output size of a "same"-padded layer with stride
    `b` on an input of size `a`, as the common mistakes compute it. `ceil_div(7, 2) == 4`."""
    return -(-a // b)


def smallest(condition: Callable[[int], bool], start: int = 1) -> int:
    """The first whole number from `start` up for which `condition` holds, found by trying each in
    turn (searched, not solved). `smallest(lambda n: n * n > 50) == 8`."""
    return next(n for n in itertools.count(start) if condition(n))


def same(got: Any, expected: Any, rel: float = 1e-6, abs_: float = 1e-9) -> bool:
    """Whether a student's result equals the reference: exact for ints, strings, fractions and
    booleans, to a relative `rel` for floats, elementwise (same shape) for tensors and sequences."""
    if isinstance(expected, torch.Tensor):
        return (
            isinstance(got, torch.Tensor)
            and got.shape == expected.shape
            and bool(torch.allclose(got.double(), expected.double(), rtol=rel, atol=abs_, equal_nan=True))
        )
    if isinstance(expected, bool) or expected is None:
        return got is expected or (isinstance(got, bool) and got == expected)
    if isinstance(expected, (int, Fraction)) and not isinstance(expected, bool):
        # a count is any integer type (NumPy's too), never a float or a bool
        return isinstance(got, (numbers.Integral, Fraction)) and not isinstance(got, bool) and got == expected
    if isinstance(expected, float):
        return (
            isinstance(got, numbers.Real)
            and not isinstance(got, bool)
            and math.isclose(float(got), expected, rel_tol=rel, abs_tol=abs_)
        )
    if isinstance(expected, (tuple, list)):
        return (
            isinstance(got, (tuple, list))
            and len(got) == len(expected)
            and all(same(g, e, rel, abs_) for g, e in zip(got, expected, strict=True))
        )
    return got == expected


def describe(value: Any) -> str:
    """A value as the failure message shows it: short, tensors by shape and first entries."""
    if isinstance(value, torch.Tensor):
        flat = value.detach().flatten()
        head = ", ".join(f"{v:.4g}" for v in flat[:6].tolist())
        more = ", ..." if flat.numel() > 6 else ""
        return f"tensor(shape={tuple(value.shape)}, [{head}{more}])"
    if isinstance(value, float):  # a whole float shows its ".0": 819200.0 is no int
        return repr(value) if value.is_integer() and abs(value) < 1e15 else f"{value:.6g}"
    if value is Ellipsis:
        return "... (not written yet)"
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _call(args: Sequence[Any], kwargs: Mapping[str, Any] | None = None) -> str:
    parts = [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in (kwargs or {}).items()]
    return ", ".join(parts)


def check_function(
    fn: Callable,
    reference: Callable,
    cases: Iterable[tuple | tuple[tuple, dict]],
    name: str,
    compare: Callable[[Any, Any], bool] = same,
) -> str:
    """Call `fn` and `reference` on every case and compare; raise on the first difference.

    A case is a tuple of positional arguments, or `(args, kwargs)` with a dict of keyword
    arguments. Tensor arguments are cloned for each call, so an implementation that changes its
    input in place cannot change what the reference sees.
    """
    if not callable(fn):
        raise AssertionError(f"{name} is {describe(fn)}, not a function: define `def {name}(...)` above")
    count = 0
    for case in cases:
        args, kwargs = case if len(case) == 2 and isinstance(case[1], dict) else (case, {})
        expected = reference(*_cloned(args), **_cloned(kwargs))
        given, given_kwargs = _cloned(args), _cloned(kwargs)
        try:
            got = fn(*given, **given_kwargs)
        except Exception as error:  # the student's code: report it, do not crash the check
            raise AssertionError(
                f"{name}({_call(args, kwargs)}) raised {type(error).__name__}: {error}; "
                f"expected {describe(expected)}"
            ) from None
        if not compare(got, expected):
            raise AssertionError(
                f"{name}({_call(args, kwargs)}) returned {describe(got)}; expected {describe(expected)}"
                f"{_difference(got, expected)}"
            )
        pairs = [*zip(range(len(args)), args, given, strict=True)]
        pairs += [(key, kwargs[key], value) for key, value in given_kwargs.items()]
        changed = [str(key) for key, before, after in pairs if not _unchanged(before, after)]
        if changed:
            raise AssertionError(
                f"{name}({_call(args, kwargs)}) changed its argument {', '.join(changed)} in place "
                "(counting from 0); expected the inputs left as they were and a new tensor returned"
            )
        count += 1
    return f"{name}: right on {count} inputs"


def _difference(got: Any, expected: Any) -> str:
    """What the two printed values may hide: another type, a difference below the digits shown,
    or a gradient the result does not carry."""
    if isinstance(expected, torch.Tensor) and isinstance(got, torch.Tensor) and got.shape == expected.shape:
        gap = (got.detach().double() - expected.detach().double()).abs().max().item()
        if gap == 0 and expected.requires_grad and not got.requires_grad:
            return " (the values agree, but the result carries no gradient back to the inputs)"
        return f" (largest difference {gap:.3g}, dtype {got.dtype}; expected {expected.dtype})"
    if type(got) is not type(expected) and describe(got) == describe(expected):
        return f" (a {type(got).__name__}; expected a {type(expected).__name__})"
    return ""


def _unchanged(before: Any, after: Any) -> bool:
    """Whether a tensor argument is as it was given (NaN where it was NaN); other values pass."""
    if not isinstance(before, torch.Tensor):
        return True
    before, after = before.detach(), after.detach()
    if before.shape != after.shape or before.dtype != after.dtype:
        return False
    if before.is_floating_point():
        return bool(((before == after) | (before.isnan() & after.isnan())).all())
    return torch.equal(before, after)


def _cloned(values):
    if isinstance(values, dict):
        return {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in values.items()}
    return tuple(v.clone() if isinstance(v, torch.Tensor) else v for v in values)


@dataclass(frozen=True)
class Question:
    """A question with one right answer: a number (to `tolerance`, relative) or one of `choices`."""

    text: str
    answer: Callable[[], Any]  # computed when checked, from lwcnn where it can be
    choices: tuple[str, ...] = ()
    tolerance: float = 0.0
    hint: str = ""

    @classmethod
    def multiple_choice(
        cls,
        text: str,
        answer: str | Callable[[], str],
        hint: str = "",
        choices: tuple[str, ...] = ("a", "b", "c", "d"),
    ) -> Question:
        """A question answered with one of `choices` (the letters a to d unless given): `answer` is
        the right one, or a function that finds it."""
        return cls(text, answer if callable(answer) else lambda: answer, choices=choices, hint=hint)


def question_checker(questions: Mapping[str, Question]) -> Callable[[str, Any], str]:
    """A lesson's `check_question(name, answer)`: `check_answer` of its question `name`."""

    def check_question(name: str, answer: Any) -> str:
        if name not in questions:
            raise ValueError(
                f"name must be one of this lesson's questions {', '.join(questions)}; got {name!r}"
            )
        return check_answer(questions[name], answer, name)

    return check_question


def check_answer(question: Question, answer: Any, name: str) -> str:
    """Raise if `answer` is not the question's answer (without printing the right one)."""
    right = question.answer()
    if answer is Ellipsis or answer is None:
        raise AssertionError(f"{name} is not answered yet: replace the `...`")
    if question.choices:
        if not isinstance(answer, str) or answer.strip().lower() not in question.choices:
            raise AssertionError(
                f"{name} must be one of {', '.join(map(repr, question.choices))}; got {describe(answer)}"
            )
        correct = answer.strip().lower() == right
    elif isinstance(right, int) and question.tolerance == 0:
        correct = isinstance(answer, numbers.Integral) and not isinstance(answer, bool) and answer == right
    else:
        correct = (
            isinstance(answer, numbers.Real)
            and not isinstance(answer, bool)
            and math.isclose(float(answer), float(right), rel_tol=question.tolerance, abs_tol=1e-12)
        )
    if not correct:
        hint = f" Hint: {question.hint}" if question.hint else ""
        kind = ""
        if isinstance(right, int) and question.tolerance == 0 and not isinstance(answer, numbers.Integral):
            kind = f" (a {type(answer).__name__}; the answer is a whole number)"
        raise AssertionError(f"{name} = {describe(answer)} is not right{kind}.{hint}")
    return f"{name}: right"


__all__ = [
    "RANDOM_CASES",
    "Question",
    "ceil_div",
    "check_answer",
    "check_function",
    "describe",
    "rng",
    "same",
    "smallest",
]
