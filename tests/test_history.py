import json

import pytest
from streamlit.testing.v1 import AppTest

from agent.output.history import RunHistory
from agent.run.result import collect
from agent.run.runner import RunRequest, run_events
from agent.run.session import Replay
from tests.helpers import ROOT


@pytest.fixture
def history(tmp_path, monkeypatch):
    path = tmp_path / "history.sqlite"
    monkeypatch.setenv("KPI_NARRATOR_HISTORY", str(path))
    return RunHistory(path)


def test_a_saved_run_replays_exactly(history, revenue_dataset):
    events = list(run_events(RunRequest(revenue_dataset)))
    run_id = history.save(events, "abc")
    [row] = history.list()
    assert row["id"] == run_id and row["file_name"] == "revenue_by_country.tsv" and row["mismatched"] == 0
    assert history.result(run_id).to_json() == collect(events).to_json()
    replay = Replay(history.events(run_id))
    replay.poll()
    assert replay.finished and replay.result.to_json() == collect(events).to_json()
    assert len(history.export(run_id).splitlines()) == len(events)
    history.delete(run_id)
    assert history.list() == []


def test_paced_replay_releases_events_over_time(history, revenue_dataset):
    events = list(run_events(RunRequest(revenue_dataset)))
    replay = Replay(events, pace_s=60)
    assert len(replay.poll()) == 1 and not replay.finished


def test_no_key_is_saved(history, revenue_dataset):
    from tests.helpers import ANSWER, COMPUTE, SECRET, llm
    from tests.openai_server import ScriptedChatServer

    with ScriptedChatServer(
        [COMPUTE, {"status": 401, "error": f"bad key {SECRET}"}, COMPUTE, ANSWER]
    ) as server:
        events = list(run_events(RunRequest(revenue_dataset), llm(server)))
    run_id = history.save(events)
    assert SECRET not in history.export(run_id)
    assert SECRET not in history.path.read_bytes().decode("utf-8", "replace")


def test_main_page_saves_and_history_page_opens_it(history):
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    app.button(key="run_button").click().run()
    assert app.session_state["run"].wait_idle(60)
    app.run()
    [row] = history.list()
    assert row["status"] == "success" and row["verified"] == 20
    page = AppTest.from_file(str(ROOT / "app_pages" / "2_Run_history.py"), default_timeout=60).run()
    assert not page.exception
    assert any("Revenue fell 7.67%" in m.value for m in page.markdown)
    assert [s.value for s in page.success] == ["20 claims: 20 verified."]
    assert page.get("plotly_chart")  # the recorded charts are drawn again
    spec = json.loads(page.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["title"]["text"].startswith("Revenue")  # sentence case
    assert row["measure"] == "revenue"
    assert "revenue_by_country.tsv · revenue · code agent" in page.selectbox(key="history_run").format_func(
        row["id"]
    )
    page.button(key="delete_button").click().run()
    assert len(history.list()) == 1 and any("This cannot be undone" in w.value for w in page.warning)
    page.button(key="cancel_delete_button").click().run()
    assert len(history.list()) == 1
    page.button(key="delete_button").click().run()
    page.button(key="confirm_delete_button").click().run()
    assert history.list() == []


def test_history_page_when_empty(history):
    page = AppTest.from_file(str(ROOT / "app_pages" / "2_Run_history.py"), default_timeout=30).run()
    assert not page.exception
    assert "No saved runs yet" in page.info[0].value


def test_an_owner_sees_opens_and_deletes_only_their_own_runs(history, revenue_dataset):
    events = list(run_events(RunRequest(revenue_dataset)))
    alice, bob = RunHistory(history.path, owner="user:alice"), RunHistory(history.path, owner="user:bob")
    mine, theirs = alice.save(events), bob.save(events)
    assert [row["id"] for row in alice.list()] == [mine]
    with pytest.raises(KeyError):
        alice.events(theirs)
    with pytest.raises(KeyError):
        alice.export(theirs)
    assert alice.delete(theirs) is False and [row["id"] for row in bob.list()] == [theirs]
    assert {row["id"] for row in history.list()} == {mine, theirs}  # a local user (no owner) sees every run
    assert alice.delete(mine) is True and alice.list() == []


def test_a_history_from_before_owners_gets_the_column(tmp_path, revenue_dataset):
    import sqlite3

    from agent.output.history import _SCHEMA

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(_SCHEMA.replace(",\n    owner TEXT", ""))
    history = RunHistory(path, owner="session:abc")
    run_id = history.save(list(run_events(RunRequest(revenue_dataset))))
    assert [row["id"] for row in history.list()] == [run_id]
    assert RunHistory(path, owner="session:other").list() == []


def test_served_pages_keep_each_sessions_runs_apart(history, write_file, monkeypatch):
    monkeypatch.setenv(
        "KPI_NARRATOR_SETTINGS", str(write_file("settings.toml", '[serving]\nmode = "served"\n'))
    )
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    app.button(key="run_button").click().run()
    assert app.session_state["run"].wait_idle(60)
    app.run()
    assert len(history.list()) == 1  # saved, under this session
    own = AppTest.from_file(str(ROOT / "app_pages" / "2_Run_history.py"), default_timeout=60)
    own.session_state["session_token"] = app.session_state["session_token"]  # the same browser session
    own.run()
    assert not own.exception and any("Revenue fell 7.67%" in m.value for m in own.markdown)
    other = AppTest.from_file(str(ROOT / "app_pages" / "2_Run_history.py"), default_timeout=60).run()
    assert not other.exception and "No saved runs yet" in other.info[0].value
