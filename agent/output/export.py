"""Exports of a finished run: a self-contained HTML report, Markdown, the trace as JSON, tables as CSV.

Everything here reads a `RunResult`; nothing computes a figure. Text from the data or the model is shown as text
in every format (`tools.labels`): the summary keeps the model's bold and lists, but labels in it are escaped and
shortened and links, images, colours and math are neutralised; Markdown table cells are escaped; HTML gets
entities; chart text is escaped for plotly; and a leading `=`, `+`, `-`, `@` (tab, carriage return) in CSV is
defused against spreadsheet formula injection. The HTML report carries a Content-Security-Policy that forbids
every outside request (plotly.js is inlined).
"""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from agent.output.change_log_report import change_log_html, change_log_markdown
from agent.run.result import RunResult
from tools import engine
from tools.facts import Analysis
from tools.labels import escape_markdown, safe_figure
from tools.loading import Dataset
from tools.verification import tally
from ui.view_model import (
    claim_notes,
    csv_table,
    display_table,
    markdown_text,
    result_header,
    summary_markdown,
    verification_badge,
)

# The HTML report loads nothing from outside: its scripts and styles are inline, its images data URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "base-uri 'none'; form-action 'none'"  # these two do not fall back to default-src
)

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A cell of `display_table` that holds a figure only: digits, sign, separators and a unit; nothing Markdown reads.
_PLAIN_FIGURE = re.compile(r"(?:< )?[+-]?[\d,]*\.?\d+(?:%| pp|×)?|new|—|yes|no")


def defuse_cell(value: object) -> object:
    """A text cell a spreadsheet would run as a formula gets a leading apostrophe; numbers pass unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def table_csv(rows: list[dict] | pd.DataFrame) -> str:
    """Rows as CSV with text cells defused against formula injection."""
    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = frame[column].map(defuse_cell)
    frame.columns = [defuse_cell(str(c)) for c in frame.columns]
    # pyarrow writes a 1M-row table in 0.9 s; pandas' to_csv took 9 s (the full tables are downloads).
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError):  # a column of mixed objects: pandas writes anything
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False)
        return buffer.getvalue()
    binary = io.BytesIO()
    pa_csv.write_csv(table, binary, pa_csv.WriteOptions(quoting_style="needed"))
    return binary.getvalue().decode("utf-8")


def tables_of(result: RunResult) -> dict[str, Sequence[Mapping[str, Any]]]:
    """The engine's tables by name: one per dimension, the slices, and the ratio's segments."""
    analysis = result.analysis or {}
    tables: dict[str, Sequence[Mapping[str, Any]]] = {
        f"by_{d}": rows for d, rows in (analysis.get("breakdowns") or {}).items()
    }
    if analysis.get("top_slices"):
        tables["top_slices"] = [
            {k: v for k, v in row.items() if k != "slice"} for row in analysis["top_slices"]
        ]
    ratio = analysis.get("ratio")
    if ratio:
        tables["rate_mix_by_segment"] = ratio["by_segment"]
    return tables


def table_names(analysis: Analysis | dict[str, Any], name: str) -> tuple[str | None, tuple[str, str] | None]:
    """The dimension column and the ratio's (numerator, denominator) of a table of `tables_of`, for its headers."""
    ratio = analysis.get("ratio")
    if name.startswith("by_"):
        return name[3:], None
    if name == "rate_mix_by_segment" and ratio:
        return ratio.get("dimension"), (ratio["numerator"], ratio["denominator"])
    return None, None


def display_tables_of(result: RunResult) -> dict[str, pd.DataFrame]:
    """`tables_of` as a reader sees them (`ui.view_model.display_table`): the page and the reports show these."""
    return {
        name: display_table(rows, *table_names(result.analysis or {}, name))
        for name, rows in tables_of(result).items()
    }


def omitted_note(result: RunResult, name: str) -> str | None:
    """For a table of `tables_of` that the analysis cut to its largest changes: how many rows were left out."""
    omitted = (result.analysis or {}).get("omitted") or {}
    if name.startswith("by_"):
        others = (omitted.get("breakdowns") or {}).get(name[3:])
    elif name == "rate_mix_by_segment":
        others = (omitted.get("ratio") or {}).get(str((result.analysis.get("ratio") or {}).get("dimension")))
    else:
        others = None
    if not others:
        return None
    change = others.get("abs_change", others.get("total_effect"))
    what = f"{change:+,.2f}" if name.startswith("by_") else f"{(change or 0) * 100:+.2f} pp"
    return (f"… and {others['segments']:,} more segments with smaller changes (together {what}); "
            "the CSV download holds every row.")  # fmt: skip


def full_table(dataset: Dataset, analysis: Analysis | dict[str, Any], name: str) -> pd.DataFrame:
    """The whole table `name` (a key of `tables_of`), computed again by the engine from the run's data: the
    analysis keeps only each table's largest changes."""
    metric, dimensions = analysis["metric"], analysis.get("dimensions") or []
    if name.startswith("by_") and name[3:] in dimensions:
        return engine.breakdown(dataset.frame, name[3:], *dataset.metric_columns(metric))
    ratio = analysis.get("ratio")
    if name == "rate_mix_by_segment" and ratio:
        decomposition = engine.ratio_decomposition(
            dataset.frame, ratio["numerator"], ratio["denominator"], ratio["dimension"]
        )
        return decomposition["by_segment"]
    if name == "top_slices":
        return pd.DataFrame(analysis.get("top_slices") or []).drop(columns="slice", errors="ignore")
    raise KeyError(f"no table {name!r}")


