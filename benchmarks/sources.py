"""Data where it lives (tools/sources.py), three rows:

- big: a Parquet folder (50M rows in a full run; generated, a planted slice) explained by DuckDB within a 2 GB
  budget of the whole process (peak RSS of a child process), and the pandas path tried in a child limited to the
  same 2 GB of address space;
- local: the same 1M-row Parquet file through pandas (`load_dataset`) and through DuckDB (`tools.sources`), each
  load + full analysis, as ratios to a bare DuckDB `GROUP BY` of the file, alternating in one process;
- postgres: 5M rows in a throwaway PostgreSQL (tests/pg_server.py) through Ibis + the analysis, against a bare
  `GROUP BY` through psql.

Run `python -m benchmarks.sources big|local PATH` for a child's own measurement (one JSON line).
"""

from __future__ import annotations

import gc
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.measure import ROOT, child_env, ratio

COUNTRIES = [f"C{i:02d}" for i in range(20)]
PLATFORMS = ["ios", "android", "web"]
CHANNELS = ["search", "social", "email", "direct", "display", "affiliate", "video", "referral"]
PLANTED = {"country": "C07", "platform": "android"}
DIMENSIONS = ["country", "platform", "channel"]
BUDGET_MB = 2048
ROWS_PER_FILE = 1_000_000


def sizes(quick: bool) -> dict[str, int]:
    """Rows of each row of the table: CI-sized with --quick."""
    if quick:
        return {"big": 500_000, "local": 100_000, "postgres": 100_000}
    return {"big": 50_000_000, "local": 1_000_000, "postgres": 5_000_000}


def _chunk(rows: int, seed: int) -> pd.DataFrame:
    """Rows of cents with noise; the planted country × platform loses 40% of its revenue after."""
    rng = np.random.default_rng(seed)
    country = rng.integers(0, len(COUNTRIES), rows)
    platform = rng.integers(0, len(PLATFORMS), rows)
    before = rng.integers(100, 20_000, rows) / 100
    after = np.round(before * rng.normal(1.0, 0.05, rows), 2)
    planted = (country == COUNTRIES.index(PLANTED["country"])) & (
        platform == PLATFORMS.index(PLANTED["platform"])
    )
    after = np.where(planted, np.round(after * 0.6, 2), after)
    return pd.DataFrame(
        {
            "country": pd.Categorical.from_codes(country, COUNTRIES),
            "platform": pd.Categorical.from_codes(platform, PLATFORMS),
            "channel": pd.Categorical.from_codes(rng.integers(0, len(CHANNELS), rows), CHANNELS),
            "revenue_before": before,
            "revenue_after": after,
        }
    )


