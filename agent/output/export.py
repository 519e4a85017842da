"""Exports of a finished run: a self-contained HTML report, Markdown, the trace as JSON, tables as CSV.

Everything here reads a `RunResult`; nothing computes a figure. Text from the data or the model is shown as text
in every format (`tools.labels`): the summary keeps the model's bold and lists, but labels in it are escaped and
shortened and links, images, colours and math are neutralised; Markdown table cells are escaped; HTML gets
entities; chart text is escaped for plotly; and a leading `=`, `+`, `-`, `@` (tab, carriage return) in CSV is
defused against spreadsheet formula injection. The HTML report carries a Content-Security-Policy that forbids
every outside request (plotly.js is inlined).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import gzip
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
    return (
        f"… and {others['segments']:,} more segments with smaller changes (together {what}); "
        "the CSV download holds every row."
    )


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
    lines += [
        _verification_line(result),
        "",
        f"Model: {escape_markdown(result.model)} · agent: {escape_markdown(result.agent)}",
        "",
    ]
    lines += _claims_markdown(result)
    for number, turn in enumerate(result.turns, start=1):  # follow-up questions, each with its checked answer
        lines += [
            f"## Follow-up {number}: {escape_markdown(turn.question)}",
            "",
            _summary(turn),
            "",
            _verification_line(turn),
            "",
        ]
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
    return (
        f"<h2>Follow-up {number}: {html.escape(turn.question)}</h2>{answer}"
        f"<p><em>{html.escape(_verification_line(turn, markdown=False))}</em></p>"
    )


def _claims_html(result: RunResult) -> str:
    notes = claim_notes((result.verification or {}).get("claims") or [])
    items = "".join(f"<li>{html.escape(note.partition('. ')[2])}</li>" for note in notes)
    return f"<h2>Claims checked against the engine</h2><ol>{items}</ol>" if notes else ""


@functools.cache
def _plotly_js_gzip_base64() -> str:
    """plotly.js, gzipped and in base64: 1.8 MB in the report instead of 4.6 MB (measured on plotly 6)."""
    from plotly.offline import get_plotlyjs

    return base64.b64encode(gzip.compress(get_plotlyjs().encode(), 9, mtime=0)).decode("ascii")


# Unpacks plotly.js in the browser (DecompressionStream: Chrome 80, Firefox 113, Safari 16.4), then draws each chart
# from its JSON. Nothing is fetched: the script is inline, the bytes are in the page.
_CHARTS_LOADER = """(async () => {
  const note = document.getElementById('charts-note');
  try {
    const packed = Uint8Array.from(atob(document.getElementById('plotly-gz').textContent), c => c.charCodeAt(0));
    const unpacked = new Blob([packed]).stream().pipeThrough(new DecompressionStream('gzip'));
    const plotly = document.createElement('script');
    plotly.textContent = await new Response(unpacked).text();
    document.head.appendChild(plotly);
    for (const spec of document.querySelectorAll('script.chart-spec')) {
      const figure = JSON.parse(spec.textContent);
      Plotly.newPlot(spec.dataset.target, figure.data, figure.layout, {responsive: true, displaylogo: false});
    }
    note.remove();
  } catch (error) {
    note.textContent = 'The charts need a current browser (Chrome 80, Firefox 113, Safari 16.4 or later).';
  }
})();"""


def _charts_html(charts: Sequence[dict[str, Any]]) -> str:
    """The charts as JSON beside one packed copy of plotly.js; a browser without scripts still reads the rest."""
    if not charts:
        return ""
    import plotly.io as pio

    parts = ["<h2>Charts</h2><p id='charts-note'>Drawing the charts…</p>"]
    for i, figure in enumerate(charts):
        spec = pio.to_json(safe_figure(figure), validate=False)
        # In a <script> element, only `</` could end it early: written as `\u003c/`, JSON reads it the same.
        spec = spec.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        parts.append(
            f"<div id='chart-{i}' class='chart'></div>"
            f"<script type='application/json' class='chart-spec' data-target='chart-{i}'>{spec}</script>"
        )
    parts.append(
        f"<script type='application/octet-stream' id='plotly-gz'>{_plotly_js_gzip_base64()}</script>"
    )
    parts.append(f"<script>{_CHARTS_LOADER}</script>")
    return "".join(parts)


def report_title(result: RunResult, made_on: dt.date | None = None) -> str:
    """The report's title, enough to forward it: metric, file, periods and the day it was made."""
    analysis, data = result.analysis or {}, result.dataset or {}
    ratio = analysis.get("ratio")
    measure = f"{ratio['numerator']} / {ratio['denominator']}" if ratio else analysis.get("metric", "metric")
    periods = analysis.get("periods") or data.get("periods") or []
    parts = [f"{measure}: what changed", str(data.get("source") or "")]
    if len(periods) == 2:
        parts.append(f"{periods[0]} → {periods[1]}")
    parts.append((made_on or dt.date.today()).isoformat())
    return " · ".join(part for part in parts if part)


def report_html(result: RunResult) -> str:
    """A self-contained HTML report: summary, verification, interactive charts and tables."""
    import markdown_it

    # html=False: any HTML in the narrative (it quotes cell values) is shown as text, never run; links and images
    # in it were neutralised by `summary_markdown`.
    summary = markdown_it.MarkdownIt("commonmark", {"html": False}).render(_summary(result))
    charts = [_charts_html(result.charts)]
    tables = [
        f"<h2>{html.escape(name.replace('_', ' '))}</h2>"
        + frame.to_html(index=False, escape=True)
        + (f"<p>{html.escape(omitted_note(result, name) or '')}</p>" if omitted_note(result, name) else "")
        for name, frame in display_tables_of(result).items()
    ]
    title = html.escape(report_title(result))
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
