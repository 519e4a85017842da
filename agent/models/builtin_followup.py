"""Follow-up questions for the built-in analyst: real Python, written into the agent's code from its source.

These functions run inside the agent's interpreter, where the KPI tools (`metric_totals`, `segment_changes`) are
defined: the trace shows the code that found the segments a question names and broke them down. They use no
imports, and no numbers are typed into them: every figure comes from `df`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from tools.numbers import amount

if TYPE_CHECKING:  # in the agent's interpreter these are its KPI tools
    from tools.kpi_tools import metric_totals, segment_changes


def words_of(text: object) -> str:
    """Lower-case words of a text, joined by single spaces and padded with one on each side."""
    return " " + " ".join("".join(ch.lower() if ch.isalnum() else " " for ch in str(text)).split()) + " "


def find_focus(df: pd.DataFrame, question: str, dimensions: list[str]) -> dict[str, list[str]]:
    """The values of each dimension that the question names as words: {dimension: [values]}."""
    asked = words_of(question)
    focus: dict[str, list[str]] = {}
    for dimension in dimensions:
        values = [str(value) for value in df[dimension].astype(str).unique()]
        if len(values) > 5000:
            continue
        found = [value for value in values if words_of(value).strip() and words_of(value) in asked]
        # A name in two dimensions: the first takes it.
        taken = [value for named in focus.values() for value in named]
        found = [value for value in found if value not in taken]
        if found:
            focus[dimension] = sorted(found, key=lambda value: asked.find(words_of(value)))
    return focus


def focus_parts(df: pd.DataFrame, focus: dict[str, list[str]]) -> list[tuple[dict[str, str], pd.DataFrame]]:
    """Each combination of the named values (Germany × Android, Germany × iOS), at most six, with its rows."""
    combinations: list[dict[str, str]] = [{}]
    for dimension, values in focus.items():
        grown = []
        for combination in combinations:
            for value in values:
                extended = dict(combination)
                extended[dimension] = value
                grown.append(extended)
        combinations = grown
    parts = []
    for combination in combinations[:6]:
        rows = df
        for dimension, value in combination.items():
            rows = rows[rows[dimension].astype(str) == value]
        parts.append((combination, rows))
    return parts


def slice_name(combination: dict[str, str]) -> str:
    """The slice as the summary names it: a value alone when it is clear, with its dimension when not."""
    generic = set("new existing other others all total none unknown yes no true false".split())
    names = []
    for dimension, value in combination.items():
        plain = value.strip().lower()
        ambiguous = plain in generic or len(plain) <= 1 or plain.replace(".", "").replace("-", "").isdigit()
        names.append(f"{dimension} = {value}" if ambiguous else value)
    return " × ".join(names)


def answer_focus(
    df: pd.DataFrame,
    question: str,
    metric: str,
    dimensions: list[str],
    top: int,
    metrics: tuple[str, ...] | list[str] = (),
) -> list[str] | None:
    """Breaks down what a follow-up question names; returns the summary lines, or None when nothing is named.

    A question that names another metric of the file is answered for that metric.
    """
    asked = words_of(question)
    other = [m for m in sorted(metrics, key=len, reverse=True) if m != metric and words_of(m) in asked]
    metric = other[0] if other else metric
    focus = find_focus(df, question, dimensions)
    named = [d for d in dimensions if words_of(d) in asked]
    total = metric_totals(df, metric=metric)
    lines: list[str] = []
    if focus:
        others = [d for d in dimensions if d not in focus]
        for combination, rows in focus_parts(df, focus):
            name = slice_name(combination)
            part = metric_totals(rows, metric=metric)
            change = part["abs_change"]
            verb = "rose" if change > 0 else "fell" if change < 0 else "did not change"
            pct = "" if part["pct_change"] is None or change == 0 else f" {abs(part['pct_change']):.2f}%"
            share = ""
            if total["abs_change"]:
                share = f", {change / total['abs_change'] * 100:.2f}% of the total change"
            lines.append(f"**{name}: {metric} {verb}{pct}** ({amount(change, True)}{share}).")
            for dimension in others[:2]:
                table = segment_changes(rows, metric=metric, dimension=dimension)
                for _, row in table.head(top).iterrows():
                    extended = dict(combination)
                    extended[dimension] = str(row[dimension])
                    sub = slice_name(extended)
                    sub_pct = (
                        "new" if row["pct_change"] != row["pct_change"] else f"{row['pct_change']:+.2f}%"
                    )
                    lines.append(f"- {sub}: {amount(row['abs_change'], True)} ({sub_pct})")
            lines.append("")
        return lines
    if named:
        for dimension in named:
            table = segment_changes(df, metric=metric, dimension=dimension)
            lines.append(f"**{metric} by {dimension}**, largest changes first:")
            for _, row in table.head(top).iterrows():
                row_pct = "new" if row["pct_change"] != row["pct_change"] else f"{row['pct_change']:+.2f}%"
                lines.append(f"- {row[dimension]}: {amount(row['abs_change'], True)} ({row_pct})")
            lines.append("")
        return lines
    if other:  # only another metric: its total and what drove it along the first dimension
        change = total["abs_change"]
        verb = "rose" if change > 0 else "fell" if change < 0 else "did not change"
        pct = "" if total["pct_change"] is None or change == 0 else f" {abs(total['pct_change']):.2f}%"
        lines.append(f"**{metric} {verb}{pct}** ({amount(change, True)}).")
        if dimensions:
            table = segment_changes(df, metric=metric, dimension=dimensions[0])
            for _, row in table.head(top).iterrows():
                row_pct = "new" if row["pct_change"] != row["pct_change"] else f"{row['pct_change']:+.2f}%"
                lines.append(f"- {row[dimensions[0]]}: {amount(row['abs_change'], True)} ({row_pct})")
        return lines
    return None
