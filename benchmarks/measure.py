"""Runs probes in fresh interpreters and condenses repeated runs into one figure."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def child_env() -> dict[str, str]:
    """The environment of every child process: the project importable, litellm kept offline."""
    from agent.settings import ENVIRONMENT_DEFAULTS

    return {**os.environ, "PYTHONPATH": str(ROOT), **ENVIRONMENT_DEFAULTS}


def probe(target: str, args: dict[str, Any], timeout: float = 600.0) -> dict[str, Any]:
    """One `benchmarks._probe` measurement; {"error": ...} when it failed or ran out of time."""
    command = [sys.executable, "-m", "benchmarks._probe", target, json.dumps(args)]
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"target": target, "error": f"did not finish within {timeout:.0f} s"}
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return {"target": target, "error": lines[-1] if lines else f"exit code {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def timed_command(command: list[str], timeout: float = 600.0) -> tuple[float, subprocess.CompletedProcess]:
    """Wall-clock seconds of a whole command, start-up included."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=timeout)
    return time.perf_counter() - started, done


def condense(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median seconds and largest peak memory of repeated probes of one target (the first error, if any)."""
    errors = [run["error"] for run in runs if "error" in run]
    if errors:
        return {"error": errors[0]}
    result = {
        "seconds": statistics.median(run["seconds"] for run in runs),
        "runs": len(runs),
        "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
        "start_rss_mb": statistics.median(run["start_rss_mb"] for run in runs),
    }
    numeric = [k for k, v in runs[0]["result"].items() if isinstance(v, float)]
    for key in numeric:  # phase timings reported by the probe (load_s, analysis_s)
        result[key] = statistics.median(run["result"][key] for run in runs)
    result["result"] = runs[-1]["result"]
    return result


def installed(module: str) -> bool:
    """Whether a package the benchmarks compare against is there (benchmarks/requirements.txt)."""
    from importlib.util import find_spec

    return find_spec(module) is not None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator and denominator else None
