"""Checks every number in the agent's answer against the engine's figures, within the rounding it was written with.

A number written as `99.95%` matches an engine value in [99.945, 99.955]; `-132.9k` matches within 50. Signs are
compared loosely ("fell 7.67%" writes -7.67 without its sign). Numbers that are not claims about the data (small
counts such as "top 3", years, digits inside segment names) are skipped, and the result says so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Keys whose values are fractions shown as percentages in prose (rates, weights, rate/mix effects).
_FRACTION_KEYS = {
    "before", "after", "change", "rate_effect", "mix_effect", "rate_before", "rate_after", "rate_change",
    "weight_before", "weight_after", "total_effect",
}  # fmt: skip
_SKIP_KEYS = {"slice", "label", "segment", "replaces", "depth", "significant", "counts"}
_MULTIPLIERS = {"k": 1e3, "K": 1e3, "thousand": 1e3, "m": 1e6, "M": 1e6, "mn": 1e6, "million": 1e6,
                "bn": 1e9, "B": 1e9, "billion": 1e9}  # fmt: skip
_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>[-+−]?)\s?(?P<currency>[$€£¥])?\s?"
    r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d+)?"
    r"(?:\s?(?P<unit>%|pp|p\.p\.|x|×|k|K|M|mn|bn|B|thousand|million|billion)(?![A-Za-z]))?"
    r"(?![\w])"
)


@dataclass
class Mention:
    """A number as written in the answer."""

    text: str
    value: float
    tolerance: float
    percent: bool
    plain_small_int: bool


def extract_numbers(text: str, ignore: Iterable[str] = ()) -> list[Mention]:
    """Finds the numbers in prose, skipping those inside the given strings (segment names, column names)."""
    masked = text
    for phrase in sorted({p for p in ignore if p and any(ch.isdigit() for ch in p)}, key=len, reverse=True):
        masked = masked.replace(phrase, " " * len(phrase))
    mentions = []
    for match in _NUMBER.finditer(masked):
        integer, fraction, unit = match["int"], match["frac"] or "", match["unit"] or ""
        decimals = len(fraction) - 1 if fraction else 0
        value = float(integer.replace(",", "") + fraction)
        multiplier = _MULTIPLIERS.get(unit, 1.0)
        if match["sign"] in ("-", "−"):
            value = -value
        percent = unit in ("%", "pp", "p.p.")
        tolerance = 0.5 * 10.0 ** (-decimals) * multiplier * (1 + 1e-9) + 1e-12
        plain = not fraction and not unit and not match["currency"] and "," not in integer
        mentions.append(
            Mention(
                match.group(0).strip(), value * multiplier, tolerance, percent, plain and abs(value) <= 10
            )
        )
    return mentions


def engine_values(analysis: dict[str, Any]) -> list[tuple[str, float]]:
    """Every figure of the analysis, labelled by where it sits; fractions also as percentages."""
    found: list[tuple[str, float]] = []

    def walk(value: Any, path: str, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k not in _SKIP_KEYS:
                    walk(v, f"{path}.{k}" if path else k, k)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]", key)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            found.append((path, float(value)))
            in_ratio = path.startswith("ratio")
            if (key in _FRACTION_KEYS and in_ratio) or key == "p_value":
                found.append((f"{path} (as %)", float(value) * 100.0))

    walk({k: v for k, v in analysis.items() if k not in ("notes", "dimensions", "periods", "metric")}, "")
    return found


def _segment_names(analysis: dict[str, Any]) -> set[str]:
    names = set(analysis.get("dimensions") or [])
    for dimension, rows in (analysis.get("breakdowns") or {}).items():
        names.add(dimension)
        names.update(str(row.get(dimension)) for row in rows)
    for row in analysis.get("top_slices") or []:
        names.update(str(v) for v in (row.get("slice") or {}).values())
        names.add(str(row.get("segment")))
    ratio = analysis.get("ratio") or {}
    for dimension, part in (ratio.get("by_dimension") or {}).items():
        names.update(str(row.get(dimension)) for row in part.get("by_segment") or [])
    names.update(str(p) for p in analysis.get("periods") or [])
    names.add(str(analysis.get("metric") or ""))
    return names


def _answer_texts(answer: Any) -> tuple[list[str], list[tuple[str, float]]]:
    """Strings and bare numbers anywhere in a final answer (text, dict, list)."""
    texts: list[str] = []
    numbers: list[tuple[str, float]] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, bool) or value is None:
            return
        elif isinstance(value, (int, float)):
            numbers.append((path, float(value)))
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")
        else:
            texts.append(str(value))

    walk(answer, "")
    return texts, numbers


def _structured_tolerance(value: float) -> float:
    """Tolerance for a number given as a number: the rounding its shortest decimal form implies (at least 2 dp)."""
    text = repr(value)
    decimals = len(text.split(".", 1)[1]) if "." in text and "e" not in text else 0
    return 0.5 * 10.0 ** (-min(max(decimals, 0), 9)) + 1e-9 * abs(value)


def verify(answer: Any, analysis: dict[str, Any]) -> dict[str, Any]:
    """Checks every number in the answer against the analysis.

    Returns:
        checked: one entry per number ({text, value, matched}); mismatches: those that matched nothing;
        skipped: numbers not treated as claims (small counts, years).
    """
    candidates = engine_values(analysis)
    magnitudes = sorted((abs(v), label) for label, v in candidates)
    texts, numbers = _answer_texts(answer)
    ignore = _segment_names(analysis)
    checked, mismatches, skipped = [], [], []

    def match(value: float, tolerance: float) -> str | None:
        target = abs(value)
        best = None
        for magnitude, label in _nearby(magnitudes, target, tolerance):
            if best is None or abs(magnitude - target) < best[0]:
                best = (abs(magnitude - target), label)
        return best[1] if best else None

    for text in texts:
        for mention in extract_numbers(text, ignore):
            if mention.plain_small_int or (not mention.percent and _looks_like_year(mention)):
                skipped.append(mention.text)
                continue
            label = match(mention.value, mention.tolerance)
            entry = {"text": mention.text, "value": mention.value, "matched": label}
            checked.append(entry)
            if label is None:
                mismatches.append(entry)
    for path, value in numbers:
        label = match(value, _structured_tolerance(value))
        entry = {"text": f"{path}={value!r}", "value": value, "matched": label}
        checked.append(entry)
        if label is None:
            mismatches.append(entry)
    return {"checked": checked, "mismatches": mismatches, "skipped": skipped}


def _looks_like_year(mention: Mention) -> bool:
    return mention.text.isdigit() and 1900 <= mention.value <= 2100


def _nearby(magnitudes: list[tuple[float, str]], target: float, tolerance: float) -> list[tuple[float, str]]:
    import bisect

    low = bisect.bisect_left(magnitudes, (target - tolerance, ""))
    result = []
    for magnitude, label in magnitudes[low:]:
        if magnitude > target + tolerance:
            break
        result.append((magnitude, label))
    return result
