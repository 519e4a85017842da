import json

import pytest
from streamlit.testing.v1 import AppTest

from agent.history import RunHistory
from agent.result import collect
from agent.runner import RunRequest, run_events
from agent.session import Replay
from tests.conftest import ROOT


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
    from tests.openai_server import ScriptedChatServer
    from tests.test_models import ANSWER, COMPUTE, SECRET, llm

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
    assert app.session_state["run"].wait(60)
    app.run()
    [row] = history.list()
    assert row["status"] == "success" and row["verified"] == 20
    page = AppTest.from_file(str(ROOT / "pages" / "2_Run_history.py"), default_timeout=60).run()
    assert not page.exception
    assert any("Revenue fell 7.67%" in m.value for m in page.markdown)
    assert [s.value for s in page.success] == ["20 claims: 20 verified."]
    assert page.get("plotly_chart")  # the recorded charts are drawn again
    spec = json.loads(page.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["title"]["text"].startswith("revenue")
    page.button(key="delete_button").click().run()
    assert history.list() == []


def test_history_page_when_empty(history):
    page = AppTest.from_file(str(ROOT / "pages" / "2_Run_history.py"), default_timeout=30).run()
    assert not page.exception
    assert "No saved runs yet" in page.info[0].value
