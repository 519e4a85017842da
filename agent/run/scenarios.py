"""Comparing the scenarios of a file: one full, verified run per scenario, then one row per scenario.

A scenario file has one "before" column per metric and several "after" columns, one per scenario
(`users_after_scenario_1`, `users_after_scenario_2`, ...). Each scenario is loaded on its own (every metric from
that scenario), analysed and explained by the agent, and checked against the engine like any run; the rows put the
headline change and the top driver of each side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from agent.run import events as ev
from agent.run.result import RunResult
from tools.facts import dimension_value
from tools.loading import DataError, Dataset, normal_name
from tools.segment_labels import segment_label


def wants_all_scenarios(after: str | None) -> bool:
    """True when the user asked to compare every scenario (`--after all`, the page's "All scenarios")."""
    return after is not None and normal_name(after) == "all"


@dataclass
class ScenarioRow:
    """The headline of one scenario's run, every figure taken from the engine's analysis of that scenario.

    Attributes:
        scenario: The scenario's name.
        status: The run's status (success, max_steps, error, stopped).
        measure: What the headline describes: the metric, or "numerator / denominator" for a ratio.
        before: The total (or the rate, for a ratio) before.
        after: The total (or the rate) after.
        change: after - before (percentage points x 100 for a ratio: 0.0123 is +1.23 pp).
        pct_change: The % change of a total; None for a ratio or a total that was 0 before.
        top_driver: The slice that explains most of the change ("maturity = new"); for a ratio, the segment
            whose rate and mix effects move the rate most.
        driver_share_pct: That driver's share of the total change (of the rate's change, for a ratio), in %.
        verified: Numbers of the summary that matched the engine.
        checked: Numbers of the summary that were checked.
        error: Why the run failed, when it did.
    """

    scenario: str
    status: str
    measure: str
    before: float | None
    after: float | None
    change: float | None
    pct_change: float | None
    top_driver: str | None
    driver_share_pct: float | None
    verified: int
    checked: int
    error: str | None = None

    @property
    def all_verified(self) -> bool:
        return self.status == "success" and self.checked > 0 and self.verified == self.checked

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "all_verified": self.all_verified}


def scenario_row(scenario: str, result: RunResult) -> ScenarioRow:
    """One scenario's row from its finished run."""
    analysis = result.analysis or {}
    verification = result.verification or {}
    checked = len(verification.get("checked") or [])
    verified = checked - len(verification.get("mismatches") or [])
    slices = analysis.get("top_slices") or []
    lead = slices[0] if slices else {}
    driver, share = lead.get("segment"), lead.get("contribution_pct")
    ratio = analysis.get("ratio")
    if ratio:
        measure = f"{ratio['numerator']} / {ratio['denominator']}"
        before, after, change, pct = ratio.get("before"), ratio.get("after"), ratio.get("change"), None
        # A ratio's driver is the segment whose rate and mix effects move the rate most (rows come sorted so).
        segments = ratio.get("by_segment") or []
        driver, share = None, None
        if segments and ratio.get("dimension"):
            top = segments[0]
            driver = segment_label(ratio["dimension"], dimension_value(top, ratio["dimension"]))
            if change and top.get("total_effect") is not None:
                share = top["total_effect"] / change * 100.0
    else:
        totals = analysis.get("totals") or {}
        measure = analysis.get("metric") or ""
        before, after = totals.get("before"), totals.get("after")
        change, pct = totals.get("abs_change"), totals.get("pct_change")
    return ScenarioRow(
        scenario=scenario,
        status=result.status,
        measure=measure,
        before=before,
        after=after,
        change=change,
        pct_change=pct,
        top_driver=driver,
        driver_share_pct=share,
        verified=verified,
        checked=checked,
        error=result.error,
    )


def run_scenarios(
    scenarios: list[str],
    load: Callable[[str], Dataset],
    run: Callable[[Dataset], Iterator[ev.Event]],
    on_event: Callable[[str, ev.Event], None] | None = None,
) -> tuple[list[ScenarioRow], dict[str, RunResult]]:
    """Runs the analysis once per scenario, in order.

    Args:
        scenarios: The scenarios to run.
        load: Loads the file with one scenario chosen (raises DataError when it cannot be).
        run: The event stream of one run on a loaded dataset.
        on_event: Called with (scenario, event) as each event arrives, for a live trace.

    Returns:
        One row per scenario, and each scenario's full result. A scenario that cannot be loaded (a metric it
        lacks) gets an error row; the others still run.
    """
    rows, results = [], {}
    for scenario in scenarios:
        result = RunResult()
        try:
            # A metric or ratio part the scenario lacks fails the load or the run's start: an error row.
            for event in run(load(scenario)):
                result.apply(event)
                if on_event is not None:
                    on_event(scenario, event)
        except DataError as error:
            result.status, result.error = "error", str(error)
        results[scenario] = result
        rows.append(scenario_row(scenario, result))
    return rows, results


def comparison_status(rows: list[ScenarioRow]) -> str:
    """success when every scenario's run succeeded, else the first other status."""
    return next((row.status for row in rows if row.status != "success"), "success")
