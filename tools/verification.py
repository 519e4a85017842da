"""Checks the claims of the agent's answer against the engine: each number bound to its entity, kind and direction.

A number counts as verified only when the figure of the entity it speaks of (the total, a segment such as France, a
slice such as Germany × Android), of the kind its words give it (% change, share of the change, value before, rate
effect in pp, ...), matches it within the rounding it was written with (`99.95%` means [99.945, 99.955], `132.9k`
means ±50), and the direction its words give (fell, rose, a sign) matches the figure's sign.

How an answer becomes claims (README "How it verifies" has the full list of cues):
- Clauses: lines, bullets, sentences, `;`, and "while / whereas / but / although" start a new clause.
- Entity: the nearest segment or slice name before the number in its clause; "it / its / this" (or a clause going
  on with "but ...") carries the entity of the clause before; else the first name after it. The metric's name,
  "total" or "overall" name the total ("of revenue" and "of the total change" are kind cues, and "France – revenue
  fell" stays France's). Two names of different dimensions side by side ("Germany × Android", "Android in Germany")
  name their slice when the drill-down has it; "A and B ... respectively" binds in order.
- Kind, from cue words: "of the change/drop", "drove", "accounts for" -> share of the change; "of all movement" ->
  share of the gross movement; "of revenue before" -> share before; "fell/rose N%" -> % change; "pp" -> rate change
  or, after "rate effect"/"mix effect", that effect; "rate N%" -> rate; "share of users" -> weight; "Nx" -> impact;
  "p = N" -> p-value; "from X to Y" / "X -> Y" -> before and after; a signed amount or one after "by" -> change.
- Direction: fell/dropped/declined/down... vs rose/grew/increased/up..., or the number's own sign.
- Structured answers (dicts, lists) and Markdown tables bind by key: a segment name in the key path, a sibling value
  or the row names the entity; the key or column header names the kind ("pct_change", "Before", ...).

Verdicts: verified; misattributed (it is another entity's figure: "99.95% is France's share of the change, not
UK's"); wrong_direction; wrong_kind (the entity's figure of another kind); unbound (no entity found: any-figure match,
shown as a weak pass); unsupported (matches nothing it could mean). Coverage says whether the answer states the total
change and names the top driver. Counts ("top 3", "12 segments"), years, dates and thresholds ("p < 0.05", "within
±1%") are skipped.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tools.change_log import check_citations
from tools.facts import (
    CHANGE_KINDS,
    KIND_LABELS,
    TOTAL,
    UNITS,
    Analysis,
    Fact,
    fact_table,
    segment_names,
    slice_entities,
)

VERDICTS = ("verified", "unbound", "misattributed", "wrong_direction", "wrong_kind", "unsupported")
FLAGGED = {"misattributed", "wrong_direction", "wrong_kind", "unsupported"}
VERDICT_LABELS = {
    "verified": "verified",
    "unbound": "unbound (weak pass)",
    "misattributed": "misattributed",
    "wrong_direction": "wrong direction",
    "wrong_kind": "wrong kind",
    "unsupported": "unsupported",
}

_MULTIPLIERS = {
    "k": 1e3,
    "K": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "M": 1e6,
    "mn": 1e6,
    "million": 1e6,
    "bn": 1e9,
    "B": 1e9,
    "billion": 1e9,
}
_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>[-+−]?)\s?(?P<currency>[$€£¥])?\s?"
    r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d+)?"
    r"(?:\s?(?P<unit>%|pp|p\.p\.|x|×|k|K|M|mn|bn|B|thousand|million|billion|percentage\s+points?|"
    r"percent|per\s+cent|pct|points?|pts|times)(?![A-Za-z]))?"
    r"(?![\w])"
)


_DATE = re.compile(r"\b\d{4}-\d{1,2}(?:-\d{1,2})?\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b\d{1,2}:\d{2}(?::\d{2})?\b")
_UNIT_WORDS = {
    "times": "x",
    "percent": "%",
    "per cent": "%",
    "pct": "%",
    "percentage point": "pp",
    "percentage points": "pp",
    "point": "pp",
    "points": "pp",
    "pts": "pp",
}


@dataclass
class Mention:
    """A number as written in the answer."""

    text: str
    value: float
    tolerance: float
    percent: bool
    plain_small_int: bool
    start: int = 0
    end: int = 0
    unit: str = ""
    sign: int = 0  # the sign written in front of it: -1, +1, or 0 when none


def extract_numbers(text: str, ignore: Iterable[str] = ()) -> list[Mention]:
    """Finds the numbers in prose, skipping those inside the given strings (segment names, column names)."""
    # Dates and times are not figures: "2026-11-24", "24/11/2026", "10:03".
    masked = _DATE.sub(lambda m: " " * len(m.group(0)), text)
    for phrase in sorted({p for p in ignore if p and any(ch.isdigit() for ch in p)}, key=len, reverse=True):
        if phrase in masked:
            masked = masked.replace(phrase, " " * len(phrase))
    mentions = []
    for match in _NUMBER.finditer(masked):
        integer, fraction, unit = match["int"], match["frac"] or "", match["unit"] or ""
        unit = _UNIT_WORDS.get(re.sub(r"\s+", " ", unit.lower()), unit)  # "7.67 percent" is "7.67%"
        decimals = len(fraction) - 1 if fraction else 0
        value = float(integer.replace(",", "") + fraction)
        multiplier = _MULTIPLIERS.get(unit, 1.0)
        sign = {"-": -1, "−": -1, "+": 1}.get(match["sign"], 0)
        if sign < 0:
            value = -value
        percent = unit in ("%", "pp", "p.p.")
        tolerance = 0.5 * 10.0 ** (-decimals) * multiplier * (1 + 1e-9) + 1e-12
        plain = not fraction and not unit and not match["currency"] and "," not in integer
        raw = match.group(0)
        start = match.start() + (len(raw) - len(raw.lstrip()))
        mentions.append(
            Mention(
                raw.strip(),
                value * multiplier,
                tolerance,
                percent,
                plain and abs(value) <= 10,
                start,
                match.end(),
                {"p.p.": "pp", "×": "x"}.get(unit, unit if unit in ("%", "pp", "x") else ""),
                sign,
            )
        )
    return mentions


# ---- the lexicon: entity names, metric words, and the fact table indexed ---------------------------------------


@dataclass
class _Mentioned:
    """An entity named in the text."""

    start: int
    end: int
    entities: frozenset[str]  # one entity, or several when a name exists in more than one dimension
    # For the total: the metric its word names ("orders"), None for "total"/"overall".
    metric: str | None = None
    # False for a bare metric word ("revenue"): a segment named before it in the clause keeps the number.
    explicit: bool = True


class Lexicon:
    """Everything needed to bind and check claims for one analysis: build once per run (the check runs twice)."""

    def __init__(self, analysis: Analysis | dict[str, Any], facts: list[Fact] | None = None) -> None:
        self.analysis = analysis
        self.facts = facts if facts is not None else fact_table(analysis)
        self.names = segment_names(analysis)
        self.slices = slice_entities(analysis)
        self.by_entity: dict[str, list[Fact]] = {}
        for fact in self.facts:
            self.by_entity.setdefault(fact.entity, []).append(fact)
        self.labels = {fact.entity: fact.label for fact in self.facts}
        magnitudes = np.abs(
            np.fromiter((f.value for f in self.facts), dtype="float64", count=len(self.facts))
        )
        self._order = np.argsort(magnitudes, kind="stable")  # facts by magnitude, for `near`
        self._magnitudes = magnitudes[self._order]
        self.metric = str(analysis.get("metric") or "")
        ratio = analysis.get("ratio") or {}
        self.ratio_metric = f"{ratio['numerator']}/{ratio['denominator']}" if ratio else None
        self.denominator = str(ratio["denominator"]) if ratio else None
        words: dict[str, str | None] = {"total": None, "overall": None, "in total": None, "net": None}
        for name in filter(
            None, [self.metric, *((ratio and [ratio["numerator"], ratio["denominator"]]) or [])]
        ):
            for spelled in {name.lower(), name.lower().replace("_", " ")}:
                words[spelled] = name
                for phrase in (
                    f"total {spelled}",
                    f"overall {spelled}",
                    f"{spelled} overall",
                    f"{spelled} in total",
                ):
                    words[phrase] = name
        if ratio:
            num, den = ratio["numerator"].lower(), ratio["denominator"].lower()
            for phrase in (
                f"{num} / {den}",
                f"{num}/{den}",
                f"{num} per {den}",
                "conversion rate",
                "conversion",
            ):
                words[phrase] = self.ratio_metric
        self.total_words = words
        alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        self._total_pattern = re.compile(rf"(?<![\w/])(?:{alternatives})(?![\w/])", re.IGNORECASE)
        self.ignore = (
            set(self.names) | set(analysis.get("dimensions") or []) | set(analysis.get("periods") or [])
        )
        self.ignore.add(self.metric)
        # A change-log event's description is quoted data: its numbers are not figures of the data.
        self.ignore |= {e["description"] for e in (analysis.get("change_log") or {}).get("events") or []}
        # "12 segments", "across 10,000 stores", "6 countries": counts of things, not figures of the data.
        things = {d.lower() for d in analysis.get("dimensions") or []} | {
            "segment",
            "row",
            "slice",
            "value",
            "item",
            "group",
            "country",
            "countries",
            "region",
            "store",
            "channel",
            "product",
            "categor",
            "market",
        }
        alternatives = "|".join(re.escape(t) for t in sorted(things, key=len, reverse=True))
        self.counted = re.compile(rf"^\s+(?:[a-z-]+\s+)?(?:{alternatives})\w*", re.I)

    def label(self, entity: str) -> str:
        return "the total" if entity == TOTAL else self.labels.get(entity, entity.split("=", 1)[-1])

    def near(self, value: float, tolerance: float) -> list[Fact]:
        """Facts whose magnitude is within `tolerance` of |value| (signs are judged separately)."""
        target = abs(value)
        low = int(np.searchsorted(self._magnitudes, target - tolerance, side="left"))
        high = int(np.searchsorted(self._magnitudes, target + tolerance, side="right"))
        return [self.facts[i] for i in self._order[low:high]]

    def _marked(self, text: str, start: int, end: int) -> bool:
        """Whether a segment named like a common word in lower case ("a", "in") is named as a segment here: quoted,
        bold or in backticks, followed by a colon or its figures in brackets ("- a: +50", "a (+50.00)"), or after
        its dimension ("channel a")."""
        before, after = text[max(0, start - 40) : start], text[end : end + 2]
        pairs = {"`": "`", '"': '"', "'": "'", "*": "*", "“": "”", "‘": "’"}
        if before[-1:] in pairs and after[:1] == pairs[before[-1:]]:  # both sides: not the "'s" of "It's"
            return True
        if after[:1] == ":" or after == " (":
            return True
        dimensions = "|".join(re.escape(str(d)) for d in self.analysis.get("dimensions") or [])
        return bool(dimensions) and re.search(rf"\b(?:{dimensions})\s+$", before, re.IGNORECASE) is not None

    def mentions(self, text: str) -> list[_Mentioned]:
        """Entity names in the text, left to right, without overlaps; slices merged from adjacent names."""
        found: list[_Mentioned] = []
        for label, entities in self.names.items():
            # "paid_social" is also written "paid social"; a lower-case name opens a sentence capitalised.
            for name in {label, label.replace("_", " ")} if label else ():
                capitalised = name.islower() and name.capitalize() in text
                if name not in text and not capitalised and not (len(name) > 40 and name[:20] in text):
                    continue
                pattern = rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])"
                if len(name) > 40:  # a long label may be shortened with "…" in prose
                    pattern = (
                        rf"(?<![A-Za-z0-9_]){re.escape(name[:20])}(?:{re.escape(name[20:])}|[^\n…]{{0,40}}…)"
                    )
                common_word = name.lower() in _FUNCTION_WORDS
                for match in re.finditer(pattern, text):
                    if common_word and match.group(0).islower() and not self._marked(text, *match.span()):
                        continue  # "at a steady pace": the word, not the segment named "a"
                    found.append(_Mentioned(match.start(), match.end(), frozenset(entities)))
                if capitalised:
                    # "Other" opening a line, bullet or sentence names the segment "other"; in running prose it
                    # is a word.
                    capital = re.escape(name.capitalize())
                    opening = rf"(?:(?m:^)[ \t]*(?:[-*•]|\d+[.)])?[ \t]*|[.!?:;]\s+)\**({capital})(?![\w])"
                    for match in re.finditer(opening, text):
                        if common_word and not self._marked(text, *match.span(1)):
                            continue  # "A steady gain", "It grew": the word opening a sentence
                        found.append(_Mentioned(match.start(1), match.end(1), frozenset(entities)))
        for match in self._total_pattern.finditer(text):
            before = text[max(0, match.start() - 24) : match.start()].lower()
            # "of revenue before", "of the total change", "share of users": a kind cue, not the entity spoken of.
            if re.search(r"\bof\s+(?:the\s+|all\s+)?(?:total\s+|overall\s+)?$", before):
                continue
            if re.search(r"\b(?:its|their)\s+$", before):  # "its revenue": the entity "its" carries
                continue
            word = match.group(0).lower()
            explicit = bool(re.search(r"\b(?:total|overall|net)\b", word))
            found.append(
                _Mentioned(
                    match.start(), match.end(), frozenset([TOTAL]), self.total_words.get(word), explicit
                )
            )
        found.sort(key=lambda m: (m.start, -(m.end - m.start)))
        kept: list[_Mentioned] = []
        for mention in found:
            if kept and mention.start < kept[-1].end:
                continue
            # "France's revenue", "France revenue": the metric word belongs to the segment named before it.
            if (
                kept
                and TOTAL in mention.entities
                and TOTAL not in kept[-1].entities
                and re.fullmatch(r"\**(?:'s|’s)?\**\s*", text[kept[-1].end : mention.start])
            ):
                continue
            kept.append(mention)
        return self._merge_slices(text, kept)

    def _merge_slices(self, text: str, kept: list[_Mentioned]) -> list[_Mentioned]:
        if not self.slices:
            return kept
        merged: list[_Mentioned] = []
        for mention in kept:
            previous = merged[-1] if merged else None
            if previous is not None and TOTAL not in previous.entities and TOTAL not in mention.entities:
                gap = text[previous.end : mention.start]
                if _SLICE_GAP.fullmatch(gap):
                    # A slice already merged extends by one more name: Germany × Android × email.
                    components = {key: parts for parts, key in self.slices.items()}
                    pairs = [
                        self.slices.get(components.get(a, frozenset([a])) | {b})
                        for a in previous.entities
                        for b in mention.entities
                    ]
                    found = [p for p in pairs if p]
                    if found:
                        merged[-1] = _Mentioned(previous.start, mention.end, frozenset(found))
                        continue
            merged.append(mention)
        return merged


# ---- claims ---------------------------------------------------------------------------------------------------


@dataclass
class Claim:
    """One number of the answer, bound to what it says, with the verdict."""

    text: str  # the number as written
    value: float
    clause: str
    entity: str | None  # how people name it: "France", "the total", "Germany × Android"; None when unbound
    entity_key: str | None  # "country=France", "total", ...
    kind: str | None  # the kind it was checked as (the one that matched, else the likeliest)
    verdict: str
    expected: str | None  # the engine's figure of that entity and kind, as people read it
    matched: str | None  # where the figure it matched sits in the analysis
    reason: str
    span: list[int] | None = None  # [start, end] in the answer text, when the answer is text
    path: str | None = None  # for a structured answer: where the number sits
    kinds: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return self.verdict in FLAGGED

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind_label"] = KIND_LABELS.get(self.kind or "", self.kind)
        return data


# "Germany × Android", "Germany/Android", "Android in Germany", "Android users in Germany"
_SLICE_GAP = re.compile(
    r"[\s*]*(?:×|x|\*|&|/|,|-|–|\+|and|in|on|via|for|with|(?:[\w-]+\s+){1,2}(?:in|on|from|of|for))?[\s*]*"
)
_ABBREVIATION = re.compile(r"(?:\b(?:i\.e|e\.g|vs|approx|ca|cf|etc|incl|resp)\.|\b[A-Z]\.)$", re.I)
_CLAUSE_BREAK = re.compile(
    r"\n|;|(?<=[.!?])\s|(?<=\s)(?=(?:while|whereas|but|although|though)\b)", re.IGNORECASE
)
_CONTINUES = re.compile(
    r"\s*(?:but|although|though|and|yet)\b", re.I
)  # a clause going on about the same entity
# Segment names that are also common English words: in prose they name the segment only when marked as a name.
_FUNCTION_WORDS = frozenset(
    "a an and as at be by do for i if in is it no of on or so the to up us we".split()
)
_PRONOUN = re.compile(r"\b(?:it|its|it's|this|that|they|their|which)\b", re.IGNORECASE)
_DOWN = (
    r"fell|fall|falls|falling|dropped|drop|drops|dropping|declined|decline|declines|declining|decreased|"
    r"decrease|decreases|down|lost|loses|shrank|shrunk|shrinks|contracted|slipped|slid|sank|plunged|"
    r"plummeted|tumbled|lower|slumped|dipped|dip"
)
_UP = (
    r"rose|rise|rises|rising|grew|grow|grows|growing|growth|increased|increase|increases|up|gained|gain|gains|"
    r"climbed|jumped|jump|surged|higher|improved|added|expanded"
)
_FLAT = r"did not change|didn't change|unchanged|flat|held|steady|stable|no change|no net change"
# Direction words that are also nouns: after an article they name a movement ("offset the decline"), not a claim.
_NOUNS = {
    "drop",
    "drops",
    "decline",
    "declines",
    "decrease",
    "decreases",
    "fall",
    "falls",
    "increase",
    "increases",
    "rise",
    "rises",
    "growth",
    "gain",
    "gains",
    "dip",
    "jump",
    "loss",
}
_DIRECTION = re.compile(rf"\b(?:(?P<flat>{_FLAT})|(?P<down>{_DOWN})|(?P<up>{_UP}))\b", re.IGNORECASE)
_SHARE_NOUN = (
    r"change|changes|drop|decline|decrease|fall|loss|losses|increase|rise|growth|gain|gains|movement|move|"
    r"moves|swing|shift|difference|delta|gap|shortfall|uplift|improvement|downturn"
)
_SHARE_AFTER = re.compile(
    rf"^[\s)*]*(?:of|in)\s+(?:the\s+|this\s+|that\s+|its\s+)?(?:[\w/]+\s+){{0,2}}?(?:{_SHARE_NOUN})\b", re.I
)
_GROSS_AFTER = re.compile(r"^[\s)*]*of\s+(?:all\s+|the\s+)?(?:gross\s+)?(?:movement|gross|moves)\b", re.I)
_PARENT_AFTER = re.compile(r"^[\s)*]*of\s+(?:its|the)\s+parent", re.I)
_SHARE_BEFORE_AFTER = re.compile(
    r"^[\s)*]*of\s+(?:the\s+)?(?:total\s+|overall\s+)?(?:[\w/]+\s+){0,2}?(before|after)\b", re.I
)
# "its share of revenue", "share of the total": a share of the metric's total (before, or after in a pair's second)
_SHARE_OF_TOTAL = re.compile(
    r"\bshare\s+of\s+(?:the\s+)?(?:total\s+|overall\s+)?[\w/]+(?:\s+(?:is|was|at|stood\s+at|from|went\s+from))?\s*$",
    re.I,
)
_SHARE_CUE_BEFORE = re.compile(
    r"\b(?:drove|drives|driving|drive|accounts?\s+for|accounted\s+for|accounting\s+for|explains?|explained|"
    r"explaining|contribut\w*(?:\s+to)?|responsible\s+for|behind|makes?\s+up|made\s+up|share\s+of\s+the\s+\w+)\b",
    re.I,
)
_P_VALUE = re.compile(r"\bp(?:-value)?\s*(?:=|:|of|is)?\s*$", re.I)
# "p < 0.05", "within ±1%", "less than 2%": thresholds and bounds, not figures of the data.
_THRESHOLD = re.compile(
    r"(?:\bp(?:-value)?\s*(?:<|>|≤|≥|<=|>=)|±|\b(?:within|under|below|above|over|less\s+than|more\s+than|"
    r"at\s+least|at\s+most|up\s+to)\s*[±]?)\s*$",
    re.I,
)
# "conversion" (a rate), not "conversions" or "converted_users" (counts whose % change is no rate)
_RATE_CUE = re.compile(
    r"\brate\b(?!\s+effect)|\bconversion\b(?!s)(?!_)|\bconvert(?:s|ed|ing)?\s+at\b|\bat\s+a\s+rate\b", re.I
)
_AFTER_LEVEL = re.compile(r"^[\s)*]*(?:after|now|currently)\b", re.I)
_BEFORE_LEVEL = re.compile(r"^[\s)*]*(?:before|previously|earlier)\b", re.I)
_TO_END = re.compile(r"\b(?:to|reached|reaching|now|after)\s*\**$", re.I)
_FROM_END = re.compile(r"\b(?:from|was|before|previously)\s*\**$", re.I)
_BY_END = re.compile(r"\bby\s*(?:about|around|roughly|some)?\s*\**$", re.I)
_PAIR_GAP = re.compile(r"[\s*)]*(?:->|→|⟶|=>|to)[\s*(]*", re.I)
_DIRECTION_NOUN_AFTER = re.compile(
    r"^[\s*)]*(?:(?P<down>drop|decline|fall|decrease|loss|dip|lower|down)|"
    r"(?P<up>increase|rise|gain|growth|jump|higher|up|uplift))\b",
    re.I,
)
_EFFECT = re.compile(r"\b(rate|mix)\s+effects?\b", re.I)


def _clauses(text: str) -> list[tuple[int, int]]:
    """(start, end) of each clause: lines, sentences, `;` and "while / but ..." split; "i.e. 5%" does not."""
    bounds, start = [], 0
    for match in _CLAUSE_BREAK.finditer(text):
        if match.group(0) in (" ", "\t") and _ABBREVIATION.search(
            text[max(0, match.start() - 8) : match.start()]
        ):
            continue  # "i.e. 97.21%" stays in its clause
        if match.start() > start:
            bounds.append((start, match.start()))
        start = match.end() if match.group(0) else match.start()
    if start < len(text):
        bounds.append((start, len(text)))
    return bounds


def _directions(clause: str) -> list[tuple[int, int]]:
    """(position, -1/0/+1) of each direction word. Nouns are not directions: "of the drop" is a share cue, and
    "offset the decline" names the total's movement, not this number's."""
    found = []
    for match in _DIRECTION.finditer(clause):
        preceding = clause[max(0, match.start() - 24) : match.start()]
        noun = match.group(0).lower() in _NOUNS
        if noun and re.search(r"\b(?:of|the|this|that|its|their|a|an)\s+(?:[\w/-]+\s+)?$", preceding, re.I):
            continue
        found.append((match.start(), 0 if match["flat"] else -1 if match["down"] else 1))
    return found


@dataclass
class _Number:
    """A number in its clause, with what its words say about it."""

    mention: Mention
    kinds: list[str]
    direction: int | None  # the direction its words claim (-1/0/+1), None when they say none
    entities: frozenset[str] | None = None
    metric: str | None = None
    pair: tuple[int, Mention] | None = None  # for the second of "from X to Y": (direction claimed, X)


class _Binder:
    """Turns text into bound numbers, clause by clause."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon

    def numbers(self, text: str) -> tuple[list[tuple[_Number, str]], list[str]]:
        """Each number of the text that is a claim, bound, with its clause; and the numbers skipped."""
        lexicon = self.lexicon
        mentions = lexicon.mentions(text)
        numbers = extract_numbers(text, lexicon.ignore)
        bound: list[tuple[_Number, str]] = []
        skipped: list[str] = []
        carried: _Mentioned | None = None
        columns = _table_headers(text)
        for start, end in _clauses(text):
            clause = text[start:end]
            in_clause = [m for m in mentions if start <= m.start < end]
            # A bare metric word after a segment ("France – revenue dropped") speaks of that segment.
            in_clause = [
                m
                for i, m in enumerate(in_clause)
                if m.explicit or not any(TOTAL not in e.entities for e in in_clause[:i])
            ]
            here = [n for n in numbers if start <= n.start < end]
            directions = [(start + p, d) for p, d in _directions(clause)]
            # "France and UK fell 55.19% and 0.91% respectively": the numbers go to the names in order.
            named_first = [m for m in in_clause if here and m.end <= here[0].start]
            respectively = len(named_first) >= 2 and re.search(r"\brespectively\b", clause, re.I)
            previous_end = start
            pair_first: _Number | None = None
            for index, mention in enumerate(here):
                before = text[max(previous_end, mention.start - 60) : mention.start]
                following = here[index + 1].start if index + 1 < len(here) else end
                after = text[mention.end : min(following, mention.end + 60)]
                previous_end = mention.end
                if (
                    mention.plain_small_int
                    or (mention.unit != "%" and _looks_like_year(mention))
                    or _THRESHOLD.search(before)
                    or (lexicon.counted.match(after) and _is_count(mention))
                    or _is_date_part(mention, text[max(0, mention.start - 24) : mention.start], after)
                ):
                    skipped.append(mention.text)
                    pair_first = None
                    continue
                gap = text[mention.end : here[index + 1].start] if index + 1 < len(here) else ""
                # "from X to Y" or "X -> Y": a before/after pair ("fell 7.7% to 1.6M" is not one).
                is_pair_start = bool(_PAIR_GAP.fullmatch(gap)) and (
                    not re.search(r"\bto\b", gap, re.I) or bool(re.search(r"\bfrom\s*\**$", before, re.I))
                )
                number = self._number(
                    text, start, mention, before, after, in_clause, directions, pair_first, is_pair_start
                )
                column = columns.get(start)
                if column is not None:  # a Markdown table row: the column's header names the kind
                    kinds = _column_kinds(column, text[start : mention.start].count("|") - 1)
                    percent_kinds = {k for k in kinds if UNITS.get(k) == "%"}
                    if kinds and (mention.unit == "%") == bool(percent_kinds) and (mention.unit in ("", "%")):
                        number.kinds = kinds
                # The entity: the nearest name before the number in its clause, else the first after it, else "it".
                earlier = [m for m in in_clause if m.end <= mention.start]
                later = [m for m in in_clause if m.start >= mention.end]
                chosen = earlier[-1] if earlier else None
                if respectively:
                    chosen = named_first[index % len(named_first)]
                if (
                    chosen is None
                    and carried is not None
                    and (_PRONOUN.search(text[start : mention.start]) or _CONTINUES.match(clause))
                ):
                    # "It drove 99.95% of the drop", "This is mostly a mix effect (-0.70 pp)", "... but 99.95% of
                    # the change". With a name after the number too ("Nearly all of it (97.21%) comes from
                    # Germany × Android") either may be meant: both are candidates.
                    chosen = carried
                    if later:
                        chosen = _Mentioned(carried.start, carried.end, carried.entities | later[0].entities)
                if chosen is None and later:
                    chosen = later[0]
                if (
                    chosen is None
                    and set(number.kinds) <= {"rate_effect", "mix_effect", "rate_share", "mix_share"}
                    and lexicon.ratio_metric
                ):
                    chosen = _Mentioned(
                        mention.start, mention.start, frozenset([TOTAL]), lexicon.ratio_metric
                    )
                if chosen is not None:
                    number.entities, number.metric = chosen.entities, chosen.metric
                pair_first = number if is_pair_start else None
                bound.append((number, clause))
            if in_clause:
                carried = in_clause[-1]
        return bound, skipped

    def _number(
        self,
        text: str,
        clause_start: int,
        mention: Mention,
        before: str,
        after: str,
        in_clause: list[_Mentioned],
        directions: list[tuple[int, int]],
        pair_first: _Number | None,
        is_pair_start: bool,
    ) -> _Number:
        """The kinds a number can be, from its unit and the words around it (`before` / `after`: the text since
        the previous number and up to the next one), and the direction its words claim."""
        lexicon = self.lexicon
        clause_before = text[clause_start : mention.start]
        # The direction its words claim: the last direction word since the entity named before it, or a noun after.
        anchor = max([m.start for m in in_clause if m.end <= mention.start] or [clause_start])
        words = [d for p, d in directions if anchor <= p < mention.start]
        direction = words[-1] if words else None
        noun = _DIRECTION_NOUN_AFTER.match(after)
        if direction is None and noun:
            direction = -1 if noun["down"] else 1
        effects = _EFFECT.findall(clause_before)
        effect = effects[-1].lower() if effects else None
        weight_cue = lexicon.denominator and re.search(
            rf"\b(?:share|weight)\s+of\s+(?:the\s+)?(?:{re.escape(lexicon.denominator)}|traffic|denominator)\b|\bweight\b",
            before,
            re.I,
        )
        if pair_first is not None:
            kinds = [k.replace("before", "after") for k in pair_first.kinds]
            number = _Number(mention, kinds or ["after"], None)
            claimed = pair_first.direction
            number.pair = (claimed, pair_first.mention) if claimed not in (None, 0) else None
            return number
        unit = mention.unit
        is_pair = is_pair_start or bool(re.search(r"\bfrom\s*\**$", before, re.I))
        if unit == "pp":
            near = _EFFECT.search(before) or _EFFECT.match(after.strip(" ()*of"))
            kind = f"{near.group(1).lower()}_effect" if near else None
            kinds = [kind] if kind else ["rate_change", "total_effect"]
        elif unit == "x":
            kinds = ["impact_norm"]
        elif _P_VALUE.search(before):
            kinds = ["p_value"]
        elif unit == "%":
            if _GROSS_AFTER.match(after):
                kinds = ["share_of_gross"]
            elif _PARENT_AFTER.match(after):
                kinds = ["share_of_parent"]
            elif period := _SHARE_BEFORE_AFTER.match(after):
                kinds = [f"share_{period.group(1).lower()}"]
            elif _SHARE_AFTER.match(after) or _SHARE_CUE_BEFORE.search(before):
                kinds = [f"{effect}_share"] if effect else ["share_of_change"]
            elif share_word := re.search(
                r"(?:\b(?:all|mostly|entirely|purely|largely)\s+(rate)|\b(mix)|\b(rate|mix)\s+effects?)\W*$",
                before,
                re.I,
            ):
                # "all mix (100.00%)", "due to a rate effect (100%)"
                kinds = [
                    f"{(share_word.group(1) or share_word.group(2) or share_word.group(3)).lower()}_share"
                ]
            elif not weight_cue and _SHARE_OF_TOTAL.search(before):
                kinds = ["share_before"] if is_pair else ["share_before", "share_after"]
            elif weight_cue:
                kinds = ["weight_before", "weight_after"] if not is_pair else ["weight_before"]
            elif _RATE_CUE.search(before):
                kinds = ["rate_before"] if is_pair else ["rate_before", "rate_after"]
                if _BEFORE_LEVEL.match(after) or _AFTER_LEVEL.match(after):  # "at a rate of 4.82% before"
                    kinds = ["rate_before"] if _BEFORE_LEVEL.match(after) else ["rate_after"]
            elif is_pair:
                kinds = ["rate_before", "weight_before", "share_before"]
            elif direction is not None or mention.sign:
                kinds = ["pct_change"]
            else:
                kinds = [
                    "pct_change",
                    "rate_before",
                    "rate_after",
                    "share_before",
                    "rate_share",
                    "mix_share",
                    "share_of_change",
                ]
        elif is_pair or _FROM_END.search(before) or _BEFORE_LEVEL.match(after):
            kinds = ["before"]
        elif _TO_END.search(before) or _AFTER_LEVEL.match(after):
            kinds = ["after"]
        elif direction == 0 or re.search(r"\bat\s*\**$", before, re.I):  # "flat at 400,000", "unchanged at"
            kinds = ["after", "before", "abs_change"]
        elif mention.sign or direction is not None or _BY_END.search(before) or noun:
            kinds = ["abs_change"]
        else:
            kinds = ["before", "after", "abs_change"]
        return _Number(mention, kinds, direction)


