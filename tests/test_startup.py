"""Start-up: nothing heavy is imported before it is needed, and the worker starts beside the app's own work."""

import json
import os
import subprocess
import sys
import threading

import pytest

from tests.helpers import ROOT

HEAVY = (
    "pandas",
    "pyarrow",
    "numpy",
    "smolagents",
    "huggingface_hub",
    "litellm",
    "plotly",
    "rich",
    "streamlit",
)
# What a built-in run never needs: the LiteLLM client (real models only) and the page's framework.
NOT_FOR_BUILTIN = ("litellm", "openai", "streamlit")


def imported_by(code: str) -> set[str]:
    """The top-level packages a fresh interpreter has imported after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, env=env, timeout=180
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_cli_module_and_its_parser_import_nothing_heavy():
    loaded = imported_by(
        "from agent.cli import build_parser\nbuild_parser().parse_args(['run', 'x.csv', '--json'])"
    )
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_a_usage_error_exits_before_any_heavy_import():
    loaded = imported_by(
        "from agent.cli import main\ntry:\n    main(['run'])\nexcept SystemExit as exit:\n    assert exit.code == 2"
    )
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_a_builtin_run_never_imports_the_llm_client(revenue_file):
    loaded = imported_by(
        "import contextlib, io\nfrom agent.cli import main\nwith contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['run', {str(revenue_file)!r}, '--json']) == 0"
    )
    assert "smolagents" in loaded and "pandas" in loaded  # the probe did run the agent
    assert not loaded & set(NOT_FOR_BUILTIN), loaded & set(NOT_FOR_BUILTIN)


@pytest.fixture
def blocked_launcher():
    """Holds the worker launcher thread busy until the test lets it go."""
    from agent.sandbox import worker_pool

    worker_pool.discard_spare()
    release = threading.Event()
    busy = worker_pool._launcher.submit(release.wait, 60)
    yield worker_pool
    release.set()
    busy.result(10)
    worker_pool.discard_spare()


def test_prestart_returns_while_the_worker_is_still_starting(blocked_launcher):
    worker_pool = blocked_launcher
    returned = threading.Event()

    def call() -> None:
        worker_pool.prestart()
        returned.set()

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    # The launcher cannot start anything yet: a prestart that waited for its worker would not return.
    assert returned.wait(10), "prestart waited for the worker to start"
    assert worker_pool._spare is not None and not worker_pool._spare.done()
