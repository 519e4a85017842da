"""One measurement in a fresh interpreter: `python -m benchmarks._probe TARGET JSON_ARGS`.

Each target imports what it needs first; `warmups` untimed runs follow, then `timed` runs of which the fastest
counts. The probe prints one JSON line with the seconds, the resident memory before the timed runs and the peak
(every row of a table starts from the same clean process, so a peak is that target's own).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

TARGETS: dict[str, Callable[[dict[str, Any]], Callable[[], Any]]] = {}


def target(name: str):
    """Registers a target: a function that imports, then returns the zero-argument timed callable."""

    def register(prepare):
        TARGETS[name] = prepare
        return prepare

    return register


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@target("bare")
def _bare(args):
    """The baseline: pandas' pyarrow CSV reader and one group-by sum per dimension, nothing else."""
    import pandas as pd
    import pyarrow.csv  # noqa: F401  (pandas imports it on first use: not part of what is timed)

    def run():
        frame = pd.read_csv(args["path"], engine="pyarrow")
        metrics = [c for c in frame.columns if c not in args["dimensions"]]
        for dimension in args["dimensions"]:
            frame.groupby(dimension, observed=True)[metrics].sum()
        return {"rows": len(frame)}

    return run


@target("ours")
def _ours(args):
    """KPI Narrator's load + full analysis (totals, breakdowns, 2-level drill-down, ratio when asked)."""
    import pyarrow.csv  # noqa: F401  (imported on first use, as for the baseline: not timed)

    from tools.analysis import analyze
    from tools.loading import load_dataset

    def run():
        started = time.perf_counter()
        dataset = load_dataset(args["path"])
        loaded = time.perf_counter()
        analysis = analyze(dataset, ratio=args.get("ratio"))
        top = analysis["top_slices"][0] if analysis["top_slices"] else {}
        return {
            "rows": dataset.rows_read,
            "load_s": loaded - started,
            "analysis_s": time.perf_counter() - loaded,
            "top_slice": top.get("slice"),
        }

    return run


@target("duckdb")
def _duckdb(args):
    """A candidate engine: DuckDB reading the CSV and grouping by each dimension."""
    import duckdb

    def run():
        connection = duckdb.connect()
        connection.execute(f"CREATE TABLE t AS SELECT * FROM read_csv_auto('{args['path']}')")
        metrics = [
            c
            for (c,) in connection.execute("SELECT name FROM pragma_table_info('t')").fetchall()
            if c not in args["dimensions"]
        ]
        sums = ", ".join(f'sum("{m}")' for m in metrics)
        for dimension in args["dimensions"]:
            connection.execute(f'SELECT "{dimension}", {sums} FROM t GROUP BY 1').fetchdf()
        return {"rows": connection.execute("SELECT count(*) FROM t").fetchone()[0]}

    return run


@target("polars")
def _polars(args):
    """A candidate engine: polars reading the CSV and grouping by each dimension."""
    import polars as pl

    def run():
        frame = pl.read_csv(args["path"])
        metrics = [c for c in frame.columns if c not in args["dimensions"]]
        for dimension in args["dimensions"]:
            frame.group_by(dimension).agg([pl.col(m).sum() for m in metrics])
        return {"rows": frame.height}

    return run


@target("drill_ours")
def _drill_ours(args):
    """Our drill-down alone on an in-memory table (the loading is not timed)."""
    import pandas as pd

    from tools.engine import drill_down

    frame = pd.read_parquet(args["path"])

    def run():
        table = drill_down(frame, args["dimensions"], f"{args['metric']}_before", f"{args['metric']}_after")
        return {"slices": table["slice"].head(3).tolist()}

    return run


@target("drill_wise_pizza")
def _drill_wise_pizza(args):
    """wise-pizza's explain_changes_in_totals on the same in-memory table, up to 2-dimension slices."""
    import warnings

    import pandas as pd
    import wise_pizza

    warnings.filterwarnings("ignore")
    frame = pd.read_parquet(args["path"])
    metric = args["metric"]

    def run():
        before = frame[args["dimensions"]].assign(total=frame[f"{metric}_before"], size=1.0)
        after = frame[args["dimensions"]].assign(total=frame[f"{metric}_after"], size=1.0)
        result = wise_pizza.explain_changes_in_totals(
            df1=before,
            df2=after,
            dims=args["dimensions"],
            total_name="total",
            size_name="size",
            max_depth=2,
            max_segments=5,
            how="totals",
            solver="lasso",
            verbose=0,
        )
        # Ranked by the size of their estimated impact, as ours are by the size of their change.
        ranked = sorted(result.segments, key=lambda segment: -abs(float(segment.get("impact", 0.0))))
        slices = [{str(k): str(v) for k, v in segment["segment"].items()} for segment in ranked]
        return {"slices": slices[:3]}

    return run


@target("import_cli")
def _import_cli(args):
    """Start-up cost: importing what `python -m agent run` imports before it reads the file."""

    def run():
        import agent.run.runner  # noqa: F401  (smolagents, rich, the tools)
        import tools.loading  # noqa: F401

        return {}

    return run


def main(argv: list[str]) -> int:
    name, raw = argv[0], argv[1] if len(argv) > 1 else "{}"
    args = json.loads(raw)
    if args.get("memory_cap_gib"):  # a library that would eat the machine fails with MemoryError instead
        cap = int(args["memory_cap_gib"] * 1024**3)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    run = TARGETS[name](args)
    for _ in range(args.get("warmups", 0)):  # first calls fault in fresh memory and fill caches: not timed
        run()
    start_rss = _rss_mb()
    seconds = float("inf")
    for _ in range(max(1, args.get("timed", 1))):  # the fastest of the timed runs: the least disturbed one
        started = time.perf_counter()
        if args.get("profile"):
            from pyinstrument import Profiler

            with Profiler(interval=0.001) as profiler:
                outcome = run()
            with open(args["profile"], "w") as out:
                out.write(profiler.output_text(unicode=True, color=False, show_all=False))
        else:
            outcome = run()
        elapsed = time.perf_counter() - started
        if elapsed < seconds:  # the phases reported are those of the run that counts
            seconds, result = elapsed, outcome
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "target": name,
                "seconds": seconds,
                "start_rss_mb": start_rss,
                "peak_rss_mb": peak,
                "result": result,
            },
            default=str,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