# ---- verdicts -------------------------------------------------------------------------------------------------


def _shown(value: float, kind: str) -> str:
    return Fact("", "", "", kind, value, 0, "").shown()


def _whose(lexicon: Lexicon, fact: Fact) -> str:
    label = lexicon.label(fact.entity)
    if fact.entity == TOTAL and fact.metric not in (lexicon.metric, ""):
        label = f"the total {fact.metric}"
    return label if label.startswith("the ") else f"{label}'s"


def _possessive(label: str) -> str:
    return f"{label}'s" if not label.startswith("the ") else label + "'s"


def judge(number: _Number, lexicon: Lexicon) -> tuple[str, Fact | None, Fact | None, str, str | None]:
    """(verdict, fact matched, expected fact, reason, kind) for one bound number."""
    mention, kinds = number.mention, number.kinds
    near = lexicon.near(mention.value, mention.tolerance)
    written = mention.text
    if number.entities is None:
        fitting = [f for f in near if f.kind in kinds] or near
        if fitting:
            best = min(fitting, key=lambda f: abs(abs(f.value) - abs(mention.value)))
            return (
                "unbound",
                best,
                None,
                f"no entity named; {written} equals {_whose(lexicon, best)} "
                f"{KIND_LABELS[best.kind]} (weak pass)",
                best.kind,
            )
        return "unsupported", None, None, f"{written} matches no engine figure", kinds[0]

    entities = number.entities  # named for the closure below, which does not see the check above

    def ours(fact: Fact) -> bool:
        if fact.entity not in entities:
            return False
        if fact.entity == TOTAL and number.metric is not None:
            return fact.metric == number.metric
        if fact.entity == TOTAL:  # "total" / "overall": the metric's total or the ratio itself
            return fact.metric in (lexicon.metric, lexicon.ratio_metric)
        return True

    entity_label = " / ".join(sorted(lexicon.label(e) for e in number.entities))
    own_facts = [f for e in number.entities for f in lexicon.by_entity.get(e, []) if ours(f)]
    expected = next((f for k in kinds for f in own_facts if f.kind == k), None)
    own = [f for f in near if ours(f) and f.kind in kinds]
    if own:
        fact = min(own, key=lambda f: (kinds.index(f.kind), abs(abs(f.value) - abs(mention.value))))
        claimed = _claimed_sign(number, fact)
        if (
            claimed is not None
            and fact.sign != 0
            and abs(fact.value) > mention.tolerance
            and claimed != fact.sign
        ):
            way = "up" if fact.sign > 0 else "down"
            return (
                "wrong_direction",
                None,
                fact,
                f"{_possessive(entity_label)} {KIND_LABELS[fact.kind]} is {fact.shown()}: it went {way}",
                fact.kind,
            )
        word = number.direction
        if fact.kind in CHANGE_KINDS and mention.sign and word in (-1, 1) and word != mention.sign:
            # "West rose by the same amount (-41.67%)": the words and the sign disagree.
            return (
                "wrong_direction",
                None,
                fact,
                f"the words say {'up' if word > 0 else 'down'} but {written} "
                f"is {'up' if mention.sign > 0 else 'down'}",
                fact.kind,
            )
        if number.pair is not None:
            claimed_pair, first = number.pair
            went = (mention.value > first.value) - (mention.value < first.value)
            if went and claimed_pair != went:
                return (
                    "wrong_direction",
                    None,
                    fact,
                    f"from {first.text} to {written} is {'up' if went > 0 else 'down'}",
                    fact.kind,
                )
        if fact.kind in ("after", "rate_after") and number.direction in (-1, 1):
            # "rose to 1,599,065.55": the level is right, but did it rise?
            change_kind = "abs_change" if fact.kind == "after" else "rate_change"
            change = next((f for f in own_facts if f.kind == change_kind and f.metric == fact.metric), None)
            if change is not None and change.sign not in (0, number.direction):
                return (
                    "wrong_direction",
                    None,
                    fact,
                    f"{_possessive(entity_label)} {KIND_LABELS[change_kind]} is "
                    f"{change.shown()}: it went {'up' if change.sign > 0 else 'down'}",
                    fact.kind,
                )
        return "verified", fact, fact, f"{_possessive(entity_label)} {KIND_LABELS[fact.kind]}", fact.kind
    theirs = [f for f in near if f.kind in kinds and not ours(f)]
    if theirs:
        fact = min(theirs, key=lambda f: (kinds.index(f.kind), abs(abs(f.value) - abs(mention.value))))
        right = f" ({_possessive(entity_label)} is {expected.shown()})" if expected else ""
        return (
            "misattributed",
            fact,
            expected,
            f"{written} is {_whose(lexicon, fact)} {KIND_LABELS[fact.kind]}, "
            f"not {_possessive(entity_label)}{right}",
            fact.kind,
        )
    other_kind = [f for f in near if ours(f)]
    if other_kind:
        fact = other_kind[0]
        wanted = KIND_LABELS[kinds[0]]
        right = f" ({wanted}: {expected.shown()})" if expected else ""
        return (
            "wrong_kind",
            fact,
            expected,
            f"{written} is {_possessive(entity_label)} {KIND_LABELS[fact.kind]}, not its {wanted}{right}",
            fact.kind,
        )
    right = (
        f"; {_possessive(entity_label)} {KIND_LABELS[expected.kind]} is {expected.shown()}"
        if expected
        else ""
    )
    return "unsupported", None, expected, f"{written} matches no figure of {entity_label}{right}", kinds[0]


