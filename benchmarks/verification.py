"""The claim checker against planted mistakes: the built-in analyst's correct summaries, mutated.

Each benchmark case (`benchmarks.cases`: one dimension, planted 2-dimension slices, ratios, a negative metric, zero
baselines, many segments, ...) is run through both built-in agents; their summaries must pass with no flag. Then
each summary is mutated the ways an LLM gets numbers wrong, and every mutation must be flagged:

- swap_segments: two segments' bullet lines trade their figures;
- flip_direction: "fell" becomes "rose" (and back);
- segment_as_total: the total's % change (or rate change) is replaced by a segment's;
- share_elsewhere: a segment's share of the change is written on another segment;
- change_digit: one digit of a verified number changes (the last, then the first).

Paraphrases must pass too: every verified figure rewritten at 1 decimal, as "$132.9k" / "1.73M", and hand-written
sentences such as "down 55.2%" or LLM-style summaries (headings, numbered bullets, a table); those are mutated as well.
"""

from __future__ import annotations

import itertools
import re
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tools.facts import TOTAL, Fact
from tools.verification import Lexicon, verify

# Hand-written paraphrases of the revenue-by-country answer (the sample file): all true, all must pass.
REVENUE_PARAPHRASES = [
    "Revenue fell 7.7%, from 1.73M to 1.60M (-$132.9k).",
    "Revenue was down 7.7% (down $132.9k) to $1.6M.",
    "Total revenue dropped by $132.9k, or 7.67%.",
    "France was down 55.2%, losing $132.8k: 99.9% of the drop.",
    "France drove 99.95% of the decline; its revenue fell 55.2%.",
    "France accounts for 99.9% of the change, while UK fell 0.9% and other grew 0.7%.",
    "Overall revenue declined 7.67% to 1,599,065.55; France alone explains 99.9% of it.",
    "France fell from $240.7k to $107.9k.",
    "UK slipped 0.91% (-$4.4k), Italy rose 0.81%.",
    "France moved 7.2x its size: 13.9% of revenue before, 99.9% of the change.",
    # The way LLMs write it: headings, numbered bullets, "–", bold, a table, "whose", "this".
    "## Summary\nTotal revenue decreased by **$132,919.66 (-7.67%)**, from $1,731,985.21 to $1,599,065.55.\n\n"
    "### Key drivers\n1. **France** – revenue dropped from $240,704.63 to $107,857.06, a decline of $132,847.57 "
    "(-55.19%). This accounts for 99.95% of the total decline.\n2. **UK** – down $4,376.25 (-0.91%).\n"
    "3. **Other** – partially offset the decline with +$4,233.09 (+0.67%).\n\n"
    "Italy grew by $979.15 (+0.81%), Germany fell by $690.99 (-0.43%) and Spain was roughly flat (-0.23%).",
    "Revenue went down 7.67% year over year. The drop was almost entirely due to France, whose revenue more than "
    "halved (−55.19%), explaining 99.95% of the decrease. Other markets were stable (within ±1%).",
    "| Country | Before | After | Change | % |\n|---|---|---|---|---|\n"
    "| France | 240,704.63 | 107,857.06 | -132,847.57 | -55.19% |\n| UK | 481,409.27 | 477,033.02 | -4,376.25 | -0.91% |\n"
    "| Total | 1,731,985.21 | 1,599,065.55 | -132,919.66 | -7.67% |",
    "**Headline:** Revenue is down 7.67% ($1.73M → $1.60M), a loss of about $133k.\n\n**What drove it:** France "
    "(−$132.8k, −55.2%) accounts for essentially all (99.95%) of the decline. All other countries moved by less than "
    "1%: UK −0.91%, Germany −0.43%, Spain −0.23%, while Italy (+0.81%) and other (+0.67%) grew slightly.",
    "Revenue decreased from 1,731,985.21 to 1,599,065.55, a change of -132,919.66 (-7.67%). France's revenue fell by "
    "55.19% (from 240,704.63 to 107,857.06) and explains 99.95% of the total decrease. France represented 13.90% of "
    "revenue before the change but 99.95% of the change, 7.19 times its weight.",
]
# LLM-style paraphrases of other benchmark cases (figures from their seeded generators).
CASE_PARAPHRASES = {
    "one_dimension": REVENUE_PARAPHRASES,
    "planted_two_dims": [
        "Revenue declined slightly (-0.22%, or -825.71). The decline is concentrated in Android users in Germany: "
        "that slice lost 802.69, i.e. 97.21% of the total change. Germany as a whole was down 3.79%.",
        "Revenue slipped 0.22% (−$825.71). Nearly all of it (97.21%) comes from Germany × Android, which lost $802.69. "
        "Germany overall fell 3.79% (−$834.93), i.e. 101.12% of the net change, since other countries slightly offset "
        "it (Portugal +$25.98).",
    ],
    "ratio_pure_mix": [
        "Conversion dropped from 4.77% to 4.18% (-0.58 pp). This is mostly a mix effect (-0.70 pp): paid_social's "
        "share of users grew from 10.75% to 26.79%, and it converts at only 0.96%. The rate effect was +0.12 pp.",
        "The conversion rate fell by 0.58 percentage points, from 4.77% to 4.18%. Mix explains 120.52% of the drop "
        "(−0.70 pp) while rates improved slightly (+0.12 pp, −20.52%). Paid social grew from 10.75% to 26.79% of "
        "users but converts at 0.96%.",
    ],
    "ratio_rate_change": [
        "Conversion fell from 5.10% to 4.52% (−0.58 pp), entirely due to a rate effect (100%). Email's conversion "
        "halved from 8.00% to 4.00% (p < 0.001); traffic was unchanged at 83,000 users. Orders fell 11.35% "
        "(4,230 → 3,750).",
    ],
    "no_net_change": [
        "Revenue was flat at 400,000.00. East grew by 25,000.00 (+31.25%) and West fell by the same amount (-41.67%); "
        "each accounts for 50% of all movement.",
    ],
    "negative_metric": [
        "Profit fell 32.93% to 122,122.31. Baltics × Pro deepened its loss by 60,000.00, 100.06% of the decline; "
        "Baltics overall lost a further 59,974.18.",
    ],
    "zero_baselines": [
        "Revenue grew 5.42% (+93,927.91), driven by the launch of Brazil (+90,000.00, 95.82% of the growth). Mexico "
        "added 4,000.00. UK declined by 4,376.25.",
    ],
}
# The four wrong answers of issue 10 on the same file: each must be flagged.
REVENUE_WRONG = [
    "UK drove 99.95% of the drop.",
    "Revenue fell 55.19%.",
    "Revenue rose 7.67% (+132,919.66).",
    "France fell 0.91%.",
]


