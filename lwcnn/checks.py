"""Argument checks, in one place: each raises a ValueError or TypeError that names the argument
and says what is allowed, and returns the checked value.

    >>> check_int("channels", 32)
    32
    >>> check_pair("input_size", 224)
    (224, 224)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Collection, Iterable
from typing import Any

Size = int | tuple[int, int]


def check_int(name: str, value, minimum: int = 1) -> int:
    """Return `value` if it is an int >= minimum, else raise a message naming the argument."""
    if type(value) is int and value >= minimum:  # the common case, first (specs check many fields)
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {kind}, got {value}")
    return value


def check_pair(name: str, value: Size, minimum: int = 1) -> tuple[int, int]:
    """Normalise an int or (h, w) pair, validating both entries."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a (height, width) pair, got {value!r}")
        return (check_int(f"{name}[0]", value[0], minimum), check_int(f"{name}[1]", value[1], minimum))
    v = check_int(name, value, minimum)
    return (v, v)


def check_groups(groups: int, in_channels: int, out_channels: int) -> int:
    check_int("groups", groups)
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"groups={groups} must divide in_channels={in_channels} and "
            f"out_channels={out_channels}; allowed: a common divisor of both"
        )
    return groups


def check_probability(name: str, value: Any) -> float:
    """A probability in [0, 1) (dropout, a prune rate)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return value


def check_positive_number(name: str, value: Any) -> float:
    """A finite number > 0 (a width multiplier, a scale)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value


def check_bool(name: str, value: Any, optional: bool = False) -> bool | None:
    """True or False (or None where `optional`): a switch. A truthy "no" or 0/1 is refused."""
    if type(value) is not bool and not (optional and value is None):
        raise TypeError(
            f"{name} must be {'None, True or False' if optional else 'True or False'}, got {value!r}"
        )
    return value


def check_real(name: str, value: Any, allowed: str, holds: Callable[[Any], bool]) -> Any:
    """A real number for which `holds(value)`: a TypeError for what is not a number (a bool, a
    string), a ValueError for one outside; both say `allowed`, e.g. "a number in (0, 1]"."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {allowed}, got {value!r}")
    if not holds(value):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return value


def check_sequence(name: str, value: Any, of: str) -> tuple:
    """A list or tuple (or another iterable that is not a string or a number), as a tuple: a
    bare `3` where `[3, 3]` is meant is refused by name. `of` says what it holds."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a sequence of {of}, got {value!r}")
    return tuple(value)


def check_choice(name: str, value: Any, allowed: Collection[Any]) -> Any:
    """One of `allowed`."""
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is unknown; allowed: {', '.join(map(repr, allowed))}")
    return value


def check_shape(name: str, value: Any) -> tuple[int, ...]:
    """A tensor shape: a tuple (or list, torch.Size) of one or more positive ints.

    >>> check_shape("input_size", [1, 3, 224, 224])
    (1, 3, 224, 224)
    """
    if not isinstance(value, (tuple, list)):  # torch.Size is a tuple
        raise TypeError(
            f"{name} must be a tuple of ints such as (1, 3, 224, 224), got {type(value).__name__}"
        )
    if len(value) == 0:
        raise ValueError(f"{name} must have at least one dimension, got ()")
    for size in value:
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError(f"{name} entries must be ints, got {size!r} in {tuple(value)}")
        if size < 1:
            raise ValueError(f"{name} entries must be positive, got {tuple(value)}")
    return tuple(value)


def check_positive_int(name: str, value: Any) -> int:
    """An int > 0 (threads, rounds, a batch), a ValueError otherwise, a bool included: unlike
    `check_int`, which raises a TypeError for a value that is not an int.

    >>> check_positive_int("threads", 2)
    2
    """
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def check_greater(name: str, value: Any, bound: float = 0, or_equal: bool = False) -> Any:
    """A value > bound (>= bound with `or_equal`); NaN fails. Anything that compares (a float, a
    0-d tensor), so it checks without converting.

    >>> check_greater("latency", 1.5)
    1.5
    """
    if not (value >= bound if or_equal else value > bound):
        raise ValueError(f"{name} must be {'>=' if or_equal else '>'} {bound}, got {value!r}")
    return value


def check_interval(
    name: str, value: Any, low: float, high: float, low_closed: bool = True, high_closed: bool = True
) -> Any:
    """A value in the interval from `low` to `high`, each end closed or open; NaN fails.

    >>> check_interval("decay", 0.9, 0, 1, low_closed=False)
    0.9
    """
    above = value >= low if low_closed else value > low
    below = value <= high if high_closed else value < high
    if not (above and below):
        interval = f"{'[' if low_closed else '('}{low}, {high}{']' if high_closed else ')'}"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return value


def check_int_in(name: str, value: Any, allowed: range) -> int:
    """An int in `allowed` (a range: bit widths, counts with a ceiling); a ValueError otherwise,
    a bool or a float included.

    >>> check_int_in("bits", 4, range(2, 9))
    4
    """
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise ValueError(f"{name} must be an int from {allowed.start} to {allowed.stop - 1}, got {value!r}")
    return value