def _claimed_sign(number: _Number, fact: Fact) -> int | None:
    """The sign the words claim for this figure: the written sign, else (for a change) the direction word."""
    if number.mention.sign:
        return number.mention.sign
    if fact.kind in CHANGE_KINDS and number.direction is not None:
        return number.direction
    return None


# ---- structured answers ---------------------------------------------------------------------------------------

_KEY_KINDS = [
    (r"p[_\s-]?value", ["p_value"]),
    (r"rate[_\s]?effect", ["rate_effect"]),
    (r"mix[_\s]?effect", ["mix_effect"]),
    (r"rate[_\s]?share", ["rate_share"]),
    (r"mix[_\s]?share", ["mix_share"]),
    (r"rate[_\s]?change", ["rate_change"]),
    (r"rate[_\s]?before", ["rate_before"]),
    (r"rate[_\s]?after", ["rate_after"]),
    (r"weight[_\s]?before", ["weight_before"]),
    (r"weight[_\s]?after", ["weight_after"]),
    (r"share[_\s]?before|share[_\s]?of[_\s]?total", ["share_before"]),
    (r"share[_\s]?after", ["share_after"]),
    (r"gross", ["share_of_gross"]),
    (r"contribution|share|driv", ["share_of_change"]),
    (r"impact", ["impact_norm"]),
    (r"pct|percent|growth|%|rate", ["pct_change"]),
    (r"abs|change|delta|diff|drop|increase|decline", ["abs_change"]),
    (r"before|prev|old|start|from|base", ["before"]),
    (r"after|curr|new|end|now|to\b", ["after"]),
]


