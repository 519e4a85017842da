import pandas as pd
import pytest

from tools.charts import change_bar_chart, top_with_others


def test_top_with_others_sums_the_rest():
    table = pd.DataFrame({"country": list("ABCDEFGHIJ"), "abs_change": [10, -9, 8, 1, 1, 1, 1, 1, 1, -2]})
    data = top_with_others(table, "country", "abs_change", top=3)
    assert list(data["country"]) == ["A", "B", "C", "others (7)"]
    assert data["abs_change"].iloc[-1] == 4
    assert data["abs_change"].sum() == table["abs_change"].sum()


def test_no_others_bar_when_everything_fits():
    table = pd.DataFrame({"country": ["A", "B"], "abs_change": [1.0, -2.0]})
    assert list(top_with_others(table, "country", "abs_change", top=8)["country"]) == ["B", "A"]


def test_bar_chart_colours_and_title():
    table = pd.DataFrame({"country": ["A", "B"], "abs_change": [1.0, -2.0]})
    figure = change_bar_chart(table, "country")
    assert figure.layout.title.text == "Change by country"
    colours = list(figure.data[0].marker.color)
    assert colours[0] != colours[1]
    assert list(figure.data[0].x) == pytest.approx([-2.0, 1.0])