def builtin_summaries(folder: Path) -> list[dict[str, Any]]:
    """Both built-in agents on every benchmark case: [{case, agent, narrative, analysis}]."""
    from agent.run.result import collect
    from agent.run.runner import RunRequest, run_events
    from benchmarks.cases import CASES
    from tools.loading import load_dataset

    found = []
    for case in CASES:
        path = case.write(folder)
        loading = {k: v for k, v in case.options.items() if k in ("period_column", "periods")}
        options = {k: v for k, v in case.options.items() if k in ("ratio", "metric", "by")}
        dataset = load_dataset(path, **loading)
        for agent in ("code", "tool-calling"):
            result = collect(run_events(RunRequest(dataset, executor="local", agent=agent, **options)))
            found.append(
                {
                    "case": case.name,
                    "agent": agent,
                    "narrative": result.narrative or "",
                    "analysis": result.analysis,
                    "status": result.status,
                }
            )
    return found


def _decimals(text: str) -> int:
    found = re.search(r"\.(\d+)", text)
    return len(found.group(1)) if found else 0


def _written_like(original: str, value: float, kind: str) -> str:
    """`value` written the way `original` was (sign, decimals, thousands separators, unit)."""
    signed = original[:1] in "+-−"
    decimals = _decimals(original)
    unit = (
        "%"
        if original.endswith("%")
        else " pp"
        if original.endswith("pp")
        else "x"
        if original.endswith("x")
        else ""
    )
    number = f"{value:+,.{decimals}f}" if signed else f"{abs(value):,.{decimals}f}"
    if "," not in original:
        number = number.replace(",", "")
    return number + unit


def _replace(text: str, span: list[int], new: str) -> str:
    return text[: span[0]] + new + text[span[1] :]


def _differs(original: str, new: str) -> bool:
    return original.lstrip("+-−") != new.lstrip("+-−")