def parquet_folder(data: Path, rows: int) -> Path:
    """A folder of Parquet files of `rows` rows in all (kept between runs)."""
    folder = data / f"sources_{rows}"
    done = folder / ".complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for part, start in enumerate(range(0, rows, ROWS_PER_FILE)):
        _chunk(min(ROWS_PER_FILE, rows - start), seed=part).to_parquet(folder / f"part-{part:04d}.parquet")
    done.touch()
    return folder


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(mode: str, location: str, limit_mb: int | None = None) -> dict[str, Any]:
    """One measurement in a fresh interpreter (its peak RSS is the whole process's); {"error"} when it failed."""
    command = [sys.executable, "-m", "benchmarks.sources", mode, location, str(limit_mb or 0)]
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=3600
        )
    except subprocess.TimeoutExpired:
        return {"error": "did not finish within an hour"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        errors = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return {"error": errors[-1] if errors else f"exit code {done.returncode}"}
    return json.loads(lines[-1])


def big_folder(data: Path, rows: int, log=print) -> dict[str, Any]:
    """DuckDB over the folder (memory limit 1 GB, spilling beyond) vs pandas in a 2 GB address space."""
    started = time.perf_counter()
    folder = parquet_folder(data, rows)
    generated = time.perf_counter() - started
    duck = _child("duckdb", str(folder / "*.parquet"))
    log(f"  big: {rows:,} rows, DuckDB {duck.get('seconds', '—')} s, peak {duck.get('peak_rss_mb', '—')} MB")
    pandas_run = _child("pandas", str(folder), limit_mb=BUDGET_MB)
    log(f"  big: pandas within {BUDGET_MB} MB: {pandas_run.get('error') or 'fitted'}")
    return {
        "rows": rows,
        "files": len(list(folder.glob("*.parquet"))),
        "generated_s": round(generated, 1),
        "folder_mb": round(sum(p.stat().st_size for p in folder.glob("*.parquet")) / 1e6, 1),
        "budget_mb": BUDGET_MB,
        "duckdb": duck,
        "pandas": pandas_run,
        "within_budget": bool(duck.get("peak_rss_mb") and duck["peak_rss_mb"] <= BUDGET_MB),
        "found_planted": duck.get("top_slice") == PLANTED,
        "pandas_fits": "error" not in pandas_run,
    }


def _bare_duckdb(path: str) -> None:
    import duckdb

    with duckdb.connect() as connection:
        connection.execute(
            f"SELECT {', '.join(DIMENSIONS)}, SUM(revenue_before), SUM(revenue_after) "
            f"FROM read_parquet('{path}') GROUP BY ALL"
        ).fetchall()


def _through_pandas(path: str) -> dict[str, Any]:
    from tools.analysis import analyze
    from tools.loading import load_dataset

    return analyze(load_dataset(path), metric="revenue")["top_slices"][0]["slice"]


def _through_duckdb(path: str) -> dict[str, Any]:
    from tools.analysis import analyze
    from tools.sources import open_and_load

    return analyze(open_and_load(path), metric="revenue")["top_slices"][0]["slice"]


def local_file(data: Path, rows: int, repeats: int, log=print) -> dict[str, Any]:
    """Median seconds of each path over the same file, alternating after an untimed run of each."""
    path = data / f"sources_local_{rows}.parquet"
    if not path.exists():
        data.mkdir(parents=True, exist_ok=True)
        _chunk(rows, seed=99).to_parquet(path)
    targets = {"bare_duckdb": _bare_duckdb, "pandas": _through_pandas, "duckdb": _through_duckdb}
    found = {name: target(str(path)) for name, target in targets.items()}  # warm-up, and the answers
    timings: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(max(repeats, 2)):
        for name, target in targets.items():
            gc.collect()
            started = time.perf_counter()
            target(str(path))
            timings[name].append(time.perf_counter() - started)
    seconds = {name: statistics.median(values) for name, values in timings.items()}
    row = {
        "rows": rows,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        **{f"{name}_s": round(value, 4) for name, value in seconds.items()},
        "pandas_ratio": ratio(seconds["pandas"], seconds["bare_duckdb"]),
        "duckdb_ratio": ratio(seconds["duckdb"], seconds["bare_duckdb"]),
        "found_planted": found["pandas"] == PLANTED and found["duckdb"] == PLANTED,
    }
    log(
        f"  local: {rows:,} rows, bare {row['bare_duckdb_s']} s, pandas ×{row['pandas_ratio']:.2f}, "
        f"DuckDB ×{row['duckdb_ratio']:.2f}"
    )
    return row


def postgres_table(rows: int, repeats: int, log=print) -> dict[str, Any]:
    """Ibis + the analysis against a bare GROUP BY through psql, on one table in a throwaway server."""
    from tests.pg_server import ROLE, PostgresServer, binaries
    from tools.analysis import analyze
    from tools.sources import open_and_load

    folder = binaries()
    if folder is None:
        return {"error": "PostgreSQL binaries are not installed (.ci/run installs Debian's postgresql)"}
    server = PostgresServer(folder)
    server.start()
    try:
        started = time.perf_counter()
        for part, start in enumerate(range(0, rows, ROWS_PER_FILE)):
            chunk = _chunk(min(ROWS_PER_FILE, rows - start), seed=1000 + part)
            server.load("sales", chunk, append=part > 0)
        with server.connect() as connection:
            connection.execute("ANALYZE sales")
        loaded = time.perf_counter() - started
        sql = (
            f"SELECT {', '.join(DIMENSIONS)}, SUM(revenue_before), SUM(revenue_after) FROM sales "
            "GROUP BY 1, 2, 3"
        )
        psql = [
            str(folder / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(server.port),
            "-U",
            ROLE,
            "-d",
            "kpi",
            "-At",
            "-c",
            sql,
        ]

        def bare() -> None:
            subprocess.run(psql, check=True, capture_output=True, timeout=600)

        def ours() -> dict[str, Any]:
            return analyze(open_and_load(server.url("sales")), metric="revenue")["top_slices"][0]["slice"]

        bare()
        found = ours()
        timings: dict[str, list[float]] = {"psql": [], "ours": []}
        for _ in range(max(repeats, 2)):
            for name, target in (("psql", bare), ("ours", ours)):
                started = time.perf_counter()
                target()
                timings[name].append(time.perf_counter() - started)
    finally:
        server.stop()
    psql_s, ours_s = (statistics.median(timings[name]) for name in ("psql", "ours"))
    log(f"  postgres: {rows:,} rows, psql {psql_s:.3f} s, ours {ours_s:.3f} s")
    return {
        "rows": rows,
        "load_s": round(loaded, 1),
        "psql_s": round(psql_s, 4),
        "ours_s": round(ours_s, 4),
        "ratio": ratio(ours_s, psql_s),
        "found_planted": found == PLANTED,
    }


def sources_benchmark(data: Path, repeats: int, quick: bool, log=print) -> dict[str, Any]:
    """The three rows; a row that fails says why instead of hiding the others."""
    rows = sizes(quick)
    result: dict[str, Any] = {}
    for name, run in (
        ("big", lambda: big_folder(data, rows["big"], log)),
        ("local", lambda: local_file(data, rows["local"], repeats, log)),
        ("postgres", lambda: postgres_table(rows["postgres"], repeats, log)),
    ):
        try:
            result[name] = run()
        except Exception as error:  # one broken row must not hide the others' figures
            result[name] = {"error": f"{type(error).__name__}: {error}"}
    return result


def failures(result: dict[str, Any]) -> list[str]:
    """What the section found broken (never a timing)."""
    found = []
    for name, row in (result or {}).items():
        if isinstance(row, dict) and (row.get("error") or not row.get("found_planted")):
            found.append(f"sources {name}: {row.get('error') or 'the planted slice is not first'}")
    return found


def _measure(mode: str, location: str, limit_mb: int) -> dict[str, Any]:
    """The child's side: load + analyse, then the seconds and the whole process's peak RSS."""
    if limit_mb:  # the budget as address space: allocating beyond it fails
        resource.setrlimit(resource.RLIMIT_AS, (limit_mb << 20, limit_mb << 20))
    from tools.analysis import analyze

    started = time.perf_counter()
    if mode == "duckdb":
        from tools.sources import open_and_load

        dataset = open_and_load(location, memory_limit="1GB")
    else:  # pandas: the folder read whole into memory, summed by pandas
        from tools.sources import PandasSource, load_source

        dataset = load_source(PandasSource(pd.read_parquet(location), Path(location).name))
    analysis = analyze(dataset, metric="revenue")
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mb": round(_peak_mb(), 1),
        "rows": dataset.rows_read,
        "segments": len(dataset.frame),
        "top_slice": analysis["top_slices"][0]["slice"],
    }


if __name__ == "__main__":
    print(json.dumps(_measure(sys.argv[1], sys.argv[2], int(sys.argv[3]))))


def report(result: dict[str, Any]) -> list[str]:
    """The section's Markdown: a sentence per row (or what broke it)."""
    parts = ["**Data where it lives** (tools/sources.py):"]
    big, local, postgres = (result.get(name) or {} for name in ("big", "local", "postgres"))
    if "duckdb" in big:
        duck, pandas_run = big["duckdb"], big["pandas"]
        pandas_text = (
            f"pandas {'fitted' if big['pandas_fits'] else 'could not fit'} in the same "
            f"{big['budget_mb']:,} MB ({pandas_run.get('error') or str(pandas_run.get('peak_rss_mb')) + ' MB peak'})"
        )
        parts.append(
            f"- {big['rows']:,} rows in {big['files']} Parquet files ({big['folder_mb']} MB): DuckDB load + "
            f"full analysis {duck.get('seconds', '—')} s, peak RSS of the whole process "
            f"{duck.get('peak_rss_mb', '—')} MB (budget {big['budget_mb']:,} MB: "
            f"{'within' if big['within_budget'] else 'over'}); {pandas_text}; planted slice first: "
            f"{big['found_planted']}."
        )
    if "pandas_ratio" in local:
        parts.append(
            f"- the same {local['rows']:,}-row Parquet file, load + full analysis, as ratios to a bare "
            f"DuckDB GROUP BY ({local['bare_duckdb_s']} s): pandas ×{local['pandas_ratio']:.2f} "
            f"({local['pandas_s']} s), DuckDB ×{local['duckdb_ratio']:.2f} ({local['duckdb_s']} s)."
        )
    if "ratio" in postgres:
        parts.append(
            f"- PostgreSQL, {postgres['rows']:,} rows: Ibis + analysis {postgres['ours_s']} s vs a bare "
            f"GROUP BY through psql {postgres['psql_s']} s (×{postgres['ratio']:.2f})."
        )
    for name, row in result.items():
        if isinstance(row, dict) and row.get("error"):
            parts.append(f"- {name}: {row['error']}")
    return ["\n".join(parts)]
