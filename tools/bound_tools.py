"""The KPI tools for a JSON tool-calling agent: bound to one run's table, taking only names, returning JSON text.

A tool-calling agent cannot hold a DataFrame in a variable, so these tools read the run's table themselves and
answer with the top rows as JSON, which the model must read and copy into its answer. They are made from the same
definitions as the code agent's (`tools.kpi_tools.KPI_SPECS`, those with a `calling` part), so both agents' tools
check their arguments alike (known metrics and dimensions, each dimension once, at most `MAX_DIMENSIONS`).

With a worker (agent.sandbox.process.ProcessExecutor) the work itself runs there, under the same time, memory and
sandbox limits as the code agent's code: the tools here only forward the call (`remote`), and `call_in_worker`
runs it on the worker's side. A tool that reads the run's kept raw rows (`raw_rows`) runs here in the app: the
worker never holds them, and the tool only filters a bounded sample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
from smolagents.tools import Tool

from tools.kpi_tools import KPI_SPECS
from tools.tool_spec import MAX_DIMENSIONS, TOP_ROWS, KpiTool

__all__ = ["MAX_DIMENSIONS", "TOP_ROWS", "BoundTool", "bound_tools", "call_in_worker", "calling_specs"]

# remote(tool name, arguments) -> (the tool's text, charts it drew)
Remote = Callable[[str, dict[str, Any]], tuple[str, list[dict]]]


def calling_specs(specs: Sequence[KpiTool] = KPI_SPECS) -> list[KpiTool]:
    """The tools the tool-calling agent gets: those with a `calling` part."""
    return [spec for spec in specs if spec.calling is not None]


class BoundTool(Tool):
    """The tool-calling agent's tool of one `KpiTool`, bound to the run's table."""

    output_type = "string"
    skip_forward_signature_validation = True  # its arguments are the spec's `calling_inputs()`

    def __init__(
        self,
        spec: KpiTool,
        frame: pd.DataFrame | None,
        figures: list[dict],
        remote: Remote | None = None,
        raw: Any = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.description = spec.calling_description()
        self.inputs = {name: arg.schema() for name, arg in spec.calling_inputs().items()}
        self.frame = frame
        self.figures = figures
        self.remote = remote
        self.raw = raw  # the run's kept raw rows, for a tool that reads them (spec.raw)
        super().__init__()

    def forward(self, **arguments: Any) -> str:
        """Runs the tool here, or in the worker when there is one."""
        if self.remote is None or self.spec.raw:
            return self.spec.answer_model(self.frame, arguments, self.figures, self.raw)
        text, figures = self.remote(self.name, arguments)
        self.figures.extend(figures)
        return text


def bound_tools(
    frame: pd.DataFrame,
    figures: list[dict],
    remote: Remote | None = None,
    specs: Sequence[KpiTool] = KPI_SPECS,
    raw: Any = None,
) -> list[Tool]:
    """The tool-calling agent's tools for one run; charts they draw are appended to `figures`.

    With `remote` (a worker's `call_tool`), the tools run there and `frame` must have been sent to it as `df`;
    `raw` is the run's kept raw rows (`tools.raw_rows.RawRows`, `Dataset.raw_rows`), read here in the app.
    """
    return [BoundTool(spec, frame, figures, remote, raw) for spec in calling_specs(specs)]


def call_in_worker(
    frame: pd.DataFrame | None, name: str, arguments: Any, figures: list[dict]
) -> dict[str, Any]:
    """The worker's side of a remote call: runs one tool on the worker's `df`, as a protocol reply."""
    spec = {spec.name: spec for spec in calling_specs() if not spec.raw}.get(name)
    if spec is None or frame is None or not isinstance(arguments, dict):
        return {"kind": "tool", "failed": True, "message": f"no tool {str(name)[:80]!r} for this table"}
    try:
        text = spec.answer_model(frame, arguments, figures)
    except Exception as error:  # shown to the model as the tool's error
        return {"kind": "tool", "failed": True, "message": f"{type(error).__name__}: {error}"}
    return {"kind": "tool", "failed": False, "message": text}