def _table_headers(text: str) -> dict[int, list[str]]:
    """For each row of a Markdown table (by its line's start): the header cells of its table."""
    rows: dict[int, list[str]] = {}
    lines, position, header = text.split("\n"), 0, None
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("|"):
            following = lines[index + 1].strip() if index + 1 < len(lines) else ""
            if header is None and re.fullmatch(r"\|?[\s:|-]+\|?", following) and "-" in following:
                header = [cell.strip() for cell in stripped.strip("|").split("|")]
            elif header is not None:
                rows[position] = header
        else:
            header = None
        position += len(line) + 1
    return rows


def _column_kinds(header: list[str], index: int) -> list[str]:
    """The kinds a column's header names, or [] when it names none ("Country", "Notes")."""
    if not 0 <= index < len(header):
        return []
    name = header[index]
    for pattern, kinds in _KEY_KINDS:
        if re.search(pattern, name, re.I):
            return kinds
    return []


def _key_kinds(key: str) -> list[str]:
    for pattern, kinds in _KEY_KINDS:
        if re.search(pattern, key, re.I):
            return kinds
    return ["abs_change", "pct_change", "before", "after", "share_of_change"]


def _structured_numbers(answer: Any, lexicon: Lexicon) -> tuple[list[str], list[tuple[str, float, _Number]]]:
    """Strings to read as prose, and the bare numbers bound by their keys."""
    texts: list[str] = []
    numbers: list[tuple[str, float, _Number]] = []

    def entity_of(names: list[str]) -> tuple[frozenset[str] | None, str | None]:
        found: list[frozenset[str]] = []
        metric = None
        for name in names:
            if name in lexicon.names:
                found.append(frozenset(lexicon.names[name]))
            elif name.lower() in lexicon.total_words or name.lower().startswith(("total", "overall")):
                found.append(frozenset([TOTAL]))
                metric = lexicon.total_words.get(name.lower())
        if len(found) >= 2 and TOTAL not in found[-1] and TOTAL not in found[-2]:
            pairs = [lexicon.slices.get(frozenset([a, b])) for a in found[-2] for b in found[-1]]
            if any(pairs):
                return frozenset(p for p in pairs if p), None
        return (found[-1], metric) if found else (None, None)

    def walk(value: Any, path: str, keys: list[str], context: list[str]) -> None:
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, bool) or value is None:
            return
        elif isinstance(value, (int, float)):
            if not math.isfinite(value):
                return
            entities, metric = entity_of(context + keys)
            key = keys[-1] if keys else ""
            kinds = _key_kinds(key) if key not in lexicon.names else _key_kinds("")
            text = f"{path}={value!r}"
            mention = Mention(
                text,
                float(value),
                _structured_tolerance(float(value)),
                False,
                False,
                sign=(value > 0) - (value < 0),
            )
            number = _Number(mention, kinds, None, entities, metric)
            numbers.append((path, float(value), number))
        elif isinstance(value, dict):
            names = [str(v) for v in value.values() if isinstance(v, str) and (v in lexicon.names)]
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else str(k), [*keys, str(k)], context + names)
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]", keys, context)
        else:
            texts.append(str(value))

    walk(answer, "", [], [])
    return texts, numbers


