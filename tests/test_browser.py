"""Real browser tests: `streamlit run app.py` on a loopback port, driven by Playwright with Debian's chromium.

Only a browser shows the live trace, the charts and the layout. Screenshots are kept in test-artifacts/. Timings
are printed, never asserted. In CI (CI=true) a missing chromium is a failure, elsewhere a skip.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"

if not os.environ.get("CI"):
    pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
playwright_sync = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-gpu",
        ],
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    history = tmp_path_factory.mktemp("history") / "history.sqlite"
    env = {**os.environ, "KPI_NARRATOR_HISTORY": str(history), "PYTHONPATH": str(ROOT)}
    log = open(tmp_path_factory.mktemp("logs") / "streamlit.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("streamlit did not become healthy within 60 s")
    yield url
    process.terminate()
    process.wait(10)
    log.close()


def no_exceptions(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def test_main_page_streams_a_run(server, page):
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1500, "height": 1100})
    page.goto(server)
    page.get_by_text("revenue_by_country.tsv · wide layout · 6 rows").wait_for(timeout=30_000)
    clicked = time.monotonic()
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Step 1 ·").first.wait_for(timeout=60_000)
    first_step = time.monotonic() - clicked
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    page.get_by_text("Revenue fell 7.67%").first.wait_for(timeout=60_000)
    summary = time.monotonic() - clicked
    page.get_by_text("All 20 numbers in the summary match the engine.").wait_for(timeout=30_000)
    no_exceptions(page)
    page.screenshot(path=str(ARTIFACTS / "main-page.png"), full_page=True)
    print(f"\nbrowser: Run -> first step {first_step:.2f} s, -> summary {summary:.2f} s")


def test_compare_page(server, page):
    page.set_viewport_size({"width": 1500, "height": 1100})
    page.goto(f"{server}/Compare_agents")
    page.get_by_role("button", name="Run both").click()
    page.get_by_text("tool-calling agent").first.wait_for(timeout=60_000)
    page.get_by_text("Result").first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    no_exceptions(page)
    page.screenshot(path=str(ARTIFACTS / "compare-page.png"), full_page=True)


def test_history_replays_a_saved_run(server, page):
    page.goto(f"{server}/Run_history")
    page.get_by_text("Revenue fell 7.67%").first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Replay trace").click()
    page.get_by_text("Step 1 ·").first.wait_for(timeout=30_000)
    no_exceptions(page)
    page.screenshot(path=str(ARTIFACTS / "history-page.png"), full_page=True)


def test_llm_run_streams_live_and_sessions_stay_apart(server, page, browser):
    from tests.openai_server import ScriptedChatServer
    from tests.test_models import ANSWER, COMPUTE, SECRET

    page.set_viewport_size({"width": 1500, "height": 1100})
    with ScriptedChatServer([COMPUTE, {**ANSWER, "delay": 4}]) as llm:
        page.goto(server)
        page.get_by_role("textbox", name="Model").fill("openai/test-model")
        page.get_by_role("textbox", name="API base (optional)").fill(llm.url)
        page.get_by_role("textbox", name="API key (optional)").fill(SECRET)
        page.get_by_role("textbox", name="API key (optional)").press("Enter")
        page.get_by_role("button", name="Run", exact=True).click()
        page.get_by_text("Step 2 ·").first.wait_for(
            timeout=60_000
        )  # step 1 done, step 2 waits on the slow model
        page.locator(".st-key-stop_button button").wait_for(
            timeout=10_000
        )  # ours, not Streamlit's header Stop
        page.get_by_text("Totals first.").first.wait_for(timeout=10_000)  # step 1's thought is on the page
        page.screenshot(path=str(ARTIFACTS / "main-page-mid-run.png"))
        page.get_by_text("Revenue fell 7.67% (-132,919.66).").first.wait_for(timeout=60_000)
        no_exceptions(page)
        # Only the password field itself holds the key; no text on the page shows it.
        assert SECRET not in page.locator("body").inner_text()
        assert page.content().count(SECRET) == 1
        assert llm.requests[0]["headers"]["Authorization"] == f"Bearer {SECRET}"
    other = browser.new_context().new_page()
    other.goto(server)
    other.get_by_text("revenue_by_country.tsv · wide layout · 6 rows").wait_for(timeout=30_000)
    assert other.get_by_text("Revenue fell 7.67%").count() == 0  # another session sees no run of this one
    assert other.get_by_role("textbox", name="API key (optional)").input_value() == ""
    other.close()