def mutations(
    narrative: str, analysis: dict[str, Any], lexicon: Lexicon | None = None
) -> Iterator[tuple[str, str]]:
    """(mutation kind, mutated summary) pairs; each one makes at least one statement false."""
    lexicon = lexicon or Lexicon(analysis)
    claims = [
        c for c in verify(narrative, analysis, lexicon)["claims"] if c["span"] and c["verdict"] == "verified"
    ]
    by_source = {fact.source: fact for fact in lexicon.facts}
    yield from _swaps(narrative, lexicon)
    for match in re.finditer(r"\b(fell|rose)\b", narrative):
        yield (
            "flip_direction",
            _replace(narrative, [match.start(), match.end()], "rose" if match.group(1) == "fell" else "fell"),
        )
    for claim in claims:
        fact = by_source.get(claim["matched"])
        if fact is None:
            continue
        if claim["entity_key"] == TOTAL and fact.kind in ("pct_change", "rate_change"):
            other = _other_segment_figure(lexicon, fact, claim["text"], segments_only=True)
            if other is not None:
                yield "segment_as_total", _replace(narrative, claim["span"], other)
        if claim["entity_key"] != TOTAL and fact.kind in ("share_of_change", "share_of_gross"):
            other = _other_segment_figure(lexicon, fact, claim["text"])
            if other is not None:
                yield "share_elsewhere", _replace(narrative, claim["span"], other)
        for position in _digit_positions(claim["text"]):
            digits = list(claim["text"])
            old = int(digits[position])
            digits[position] = str((old + 1) % 10 if position != _first_digit(claim["text"]) else old % 9 + 1)
            yield "change_digit", _replace(narrative, claim["span"], "".join(digits))


def _first_digit(text: str) -> int:
    return next(i for i, ch in enumerate(text) if ch.isdigit())


def _digit_positions(text: str) -> list[int]:
    positions = [i for i, ch in enumerate(text) if ch.isdigit()]
    return sorted({positions[-1], positions[0]}) if positions else []


def _other_segment_figure(
    lexicon: Lexicon, fact: Fact, written: str, segments_only: bool = False
) -> str | None:
    """Another segment's figure of the same kind, written like `written`, that differs from it."""
    dimension = fact.entity.split("=", 1)[0] if fact.entity != TOTAL else None
    for other in lexicon.facts:
        if (
            other.kind != fact.kind
            or other.entity == fact.entity
            or other.entity == TOTAL
            or "&" in other.entity
        ):
            continue
        if dimension is not None and not other.entity.startswith(dimension + "="):
            continue
        if segments_only and other.metric != fact.metric and fact.metric != lexicon.ratio_metric:
            continue
        new = _written_like(written, other.value, other.kind)
        if _differs(written, new):
            return new
    return None


def _swaps(narrative: str, lexicon: Lexicon) -> Iterator[tuple[str, str]]:
    """Two bullet lines "- A: figures" and "- B: figures" trade figures (first pair of each bullet list)."""
    lines = narrative.split("\n")
    bullets = [(i, m) for i, line in enumerate(lines) if (m := re.match(r"^- (.+?): (.*)$", line))]
    bullets = [(i, m) for i, m in bullets if m.group(1) in lexicon.names]
    for (i, first), (j, second) in itertools.pairwise(bullets):
        if j != i + 1 or re.sub(r"[^\d]", "", first.group(2)) == re.sub(r"[^\d]", "", second.group(2)):
            continue
        swapped = list(lines)
        swapped[i] = f"- {first.group(1)}: {second.group(2)}"
        swapped[j] = f"- {second.group(1)}: {first.group(2)}"
        yield "swap_segments", "\n".join(swapped)


def paraphrase(narrative: str, analysis: dict[str, Any], lexicon: Lexicon | None = None) -> str:
    """The summary with every verified figure rewritten from the engine's value: 1 decimal, amounts as $k / M."""
    lexicon = lexicon or Lexicon(analysis)
    by_source = {fact.source: fact for fact in lexicon.facts}
    claims = [
        c for c in verify(narrative, analysis, lexicon)["claims"] if c["span"] and c["verdict"] == "verified"
    ]
    text = narrative
    for claim in sorted(claims, key=lambda c: c["span"][0], reverse=True):
        fact = by_source.get(claim["matched"])
        if fact is None or fact.kind == "p_value":
            continue
        original = claim["text"]
        sign = "-" if original[:1] in "-−" else "+" if original[:1] == "+" else ""
        magnitude = abs(fact.value)
        if original.endswith(("%", "pp", "x")):
            new = f"{sign}{magnitude:.1f}{'%' if original.endswith('%') else ' pp' if original.endswith('pp') else 'x'}"
        elif magnitude >= 1e6:
            new = f"{sign}{magnitude / 1e6:.2f}M"
        elif magnitude >= 1e3:
            new = f"{sign}${magnitude / 1e3:.1f}k"
        else:
            new = f"{sign}{magnitude:.1f}"
        text = _replace(text, claim["span"], new)
    return text


