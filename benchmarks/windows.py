"""A two-year daily table (730 dates × 3 dimensions, over a million rows) loaded and windowed week over week, against
a bare pandas read + date filter + group-by of the same file, alternating in one process."""

from __future__ import annotations

import gc
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.measure import ratio

COUNTRIES = ["Germany", "France", "UK", "Italy", "Spain", "Netherlands", "Poland", "Sweden"]
PLATFORMS = ["iOS", "Android", "Web"]
STORES = [f"S{i:02d}" for i in range(60)]  # 8 × 3 × 60 = 1,440 segments a day; × 730 days = 1,051,200 rows
PLANTED = {"country": "Germany", "platform": "Android"}
END = "2026-11-28"


def daily_file(data: Path, days: int = 730) -> Path:
    """The generated file (kept between runs): flat segments with noise; Germany × Android −40% in the last 7 days."""
    path = data / f"daily_{days}d.csv"
    if path.exists():
        return path
    data.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(21)
    dates = pd.date_range(end=END, periods=days, freq="D").strftime("%Y-%m-%d").to_numpy()
    segments = len(COUNTRIES) * len(PLATFORMS) * len(STORES)
    country = np.repeat(np.array(COUNTRIES), len(PLATFORMS) * len(STORES))
    platform = np.tile(np.repeat(np.array(PLATFORMS), len(STORES)), len(COUNTRIES))
    store = np.tile(np.array(STORES), len(COUNTRIES) * len(PLATFORMS))
    value = rng.uniform(50, 150, days * segments) * (1 + rng.normal(0, 0.01, days * segments))
    planted = np.tile((country == "Germany") & (platform == "Android"), days)
    last_week = np.repeat(np.arange(days) >= days - 7, segments)
    value = np.where(planted & last_week, value * 0.6, value)
    frame = pd.DataFrame(
        {
            "date": np.repeat(dates, segments),
            "country": np.tile(country, days),
            "platform": np.tile(platform, days),
            "store": np.tile(store, days),
            "revenue": value.round(2),
        }
    )
    frame.to_csv(path, index=False)
    return path


def _bare(path: Path) -> None:
    frame = pd.read_csv(path, engine="pyarrow")
    dates = pd.to_datetime(frame["date"])
    latest = dates.max()
    kept = frame[dates > latest - pd.Timedelta(days=14)]
    kept.groupby(["country", "platform", "store"])["revenue"].sum()


def _ours(path: Path) -> dict[str, Any]:
    from tools.analysis import analyze
    from tools.loading import load_dataset

    dataset = load_dataset(path, compare="wow")
    analysis = analyze(dataset)
    return {"top_slice": analysis["top_slices"][0]["slice"], "windows": [w.label() for w in dataset.windows]}


def windows_benchmark(data: Path, repeats: int, log=print) -> dict[str, Any]:
    """Median seconds of each, alternating after one untimed run of each, and their ratio."""
    path = daily_file(data)
    with open(path, "rb") as file:
        rows = sum(1 for _ in file) - 1
    _bare(path)
    found = _ours(path)
    timings: dict[str, list[float]] = {"bare": [], "ours": []}
    for _ in range(max(repeats, 2)):
        for name, target in (("bare", _bare), ("ours", _ours)):
            gc.collect()
            started = time.perf_counter()
            target(path)
            timings[name].append(time.perf_counter() - started)
    bare, ours = (statistics.median(timings[name]) for name in ("bare", "ours"))
    row = {
        "rows": rows,
        "dates": 730,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "bare_s": round(bare, 3),
        "ours_s": round(ours, 3),
        "ratio": ratio(ours, bare),
        "windows": found["windows"],
        "found_planted": found["top_slice"] == PLANTED,
    }
    log(
        f"  windows {rows:,} rows: ours (load + wow + analysis) {ours:.3f} s, bare read + filter + group-by "
        f"{bare:.3f} s, ratio {row['ratio']:.2f}; planted slice first: {row['found_planted']}"
    )
    return row
