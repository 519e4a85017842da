"""Period labels as time: `2026-11-29`, `2026-11`, `2026-W46`, `Q3 2026`, `FY2025`, `Nov 2026`, `2026`, Excel dates.

Each label becomes the first day of the period it names, so labels of one column sort by time, not as text
("Nov 2026" after "Oct 2026", "2026-W10" after "2026-W9").
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import TypeVar

import pandas as pd

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_YEAR = r"(?P<year>(?:19|20)\d{2})"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("week", re.compile(rf"^{_YEAR}[\s\-_/]?w(?:eek)?[\s\-_]?(?P<week>\d{{1,2}})$")),
    ("quarter", re.compile(rf"^{_YEAR}[\s\-_/]?q(?P<quarter>[1-4])$")),
    ("quarter", re.compile(rf"^q(?P<quarter>[1-4])[\s\-_/]?(?:fy)?{_YEAR}$")),
    ("fiscal year", re.compile(r"^fy[\s\-_]?(?P<year>(?:19|20)?\d{2})$")),
    ("month", re.compile(rf"^{_YEAR}[\-/_.](?P<month>0?[1-9]|1[0-2])$")),
    ("month", re.compile(rf"^(?P<name>[a-z]{{3,9}})[\s\-_.,']*{_YEAR}$")),
    ("month", re.compile(rf"^{_YEAR}[\s\-_.,]*(?P<name>[a-z]{{3,9}})$")),
    ("year", re.compile(rf"^{_YEAR}(?:\.0)?$")),
]
_ISO_DATE = re.compile(r"^(?:19|20)\d{2}[\-/.](?:0?[1-9]|1[0-2])[\-/.](?:0?[1-9]|[12]\d|3[01])(?:[ T].*)?$")
_DAY_FIRST = re.compile(r"^(?:0?[1-9]|[12]\d|3[01])[./](?:0?[1-9]|1[0-2])[./](?:19|20)\d{2}$")
_SLASHED = re.compile(r"^(\d{1,2})/(\d{1,2})/((?:19|20)\d{2})$")


def parse_period(label: object) -> tuple[str, dt.date] | None:
    """(kind, first day) of a period label, or None when it names no period.

    Kinds: day, week, month, quarter, fiscal year, year.
    """
    if isinstance(label, (pd.Timestamp, dt.datetime)):
        return "day", pd.Timestamp(label).date()
    if isinstance(label, dt.date):
        return "day", label
    if isinstance(label, bool) or label is None:
        return None
    if isinstance(label, (int, float)):
        if float(label).is_integer() and 1900 <= int(label) <= 2100:
            return "year", dt.date(int(label), 1, 1)
        return None
    text = str(label).strip().lower()
    if not text or len(text) > 40:
        return None
    for kind, pattern in _PATTERNS:
        match = pattern.match(text)
        if not match:
            continue
        parts = match.groupdict()
        year = int(parts["year"])
        year = year + 2000 if year < 100 else year
        if kind == "week":
            week = int(parts["week"])
            if not 1 <= week <= 53:
                return None
            try:
                return kind, dt.date.fromisocalendar(year, week, 1)
            except ValueError:
                return None
        if kind == "quarter":
            return kind, dt.date(year, 3 * int(parts["quarter"]) - 2, 1)
        if kind == "month":
            month = int(parts["month"]) if parts.get("month") else _MONTHS.get(parts.get("name") or "")
            return (kind, dt.date(year, month, 1)) if month else None
        return kind, dt.date(year, 1, 1)
    if _ISO_DATE.match(text) or _DAY_FIRST.match(text):
        try:
            stamp = pd.Timestamp(text) if _ISO_DATE.match(text) else pd.to_datetime(text, dayfirst=True)
        except (ValueError, OverflowError):
            return None
        return "day", stamp.date()
    return None


def parse_periods(labels: Iterable[object]) -> list[tuple[str, dt.date] | None]:
    """`parse_period` of each label, with dates written `11/12/2026` read the same way for the whole column:
    day first when some first part is over 12, month first (US) when some second part is, else month first."""
    labels = list(labels)
    slashed = [_SLASHED.match(str(label).strip()) if isinstance(label, str) else None for label in labels]
    if labels and all(slashed):
        firsts = [int(m.group(1)) for m in slashed if m]
        seconds = [int(m.group(2)) for m in slashed if m]
        day_first = max(firsts) > 12 and max(seconds) <= 12
        parsed: list[tuple[str, dt.date] | None] = []
        for match in slashed:
            assert match is not None
            day, month = (match.group(1), match.group(2)) if day_first else (match.group(2), match.group(1))
            try:
                parsed.append(("day", dt.date(int(match.group(3)), int(month), int(day))))
            except ValueError:
                parsed.append(None)
        return parsed
    return [parse_period(label) for label in labels]


Label = TypeVar("Label")  # what the caller passed in (text, numbers, dates) comes back, only reordered


def time_order(labels: Iterable[Label]) -> list[Label] | None:
    """The labels sorted by the time they name, or None when any of them names no period."""
    labels = list(labels)
    parsed = parse_periods(labels)
    if any(p is None for p in parsed):
        return None
    order = sorted(range(len(labels)), key=lambda i: (parsed[i][1], i))  # type: ignore[index]
    return [labels[i] for i in order]


def period_kind(labels: Iterable[object]) -> str | None:
    """The kind shared by the labels (month, week, ...) when every one names a period, else None."""
    kinds = set()
    for label in labels:
        parsed = parse_period(label)
        if parsed is None:
            return None
        kinds.add(parsed[0])
    return kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else None)
