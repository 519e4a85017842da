"""AppTest smoke tests of the main page (page logic; the browser test comes with the rest of the web app)."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REVENUE_TSV, ROOT


@pytest.fixture
def app():
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()


def finish_run(app: AppTest) -> AppTest:
    app.button(key="run_button").click().run()
    run = app.session_state["run"]
    assert run.wait(60)
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
    assert [m.value for m in app.metric][:3] == ["1,731,985.21", "1,599,065.55", "-132,919.66"]
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


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "empty.csv: the file is empty"),
        ("nopair.csv", b"country,revenue\nUK,1\n", "nopair.csv: found no before/after pair"),
    ],
)
def test_bad_upload_shows_the_loader_message(app, name, content, message):
    app.radio(key="source").set_value("Upload").run()
    app.file_uploader(key="upload").set_value((name, content, "text/csv")).run()
    assert not app.exception
    assert any(message in e.value for e in app.error)


def test_ratio_sample(app):
    app.selectbox(key="sample").set_value("conversion_by_channel.csv").run()
    assert app.checkbox(key="use_ratio-conversion_by_channel.csv").value  # users is there: the ratio is on
    finish_run(app)
    assert not app.exception
    assert any("mix effect" in m.value.lower() for m in app.markdown)
    assert app.success


def test_scenario_after_column_can_be_changed(app):
    text = b"country,revenue_before,revenue_after_a,revenue_after_b\nUK,10,12,20\nFR,5,5,5\n"
    app.radio(key="source").set_value("Upload").run()
    app.file_uploader(key="upload").set_value(("s.csv", text, "text/csv")).run()
    assert any("revenue_after_b" in w.value for w in app.warning)
    app.selectbox(key="after-s.csv-revenue").set_value("revenue_after_b").run()
    finish_run(app)
    assert not app.exception
    assert [m.value for m in app.metric][1] == "25.00"


def test_long_table_periods_can_be_swapped(app):
    text = b"phase,country,revenue\nspring,UK,12\nautumn,UK,10\n"
    app.radio(key="source").set_value("Upload").run()
    app.file_uploader(key="upload").set_value(("l.csv", text, "text/csv")).run()
    app.selectbox(key="earlier-l.csv").set_value("autumn").run()
    app.selectbox(key="later-l.csv").set_value("spring").run()
    finish_run(app)
    assert not app.exception
    assert [m.value for m in app.metric][:2] == ["10.00", "12.00"]


def test_a_failed_run_shows_its_error_in_the_page(app):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    app.text_input(key="model_id").set_value("openai/test-model")
    app.text_input(key="api_base").set_value(f"http://127.0.0.1:{port}/v1")
    app.text_input(key="api_key").set_value("sk-local-test")
    finish_run(app)
    assert not app.exception
    assert any("Could not connect to the model server" in e.value for e in app.error)
    assert app.session_state["run"].result.status == "error"
