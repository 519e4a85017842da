"""Issue 19's figures as ratios, measured in one run: start-up, the 1M-row CLI, verification, and the run queue.

- sample: `python -m agent run sample_data/revenue_by_country.tsv --json` against the floor, a fresh interpreter
  that imports pandas, reads the same file and sums its numbers (goal: at most 2.0x);
- 1M rows: the CLI on the planted 1M-row file against a fresh interpreter doing a bare pyarrow read and one
  group-by per dimension (goal: at most 2.0x); also the bytes the worker is sent;
- verification: facts scanned and seconds at 100 / 10k / 1M segments (goal: the same count at every size);
- queue: sixteen runs of the sample started together through a `RunQueue` of as many slots as cores: when each
  learnt its position or first step, and whether each got its own right answer.

Commands alternate (ours, floor, ours, floor, ...) so that load from other processes falls on both alike.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.datasets import DIMENSIONS, scale_file
from benchmarks.measure import ROOT, timed_command

SAMPLE = ROOT / "sample_data" / "revenue_by_country.tsv"
PACKAGES = ("agent", "tools")  # what the CLI and its worker import
GOAL = 2.0

FLOOR_PANDAS = (
    "import sys, pandas as pd\n"
    "frame = pd.read_csv(sys.argv[1], sep='\\t')\n"
    "print(frame.select_dtypes('number').sum().sum())\n"
)
FLOOR_PYARROW = (
    "import sys, pyarrow.csv as csv\n"
    "table = csv.read_csv(sys.argv[1])\n"
    "metrics = [(c, 'sum') for c in table.column_names if c not in sys.argv[2:]]\n"
    "for dimension in sys.argv[2:]:\n"
    "    table.group_by(dimension).aggregate(metrics)\n"
)


def _alternate(ours: list[str], floor: list[str], repeats: int) -> tuple[float, float, Any]:
    """Median wall seconds of two commands run in turn, and the last completed run of ours."""
    walls, floors, last = [], [], None
    for _ in range(repeats):
        seconds, last = timed_command(ours)
        walls.append(seconds)
        floors.append(timed_command(floor)[0])
    return statistics.median(walls), statistics.median(floors), last


def _status(done) -> str:
    try:
        return json.loads(done.stdout).get("status", "?")
    except (ValueError, AttributeError):
        return "error: " + (done.stderr or "").strip()[-200:]


def _ratio(ours: float, floor: float, done: Any) -> dict[str, Any]:
    """Seconds of a command and of its floor, their ratio against the goal, and how the command's run ended."""
    return {
        "ours_s": round(ours, 3),
        "floor_s": round(floor, 3),
        "ratio": round(ours / floor, 2),
        "goal": GOAL,
        "status": _status(done),
    }


def startup_ratio(repeats: int, log=print) -> dict[str, Any]:
    """The CLI's sample run against python + pandas reading and summing the same file."""
    ours, floor, done = _alternate(
        [sys.executable, "-m", "agent", "run", str(SAMPLE), "--json"],
        [sys.executable, "-c", FLOOR_PANDAS, str(SAMPLE)],
        repeats,
    )
    result = _ratio(ours, floor, done)
    log(
        f"  sample run {ours:.2f} s, python + pandas floor {floor:.2f} s: {result['ratio']:.2f}x "
        f"(goal {GOAL}x), {result['status']}"
    )
    return result


def million_ratio(data: Path, repeats: int, rows: int = 1_000_000, log=print) -> dict[str, Any]:
    """The CLI on the planted `rows`-row file against a bare pyarrow read + group-by, and the hand-off's bytes."""
    path = scale_file(rows, data)
    ours, floor, done = _alternate(
        [sys.executable, "-m", "agent", "run", str(path), "--json"],
        [sys.executable, "-c", FLOOR_PYARROW, str(path), *DIMENSIONS],
        repeats,
    )
    handoff = _handoff(path)
    result = {"rows": rows, **_ratio(ours, floor, done), **handoff}
    log(
        f"  {rows:,} rows: CLI {ours:.2f} s, bare pyarrow read + group-by {floor:.2f} s: {result['ratio']:.2f}x "
        f"(goal {GOAL}x); worker sent {handoff['sent_mb']:.1f} MB of Arrow IPC (CSV {handoff['csv_mb']:.1f} MB), "
        f"encode {handoff['encode_s']:.3f} s, decode {handoff['decode_s']:.3f} s"
    )
    return result


def _handoff(path: Path) -> dict[str, Any]:
    """What the worker is sent for this file, and what encoding and decoding it cost (in this process)."""
    from agent.sandbox import protocol
    from tools.loading import load_dataset

    dataset = load_dataset(path)
    started = time.perf_counter()
    specs, blobs = protocol.encode_variables({"df": dataset.frame})
    encoded = time.perf_counter()
    protocol.decode_variable(specs[0]["type"], blobs[0])
    decoded = time.perf_counter()
    return {
        "segments": len(dataset.frame),
        "sent_mb": round(len(blobs[0]) / 1024**2, 1),
        "csv_mb": round(path.stat().st_size / 1024**2, 1),
        "encode_s": round(encoded - started, 3),
        "decode_s": round(decoded - encoded, 3),
    }


