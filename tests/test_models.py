"""The LiteLLM path, driven through a scripted OpenAI-compatible server on 127.0.0.1 (never a mock of LiteLLM)."""

import json
import os
import socket
import subprocess
import sys

import pytest

from agent.models.build import ModelChoice, ModelConfigError, build_model, resolve_api_key
from agent.run.result import collect
from agent.run.runner import RunRequest, run_events
from tests.helpers import ANSWER, COMPUTE, ROOT, SECRET, llm
from tests.openai_server import ScriptedChatServer


def test_two_step_run_through_litellm(revenue_dataset):
    with ScriptedChatServer([COMPUTE, ANSWER]) as server:
        result = collect(run_events(RunRequest(revenue_dataset), llm(server)))
    assert result.status == "success"
    assert result.narrative == "Revenue fell 7.67% (-132,919.66)."
    assert result.verification["mismatches"] == [] and len(result.verification["checked"]) == 2
    assert [(s["input_tokens"], s["output_tokens"]) for s in result.steps] == [(100, 20), (100, 20)]
    assert result.usage["tokens_estimated"] is False
    assert result.model == "openai/test-model"
    first = server.requests[0]["body"]
    assert first["model"] == "test-model"
    assert (
        "metric_totals" in first["messages"][0]["content"][0]["text"]
    )  # our compact system prompt, tools in it


def test_wrong_number_from_an_llm_is_flagged(revenue_dataset):
    lie = {
        "content": "Thought: Done.\n<code>\nfinal_answer('Revenue fell 9.10%, mostly in France.')\n</code>"
    }
    with ScriptedChatServer([COMPUTE, lie, lie]) as server:  # the second time the flagged answer is accepted
        result = collect(run_events(RunRequest(revenue_dataset), llm(server)))
    assert [m["text"] for m in result.verification["mismatches"]] == ["9.10%"]


def test_missing_usage_is_counted_locally_and_marked(revenue_dataset):
    with ScriptedChatServer([{**COMPUTE, "usage": None}, ANSWER]) as server:
        model = llm(server)
        model.streams = False  # unstreamed: in a stream without usage litellm counts the tokens itself
        result = collect(run_events(RunRequest(revenue_dataset), model))
    assert result.steps[0]["input_tokens"] > 200  # counted from the prompt, not the provider's 0
    assert result.usage["tokens_estimated"] is True


def test_rate_limit_is_retried(revenue_dataset):
    with ScriptedChatServer([{"status": 429, "error": "Rate limit reached"}, COMPUTE, ANSWER]) as server:
        result = collect(run_events(RunRequest(revenue_dataset), llm(server)))
    assert result.status == "success"
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ({"status": 401, "error": f"Incorrect API key provided: {SECRET}"}, "refused the API key"),
        ({"status": 404, "error": "The model does not exist"}, "does not know the model 'openai/test-model'"),
    ],
)
def test_provider_errors_end_the_run_with_one_clear_message(revenue_dataset, reply, message):
    with ScriptedChatServer([COMPUTE, reply]) as server:
        result = collect(run_events(RunRequest(revenue_dataset), llm(server)))
    assert result.status == "error"
    assert message in result.error
    assert " --" not in result.error  # the page shows it too: no CLI flag names
    assert result.steps[0]["observation"]  # the step made before the error is kept
    assert SECRET not in json.dumps(result.to_json())


def test_refused_connection(revenue_dataset):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before use: nothing listens there
    model = build_model(
        ModelChoice("openai/test-model", api_base=f"http://127.0.0.1:{port}/v1", api_key=SECRET)
    )
    result = collect(run_events(RunRequest(revenue_dataset), model))
    assert result.status == "error"
    assert "Could not connect to the model server" in result.error