def full_table_csv(dataset: Dataset, analysis: Analysis | dict[str, Any], name: str) -> str:
    """`full_table` as CSV with readable headers and fixed decimals (`ui.view_model.csv_table`), defused like
    `table_csv`."""
    return table_csv(csv_table(full_table(dataset, analysis, name), *table_names(analysis, name)))


def trace_json(result: RunResult) -> str:
    """The run as the `--json` contract."""
    return json.dumps(result.to_json(), ensure_ascii=False, indent=2)


def report_markdown(result: RunResult) -> str:
    """The summary, the verification and the engine's tables in Markdown."""
    lines = [
        f"# {escape_markdown(result.analysis.get('metric', 'metric'))}: what changed",
        "",
        escape_markdown(result_header(result)),
        "",
        _summary(result),
        "",
    ]
    lines += [_verification_line(result), "",
              f"Model: {escape_markdown(result.model)} · agent: {escape_markdown(result.agent)}", ""]  # fmt: skip
    lines += _claims_markdown(result)
    for number, turn in enumerate(result.turns, start=1):  # follow-up questions, each with its checked answer
        lines += [f"## Follow-up {number}: {escape_markdown(turn.question)}", "", _summary(turn), "",
                  _verification_line(turn), ""]  # fmt: skip
    lines += change_log_markdown(result, _markdown_table, escape_markdown)  # causes cited, caveats, the rest
    for name, frame in display_tables_of(result).items():
        lines += [f"## {escape_markdown(name.replace('_', ' '))}", "", _markdown_table(frame), ""]
        note = omitted_note(result, name)
        if note:
            lines += [escape_markdown(note), ""]
    return "\n".join(lines)


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
        if isinstance(value, str) and _PLAIN_FIGURE.fullmatch(value):
            return value  # a figure we wrote ("-627.05", "+3.10%", "< 0.001"): no Markdown in it to escape
        return escape_markdown(value)  # a label is text here too, in full

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _summary(result: RunResult) -> str:
    if not result.narrative:
        return "(no summary)"
    claims = (result.verification or {}).get("claims") or []
    return summary_markdown(result.narrative, result.analysis, result.dataset, claims)


def _claims_markdown(result: RunResult) -> list[str]:
    """The verdict of each claim, numbered as in the page."""
    notes = claim_notes((result.verification or {}).get("claims") or [])
    return (
        ["## Claims checked against the engine", "", *(_markdown_cell(n) for n in notes), ""] if notes else []
    )


def _markdown_cell(text: str) -> str:
    # A numbered line whose text quotes labels: shown as text, never rendered.
    number, _, rest = text.partition(". ")
    return f"{number}. {markdown_text(rest)}"


def _verification_line(result: RunResult, markdown: bool = True) -> str:
    if (result.verification or {}).get("claims") is not None:
        return verification_badge(result.verification, markdown)[1]
    counts = tally(result.verification)
    if counts.mismatched:
        texts = ", ".join(m["text"] for m in (result.verification or {})["mismatches"])
        line = f"Verified {counts.passed} of {counts.checked} numbers against the engine; not found: {texts}."
        return escape_markdown(line) if markdown else line  # the texts are quoted from the answer
    return f"Verified {counts.checked} of {counts.checked} numbers against the engine."


def _turn_html(number: int, turn: RunResult) -> str:
    """A follow-up question and its checked answer."""
    import markdown_it

    answer = markdown_it.MarkdownIt("commonmark", {"html": False}).render(_summary(turn))
    return (f"<h2>Follow-up {number}: {html.escape(turn.question)}</h2>{answer}"
            f"<p><em>{html.escape(_verification_line(turn, markdown=False))}</em></p>")  # fmt: skip


def _claims_html(result: RunResult) -> str:
    notes = claim_notes((result.verification or {}).get("claims") or [])
    items = "".join(f"<li>{html.escape(note.partition('. ')[2])}</li>" for note in notes)
    return f"<h2>Claims checked against the engine</h2><ol>{items}</ol>" if notes else ""


def report_html(result: RunResult) -> str:
    """A self-contained HTML report: summary, verification, interactive charts and tables."""
    import markdown_it
    import plotly.io as pio

    # html=False: any HTML in the narrative (it quotes cell values) is shown as text, never run; links and images
    # in it were neutralised by `summary_markdown`.
    summary = markdown_it.MarkdownIt("commonmark", {"html": False}).render(_summary(result))
    charts = [
        # The first chart embeds plotly.js (the report works offline); the others reuse it.
        pio.to_html(safe_figure(figure), include_plotlyjs=i == 0, full_html=False, validate=False)
        for i, figure in enumerate(result.charts)
    ]
    tables = [
        f"<h2>{html.escape(name.replace('_', ' '))}</h2>"
        + frame.to_html(index=False, escape=True)
        + (f"<p>{html.escape(omitted_note(result, name) or '')}</p>" if omitted_note(result, name) else "")
        for name, frame in display_tables_of(result).items()
    ]
    title = html.escape(f"{result.analysis.get('metric', 'metric')}: what changed")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'>"
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}"><title>{title}</title>'
        "<style>body{font-family:system-ui,sans-serif;max-width:1000px;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style>"
        f"</head><body><h1>{title}</h1><p>{html.escape(result_header(result))}</p>{summary}"
        f"<p><em>{html.escape(_verification_line(result, markdown=False))}</em></p>"
        f"<p>Model: {html.escape(result.model)} · agent: {html.escape(result.agent)}</p>"
        + _claims_html(result)
        + "".join(_turn_html(number, turn) for number, turn in enumerate(result.turns, start=1))
        + change_log_html(result)
        + "".join(charts)
        + "".join(tables)
        + "</body></html>"
    )
