"""End to end: `python -m agent run` on a big file with the built-in analyst, and what start-up costs."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

from benchmarks.datasets import PLANTED, scale_file
from benchmarks.measure import condense, probe, timed_command


def end_to_end(rows: int, data: Path, repeats: int, log=print) -> dict[str, Any]:
    """Wall time of the CLI on a `rows`-row file and the share of it that is interpreter start and imports."""
    path = scale_file(rows, data)
    walls, last = [], None
    for _ in range(repeats):
        seconds, done = timed_command([sys.executable, "-m", "agent", "run", str(path), "--json"])
        walls.append(seconds)
        last = done
    result = (
        json.loads(last.stdout) if last and last.stdout.strip() else {"status": "error", "error": last.stderr}
    )
    interpreter = statistics.median(timed_command([sys.executable, "-c", "pass"])[0] for _ in range(repeats))
    help_wall = statistics.median(
        timed_command([sys.executable, "-m", "agent", "--help"])[0] for _ in range(repeats)
    )
    imports = condense([probe("import_cli", {}) for _ in range(repeats)])
    wall = statistics.median(walls)
    startup = interpreter + imports.get("seconds", 0.0)
    top = (result.get("top_slices") or [{}])[0].get("slice")
    verification = result.get("verification") or {}
    summary = {
        "rows": rows,
        "wall_s": round(wall, 3),
        "interpreter_s": round(interpreter, 3),
        "imports_s": round(imports.get("seconds", float("nan")), 3),
        "startup_share": round(startup / wall, 3) if wall else None,
        "help_wall_s": round(help_wall, 3),
        "agent_loop_s": (result.get("usage") or {}).get("duration_s"),
        "status": result.get("status"),
        "steps": (result.get("usage") or {}).get("steps"),
        "verified": len(verification.get("checked") or []) - len(verification.get("mismatches") or []),
        "mismatched": len(verification.get("mismatches") or []),
        "found_planted": top == PLANTED,
    }
    log(
        f"  end to end {rows:,} rows: {wall:.2f} s wall, start-up {startup:.2f} s "
        f"({summary['startup_share']:.0%}), --help {help_wall:.2f} s, status {summary['status']}"
    )
    return summary