def _structured_tolerance(value: float) -> float:
    """Tolerance for a number given as a number: the rounding its shortest decimal form implies (at least 2 dp)."""
    text = repr(value)
    decimals = len(text.split(".", 1)[1]) if "." in text and "e" not in text else 0
    return 0.5 * 10.0 ** (-min(max(decimals, 0), 9)) + 1e-9 * abs(value)


# ---- the whole check ------------------------------------------------------------------------------------------


def verify(
    answer: Any, analysis: Analysis | dict[str, Any], lexicon: Lexicon | None = None
) -> dict[str, Any]:
    """Checks every claim of the answer against the analysis.

    Returns:
        claims: one dict per number (`Claim.to_dict`: text, value, clause, entity, kind, verdict, expected,
        matched, reason, span); checked: the same list (the older name); mismatches: the flagged claims;
        skipped: numbers not treated as claims (small counts, years, thresholds); counts: claims per verdict;
        coverage: whether the answer states the total change and names the top driver.
    """
    lexicon = lexicon or Lexicon(analysis)
    binder = _Binder(lexicon)
    claims: list[Claim] = []
    skipped: list[str] = []
    structured: list[tuple[str, float, _Number]]
    narrative: str | None
    if isinstance(answer, str):
        texts, structured, narrative = [answer], [], answer
    else:
        texts, structured = _structured_numbers(answer, lexicon)
        # A dict's summary field is the narrative the page shows: its claims get spans to mark.
        fields = (
            [answer.get(k) for k in ("narrative", "summary", "answer", "text")]
            if isinstance(answer, dict)
            else []
        )
        narrative = next((f for f in fields if isinstance(f, str)), None)
    for text in texts:
        bound, passed = binder.numbers(text)
        skipped += passed
        for number, clause in bound:
            claims.append(
                _claim(
                    number,
                    lexicon,
                    clause.strip(),
                    [number.mention.start, number.mention.end] if text is narrative else None,
                )
            )
    for path, _value, number in structured:
        claims.append(_claim(number, lexicon, number.mention.text, None, path))
    result_claims = [c.to_dict() for c in claims]
    all_text = "\n".join(texts)
    summary = coverage(claims, all_text, lexicon)
    change_log = analysis.get("change_log") if isinstance(analysis, dict) else None
    if change_log:  # cited events checked against the change log (tools.change_log)
        cited, notes = check_citations(narrative if isinstance(narrative, str) else all_text, change_log)
        result_claims = result_claims + cited
        summary["notes"] = summary["notes"] + notes
        summary["events"] = {
            "cited": len(cited),
            "verified": sum(c["verdict"] == "verified" for c in cited),
            "no_known_event": not notes,
        }
    counts = {verdict: sum(c["verdict"] == verdict for c in result_claims) for verdict in VERDICTS}
    return {
        "claims": result_claims,
        "checked": result_claims,
        "mismatches": [c for c in result_claims if c["verdict"] in FLAGGED],
        "skipped": skipped,
        "counts": counts,
        "coverage": summary,
    }


