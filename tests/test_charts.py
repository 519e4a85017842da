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
    # Up to nine bars share a page column: one compact format (thousands as "k", whole numbers below).
    assert list(figure["data"][0]["text"]) == ["429.7k", "-600", "+76", "429.2k"]
    assert list(figure["data"][0]["customdata"]) == ["429,746.21", "-600.00", "+76.00", "429,222.21"]  # hover
    assert figure["data"][0]["cliponaxis"] is False


def test_titles_in_sentence_case_below_the_mode_bar_and_flat_legends():
    from tools.charts import MODE_BAR_PX, rate_mix_chart

    table = pd.DataFrame({"channel": ["a", "b"], "rate_effect": [0.01, -0.00001], "mix_effect": [0.002, 0.0]})
    layout = rate_mix_chart(table, "channel", title="orders / users: rate vs mix").to_dict()["layout"]
    assert layout["title"]["text"] == "Orders / users: rate vs mix"
    assert layout["title"]["pad"]["t"] >= MODE_BAR_PX and layout["margin"]["t"] > layout["title"]["pad"]["t"]
    assert layout["legend"]["orientation"] == "h"
    figure = rate_mix_chart(table, "channel").to_dict()
    assert list(figure["data"][0]["text"]) == ["+1.00", ""]  # no label for an effect of 0.00 (nor "-0.00")
    assert figure["layout"]["yaxis"]["title"]["text"] == "percentage points"  # the unit, once


@pytest.fixture
def pairs():
    # The drop sits in DE × Android; every other pair moved a little.
    rows = [
        ("DE", "Android", 1000.0, 400.0),
        ("DE", "iOS", 800.0, 810.0),
        ("UK", "Android", 900.0, 905.0),
        ("UK", "iOS", 700.0, 698.0),
    ]
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


# In a real browser (Debian's chromium, see tests/conftest.py): plotly.js draws the figures at the width of the
# page's chart column (400 px at a 1500 px window); every label is measured.
@pytest.fixture
def drawn(tmp_path, request):
    """Draws figures in headless chromium (pytest-playwright's browser) and returns, per figure, its labels with
    their boxes."""
    import os
    from pathlib import Path

    import plotly.io as pio

    from tests.streamlit_server import CHROMIUM
    from tools.labels import safe_figure

    if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
        pytest.skip("Debian's chromium is not installed")
    browser = request.getfixturevalue("browser")

    def draw(figures: list) -> list[dict]:
        parts = [
            pio.to_html(
                safe_figure(f.to_plotly_json()),
                include_plotlyjs=i == 0,
                full_html=False,
                config={"displayModeBar": True},
                default_width=400,
                validate=False,
            )
            for i, f in enumerate(figures)
        ]
        page_file = tmp_path / "charts.html"
        page_file.write_text(
            "<html><meta charset='utf-8'><body>" + "".join(parts) + "</body></html>", "utf-8"
        )
        page = browser.new_page(viewport={"width": 600, "height": 900})
        try:
            page.goto(page_file.as_uri())
            page.wait_for_selector(".js-plotly-plot .main-svg")
            return page.evaluate(
                """() => [...document.querySelectorAll('.js-plotly-plot')].map(plot => {
                    const box = e => { const r = e.getBoundingClientRect();
                                       return [r.left, r.top, r.right, r.bottom]; };
                    return {svg: box(plot.querySelector('.main-svg')),
                            title: box(plot.querySelector('.gtitle')),
                            modebar: box(plot.querySelector('.modebar')),
                            labels: [...plot.querySelectorAll('.bartext, .textpoint text, .point text')]
                                     .map(t => ({text: t.textContent, box: box(t),
                                                 size: parseFloat(getComputedStyle(t).fontSize)}))};
                })"""
            )
        finally:
            page.close()

    return draw


