"""Comparison windows over a time series: week over week, month over month, a year earlier, the last N days, or two
explicit date ranges; and *when* in the later window a change happened.

A window is a closed range of dates. Rows are kept by the first day of the period they name (a week's Monday, a
month's first day), so the same windows work on daily, weekly and monthly tables.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tools.facts import ConcentratedRun, Day, Timing

PRESETS = ("wow", "mom", "yoy", "last-Nd")
_LAST_N_DAYS = re.compile(r"^last-?(\d{1,4})d$")
_RANGE = re.compile(r"^\s*(\S+)\s*\.\.\s*(\S+)\s*$")


class WindowError(ValueError):
    """A window that cannot be used; the message says what to write instead."""


@dataclass(frozen=True)
class Window:
    """A closed range of dates, `start` to `end` inclusive."""

    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def label(self) -> str:
        return (
            self.start.isoformat()
            if self.start == self.end
            else f"{self.start.isoformat()}..{self.end.isoformat()}"
        )

    def contains(self, dates: np.ndarray) -> np.ndarray:
        return (dates >= np.datetime64(self.start)) & (dates <= np.datetime64(self.end))


def parse_range(text: str) -> Window:
    """`2026-10-01..2026-10-31` (or one date) as a Window."""
    match = _RANGE.match(text or "")
    parts = [match.group(1), match.group(2)] if match else [str(text).strip()] * 2
    try:
        start, end = (dt.date.fromisoformat(part) for part in parts)
    except ValueError as error:
        raise WindowError(f"{text!r} is not a date range: write it as 2026-10-01..2026-10-31.") from error
    if end < start:
        raise WindowError(f"{text!r} ends before it starts: write the earlier date first.")
    return Window(start, end)


def preset_windows(preset: str, latest: dt.date) -> tuple[Window, Window]:
    """The (earlier, later) windows of a preset, relative to the latest date of the data.

    wow: the last 7 days and the 7 before. mom: this month up to the latest date and the same days of the month
    before. yoy: the last 28 days and the same 28 days 52 weeks earlier (same weekdays). last-Nd: the last N days and
    the N before.
    """
    key = preset.strip().lower()
    if key == "wow":
        return _last_days(latest, 7)
    if key == "mom":
        after = Window(latest.replace(day=1), latest)
        previous_end = after.start - dt.timedelta(days=1)
        day = min(latest.day, previous_end.day)
        return Window(previous_end.replace(day=1), previous_end.replace(day=day)), after
    if key == "yoy":
        _, after = _last_days(latest, 28)
        shift = dt.timedelta(weeks=52)
        return Window(after.start - shift, after.end - shift), after
    match = _LAST_N_DAYS.match(key)
    if match and int(match.group(1)) >= 1:
        return _last_days(latest, int(match.group(1)))
    raise WindowError(f"{preset!r} is not a comparison: use wow, mom, yoy or last-Nd (for example last-14d).")


def _last_days(latest: dt.date, days: int) -> tuple[Window, Window]:
    after = Window(latest - dt.timedelta(days=days - 1), latest)
    before = Window(after.start - dt.timedelta(days=days), after.start - dt.timedelta(days=1))
    return before, after


def when_it_changed(daily: pd.DataFrame, before: Window, after: Window, value: str) -> Timing:
    """Whether the change is spread over the later window or sits on a few days.

    Each later day is compared with the earlier window's daily average (with the same weekday of the earlier window
    when the windows are whole weeks apart); the shortest run of consecutive days that holds at least 70% of the
    total difference (in the direction of the total) is the concentration.

    Args:
        daily: One row per date (`date` as datetime64) with the metric's total in column `value`.
        before: The earlier window.
        after: The later window.
        value: The column of daily totals.

    Returns:
        {baseline (earlier daily average), days: [{date, total, difference}], total_difference, run: {start, end,
        days, share_pct} or None, concentrated (the run covers at most a third of the later days)}.
    """
    dates = daily["date"].to_numpy(dtype="datetime64[D]")
    earlier = daily.loc[before.contains(dates), value]
    later = daily.loc[after.contains(dates)].sort_values("date")
    baseline = float(earlier.mean()) if len(earlier) else 0.0
    baselines = np.full(len(later), baseline)
    offset = (after.start - before.start).days
    if before.days == after.days and offset % 7 == 0:
        # Whole weeks apart: each day against the same weekday of the earlier window, so a weekly rhythm (quiet
        # Sundays) is not read as a change. Days without a counterpart keep the window's daily average.
        by_date = dict(zip(dates[before.contains(dates)], earlier.to_numpy(dtype="float64")))
        shifted = later["date"].to_numpy(dtype="datetime64[D]") - np.timedelta64(offset, "D")
        baselines = np.array([by_date.get(day, baseline) for day in shifted], dtype="float64")
    differences = later[value].to_numpy(dtype="float64") - baselines
    total = float(differences.sum())
    days: list[Day] = [
        {"date": stamp.date().isoformat(), "total": float(v), "difference": float(d)}
        for stamp, v, d in zip(pd.to_datetime(later["date"]), later[value], differences)
    ]
    run: ConcentratedRun | None = None
    if total and len(differences):
        signed = differences * np.sign(total)  # days that moved with the total count up, the others down
        best = None
        for start in range(len(signed)):
            running = 0.0
            for end in range(start, len(signed)):
                running += signed[end]
                if running >= 0.7 * abs(total):
                    if best is None or end - start < best[1] - best[0]:
                        best = (start, end, running)
                    break
        if best is not None:
            start, end, held = best
            run = {
                "start": days[start]["date"],
                "end": days[end]["date"],
                "days": end - start + 1,
                "share_pct": held / abs(total) * 100.0,
            }
    concentrated = run is not None and run["days"] * 3 <= len(days)
    return {
        "baseline": baseline,
        "days": days,
        "total_difference": total,
        "run": run,
        "concentrated": concentrated,
    }
