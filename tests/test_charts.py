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


def test_long_segment_names_are_shortened_and_stay_distinct():
    long = "Segment with a very long name, " * 5
    table = pd.DataFrame({"country": [long + "one", long + "two", "UK"], "abs_change": [-5.0, 4.0, 1.0]})
    figure = change_bar_chart(table, "country")
    names = list(figure.data[0].y)
    assert names[2] == "UK" and all(len(name) <= 44 for name in names)
    assert names[0].endswith("…") and names[1] == names[0] + " (2)"  # two bars, not one merged category


def test_waterfall_ticks_and_title_are_shortened():
    from tools.charts import waterfall_chart

    dimension = "a dimension whose name goes on and on and on and on"
    table = pd.DataFrame({dimension: ["x" * 100], "abs_change": [3.0]})
    figure = waterfall_chart(table, dimension, before_total=10.0, after_total=13.0)
    assert list(figure.data[0].x)[1] == "x" * 39 + "…"
    assert (
        dimension not in figure.layout.title.text
        and "a dimension whose name goes on and on a…" in figure.layout.title.text
    )
