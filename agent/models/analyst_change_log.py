"""The built-in analyst's part of the change-log step: the code that asks the managed `change_log` agent about each
driving slice, and the code that turns its answer into the summary's "Why" lines.

The answer is parsed at run time, in the agent's code, from the line-per-event format the change-log agent uses
(`- E2 | 2026-11-09 | incident | country=France | scope | description`): ids, dates and kinds come from fixed
fields; the description, last on its line, is only ever copied as text.
"""

from __future__ import annotations

import re

CHANGE_LOG_PHASE = "changelog"


def change_log_step(windows: tuple[str, str] | None) -> tuple[str, str]:
    """(thought, code) of the step that asks the change-log agent about the drivers found by the compute step."""
    later = windows[1].split("..") if windows else None
    earlier = windows[0].split("..") if windows else None
    if later and len(later) == 1:
        later = later * 2
    if earlier and len(earlier) == 1:
        earlier = earlier * 2
    when = (
        f"f' between {later[0]} and {later[1]}? List tracking or data changes between {earlier[0]} and {later[1]} too.'"
        if later and earlier
        else "'? List tracking or data changes too.'"
    )
    code = "\n".join(
        [
            f"# phase: {CHANGE_LOG_PHASE}",
            "# The drivers: the leading slice and the others holding a tenth of the change (the engine's rule).",
            "drivers = []",
            "if slices is not None and len(slices):",
            "    for position, row in slices.reset_index(drop=True).iterrows():",
            "        share = row['contribution_pct']",
            "        if position == 0 or (share == share and share >= 10 and len(drivers) < 3):",
            "            drivers.append(row)",
            "change_log_answers = []",
            "for row in drivers:",
            "    scope = '; '.join(f'{key}={value}' for key, value in row['slice'].items())",
            f"    question = f\"What changed for {{row['segment']}} ({{scope}})\" + {when}",
            "    answer = change_log(task=question)",
            "    change_log_answers.append((row['segment'], row['pct_change'], answer))",
            "    print(answer)",
        ]
    )
    thought = (
        "Before I write why, I ask the change-log agent what changed for each driving segment in the later window, "
        "and which tracking or data changes could explain the move instead."
    )
    return thought, code


def causes_code() -> list[str]:
    """Report-step code: a "Why" block citing the events the change-log agent matched, 'no known event' for a
    driver with none, and each tracking change as a caveat (`caveats` must exist)."""
    return [
        "import re",
        "event_line = re.compile(r'^- (E\\d+) \\| ([0-9.-]+) \\| (\\w+) \\| (.*?) \\| (scope|narrower|tracking) \\| (.*)$')",
        "why_lines, tracking_seen = [], []",
        "for segment, pct, answer in change_log_answers:",
        "    found = [event_line.match(line) for line in str(answer).splitlines()]",
        "    found = [m for m in found if m]",
        "    causes = [m for m in found if m.group(5) != 'tracking' and m.group(3) != 'tracking']",
        "    pct_text = '' if pct != pct else f' ({pct:+.2f}%)'",
        "    if causes:",
        "        for m in causes:",
        "            kind = 'event' if m.group(3) == 'unspecified' else m.group(3)",
        "            why_lines.append(f'- {segment}{pct_text}: {m.group(6)} on {m.group(2)} ({kind}).')",
        "    else:",
        "        why_lines.append(f'- {segment}{pct_text}: no known event in the change log.')",
        "    for m in found:",
        "        if m.group(5) == 'tracking' and m.group(1) not in tracking_seen:",
        "            tracking_seen.append(m.group(1))",
        "            caveats.append(f'Check tracking: {m.group(6)} on {m.group(2)} (tracking) changed how data is "
        "recorded in the compared range; rule it out before acting.')",
        "if why_lines:",
        "    lines.append('')",
        "    lines.append('Why (from the change log):')",
        "    lines.extend(why_lines)",
    ]


def plan_text(change_log: bool) -> str:
    """The built-in analyst's plan, for a planning step (`planning_interval`)."""
    steps = ["Compute the total change, each dimension's breakdown and the slices that explain it."]
    if change_log:
        steps.append("Ask the change-log agent what changed for each driving slice in the later window, and which "
                     "tracking changes touch the compared range.")  # fmt: skip
    steps.append("Chart the drivers and write the summary from computed values"
                 + (", citing only events the change-log agent returned." if change_log else "."))  # fmt: skip
    return "\n".join(f"{n}. {text}" for n, text in enumerate(steps, 1))


def mix_tracking_caveat_code() -> list[str]:
    """Ratio report code: a mix shift with no rate change of note may be a logging change (volume moving between
    segments), so the summary says to check tracking first."""
    return [
        "if effects is not None and effects['mix_effect'] and abs(effects['rate_effect']) < 0.25 * abs(effects['mix_effect']):",
        "    caveats.append(f\"Check tracking: the change is volume shifting between {effects['dimension']} segments \"",
        "                   'with no rate change of note; rule out a logging or tracking change first.')",
    ]


_EVENT_LINE = re.compile(
    r"^- (E\d+) \| ([0-9.-]+) \| (\w+) \| (.*?) \| (scope|narrower|tracking) \| (.*)$", re.MULTILINE
)


def change_log_question(segment: str, scope: dict, windows: tuple[str, str] | None) -> str:
    """The question to the change-log agent about one driving slice (the tool-calling analyst's form of it)."""
    parts = "; ".join(f"{key}={value}" for key, value in scope.items())
    if not windows:
        return f"What changed for {segment} ({parts})? List tracking or data changes too."
    earlier, later = (w.split("..") for w in windows)
    return (f"What changed for {segment} ({parts}) between {later[0]} and {later[-1]}? List tracking or data "
            f"changes between {earlier[0]} and {later[-1]} too.")  # fmt: skip


def why_lines(report: str, segment: str, pct: float | None) -> tuple[list[str], list[str]]:
    """The "Why" lines and the tracking caveats for one driver, from the change-log agent's line-per-event answer
    (the same text the code analyst writes from it)."""
    found = _EVENT_LINE.findall(report)
    pct_text = "" if pct is None else f" ({pct:+.2f}%)"
    causes = [m for m in found if m[4] != "tracking" and m[2] != "tracking"]
    lines = [
        f"- {segment}{pct_text}: {m[5]} on {m[1]} ({'event' if m[2] == 'unspecified' else m[2]})."
        for m in causes
    ]
    lines = lines or [f"- {segment}{pct_text}: no known event in the change log."]
    caveats = [f"Check tracking: {m[5]} on {m[1]} (tracking) changed how data is recorded in the compared range; "
               "rule it out before acting." for m in found if m[4] == "tracking"]  # fmt: skip
    return lines, caveats
