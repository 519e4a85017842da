"""Who may change what in a served app: the operator's settings, served or local, and whose runs a page shows."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import ROOT
from ui.serving import (
    ServingSettings,
    SettingsError,
    history_owner,
    is_loopback,
    is_served,
    load_settings,
    parse_settings,
)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.0.0.1:8501", True),
        ("[::1]:8501", True),
        ("::1", True),
        ("localhost:8501", True),
        ("0.0.0.0", False),
        ("", False),
        (None, False),
        ("192.168.1.5", False),
        ("kpi.example.com", False),
        ("evil.localhost.example", False),
    ],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_served_unless_server_browser_and_host_are_all_local():
    auto = ServingSettings()
    assert not is_served(auto, "localhost", "127.0.0.1", "localhost:8501")
    assert is_served(auto, "", "127.0.0.1", "localhost:8501")  # listens on every interface
    assert is_served(auto, "0.0.0.0", "127.0.0.1", "localhost:8501")
    assert is_served(auto, "localhost", "127.0.0.1", "kpi.example.com")  # a reverse proxy on this machine
    assert is_served(auto, "localhost", "10.0.0.7", "localhost:8501")
    assert not is_served(auto, "localhost", None, None)  # no browser connection (a script): no visitor
    # A reverse proxy that rewrites Host to localhost: the browser's Origin, or the proxy's headers, give it away.
    assert is_served(auto, "localhost", "127.0.0.1", "localhost:8501", "https://kpi.example.com")
    assert not is_served(auto, "localhost", "127.0.0.1", "localhost:8501", "http://localhost:8501")
    assert is_served(auto, "localhost", "127.0.0.1", "localhost:8501", None, proxied=True)
    assert is_served(ServingSettings(mode="served"), "localhost", "127.0.0.1", "localhost")
    assert not is_served(ServingSettings(mode="local"), "0.0.0.0", "10.0.0.7", "kpi.example.com")


def test_settings_from_the_serving_table(write_file):
    path = write_file(
        "secrets.toml",
        'OPENAI_API_KEY = "sk-x"\n[serving]\nmodels = ["builtin", "openai/m"]\n'
        '[serving.api_base]\n"openai/m" = "http://127.0.0.1:9/v1"\n',
    )
    settings = load_settings(path)
    assert settings.mode == "auto" and settings.visitors_choose_model is False
    choice = settings.choice("openai/m")
    assert (choice.model_id, choice.api_base, choice.api_key) == ("openai/m", "http://127.0.0.1:9/v1", None)
    with pytest.raises(SettingsError, match="not one of this server's models"):
        settings.choice("openai/other")
    assert load_settings(path.parent / "absent.toml") == ServingSettings()  # the defaults: built-in only


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"mode": "public"}, "serving.mode"),
        ({"visitors_choose_model": "yes"}, "visitors_choose_model"),
        ({"models": []}, "serving.models"),
        ({"models": "builtin"}, "serving.models"),
        ({"api_base": {"m": 1}}, "serving.api_base"),
    ],
)
def test_bad_settings_name_the_setting(table, message):
    with pytest.raises(SettingsError, match=message):
        parse_settings(table, "secrets.toml")


def test_unreadable_settings_file_names_the_file(write_file):
    path = write_file("secrets.toml", "[serving\n")
    with pytest.raises(SettingsError, match=r"secrets\.toml: cannot read it as TOML"):
        load_settings(path)


def test_history_owner():
    user = {"is_logged_in": True, "iss": "https://id.example", "sub": "42", "email": "a@example.com"}
    assert history_owner(True, user, "tok") == "user:https://id.example:42"
    assert history_owner(False, user, "tok") == "user:https://id.example:42"  # login: per person, local too
    assert history_owner(True, {"is_logged_in": False}, "tok") == "session:tok"
    assert history_owner(True, None, "tok") == "session:tok"
    assert history_owner(False, None, "tok") is None  # a local user without login: every run


def settings_file(write_file, monkeypatch, text: str) -> None:
    monkeypatch.setenv("KPI_NARRATOR_SETTINGS", str(write_file("settings.toml", text)))


def test_a_visitor_picks_only_the_operators_models(write_file, monkeypatch):
    settings_file(write_file, monkeypatch, '[serving]\nmode = "served"\nmodels = ["builtin", "openai/m"]\n')
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not app.exception
    labels = [widget.label for widget in app.text_input]
    assert (
        "API base (optional)" not in labels and "API key (optional)" not in labels and "Model" not in labels
    )
    assert app.selectbox(key="served_model").options == ["builtin", "openai/m"]
    app.button(key="run_button").click().run()
    assert app.session_state["run"].wait_idle(60)
    app.run()
    assert any("Revenue fell 7.67%" in m.value for m in app.markdown)


def test_an_operator_may_let_visitors_choose(write_file, monkeypatch):
    settings_file(write_file, monkeypatch, '[serving]\nmode = "served"\nvisitors_choose_model = true\n')
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert_every_setting(app)


def test_a_local_user_keeps_every_setting():
    assert_every_setting(AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run())


def assert_every_setting(app: AppTest) -> None:
    """The model picker with any LiteLLM id, the API base and the key."""
    assert {"API base (optional)", "API key (optional)"} <= {w.label for w in app.text_input}
    app.selectbox(key="model_pick").set_value("Other LiteLLM model…").run()
    assert "LiteLLM model id" in {w.label for w in app.text_input}


def test_a_broken_settings_file_is_a_message_not_a_traceback(write_file, monkeypatch):
    settings_file(write_file, monkeypatch, '[serving]\nmode = "public"\n')
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not app.exception and "serving.mode is" in app.error[0].value


def test_a_visitor_runs_the_operators_llm_and_its_links_are_text(write_file, monkeypatch):
    """Through the real LLM path (scripted OpenAI-compatible server): the operator's API base and key are used, the
    visitor types neither, and the model's links, images, colours and math are shown as text."""
    from tests.helpers import COMPUTE
    from tests.openai_server import ScriptedChatServer

    hostile = {
        "content": "Thought: Write it.\n<code>\nfinal_answer('**Revenue fell.** [Verify](http://evil.invalid)"
        " ![i](http://evil.invalid/i.png) :red[alert] $x$')\n</code>"
    }
    monkeypatch.setenv("OPERATOR_KEY", "sk-operator-" + "k" * 20)
    with ScriptedChatServer([COMPUTE, hostile]) as llm:
        settings_file(
            write_file,
            monkeypatch,
            '[serving]\nmode = "served"\nmodels = ["builtin", "openai/test-model"]\n'
            f'[serving.api_base]\n"openai/test-model" = "{llm.url}"\n'
            '[serving.api_key_env]\n"openai/test-model" = "OPERATOR_KEY"\n',
        )
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
        app.selectbox(key="served_model").set_value("openai/test-model").run()
        app.button(key="run_button").click().run()
        assert app.session_state["run"].wait_idle(60)
        app.run()
        assert (
            llm.requests and llm.requests[0]["headers"]["Authorization"] == "Bearer sk-operator-" + "k" * 20
        )
    assert not app.exception and app.session_state["run"].result.status == "success"
    summary = next(m.value for m in app.markdown if "Revenue fell" in m.value)
    assert summary.startswith("**Revenue fell.**")  # the model's bold stays
    assert "\\[Verify\\](http\u2060://evil.invalid)" in summary and "!\\[i\\]" in summary
    assert "\\:red\\[alert\\]" in summary and "\\$x\\$" in summary


def test_the_session_liveness_is_left_out_where_no_served_runtime_runs():
    """A script or a test has no browser session to watch: the queue's idle time-out applies (the browser test
    in tests/test_queue.py closes a real tab)."""
    from ui.serving import session_liveness

    assert session_liveness() is None
