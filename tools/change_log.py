"""The change log beside a metrics file: events (a release, an outage, a price change, a campaign, a tracking change)
with a date or date range, a description, an optional kind and an optional scope naming segments; and the
deterministic matching of those events to the segments that drove a change.

Matching rules (the built-in analyst and the verification both use them; an LLM gets the same tools):
- an event whose dates overlap the later window and whose scope contains the driving slice (every segment it names
  is one of the slice's) is a cause of that slice ("scope" match); an event naming the slice's segments and more is
  a "narrower" match;
- a tracking or data event anywhere in the compared range is always mentioned, as a caveat, never as a cause;
- an event whose scope matches no mover, or whose dates miss the later window, is never called a cause.

Event text is data: it is kept on one line, cut short, and never read as an instruction or as markup.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO

import pandas as pd

from tools.loading import DEFAULT_MAX_BYTES, DataError, listing, normal_name, open_source, read_table
from tools.windows import Window

KINDS = ("release", "incident", "campaign", "pricing", "tracking", "external")
# Kinds that change how the data is recorded, not the business: always a caveat, never a cause.
DATA_KINDS = ("tracking",)
KIND_WORDS = {
    "release": "release",
    "deploy": "release",
    "launch": "release",
    "feature": "release",
    "incident": "incident",
    "outage": "incident",
    "bug": "incident",
    "campaign": "campaign",
    "marketing": "campaign",
    "promotion": "campaign",
    "promo": "campaign",
    "pricing": "pricing",
    "price": "pricing",
    "tracking": "tracking",
    "data": "tracking",
    "logging": "tracking",
    "instrumentation": "tracking",
    "external": "external",
    "holiday": "external",
    "competitor": "external",
}
DATE_COLUMNS = ("date", "start", "start_date", "from", "day", "when", "date_range", "dates")
END_COLUMNS = ("end", "end_date", "to", "until")
DESCRIPTION_COLUMNS = ("description", "event", "title", "what", "summary", "change", "note", "notes", "name")
KIND_COLUMNS = ("kind", "type", "category")
SCOPE_COLUMNS = ("scope", "segment", "segments", "where")
GLOBAL_SCOPES = {"", "all", "*", "global", "everything", "everywhere", "-"}
DESCRIPTION_CHARACTERS = 200
MAX_EVENTS = 5000
_RANGE = re.compile(r"^\s*(\S+)\s*(?:\.\.|/| to )\s*(\S+)\s*$")


@dataclass
class ChangeEvent:
    """One event of the change log.

    Attributes:
        id: E1, E2, ... in file order (what the agents and the summary refer to).
        start, end: The event's dates (the same day for a one-day event).
        description: What happened, on one line, as the file says it (data, never instructions).
        kind: One of KINDS, or None when the file gives none.
        scope: The segments it concerns, dimension -> value; empty for an event that concerns everything.
        row: The spreadsheet row it came from (header = row 1).
    """

    id: str
    start: dt.date
    end: dt.date
    description: str
    kind: str | None = None
    scope: dict[str, str] = field(default_factory=dict)
    row: int = 0

    def date_label(self) -> str:
        """`2026-10-03`, or `2026-10-03..2026-10-05` for a range."""
        return self.start.isoformat() if self.start == self.end else f"{self.start}..{self.end}"

    def scope_label(self) -> str:
        """`country=France; platform=Android`, or `all` for a global event."""
        return "; ".join(f"{k}={v}" for k, v in self.scope.items()) or "all"

    def overlaps(self, window: Window | None) -> bool:
        """Whether the event's dates touch the window (None: no dates to compare, so every event does)."""
        return window is None or (self.start <= window.end and self.end >= window.start)

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "date": self.date_label(),
        }


@dataclass
class ChangeLog:
    """A loaded events file: its events in file order, its name, and what was left out or assumed."""

    events: list[ChangeEvent]
    source: str
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "events": [e.to_json() for e in self.events],
            "warnings": list(self.warnings),
        }

    def find(self, event_id: str) -> ChangeEvent | None:
        return next((e for e in self.events if e.id == event_id), None)


# --------------------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------------------


