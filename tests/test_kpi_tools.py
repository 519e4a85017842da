import pandas as pd
import plotly.graph_objects as go
import pytest
from smolagents import Tool

from tools import kpi_tools
from tools.kpi_tools import KPI_TOOLS


def test_every_tool_is_a_smolagents_tool_with_described_inputs():
    for item in KPI_TOOLS:
        assert isinstance(item, Tool)
        assert item.description
        for name, spec in item.inputs.items():
            assert spec["description"], f"{item.name}.{name} has no description"


def test_one_call_gives_every_segment(revenue_dataset):
    table = kpi_tools.segment_changes(revenue_dataset.frame, metric="revenue", dimension="country")
    assert len(table) == 6
    assert round(table.iloc[0]["abs_change"], 2) == -132847.57
    totals = kpi_tools.metric_totals(revenue_dataset.frame, metric="revenue")
    assert round(totals["abs_change"], 2) == -132919.66


def test_unknown_metric_names_the_metrics_there_are(revenue_dataset):
    with pytest.raises(KeyError, match="metrics in df: revenue"):
        kpi_tools.metric_totals(revenue_dataset.frame, metric="profit")


def test_top_slices_and_rate_mix(write_file):
    frame = pd.DataFrame(
        {
            "channel": ["good", "poor"],
            "orders_before": [100, 20],
            "orders_after": [50, 40],
            "users_before": [1000, 1000],
            "users_after": [500, 2000],
        }
    )
    slices = kpi_tools.top_slices(frame, metric="orders", dimensions=["channel"])
    assert list(slices["segment"]) == ["good", "poor"]
    effects = kpi_tools.rate_mix_effects(frame, numerator="orders", denominator="users", dimension="channel")
    assert effects["mix_share_pct"] == pytest.approx(100.0)
    assert isinstance(kpi_tools.rate_mix_chart(effects), go.Figure)


def test_chart_tools_return_figures(revenue_dataset):
    table = kpi_tools.segment_changes(revenue_dataset.frame, metric="revenue", dimension="country")
    bar = kpi_tools.change_chart(table, dimension="country", title="t")
    assert isinstance(bar, go.Figure) and bar.layout.title.text == "T"  # sentence case
    waterfall = kpi_tools.waterfall_chart(
        table, dimension="country", before_total=1731985.21, after_total=1599065.55
    )
    assert next(iter(waterfall.data[0].x)) == "total before"
    assert list(waterfall.data[0].x)[-1] == "total after"


def test_pair_chart_tools_draw_a_two_dimension_driver(write_file):
    from tools.loading import load_dataset

    text = (
        "country,platform,revenue_before,revenue_after\nDE,Android,100,40\nDE,iOS,80,81\nUK,Android,90,91\n"
    )
    frame = load_dataset(write_file("p.csv", text)).frame
    heat = kpi_tools.change_heatmap(frame, metric="revenue", rows="country", columns="platform")
    assert heat.data[0].type == "heatmap" and heat.data[0].text[0][0] == "-60.00"
    size = kpi_tools.size_change_chart(frame, metric="revenue", dimensions=["country", "platform"])
    assert size.data[1].text[0] == "DE × Android"
    with pytest.raises(KeyError, match="no metric 'profit'"):
        kpi_tools.change_heatmap(frame, metric="profit", rows="country", columns="platform")
    assert (
        kpi_tools.change_heatmap in kpi_tools.KPI_TOOLS and kpi_tools.size_change_chart in kpi_tools.KPI_TOOLS
    )


def test_top_slices_gives_the_engines_own_figures_to_the_last_bit():
    # The tool adds each dimension's sums up from the pairs' sums, as `analyze` does: the agent's figures and the
    # engine's it is verified against are the same floats, not two summation orders a rounding apart.
    import numpy as np

    from tools import engine
    from tools.loading import load_dataset

    rng = np.random.default_rng(7)
    rows = 3000
    frame = pd.DataFrame(
        {
            "country": rng.choice([f"C{i}" for i in range(12)], rows),
            "platform": rng.choice(["iOS", "Android", "Web"], rows),
            "store": rng.choice([f"S{i}" for i in range(40)], rows),
            "revenue_before": rng.uniform(0.01, 1000.0, rows),
            "revenue_after": rng.uniform(0.01, 1000.0, rows),
        }
    ).drop_duplicates(["country", "platform", "store"])
    table = load_dataset(frame.to_csv(index=False).encode(), name="stores.csv").frame
    dimensions, columns = ["country", "platform", "store"], ["revenue_before", "revenue_after"]
    as_analyze_does = engine.GroupSumCache(table)
    as_analyze_does.add_pairs(dimensions, columns)
    expected = engine.drill_down(table, dimensions, *columns, top=200, cache=as_analyze_does)
    slices = kpi_tools.top_slices(table, metric="revenue", dimensions=dimensions, top=200)
    assert (slices["depth"] == 1).sum() > 10
    assert slices["label"].tolist() == expected["label"].tolist()
    for column in ("before", "after", "abs_change"):
        assert slices[column].tolist() == expected[column].tolist()
