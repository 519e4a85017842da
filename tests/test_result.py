"""The claims' verdicts reach every view the same way: --json, history replay, the reports and the terminal."""

import io
import json

import pytest
from rich.console import Console

from agent.output import export
from agent.output.history import RunHistory
from agent.output.render import TerminalRenderer
from agent.run.result import collect
from agent.run.runner import RunRequest, run_events


def step(thought: str, code: str) -> str:
    return f"Thought: {thought}\n<code>\n{code}\n</code>"


@pytest.fixture
def flagged_events(revenue_dataset, scripted_model):
    """A run whose model writes a misattributed share twice (its one chance to fix it unused)."""
    wrong = step("Answer.", "final_answer('Revenue fell 7.67%. UK drove 99.95% of the drop.')")
    model = scripted_model([step("Compute.", "print(metric_totals(df, metric='revenue'))"), wrong, wrong])
    return list(run_events(RunRequest(revenue_dataset, executor="local"), model))


def test_json_carries_each_claim_with_its_verdict(flagged_events):
    verification = collect(flagged_events).to_json()["verification"]
    claims = [
        {k: c[k] for k in ("text", "entity", "kind", "verdict", "expected")} for c in verification["claims"]
    ]
    assert claims == [
        {
            "text": "7.67%",
            "entity": "the total",
            "kind": "pct_change",
            "verdict": "verified",
            "expected": "-7.67%",
        },
        {
            "text": "99.95%",
            "entity": "UK",
            "kind": "share_of_change",
            "verdict": "misattributed",
            "expected": "3.29%",
        },
    ]
    assert [m["text"] for m in verification["mismatches"]] == ["99.95%"]
    assert verification["run_status"] == "success" and verification["coverage"]["total_change"] is True


def test_history_replay_folds_to_the_same_verdicts(flagged_events, tmp_path):
    history = RunHistory(tmp_path / "h.sqlite")
    run_id = history.save(flagged_events)
    assert history.result(run_id).verification == collect(flagged_events).verification
    assert history.list()[0]["mismatched"] == 1


def test_reports_list_the_verdicts(flagged_events):
    result = collect(flagged_events)
    markdown = export.report_markdown(result)
    assert "2 claims: 1 verified, 1 misattributed." in markdown
    assert "## Claims checked against the engine" in markdown
    assert "99\\.95% is France's share of the change, not UK's" in markdown
    page = export.report_html(result)
    assert "<h2>Claims checked against the engine</h2>" in page
    assert "99.95% is France&#x27;s share of the change, not UK&#x27;s" in page


def test_terminal_prints_each_claim_and_the_flag(flagged_events):
    console = Console(file=io.StringIO(), width=200)
    render = TerminalRenderer(console)
    for event in flagged_events:
        render(event)
    printed = console.file.getvalue()
    assert "2 claims: 1 verified, 1 misattributed." in printed
    assert (
        "misattributed" in printed and "⚠ 99.95%: 99.95% is France's share of the change, not UK's" in printed
    )


def test_a_run_stopped_at_its_step_limit_is_not_green(revenue_dataset, scripted_model):
    from ui.view_model import verification_badge

    model = scripted_model([step("Look.", "print(1)")] * 3)
    result = collect(run_events(RunRequest(revenue_dataset, executor="local", max_steps=2), model))
    assert result.status == "max_steps"
    assert result.verification["run_status"] == "max_steps"
    assert verification_badge(result.verification)[0] is False
    assert json.loads(json.dumps(result.to_json()))["verification"]["run_status"] == "max_steps"


def test_steps_have_the_keys_their_typed_shapes_name():
    # The page reads `RunResult.steps`, `--json` writes `steps` and each turn's `steps`: the TypedDicts in
    # agent/run/result.py say which keys each has, so they must stay the keys that are really there.
    from agent.run import events as ev
    from agent.run.result import Step, StepJson, TurnStepJson

    def step_events(question_step: int) -> list[ev.Event]:
        return [
            ev.StepStarted(question_step),
            ev.Thought(question_step, "look at the total"),
            ev.Code(question_step, "print(metric_totals(df, 'revenue'))"),
            ev.Observation(question_step, "{'abs_change': -5.0}"),
            ev.Chart(question_step, 0, "Revenue", {"data": []}),
            ev.StepFinished(question_step, 120, 30, 0.5),
        ]

    events = [
        ev.RunStarted(model="built-in", agent="code", question="why?", task="t", dataset={}),
        *step_events(1),
        ev.FinalAnswer("Revenue fell."),
        ev.RunFinished("success", {}),
        ev.TurnStarted(2, "and Germany?"),
        *step_events(1),
        ev.RunFinished("success", {}),
    ]
    result = collect(events)
    step = result.steps[0]
    assert list(step) == list(Step.__annotations__)
    assert step["code"] == "print(metric_totals(df, 'revenue'))" and step["charts"] == [0] and step["done"]
    assert (step["input_tokens"], step["output_tokens"], step["duration_s"]) == (120, 30, 0.5)
    written = json.loads(json.dumps(result.to_json()))
    assert list(written["steps"][0]) == list(StepJson.__annotations__)
    assert written["steps"][0]["observation"] == "{'abs_change': -5.0}"
    assert [list(turn["steps"][0]) for turn in written["turns"]] == [list(TurnStepJson.__annotations__)] * 2
