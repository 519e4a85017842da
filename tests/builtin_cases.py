"""Runs of the built-in analysts that cover every branch of their code: the sample files through the CLI
(`python -m agent run FILE --json`), small edge files, and runs where a tool fails (the guarded retry).

`snapshot()` keeps what a reader sees and what verification decides, and leaves out what may differ between two
equal runs (seconds) or with the wording of the code itself (the code text and token counts).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"

# Small files written for the edge cases: a new segment, no dimension, no net change, loading warnings, names
# that look like code.
EDGE_FILES = {
    "new_segment.csv": "country,revenue_before,revenue_after\nUK,100,90\nFrance,50,80\nSpain,0,25\nItaly,,12\n",
    "no_dimension.csv": "revenue_before,revenue_after\n100,120\n",
    "offsetting.csv": "country,revenue_before,revenue_after\nUK,100,120\nFrance,50,30\n",
    "unchanged.csv": "country,revenue_before,revenue_after\nUK,100,100\nFrance,50,50\n",
    "new_metric.csv": "country,revenue_before,revenue_after\nUK,0,10\nFrance,0,5\n",
    "warnings.csv": 'country,revenue_before,revenue_after\nUK,"$1,200","$1,000"\nFrance,abc,300\nDE,100,140\n',
    "hostile.csv": "\"x'); import os; print('\",revenue_before,revenue_after\nUK,1,2\nFR,3,1\n",
    "rate_change.csv": (
        "channel,users_before,users_after,orders_before,orders_after\n"
        "organic,40000,40000,2000,2000\nemail,12000,12000,960,480\npaid_search,25000,25000,1000,1000\n"
    ),
    "ratio_no_dimension.csv": "users_before,users_after,orders_before,orders_after\n1000,1000,50,40\n",
    "ratio_not_counts.csv": (
        "channel,spend_before,spend_after,revenue_before,revenue_after\n"
        "a,10.5,12.25,30.5,20.75\nb,20.25,18.5,40.5,45.25\n"
    ),
}

# (name, CLI arguments after `python -m agent run`); {edge} is the folder of EDGE_FILES.
CLI_CASES: list[tuple[str, list[str]]] = [
    ("revenue", ["sample_data/revenue_by_country.tsv"]),
    ("sales", ["sample_data/sales_by_segment.csv"]),
    ("sales_android", ["sample_data/sales_by_segment.csv", "-q", "What happened on Android?"]),
    ("sales_platform", ["sample_data/sales_by_segment.csv", "-q", "What happened by platform?"]),
    ("sales_beyond", ["sample_data/sales_by_segment.csv", "-q", "What is the weather like in Paris?"]),
    ("sales_why", ["sample_data/sales_by_segment.csv", "-q", "Why did revenue drop?"]),
    (
        "sales_follow_up",
        [
            "sample_data/sales_by_segment.csv",
            "-q",
            "Explain the change",
            "-q",
            "And what happened in Germany?",
        ],
    ),
    (
        "sales_follow_ups",
        [
            "sample_data/sales_by_segment.csv",
            "-q",
            "Explain the change",
            "-q",
            "Top 5 by channel?",
            "-q",
            "Germany and France on iOS?",
            "-q",
            "What is the weather?",
        ],
    ),
    ("conversion", ["sample_data/conversion_by_channel.csv"]),
    ("conversion_ratio", ["sample_data/conversion_by_channel.csv", "--ratio", "orders/users"]),
    (
        "conversion_ratio_device",
        [
            "sample_data/conversion_by_channel.csv",
            "--ratio",
            "orders/users",
            "-q",
            "What happened on mobile?",
        ],
    ),
    (
        "conversion_follow_up_metric",
        ["sample_data/conversion_by_channel.csv", "-q", "Explain", "-q", "What about users?"],
    ),
    ("daily_wow", ["sample_data/daily_revenue.csv", "--compare", "wow"]),
    ("daily_mom", ["sample_data/daily_revenue.csv", "--compare", "mom"]),
    ("daily_last_10d", ["sample_data/daily_revenue.csv", "--compare", "last-10d"]),
    (
        "daily_windows",
        [
            "sample_data/daily_revenue.csv",
            "--before-window",
            "2026-08-01..2026-08-20",
            "--after-window",
            "2026-08-21..2026-08-31",
        ],
    ),
    (
        "scenarios_all",
        ["sample_data/conversion_scenarios.csv", "--ratio", "converted_users/users", "--after", "all"],
    ),
    ("scenario_2", ["sample_data/conversion_scenarios.csv", "--after", "scenario_2"]),
    ("tool_calling_sales", ["sample_data/sales_by_segment.csv", "--agent", "tool-calling"]),
    (
        "tool_calling_ratio",
        ["sample_data/conversion_by_channel.csv", "--agent", "tool-calling", "--ratio", "orders/users"],
    ),
    (
        "tool_calling_follow_up",
        ["sample_data/revenue_by_country.tsv", "--agent", "tool-calling", "-q", "a", "-q", "b"],
    ),
    ("max_steps_1", ["sample_data/revenue_by_country.tsv", "--max-steps", "1"]),
    (
        "tool_calling_max_steps",
        ["sample_data/revenue_by_country.tsv", "--agent", "tool-calling", "--max-steps", "2"],
    ),
    *[(f"edge_{name}", [f"{{edge}}/{name}"]) for name in EDGE_FILES],
    ("edge_rate_change", ["{edge}/rate_change.csv", "--ratio", "orders/users"]),
    ("edge_ratio_no_dimension", ["{edge}/ratio_no_dimension.csv", "--ratio", "orders/users"]),
    ("edge_ratio_not_counts", ["{edge}/ratio_not_counts.csv", "--ratio", "revenue/spend"]),
]

# Runs where a KPI tool fails, so the analyst retries its step with every part guarded.
BROKEN_TOOL_CASES = [
    ("broken_top_slices", "sample_data/sales_by_segment.csv", None, "top_slices"),
    ("broken_segment_changes", "sample_data/revenue_by_country.tsv", None, "segment_changes"),
    ("broken_rate_mix", "sample_data/conversion_by_channel.csv", "orders/users", "rate_mix_effects"),
    ("broken_waterfall", "sample_data/revenue_by_country.tsv", None, "waterfall_chart"),
    ("broken_heatmap", "sample_data/sales_by_segment.csv", None, "change_heatmap"),
]


def _digest(value: Any) -> str:
    """A short fingerprint of a JSON value (charts are large; only their sameness matters here)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def _count(value: Any) -> Any:
    """How many claims a list of them holds (the claims themselves are kept once, below)."""
    return len(value) if isinstance(value, list) else value