@dataclass(frozen=True)
class Tally:
    """How a verification came out, counted once for every place that shows it (history, reports, the page, the
    agent comparison).

    Attributes:
        checked: Every claim checked.
        mismatched: The flagged ones (misattributed, wrong direction or kind, unsupported).
        weak: Unbound claims: no entity named, matched some engine figure (a weak pass).
    """

    checked: int
    mismatched: int
    weak: int

    @property
    def passed(self) -> int:
        """Claims not flagged: checked − mismatched (weak passes included)."""
        return self.checked - self.mismatched

    @property
    def verified(self) -> int:
        """Claims bound to their entity and verified: passed − weak."""
        return self.passed - self.weak


def tally(verification: dict[str, Any] | None) -> Tally:
    """The counts of a `verify` result (or of one stored by an older version, with only checked and mismatches)."""
    verification = verification or {}
    claims = verification.get("claims") or []
    return Tally(
        checked=len(verification.get("checked") or []),
        mismatched=len(verification.get("mismatches") or []),
        weak=sum(claim.get("verdict") == "unbound" for claim in claims),
    )


def _claim(
    number: _Number, lexicon: Lexicon, clause: str, span: list[int] | None, path: str | None = None
) -> Claim:
    verdict, matched, expected, reason, kind = judge(number, lexicon)
    entities = number.entities
    entity_key = None if entities is None else sorted(entities)[0]
    label = None if entities is None else " / ".join(sorted(lexicon.label(e) for e in entities))
    if entities == frozenset([TOTAL]) and number.metric and number.metric != lexicon.metric:
        label = f"the total {number.metric}"
    return Claim(
        text=number.mention.text,
        value=number.mention.value,
        clause=clause,
        entity=label,
        entity_key=entity_key,
        kind=kind,
        verdict=verdict,
        expected=expected.shown() if expected else None,
        matched=matched.source if matched else None,
        reason=reason,
        span=span,
        path=path,
        kinds=list(number.kinds),
    )


