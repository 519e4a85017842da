"""AppTest smoke tests of the main page (page logic; the browser test comes with the rest of the web app)."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import REVENUE_TSV, ROOT


@pytest.fixture
def app():
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()


def finish_run(app: AppTest) -> AppTest:
    app.button(key="run_button").click().run()
    run = app.session_state["run"]
    assert run.wait_idle(60)
    return app.run()


def test_page_loads_the_sample_and_shows_its_layout(app):
    assert not app.exception
    assert "revenue_by_country.tsv" in app.markdown[0].value
    assert "Explain how revenue changed and which segments drove it." in [t.value for t in app.text_input]


def test_run_shows_verified_summary_and_cards(app):
    finish_run(app)
    assert not app.exception
    assert any("Revenue fell 7.67%" in m.value for m in app.markdown)
    assert [s.value for s in app.success] == ["20 claims: 20 verified."]
    # Compact as in the summary, the exact figure on hover, the % change on one card only.
    assert [m.value for m in app.metric][:3] == ["1.73M", "1.60M", "-132,919.66"]
    assert [m.proto.help for m in app.metric][:2] == ["Exact: 1,731,985.21", "Exact: 1,599,065.55"]
    assert [m.delta for m in app.metric][:3].count("-7.67%") == 1
    # a rerun (any widget change) keeps the finished run
    app.run()
    assert any("Revenue fell 7.67%" in m.value for m in app.markdown)
    labels = [button.proto.label for button in app.get("download_button")]
    assert labels == ["Report (HTML)", "Report (Markdown)", "Trace (JSON)", "Table (CSV)"]


def test_uploaded_file_runs(app):
    app.radio(key="source").set_value("Upload").run()
    app.file_uploader(key="upload").set_value(
        ("mine.tsv", REVENUE_TSV.encode(), "text/tab-separated-values")
    ).run()
    assert "mine.tsv" in app.markdown[0].value
    finish_run(app)
    assert any("Revenue fell 7.67%" in m.value for m in app.markdown)


def test_an_upload_is_hashed_once_not_on_every_rerun(app, monkeypatch):
    # The page hashed the file twice per rerun (36 ms of each rerun at 38 MB). Streamlit hands every rerun the same
    # bytes object for an upload (its file record's); AppTest makes new ones each run, so the reruns here draw the
    # upload kept in the session (as after a visit to another page), which is one object too.
    import ui.parts

    hashed = []
    real_hash = ui.parts.file_hash
    monkeypatch.setattr(ui.parts, "file_hash", lambda data: hashed.append(len(data)) or real_hash(data))
    app.radio(key="source").set_value("Upload").run()
    app.file_uploader(key="upload").set_value(("mine.tsv", REVENUE_TSV.encode(), "text/tab-separated-values"))
    app.run()
    app.file_uploader(key="upload").set_value(None)
    hashed.clear()
    app.run().run().run()
    assert any("Using mine.tsv, uploaded earlier" in c.value for c in app.caption)
    assert "mine.tsv" in app.markdown[0].value
    assert hashed == []  # hashed when it was uploaded; it was two hashes per rerun
    equal_but_another_object = bytes(bytearray(REVENUE_TSV.encode()))
    monkeypatch.setattr(
        ui.parts.st, "session_state", {"data_bytes": REVENUE_TSV.encode(), "data_hash": "old"}
    )
    assert ui.parts._digest_of(equal_but_another_object) != "old"  # identity, never equality, picks a digest


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "empty.csv: the file is empty"),
        ("binary.csv", b"\x00\x01\x02 not a table", "binary.csv: this is not a text table"),
    ],
)
def test_bad_upload_shows_the_loader_message(app, name, content, message):
    app.radio(key="source").set_value("Upload").run()
    app.file_uploader(key="upload").set_value((name, content, "text/csv")).run()
    assert not app.exception
    assert any(message in e.value for e in app.error)
    assert not any("--" in e.value for e in app.error)  # the page names its own controls, never CLI flags


def test_a_file_without_a_known_layout_asks_for_the_period_column(app):
    text = b"stage,country,revenue\nalpha,UK,10\nalpha,FR,5\nbeta,UK,12\nbeta,FR,4\n"
    app.radio(key="source").set_value("Upload").run()
    app.file_uploader(key="upload").set_value(("stages.csv", text, "text/csv")).run()
    assert not app.exception and not app.error
    assert any("Choose the period column under Columns and roles" in i.value for i in app.info)
    assert not app.button  # no Run until the roles are valid
    app.selectbox(key="period_column-stages.csv").set_value("stage").run()
    assert app.selectbox(key="earlier-stages.csv").value == "alpha"
    finish_run(app)
    result = app.session_state["run"].result
    assert result.status == "success" and result.analysis["periods"] == ["alpha", "beta"]
    assert result.analysis["totals"]["after"] == 16


def test_ratio_sample(app):
    app.selectbox(key="sample").set_value("conversion_by_channel.csv").run()
    assert app.checkbox(key="use_ratio-conversion_by_channel.csv").value  # users is there: the ratio is on
    finish_run(app)
    assert not app.exception
    assert any("mix effect" in m.value.lower() for m in app.markdown)
    # Six cards, three a row (six in one row cut their values off); counts without ".00".
    rows = [
        block
        for block in app.main.children.values()
        if block.type == "flex_container"
        and any(
            e.type == "metric" for c in block.children.values() for e in getattr(c, "children", {}).values()
        )
    ]
    assert len(app.metric) == 6 and len(rows) == 2 and all(len(row.children) == 3 for row in rows)
    assert not any(m.value.endswith(".00") for m in app.metric[:3])
    assert app.success


def test_scenario_can_be_changed(app):
    text = b"country,revenue_before,revenue_after_a,revenue_after_b\nUK,10,12,20\nFR,5,5,5\n"
    app.radio(key="source").set_value("Upload").run()
    app.file_uploader(key="upload").set_value(("s.csv", text, "text/csv")).run()
    assert any("'b'" in w.value for w in app.warning)
    app.selectbox(key="scenario-s.csv").set_value("b").run()
    finish_run(app)
    assert not app.exception
    assert [m.value for m in app.metric][1] == "25"  # whole numbers: no ".00"


def test_long_table_periods_can_be_swapped(app):
    text = b"phase,country,revenue\nspring,UK,12\nautumn,UK,10\n"
    app.radio(key="source").set_value("Upload").run()
    app.file_uploader(key="upload").set_value(("l.csv", text, "text/csv")).run()
    app.selectbox(key="earlier-l.csv").set_value("autumn").run()
    app.selectbox(key="later-l.csv").set_value("spring").run()
    finish_run(app)
    assert not app.exception
    assert [m.value for m in app.metric][:2] == ["10", "12"]


def test_a_failed_run_shows_its_error_in_the_page(app):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    app.selectbox(key="model_pick").set_value("Other LiteLLM model…").run()
    app.text_input(key="model_id").set_value("openai/test-model")
    app.text_input(key="api_base").set_value(f"http://127.0.0.1:{port}/v1")
    app.text_input(key="api_key").set_value("sk-local-test")
    finish_run(app)
    assert not app.exception
    assert any("Could not connect to the model server" in e.value for e in app.error)
    assert app.session_state["run"].result.status == "error"


def test_ratio_defaults_to_the_smaller_count_over_the_larger_and_the_question_follows(app):
    app.selectbox(key="sample").set_value("conversion_by_channel.csv").run()
    assert not app.exception
    assert app.checkbox(key="use_ratio-conversion_by_channel.csv").value
    assert app.selectbox(key="numerator-conversion_by_channel.csv").value == "orders"
    assert app.selectbox(key="denominator-conversion_by_channel.csv").value == "users"
    assert "Explain how orders / users changed and which segments drove it." in [
        t.value for t in app.text_input
    ]
    finish_run(app)
    ratio = app.session_state["run"].result.analysis["ratio"]
    assert (ratio["numerator"], ratio["denominator"]) == ("orders", "users") and ratio["after"] < 1
    # No clear rate in a revenue file: nothing ticked, the metric's own question
    app.selectbox(key="sample").set_value("revenue_by_country.tsv").run()
    assert not app.checkbox(key="use_ratio-revenue_by_country.tsv").value


def test_cleared_dimensions_are_respected(app):
    app.selectbox(key="sample").set_value("sales_by_segment.csv").run()
    app.multiselect[0].set_value(["platform"]).run()
    finish_run(app)
    assert app.session_state["run"].result.analysis["dimensions"] == ["platform"]
    app.multiselect[0].set_value([]).run()
    assert app.button(key="run_button").disabled
    assert any("Pick at least one dimension" in i.value for i in app.info)


def test_names_from_the_file_are_text_in_the_page(app):
    name = "[report](http://evil.invalid).csv"
    text = (
        b'country,revenue_before,revenue_after\n"![x](http://evil.invalid/x.png)",100,abc\nUK,10,12\nFR,5,5\n'
    )
    app.radio(key="source").set_value("Upload").run()
    app.file_uploader(key="upload").set_value((name, text, "text/csv")).run()
    assert not app.exception
    assert "\\[report\\]\\(http" in app.markdown[0].value  # the file name, escaped
    warning = next(w.value for w in app.warning if "x.png" in w.value)  # the row left out names its segment
    assert "!\\[x\\]\\(http" in warning and "](http" not in warning


def test_a_table_cut_to_its_largest_changes_says_so_and_downloads_every_row(app):
    from tools.analysis import TABLE_ROWS

    rows = "".join(f"s{i},{100 + i},{100 + 2 * i}\n" for i in range(TABLE_ROWS + 30))
    app.radio(key="source").set_value("Upload").run()
    app.file_uploader(key="upload").set_value(
        ("many.csv", f"shop,revenue_before,revenue_after\n{rows}".encode(), "text/csv")
    ).run()
    finish_run(app)
    assert not app.exception
    shown = next(d.value for d in app.dataframe if "Change" in d.value.columns)  # not the file preview
    assert len(shown) == TABLE_ROWS and shown["shop"].iloc[0] == f"s{TABLE_ROWS + 29}"
    assert (
        shown["Change"].iloc[0] == f"+{TABLE_ROWS + 29}" and "% change" in shown.columns
    )  # readable, no ".00"
    assert any(c.value.startswith("… and 30 more segments") for c in app.caption)


def test_a_result_is_never_shown_under_another_files_header(app):
    finish_run(app)
    assert any("Revenue fell 7.67%" in m.value for m in app.markdown)
    app.selectbox(key="sample").set_value("sales_by_segment.csv").run()
    assert not any("Revenue fell 7.67%" in m.value for m in app.markdown)
    assert any(
        "The last result was for revenue\\_by\\_country.tsv" in i.value
        or "The last result was for revenue_by_country.tsv" in i.value
        for i in app.info
    )
    app.selectbox(key="sample").set_value("revenue_by_country.tsv").run()
    assert any("Revenue fell 7.67%" in m.value for m in app.markdown)  # its own file: shown again


def test_an_uploaded_file_is_kept_until_replaced_or_forgotten(app):
    app.radio(key="source").set_value("Upload").run()
    app.file_uploader(key="upload").set_value(
        ("mine.tsv", REVENUE_TSV.encode(), "text/tab-separated-values")
    ).run()
    app.file_uploader(key="upload").set_value(None).run()  # as after a visit to another page
    assert any("uploaded earlier" in c.value for c in app.caption)
    assert "mine.tsv" in app.markdown[0].value
    app.button(key="forget_upload").click().run()
    assert [b.proto.label for b in app.get("download_button")] == ["Template (CSV)"]


def test_a_run_that_hit_its_step_limit_says_so_at_the_top(app):
    app.select_slider(key="max_steps").set_value(1).run()
    finish_run(app)
    assert app.session_state["run"].result.status == "max_steps"
    assert any("stopped at its step limit" in e.value for e in app.error)
    assert not app.success  # never a green badge
    labels = [button.proto.label for button in app.get("download_button")]
    assert "Trace (JSON)" in labels


# ---- the server's run queue, as the main page shows it (agent.run.queue) ------------------------------------------
@pytest.fixture
def one_slot(tmp_path, monkeypatch):
    """A server that runs one run at a time (its own queue, fresh for the test); returns that queue."""
    from agent.run import queue as queue_module
    from ui.serving import load_settings, run_queue

    settings = tmp_path / "settings.toml"
    settings.write_text("[serving]\nmax_runs = 1\n")
    monkeypatch.setenv("KPI_NARRATOR_SETTINGS", str(settings))
    monkeypatch.setattr(queue_module, "_shared", None)
    return run_queue(load_settings())


def places_shown(app: AppTest) -> list[str]:
    return [info.value for info in app.info if "ahead of you" in info.value]


def test_a_run_that_waits_shows_its_place_at_once_then_its_result(app, one_slot):
    blocker = one_slot.enter("someone else")
    app.button(key="run_button").click().run()
    assert places_shown(app) == [
        "1 run ahead of you: this server runs 1 at a time. Your trace starts when your turn comes; keep this "
        "tab open."
    ]
    run = app.session_state["run"]
    assert run.result.steps == []
    blocker.leave()
    assert run.wait_idle(60)
    app.run()
    assert not app.exception and not places_shown(app)
    assert any("Revenue fell 7.67%" in m.value for m in app.markdown)
    run.close()


def test_a_follow_up_waits_its_turn_in_the_queue_too(app, one_slot):
    finish_run(app)
    run = app.session_state["run"]
    blocker = one_slot.enter("someone else")
    app.chat_input(key="follow_up").set_value("And what happened in Germany?").run()
    assert len(places_shown(app)) == 1 and run.result.turns == []
    blocker.leave()
    assert run.wait_idle(60)
    app.run()
    assert not app.exception and not places_shown(app)
    assert run.result.turns[0].status == "success"
    run.close()


def test_comparing_every_scenario_waits_its_turn_as_one_run(app, one_slot):
    from agent.run.queue import QueueRefused
    from ui.parts import ALL_SCENARIOS

    app.selectbox(key="sample").set_value("conversion_scenarios.csv").run()
    app.selectbox(key="scenario-conversion_scenarios.csv").set_value(ALL_SCENARIOS).run()
    blocker = one_slot.enter("someone else")
    app.button(key="run_button").click().run()
    assert len(places_shown(app)) == 1 and one_slot.waiting == 1
    with pytest.raises(QueueRefused, match="one run at a time"):
        one_slot.enter(app.session_state["session_token"])
    blocker.leave()
    comparison = app.session_state["run"]
    assert comparison.wait(120)
    app.run()
    assert not app.exception and not places_shown(app)
    assert len(comparison.runs) == len(comparison.scenarios) > 1
    assert all(run.result.status == "success" for run in comparison.runs.values())
    assert one_slot.running == 0 and one_slot.waiting == 0
