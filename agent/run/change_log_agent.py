"""The change-log agent: a smolagents `ToolCallingAgent` that reads the events file, run by the analyst (a
`CodeAgent`) as a **managed agent** named `change_log`.

Its tools list events in a window (with how each relates to a segment), by scope and by kind. Its steps are recorded
by a step callback (`ManagedStepRecorder`) and reach the run's event stream nested under the analyst's step that
called it (`agent.run.events.ManagedStep`).
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from smolagents import Tool, ToolCallingAgent
from smolagents.memory import ActionStep, PlanningStep
from smolagents.models import Model
from smolagents.monitoring import LogLevel

from agent.run.silent_logger import SilentLogger
from tools.change_log import (
    ChangeLog,
    events_by_kind,
    events_by_scope,
    events_in_window,
    events_json,
    parse_scope,
    scope_relation,
)
from tools.windows import Window

CHANGE_LOG_AGENT_NAME = "change_log"
CHANGE_LOG_AGENT_DESCRIPTION = (
    "Reads the change log (releases, incidents, campaigns, pricing, tracking changes). Ask it in plain words, "
    'naming the segment as dimension=value pairs and the dates, e.g. change_log(task="What changed for France × '
    "new (country=France; customer=new) between 2026-11-09 and 2026-11-15? List tracking or data changes between "
    '2026-11-02 and 2026-11-15 too."). It answers with one line per event: `- id | date | kind | scope | match | '
    "description`; match `scope` or `narrower` marks a possible cause, `tracking` a caveat."
)
DEFAULT_CHANGE_LOG_STEPS = 5


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(text).strip()[:10]) if text else None
    except ValueError:
        return None


class EventsInWindow(Tool):
    name = "events_in_window"
    description = (
        "Events whose dates touch the window start..end (ISO dates), as JSON with id, date, kind, scope and "
        "description. With a scope (`country=France; customer=new`), each event gets `match`: scope (its scope "
        "contains the segment), narrower, global, or another scope."
    )
    inputs = {
        "start": {"type": "string", "description": "First date, 2026-11-09."},
        "end": {"type": "string", "description": "Last date, 2026-11-15."},
        "scope": {"type": "string", "description": "The segment, `dimension=value; ...`.", "nullable": True},
    }
    output_type = "string"

    def __init__(self, log: ChangeLog):
        super().__init__()
        self.log = log

    def forward(self, start: str, end: str, scope: str | None = None) -> str:
        first, last = _date(start), _date(end)
        if first is None or last is None or last < first:
            return "Error: write the window as two ISO dates, start before end (2026-11-09, 2026-11-15)."
        found = events_in_window(self.log, Window(first, last))
        if not scope:
            return events_json(found)
        segment = parse_scope(scope) or {}
        relations = [scope_relation(e.scope, segment) or "another scope" for e in found]
        return events_json(found, relations)


class EventsByScope(Tool):
    name = "events_by_scope"
    description = (
        "Events whose scope relates to a segment (`country=France; customer=new`), whatever their date, as JSON; "
        "`match` says how: scope (contains the segment), narrower, or global."
    )
    inputs = {"scope": {"type": "string", "description": "The segment, `dimension=value; ...`."}}
    output_type = "string"

    def __init__(self, log: ChangeLog):
        super().__init__()
        self.log = log

    def forward(self, scope: str) -> str:
        segment = parse_scope(scope)
        if segment is None:
            return "Error: write the scope as dimension=value pairs: country=France; customer=new."
        pairs = events_by_scope(self.log, segment)
        return events_json([e for e, _ in pairs], [r for _, r in pairs])


class EventsByKind(Tool):
    name = "events_by_kind"
    description = (
        "Events of one kind (release, incident, campaign, pricing, tracking, external), optionally only those "
        "touching start..end, as JSON."
    )
    inputs = {
        "kind": {"type": "string", "description": "The kind, e.g. tracking."},
        "start": {"type": "string", "description": "First date (optional).", "nullable": True},
        "end": {"type": "string", "description": "Last date (optional).", "nullable": True},
    }
    output_type = "string"

    def __init__(self, log: ChangeLog):
        super().__init__()
        self.log = log

    def forward(self, kind: str, start: str | None = None, end: str | None = None) -> str:
        found = events_by_kind(self.log, kind)
        first, last = _date(start), _date(end)
        if first and last:
            found = [e for e in found if e.overlaps(Window(first, last))]
        return events_json(found)


def change_log_tools(log: ChangeLog) -> list[Tool]:
    """The change-log agent's tools, bound to one events file (they run in the app: they only read the log)."""
    return [EventsInWindow(log), EventsByScope(log), EventsByKind(log)]