def coverage(claims: list[Claim], text: str, lexicon: Lexicon) -> dict[str, Any]:
    """Whether the answer states the total change and names the top driver, with a sentence for each gap."""
    analysis = lexicon.analysis
    totals = analysis.get("totals") or {}
    total_kinds = {"abs_change", "pct_change", "rate_change", "rate_before", "rate_after", "before", "after"}
    stated = any(c.entity_key == TOTAL and c.verdict == "verified" and c.kind in total_kinds for c in claims)
    if not stated and not totals.get("abs_change") and re.search(_FLAT, text, re.I):
        stated = True  # a flat total is stated in words ("did not change")
    drivers = [row.get("segment") for row in (analysis.get("top_slices") or [])[:1]]
    ratio = analysis.get("ratio") or {}
    if ratio and ratio.get("by_segment"):
        drivers.append(str(ratio["by_segment"][0].get(ratio["dimension"])))
    drivers = [str(d) for d in drivers if d]

    def named(driver: str) -> bool:
        parts = [p.strip() for p in driver.split("×")]
        return all(p and p in text for p in parts)

    top = next((d for d in drivers if named(d)), None)
    notes = []
    if not stated:
        notes.append("The summary does not state the total change.")
    if drivers and top is None:
        notes.append(f"The summary does not name the top driver ({drivers[0]}).")
    return {
        "total_change": stated,
        "top_driver": top is not None or not drivers,
        "top_driver_label": drivers[0] if drivers else None,
        "notes": notes,
    }


