"""Exports of a finished run: a self-contained HTML report, Markdown, the trace as JSON, tables as CSV.

Everything here reads a `RunResult`; nothing computes a figure. Cell values are escaped for each format: HTML
entities in HTML, and a leading `=`, `+`, `-`, `@` (tab, carriage return) in CSV is defused against spreadsheet
formula injection.
"""

from __future__ import annotations

import html
import io
import json

import pandas as pd

from agent.result import RunResult
from agent.view_model import claim_notes, markdown_text, verification_badge

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def defuse_cell(value: object) -> object:
    """A text cell a spreadsheet would run as a formula gets a leading apostrophe; numbers pass unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def table_csv(rows: list[dict]) -> str:
    """Rows as CSV with text cells defused against formula injection."""
    frame = pd.DataFrame(rows)
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = frame[column].map(defuse_cell)
    frame.columns = [defuse_cell(str(c)) for c in frame.columns]
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue()


def tables_of(result: RunResult) -> dict[str, list[dict]]:
    """The engine's tables by name: one per dimension, the slices, and the ratio's segments."""
    analysis = result.analysis or {}
    tables = {f"by_{d}": rows for d, rows in (analysis.get("breakdowns") or {}).items()}
    if analysis.get("top_slices"):
        tables["top_slices"] = [
            {k: v for k, v in row.items() if k != "slice"} for row in analysis["top_slices"]
        ]
    if analysis.get("ratio"):
        tables["rate_mix_by_segment"] = analysis["ratio"]["by_segment"]
    return tables


def trace_json(result: RunResult) -> str:
    """The run as the `--json` contract."""
    return json.dumps(result.to_json(), ensure_ascii=False, indent=2)


def report_markdown(result: RunResult) -> str:
    """The summary, the verification and the engine's tables in Markdown."""
    lines = [
        f"# {result.analysis.get('metric', 'metric')}: what changed",
        "",
        result.narrative or "(no summary)",
        "",
    ]
    lines += [_verification_line(result), "", f"Model: {result.model} · agent: {result.agent}", ""]
    lines += _claims_markdown(result)
    for name, rows in tables_of(result).items():
        frame = pd.DataFrame(rows)
        lines += [f"## {name.replace('_', ' ')}", "", _markdown_table(frame), ""]
    return "\n".join(lines)


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
        return str(value).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


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
    verification = result.verification or {"checked": [], "mismatches": []}
    checked, wrong = len(verification["checked"]), len(verification["mismatches"])
    if wrong:
        texts = ", ".join(m["text"] for m in verification["mismatches"])
        return f"Verified {checked - wrong} of {checked} numbers against the engine; not found: {texts}."
    return f"Verified {checked} of {checked} numbers against the engine."


def _claims_html(result: RunResult) -> str:
    notes = claim_notes((result.verification or {}).get("claims") or [])
    items = "".join(f"<li>{html.escape(note.partition('. ')[2])}</li>" for note in notes)
    return f"<h2>Claims checked against the engine</h2><ol>{items}</ol>" if notes else ""


def report_html(result: RunResult) -> str:
    """A self-contained HTML report: summary, verification, interactive charts and tables."""
    import markdown_it
    import plotly.io as pio

    # html=False: any HTML in the narrative (it quotes cell values) is shown as text, never run.
    summary = markdown_it.MarkdownIt("commonmark", {"html": False}).render(result.narrative or "(no summary)")
    charts = [
        # The first chart embeds plotly.js (the report works offline); the others reuse it.
        pio.to_html(figure, include_plotlyjs=i == 0, full_html=False)
        for i, figure in enumerate(result.charts)
    ]
    tables = [
        f"<h2>{html.escape(name.replace('_', ' '))}</h2>"
        + pd.DataFrame(rows).to_html(index=False, escape=True, float_format=lambda v: f"{v:,.4f}")
        for name, rows in tables_of(result).items()
    ]
    title = html.escape(f"{result.analysis.get('metric', 'metric')}: what changed")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:1000px;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style>"
        f"</head><body><h1>{title}</h1>{summary}<p><em>{html.escape(_verification_line(result, markdown=False))}</em></p>"
        f"<p>Model: {html.escape(result.model)} · agent: {html.escape(result.agent)}</p>"
        + _claims_html(result)
        + "".join(charts)
        + "".join(tables)
        + "</body></html>"
    )
