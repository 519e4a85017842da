"""What the page shows, worked out without Streamlit: metric cards, the verification badge, step states, and the
summary as safe Markdown (labels from the data shown as text, never as links, images, colours or math)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.run.result import RunResult, Step
from tools.labels import escape_markdown, safe_markdown
from tools.numbers import all_whole_numbers, amount
from tools.verification import FLAGGED, VERDICT_LABELS, tally

if TYPE_CHECKING:
    from agent.run.scenarios import ScenarioRow


@dataclass
class Card:
    """One `st.metric` card."""

    label: str  # Markdown: names from the data in it are escaped
    value: str
    delta: str | None = None
    help: str | None = None  # the exact figure, shown on hover when the value is compact


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _is_whole(*values: float | None) -> bool:
    """True when every given value is a whole number (a count): shown without ".00"."""
    return all(value is not None and float(value).is_integer() for value in values)


def card_value(value: float | None, signed: bool = False, whole: bool = False) -> str:
    """A card's figure as the summary writes it (`tools.numbers.amount`: 1.73M, +10.4M, 132,919.66); a count
    below a million without ".00"."""
    if value is None:
        return "—"
    if whole and abs(value) < 1e6:
        return f"{value:+,.0f}" if signed and value else f"{value:,.0f}"
    return amount(value, signed)


def _exact(value: float | None, whole: bool, signed: bool = False) -> str | None:
    if value is None:
        return None
    text = f"{value:{'+' if signed else ''},.{0 if whole else 2}f}"
    return f"Exact: {text}"


def summary_cards(analysis: Mapping[str, Any]) -> list[Card]:
    """Before, after and change of the metric; for a ratio, the rate before and after with its change in pp.

    Large values are compact (1.73M) with the exact figure on hover; counts have no decimals; the % change shows
    once (on the "after" card), the change card gives the amount.
    """
    totals = analysis.get("totals") or {}
    metric = escape_markdown(analysis.get("metric") or "metric")
    periods = [escape_markdown(p) for p in analysis.get("periods") or ["before", "after"]]
    pct = totals.get("pct_change")
    before, after, change = totals.get("before"), totals.get("after"), totals.get("abs_change", 0)
    whole = _is_whole(before, after)
    cards = [
        Card(f"{metric} ({periods[0]})", card_value(before, whole=whole), help=_exact(before, whole)),
        Card(
            f"{metric} ({periods[1]})",
            card_value(after, whole=whole),
            "new" if pct is None else f"{pct:+.2f}%",
            _exact(after, whole),
        ),
        Card("change", card_value(change, signed=True, whole=whole), help=_exact(change, whole, signed=True)),
    ]
    ratio = analysis.get("ratio")
    if ratio:
        name = f"{escape_markdown(ratio['numerator'])} / {escape_markdown(ratio['denominator'])}"
        cards.append(
            Card(
                name,
                f"{ratio['after']:.2%}",
                f"{ratio['change'] * 100:+.2f} pp",
                f"Before: {ratio['before']:.4%}; after: {ratio['after']:.4%}",
            )
        )
        cards.append(
            Card("mix effect", f"{ratio['mix_effect'] * 100:+.2f} pp", help="Weight shifted between segments")
        )
        cards.append(
            Card("rate effect", f"{ratio['rate_effect'] * 100:+.2f} pp", help="Segments' own rates moved")
        )
    return cards


# Engine columns as a reader names them, and how their values are written (see `display_table`).
COLUMNS: dict[str, tuple[str, str]] = {
    "before": ("Before", "amount"),
    "after": ("After", "amount"),
    "abs_change": ("Change", "change"),
    "pct_change": ("% change", "pct_change"),
    "contribution_pct": ("Share of change", "pct"),
    "share_before": ("Share before", "pct"),
    "impact_norm": ("Change vs size", "times"),
    "share_of_gross_pct": ("Share of all movement", "signed_pct"),
    "label": ("Slice", "text"),
    "segment": ("Segment", "text"),
    "depth": ("Dimensions", "count"),
    "share_of_parent_pct": ("Share of parent's change", "pct"),
    "replaces": ("Replaces", "text"),
    "numerator_before": ("Numerator before", "amount"),
    "numerator_after": ("Numerator after", "amount"),
    "denominator_before": ("Denominator before", "amount"),
    "denominator_after": ("Denominator after", "amount"),
    "rate_before": ("Rate before", "rate"),
    "rate_after": ("Rate after", "rate"),
    "rate_change": ("Rate change", "pp"),
    "weight_before": ("Weight before", "rate"),
    "weight_after": ("Weight after", "rate"),
    "rate_effect": ("Rate effect", "pp"),
    "mix_effect": ("Mix effect", "pp"),
    "total_effect": ("Total effect", "pp"),
    "p_value": ("p-value", "p"),
    "significant": ("Significant", "yes_no"),
}
NOT_DEFINED = "—"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _cell(value: Any, kind: str) -> str:
    """One value written for a reader: fixed decimals, no float noise, "new" or "—" where there is no number."""
    if _missing(value):
        return "new" if kind == "pct_change" else NOT_DEFINED
    if kind == "text":
        return str(value)
    if kind == "yes_no":
        return "yes" if value else "no"
    number = float(value)
    formats = {
        "amount": lambda v: f"{v:,.2f}",
        "change": lambda v: f"{v:+,.2f}",
        "pct_change": lambda v: f"{v:+,.2f}%",
        "pct": lambda v: f"{v:,.2f}%",
        "signed_pct": lambda v: f"{v:+,.2f}%",
        "times": lambda v: f"{v:,.2f}×",
        "count": lambda v: f"{v:,.0f}",
        "signed_count": lambda v: f"{v:+,.0f}",
        "rate": lambda v: f"{v * 100:.2f}%",
        "pp": lambda v: f"{v * 100:+.2f} pp",
        "p": lambda v: "< 0.001" if v < 0.001 else f"{v:.3f}",
    }
    # A value that rounds to zero is shown as 0.00, never "-0.00".
    return _NEGATIVE_ZERO.sub("", formats[kind](number))


_NEGATIVE_ZERO = re.compile(r"^-(?=[0.,]+(?:%| pp|×)?$)")


def display_table(
    rows: list[dict[str, Any]] | Any, dimension: str | None = None, ratio: tuple[str, str] | None = None
) -> Any:
    """An engine table as a reader sees it on the page and in the reports: human headers ("Change", "% change",
    "Share of change"), fixed decimals, counts without ".00", "new" or "—" where a value is not defined, never
    "NaN" or float noise.

    Display only: the analysis dict, the JSON output and the CSV downloads keep their numbers.

    Args:
        rows: Records (as in the analysis) or a DataFrame.
        dimension: The table's dimension column (kept as text, headed by its own name).
        ratio: (numerator, denominator) names, for the headers of a rate/mix table ("orders before").
    """
    import pandas as pd

    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    frame = frame.drop(columns=["slice"], errors="ignore")
    shown = {}
    for column in frame.columns:
        values = frame[column]
        header, kind = _header_and_kind(str(column), dimension, ratio)
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if kind == "auto":
            kind = "amount" if numeric else "text"
        if kind in ("amount", "change") and numeric and all_whole_numbers(values.abs()):
            kind = "count" if kind == "amount" else "signed_count"  # counts (orders, users) without ".00"
        shown[header] = [_cell(value, kind) for value in values.tolist()]
    return pd.DataFrame(shown, columns=list(shown))


def _header_and_kind(column: str, dimension: str | None, ratio: tuple[str, str] | None) -> tuple[str, str]:
    if column == dimension:
        return column, "text"
    if ratio and column.startswith(("numerator_", "denominator_")):
        part, _, period = column.partition("_")
        return f"{ratio[0] if part == 'numerator' else ratio[1]} {period}", "amount"
    return COLUMNS.get(column, (column, "auto"))


# Decimals each kind keeps in a CSV download (numbers stay numbers there; only the float noise goes).
_CSV_DECIMALS = {
    "amount": 2,
    "change": 2,
    "pct_change": 2,
    "pct": 2,
    "signed_pct": 2,
    "times": 4,
    "rate": 6,
    "pp": 6,
    "p": 6,
}


def csv_table(frame: Any, dimension: str | None = None, ratio: tuple[str, str] | None = None) -> Any:
    """An engine table for a CSV download: the headers of `display_table` and fixed decimals; numbers stay numbers
    (a spreadsheet computes with them) and an undefined value is an empty cell, never "NaN". Vectorised: a full
    table has up to a million rows."""
    import pandas as pd

    out = frame.drop(columns=["slice"], errors="ignore").copy()
    headers = []
    for column in out.columns:
        header, kind = _header_and_kind(str(column), dimension, ratio)
        if kind in _CSV_DECIMALS and pd.api.types.is_float_dtype(out[column]):
            out[column] = out[column].round(_CSV_DECIMALS[kind]) + 0.0  # + 0.0: no "-0.0"
        headers.append(header)
    out.columns = headers
    return out


_STOPPED = {
    "max_steps": "The run stopped at its step limit",
    "stopped": "The run was stopped",
    "error": "The run failed",
}


def verification_badge(verification: dict[str, Any] | None, markdown: bool = True) -> tuple[bool, str]:
    """(all good, the sentence to show): the answer's claims checked against the engine.

    Green only when every claim is verified (or a weak pass), at least one was checked, and the run finished: a run
    that stopped at its step limit or was stopped never gets a green badge. With `markdown`, a segment label
    quoted in the sentence is escaped so Markdown shows it as text.
    """
    if not verification:
        return False, "No answer to verify."
    claims = verification.get("claims")
    if not claims and verification.get("checked") and "claims" not in verification:
        return _legacy_badge(verification)  # a run recorded before claims were checked
    claims = claims or []
    counts = {verdict: sum(c.get("verdict") == verdict for c in claims) for verdict in VERDICT_LABELS}
    flagged = sum(counts[v] for v in FLAGGED)
    parts = [f"{counts['verified']} verified"] + [
        f"{counts[v]} {VERDICT_LABELS[v]}" for v in VERDICT_LABELS if v != "verified" and counts[v]
    ]
    sentence = f"{len(claims)} claim{'s' if len(claims) != 1 else ''}: {', '.join(parts)}."
    if not claims:
        sentence = "No number in the summary could be checked against the engine."
    status = verification.get("run_status")
    if status in _STOPPED:
        sentence = f"{_STOPPED[status]}, so this summary is not a finished analysis. {sentence}"
    notes = (verification.get("coverage") or {}).get("notes") or []
    if notes:  # they may quote a segment label: data, shown as text by Markdown
        sentence += " " + " ".join(markdown_text(note) if markdown else note for note in notes)
    return bool(claims) and not flagged and status not in _STOPPED, sentence


def _legacy_badge(verification: dict[str, Any]) -> tuple[bool, str]:
    counts, wrong = tally(verification), verification.get("mismatches") or []
    status = verification.get("run_status")
    prefix = f"{_STOPPED[status]}. " if status in _STOPPED else ""
    if not wrong:
        return not prefix, f"{prefix}All {counts.checked} numbers in the summary match the engine."
    texts = ", ".join(
        m["text"] for m in wrong[:8]
    )  # quoted from the answer: shown as text (`st.error` is Markdown)
    return (
        False,
        escape_markdown(
            f"{prefix}{counts.passed} of {counts.checked} numbers match the engine; not found in it: {texts}."
        ),
    )


def markdown_text(text: str) -> str:
    """Text that Markdown (and Streamlit's `:red[...]` directives) shows as written: punctuation escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>:$~])", r"\\\1", text)


_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def marked_summary(
    narrative: str, claims: list[dict[str, Any]], escape: Callable[[str], str] | None = None
) -> str:
    """The summary with each checked number footnoted (⁽¹⁾, ⁽²⁾, ... as in `claim_notes`) and each flagged claim
    marked in the text: ":red[**⚠ 99.95%⁽²⁾ (misattributed) ⚠**]".

    Args:
        narrative: The answer text the claims' spans point into.
        claims: `verification["claims"]`.
        escape: Applied to the narrative's own text between the marks (for a page that escapes Markdown in
            labels); the marks themselves are plain Unicode that no Markdown renderer changes.
    """
    escape = escape or (lambda text: text)
    spans = sorted(
        ((c["span"][0], c["span"][1], i) for i, c in enumerate(claims) if c.get("span")), key=lambda s: s[0]
    )
    pieces, position = [], 0
    for start, end, index in spans:
        if start < position or end > len(narrative):
            continue
        number = escape(narrative[start:end])
        # In superscript parentheses: "1.73M²" would read as square millions, "1.73M⁽²⁾" reads as a note.
        note = "⁽" + str(index + 1).translate(_SUPERSCRIPT) + "⁾"
        flagged = claims[index].get("verdict") in FLAGGED
        verdict = VERDICT_LABELS.get(claims[index].get("verdict") or "", "")
        # Red and bold in Streamlit (not bold again inside a bold run: "**" would close it); any other Markdown
        # renderer still shows the ⚠ marks and the verdict.
        line = narrative[narrative.rfind("\n", 0, start) + 1 : start]
        text = f"⚠ {number}{note} ({verdict}) ⚠"
        mark = (
            (f":red[{text}]" if line.count("**") % 2 else f":red[**{text}**]")
            if flagged
            else f"{number}{note}"
        )
        pieces += [escape(narrative[position:start]), mark]
        position = end
    pieces.append(escape(narrative[position:]))
    return "".join(pieces)


def claim_notes(claims: list[dict[str, Any]]) -> list[str]:
    """One line per claim, numbered as the footnotes of `marked_summary`: what it was checked against."""
    lines = []
    for i, claim in enumerate(claims, start=1):
        verdict = claim.get("verdict") or ""
        mark = "⚠ " if verdict in FLAGGED else "✓ " if verdict == "verified" else "~ "
        expected = f" · engine: {claim['expected']}" if claim.get("expected") else ""
        lines.append(
            f"{i}. {mark}{claim.get('text')} — {VERDICT_LABELS.get(verdict, verdict)}: "
            f"{claim.get('reason')}{expected}"
        )
    return lines


def step_state(step: Step, run_finished: bool) -> str:
    """The `st.status` state of a step: error, complete or running."""
    if step.get("error"):
        return "error"
    return "complete" if step.get("done") or run_finished else "running"


def step_caption(step: Step) -> str:
    """Seconds and tokens of a finished step."""
    if not step.get("done"):
        return "running…"
    text = f"{step.get('duration_s') or 0:.2f} s"
    if step.get("input_tokens") is not None:
        text += f" · {step['input_tokens']:,} in / {step.get('output_tokens') or 0:,} out tokens"
    return text


def result_header(result: RunResult) -> str:
    """What a result was made from, in one line of plain text: file, measure, periods, scenario, model."""
    data, analysis = result.dataset or {}, result.analysis or {}
    ratio = analysis.get("ratio")
    measure = f"{ratio['numerator']} / {ratio['denominator']}" if ratio else analysis.get("metric")
    periods = analysis.get("periods") or data.get("periods") or []
    parts = [str(data.get("source") or "run"), str(measure or "")]
    if len(periods) == 2:
        parts.append(f"{periods[0]} → {periods[1]}")
    if data.get("scenario"):
        parts.append(f"scenario {data['scenario']}")
    if result.model:
        parts.append(str(result.model))
    return " · ".join(part for part in parts if part)


def scenario_table(rows: Iterable[ScenarioRow]) -> list[dict[str, Any]]:
    """The scenario comparison as display rows: formatted figures, one row per scenario."""
    table = []
    for row in rows:
        ratio = "/" in row.measure
        figure = (lambda v: "—" if v is None else f"{v:.2%}") if ratio else _number
        if row.change is None:
            change = "—"
        elif ratio:
            change = f"{row.change * 100:+.2f} pp"
        else:
            change = f"{row.change:+,.2f}" + ("" if row.pct_change is None else f" ({row.pct_change:+.2f}%)")
        table.append(
            {
                "Scenario": row.scenario,
                "Before": figure(row.before),
                "After": figure(row.after),
                "Change": change,
                "Top driver": row.top_driver or "—",
                "Driver's share": "—" if row.driver_share_pct is None else f"{row.driver_share_pct:.2f}%",
                "Verified": f"{row.verified} of {row.checked}" if row.status == "success" else row.status,
                "Problem": row.error or "",
            }
        )
    return table


def known_labels(analysis: Mapping[str, Any], dataset: dict[str, Any] | None = None) -> set[str]:
    """Every name from the data a summary may quote: segments, slices, dimensions, metrics, periods, the file."""
    analysis = analysis or {}
    names = {str(n) for n in [analysis.get("metric"), *(analysis.get("dimensions") or [])] if n}
    names.update(str(p) for p in analysis.get("periods") or [])
    for dimension, rows in (analysis.get("breakdowns") or {}).items():
        names.update(str(row.get(dimension)) for row in rows)
    for row in analysis.get("top_slices") or []:
        names.update(str(row.get(key)) for key in ("label", "segment") if row.get(key))
        names.update(str(value) for value in (row.get("slice") or {}).values())
    ratio = analysis.get("ratio") or {}
    names.update(str(ratio.get(key)) for key in ("numerator", "denominator") if ratio.get(key))
    for dimension, part in (ratio.get("by_dimension") or {}).items():
        names.update(str(row.get(dimension)) for row in part.get("by_segment") or [])
    for event in (analysis.get("change_log") or {}).get("events") or []:  # a cited event's text is data too
        names.add(str(event.get("description")))
        names.update(str(value) for value in (event.get("scope") or {}).values())
    dataset = dataset or {}
    names.update(str(n) for n in [dataset.get("source"), *(dataset.get("metrics") or [])] if n)
    return names


def summary_markdown(
    narrative: str | None,
    analysis: Mapping[str, Any],
    dataset: dict[str, Any] | None = None,
    claims: list[dict[str, Any]] | None = None,
) -> str:
    """The summary to hand to `st.markdown` or a Markdown report: the model's formatting kept, every label from
    the data escaped and shortened, links, images, colours and math shown as text (see `tools.labels`); with
    `claims`, each checked number footnoted and each flagged one marked (see `marked_summary`)."""
    labels = known_labels(analysis, dataset)
    if claims:
        # The text between the marks is made safe; the marks (":red[**⚠ ...**]") are ours and stay live.
        return marked_summary(narrative or "", claims, escape=lambda text: safe_markdown(text, labels))
    return safe_markdown(narrative or "", labels)
