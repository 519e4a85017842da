"""The KPI tools the agents call: one `KpiTool` definition each (`KPI_SPECS`), both agents' tools made from it.

Each works on a whole table and returns every segment at once. The descriptions are the tools' descriptions in
the agents' prompts: keep them short and exact. A new tool is one `KpiTool` added to `KPI_SPECS`: the code agent
gets it (`KPI_TOOLS`), the tool-calling agent too when it has a `calling` part (`tools.bound_tools`), and
verification its `facts` (see `tools.tool_spec`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from tools import charts, engine, raw_rows
from tools.tool_spec import (
    TOP_ROWS,
    Arg,
    Calling,
    KpiTool,
    code_tool,
    dimension,
    dimension_list,
    metric_columns,
    top_rows,
)

_DF = Arg("any", "The data table.")
_METRIC = Arg("string", "Metric name.")
_DIMENSION = Arg("string", 'Dimension column, e.g. "country".')
_TITLE = Arg("string", "Chart title.", "")
_TABLE = Arg("any", "A segment_changes() result.")


def _metric_totals(df: Any, metric: str) -> dict:
    return dict(engine.totals(df, *metric_columns(df, metric)))


def _segment_changes(df: Any, metric: str, dimension_name: str) -> pd.DataFrame:
    columns = metric_columns(df, metric)
    return engine.breakdown(df, dimension(df, dimension_name), *columns)


def _top_slices(df: Any, metric: str, dimensions: list, top: int = 10) -> pd.DataFrame:
    columns = metric_columns(df, metric)
    table = engine.drill_down(df, dimension_list(df, dimensions), *columns, top=top)
    return table.drop(columns="share_of_parent_pct")


def _rate_mix_effects(df: Any, numerator: str, denominator: str, dimension_name: str) -> dict:
    metric_columns(df, numerator)
    metric_columns(df, denominator)
    return engine.ratio_decomposition(df, numerator, denominator, dimension(df, dimension_name))


def _rate_mix_answer(result: dict, arguments: dict[str, Any]) -> dict:
    rows = [
        "rate_before",
        "rate_after",
        "weight_before",
        "weight_after",
        "rate_effect",
        "mix_effect",
        "p_value",
    ]
    return {**result, "by_segment": top_rows(result["by_segment"], [arguments["dimension"], *rows])}


def _change_timing(daily: Any, metric: str, earlier: str, later: str) -> dict:
    from tools.windows import parse_range, when_it_changed

    frame = daily.assign(date=pd.to_datetime(daily["date"]))
    return dict(when_it_changed(frame, parse_range(earlier), parse_range(later), metric))


def _change_heatmap(df: Any, metric: str, rows: str, columns: str, title: str = "") -> Any:
    before, after = metric_columns(df, metric)
    table = charts.cross_table(df, dimension(df, rows), dimension(df, columns), before, after)
    return charts.change_heatmap(table, rows, columns, title=title or None)


def _size_change_chart(df: Any, metric: str, dimensions: list, title: str = "") -> Any:
    before, after = metric_columns(df, metric)
    dimensions = [
        dimension(df, d) for d in (dimensions if isinstance(dimensions, (list, tuple)) else [dimensions])
    ]
    if len(dimensions) == 2:
        table = charts.cross_table(df, dimensions[0], dimensions[1], before, after)
    elif len(dimensions) == 1:
        table = engine.breakdown(df, dimensions[0], before, after)
    else:
        raise ValueError(f"size_change_chart takes one or two dimensions, not {len(dimensions)}")
    return charts.size_change_chart(table, dimensions, title=title or None)


METRIC_TOTALS = KpiTool(
    name="metric_totals",
    description="Total of a metric: dict with before, after, abs_change, pct_change (%; None when before is 0).",
    inputs={
        "df": _DF,
        "metric": Arg("string", 'Metric name, e.g. "revenue" for columns revenue_before / revenue_after.'),
    },
    run=_metric_totals,
    output_type="object",
    calling=Calling(
        summary="Total of a metric before and after",
        returns="JSON with before, after, abs_change, pct_change (%; null when before is 0).",
        answer=lambda result, arguments: result,
    ),
)

SEGMENT_CHANGES = KpiTool(
    name="segment_changes",
    description="Every value of a dimension with its change, largest absolute change first.",
    returns="DataFrame columns: <dimension>, before, after, abs_change, pct_change (%, NaN = new segment),\n"
    "contribution_pct (% of the total change; NaN when the total did not change), share_before (%), impact_norm\n"
    "(contribution / share; far from 1 = outlier), share_of_gross_pct (signed % of all movement).",
    inputs={"df": _DF, "metric": _METRIC, "dimension": _DIMENSION},
    run=lambda df, metric, dimension: _segment_changes(df, metric, dimension),
    calling=Calling(
        summary=f"The {TOP_ROWS} values of a dimension with the largest change",
        returns="JSON rows with before, after, abs_change, pct_change (%), contribution_pct (% of the total "
        "change), share_before (%).",
        answer=lambda table, arguments: top_rows(
            table,
            [
                arguments["dimension"],
                "before",
                "after",
                "abs_change",
                "pct_change",
                "contribution_pct",
                "share_before",
            ],
        ),
    ),
)

TOP_SLICES = KpiTool(
    name="top_slices",
    description="Drill-down: the 1- and 2-dimension slices that explain most of the total change.",
    returns='A slice like "country=DE × platform=Android" replaces its parent when it holds ≥90% of the parent\'s '
    "change.\nDataFrame columns: slice (dict), label, segment, depth, before, after, abs_change, pct_change,\n"
    "contribution_pct, replaces.",
    inputs={
        "df": _DF,
        "metric": _METRIC,
        "dimensions": Arg("array", "Dimension columns to combine."),
        "top": Arg("integer", "How many slices to return.", 10),
    },
    run=_top_slices,
    calling=Calling(
        returns="JSON rows with segment, label, abs_change, pct_change, contribution_pct.",
        answer=lambda table, arguments: top_rows(
            table, ["segment", "label", "abs_change", "pct_change", "contribution_pct"]
        ),
    ),
)

RATE_MIX_EFFECTS = KpiTool(
    name="rate_mix_effects",
    description="Splits the change of a rate (numerator / denominator, e.g. orders / users) into rate and mix "
    "effects.",
    returns="Rate effect: segments' own rates moved. Mix effect: weight moved between segments. They sum exactly to\n"
    "the change of the overall rate. Rates and effects are fractions (0.0123 = 1.23 pp). Returns a dict: before,\n"
    "after, change, rate_effect, mix_effect, rate_share_pct, mix_share_pct, by_segment (DataFrame: <dimension>,\n"
    "rate_before, rate_after, weight_before, weight_after, rate_effect, mix_effect, p_value, significant; p_value\n"
    "is a two-proportion test, only when both metrics are counts).",
    inputs={
        "df": _DF,
        "numerator": Arg("string", "Metric name of the numerator."),
        "denominator": Arg("string", "Metric name of the denominator."),
        "dimension": Arg("string", "Dimension to split by."),
    },
    run=lambda df, numerator, denominator, dimension: _rate_mix_effects(
        df, numerator, denominator, dimension
    ),
    output_type="object",
    calling=Calling(
        returns="fractions (0.01 = 1 pp): JSON with before, after, change, rate_effect, mix_effect, "
        "mix_share_pct and by_segment rows.",
        answer=_rate_mix_answer,
    ),
)

CHANGE_CHART = KpiTool(
    name="change_chart",
    description='Bar chart of a segment_changes() table: each segment\'s absolute change (top 8 and "others").',
    inputs={"table": _TABLE, "dimension": Arg("string", "Its dimension column."), "title": _TITLE},
    run=lambda table, dimension, title="": charts.change_bar_chart(table, dimension, title=title or None),
    table=None,
    calling=Calling(
        # The model cannot hand over a table: it names the metric and dimension, the tool computes the table.
        summary="Draws a bar chart of each segment's change for a dimension",
        returns="shown to the user; answers with a sentence.",
        inputs={"metric": Arg("string", "Metric name."), "dimension": _DIMENSION},
        prepare=lambda frame, metric, dimension: {
            "table": _segment_changes(frame, metric, dimension),
            "dimension": dimension,
            "title": f"{metric} change by {dimension}",
        },
        answer=lambda figure, arguments: (
            f"Chart drawn: {arguments['metric']} change by {arguments['dimension']}."
        ),
        draws=True,
    ),
)

WATERFALL_CHART = KpiTool(
    name="waterfall_chart",
    description="Waterfall of a segment_changes() table: from the total before to the total after through the top "
    "segments.",
    inputs={
        "table": _TABLE,
        "dimension": Arg("string", "Its dimension column."),
        "before_total": Arg("number", "Total before."),
        "after_total": Arg("number", "Total after."),
        "title": _TITLE,
    },
    run=lambda table, dimension, before_total, after_total, title="": charts.waterfall_chart(
        table, dimension, before_total=before_total, after_total=after_total, title=title or None
    ),
    table=None,
)

RATE_MIX_CHART = KpiTool(
    name="rate_mix_chart",
    description="Bar chart of a rate_mix_effects() result: each segment's rate and mix effect in percentage points.",
    inputs={"effects": Arg("object", "A rate_mix_effects() result."), "title": _TITLE},
    run=lambda effects, title="": charts.rate_mix_chart(
        effects["by_segment"], effects["dimension"], title=title or None
    ),
    table=None,
)

CHANGE_TIMING = KpiTool(
    name="change_timing",
    description="When in the later window the change happened: each later date against the earlier window (same "
    "weekday when\nwhole weeks apart); run = the shortest stretch of dates holding 70% of the change, concentrated "
    "= it covers at\nmost a third of the window.",
    inputs={
        "daily": Arg("any", "The table of totals per date (`daily`, with a `date` column)."),
        "metric": Arg("string", "Metric name, a column of `daily`."),
        "earlier": Arg("string", 'The earlier window, "2026-11-15..2026-11-21".'),
        "later": Arg("string", 'The later window, "2026-11-22..2026-11-28".'),
    },
    run=_change_timing,
    output_type="object",
    table="daily",
)

CHANGE_HEATMAP = KpiTool(
    name="change_heatmap",
    description="Heatmap of a metric's change for every pair of two dimensions (e.g. country × platform): where a\n"
    "2-dimension slice from top_slices() sits among its neighbours.",
    inputs={
        "df": _DF,
        "metric": _METRIC,
        "rows": Arg("string", "Dimension shown as rows."),
        "columns": Arg("string", "Dimension shown as columns."),
        "title": _TITLE,
    },
    run=_change_heatmap,
)

SIZE_CHANGE_CHART = KpiTool(
    name="size_change_chart",
    description="Scatter of each segment's share of the total before against its share of the change (%): "
    "segments far\nfrom the diagonal moved out of proportion to their size. One or two dimensions (pairs when two).",
    inputs={
        "df": _DF,
        "metric": _METRIC,
        "dimensions": Arg("array", "One or two dimension columns."),
        "title": _TITLE,
    },
    run=_size_change_chart,
)

RAW_ROWS = KpiTool(
    name="raw_rows",
    description="The file's rows as written, before summing into df (a sample kept at load: the first rows of "
    "each\nsegment); segment={dimension: value} keeps one segment's. Not the engine's numbers.",
    returns="DataFrame indexed by file row number.",
    inputs={
        "limit": Arg("integer", f"Rows, at most {raw_rows.MAX_LIMIT:,}.", raw_rows.DEFAULT_LIMIT),
        "segment": Arg("object", 'e.g. {"country": "France"}', None),
    },
    run=lambda rows, limit=raw_rows.DEFAULT_LIMIT, segment=None: raw_rows.raw_rows(rows, limit, segment),
    table=None,
    raw="rows",
    calling=Calling(
        returns="JSON: note, rows (with their file row number).",
        answer=lambda rows, arguments: raw_rows.tool_answer(rows),
    ),
)

# Every KPI tool, in the order the prompts list them. Adding a tool: define it above and list it here.
KPI_SPECS: list[KpiTool] = [
    METRIC_TOTALS,
    SEGMENT_CHANGES,
    TOP_SLICES,
    RATE_MIX_EFFECTS,
    CHANGE_CHART,
    WATERFALL_CHART,
    RATE_MIX_CHART,
    CHANGE_TIMING,
    CHANGE_HEATMAP,
    SIZE_CHANGE_CHART,
    RAW_ROWS,
]

KPI_TOOLS = [code_tool(spec) for spec in KPI_SPECS]

# The code agent's tools by name, for Python callers (a new tool needs no line here).
_BY_NAME = {tool.name: tool for tool in KPI_TOOLS}
metric_totals = _BY_NAME["metric_totals"]
segment_changes = _BY_NAME["segment_changes"]
top_slices = _BY_NAME["top_slices"]
rate_mix_effects = _BY_NAME["rate_mix_effects"]
change_chart = _BY_NAME["change_chart"]
waterfall_chart = _BY_NAME["waterfall_chart"]
rate_mix_chart = _BY_NAME["rate_mix_chart"]
change_timing = _BY_NAME["change_timing"]
change_heatmap = _BY_NAME["change_heatmap"]
size_change_chart = _BY_NAME["size_change_chart"]
raw_rows_tool = _BY_NAME["raw_rows"]  # unbound: the run binds its rows (tool_spec.bind_raw_rows)
