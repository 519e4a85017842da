"""The KPI tools for a JSON tool-calling agent: bound to one run's table, taking only names, returning JSON text.

A tool-calling agent cannot hold a DataFrame in a variable, so these tools read the run's table themselves and
answer with the top rows as JSON, which the model must read and copy into its answer.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from smolagents import Tool

from tools import charts, engine
from tools.analysis import jsonable

TOP_ROWS = 10
_METRIC = {"type": "string", "description": "Metric name, e.g. revenue."}
_DIMENSION = {"type": "string", "description": "Dimension column, e.g. country."}


def _dump(value: Any) -> str:
    return json.dumps(jsonable(value), ensure_ascii=False)


def _rounded(table: pd.DataFrame, columns: list[str]) -> list[dict]:
    return table[columns].head(TOP_ROWS).round(6).to_dict(orient="records")


class _BoundTool(Tool):
    output_type = "string"

    def __init__(self, frame: pd.DataFrame, figures: list[dict]):
        super().__init__()
        self.frame = frame
        self.figures = figures

    def columns(self, metric: str) -> tuple[str, str]:
        before, after = f"{metric}_before", f"{metric}_after"
        if before not in self.frame.columns:
            metrics = sorted({c[: -len("_before")] for c in self.frame.columns if str(c).endswith("_before")})
            raise KeyError(f"no metric {metric!r}; metrics: {', '.join(metrics)}")
        return before, after


class MetricTotals(_BoundTool):
    name = "metric_totals"
    description = "Total of a metric before and after: JSON with before, after, abs_change, pct_change (%)."
    inputs = {"metric": _METRIC}

    def forward(self, metric: str) -> str:
        return _dump(engine.totals(self.frame, *self.columns(metric)))


class SegmentChanges(_BoundTool):
    name = "segment_changes"
    description = (
        f"The {TOP_ROWS} values of a dimension with the largest change: JSON rows with before, after, abs_change, "
        "pct_change (%), contribution_pct (% of the total change), share_before (%)."
    )
    inputs = {"metric": _METRIC, "dimension": _DIMENSION}

    def forward(self, metric: str, dimension: str) -> str:
        table = engine.breakdown(self.frame, dimension, *self.columns(metric))
        columns = [
            dimension,
            "before",
            "after",
            "abs_change",
            "pct_change",
            "contribution_pct",
            "share_before",
        ]
        return _dump(_rounded(table, columns))


class TopSlices(_BoundTool):
    name = "top_slices"
    description = "Drill-down: the 1- and 2-dimension slices explaining most of the change, as JSON rows."
    inputs = {
        "metric": _METRIC,
        "dimensions": {"type": "array", "description": "Dimension columns to combine."},
    }

    def forward(self, metric: str, dimensions: list) -> str:
        table = engine.drill_down(self.frame, list(dimensions), *self.columns(metric), top=5)
        return _dump(_rounded(table, ["segment", "label", "abs_change", "pct_change", "contribution_pct"]))


class RateMixEffects(_BoundTool):
    name = "rate_mix_effects"
    description = (
        "Splits the change of a rate numerator/denominator into rate and mix effects (fractions; 0.01 = 1 pp): "
        "JSON with before, after, change, rate_effect, mix_effect, mix_share_pct and by_segment rows."
    )
    inputs = {
        "numerator": {"type": "string", "description": "Numerator metric."},
        "denominator": {"type": "string", "description": "Denominator metric."},
        "dimension": _DIMENSION,
    }

    def forward(self, numerator: str, denominator: str, dimension: str) -> str:
        self.columns(numerator)
        self.columns(denominator)
        result = engine.ratio_decomposition(self.frame, numerator, denominator, dimension)
        rows = [
            "rate_before",
            "rate_after",
            "weight_before",
            "weight_after",
            "rate_effect",
            "mix_effect",
            "p_value",
        ]
        result["by_segment"] = _rounded(result["by_segment"], [dimension, *rows])
        return _dump(result)


class ChangeChart(_BoundTool):
    name = "change_chart"
    description = "Draws a bar chart of each segment's change for a dimension (shown to the user)."
    inputs = {"metric": _METRIC, "dimension": _DIMENSION}

    def forward(self, metric: str, dimension: str) -> str:
        table = engine.breakdown(self.frame, dimension, *self.columns(metric))
        figure = charts.change_bar_chart(table, dimension, title=f"{metric} change by {dimension}")
        self.figures.append(json.loads(figure.to_json()))
        return f"Chart drawn: {metric} change by {dimension}."


def bound_tools(frame: pd.DataFrame, figures: list[dict]) -> list[Tool]:
    """The tool-calling agent's tools for one run; charts they draw are appended to `figures`."""
    return [
        cls(frame, figures) for cls in (MetricTotals, SegmentChanges, TopSlices, RateMixEffects, ChangeChart)
    ]