class ManagedStepRecorder:
    """A step callback that keeps the managed agent's finished steps (action and planning) as plain dicts, for the
    runner to emit nested under the analyst's calling step. Thread-safe: the page reads while the agent runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._steps: list[dict[str, Any]] = []
        self.calls = 0  # how many times the analyst asked

    def __call__(self, step: Any, agent: Any = None) -> None:
        usage = getattr(step, "token_usage", None)
        record: dict[str, Any] = {
            "input_tokens": usage.input_tokens if usage else None,
            "output_tokens": usage.output_tokens if usage else None,
            "duration_s": round(getattr(getattr(step, "timing", None), "duration", None) or 0.0, 4),
        }
        if isinstance(step, PlanningStep):
            record.update(
                kind="plan", number=None, thought=step.plan, call=None, observation=None, error=None
            )
        elif isinstance(step, ActionStep):
            calls = [f"{c.name}({_arguments(c.arguments)})" for c in step.tool_calls or []]
            record.update(
                kind="action",
                number=step.step_number,
                thought=(step.model_output or "").strip() or None,
                call="; ".join(calls) or None,
                observation=step.observations,
                error=str(step.error) if step.error is not None else None,
            )
        else:
            return
        record["call_index"] = self.calls
        with self._lock:
            self._steps.append(record)

    def asked(self, task: str) -> None:
        """The analyst called the agent with this question: the start of a new call."""
        self.calls += 1
        with self._lock:
            self._steps.append(
                {
                    "kind": "ask",
                    "number": None,
                    "thought": None,
                    "call": None,
                    "observation": task,
                    "error": None,
                    "input_tokens": None,
                    "output_tokens": None,
                    "duration_s": 0.0,
                    "call_index": self.calls,
                }
            )

    def pending(self) -> bool:
        """Whether steps are waiting to be taken."""
        with self._lock:
            return bool(self._steps)

    def take(self) -> list[dict[str, Any]]:
        """The steps recorded since the last call, in order."""
        with self._lock:
            steps, self._steps = self._steps, []
        return steps


def _arguments(arguments: Any) -> str:
    if isinstance(arguments, dict):
        return ", ".join(f"{k}={v!r}" for k, v in arguments.items())
    return repr(arguments)


class ChangeLogAgent(ToolCallingAgent):
    """The change-log ToolCallingAgent; each call by the analyst is recorded (the question), then run as
    smolagents runs a managed agent."""

    recorder: ManagedStepRecorder

    def __call__(self, task: str, **kwargs: Any) -> Any:
        self.recorder.asked(task)
        return super().__call__(task, **kwargs)


def build_change_log_agent(
    model: Model,
    log: ChangeLog,
    recorder: ManagedStepRecorder,
    *,
    max_steps: int = DEFAULT_CHANGE_LOG_STEPS,
    planning_interval: int | None = None,
) -> ToolCallingAgent:
    """The change-log agent for one run, ready to be given to the analyst as a managed agent."""
    agent = ChangeLogAgent(
        tools=change_log_tools(log),
        model=model,
        max_steps=max_steps,
        planning_interval=planning_interval,
        name=CHANGE_LOG_AGENT_NAME,
        description=CHANGE_LOG_AGENT_DESCRIPTION,
        step_callbacks={ActionStep: [recorder], PlanningStep: [recorder]},
        verbosity_level=LogLevel.OFF,
        logger=SilentLogger(),
    )
    agent.recorder = recorder
    return agent


def task_line(log: ChangeLog) -> str:
    """The `## Data` line that tells the analyst a change log is there, and how to ask it."""
    first = min(e.start for e in log.events)
    last = max(e.end for e in log.events)
    return (
        f"change log: {len(log.events)} events ({first}..{last}); ask the managed agent "
        f"{CHANGE_LOG_AGENT_NAME}(task=...) what changed for the driving segments in the later window; cite only "
        "events it returns, as `<segment>: <description> on <date> (<kind>)`, tracking changes as caveats, and "
        "say 'no known event' for a driver it has none for"
    )