def mutation_suite(folder: Path | None, summaries: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Detection rate per mutation kind, false flags on the correct summaries and paraphrases, time per check."""
    if summaries is None:
        if folder is None:
            raise ValueError("mutation_suite needs a folder to write the cases to, or the summaries")
        summaries = builtin_summaries(folder)
    by_kind: dict[str, list[int]] = {}
    missed: list[dict[str, str]] = []
    false_flags: list[dict[str, Any]] = []
    timings: list[float] = []
    checked_texts = 0
    claims = 0
    for summary in summaries:
        analysis, narrative = summary["analysis"], summary["narrative"]
        lexicon = Lexicon(analysis)
        started = time.perf_counter()
        result = verify(narrative, analysis, Lexicon(analysis))
        timings.append(time.perf_counter() - started)
        claims += len(result["claims"])
        for text in (narrative, paraphrase(narrative, analysis, lexicon)):
            checked_texts += 1
            flagged = verify(text, analysis, lexicon)["mismatches"]
            if flagged:
                false_flags.append(
                    {
                        "case": summary["case"],
                        "agent": summary["agent"],
                        "text": text,
                        "flags": [f"{c['text']}: {c['reason']}" for c in flagged],
                    }
                )
        for kind, mutated in mutations(narrative, analysis, lexicon):
            caught = bool(verify(mutated, analysis, lexicon)["mismatches"])
            by_kind.setdefault(kind, [0, 0])
            by_kind[kind][0] += caught
            by_kind[kind][1] += 1
            if not caught:
                missed.append(
                    {"case": summary["case"], "agent": summary["agent"], "kind": kind, "text": mutated}
                )
    analyses = {s["case"]: s["analysis"] for s in summaries}
    for case, texts in CASE_PARAPHRASES.items():
        if case not in analyses:
            continue
        lexicon = Lexicon(analyses[case])
        for text in texts:
            checked_texts += 1
            flagged = verify(text, analyses[case], lexicon)["mismatches"]
            if flagged:
                false_flags.append(
                    {
                        "case": case,
                        "agent": "hand-written",
                        "text": text,
                        "flags": [f"{c['text']}: {c['reason']}" for c in flagged],
                    }
                )
            for kind, mutated in mutations(text, analyses[case], lexicon):  # LLM-style prose, mutated too
                caught = bool(verify(mutated, analyses[case], lexicon)["mismatches"])
                by_kind.setdefault(kind, [0, 0])
                by_kind[kind][0] += caught
                by_kind[kind][1] += 1
                if not caught:
                    missed.append({"case": case, "agent": "hand-written", "kind": kind, "text": mutated})
    if "one_dimension" in analyses:
        lexicon = Lexicon(analyses["one_dimension"])
        for text in REVENUE_WRONG:
            caught = bool(verify(text, analyses["one_dimension"], lexicon)["mismatches"])
            by_kind.setdefault("issue_examples", [0, 0])
            by_kind["issue_examples"][0] += caught
            by_kind["issue_examples"][1] += 1
            if not caught:
                missed.append(
                    {"case": "one_dimension", "agent": "hand-written", "kind": "issue_examples", "text": text}
                )
    caught_all = sum(c for c, _ in by_kind.values())
    total = sum(n for _, n in by_kind.values())
    return {
        "summaries": len(summaries),
        "datasets": len({s["case"] for s in summaries}),
        "claims": claims,
        "mutations": total,
        "detected": caught_all,
        "detection_rate": caught_all / total if total else None,
        "by_kind": {kind: {"detected": c, "total": n} for kind, (c, n) in sorted(by_kind.items())},
        "hand_written": sum(len(texts) for case, texts in CASE_PARAPHRASES.items() if case in analyses),
        "correct_texts": checked_texts,
        "false_flags": len(false_flags),
        "false_flag_rate": len(false_flags) / checked_texts if checked_texts else None,
        "false_flag_examples": false_flags[:5],
        "missed_examples": missed[:10],
        "check_ms_median": statistics.median(timings) * 1000 if timings else None,
        "check_ms_max": max(timings) * 1000 if timings else None,
    }
