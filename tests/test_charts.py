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


def test_bar_labels_are_outside_unclipped_and_written_as_in_the_summary():
    from tools.numbers import amount

    table = pd.DataFrame({"country": ["FR", "IT", "DE"], "abs_change": [-132847.57, 4233.09, -1599138.0]})
    figure = change_bar_chart(table, "country").to_dict()
    bar = figure["data"][0]
    assert bar["textposition"] == "outside" and bar["cliponaxis"] is False
    assert list(bar["text"]) == ["-1.60M", "-132,847.57", "+4,233.09"]
    assert list(bar["text"]) == [amount(v, True) for v in (-1599138.0, -132847.57, 4233.09)]
    # Hover shows the same text, never plotly's own "1.599138M".
    assert "%{customdata}" in bar["hovertemplate"] and list(bar["customdata"]) == list(bar["text"])
    low, high = figure["layout"]["xaxis"]["range"]
    assert low < -1599138.0 * 1.2 and high > 4233.09  # room for the labels on both sides


def test_waterfall_axis_starts_at_zero_so_a_small_change_looks_small():
    from tools.charts import waterfall_chart

    table = pd.DataFrame({"country": ["DE", "UK"], "abs_change": [-600.0, 76.0]})
    figure = waterfall_chart(table, "country", before_total=429746.21, after_total=429222.21).to_dict()
    low, high = figure["layout"]["yaxis"]["range"]
    assert low == 0 and 429746.21 < high < 429746.21 * 1.3
    assert list(figure["data"][0]["text"]) == ["429,746.21", "-600.00", "+76.00", "429,222.21"]
    assert figure["data"][0]["cliponaxis"] is False


def test_titles_in_sentence_case_below_the_mode_bar_and_flat_legends():
    from tools.charts import MODE_BAR_PX, rate_mix_chart

    table = pd.DataFrame({"channel": ["a", "b"], "rate_effect": [0.01, -0.00001], "mix_effect": [0.002, 0.0]})
    layout = rate_mix_chart(table, "channel", title="orders / users: rate vs mix").to_dict()["layout"]
    assert layout["title"]["text"] == "Orders / users: rate vs mix"
    assert layout["title"]["pad"]["t"] >= MODE_BAR_PX and layout["margin"]["t"] > layout["title"]["pad"]["t"]
    assert layout["legend"]["orientation"] == "h"
    figure = rate_mix_chart(table, "channel").to_dict()
    assert list(figure["data"][0]["text"]) == ["+1.00 pp", "+0.00 pp"]  # never "-0.00"


@pytest.fixture
def pairs():
    # The drop sits in DE × Android; every other pair moved a little.
    rows = [("DE", "Android", 1000.0, 400.0), ("DE", "iOS", 800.0, 810.0), ("UK", "Android", 900.0, 905.0),
            ("UK", "iOS", 700.0, 698.0)]  # fmt: skip
    return pd.DataFrame(rows, columns=["country", "platform", "revenue_before", "revenue_after"])


def test_heatmap_of_two_dimensions_shows_each_pairs_change(pairs):
    from tools.charts import change_heatmap, cross_table

    table = cross_table(pairs, "country", "platform", "revenue_before", "revenue_after")
    figure = change_heatmap(table, "country", "platform").to_dict()
    heat = figure["data"][0]
    assert list(heat["y"]) == ["DE", "UK"] and list(heat["x"]) == ["Android", "iOS"]
    assert heat["text"][0][0] == "-600.00" and heat["text"][1][1] == "-2.00"
    assert heat["zmin"] == -600 and heat["zmax"] == 600  # white is no change
    assert figure["layout"]["title"]["text"] == "Change by country and platform"


def test_size_vs_change_puts_the_out_of_proportion_pair_far_from_the_diagonal(pairs):
    from tools.charts import cross_table, size_change_chart

    table = cross_table(pairs, "country", "platform", "revenue_before", "revenue_after")
    points = size_change_chart(table, ["country", "platform"]).data[1]
    first = {"name": points.text[0], "x": points.x[0], "y": points.y[0]}
    assert first["name"] == "DE × Android"
    assert first["x"] == pytest.approx(1000 / 3400 * 100) and first["y"] == pytest.approx(600 / 587 * 100)
    assert "of the change (-600.00)" in points.customdata[0]
