"""The change log in the reports: which events the engine matched to the drivers (causes), the tracking caveats,
the events that are not causes and why, and the change-log agent's steps. Event text is data: escaped everywhere."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from agent.run.result import RunResult


def change_log_tables(result: RunResult) -> dict[str, pd.DataFrame]:
    """Causes, caveats and the other events as tables (empty when the run had no change log)."""
    log = (result.analysis or {}).get("change_log")
    if not log:
        return {}
    causes = pd.DataFrame(
        [
            {
                "segment": c["slice"],
                "event": c["event"],
                "date": c["date"],
                "kind": c["kind"] or "",
                "match": c["match"],
                "description": c["description"],
            }
            for c in log.get("causes") or []
        ]
        + [
            {
                "segment": d["slice"],
                "event": "",
                "date": "",
                "kind": "",
                "match": "no known event",
                "description": "",
            }
            for d in log.get("no_event") or []
        ],
        columns=["segment", "event", "date", "kind", "match", "description"],
    )
    caveats = pd.DataFrame(
        log.get("caveats") or [], columns=["event", "date", "kind", "scope", "description"]
    )
    events = {e["id"]: e for e in log.get("events") or []}
    others = pd.DataFrame(
        [
            {
                "event": n["event"],
                "date": n["date"],
                "kind": n["kind"] or "",
                "why not a cause": n["why"],
                "description": events.get(n["event"], {}).get("description", ""),
            }
            for n in log.get("not_causes") or []
        ],
        columns=["event", "date", "kind", "why not a cause", "description"],
    )
    return {
        f"Change log ({log.get('source')}): causes": causes,
        "Tracking and data changes (caveats)": caveats,
        "Events that are not causes": others,
    }


def managed_steps(result: RunResult) -> list[tuple[int, dict[str, Any]]]:
    """(calling step, managed step) for every change-log agent step of the run."""
    return [(step["number"], m) for step in result.steps for m in step.get("managed") or []]


def change_log_markdown(result: RunResult, table: Any, escape: Any) -> list[str]:
    """Markdown lines: the tables (`table` renders a frame) and the managed agent's calls."""
    lines: list[str] = []
    for name, frame in change_log_tables(result).items():
        lines += [f"## {escape(name)}", "", table(frame) if len(frame) else "(none)", ""]
    asked = [(n, m) for n, m in managed_steps(result) if m["kind"] == "ask"]
    if asked:
        lines += ["## The change-log agent", ""]
        lines += [f"- step {n}: asked {escape(m.get('observation') or '')}" for n, m in asked] + [""]
    return lines


def change_log_html(result: RunResult) -> str:
    parts = []
    for name, frame in change_log_tables(result).items():
        body = frame.to_html(index=False, escape=True) if len(frame) else "<p>(none)</p>"
        parts.append(f"<h2>{html.escape(name)}</h2>{body}")
    asked = [(n, m) for n, m in managed_steps(result) if m["kind"] == "ask"]
    if asked:
        items = "".join(
            f"<li>step {n}: asked {html.escape(m.get('observation') or '')}</li>" for n, m in asked
        )
        parts.append(f"<h2>The change-log agent</h2><ul>{items}</ul>")
    return "".join(parts)
