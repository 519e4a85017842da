"""What the page shows, worked out without Streamlit: metric cards, the verification badge, step states, and the
summary as safe Markdown (labels from the data shown as text, never as links, images, colours or math)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.verification import FLAGGED, VERDICT_LABELS
from tools.labels import escape_markdown, safe_markdown


@dataclass
class Card:
    """One `st.metric` card."""

    label: str  # Markdown: names from the data in it are escaped
    value: str
    delta: str | None = None


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def summary_cards(analysis: dict[str, Any]) -> list[Card]:
    """Before, after and change of the metric; for a ratio, the rate before and after with its change in pp."""
    totals = analysis.get("totals") or {}
    metric = escape_markdown(analysis.get("metric") or "metric")
    periods = [escape_markdown(p) for p in analysis.get("periods") or ["before", "after"]]
    pct = totals.get("pct_change")
    cards = [
        Card(f"{metric} ({periods[0]})", _number(totals.get("before"))),
        Card(
            f"{metric} ({periods[1]})", _number(totals.get("after")), None if pct is None else f"{pct:+.2f}%"
        ),
        Card("change", f"{totals.get('abs_change', 0):+,.2f}", "new" if pct is None else f"{pct:+.2f}%"),
    ]
    ratio = analysis.get("ratio")
    if ratio:
        name = f"{escape_markdown(ratio['numerator'])} / {escape_markdown(ratio['denominator'])}"
        cards.append(Card(name, f"{ratio['after']:.2%}", f"{ratio['change'] * 100:+.2f} pp"))
        cards.append(Card("mix effect", f"{ratio['mix_effect'] * 100:+.2f} pp"))
        cards.append(Card("rate effect", f"{ratio['rate_effect'] * 100:+.2f} pp"))
    return cards


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
    checked, wrong = len(verification.get("checked") or []), verification.get("mismatches") or []
    status = verification.get("run_status")
    prefix = f"{_STOPPED[status]}. " if status in _STOPPED else ""
    if not wrong:
        return not prefix, f"{prefix}All {checked} numbers in the summary match the engine."
    texts = ", ".join(
        m["text"] for m in wrong[:8]
    )  # quoted from the answer: shown as text (`st.error` is Markdown)
    return (
        False,
        escape_markdown(
            f"{prefix}{checked - len(wrong)} of {checked} numbers match the engine; not found in it: {texts}."
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
        lines.append(f"{i}. {mark}{claim.get('text')} — {VERDICT_LABELS.get(verdict, verdict)}: "
                     f"{claim.get('reason')}{expected}")  # fmt: skip
    return lines


def step_state(step: dict[str, Any], run_finished: bool) -> str:
    """The `st.status` state of a step: error, complete or running."""
    if step.get("error"):
        return "error"
    return "complete" if step.get("done") or run_finished else "running"


def step_caption(step: dict[str, Any]) -> str:
    """Seconds and tokens of a finished step."""
    if not step.get("done"):
        return "running…"
    text = f"{step.get('duration_s') or 0:.2f} s"
    if step.get("input_tokens") is not None:
        text += f" · {step['input_tokens']:,} in / {step.get('output_tokens') or 0:,} out tokens"
    return text


def result_header(result) -> str:
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


def scenario_table(rows) -> list[dict[str, Any]]:
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
        table.append({
            "Scenario": row.scenario,
            "Before": figure(row.before),
            "After": figure(row.after),
            "Change": change,
            "Top driver": row.top_driver or "—",
            "Driver's share": "—" if row.driver_share_pct is None else f"{row.driver_share_pct:.2f}%",
            "Verified": f"{row.verified} of {row.checked}" if row.status == "success" else row.status,
            "Problem": row.error or "",
        })  # fmt: skip
    return table


def known_labels(analysis: dict[str, Any], dataset: dict[str, Any] | None = None) -> set[str]:
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
    dataset = dataset or {}
    names.update(str(n) for n in [dataset.get("source"), *(dataset.get("metrics") or [])] if n)
    return names


def summary_markdown(
    narrative: str | None,
    analysis: dict[str, Any],
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
