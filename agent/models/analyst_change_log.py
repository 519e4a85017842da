"""The built-in analyst's part of the change-log step: the code that asks the managed `change_log` agent about each
driving slice, and the code that turns its answer into the summary's "Why" lines.

The answer is parsed at run time, in the agent's code, from the line-per-event format the change-log agent uses
(`- E2 | 2026-11-09 | incident | country=France | scope | description`): ids, dates and kinds come from fixed
fields; the description, last on its line, is only ever copied as text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pandas as pd

CHANGE_LOG_PHASE = "changelog"


def question_suffix(windows: tuple[str, str] | None) -> str:
    """The end of a question to the change-log agent: the later window, and the whole range for tracking changes."""
    if not windows:
        return "? List tracking or data changes too."
    earlier, later = (w.split("..") for w in windows)
    return (
        f" between {later[0]} and {later[-1]}? List tracking or data changes between {earlier[0]} and "
        f"{later[-1]} too."
    )


def change_log_question(segment: str, scope: dict, windows: tuple[str, str] | None) -> str:
    """The question to the change-log agent about one driving slice."""
    parts = "; ".join(f"{key}={value}" for key, value in scope.items())
    return f"What changed for {segment} ({parts})" + question_suffix(windows)


# --- helpers the built-in code analyst writes into its steps (rules: agent.models.analyst_steps) ---


def driving_slices(slices: pd.DataFrame | None) -> list[Any]:
    """The drivers: the leading slice and the others holding a tenth of the change (the engine's rule), 3 at most."""
    drivers: list[Any] = []
    if slices is not None and len(slices):
        for position, row in slices.reset_index(drop=True).iterrows():
            share = row["contribution_pct"]
            if position == 0 or (share == share and share >= 10 and len(drivers) < 3):
                drivers.append(row)
    return drivers


def ask_change_log(
    drivers: list[Any], suffix: str, change_log: Callable[..., str]
) -> list[tuple[Any, Any, str]]:
    """Asks the managed change-log agent what changed for each driver; prints and keeps each answer."""
    answers = []
    for row in drivers:
        scope = "; ".join(f"{key}={value}" for key, value in row["slice"].items())
        answer = change_log(task=f"What changed for {row['segment']} ({scope})" + suffix)
        answers.append((row["segment"], row["pct_change"], answer))
        print(answer)
    return answers


def why_lines(report: str, segment: str, pct: float | None) -> tuple[list[str], list[str]]:
    """The "Why" lines and the tracking caveats for one driver, from the change-log agent's line-per-event answer:
    ids, dates and kinds come from fixed fields; the description, last on its line, is only copied as text."""
    found = re.findall(
        r"^- (E\d+) \| ([0-9.-]+) \| (\w+) \| (.*?) \| (scope|narrower|tracking) \| (.*)$",
        str(report),
        re.MULTILINE,
    )
    pct_text = "" if pct is None or pct != pct else f" ({pct:+.2f}%)"
    lines = []
    for event in found:
        if event[4] != "tracking" and event[2] != "tracking":
            kind = "event" if event[2] == "unspecified" else event[2]
            lines.append(f"- {segment}{pct_text}: {event[5]} on {event[1]} ({kind}).")
    if not lines:
        lines.append(f"- {segment}{pct_text}: no known event in the change log.")
    caveats = []
    for event in found:
        if event[4] == "tracking":
            caveats.append(
                f"Check tracking: {event[5]} on {event[1]} (tracking) changed how data is recorded in "
                "the compared range; rule it out before acting."
            )
    return lines, caveats


def change_log_causes(answers: list[tuple[Any, Any, str]]) -> tuple[list[str], list[str]]:
    """The summary's "Why" block (events the change-log agent matched, or "no known event" per driver) and each
    tracking change once, as a caveat."""
    why = []
    tracking = []
    for segment, pct, answer in answers:
        lines, caveats = why_lines(answer, segment, pct)
        why += lines
        tracking += [caveat for caveat in caveats if caveat not in tracking]
    block = ["", "Why (from the change log):"] + why if why else []  # noqa: RUF005 (a starred list nests here)
    return block, tracking


def mix_tracking_caveats(effects: dict[str, Any] | None) -> list[str]:
    """A mix shift with no rate change of note may be a logging change (volume moving between segments): the
    summary says to check tracking first."""
    if effects is None or not effects["mix_effect"]:
        return []
    if abs(effects["rate_effect"]) >= 0.25 * abs(
        effects["mix_effect"]
    ):  # under a quarter: "no rate change of note"
        return []
    return [
        f"Check tracking: the change is volume shifting between {effects['dimension']} segments with no rate "
        "change of note; rule out a logging or tracking change first."
    ]


def plan_text(change_log: bool) -> str:
    """The built-in analyst's plan, for a planning step (`planning_interval`)."""
    steps = ["Compute the total change, each dimension's breakdown and the slices that explain it."]
    if change_log:
        steps.append(
            "Ask the change-log agent what changed for each driving slice in the later window, and which "
            "tracking changes touch the compared range."
        )
    steps.append(
        "Chart the drivers and write the summary from computed values"
        + (", citing only events the change-log agent returned." if change_log else ".")
    )
    return "\n".join(f"{n}. {text}" for n, text in enumerate(steps, 1))