def verification_scaling(sizes=(100, 10_000, 1_000_000), log=print) -> list[dict[str, Any]]:
    """Facts the claim check scans and its seconds, for one dimension of `sizes` distinct segments."""
    import numpy as np
    import pandas as pd

    from tools.analysis import analyze
    from tools.loading import load_dataset
    from tools.verification import Lexicon, verify

    rows = []
    for size in sizes:
        rng = np.random.default_rng(size)
        before = rng.uniform(100, 200, size).round(2)
        frame = pd.DataFrame(
            {
                "store": [f"S{i:07d}" for i in range(size)],
                "revenue_before": before,
                "revenue_after": (before * rng.uniform(0.9, 1.1, size)).round(2),
            }
        )
        dataset = load_dataset(frame.to_csv(index=False).encode(), name="stores.csv")
        analysis = analyze(dataset)
        top = analysis["breakdowns"]["store"][0]
        text = (
            f"Revenue changed {analysis['totals']['pct_change']:.2f}%. {top['store']} moved "
            f"{top['pct_change']:.2f}% ({top['abs_change']:,.2f})."
        )
        started = time.perf_counter()
        lexicon = Lexicon(analysis)
        checked = verify(text, analysis, lexicon)
        seconds = time.perf_counter() - started
        rows.append(
            {
                "segments": size,
                "facts": len(lexicon.facts),
                "names": len(lexicon.names),
                "seconds": round(seconds, 4),
                "verified": checked["counts"]["verified"],
            }
        )
        log(
            f"  verification at {size:,} segments: {len(lexicon.facts):,} facts, {len(lexicon.names):,} names "
            f"scanned, {seconds * 1000:.1f} ms"
        )
    return rows


def queue_burst(visitors: int = 16, log=print) -> dict[str, Any]:
    """`visitors` runs of the sample started together through a queue of as many slots as cores (built-in analyst)."""
    from agent.run.queue import RunQueue
    from agent.run.runner import RunRequest
    from agent.run.session import BackgroundRun
    from tools.loading import load_dataset

    dataset = load_dataset(SAMPLE)
    queue = RunQueue(os.cpu_count())
    started = time.perf_counter()
    runs, clicked, told = [], [], []
    for visitor in range(visitors):
        clicked.append(time.perf_counter())
        run = BackgroundRun(RunRequest(dataset), run_queue=queue, visitor=f"v{visitor}").start()
        # A waiting run knows its position as soon as it exists; a running one is told by its first step.
        told.append(time.perf_counter() - clicked[-1] if run.queue_message is not None else None)
        runs.append(run)
    most_at_once = 0
    while not all(run.finished for run in runs):
        most_at_once = max(most_at_once, queue.running)
        for index, run in enumerate(runs):
            if any(event.type == "step_started" for event in run.poll()) and told[index] is None:
                told[index] = time.perf_counter() - clicked[index]
        time.sleep(0.02)
    told = [float("inf") if seconds is None else seconds for seconds in told]
    wall = time.perf_counter() - started
    right = sum(
        run.result.status == "success" and "-132,919.66" in (run.result.narrative or "") for run in runs
    )
    result = {
        "visitors": visitors,
        "slots": queue.max_running,
        "most_running": most_at_once,
        "told_within_s": round(max(told), 3),
        "all_right": right == visitors,
        "right": right,
        "wall_s": round(wall, 2),
    }
    log(
        f"  queue: {visitors} runs, {queue.max_running} at a time (at most {most_at_once} seen running); each told "
        f"its position or first step within {max(told):.2f} s; {right}/{visitors} right answers; {wall:.1f} s in all"
    )
    return result


def compile_project(log=print) -> int:
    """Writes the project's bytecode as the README's install command does (`python -m compileall`), so that the
    commands are measured as installed, like the floor's pandas; returns how many modules were stale."""
    import compileall
    import importlib.util

    stale = 0
    for package in PACKAGES:
        for source in (ROOT / package).rglob("*.py"):
            cached = Path(importlib.util.cache_from_source(str(source)))
            stale += not cached.exists() or cached.stat().st_mtime < source.stat().st_mtime
        compileall.compile_dir(str(ROOT / package), quiet=2)
    log(f"  bytecode: {stale} stale module(s) compiled first (python -m compileall, as installed)")
    return stale


def ratios(data: Path, repeats: int, log=print) -> dict[str, Any]:
    """Every figure of this module, in one run."""
    compile_project(log)
    return {
        "startup": startup_ratio(repeats, log),
        "million": million_ratio(data, repeats, log=log),
        "verification": verification_scaling(log=log),
        "queue": queue_burst(log=log),
    }


def profile_run(path: Path, out: Path, log=print) -> str:
    """Where one CLI run's time goes: pyinstrument's tree when it is installed, else cProfile's top entries."""
    from benchmarks.measure import installed

    if installed("pyinstrument"):
        command = [
            sys.executable,
            "-m",
            "pyinstrument",
            "-r",
            "text",
            "-o",
            str(out),
            "-m",
            "agent",
            "run",
            str(path),
            "--json",
        ]
    else:
        command = [
            sys.executable,
            "-m",
            "cProfile",
            "-o",
            str(out.with_suffix(".prof")),
            "-m",
            "agent",
            "run",
            str(path),
            "--json",
        ]
    seconds, done = timed_command(command)
    if done.returncode not in (0, 1):
        return f"profiling failed: {done.stderr.strip()[-300:]}"
    if installed("pyinstrument"):
        text = out.read_text()
    else:
        import io
        import pstats

        buffer = io.StringIO()
        pstats.Stats(str(out.with_suffix(".prof")), stream=buffer).sort_stats("cumulative").print_stats(30)
        text = buffer.getvalue()
        out.write_text(text)
    log(
        f"  profile of `python -m agent run {path.name} --json` ({seconds:.2f} s under the profiler), "
        f"written to {out}:\n{text}"
    )
    return text