def one_line(text: object, limit: int = DESCRIPTION_CHARACTERS) -> str:
    """Event text on one line and cut short: a description can never forge another line of a report."""
    flat = re.sub(r"\s+", " ", str(text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _column(frame: pd.DataFrame, names: Sequence[str]) -> str | None:
    normal = {normal_name(c): c for c in frame.columns}
    return next((normal[n] for n in names if n in normal), None)


def _parse_date(value: object) -> dt.date | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        pass
    try:
        parsed = pd.to_datetime(text, dayfirst=False, errors="raise")
    except (ValueError, TypeError, OverflowError):
        return None
    return None if pd.isna(parsed) else parsed.date()


def parse_scope(text: object, dimensions: Sequence[str] | None = None) -> dict[str, str] | None:
    """`country=France; platform=Android` (also `,` or `&` between parts) as a dict; None when unreadable.

    A part without `=` is read as a segment of the only dimension when the metrics file has exactly one.
    """
    flat = one_line(text, 500)
    if flat.lower() in GLOBAL_SCOPES:
        return {}
    scope: dict[str, str] = {}
    for part in re.split(r"[;,&]| and ", flat):
        part = part.strip()
        if not part:
            continue
        if "=" in part:
            key, value = (s.strip() for s in part.split("=", 1))
        elif ":" in part:
            key, value = (s.strip() for s in part.split(":", 1))
        elif dimensions is not None and len(dimensions) == 1:
            key, value = dimensions[0], part
        else:
            return None
        if not key or not value:
            return None
        scope[key] = value
    return scope


def load_events(
    source: str | bytes | BinaryIO,
    name: str | None = None,
    *,
    dimensions: Sequence[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ChangeLog:
    """Reads an events file (CSV, TSV or Excel) into a ChangeLog.

    Args:
        source: A path, the file's bytes, or a file object (an upload).
        name: The file's name for messages (default: from the path).
        dimensions: The metrics file's dimensions: scope columns named like them are read, and scopes naming
            anything else are said in a warning.
        max_bytes: Refuse larger files.

    Raises:
        DataError: The file cannot be used at all (no date or description column, no usable row); the message
            names the file and what to do.
    """
    file = open_source(source, name, max_bytes)
    frame, rows, warnings = read_table(file)
    name = file.name
    frame = frame.astype(object).where(frame.notna(), None)
    date_col = _column(frame, DATE_COLUMNS)
    text_col = _column(frame, DESCRIPTION_COLUMNS)
    found = listing([str(c) for c in frame.columns])
    if date_col is None:
        raise DataError(
            f"{name}: no date column in the events file (columns: {found}). Add a column named "
            "`date` (2026-10-03) or `start` and `end`, one event per row."
        )
    if text_col is None:
        raise DataError(
            f"{name}: no description column in the events file (columns: {found}). Add a column "
            "named `description` saying what happened."
        )
    end_col = _column(frame, END_COLUMNS)
    kind_col = _column(frame, KIND_COLUMNS)
    scope_col = _column(frame, SCOPE_COLUMNS)
    known = {normal_name(d): d for d in dimensions or ()}
    dimension_cols = {c: known[normal_name(c)] for c in frame.columns if normal_name(c) in known}
    events: list[ChangeEvent] = []
    left_out: list[str] = []
    unknown_kinds: list[str] = []
    unknown_scopes: list[str] = []
    for position, record in enumerate(frame.to_dict("records")):
        row = int(rows[position]) if rows is not None else position + 2
        if all(v is None or str(v).strip() == "" for v in record.values()):
            continue
        raw_date = record.get(date_col)
        start = end = None
        ranged = _RANGE.match(str(raw_date)) if isinstance(raw_date, str) else None
        if ranged:
            start, end = _parse_date(ranged.group(1)), _parse_date(ranged.group(2))
        else:
            start = end = _parse_date(raw_date)
        if end_col is not None and record.get(end_col) not in (None, ""):
            end = _parse_date(record.get(end_col))
        description = one_line(record.get(text_col) or "")
        if start is None or end is None:
            left_out.append(f"row {row} (date {one_line(raw_date, 30)!r} is not a date; write 2026-10-03)")
            continue
        if end < start:
            left_out.append(f"row {row} (ends {end} before it starts {start})")
            continue
        if not description:
            left_out.append(f"row {row} (no description)")
            continue
        kind = None
        if kind_col is not None and record.get(kind_col) not in (None, ""):
            word = normal_name(record[kind_col])
            kind = KIND_WORDS.get(word)
            if kind is None:
                unknown_kinds.append(f"row {row} ({one_line(record[kind_col], 30)!r})")
        scope: dict[str, str] = {}
        if scope_col is not None and record.get(scope_col) not in (None, ""):
            parsed = parse_scope(record[scope_col], dimensions)
            if parsed is None:
                left_out.append(
                    f"row {row} (scope {one_line(record[scope_col], 40)!r} is not like "
                    "`country=France; platform=Android`)"
                )
                continue
            scope = {known.get(normal_name(k), k): v for k, v in parsed.items()}
        for column, dimension in dimension_cols.items():
            value = record.get(column)
            if value is not None and str(value).strip().lower() not in GLOBAL_SCOPES:
                scope[dimension] = one_line(value, 80)
        if dimensions is not None:
            strangers = [k for k in scope if k not in set(dimensions)]
            if strangers:
                unknown_scopes.append(f"row {row} ({', '.join(one_line(s, 30) for s in strangers)})")
        events.append(ChangeEvent(f"E{len(events) + 1}", start, end, description, kind, scope, row))
        if len(events) >= MAX_EVENTS:
            warnings.append(f"{name}: only the first {MAX_EVENTS:,} events were read.")
            break
    if left_out:
        warnings.append(
            f"{name}: {len(left_out)} row(s) left out: {'; '.join(left_out[:5])}"
            + (f" and {len(left_out) - 5} more" if len(left_out) > 5 else "")
            + "."
        )
    if unknown_kinds:
        warnings.append(
            f"{name}: kind not one of {', '.join(KINDS)}, read as unspecified: "
            f"{'; '.join(unknown_kinds[:5])}."
        )
    if unknown_scopes:
        warnings.append(
            f"{name}: scope names something that is not a dimension of the metrics file, so these "
            f"events match no segment: {'; '.join(unknown_scopes[:5])}."
        )
    if not events:
        raise DataError(
            f"{name}: no usable event (every row was left out: {'; '.join(left_out[:3]) or 'none'}). "
            "Each row needs a date and a description."
        )
    return ChangeLog(events, name, warnings)


# --------------------------------------------------------------------------------------------------------------
# Queries (the change-log agent's tools) and matching
# --------------------------------------------------------------------------------------------------------------


def scope_relation(scope: dict[str, str], segment: dict[str, str]) -> str | None:
    """How an event's scope relates to a slice of the data.

    Returns:
        "global" (the event concerns everything), "scope" (every segment the event names is one of the slice's:
        France contains France × new), "narrower" (the event names the slice's segments and more: France × new
        for the slice France), or None (they name different segments, or a dimension the slice lacks entirely).
    """
    if not scope:
        return "global"
    same = lambda a, b: str(a).strip().casefold() == str(b).strip().casefold()  # noqa: E731
    shared = [k for k in scope if k in segment]
    if any(not same(scope[k], segment[k]) for k in shared):
        return None
    if len(shared) == len(scope):
        return "scope"
    return "narrower" if shared else None


def events_in_window(log: ChangeLog, window: Window | None) -> list[ChangeEvent]:
    """The events whose dates touch the window, in date order."""
    return sorted((e for e in log.events if e.overlaps(window)), key=lambda e: (e.start, e.id))


def events_by_scope(log: ChangeLog, segment: dict[str, str]) -> list[tuple[ChangeEvent, str]]:
    """Events whose scope relates to the segment (see `scope_relation`), with the relation; global ones last."""
    related = [(e, scope_relation(e.scope, segment)) for e in log.events]
    order = {"scope": 0, "narrower": 1, "global": 2}
    kept = [(e, r) for e, r in related if r is not None]
    return sorted(kept, key=lambda pair: (order[pair[1]], pair[0].start, pair[0].id))  # type: ignore[index]


def events_by_kind(log: ChangeLog, kind: str) -> list[ChangeEvent]:
    """Events of one kind (any word of KIND_WORDS), in date order."""
    wanted = KIND_WORDS.get(normal_name(kind), normal_name(kind))
    return sorted((e for e in log.events if e.kind == wanted), key=lambda e: (e.start, e.id))


def movers(analysis: Mapping[str, Any], limit: int = 3) -> list[dict[str, Any]]:
    """The slices that drove the change, as the engine ranked them: the leading slice and the others that hold at
    least a tenth of the change in its direction (at most `limit`)."""
    slices = [s for s in analysis.get("top_slices") or [] if s.get("slice")]
    if not slices:
        return []
    kept = [slices[0]]
    for item in slices[1:]:
        share = item.get("contribution_pct")
        if share is not None and share >= 10 and len(kept) < limit:
            kept.append(item)
    return kept


def match_events(
    log: ChangeLog, analysis: Mapping[str, Any], windows: tuple[Window, Window] | None
) -> dict[str, Any]:
    """Matches the events to the drivers of the change.

    Returns:
        `causes`: one record per (mover, event) that matches by window and scope, best first
        ({slice, segment, event, description, date, kind, match}); `no_event`: movers with no cause;
        `caveats`: tracking events anywhere in the compared range ({event, description, date, kind, scope});
        `not_causes`: the other events, each with why (`another scope`, `outside the window`, `global`);
        `window`: the later window's label (None: the metrics have no dates, events matched by scope only).
    """
    later = windows[1] if windows else None
    whole = Window(windows[0].start, windows[1].end) if windows else None
    causes: list[dict[str, Any]] = []
    no_event: list[dict[str, Any]] = []
    used: set[str] = set()
    drivers = movers(analysis)
    order = {"scope": 0, "narrower": 1}
    for driver in drivers:
        segment = driver["slice"]
        found = []
        for event in log.events:
            if event.kind in DATA_KINDS or not event.overlaps(later):
                continue
            relation = scope_relation(event.scope, segment)
            if relation in order:
                found.append((order[relation], event.start, event, relation))
        found.sort(key=lambda item: (item[0], item[1], item[2].id))
        for _, _, event, relation in found:
            used.add(event.id)
            causes.append(
                {
                    "slice": driver["segment"],
                    "slice_scope": dict(segment),
                    "pct_change": driver.get("pct_change"),
                    "event": event.id,
                    "description": event.description,
                    "date": event.date_label(),
                    "kind": event.kind,
                    "scope": event.scope_label(),
                    "match": relation,
                }
            )
        if not found:
            no_event.append(
                {
                    "slice": driver["segment"],
                    "slice_scope": dict(segment),
                    "pct_change": driver.get("pct_change"),
                }
            )
    caveats = [
        {
            "event": e.id,
            "description": e.description,
            "date": e.date_label(),
            "kind": e.kind,
            "scope": e.scope_label(),
        }
        for e in log.events
        if e.kind in DATA_KINDS and e.overlaps(whole)
    ]
    not_causes = []
    for event in log.events:
        if event.id in used or event.kind in DATA_KINDS:
            continue
        if not event.overlaps(later):
            why = "outside the window"
        elif not event.scope:
            why = "global (concerns every segment, not the drivers alone)"
        else:
            why = "another scope"
        not_causes.append({"event": event.id, "date": event.date_label(), "kind": event.kind, "why": why})
    return {
        "causes": causes,
        "no_event": no_event,
        "caveats": caveats,
        "not_causes": not_causes,
        "window": later.label() if later else None,
    }


def event_line(event: ChangeEvent, match: str | None = None) -> str:
    """One event as a line of the change-log agent's report: `- E2 | 2026-10-03 | incident | country=France |
    match | description`. The description comes last and is on one line, so it cannot forge fields or lines."""
    return (
        f"- {event.id} | {event.date_label()} | {event.kind or 'unspecified'} | {event.scope_label()} | "
        f"{match or '-'} | {event.description}"
    )


def events_json(events: Sequence[ChangeEvent], relations: Sequence[str | None] | None = None) -> str:
    """Events as the JSON a tool returns to a model (ids, dates, kind, scope, description as data)."""
    items = []
    for index, event in enumerate(events):
        item = {
            "id": event.id,
            "date": event.date_label(),
            "kind": event.kind,
            "scope": event.scope_label(),
            "description": event.description,
        }
        if relations is not None:
            item["match"] = relations[index]
        items.append(item)
    return json.dumps(items, ensure_ascii=False)


# --------------------------------------------------------------------------------------------------------------
# Verification: the events a summary cites exist, with that date, kind and scope
# --------------------------------------------------------------------------------------------------------------

_CITATION = re.compile(
    r"\bon (?P<date>\d{4}-\d{2}-\d{2}(?:\.\.\d{4}-\d{2}-\d{2})?),? \((?P<kind>"
    + "|".join((*KINDS, "event"))
    + r")\)",
    re.IGNORECASE,
)
NO_KNOWN_EVENT = re.compile(r"no known (?:event|change|cause)", re.IGNORECASE)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.casefold()) if len(w) > 2}


def _names(line: str, value: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(value.casefold())}(?!\w)", line.casefold()) is not None


def _citation_claim(
    line: str, start: int, match: re.Match, verdict: str, reason: str, expected: str | None, event: str | None
) -> dict[str, Any]:
    return {
        "text": match.group(0)[3:],
        "value": None,
        "clause": line.strip(),
        "entity": event,
        "entity_key": event,
        "kind": "event",
        "verdict": verdict,
        "expected": expected,
        "matched": f"change_log.{event}" if event else None,
        "reason": reason,
        "span": [start + match.start() + 3, start + match.end()],
        "path": None,
        "kinds": ["event"],
        "kind_label": "event",
    }


def check_citations(text: str, change_log: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Checks each event the summary cites (`<description> on 2026-11-09 (incident)`) against the change log.

    A citation is verified when an event of that date and kind exists, its description is the one the sentence
    quotes, its scope's segments are named in the sentence (or it is global), and, unless it is a tracking change
    (a caveat), it touches the later window. Anything else is "unsupported": a cause that is not in the log.

    Args:
        text: The summary.
        change_log: `analysis["change_log"]` (the loaded events and the engine's matching).

    Returns:
        The claims (shaped like the number claims, kind "event", with spans into `text`), and notes for the
        coverage: a driver the log has no event for must be said to have "no known event".
    """
    events = change_log.get("events") or []
    window = change_log.get("window")
    later = None
    if window:
        first, _, last = window.partition("..")
        later = (dt.date.fromisoformat(first), dt.date.fromisoformat(last or first))
    claims: list[dict[str, Any]] = []
    position = 0
    for line in text.splitlines(keepends=True):
        for match in _CITATION.finditer(line):
            date, kind = match.group("date"), match.group("kind").lower()
            same = [e for e in events if e["date"] == date and (e["kind"] or "event") == kind]
            quoted = line[: match.start()]
            if not same:
                claims.append(
                    _citation_claim(
                        line,
                        position,
                        match,
                        "unsupported",
                        f"no {kind} on {date} in the change log: a cause must come from the log",
                        None,
                        None,
                    )
                )
                continue
            event = max(same, key=lambda e: len(_words(e["description"]) & _words(quoted)))
            expected = (
                f"{event['id']}: {event['description']} on {event['date']} ({event['kind'] or 'event'})"
            )
            shared = _words(event["description"]) & _words(quoted)
            if event["description"].casefold() not in quoted.casefold() and len(shared) < max(
                1, len(_words(event["description"])) // 2
            ):
                verdict, reason = "unsupported", "the change log's event on that date says something else"
            elif event["scope"] and not all(_names(line, v) for v in event["scope"].values()):
                scope = "; ".join(f"{k}={v}" for k, v in event["scope"].items())
                verdict, reason = (
                    "unsupported",
                    f"the event concerns {scope}, which this sentence does not name",
                )
            elif (
                later is not None
                and event["kind"] != "tracking"
                and not (
                    dt.date.fromisoformat(event["start"]) <= later[1]
                    and dt.date.fromisoformat(event["end"]) >= later[0]
                )
            ):
                verdict, reason = "unsupported", f"the event is outside the later window ({window})"
            else:
                verdict, reason = "verified", f"{event['id']} in the change log"
            claims.append(_citation_claim(line, position, match, verdict, reason, expected, event["id"]))
        position += len(line)
    notes = []
    lines = text.splitlines()
    for driver in change_log.get("no_event") or []:
        parts = [p.strip() for p in str(driver["slice"]).split("×")]
        said = any(NO_KNOWN_EVENT.search(line) and all(p in line for p in parts) for line in lines)
        if not said:
            notes.append(
                f"The change log has no event for {driver['slice']}: the summary should say 'no known event'."
            )
    return claims, notes