def snapshot(result: dict[str, Any]) -> dict[str, Any]:
    """What must not change: status, summary, per step the thought, printed output and error, charts, claims."""

    def step_view(step: dict[str, Any]) -> dict[str, Any]:
        error = step.get("error")
        return {
            "thought": step.get("thought"),
            "observation": step.get("observation"),
            # An error quotes the failing line of code, which may be worded differently: its cause is kept.
            "error": error.rsplit(" due to: ", 1)[-1].split("\n", 1)[0] if error else error,
            "phase": (step.get("code") or "").split("\n", 1)[0],
        }

    if "runs" in result:  # `--after all`: one run per scenario, and the table comparing them
        return {
            "status": result.get("status"),
            "scenarios": result.get("scenarios"),
            "runs": {name: snapshot(run) for name, run in result["runs"].items()},
        }
    turns = result.get("turns") or [result]
    verification = result.get("verification") or {}
    return {
        "status": result.get("status"),
        "error": result.get("error"),
        "narrative": result.get("narrative"),
        "answer": result.get("answer"),
        "steps": [step_view(s) for s in result.get("steps", [])],
        "turns": [
            {
                "narrative": t.get("narrative"),
                "status": t.get("status"),
                "steps": [step_view(s) for s in t.get("steps", [])],
            }
            for t in turns
        ],
        "charts": [_digest(chart) for chart in result.get("charts") or []],
        "verification": {
            "checked": _count(verification.get("checked")),
            "mismatches": _count(verification.get("mismatches")),
            "claims": [
                (c.get("text"), c.get("verdict"), c.get("matched")) for c in verification.get("claims") or []
            ],
            "coverage": verification.get("coverage"),
            "all": _digest(verification),
        },
        "steps_count": (result.get("usage") or {}).get("steps"),
    }


def run_cli(arguments: list[str], edge: Path) -> dict[str, Any]:
    """One `python -m agent run ... --json` run, parsed."""
    command = [
        sys.executable,
        "-m",
        "agent",
        "run",
        *(a.replace("{edge}", str(edge)) for a in arguments),
        "--json",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    if not done.stdout.strip():
        return {"status": f"exit {done.returncode}", "error": done.stderr.strip().splitlines()[-1:]}
    result = json.loads(done.stdout)
    result["exit_code"] = done.returncode
    return result


def run_with_broken_tool(file: str, ratio: str | None, broken: str) -> dict[str, Any]:
    """A run in this process where one KPI tool raises, as a service behind it would."""
    from smolagents import Tool

    from agent.run.result import collect
    from agent.run.runner import RunRequest, run_events
    from tools.kpi_tools import KPI_TOOLS
    from tools.loading import load_dataset

    original = next(t for t in KPI_TOOLS if t.name == broken)

    class Broken(Tool):
        name = original.name
        description = original.description
        inputs = original.inputs
        output_type = original.output_type
        skip_forward_signature_validation = True

        def forward(self, *args, **kwargs):
            raise RuntimeError(f"{broken} service unavailable")

    tools = [t for t in KPI_TOOLS if t.name != broken] + [Broken()]
    request = RunRequest(load_dataset(ROOT / file), ratio=ratio, tools=tools, executor="local")
    return collect(run_events(request)).to_json()


def compact(value: Any) -> Any:
    """The snapshot with every long text replaced by its fingerprint, to keep the stored 'before' small."""
    if isinstance(value, str) and len(value) > 200:
        return "sha256:" + _digest(value)
    if isinstance(value, list | tuple):
        return [compact(v) for v in value]
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items()}
    return value


def all_snapshots(names: list[str] | None = None) -> dict[str, Any]:
    """Every case's snapshot, by name (only `names` when given)."""
    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        edge = Path(folder)
        for name, text in EDGE_FILES.items():
            (edge / name).write_text(text, encoding="utf-8")
        for name, arguments in CLI_CASES:
            if names is None or name in names:
                result = run_cli(arguments, edge)
                found[name] = {**snapshot(result), "exit_code": result.get("exit_code")}
    for name, file, ratio, broken in BROKEN_TOOL_CASES:
        if names is None or name in names:
            found[name] = snapshot(run_with_broken_tool(file, ratio, broken))
    return found


if __name__ == "__main__":  # python tests/builtin_cases.py OUT.json: writes the snapshots of this checkout
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    Path(sys.argv[1]).write_text(json.dumps(all_snapshots(), indent=1, ensure_ascii=False), encoding="utf-8")
