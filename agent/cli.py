"""`python -m agent run FILE`: explain a metric's change from the terminal, live, or as one JSON object."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from agent.sandbox import worker_pool
from agent.settings import AGENT_KINDS, DEFAULT_AGENT_KIND, DEFAULT_STEP_TIMEOUT_S

if TYPE_CHECKING:  # imported where used: `--help` must not wait for pandas and smolagents
    from smolagents.models import Model

    from agent.run.runner import RunRequest
    from tools.loading import Dataset
    from tools.windows import Window

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT = 0, 1, 2
# The flag that sets what a DataError's `setting` names: the loader's messages name no surface's controls.
FLAG_FOR_SETTING = {
    "periods": "--periods EARLIER,LATER",
    "period_column": "--period-column COLUMN",
    "metric": "--metric NAME",
    "by": "--by DIMENSION",
    "after": "--after SCENARIO",
    "ratio": "--ratio NUMERATOR/DENOMINATOR",
    "max_size": "--max-file-mb N",
    "compare": "--compare wow|mom|yoy|last-Nd, or --before-window/--after-window",
    "table": "--table NAME",
    "query": '--query "SELECT ..."',
    "timeout": "--timeout SECONDS",
    "events": "--events FILE",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m agent",
        description="KPI Narrator: explain why a business metric moved, with a code agent whose numbers are "
        "verified against a deterministic engine.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="analyse a before/after file", description="Analyse a before/after file."
    )
    run.add_argument(
        "file",
        metavar="SOURCE",
        help="CSV, TSV, semicolon file, Excel (.xlsx) or Parquet; a glob (data/*.parquet, read by DuckDB); a "
        "database: duckdb:///path/db.duckdb?table=sales, postgresql://user@host/db?table=sales (password from "
        "PGPASSWORD or ~/.pgpass), or secrets:NAME for [connections.NAME] in .streamlit/secrets.toml",
    )
    run.add_argument("--table", help="the database table to read (schema.table for another schema)")
    run.add_argument("--query", metavar="SELECT", help="a read-only SELECT to read instead of a table")
    run.add_argument(
        "--engine",
        choices=("auto", "pandas", "duckdb"),
        default="auto",
        help="what sums a file: pandas in memory, or DuckDB in place (out of core, for files bigger than "
        "memory); auto: pandas for one file, DuckDB for globs and databases",
    )
    run.add_argument(
        "--timeout", type=float, default=300.0, help="seconds a database query may run (default 300)"
    )
    run.add_argument(
        "-q",
        "--question",
        action="append",
        default=[],
        help="what to explain (default: how the metric changed); repeat it for follow-up questions, asked in order "
        "in the same conversation",
    )
    run.add_argument("--metric", help="the metric to explain (default: the first, or the ratio's numerator)")
    run.add_argument("--ratio", metavar="NUM/DEN", help="a ratio metric, e.g. orders/users for conversion")
    run.add_argument("--by", action="append", metavar="DIM", help="a dimension to analyse (repeatable)")
    run.add_argument(
        "--after",
        metavar="SCENARIO",
        help="in a file with several 'after' columns per metric: the scenario for every metric, by name "
        "(scenario_2) or by any one of its columns; 'all' compares every scenario",
    )
    run.add_argument("--period-column", metavar="COLUMN", help="the period column of a long table")
    run.add_argument("--periods", metavar="EARLIER,LATER", help="the two periods to compare, earlier first")
    run.add_argument(
        "--compare",
        metavar="PRESET",
        help="for a table with many dates: wow, mom, yoy or last-Nd (e.g. last-14d); a daily table defaults to wow",
    )
    run.add_argument(
        "--before-window", metavar="START..END", help="the earlier window, e.g. 2026-10-01..2026-10-31"
    )
    run.add_argument(
        "--after-window", metavar="START..END", help="the later window, e.g. 2026-11-01..2026-11-30"
    )
    run.add_argument(
        "--model",
        default="builtin",
        help="builtin (the rule-based analyst, default) or a LiteLLM id such as openai/gpt-4o-mini",
    )
    run.add_argument(
        "--api-base", metavar="URL", help="an OpenAI-compatible server (vLLM, llama.cpp, Ollama, ...)"
    )
    run.add_argument("--api-key-env", metavar="NAME", help="read the API key from this environment variable")
    run.add_argument(
        "--agent",
        choices=tuple(AGENT_KINDS),
        default=DEFAULT_AGENT_KIND,
        help="; ".join(f"{kind.name}: {kind.description}" for kind in AGENT_KINDS.values()),
    )
    run.add_argument(
        "--max-steps",
        type=int,
        help="the agent's step limit (default "
        + ", ".join(f"{kind.default_max_steps} for {kind.name}" for kind in AGENT_KINDS.values())
        + ")",
    )
    run.add_argument(
        "--step-timeout",
        type=float,
        default=DEFAULT_STEP_TIMEOUT_S,
        help=f"seconds a step's code may run before it is stopped (default {DEFAULT_STEP_TIMEOUT_S:g})",
    )
    run.add_argument(
        "--executor",
        choices=("process", "local"),
        default="process",
        help="run the agent's code in a worker process (default) or in this process",
    )
    run.add_argument(
        "--events",
        metavar="FILE",
        help="a change log beside the metrics (CSV, TSV or Excel: date, description, optional kind and scope): "
        "the analyst asks a change-log agent about it and cites only its events",
    )
    run.add_argument(
        "--planning-interval",
        type=int,
        metavar="N",
        help="a planning step every N steps (smolagents planning_interval; shown in the trace)",
    )
    run.add_argument("--max-file-mb", type=float, default=1024, help="refuse larger files (default 1024)")
    run.add_argument("--json", action="store_true", help="print one JSON object and nothing else on stdout")
    run.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _main(args)
    except BrokenPipeError as error:
        if not _stdout_reader_left():
            return _fail(args, f"unexpected error: {type(error).__name__}: {error}", EXIT_RUN_FAILED)
        # The reader left (`--json | head -c 100`): nothing to say, and nowhere to say it. The exit's own flush
        # must not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_RUN_FAILED  # as Python itself exits after a broken pipe: the output is not whole


def _main(args: argparse.Namespace) -> int:
    if args.executor == "process":  # the code agent's code and the tool-calling agent's tools run in a worker
        # First of all: the worker's second of imports overlaps this process' own (pandas alone takes 0.3 s), and
        # prestart returns at once (the launcher thread starts it).
        worker_pool.prestart()
    # Heavy imports wait until the arguments are known to be good, so --help and usage errors are instant.
    from agent.models.build import ModelConfigError
    from tools.engine import EngineError
    from tools.loading import DataError

    try:
        return _run(args)
    except (DataError, EngineError, ModelConfigError) as error:
        flag = FLAG_FOR_SETTING.get(getattr(error, "setting", None) or "")
        return _fail(args, f"{error} (set it with {flag})" if flag else str(error), EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        return _fail(args, "interrupted", EXIT_RUN_FAILED)
    except BrokenPipeError:
        raise  # `main` tells a reader that left from anything else
    except Exception as error:
        if args.debug:
            traceback.print_exc()
        hint = "" if args.debug else " (run with --debug for the traceback)"
        return _fail(args, f"unexpected error: {type(error).__name__}: {error}{hint}", EXIT_RUN_FAILED)


def _stdout_reader_left() -> bool:
    """Whether stdout is a pipe whose reading end was closed (poll reports an error on its writing end)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
    except (AttributeError, OSError, ValueError):  # stdout replaced by something that is not a file
        return False
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"status": "error", "error": message}))
    return code


