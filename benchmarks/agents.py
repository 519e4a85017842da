"""The agent task suite: each case run by each agent kind and each model, scored against its known answer."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from agent.models.build import ModelChoice, ModelConfigError, build_model
from agent.run.result import collect
from agent.run.runner import RunRequest, run_events
from agent.settings import AGENT_KINDS
from benchmarks.cases import CASES, Case, check_answer
from tools.loading import DataError, load_dataset


def run_case(
    case: Case, folder: Path, choice: ModelChoice, kind: str, max_steps: int | None = None
) -> dict[str, Any]:
    """One case, one agent kind, one model: success, the reasons it failed, steps, tokens and seconds."""
    path = case.write(folder)
    options = case.options
    started = time.perf_counter()
    row: dict[str, Any] = {"case": case.name, "agent": kind, "model": choice.model_id}
    try:
        dataset = load_dataset(
            path,
            by=options.get("by"),
            period_column=options.get("period_column"),
            periods=options.get("periods"),
        )
        request = RunRequest(
            dataset,
            metric=options.get("metric"),
            ratio=options.get("ratio"),
            by=options.get("by"),
            max_steps=max_steps,
            agent=kind,
        )
        result = collect(run_events(request, build_model(choice, kind))).to_json()
    except DataError as error:
        return {**row, "success": False, "problems": [f"could not load: {error}"], "seconds": None}
    except ModelConfigError as error:  # no key for the provider, say: every case says so, the suite goes on
        return {**row, "success": False, "problems": [f"model not usable: {error}"], "seconds": None}
    seconds = time.perf_counter() - started
    problems = check_answer(case, result)
    usage = result.get("usage") or {}
    steps = result.get("steps") or []
    verification = result["verification"]
    return {
        **row,
        "success": not problems,
        "problems": problems,
        "status": result["status"],
        "steps": usage.get("steps"),
        "input_tokens": usage.get("input_tokens"),
        "output_tokens": usage.get("output_tokens"),
        "tokens_estimated": usage.get("tokens_estimated"),
        "first_request_tokens": steps[0]["input_tokens"] if steps else None,
        "verified": len(verification["checked"]) - len(verification["mismatches"]),
        "mismatched": len(verification["mismatches"]),
        "seconds": round(seconds, 3),
    }


def agent_suite(
    folder: Path,
    choices: list[ModelChoice],
    kinds: tuple[str, ...] = tuple(AGENT_KINDS),
    cases: list[Case] | None = None,
    log=print,
) -> list[dict[str, Any]]:
    """Every case × agent kind × model."""
    rows = []
    for choice in choices:
        unusable: str | None = None
        for kind in kinds:
            for case in cases or CASES:
                if unusable:  # a model that cannot answer at all would fail every case the same slow way
                    rows.append(
                        {
                            "case": case.name,
                            "agent": kind,
                            "model": choice.model_id,
                            "success": False,
                            "problems": [f"skipped: {unusable}"],
                            "seconds": None,
                        }
                    )
                    continue
                row = run_case(case, folder / kind, choice, kind)
                mark = "ok  " if row["success"] else "FAIL"
                log(
                    f"  {mark} {choice.model_id:>10} {kind:<12} {case.name:<22} steps {row.get('steps')}, "
                    f"input tokens {row.get('input_tokens')}, {row.get('seconds')} s"
                    + ("" if row["success"] else f" — {'; '.join(row['problems'])}")
                )
                rows.append(row)
                if not row["success"] and not row.get("input_tokens") and not row.get("verified"):
                    unusable = f"the model gave no answer on {case.name} ({'; '.join(row['problems'][:1])})"
                    log(f"  skipping the other cases of {choice.model_id}: {unusable}")
    return rows


def suite_summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model and agent kind: cases solved, wrong numbers, and mean steps, tokens and seconds per case."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["agent"]), []).append(row)
    summary = []
    for (model, kind), found in groups.items():
        finished = [r for r in found if r.get("steps") is not None]

        def mean(key: str, runs: list[dict[str, Any]] = finished) -> float | None:
            values = [r[key] for r in runs if r.get(key) is not None]
            return round(sum(values) / len(values), 3) if values else None

        summary.append(
            {
                "model": model,
                "agent": kind,
                "cases": len(found),
                "solved": sum(1 for r in found if r["success"]),
                "mismatched_numbers": sum(r.get("mismatched") or 0 for r in found),
                "mean_steps": mean("steps"),
                "mean_input_tokens": mean("input_tokens"),
                "mean_output_tokens": mean("output_tokens"),
                "mean_first_request_tokens": mean("first_request_tokens"),
                "mean_seconds": mean("seconds"),
            }
        )
    return summary
