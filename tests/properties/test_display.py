"""bncourse.course.display.Table: the plain text nbval compares and the Markdown the site shows hold the same numbers."""

import pytest

from bncourse.course.display import Table, median_range, percent_band


def test_plain_and_markdown_show_the_same_cells() -> None:
    table = Table(["name", "value", "count"], [["x", 1.5, 3], ["long name", -0.25, 10]], digits=3)
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
        Table(["a", "b"], [[1, 2], [3]])


def test_median_range_reports_median_and_extremes() -> None:
    assert median_range([0.91, 0.95, 0.93], scale=100) == "93 (91–95)"
    assert median_range([1.0, 2.0], digits=1) == "1.5 (1.0–2.0)"
    with pytest.raises(ValueError, match="values"):
        median_range([])


def test_percent_band_holds_the_median() -> None:
    assert percent_band([0.74, 0.76, 0.73]) == "70–80 %"
    assert percent_band([1.0, 0.99]) == "90–100 %"  # 100 % belongs to the top band
    assert percent_band([0.0]) == "0–10 %" and percent_band([0.52], width=25) == "50–75 %"
    with pytest.raises(ValueError, match="width"):
        percent_band([0.5], width=7)


def test_markdown_table_escapes_pipes_in_cells() -> None:
    """A "|" in a header or cell would split it in two and break the rendered table."""
    markdown = Table(["max |difference|", "n"], [["|x|", 1]])._repr_markdown_()
    assert markdown.splitlines()[0] == "| max \\|difference\\| | n |"
    assert markdown.splitlines()[2] == "| \\|x\\| | 1 |"
