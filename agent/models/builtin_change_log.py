"""The built-in change-log reader: a rule-based (not an LLM) tool-calling model for the change-log agent.

Asked "What changed for France × new (country=France; customer=new) between 2026-11-09 and 2026-11-15? List
tracking or data changes between 2026-11-02 and 2026-11-15 too.", it calls `events_in_window` with the segment's
scope, then `events_by_kind("tracking")` over the whole range, and answers with one line per event. It reads only
the JSON fields of the tools' answers (ids, dates, kinds, scopes); a description is copied as data, last on its line.
"""

from __future__ import annotations

import json
import re
from typing import Any

from smolagents.models import (
    ChatMessage,
    Model,
)

from agent.models.builtin_analyst import MAX_STEPS_REQUEST, message_text
from agent.models.builtin_tool_caller import tool_call_reply, tool_observations
from agent.models.tokens import preload

BUILTIN_CHANGE_LOG_ID = "builtin-change-log-reader"
PLAN_STOP = "<end_plan>"
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_SCOPE = re.compile(r"\(([^()]*=[^()]*)\)")
CAUSE_MATCHES = ("scope", "narrower")


def _json_list(text: str) -> list[dict]:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return []
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def read_question(task: str) -> tuple[str | None, list[str]]:
    """The scope (`country=France; customer=new`) and the ISO dates a question names, in order."""
    body = task.split("Task:\n", 1)[-1].split("\n---", 1)[0]
    scope = _SCOPE.search(body)
    return (scope.group(1).strip() if scope else None), _DATE.findall(body)


def plan_calls(scope: str | None, dates: list[str]) -> list[tuple[str, dict]]:
    """The tool calls that answer the question: the window with the segment's scope, then tracking changes."""
    calls: list[tuple[str, dict]] = []
    if len(dates) >= 2:
        calls.append(("events_in_window", {"start": dates[0], "end": dates[1], "scope": scope}))
        first, last = (dates[2], dates[3]) if len(dates) >= 4 else (dates[0], dates[1])
        calls.append(("events_by_kind", {"kind": "tracking", "start": first, "end": last}))
    else:  # the metrics have no dates: by scope only, and every tracking change
        if scope:
            calls.append(("events_by_scope", {"scope": scope}))
        calls.append(("events_by_kind", {"kind": "tracking"}))
    return calls


def _line(item: dict, match: str) -> str:
    return (
        f"- {item.get('id')} | {item.get('date')} | {item.get('kind') or 'unspecified'} | "
        f"{item.get('scope')} | {match} | {item.get('description')}"
    )


def report(scope: str | None, dates: list[str], observations: list[str]) -> str:
    """The answer: possible causes, tracking caveats, and the events that are not causes, each on its line."""
    found = [_json_list(o) for o in observations]
    window_items = found[0] if scope and found else []
    tracking = found[-1] if found else []
    where = f"{scope or 'the whole table'}" + (f", {dates[0]}..{dates[1]}" if len(dates) >= 2 else "")
    causes = [i for i in window_items if i.get("match") in CAUSE_MATCHES and i.get("kind") != "tracking"]
    lines = [f"Change log for {where}.", "Possible causes (in the window, scope contains the segment):"]
    lines += [_line(item, str(item["match"])) for item in causes] or [
        "- none: no known event for this segment."
    ]
    lines.append("Tracking and data changes (caveats, never causes):")
    lines += [_line(item, "tracking") for item in tracking] or ["- none."]
    others = [i for i in window_items if i not in causes and i.get("kind") != "tracking"]
    if others:
        lines.append("Not causes: " + ", ".join(f"{i.get('id')} ({i.get('match')})" for i in others) + ".")
    return "\n".join(lines)


class BuiltinChangeLogReader(Model):
    """Deterministic model of the change-log agent: fixed tool calls, then a line-per-event answer. Not an LLM."""

    label = "Built-in change-log reader (rule-based, not an LLM)"
    rule_based = True  # token counts are computed here
    answers = "tool-calling"  # the change-log agent is a ToolCallingAgent

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(model_id=BUILTIN_CHANGE_LOG_ID, **kwargs)
        preload()

    def generate(
        self,
        messages: list[Any],
        stop_sequences: list[str] | None = None,
        response_format: dict[str, str] | None = None,
        tools_to_call_from: list[Any] | None = None,
        **kwargs: Any,
    ) -> ChatMessage:
        prompt = "\n".join(text for _, text in map(message_text, messages))
        texts = [message_text(m) for m in messages]
        task_text = next((t for role, t in texts if role == "user"), "")
        scope, dates = read_question(task_text)
        observations = tool_observations(messages)
        calls = plan_calls(scope, dates)
        call: tuple[str, dict] | None
        if stop_sequences and PLAN_STOP in stop_sequences:
            content = "\n".join(f"{n}. Call {name}." for n, (name, _) in enumerate(calls, 1))
            content += f"\n{len(calls) + 1}. Answer with one line per event.\n{PLAN_STOP}"
            call = None
        elif texts and texts[-1][0] == "user" and texts[-1][1].startswith(MAX_STEPS_REQUEST):
            content, call = report(scope, dates, observations), None
        elif len(observations) < len(calls):
            name, arguments = calls[len(observations)]
            content, call = f"Next I call {name}.", (name, arguments)
        else:
            content = "I have the events; I answer with one line per event."
            call = ("final_answer", {"answer": report(scope, dates, observations)})
        return tool_call_reply(prompt, content, call)
