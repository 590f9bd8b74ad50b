"""lwcnn.tables: tables written as the papers print them."""

from typing import NamedTuple

import pytest

from lwcnn.models import MOBILENET_V2_TABLE, V2Row
from lwcnn.tables import table


class Row(NamedTuple):
    kernel_size: int
    se: bool
    activation: str
    se_ratio: float = 0.25
    stride: int = 1


def test_cells_take_their_fields_types_and_a_dash_is_the_default():
    rows = table(Row, "k SE NL ratio s\n 3 ✓ relu - 2\n 5 - hswish 0.5 -\n")
    assert rows == (Row(3, True, "relu", 0.25, 2), Row(5, False, "hswish", 0.5, 1))
    assert [type(value) for value in rows[0]] == [int, bool, str, float, int]


def test_a_dash_without_a_default_is_zero():
    class Plain(NamedTuple):
        channels: int
        ratio: float

    assert table(Plain, "c r\n16 -") == (Plain(16, 0.0),)


def test_mobilenet_v2s_table_is_the_papers():
    # MobileNetV2, Table 2: t, c, n, s
    assert MOBILENET_V2_TABLE[:3] == (V2Row(1, 16, 1, 1), V2Row(6, 24, 2, 2), V2Row(6, 32, 3, 2))
    assert len(MOBILENET_V2_TABLE) == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("k SE NL\n3 ✓ relu", "header 'k SE NL' has 3 columns, the row type 5 fields"),
        ("k SE NL r s\n3 ✓ relu 1", "the row '3 ✓ relu 1' is not 5 cells"),
        ("k SE NL r s\n3 yes relu 1 1", "Row.se: 'yes' is neither ✓ nor -"),
        ("k SE NL r s\nthree ✓ relu 1 1", "invalid literal for int"),
    ],
)
def test_a_malformed_table_is_refused(text, message):
    with pytest.raises(ValueError, match=message):
        table(Row, text)
