"""The KPI tools for a JSON tool-calling agent: bound to one run's table, taking only names, returning JSON text.

A tool-calling agent cannot hold a DataFrame in a variable, so these tools read the run's table themselves and
answer with the top rows as JSON, which the model must read and copy into its answer.

The model chooses the arguments, so they are checked and capped first (known metrics and dimensions, each
dimension once, at most `MAX_DIMENSIONS`), and with a worker (agent.sandbox.process.ProcessExecutor) the work itself runs
there, under the same time, memory and sandbox limits as the code agent's code: the tools here only forward the
call (`remote`), and `call_in_worker` runs it on the worker's side.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd
from smolagents import Tool

from tools import charts, engine
from tools.analysis import jsonable

TOP_ROWS = 10
MAX_DIMENSIONS = 6  # drill-down pairs grow with the square of this
MAX_LISTED_DIMENSIONS = 10_000  # repeats included; longer lists are refused before they are read
MAX_NAME_CHARS = 200
_METRIC = {"type": "string", "description": "Metric name, e.g. revenue."}
_DIMENSION = {"type": "string", "description": "Dimension column, e.g. country."}


def _dump(value: Any) -> str:
    return json.dumps(jsonable(value), ensure_ascii=False)


def _rounded(table: pd.DataFrame, columns: list[str]) -> list[dict]:
    return table[columns].head(TOP_ROWS).round(6).to_dict(orient="records")


# remote(tool name, arguments) -> (the tool's text, charts it drew)
Remote = Callable[[str, dict[str, Any]], tuple[str, list[dict]]]


class _BoundTool(Tool):
    output_type = "string"

    def __init__(self, frame: pd.DataFrame | None, figures: list[dict], remote: Remote | None = None):
        super().__init__()
        self.frame = frame
        self.figures = figures
        self.remote = remote

    def _dispatch(self, **arguments: Any) -> str:
        """Runs the tool here, or in the worker when there is one."""
        if self.remote is None:
            return self.compute(**arguments)
        text, figures = self.remote(self.name, arguments)
        self.figures.extend(figures)
        return text

    def compute(self, *args: Any, **arguments: Any) -> str:  # each tool names its own arguments
        raise NotImplementedError

    def table(self) -> pd.DataFrame:
        """The data table; a tool whose work runs in the worker has none here."""
        if self.frame is None:
            raise RuntimeError(f"{self.name} has no data table in this process (it runs in the worker)")
        return self.frame

    def columns(self, metric: str) -> tuple[str, str]:
        metric = _name(metric, "metric")
        before, after = f"{metric}_before", f"{metric}_after"
        frame = self.table()
        if before not in frame.columns:
            metrics = sorted({c[: -len("_before")] for c in frame.columns if str(c).endswith("_before")})
            raise KeyError(f"no metric {metric!r}; metrics: {', '.join(metrics)}")
        return before, after

    def dimension(self, dimension: str) -> str:
        dimension = _name(dimension, "dimension")
        frame = self.table()
        if dimension not in frame.columns or str(dimension).endswith(("_before", "_after")):
            known = [c for c in frame.columns if not str(c).endswith(("_before", "_after"))]
            raise KeyError(f"no dimension {dimension!r}; dimensions: {', '.join(map(str, known))}")
        return dimension


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_CHARS:
        raise ValueError(f"{what} must be a column name (text of at most {MAX_NAME_CHARS} characters)")
    return value


class MetricTotals(_BoundTool):
    name = "metric_totals"
    description = "Total of a metric before and after: JSON with before, after, abs_change, pct_change (%)."
    inputs = {"metric": _METRIC}

    def forward(self, metric: str) -> str:
        return self._dispatch(metric=metric)

    def compute(self, metric: str) -> str:
        return _dump(engine.totals(self.frame, *self.columns(metric)))


class SegmentChanges(_BoundTool):
    name = "segment_changes"
    description = (
        f"The {TOP_ROWS} values of a dimension with the largest change: JSON rows with before, after, abs_change, "
        "pct_change (%), contribution_pct (% of the total change), share_before (%)."
    )
    inputs = {"metric": _METRIC, "dimension": _DIMENSION}

    def forward(self, metric: str, dimension: str) -> str:
        return self._dispatch(metric=metric, dimension=dimension)

    def compute(self, metric: str, dimension: str) -> str:
        table = engine.breakdown(self.frame, self.dimension(dimension), *self.columns(metric))
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
        return self._dispatch(metric=metric, dimensions=dimensions)

    def compute(self, metric: str, dimensions: list) -> str:
        if not isinstance(dimensions, list) or not dimensions:
            raise ValueError("dimensions must be a list of dimension columns")
        if len(dimensions) > MAX_LISTED_DIMENSIONS:
            raise ValueError(f"dimensions: a list of at most {MAX_DIMENSIONS} dimension columns")
        # Each dimension once: ["country"] * 3000 is one dimension, not 4.5 million pairs.
        unique = list(dict.fromkeys(self.dimension(d) for d in dimensions))
        if len(unique) > MAX_DIMENSIONS:
            raise ValueError(f"at most {MAX_DIMENSIONS} dimensions can be combined at once")
        table = engine.drill_down(self.frame, unique, *self.columns(metric), top=5)
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
        return self._dispatch(numerator=numerator, denominator=denominator, dimension=dimension)

    def compute(self, numerator: str, denominator: str, dimension: str) -> str:
        self.columns(numerator)
        self.columns(denominator)
        self.dimension(dimension)
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
        return self._dispatch(metric=metric, dimension=dimension)

    def compute(self, metric: str, dimension: str) -> str:
        table = engine.breakdown(self.frame, self.dimension(dimension), *self.columns(metric))
        figure = charts.change_bar_chart(table, dimension, title=f"{metric} change by {dimension}")
        self.figures.append(json.loads(figure.to_json()))
        return f"Chart drawn: {metric} change by {dimension}."


TOOL_CLASSES = (MetricTotals, SegmentChanges, TopSlices, RateMixEffects, ChangeChart)


def bound_tools(frame: pd.DataFrame, figures: list[dict], remote: Remote | None = None) -> list[Tool]:
    """The tool-calling agent's tools for one run; charts they draw are appended to `figures`.

    With `remote` (a worker's `call_tool`), the tools run there and `frame` must have been sent to it as `df`.
    """
    return [cls(frame, figures, remote) for cls in TOOL_CLASSES]


def call_in_worker(
    frame: pd.DataFrame | None, name: str, arguments: Any, figures: list[dict]
) -> dict[str, Any]:
    """The worker's side of a remote call: runs one tool on the worker's `df`, as a protocol reply."""
    tool_class = {cls.name: cls for cls in TOOL_CLASSES}.get(name)
    if tool_class is None or frame is None or not isinstance(arguments, dict):
        return {"kind": "tool", "failed": True, "message": f"no tool {str(name)[:80]!r} for this table"}
    unknown = sorted(set(arguments) - set(tool_class.inputs))
    if unknown:
        return {
            "kind": "tool",
            "failed": True,
            "message": f"unknown argument(s) for {name}: {', '.join(unknown)}",
        }
    try:
        text = tool_class(frame, figures).compute(**arguments)
    except Exception as error:  # shown to the model as the tool's error
        return {"kind": "tool", "failed": True, "message": f"{type(error).__name__}: {error}"}
    return {"kind": "tool", "failed": False, "message": text}
