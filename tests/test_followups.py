"""Follow-up questions in the same conversation: the built-in analyst, the scripted LLM server, the CLI, the page."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from agent.run.result import collect
from agent.run.runner import RunRequest, run_events
from tests.helpers import ROOT, run_cli
from tools.loading import load_dataset

SALES = ROOT / "sample_data" / "sales_by_segment.csv"
QUESTION = "Why did Android revenue drop in Germany, and was iOS affected?"


def test_built_in_analyst_answers_follow_ups_it_can_and_says_plainly_when_it_cannot():
    dataset = load_dataset(SALES)
    result = collect(
        run_events(
            RunRequest(dataset, executor="local"),
            follow_ups=[QUESTION, "top 2 channel changes", "Forecast next quarter"],
        )
    )
    assert result.status == "success" and result.turns[0].question == QUESTION
    germany, channels, beyond = result.turns
    assert "**Germany × Android: revenue fell 35.01%**" in germany.narrative
    assert "Germany × iOS" in germany.narrative
    for turn in (germany, channels):
        claims = turn.verification["claims"]
        assert claims and all(c["verdict"] == "verified" for c in claims), claims
    assert channels.narrative.count("\n- ") == 2  # top 2
    assert "beyond a rule-based analyst" in beyond.narrative and "Germany" not in beyond.narrative


def test_the_first_question_is_answered_not_replaced_by_the_generic_summary():
    dataset = load_dataset(SALES)
    asked = collect(run_events(RunRequest(dataset, question="What happened on Android?", executor="local")))
    assert "**Android: revenue fell" in asked.narrative
    assert all(c["verdict"] == "verified" for c in asked.verification["claims"])
    joke = collect(run_events(RunRequest(dataset, question="Tell me a joke", executor="local")))
    assert "beyond a rule-based analyst" in joke.narrative


def test_cli_repeated_questions_are_follow_ups_in_json_turns():
    result = json.loads(
        run_cli(
            "run",
            str(SALES),
            "-q",
            "Explain the change",
            "-q",
            "And what happened in Germany?",
            "--json",
            "--executor",
            "local",
            check=True,
        ).stdout
    )
    assert [t["question"] for t in result["turns"]] == ["Explain the change", "And what happened in Germany?"]
    assert (
        result["question"] == "Explain the change" and result["narrative"] == result["turns"][0]["narrative"]
    )
    second = result["turns"][1]
    assert "**Germany: revenue fell" in second["narrative"] and second["verification"]["mismatches"] == []


def test_follow_up_through_an_llm_carries_the_first_turns_memory(revenue_dataset):
    from agent.models.build import ModelChoice, build_model
    from tests.openai_server import ScriptedChatServer

    first = {
        "content": "Thought: totals.\n<code>\nt = metric_totals(df, metric='revenue')\nprint(t)\n</code>"
    }
    answer = {
        "content": "Thought: done.\n<code>\nfinal_answer(f\"Revenue fell {abs(t['pct_change']):.2f}%.\")\n</code>"
    }
    follow = {
        "content": "Thought: France from the table I have.\n<code>\nby = segment_changes(df, metric='revenue', "
        "dimension='country')\nfr = by[by['country'] == 'France'].iloc[0]\n"
        "final_answer(f\"France fell {abs(fr['pct_change']):.2f}%.\")\n</code>"
    }
    with ScriptedChatServer([first, answer, follow]) as server:
        model = build_model(ModelChoice("openai/test-model", api_base=server.url, api_key="sk-test"), "code")
        result = collect(
            run_events(RunRequest(revenue_dataset, executor="local"), model, follow_ups=["And France?"])
        )
        third = json.dumps(server.requests[2]["body"]["messages"])
    assert result.narrative == "Revenue fell 7.67%." and result.turns[0].narrative == "France fell 55.19%."
    # the follow-up's request holds the first turn: its task, its code and its answer
    assert "Explain how revenue changed" in third and "metric_totals" in third and "And France?" in third
    assert all(c["verdict"] == "verified" for c in result.turns[0].verification["claims"])


def test_page_shows_both_turns(tmp_path):
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    app.selectbox(key="sample").set_value("sales_by_segment.csv").run()
    app.button(key="run_button").click().run()
    run = app.session_state["run"]
    assert run.wait_idle(60)
    app.run()
    assert app.chat_input(key="follow_up")
    app.chat_input(key="follow_up").set_value("And what happened in Germany?").run()
    assert run.wait_idle(60)
    app.run()
    assert not app.exception
    assert [m.value for m in app.markdown if "Germany: revenue fell" in m.value]
    assert any("Revenue fell 0.12%" in m.value for m in app.markdown)  # the first turn stays above
    run.close()


def test_history_and_reports_keep_the_whole_conversation(tmp_path):
    from agent.output import export
    from agent.output.history import RunHistory

    events = list(run_events(RunRequest(load_dataset(SALES), executor="local"), follow_ups=[QUESTION]))
    history = RunHistory(tmp_path / "history.sqlite")
    replayed = history.result(history.save(events))
    assert [t.question for t in replayed.turns] == [QUESTION]
    assert replayed.turns[0].narrative == collect(events).turns[0].narrative
    markdown, page = export.report_markdown(replayed), export.report_html(replayed)
    assert "Follow-up 1: Why did Android revenue drop in Germany" in markdown and "Germany × iOS" in markdown
    assert "Follow-up 1: Why did Android revenue drop in Germany" in page
    assert json.loads(export.trace_json(replayed))["turns"][1]["question"] == QUESTION


def test_a_follow_up_about_another_metric_is_answered_and_checked_for_that_metric():
    dataset = load_dataset(ROOT / "sample_data" / "conversion_by_channel.csv")
    result = collect(
        run_events(
            RunRequest(dataset, metric="users", executor="local"),
            follow_ups=["And orders?", "orders on paid_social"],
        )
    )
    orders, paid_social = result.turns
    assert orders.narrative.startswith("**orders rose") and "paid_social" in orders.narrative
    assert paid_social.narrative.startswith("**paid_social: orders rose")
    for turn in (orders, paid_social):
        assert all(c["verdict"] == "verified" for c in turn.verification["claims"]), turn.verification[
            "claims"
        ]