def _run(args: argparse.Namespace) -> int:
    from agent.models.build import ModelChoice, build_model
    from agent.run.result import RunResult
    from agent.run.runner import RunRequest, run_events
    from tools.loading import DataError, load_dataset

    if args.max_steps is not None and args.max_steps < 1:
        raise DataError("--max-steps must be at least 1.")
    if args.step_timeout <= 0:
        raise DataError("--step-timeout must be more than 0 seconds.")
    if args.planning_interval is not None and args.planning_interval < 1:
        raise DataError("--planning-interval must be at least 1.")
    periods = [p.strip() for p in args.periods.split(",")] if args.periods else None
    windows = _windows(args)

    options = dict(
        by=args.by, period_column=args.period_column, periods=periods, compare=args.compare, windows=windows
    )
    in_place = _reads_in_place(args)

    def load(after: str | None) -> Dataset:
        if in_place:  # summed where the data lives: DuckDB over files, or the database
            from tools.sources import open_and_load

            return open_and_load(
                _location(args.file),
                table=args.table,
                query=args.query,
                timeout_s=args.timeout,
                after=after,
                **options,
            )
        return load_dataset(args.file, after=after, max_bytes=int(args.max_file_mb * 1024 * 1024), **options)

    def request_for(dataset: Dataset) -> RunRequest:
        events = None
        if args.events:
            from tools.change_log import load_events

            events = load_events(
                args.events, dimensions=dataset.dimensions, max_bytes=int(args.max_file_mb * 1024 * 1024)
            )
        return RunRequest(
            dataset,
            question=(args.question or [""])[0],
            metric=args.metric,
            ratio=args.ratio,
            by=args.by,
            max_steps=args.max_steps,
            executor=args.executor,
            step_timeout=args.step_timeout,
            agent=args.agent,
            events=events,
            planning_interval=args.planning_interval,
        )

    model = build_model(
        ModelChoice(args.model, api_base=args.api_base, api_key_env=args.api_key_env), args.agent
    )
    from agent.run.scenarios import wants_all_scenarios

    if wants_all_scenarios(args.after):
        return _run_all_scenarios(args, load, request_for, model)
    request = request_for(load(args.after))
    follow_ups = args.question[1:]
    result = RunResult()
    if args.json:
        for event in run_events(request, model, follow_ups=follow_ups):
            result.apply(event)
        print(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        from agent.output.render import TerminalRenderer

        render = TerminalRenderer()
        for event in run_events(request, model, follow_ups=follow_ups):
            result.apply(event)
            render(event)
    return EXIT_OK if result.status == "success" else EXIT_RUN_FAILED


def _reads_in_place(args: argparse.Namespace) -> bool:
    """Whether SOURCE is summed where it lives (DuckDB, a database) rather than read whole by pandas."""
    from tools.loading import DataError
    from tools.sources import is_source_url

    in_place = (
        args.engine == "duckdb"
        or is_source_url(args.file)
        or args.file.startswith("secrets:")
        or bool(args.table or args.query)
    )
    if in_place and args.engine == "pandas":
        raise DataError(
            f"{args.file}: --engine pandas reads one file; a glob or a database is read in place."
        )
    if args.timeout <= 0:
        raise DataError("--timeout must be more than 0 seconds.", setting="timeout")
    return in_place


def _location(source: str) -> str:
    """SOURCE as a path, glob or URL: `secrets:NAME` is the URL of [connections.NAME] in .streamlit/secrets.toml."""
    if not source.startswith("secrets:"):
        return source
    from tools.sources import connection_url

    return connection_url(source.removeprefix("secrets:"))


def _windows(args: argparse.Namespace) -> tuple[Window, Window] | None:
    """--before-window and --after-window, both or neither."""
    from tools.loading import DataError
    from tools.windows import WindowError, parse_range

    if not (args.before_window or args.after_window):
        return None
    if not (args.before_window and args.after_window):
        raise DataError("--before-window and --after-window go together: give both ranges.")
    try:
        return parse_range(args.before_window), parse_range(args.after_window)
    except WindowError as error:
        raise DataError(str(error)) from error


def _run_all_scenarios(
    args: argparse.Namespace,
    load: Callable[[str | None], Dataset],
    request_for: Callable[[Dataset], RunRequest],
    model: Model,
) -> int:
    """`--after all`: one full, verified run per scenario, then a row per scenario."""
    from agent.run.runner import run_events
    from agent.run.scenarios import comparison_status, run_scenarios
    from tools.loading import DataError

    if len(args.question) > 1:
        raise DataError(
            "--after all runs one question per scenario: give -q once (follow-ups need one scenario)."
        )
    dataset = load(None)
    if not dataset.scenarios:
        what = "is a long table" if dataset.layout == "long" else "has one 'after' column per metric"
        raise DataError(
            f"{args.file}: --after all compares scenarios, but this file {what}. Leave --after out."
        )
    on_event = None
    if not args.json:
        from agent.output.render import ScenarioRenderer

        on_event = ScenarioRenderer()
    rows, results = run_scenarios(
        dataset.scenarios, load, lambda loaded: run_events(request_for(loaded), model), on_event=on_event
    )
    status = comparison_status(rows)
    if args.json:
        print(
            json.dumps(
                {
                    "status": status,
                    "scenarios": [row.to_dict() for row in rows],
                    "runs": {name: result.to_json() for name, result in results.items()},
                },
                ensure_ascii=False,
            )
        )
    else:
        from agent.output.render import print_scenario_rows

        print_scenario_rows(rows)
    return EXIT_OK if status == "success" else EXIT_RUN_FAILED
