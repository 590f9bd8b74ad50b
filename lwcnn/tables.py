"""Architecture and results tables written as the papers print them.

A table is a header line of column labels, then one row per line, its cells separated by spaces.
`table(RowType, text)` turns it into a tuple of `RowType` (a NamedTuple), each cell converted to
its field's type: int, float, str, or bool written `✓` (yes) or `-` (no). A `-` in any other
column is the field's default (zero where it has none), as a paper leaves a cell empty.

    >>> from typing import NamedTuple
    >>> class Row(NamedTuple):
    ...     kernel_size: int
    ...     se_ratio: float = 0.0
    >>> table(Row, '''
    ...     k  SE
    ...     3  -
    ...     5  0.25
    ... ''')
    (Row(kernel_size=3, se_ratio=0.0), Row(kernel_size=5, se_ratio=0.25))
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

_BOOLS = {"✓": True, "-": False}
_ZEROS: dict[type, Any] = {int: 0, float: 0.0, str: ""}


def table(row_type: type, text: str) -> tuple[Any, ...]:
    """The rows of `text` as `row_type`s."""
    fields, types = row_type._fields, typing.get_type_hints(row_type)
    lines = [line.split() for line in text.strip().splitlines()]
    header, body = lines[0], lines[1:]
    if len(header) != len(fields):
        raise ValueError(
            f"{row_type.__name__} table: the header {' '.join(header)!r} has {len(header)} columns, "
            f"the row type {len(fields)} fields {fields}"
        )
    rows = []
    for cells in body:
        if len(cells) != len(fields):
            raise ValueError(
                f"{row_type.__name__} table: the row {' '.join(cells)!r} is not {len(fields)} cells"
            )
        rows.append(
            row_type(
                *(_cell(row_type, name, types[name], cell) for name, cell in zip(fields, cells, strict=False))
            )
        )
    return tuple(rows)


def _cell(row_type: type, name: str, kind: Any, cell: str) -> Any:
    if kind is bool:
        if cell not in _BOOLS:
            raise ValueError(f"{row_type.__name__}.{name}: {cell!r} is neither ✓ nor -")
        return _BOOLS[cell]
    if cell == "-":
        return row_type._field_defaults.get(name, _ZEROS.get(kind))
    convert: Callable[[str], Any] = kind
    return convert(cell)
