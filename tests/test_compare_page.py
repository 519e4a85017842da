import pytest
from streamlit.testing.v1 import AppTest

from agent.output.comparison import comparison_rows
from agent.run.result import collect
from agent.run.runner import RunRequest, run_events
from tests.helpers import ROOT


def test_comparison_rows(revenue_dataset):
    results = {
        kind: collect(run_events(RunRequest(revenue_dataset, agent=kind)))
        for kind in ("code", "tool-calling")
    }
    rows = {row["agent"]: row for row in comparison_rows(results)}
    assert rows["code"]["steps"] < rows["tool-calling"]["steps"]
    assert rows["code"]["mismatched"] == rows["tool-calling"]["mismatched"] == 0
    assert rows["code"]["published input tokens"] == 5451 and rows["tool-calling"]["published steps"] == 12


def test_compare_page_runs_both_agents():
    app = AppTest.from_file(str(ROOT / "app_pages" / "1_Compare_agents.py"), default_timeout=60).run()
    assert not app.exception
    app.button(key="compare_button").click().run()
    runs = app.session_state["compare_runs"]
    assert all(run.wait(60) for run in runs.values())
    app.run()
    assert not app.exception
    table = app.table[0].value  # one column per agent, one row per measure
    assert list(table.columns) == ["code agent", "tool-calling agent"]
    assert list(table.loc["Status"]) == ["success", "success"]
    assert list(table.loc["Mismatched"]) == ["0", "0"]


def test_compare_page_takes_metric_and_dimensions_like_the_main_page():
    app = AppTest.from_file(str(ROOT / "app_pages" / "1_Compare_agents.py"), default_timeout=60).run()
    app.selectbox(key="sample").set_value("sales_by_segment.csv").run()
    app.multiselect(key="compare_dimensions-sales_by_segment.csv").set_value(["platform"]).run()
    app.button(key="compare_button").click().run()
    runs = app.session_state["compare_runs"]
    assert all(run.wait(60) for run in runs.values())
    for run in runs.values():
        run.poll()
        assert run.result.status == "success" and run.result.analysis["dimensions"] == ["platform"]


def test_the_two_agents_are_one_place_in_the_queue_and_run_one_after_the_other_on_one_slot(
    tmp_path, monkeypatch
):
    """One click, one ticket: the visitor's one run; on a one-slot server the agents never run at once."""
    from agent.run import queue as queue_module
    from agent.run.queue import QueueRefused
    from ui.serving import load_settings, run_queue

    settings = tmp_path / "settings.toml"
    settings.write_text("[serving]\nmax_runs = 1\n")
    monkeypatch.setenv("KPI_NARRATOR_SETTINGS", str(settings))
    monkeypatch.setattr(queue_module, "_shared", None)
    queue = run_queue(load_settings())
    blocker = queue.enter("someone else")
    app = AppTest.from_file(str(ROOT / "app_pages" / "1_Compare_agents.py"), default_timeout=60).run()
    app.button(key="compare_button").click().run()
    assert [info.value for info in app.info if "1 run ahead of you" in info.value]
    assert queue.waiting == 1  # both agents, one ticket
    with pytest.raises(QueueRefused, match="one run at a time"):
        queue.enter(app.session_state["session_token"])
    blocker.leave()
    runs = app.session_state["compare_runs"]
    assert app.session_state["compare_group"].wait(120)
    app.run()
    assert not app.exception
    assert list(app.table[0].value.loc["Status"]) == ["success", "success"]
    code, tools = runs["code"], runs["tool-calling"]
    assert code.finished_at <= tools.started_at  # one slot: one agent at a time
    assert queue.running == 0 and queue.waiting == 0


def test_compare_page_gives_both_agents_the_change_log():
    """The checkout sample brings its events file: both agents ask their change-log agent and cite its events."""
    app = AppTest.from_file(str(ROOT / "app_pages" / "1_Compare_agents.py"), default_timeout=60).run()
    app.selectbox(key="sample").set_value("checkout_daily.csv").run()
    assert not app.exception
    assert any("checkout_events.csv" in text.value for text in app.text)
    app.button(key="compare_button").click().run()
    runs = app.session_state["compare_runs"]
    assert all(run.wait(90) for run in runs.values())
    app.run()
    assert not app.exception
    for kind, run in runs.items():
        assert run.result.status == "success", kind
        assert run.result.to_json()["events"], kind  # the change log reached this agent's run
        assert any(step.get("managed") for step in run.result.steps), kind  # its change-log agent was asked
