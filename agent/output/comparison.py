"""The code agent vs tool-calling agent table, from two finished runs' results."""

from __future__ import annotations

from agent.run.result import RunResult
from tools.verification import tally

# The published comparison on the revenue-by-country task, shown beside ours.
PUBLISHED = {
    "code": {"steps": 2, "input_tokens": 5451},
    "tool-calling": {"steps": 12, "input_tokens": 29201},
}


def comparison_rows(results: dict[str, RunResult]) -> list[dict]:
    """One row per agent kind: status, steps, tokens, seconds, and its claims: verified, weak passes (no entity
    named, matched some engine figure) and mismatched (flagged: misattributed, wrong direction or kind, unsupported)."""
    rows = []
    for kind, result in results.items():
        counts = tally(result.verification)
        rows.append(
            {
                "agent": kind,
                "model": result.model,
                "status": result.status,
                "steps": result.usage.get("steps", len(result.steps)),
                "input tokens": result.usage.get("input_tokens"),
                "output tokens": result.usage.get("output_tokens"),
                "seconds": result.usage.get("duration_s"),
                "verified": counts.verified,
                "weak passes": counts.weak,
                "mismatched": counts.mismatched,
                "published steps": PUBLISHED.get(kind, {}).get("steps"),
                "published input tokens": PUBLISHED.get(kind, {}).get("input_tokens"),
            }
        )
    return rows
