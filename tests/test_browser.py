"""Real browser tests: `streamlit run app.py` on a loopback port, driven by Playwright with Debian's chromium.

Only a browser shows the live trace, the charts and the layout. Screenshots are kept in test-artifacts/. Timings
are printed, never asserted. In CI (CI=true) a missing chromium is a failure, elsewhere a skip.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from benchmarks.streamlit_server import CHROMIUM, CHROMIUM_ARGS, streamlit_app
from tests.conftest import ROOT

ARTIFACTS = ROOT / "test-artifacts"

if not os.environ.get("CI"):
    pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
playwright_sync = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    history = tmp_path_factory.mktemp("history") / "history.sqlite"
    log = tmp_path_factory.mktemp("logs") / "streamlit.log"
    try:
        with streamlit_app(log, env={"KPI_NARRATOR_HISTORY": str(history)}) as url:
            yield url
    except RuntimeError as error:
        pytest.fail(str(error))


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
    page.get_by_text("20 claims: 20 verified.").wait_for(timeout=30_000)
    no_exceptions(page)
    page.screenshot(path=str(ARTIFACTS / "main-page.png"), full_page=True)
    # The report is built when its button is clicked (deferred), and arrives as a file.
    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name="Report (HTML)").click()
    report = Path(download.value.path()).read_text(encoding="utf-8")
    assert (
        "Revenue fell 7.67%" in report
        and download.value.suggested_filename == "revenue_by_country-report.html"
    )
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


def test_page_latency_benchmark_times_a_run_on_the_sample(tmp_path, browser):
    from benchmarks.page import page_latency

    (row,) = page_latency([None], tmp_path, repeats=1, log=lambda line: None, browser=browser)
    assert "error" not in row, row
    assert 0 < row["first_step_s"] <= row["summary_s"] and row["exceptions"] == 0


def test_a_flagged_claim_is_marked_in_the_summary(server, page):
    from tests.openai_server import ScriptedChatServer
    from tests.test_models import COMPUTE

    wrong = {
        "content": "Thought: Done.\n<code>\nfinal_answer('Revenue fell 7.67%. UK drove 99.95% of the drop.')\n</code>"
    }
    page.set_viewport_size({"width": 1500, "height": 1100})
    with ScriptedChatServer([COMPUTE, wrong, wrong]) as llm:  # the model repeats its mistake after the check
        page.goto(server)
        page.get_by_role("textbox", name="Model").fill("openai/test-model")
        page.get_by_role("textbox", name="API base (optional)").fill(llm.url)
        page.get_by_role("textbox", name="API base (optional)").press("Enter")
        page.get_by_role("button", name="Run", exact=True).click()
        summary = page.get_by_text("UK drove ⚠ 99.95%² (misattributed) ⚠ of the drop.")
        summary.first.wait_for(timeout=60_000)
        marked = page.locator("strong", has_text="⚠ 99.95%² (misattributed) ⚠")  # bold, in red
        assert marked.count() == 1 and marked.evaluate("e => getComputedStyle(e).color") != page.locator(
            "p", has_text="Revenue fell 7.67%¹"
        ).first.evaluate("e => getComputedStyle(e).color")
        page.get_by_text("2 claims: 1 verified, 1 misattributed.").wait_for(timeout=30_000)
        # The footnotes say what each number was checked against; the flagged one names whose figure it is.
        page.get_by_text("99.95% is France's share of the change, not UK's").first.wait_for(timeout=30_000)
        # The self-correction step is in the trace: step 2's check error, then step 3.
        page.get_by_text("Step 3 ·").first.wait_for(timeout=30_000)
        no_exceptions(page)
        page.screenshot(path=str(ARTIFACTS / "main-page-flagged-claim.png"), full_page=True)
