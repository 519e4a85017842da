"""The KPI tools the agent calls. Each works on a whole table and returns every segment at once.

The docstrings are the tools' descriptions in the agent's prompt: keep them short and exact.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from smolagents import tool

from tools import charts, engine


def _columns(df: pd.DataFrame, metric: str) -> tuple[str, str]:
    before, after = f"{metric}_before", f"{metric}_after"
    missing = [c for c in (before, after) if c not in df.columns]
    if missing:
        metrics = sorted({c[: -len("_before")] for c in df.columns if str(c).endswith("_before")})
        raise KeyError(
            f"no metric {metric!r} (missing {', '.join(missing)}); metrics in df: {', '.join(metrics)}"
        )
    return before, after


@tool
def metric_totals(df: Any, metric: str) -> dict:
    """Total of a metric: dict with before, after, abs_change, pct_change (%; None when before is 0).

    Args:
        df: The data table.
        metric: Metric name, e.g. "revenue" for columns revenue_before / revenue_after.
    """
    return dict(engine.totals(df, *_columns(df, metric)))


@tool
def segment_changes(df: Any, metric: str, dimension: str) -> Any:
    """Every value of a dimension with its change, largest absolute change first.

    DataFrame columns: <dimension>, before, after, abs_change, pct_change (%, NaN = new segment),
    contribution_pct (% of the total change; NaN when the total did not change), share_before (%), impact_norm
    (contribution / share; far from 1 = outlier), share_of_gross_pct (signed % of all movement).

    Args:
        df: The data table.
        metric: Metric name.
        dimension: Dimension column, e.g. "country".
    """
    return engine.breakdown(df, dimension, *_columns(df, metric))


@tool
def top_slices(df: Any, metric: str, dimensions: list, top: int = 10) -> Any:
    """Drill-down: the 1- and 2-dimension slices that explain most of the total change.

    A slice like "country=DE × platform=Android" replaces its parent when it holds ≥90% of the parent's change.
    DataFrame columns: slice (dict), label, segment, depth, before, after, abs_change, pct_change,
    contribution_pct, replaces.

    Args:
        df: The data table.
        metric: Metric name.
        dimensions: Dimension columns to combine.
        top: How many slices to return.
    """
    table = engine.drill_down(df, list(dimensions), *_columns(df, metric), top=top)
    return table.drop(columns="share_of_parent_pct")


@tool
def rate_mix_effects(df: Any, numerator: str, denominator: str, dimension: str) -> dict:
    """Splits the change of a rate (numerator / denominator, e.g. orders / users) into rate and mix effects.

    Rate effect: segments' own rates moved. Mix effect: weight moved between segments. They sum exactly to
    the change of the overall rate. Rates and effects are fractions (0.0123 = 1.23 pp). Returns a dict: before,
    after, change, rate_effect, mix_effect, rate_share_pct, mix_share_pct, by_segment (DataFrame: <dimension>,
    rate_before, rate_after, weight_before, weight_after, rate_effect, mix_effect, p_value, significant; p_value
    is a two-proportion test, only when both metrics are counts).

    Args:
        df: The data table.
        numerator: Metric name of the numerator.
        denominator: Metric name of the denominator.
        dimension: Dimension to split by.
    """
    _columns(df, numerator)
    _columns(df, denominator)
    return engine.ratio_decomposition(df, numerator, denominator, dimension)


@tool
def change_chart(table: Any, dimension: str, title: str = "") -> Any:
    """Bar chart of a segment_changes() table: each segment's absolute change (top 8 and "others").

    Args:
        table: A segment_changes() result.
        dimension: Its dimension column.
        title: Chart title.
    """
    return charts.change_bar_chart(table, dimension, title=title or None)


@tool
def waterfall_chart(
    table: Any, dimension: str, before_total: float, after_total: float, title: str = ""
) -> Any:
    """Waterfall of a segment_changes() table: from the total before to the total after through the top segments.

    Args:
        table: A segment_changes() result.
        dimension: Its dimension column.
        before_total: Total before.
        after_total: Total after.
        title: Chart title.
    """
    return charts.waterfall_chart(
        table, dimension, before_total=before_total, after_total=after_total, title=title or None
    )


@tool
def rate_mix_chart(effects: dict, title: str = "") -> Any:
    """Bar chart of a rate_mix_effects() result: each segment's rate and mix effect in percentage points.

    Args:
        effects: A rate_mix_effects() result.
        title: Chart title.
    """
    return charts.rate_mix_chart(effects["by_segment"], effects["dimension"], title=title or None)


@tool
def change_timing(daily: Any, metric: str, earlier: str, later: str) -> dict:
    """When in the later window the change happened: each later date against the earlier window (same weekday when
    whole weeks apart); run = the shortest stretch of dates holding 70% of the change, concentrated = it covers at
    most a third of the window.

    Args:
        daily: The table of totals per date (`daily`, with a `date` column).
        metric: Metric name, a column of `daily`.
        earlier: The earlier window, "2026-11-15..2026-11-21".
        later: The later window, "2026-11-22..2026-11-28".
    """
    from tools.windows import parse_range, when_it_changed

    frame = daily.assign(date=pd.to_datetime(daily["date"]))
    return dict(when_it_changed(frame, parse_range(earlier), parse_range(later), metric))


@tool
def change_heatmap(df: Any, metric: str, rows: str, columns: str, title: str = "") -> Any:
    """Heatmap of a metric's change for every pair of two dimensions (e.g. country × platform): where a
    2-dimension slice from top_slices() sits among its neighbours.

    Args:
        df: The data table.
        metric: Metric name.
        rows: Dimension shown as rows.
        columns: Dimension shown as columns.
        title: Chart title.
    """
    table = charts.cross_table(df, rows, columns, *_columns(df, metric))
    return charts.change_heatmap(table, rows, columns, title=title or None)


@tool
def size_change_chart(df: Any, metric: str, dimensions: list, title: str = "") -> Any:
    """Scatter of each segment's share of the total before against its share of the change (%): segments far
    from the diagonal moved out of proportion to their size. One or two dimensions (pairs when two).

    Args:
        df: The data table.
        metric: Metric name.
        dimensions: One or two dimension columns.
        title: Chart title.
    """
    dimensions = list(dimensions)
    before, after = _columns(df, metric)
    if len(dimensions) == 2:
        table = charts.cross_table(df, dimensions[0], dimensions[1], before, after)
    elif len(dimensions) == 1:
        table = engine.breakdown(df, dimensions[0], before, after)
    else:
        raise ValueError(f"size_change_chart takes one or two dimensions, not {len(dimensions)}")
    return charts.size_change_chart(table, dimensions, title=title or None)


KPI_TOOLS = [
    metric_totals,
    segment_changes,
    top_slices,
    rate_mix_effects,
    change_chart,
    waterfall_chart,
    rate_mix_chart,
    change_timing,
    change_heatmap,
    size_change_chart,
]
