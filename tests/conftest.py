"""Shared fixtures: small files written in the test's own folder, a scripted smolagents model, and Debian's
chromium for the browser tests. Shared plain helpers (not fixtures) are in tests/helpers.py."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from smolagents.models import ChatMessage, MessageRole, Model
from smolagents.monitoring import TokenUsage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# What the app keeps in the user's cache folder (the tokenizer's copy) goes to one folder of this test session, for
# the tests' own processes and every process they start; never the user's ~/.cache.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="kpi-narrator-tests-cache-")

from tests.helpers import REVENUE_TSV
from tests.streamlit_server import CHROMIUM, CHROMIUM_ARGS

atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], True)


@pytest.fixture(autouse=True)
def no_waiting_conversations():
    """Page runs wait for follow-up questions with their worker alive: each test lets its own go."""
    yield
    from agent.run.session import close_all_conversations

    close_all_conversations()


@pytest.fixture(autouse=True)
def isolated_history(tmp_path, monkeypatch):
    """Runs saved by the pages during tests go to the test's folder, never the user's history."""
    monkeypatch.setenv("KPI_NARRATOR_HISTORY", str(tmp_path / "history.sqlite"))


@pytest.fixture
def write_file(tmp_path):
    """Writes text or bytes to a file in the test's folder and returns its path."""

    def write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return path

    return write


@pytest.fixture
def revenue_file(write_file) -> Path:
    return write_file("revenue_by_country.tsv", REVENUE_TSV)


@pytest.fixture
def revenue_dataset(revenue_file):
    from tools.loading import load_dataset

    return load_dataset(revenue_file)


class ScriptedModel(Model):
    """A fake model that answers each step with the next scripted `Thought: ...\\n<code>...</code>` text."""

    def __init__(self, outputs: list[str]):
        super().__init__(model_id="scripted")
        self.outputs = list(outputs)
        self.calls: list[list] = []

    def generate(
        self, messages, stop_sequences=None, response_format=None, tools_to_call_from=None, **kwargs
    ):
        self.calls.append(messages)
        text = (
            self.outputs.pop(0) if self.outputs else "Thought: done.\n<code>\nfinal_answer('done')\n</code>"
        )
        return ChatMessage(role=MessageRole.ASSISTANT, content=text, token_usage=TokenUsage(10, 5))


@pytest.fixture
def scripted_model():
    return ScriptedModel


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's browser is Debian's chromium, offline (tests/streamlit_server.py says why)."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}
