"""Follow-up questions for the built-in analyst: real Python, written into the agent's code from its source.

These functions run inside the agent's interpreter, where the KPI tools (`metric_totals`, `segment_changes`) are
defined: the trace shows the code that found the segments a question names and broke them down. They use no
imports, and no numbers are typed into them: every figure comes from `df`.
"""

from __future__ import annotations


def words_of(text):
    """Lower-case words of a text, joined by single spaces and padded with one on each side."""
    return " " + " ".join("".join(ch.lower() if ch.isalnum() else " " for ch in str(text)).split()) + " "


def find_focus(df, question, dimensions):
    """The values of each dimension that the question names as words: {dimension: [values]}."""
    asked = words_of(question)
    focus = {}
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


def focus_parts(df, focus):
    """Each combination of the named values (Germany × Android, Germany × iOS), at most six, with its rows."""
    combinations = [{}]
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


def slice_name(combination):
    """The slice as the summary names it: a value alone when it is clear, with its dimension when not."""
    generic = set("new existing other others all total none unknown yes no true false".split())
    names = []
    for dimension, value in combination.items():
        plain = value.strip().lower()
        ambiguous = plain in generic or len(plain) <= 1 or plain.replace(".", "").replace("-", "").isdigit()
        names.append(f"{dimension} = {value}" if ambiguous else value)
    return " × ".join(names)


def answer_focus(df, question, metric, dimensions, top, metrics=()):
    """Breaks down what a follow-up question names; returns the summary lines, or None when nothing is named.

    A question that names another metric of the file is answered for that metric.
    """
    asked = words_of(question)
    other = [m for m in sorted(metrics, key=len, reverse=True) if m != metric and words_of(m) in asked]
    metric = other[0] if other else metric
    focus = find_focus(df, question, dimensions)
    named = [d for d in dimensions if words_of(d) in asked]
    total = metric_totals(df, metric=metric)  # noqa: F821 (a KPI tool in the agent's interpreter)
    lines = []
    if focus:
        others = [d for d in dimensions if d not in focus]
        for combination, rows in focus_parts(df, focus):
            name = slice_name(combination)
            part = metric_totals(rows, metric=metric)  # noqa: F821
            change = part["abs_change"]
            verb = "rose" if change > 0 else "fell" if change < 0 else "did not change"
            pct = "" if part["pct_change"] is None or change == 0 else f" {abs(part['pct_change']):.2f}%"
            share = ""
            if total["abs_change"]:
                share = f", {change / total['abs_change'] * 100:.2f}% of the total change"
            lines.append(f"**{name}: {metric} {verb}{pct}** ({amount(change, True)}{share}).")  # noqa: F821
            for dimension in others[:2]:
                table = segment_changes(rows, metric=metric, dimension=dimension)  # noqa: F821
                for _, row in table.head(top).iterrows():
                    extended = dict(combination)
                    extended[dimension] = str(row[dimension])
                    sub = slice_name(extended)
                    sub_pct = (
                        "new" if row["pct_change"] != row["pct_change"] else f"{row['pct_change']:+.2f}%"
                    )
                    lines.append(f"- {sub}: {amount(row['abs_change'], True)} ({sub_pct})")  # noqa: F821
            lines.append("")
        return lines
    if named:
        for dimension in named:
            table = segment_changes(df, metric=metric, dimension=dimension)  # noqa: F821
            lines.append(f"**{metric} by {dimension}**, largest changes first:")
            for _, row in table.head(top).iterrows():
                row_pct = "new" if row["pct_change"] != row["pct_change"] else f"{row['pct_change']:+.2f}%"
                lines.append(f"- {row[dimension]}: {amount(row['abs_change'], True)} ({row_pct})")  # noqa: F821
            lines.append("")
        return lines
    if other:  # only another metric: its total and what drove it along the first dimension
        change = total["abs_change"]
        verb = "rose" if change > 0 else "fell" if change < 0 else "did not change"
        pct = "" if total["pct_change"] is None or change == 0 else f" {abs(total['pct_change']):.2f}%"
        lines.append(f"**{metric} {verb}{pct}** ({amount(change, True)}).")  # noqa: F821
        if dimensions:
            table = segment_changes(df, metric=metric, dimension=dimensions[0])  # noqa: F821
            for _, row in table.head(top).iterrows():
                row_pct = "new" if row["pct_change"] != row["pct_change"] else f"{row['pct_change']:+.2f}%"
                lines.append(f"- {row[dimensions[0]]}: {amount(row['abs_change'], True)} ({row_pct})")  # noqa: F821
        return lines
    return None