def _inside(inner, outer) -> bool:
    return (
        inner[0] >= outer[0] - 0.5
        and inner[1] >= outer[1] - 0.5
        and inner[2] <= outer[2] + 0.5
        and (inner[3] <= outer[3] + 0.5)
    )


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_labels_are_whole_and_readable_and_the_mode_bar_clears_the_title_in_a_browser(drawn):
    from tools.charts import waterfall_chart

    # The revenue sample's changes: "+4,233.09" was drawn as "+4" beside a long red bar.
    table = pd.DataFrame(
        {
            "country": ["France", "UK", "other", "Italy", "Germany", "Spain"],
            "abs_change": [-132847.57, -4376.25, 4233.09, 979.15, -690.99, -217.09],
        }
    )
    figures = [
        change_bar_chart(table, "country", title="revenue change by country"),
        waterfall_chart(table, "country", before_total=1731985.21, after_total=1599065.55),
    ]
    bars, waterfall = drawn(figures)
    assert sorted(label["text"] for label in bars["labels"]) == sorted(
        ["-132,847.57", "-4,376.25", "+4,233.09", "+979.15", "-690.99", "-217.09"]
    )
    assert {label["text"] for label in waterfall["labels"]} >= {"1.73M", "-132.8k", "+4.2k", "+979", "1.60M"}
    for chart in (bars, waterfall):
        for label in chart["labels"]:
            assert _inside(label["box"], chart["svg"]), label  # drawn whole, inside the figure
            assert label["size"] >= 11, label  # never shrunk to a few pixels
        assert not _overlap(chart["title"], chart["modebar"])
        boxes = [label["box"] for label in chart["labels"]]
        assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])  # none on another


def test_pair_charts_keep_their_labels_inside_in_a_browser(drawn, pairs):
    from tools.charts import change_heatmap, cross_table, size_change_chart

    table = cross_table(pairs, "country", "platform", "revenue_before", "revenue_after")
    heat, size = drawn(
        [change_heatmap(table, "country", "platform"), size_change_chart(table, ["country", "platform"])]
    )
    assert {"DE × Android", "UK × iOS"} <= {label["text"] for label in size["labels"]}
    for chart in (heat, size):
        for label in chart["labels"]:
            assert _inside(label["box"], chart["svg"]), label
        assert not _overlap(chart["title"], chart["modebar"])


def test_rate_and_mix_labels_do_not_collide_in_a_browser(drawn):
    from tools.charts import rate_mix_chart

    # The conversion sample's effects (fractions): five channels, two bars each, in a 400 px column.
    table = pd.DataFrame(
        {
            "channel": ["paid_social", "organic", "email", "referral", "paid_search"],
            "rate_effect": [0.0003, 0.0012, -0.00001, -0.0004, 0.0002],
            "mix_effect": [-0.0055, -0.0006, -0.0011, 0.00002, 0.0002],
        }
    )
    (chart,) = drawn([rate_mix_chart(table, "channel", title="orders / users: rate and mix, by channel")])
    boxes = [label["box"] for label in chart["labels"] if label["text"]]
    assert len(boxes) == 8  # the two effects of 0.00 carry no label
    assert all(_inside(box, chart["svg"]) for box in boxes)
    assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    assert _inside(chart["title"], chart["svg"])  # the title is not cut at the right


@pytest.mark.parametrize(
    ("value", "signed", "scale", "expected"),
    [
        (1731985.21, False, 0, "1.73M"),  # as the summary writes it
        (-132847.57, True, 2e6, "-132.8k"),
        (4233.09, True, 2e6, "+4.2k"),
        (979.15, True, 2e6, "+979"),  # whole below a thousand on a chart of thousands
        (979.15, True, 900, "+979.15"),  # a small chart keeps the summary's decimals
        (-0.4, True, 2e6, "0"),  # never "-0"
    ],
)
def test_compact_labels(value, signed, scale, expected):
    from tools.charts import compact

    assert compact(value, signed, scale) == expected


def test_trend_hover_writes_amounts_as_the_summary():
    from tools.charts import trend_chart

    daily = pd.DataFrame(
        {"date": pd.to_datetime(["2026-11-01", "2026-11-02"]), "revenue": [1599138.0, 132847.6]}
    )
    line = trend_chart(daily, "revenue").data[0]
    assert list(line.customdata) == ["1.60M", "132,847.60"] and "%{customdata}" in line.hovertemplate
