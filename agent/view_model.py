"""What the page shows, worked out without Streamlit: metric cards, the verification badge, step states."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.verification import FLAGGED, VERDICT_LABELS


@dataclass
class Card:
    """One `st.metric` card."""

    label: str
    value: str
    delta: str | None = None


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def summary_cards(analysis: dict[str, Any]) -> list[Card]:
    """Before, after and change of the metric; for a ratio, the rate before and after with its change in pp."""
    totals = analysis.get("totals") or {}
    metric = analysis.get("metric") or "metric"
    periods = analysis.get("periods") or ["before", "after"]
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
        name = f"{ratio['numerator']} / {ratio['denominator']}"
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
    texts = ", ".join(m["text"] for m in wrong[:8])
    return (
        False,
        f"{prefix}{checked - len(wrong)} of {checked} numbers match the engine; not found in it: {texts}.",
    )


def markdown_text(text: str) -> str:
    """Text that Markdown (and Streamlit's `:red[...]` directives) shows as written: punctuation escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>:$~])", r"\\\1", text)


_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def marked_summary(
    narrative: str, claims: list[dict[str, Any]], escape: Callable[[str], str] | None = None
) -> str:
    """The summary with each checked number footnoted (¹, ², ... as in `claim_notes`) and each flagged claim
    marked in the text: ":red[**⚠ 99.95%² (misattributed) ⚠**]".

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
        note = str(index + 1).translate(_SUPERSCRIPT)
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