def test_streamed_responses():
    from smolagents.models import ChatMessage

    with ScriptedChatServer([{"content": "Thought: streamed reply here"}]) as server:
        deltas = list(
            llm(server).generate_stream([ChatMessage(role="user", content=[{"type": "text", "text": "hi"}])])
        )
    assert "".join(d.content or "" for d in deltas) == "Thought: streamed reply here"
    assert server.requests[0]["body"]["stream"] is True


def test_key_sources(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "from-provider-variable")
    monkeypatch.setenv("MY_KEY", "from-named-variable")
    assert resolve_api_key(ModelChoice("openai/x")) == "from-provider-variable"
    assert resolve_api_key(ModelChoice("openai/x", api_key_env="MY_KEY")) == "from-named-variable"
    assert resolve_api_key(ModelChoice("openai/x", api_key="given")) == "given"
    with pytest.raises(ModelConfigError, match="NOPE_UNSET"):
        resolve_api_key(ModelChoice("openai/x", api_key_env="NOPE_UNSET"))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text('ANTHROPIC_API_KEY = "from-secrets-file"\n')
    assert resolve_api_key(ModelChoice("anthropic/claude")) == "from-secrets-file"
    assert "from-secrets-file" not in repr(build_model(ModelChoice("anthropic/claude")))


