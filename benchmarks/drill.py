"""Drill-down against wise-pizza on the same planted tables: does each find the slice, and how fast."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.datasets import DIMENSIONS, METRIC, PLANTED, scale_file
from benchmarks.measure import installed, probe

MEMORY_CAP_GIB = 8  # wise-pizza took all 24 GiB of the machine at 100,000 rows before failing


def planted_rank(slices: list[dict[str, str]]) -> int | None:
    """1 when the planted slice is the first one reported, 2 for the second...; None when it is not there."""
    for rank, found in enumerate(slices, start=1):
        if {str(k): str(v) for k, v in found.items()} == PLANTED:
            return rank
    return None


def drill_comparison(sizes: list[int], data: Path, timeout: float, log=print) -> list[dict[str, Any]]:
    """One row per size: seconds and planted-slice rank of our drill-down and of wise-pizza's lasso slicer.

    The table is read from Parquet before the clock starts, so only the slice search is timed.
    """
    has_wise_pizza = installed("wise_pizza")
    rows = []
    for size in sizes:
        path = scale_file(size, data, suffix="parquet")
        args = {
            "path": str(path),
            "dimensions": DIMENSIONS,
            "metric": METRIC,
            "memory_cap_gib": MEMORY_CAP_GIB,
        }
        row: dict[str, Any] = {"rows": size}
        for name, target in (("ours", "drill_ours"), ("wise_pizza", "drill_wise_pizza")):
            if name == "wise_pizza" and not has_wise_pizza:
                row[name] = {
                    "error": "wise-pizza is not installed (pip install -r benchmarks/requirements.txt)"
                }
                continue
            measured = probe(target, args, timeout=timeout)
            if "error" in measured:
                error = measured["error"]
                if "MemoryError" in error or "Unable to allocate" in error:
                    error = f"out of memory (capped at {MEMORY_CAP_GIB} GiB)"
                row[name] = {"error": error}
            else:
                slices = measured["result"]["slices"]
                row[name] = {
                    "seconds": round(measured["seconds"], 4),
                    "peak_rss_mb": round(measured["peak_rss_mb"], 1),
                    "planted_rank": planted_rank(slices),
                    "top": slices[:1],
                }
        log(
            f"  drill-down {size:>9,} rows: ours {_brief(row['ours'])}; wise-pizza {_brief(row['wise_pizza'])}"
        )
        rows.append(row)
    return rows


def _brief(measured: dict[str, Any]) -> str:
    if "error" in measured:
        return measured["error"]
    return f"{measured['seconds']:.3f} s, planted slice rank {measured['planted_rank']}"
