"""Engine at scale: our load + full analysis against a bare pandas read + group-by, in the same run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.datasets import DIMENSIONS, PLANTED, scale_file
from benchmarks.measure import condense, installed, probe, ratio

CANDIDATES = ("polars", "duckdb")  # other engines, measured to see whether either would beat pandas here


def engine_scale(
    sizes: list[int],
    data: Path,
    repeats: int,
    profile_rows: int | None = None,
    results: Path | None = None,
    log=print,
) -> list[dict[str, Any]]:
    """One row per file size: seconds and peak memory of bare pandas, ours and the candidates, and ratios.

    Every probe runs in a fresh interpreter, alternating targets each repeat so that all of them meet the
    same machine conditions; the median is reported.
    """
    rows = []
    candidates = [c for c in CANDIDATES if installed(c)]
    for size in sizes:
        path = scale_file(size, data)
        # One untimed run, then the fastest of two: a long-running page has warm caches, and so does the baseline.
        args = {"path": str(path), "dimensions": DIMENSIONS, "warmups": 1, "timed": 2}
        runs: dict[str, list] = {name: [] for name in ("bare", "ours", *candidates)}
        for _ in range(repeats):
            for name in runs:
                runs[name].append(probe(name, args))
        measured = {name: condense(found) for name, found in runs.items()}
        ours, bare = measured["ours"], measured["bare"]
        top = (ours.get("result") or {}).get("top_slice")
        row = {
            "rows": size,
            "file_mb": round(path.stat().st_size / 1e6, 1),
            "bare": _public(bare),
            "ours": {**_public(ours), "found_planted": top == PLANTED},
            "ratio": ratio(ours.get("seconds"), bare.get("seconds")),
            "memory_ratio": ratio(_above_start(ours), _above_start(bare)),
            "candidates": {
                name: {
                    **_public(measured[name]),
                    "ratio_to_bare": ratio(measured[name].get("seconds"), bare.get("seconds")),
                }
                for name in candidates
            },
        }
        if profile_rows == size and results is not None:
            profile_path = results / f"profile_ours_{size}.txt"
            probe("ours", {**args, "timed": 1, "profile": str(profile_path)})
            row["profile"] = str(profile_path)
        log(
            f"  engine {size:>9,} rows: ours {row['ours'].get('seconds', float('nan')):.3f} s, bare "
            f"{row['bare'].get('seconds', float('nan')):.3f} s, ratio {row['ratio'] or float('nan'):.2f}"
        )
        rows.append(row)
    return rows


def _above_start(measured: dict[str, Any]) -> float | None:
    if "peak_rss_mb" not in measured:
        return None
    return measured["peak_rss_mb"] - measured["start_rss_mb"]


def _public(measured: dict[str, Any]) -> dict[str, Any]:
    """The figures of one target, rounded for the table and the JSON file."""
    if "error" in measured:
        return {"error": measured["error"]}
    keep = {"seconds": 4, "load_s": 4, "analysis_s": 4, "peak_rss_mb": 1, "start_rss_mb": 1}
    return {key: round(measured[key], digits) for key, digits in keep.items() if key in measured}
