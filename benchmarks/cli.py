"""`python -m benchmarks [--quick]`: engine at scale, drill-down vs wise-pizza, end to end, agent suite, page, and
the claim checker against planted mistakes.

Prints each measurement as it lands and Markdown tables at the end; writes the JSON result (and the tables) to
benchmarks/results/. Exits 1 when a section broke or a correctness check failed (the planted slice not found,
a built-in agent case not solved) — never because of a timing.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.measure import ROOT

SECTIONS = ("ratios", "engine", "drill", "end_to_end", "agents", "page", "verification", "windows", "sources")
RESULTS = ROOT / "benchmarks" / "results"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a CI-sized run (about a minute): up to 1M rows, one repeat, the sample page only",
    )
    parser.add_argument(
        "--only",
        metavar="SECTION",
        action="append",
        choices=SECTIONS,
        help=f"run only this section (repeatable): {', '.join(SECTIONS)}",
    )
    parser.add_argument("--rows", metavar="N,N,...", help="file sizes for the engine and drill-down sections")
    parser.add_argument("--repeats", type=int, help="repeats per measurement (default 5, 1 with --quick)")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json", help="the JSON result file")
    parser.add_argument("--data", type=Path, default=RESULTS / "data", help="where generated files are kept")
    parser.add_argument("--model", help="also run the agent suite with this LiteLLM model id")
    parser.add_argument("--api-base", help="an OpenAI-compatible server for --model")
    parser.add_argument("--api-key-env", help="the environment variable holding the key for --model")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile one CLI run on the 1M-row file: where its time goes (pyinstrument if "
        "installed, else cProfile's top entries)",
    )
    return parser


def plan(quick: bool) -> dict[str, Any]:
    """What each section measures in a quick and in a full run."""
    if quick:
        return {
            "sizes": [10_000, 100_000, 1_000_000],
            "drill_sizes": [10_000],
            "drill_timeout": 120.0,
            "end_to_end_rows": 1_000_000,
            "page_rows": [None],
            "page_visitors": 4,  # browser contexts clicking Run together
            "repeats": 1,
            "profile_rows": None,
        }
    return {
        "sizes": [10_000, 100_000, 1_000_000, 5_000_000],
        "drill_sizes": [10_000, 30_000, 100_000, 1_000_000],
        "drill_timeout": 600.0,
        "end_to_end_rows": 1_000_000,
        "page_rows": [None, 1_000_000],
        "page_visitors": 16,
        "repeats": 5,
        "profile_rows": 1_000_000,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from agent.settings import apply_environment_defaults

    apply_environment_defaults()
    from benchmarks.machine import describe_machine
    from benchmarks.report import markdown_report

    settings = plan(args.quick)
    if args.rows:
        sizes = [int(size.replace("_", "")) for size in args.rows.split(",")]
        settings.update(sizes=sizes, drill_sizes=sizes, profile_rows=None)
    repeats = args.repeats or settings["repeats"]
    sections = args.only or list(SECTIONS)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result: dict[str, Any] = {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": "quick" if args.quick else "full",
        "repeats": repeats,
        "machine": describe_machine(),
    }
    failures: list[str] = []
    print(
        f"KPI Narrator benchmarks ({result['mode']}, {repeats} repeat(s)): {', '.join(sections)}", flush=True
    )
    for section in sections:
        print(f"{section}:", flush=True)
        try:
            result[section] = _run_section(section, args, settings, repeats)
        except Exception as error:  # one broken section must not hide the others' figures
            traceback.print_exc()
            failures.append(f"{section}: {type(error).__name__}: {error}")
            result[section] = {"error": f"{type(error).__name__}: {error}"}
    if args.profile:
        from benchmarks.datasets import scale_file
        from benchmarks.ratios import profile_run

        print("profile:", flush=True)
        path = scale_file(1_000_000, args.data)
        result["profile"] = {
            "file": path.name,
            "text": profile_run(path, args.out.parent / "profile_cli.txt"),
        }
    failures += correctness_failures(result)
    result["failures"] = failures
    result["seconds"] = round(time.perf_counter() - started, 1)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    report = markdown_report(result)
    args.out.with_suffix(".md").write_text(report)
    print("\n" + report)
    print(f"Wrote {args.out} and {args.out.with_suffix('.md')} in {result['seconds']:.0f} s.")
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


def _run_section(section: str, args: argparse.Namespace, settings: dict[str, Any], repeats: int) -> Any:
    if section == "ratios":
        from benchmarks.ratios import ratios

        return ratios(args.data, repeats)
    if section == "engine":
        from benchmarks.engine_scale import engine_scale

        return engine_scale(settings["sizes"], args.data, repeats, settings["profile_rows"], args.out.parent)
    if section == "drill":
        from benchmarks.drill import drill_comparison

        return drill_comparison(settings["drill_sizes"], args.data, settings["drill_timeout"])
    if section == "end_to_end":
        from benchmarks.startup import end_to_end

        return end_to_end(settings["end_to_end_rows"], args.data, repeats)
    if section == "agents":
        import tempfile

        from agent.models.build import ModelChoice
        from benchmarks.agents import agent_suite, suite_summary

        choices = [ModelChoice()]
        if args.model or args.api_base:
            choices.append(
                ModelChoice(
                    args.model or "openai/local", api_base=args.api_base, api_key_env=args.api_key_env
                )
            )
        from benchmarks.change_log import change_log_suite

        with tempfile.TemporaryDirectory() as folder:
            cases = agent_suite(Path(folder), choices)
            change_log = change_log_suite(Path(folder) / "change_log", choices)
        return {"cases": cases, "summary": suite_summary(cases), "change_log": change_log}
    if section == "page":
        from benchmarks.page import page_latency

        return page_latency(settings["page_rows"], args.data, repeats, visitors=settings["page_visitors"])
    if section == "windows":
        from benchmarks.windows import windows_benchmark

        return windows_benchmark(args.data, repeats)
    if section == "sources":
        from benchmarks.sources import sources_benchmark

        return sources_benchmark(args.data, repeats, args.quick)
    if section == "verification":
        import tempfile

        from benchmarks.verification import mutation_suite

        with tempfile.TemporaryDirectory() as folder:
            return mutation_suite(Path(folder))
    raise ValueError(section)


def correctness_failures(result: dict[str, Any]) -> list[str]:
    """What a benchmark run found broken (never a timing)."""
    failures = []
    ratios = result.get("ratios") or {}
    for name in ("startup", "million"):
        status = (ratios.get(name) or {}).get("status")
        if status is not None and status != "success":
            failures.append(f"ratios: the {name} CLI run ended {status}")
    queue = ratios.get("queue") or {}
    if queue and not queue.get("all_right"):
        failures.append(
            f"ratios: {queue.get('right')}/{queue.get('visitors')} queued runs got the right answer"
        )
    for row in result.get("engine") or []:
        if isinstance(row, dict) and row.get("ours", {}).get("found_planted") is False:
            failures.append(f"engine: the planted slice is not first at {row['rows']:,} rows")
    for row in result.get("drill") or []:
        if isinstance(row, dict) and (row.get("ours") or {}).get("planted_rank") != 1:
            failures.append(f"drill-down: our top slice is not the planted one at {row['rows']:,} rows")
    end_to_end = result.get("end_to_end") or {}
    if end_to_end and (end_to_end.get("status") != "success" or not end_to_end.get("found_planted")):
        failures.append(
            f"end to end: status {end_to_end.get('status')}, planted slice found: "
            f"{end_to_end.get('found_planted')}"
        )
    agents = result.get("agents") or {}
    for row in agents.get("cases") or []:
        if row["model"] == "builtin" and not row["success"]:
            failures.append(
                f"agents: built-in {row['agent']} failed {row['case']}: {'; '.join(row['problems'])}"
            )
    for row in agents.get("change_log") or []:
        if row["model"] == "builtin" and not row["success"]:
            failures.append(
                f"agents: built-in change-log case {row['case']} failed: {'; '.join(row['problems'])}"
            )
    for row in result.get("page") or []:
        if isinstance(row, dict) and (row.get("error") or row.get("exceptions")):
            failures.append(f"page {row['file']}: {row.get('error') or 'an exception was shown'}")
    windows = result.get("windows") or {}
    if windows and not windows.get("error") and not windows.get("found_planted"):
        failures.append("windows: the planted slice is not first in the week-over-week comparison")
    if result.get("sources"):
        from benchmarks.sources import failures as source_failures

        failures += source_failures(result["sources"])
    verification = result.get("verification") or {}
    if verification.get("detection_rate") is not None and verification["detection_rate"] < 0.99:
        failures.append(
            f"verification: {verification['detection_rate']:.1%} of planted mistakes flagged (< 99%)"
        )
    if verification.get("false_flags"):
        failures.append(
            f"verification: {verification['false_flags']} correct summaries or paraphrases flagged"
        )
    return failures
