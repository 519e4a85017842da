"""One definition per KPI tool, and the two adapters made from it.

A `KpiTool` says once what a tool is: its name, its description, its arguments (with their docs), the engine call
with its checks (`run`), how the tool-calling agent reads its answer (`calling`), and the figures it adds to
verification (`facts`). From it come:

- `code_tool(spec)`: the code agent's smolagents `Tool`, called from Python with the table (`metric_totals(df,
  metric="revenue")`) and returning the engine's full answer (a dict, a DataFrame, a figure);
- `tools.bound_tools`: the tool-calling agent's `Tool`, bound to the run's table (a JSON call cannot carry a
  DataFrame) and answering JSON text of the top rows, run in the worker when there is one.

Both adapters call the same `run`, so they check arguments the same way and fail with the same message. The
argument checks shared by every tool (`metric_columns`, `dimension`, `dimension_list`) live here too.

A tool with a `raw` argument (`raw_rows`) reads the run's kept raw rows (`tools.raw_rows.RawRows`), which the run
binds to it (`bind_raw_rows`, `tools.bound_tools.bound_tools(raw=...)`): neither the model nor its code gives them,
and the tool runs in the app (a worker's code asks the app for its answer: agent.sandbox.process).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from smolagents.tools import Tool

from tools.analysis import jsonable

TOP_ROWS = 10  # rows of a table the tool-calling agent reads
MAX_DIMENSIONS = 12  # drill-down pairs grow with the square of this (12: 66 pairs); analyze() itself drills every dimension
MAX_LISTED_DIMENSIONS = 10_000  # repeats included; longer lists are refused before they are read
MAX_NAME_CHARS = 200
_REQUIRED = object()


# ---- the checks every tool shares ------------------------------------------------------------------------------


def column_name(value: Any, what: str) -> str:
    """A metric or dimension name as given: text of at most `MAX_NAME_CHARS` characters."""
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_CHARS:
        raise ValueError(f"{what} must be a column name (text of at most {MAX_NAME_CHARS} characters)")
    return value


def metric_columns(df: pd.DataFrame, metric: Any) -> tuple[str, str]:
    """The table's before and after column of a metric; both must be there.

    Raises:
        KeyError: Naming the missing column(s) and the metrics the table has.
    """
    metric = column_name(metric, "metric")
    before, after = f"{metric}_before", f"{metric}_after"
    missing = [c for c in (before, after) if c not in df.columns]
    if missing:
        metrics = sorted({str(c)[: -len("_before")] for c in df.columns if str(c).endswith("_before")})
        raise KeyError(
            f"no metric {metric!r} (missing {', '.join(missing)}); metrics in df: {', '.join(metrics)}"
        )
    return before, after


def dimension(df: pd.DataFrame, name: Any) -> str:
    """A dimension column of the table (not a metric's before/after column).

    Raises:
        KeyError: Naming the dimensions the table has.
    """
    name = column_name(name, "dimension")
    if name not in df.columns or name.endswith(("_before", "_after")):
        known = [str(c) for c in df.columns if not str(c).endswith(("_before", "_after"))]
        raise KeyError(f"no dimension {name!r}; dimensions: {', '.join(known)}")
    return name


def dimension_list(df: pd.DataFrame, names: Any, at_most: int = MAX_DIMENSIONS) -> list[str]:
    """Dimension columns to combine: each once, at most `at_most` of them."""
    if not isinstance(names, (list, tuple)) or not names:
        raise ValueError("dimensions must be a list of dimension columns")
    if len(names) > MAX_LISTED_DIMENSIONS:
        raise ValueError(f"dimensions: a list of at most {at_most} dimension columns")
    # Each dimension once: ["country"] * 3000 is one dimension, not 4.5 million pairs.
    unique = list(dict.fromkeys(dimension(df, d) for d in names))
    if len(unique) > at_most:
        raise ValueError(f"at most {at_most} dimensions can be combined at once")
    return unique


def top_rows(table: pd.DataFrame, columns: list[str]) -> list[dict]:
    """The first `TOP_ROWS` rows of a table's columns, rounded: what the tool-calling agent reads."""
    return table[columns].head(TOP_ROWS).round(6).to_dict(orient="records")


# ---- one definition per tool ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arg:
    """One argument of a tool: its smolagents type ("string", "array", "integer", "number", "object", "any"), its
    description (in both agents' prompts) and its default (none: required)."""

    type: str
    description: str
    default: Any = _REQUIRED

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def schema(self) -> dict[str, Any]:
        """The smolagents input schema."""
        found: dict[str, Any] = {"type": self.type}
        if not self.required:
            found["nullable"] = True
        found["description"] = self.description
        return found


@dataclass(frozen=True)
class Calling:
    """How the tool-calling agent gets a tool. It cannot hold a DataFrame: the tool reads the run's table itself.

    Attributes:
        summary: Its description for the tool-calling agent, when the code agent's would mislead it (a table
            argument it cannot give); default the tool's own description.
        returns: What the model reads back, appended to the description ("JSON with before, after, ...").
        answer: (the tool's result, the model's arguments) -> what the model reads: JSON-able data (sent as JSON
            text, top rows only) or, for a chart (`draws`), a sentence.
        inputs: The arguments the model gives, when they are not the tool's own minus the table.
        prepare: (the run's table, **the model's arguments) -> the tool's arguments, when not simply the table plus
            the model's arguments (a chart of a table the tool computes first).
        draws: The result is a plotly figure: it is drawn for the user, and the model reads `answer`'s sentence.
    """

    returns: str
    answer: Callable[[Any, dict[str, Any]], Any]
    summary: str | None = None
    inputs: dict[str, Arg] | None = None
    prepare: Callable[..., dict[str, Any]] | None = None
    draws: bool = False


# (the run's table, the analysis) -> facts: {"slice": {dimension: value} ({} = the total), "metric", "kind", "value"}
FactsOf = Callable[[pd.DataFrame, Mapping[str, Any]], list[dict[str, Any]]]


@dataclass(frozen=True)
class KpiTool:
    """One KPI tool, once: everything both adapters and verification need.

    Attributes:
        name: The tool's name in both agents' prompts.
        description: What it computes (both agents).
        inputs: Its arguments in order, as the code agent passes them; `table` names the one that is the run's
            table.
        run: The engine call with its checks: `run(**arguments)` -> the code agent's answer.
        returns: What the code agent gets back, appended to the description ("DataFrame columns: ...").
        output_type: The code agent's return type for smolagents ("object" for a dict, "any").
        table: The argument holding the run's table ("df"), or None when the tool takes another result.
        calling: How the tool-calling agent gets it; None: the code agent only.
        facts: The figures it adds to verification (`tools.facts.fact_table` reads them from the analysis), so a
            summary quoting this tool's numbers can be verified. None: it adds none (its numbers are the
            analysis's own).
        raw: The argument holding the run's kept raw rows (`tools.raw_rows.RawRows`), bound by the run for both
            agents and never given by the model or its code; None: the tool takes none.
    """

    name: str
    description: str
    inputs: dict[str, Arg]
    run: Callable[..., Any]
    returns: str = ""
    output_type: str = "any"
    table: str | None = "df"
    calling: Calling | None = None
    facts: FactsOf | None = field(default=None, compare=False)
    raw: str | None = None

    def code_inputs(self) -> dict[str, Arg]:
        """What the code agent's code gives: every argument but the bound raw rows."""
        return {name: arg for name, arg in self.inputs.items() if name != self.raw}

    def code_description(self) -> str:
        return self.description + (f"\n\n{self.returns}" if self.returns else "")

    def calling_inputs(self) -> dict[str, Arg]:
        """What the tool-calling agent's model gives."""
        if self.calling is not None and self.calling.inputs is not None:
            return self.calling.inputs
        return {name: arg for name, arg in self.inputs.items() if name not in (self.table, self.raw)}

    def calling_description(self) -> str:
        assert self.calling is not None
        summary = self.calling.summary or self.description.split("\n\n", 1)[0]
        return f"{summary.rstrip('.')}: {self.calling.returns}"

    def bind(self, *args: Any, **kwargs: Any) -> inspect.BoundArguments:
        """The arguments of a Python call of the tool, bound like a Python function's: a wrong or missing argument is
        the TypeError Python would raise, naming the tool."""
        try:
            return self.signature().bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{self.name}(): {error}") from None

    def signature(self) -> inspect.Signature:
        """The Python signature of the code agent's tool, from `inputs`."""
        return inspect.Signature(
            [
                inspect.Parameter(
                    name,
                    inspect.Parameter.POSITIONAL_OR_KEYWORD,
                    default=inspect.Parameter.empty if arg.required else arg.default,
                )
                for name, arg in self.code_inputs().items()
            ]
        )

    def answer_model(
        self, frame: pd.DataFrame | None, arguments: dict[str, Any], figures: list[dict], raw: Any = None
    ) -> str:
        """The tool-calling agent's call: the tool on the run's table (or its kept raw rows, `raw`), answered as
        text (charts go to `figures`).

        Raises:
            TypeError: An argument the tool does not take, or a missing one.
            KeyError, ValueError: The tool's own checks (an unknown metric or dimension, ...).
        """
        assert self.calling is not None
        inputs = self.calling_inputs()
        unknown = sorted(set(arguments) - set(inputs))
        if unknown:
            raise TypeError(f"unknown argument(s) for {self.name}: {', '.join(map(str, unknown))}")
        missing = [name for name, arg in inputs.items() if arg.required and name not in arguments]
        if missing:
            raise TypeError(f"missing argument(s) for {self.name}: {', '.join(missing)}")
        if self.calling.prepare is not None:
            call = self.calling.prepare(frame, **arguments)
        else:
            call = {self.table: frame, **arguments} if self.table else dict(arguments)
        if self.raw:
            call[self.raw] = raw
        result = self.run(**call)
        answer = self.calling.answer(result, arguments)
        if self.calling.draws:
            figures.append(json.loads(result.to_json()))
            return str(answer)
        return json.dumps(jsonable(answer), ensure_ascii=False)


def code_tool(spec: KpiTool, raw: Any = None) -> Tool:
    """The code agent's smolagents tool of a spec: a Python call returning the engine's full answer.

    Args:
        spec: The tool's one definition.
        raw: For a tool that reads the run's kept raw rows (`spec.raw`), those rows (see `bind_raw_rows`).
    """

    def forward(self: Tool, *args: Any, **kwargs: Any) -> Any:
        bound = spec.bind(*args, **kwargs)
        bound.apply_defaults()
        if spec.raw:
            return spec.run(**bound.arguments, **{spec.raw: raw})
        return spec.run(**bound.arguments)

    return spec_tool(spec, forward)


def spec_tool(spec: KpiTool, forward: Callable[..., Any], suffix: str = "tool") -> Tool:
    """A smolagents `Tool` as the code agent sees `spec` (name, description, inputs, output type) whose call is
    `forward(self, *args, **kwargs)`: the engine call (`code_tool`), or a worker's stand-in that asks the app."""
    tool_class = type(
        f"{spec.name}_{suffix}",
        (Tool,),
        {
            "name": spec.name,
            "description": spec.code_description(),
            "inputs": {name: arg.schema() for name, arg in spec.code_inputs().items()},
            "output_type": spec.output_type,
            "skip_forward_signature_validation": True,  # its signature is `spec.signature()`
            "forward": forward,
            "spec": spec,
            "__doc__": spec.description,
        },
    )
    return tool_class()


def runs_in_app(tool: Tool) -> bool:
    """Whether a code tool reads the run's kept raw rows: it runs in the app, and a worker asks for its answer."""
    spec = getattr(tool, "spec", None)
    return isinstance(spec, KpiTool) and spec.raw is not None


def bind_raw_rows(tools: list[Tool], raw: Any) -> list[Tool]:
    """The run's code tools, each tool that reads raw rows (`runs_in_app`) bound to this run's (`raw`)."""
    return [code_tool(tool.spec, raw) if runs_in_app(tool) else tool for tool in tools]  # type: ignore[attr-defined]
