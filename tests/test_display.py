"""bncourse.Table: the plain text nbval compares and the Markdown the site shows hold the same numbers."""

import pytest

import bncourse as bn


def test_plain_and_markdown_show_the_same_cells() -> None:
    table = bn.Table(["name", "value", "count"], [["x", 1.5, 3], ["long name", -0.25, 10]], digits=3)
    assert repr(table).splitlines() == [
        "name       value   count",
        "---------  ------  -----",
        "x          1.500   3",
        "long name  -0.250  10",
    ]
    assert table._repr_markdown_().splitlines() == [
        "| name | value | count |",
        "| :--- | ---: | ---: |",
        "| x | 1.500 | 3 |",
        "| long name | -0.250 | 10 |",
    ]


def test_a_row_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match=r"rows\[1\] has 1 values, expected 2"):
        bn.Table(["a", "b"], [[1, 2], [3]])