def test_key_never_appears_in_cli_output(revenue_file):
    echo = {"status": 401, "error": f"Incorrect API key provided: {SECRET}. You can find your key at ..."}
    with ScriptedChatServer([COMPUTE, ANSWER, COMPUTE, echo]) as server:
        env = {**os.environ, "KPI_TEST_KEY": SECRET, "PYTHONPATH": str(ROOT)}
        base = [
            sys.executable,
            "-m",
            "agent",
            "run",
            str(revenue_file),
            "--model",
            "openai/test-model",
            "--api-base",
            server.url,
            "--api-key-env",
            "KPI_TEST_KEY",
        ]
        ok = subprocess.run([*base, "--json"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
        failed = subprocess.run(base, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {SECRET}"  # the key was really used
    assert json.loads(ok.stdout)["narrative"] == "Revenue fell 7.67% (-132,919.66)."
    assert failed.returncode == 1 and "refused the API key" in failed.stdout
    for output in (ok.stdout, ok.stderr, failed.stdout, failed.stderr):
        assert SECRET not in output


def test_first_request_is_compact(revenue_dataset):
    from agent.models.tokens import count_tokens

    with ScriptedChatServer([COMPUTE, ANSWER]) as server:
        collect(run_events(RunRequest(revenue_dataset), llm(server)))
    first = server.requests[0]["body"]["messages"]
    tokens = sum(count_tokens(part["text"]) for message in first for part in message["content"])
    assert tokens < 1500, tokens
    second = json.dumps(server.requests[1]["body"])
    assert second.count("632767.39") == json.dumps(server.requests[0]["body"]).count(
        "632767.39"
    )  # data not resent


def test_time_outs_are_retried_then_reported(revenue_dataset):
    from agent.models.build import NarratorLiteLLMModel

    slow = {"content": "late", "delay": 1.5}
    with ScriptedChatServer([slow, COMPUTE, ANSWER]) as server:
        model = NarratorLiteLLMModel(
            "openai/test-model", api_base=server.url, api_key=SECRET, timeout=0.5, retry_wait=0.05
        )
        recovered = collect(run_events(RunRequest(revenue_dataset), model))
    assert (
        recovered.status == "success" and len(server.requests) == 3
    )  # one time-out, then a retry that worked
    with ScriptedChatServer([slow] * 4) as server:
        model = NarratorLiteLLMModel(
            "openai/test-model", api_base=server.url, api_key=SECRET, timeout=0.5, retry_wait=0.05
        )
        failed = collect(run_events(RunRequest(revenue_dataset), model))
    assert failed.status == "error" and len(server.requests) == 4
    assert "did not answer in time after 4 tries" in failed.error


def test_a_local_openai_compatible_server_needs_no_key(revenue_dataset, monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .streamlit/secrets.toml here either
    with ScriptedChatServer([COMPUTE, ANSWER]) as server:
        model = build_model(ModelChoice("openai/test-model", api_base=server.url))
        result = collect(run_events(RunRequest(revenue_dataset), model))
    assert result.status == "success", result.error
    # The OpenAI client insists on a key; a placeholder goes out, not a real one, and is not treated as a secret.
    assert server.requests[0]["headers"]["Authorization"] == "Bearer no-key"


def test_a_missing_key_is_one_sentence_saying_what_to_set(monkeypatch, tmp_path):
    import agent.models.build as models

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setattr(models, "SECRETS_FILE", tmp_path / "none.toml")
    with pytest.raises(models.ModelConfigError) as error:
        models.build_model(models.ModelChoice("anthropic/claude-3-5-haiku-latest"))
    assert "needs an API key and none is set: set ANTHROPIC_API_KEY" in str(error.value)
    assert "\n" not in str(error.value) and "InternalServerError" not in str(error.value)


def test_an_llm_step_streams_its_text_before_its_code_runs(revenue_dataset):
    from agent.run import events as ev

    with ScriptedChatServer([{**COMPUTE, "chunk_size": 5}, ANSWER]) as server:
        # No key: nothing is held back from the pieces.
        events = list(run_events(RunRequest(revenue_dataset), llm(server, key=None)))
    assert server.requests[0]["body"]["stream"] is True
    kinds = [type(e).__name__ for e in events]
    first_delta, first_code = kinds.index("TextDelta"), kinds.index("Code")
    assert first_delta < first_code  # the text shows while the model is still writing
    step_one = [e.text for e in events if isinstance(e, ev.TextDelta) and e.step == 1]
    assert len(step_one) > 5 and "".join(step_one) == COMPUTE["content"]
    result = collect(events)
    # The step's Thought and Code are the same as without streaming; the provider's usage is kept.
    assert result.steps[0]["thought"] == "Totals first." and "metric_totals" in result.steps[0]["code"]
    assert result.steps[0]["input_tokens"] == 100 and result.usage["tokens_estimated"] is False
    assert result.narrative == "Revenue fell 7.67% (-132,919.66)."
    # What is saved and replayed (`--json`, the history) does not carry the pieces.
    replayed = collect(e for e in events if not isinstance(e, ev.TextDelta))
    assert replayed.to_json() == result.to_json()


def test_a_key_split_over_streamed_pieces_is_never_shown(revenue_dataset):
    from agent.run import events as ev

    leaky = {
        "content": f"Thought: my key is {SECRET} and now the totals of every segment.\n<code>\nprint(1)\n</code>",
        "chunk_size": 7,
    }
    with ScriptedChatServer([leaky, ANSWER]) as server:
        events = list(run_events(RunRequest(revenue_dataset), llm(server)))
    shown = "".join(e.text for e in events if isinstance(e, ev.TextDelta) and e.step == 1)
    assert SECRET not in shown and "my key is ***" in shown
    assert all(SECRET[:7] not in e.text for e in events if isinstance(e, ev.TextDelta))


def test_streamed_text_holds_back_what_could_be_the_start_of_a_secret():
    from agent.run.runner import StreamedText

    text = StreamedText(["abcdef"])
    released = [text.add(piece) for piece in ("hello ab", "cd", "ef world", "!")]
    assert "".join(released) == "hello *** w"  # the last 5 characters wait for what follows
    assert all("ab" not in piece for piece in released)
    plain = StreamedText()
    assert [plain.add("a"), plain.add("bc")] == ["a", "bc"]  # nothing to hide: nothing held back


def test_the_built_in_analyst_does_not_stream(revenue_dataset):
    from agent.run import events as ev

    events = list(run_events(RunRequest(revenue_dataset)))
    assert not any(isinstance(e, ev.TextDelta) for e in events)
    assert collect(events).status == "success"