def _is_count(mention: Mention) -> bool:
    """A whole number written without unit, currency or sign: a count when a noun such as "segments" follows."""
    return mention.unit == "" and not mention.sign and "." not in mention.text and mention.text[:1].isdigit()


_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE_BEFORE = re.compile(
    rf"(?:\b{_MONTH}\s*(?:\d{{1,2}}\s*[–-]\s*)?|\bweeks?\s*(?:\d{{1,2}}\s*[–-]\s*)?|\bwk|\bday|\bq)\s*$", re.I
)
_DATE_AFTER = re.compile(rf"^(?:st|nd|rd|th)?\s*{_MONTH}\b|^[–-]\d{{1,2}}\s*{_MONTH}\b", re.I)


def _is_date_part(mention: Mention, before: str, after: str) -> bool:
    """A day or week number of a date ("26 Oct", "Nov 17–18", "week 43", "Q3"): not a claim about the data."""
    if not (mention.text.isdigit() and 1 <= mention.value <= 53):
        return False
    return bool(_DATE_BEFORE.search(before) or _DATE_AFTER.search(after))


def _looks_like_year(mention: Mention) -> bool:
    return mention.text.isdigit() and 1900 <= mention.value <= 2100


# ---- the final-answer check: the model gets one chance to fix what is wrong ----------------------------------


def correction_message(result: dict[str, Any], limit: int = 8) -> str:
    """What the model is told when its answer has flagged claims: each claim and the engine's right figure."""
    flagged = result["mismatches"]
    lines = [f"{len(flagged)} claim(s) in your answer do not match the engine:"]
    for claim in flagged[:limit]:
        where = claim["clause"] if len(claim["clause"]) <= 160 else claim["clause"][:157] + "..."
        lines.append(f'- "{where}": {VERDICT_LABELS[claim["verdict"]]}: {claim["reason"]}.')
    lines.append(
        "Correct these numbers from the computed variables (say whose figure each one is) and call "
        "final_answer again with the whole corrected summary."
    )
    return "\n".join(lines)


class ClaimCheck:
    """A smolagents `final_answer_checks` entry: rejects an answer with flagged claims `chances` times, naming each
    claim and the right figure; after that the answer is accepted and its flags are shown to the reader.

    The lexicon (fact table and names) is built on the first check, not when the run starts: for 10,000 segments
    it takes 0.2 s, which would otherwise delay the first step.
    """

    __name__ = "claims_match_the_engine"  # smolagents names the check by it in the error the model reads

    def __init__(self, analysis: Analysis | dict[str, Any], chances: int = 1) -> None:
        self.analysis = analysis
        self.chances = chances
        self.rejected = 0
        self._lexicon: Lexicon | None = None

    @property
    def lexicon(self) -> Lexicon:
        if self._lexicon is None:
            self._lexicon = Lexicon(self.analysis)
        return self._lexicon

    def __call__(self, final_answer: Any, memory: Any = None, agent: Any = None) -> bool:
        value = final_answer
        if not isinstance(value, str):
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                value = str(value)
        result = verify(value, self.analysis, self.lexicon)
        if not result["mismatches"] or self.rejected >= self.chances:
            return True
        self.rejected += 1
        raise ValueError(correction_message(result))


def final_answer_check(analysis: Analysis | dict[str, Any], chances: int = 1) -> ClaimCheck:
    """The claim check for one run (see `ClaimCheck`)."""
    return ClaimCheck(analysis, chances)
