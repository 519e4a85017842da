"""Real browser tests: `streamlit run app.py` on a loopback port, driven by Playwright with Debian's chromium.

Only a browser shows the live trace, the charts and the layout. Screenshots are kept in test-artifacts/. Timings
are printed, never asserted. In CI (CI=true) a missing chromium is a failure, elsewhere a skip.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.streamlit_server import CHROMIUM, streamlit_app

ARTIFACTS = ROOT / "test-artifacts"

pytestmark = [pytest.mark.browser]
if not os.environ.get("CI"):
    pytestmark.append(
        pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
    )
playwright_sync = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def history_file(tmp_path_factory) -> Path:
    """The served app's run history: every run of this module's tests is saved there."""
    return tmp_path_factory.mktemp("history") / "history.sqlite"


@pytest.fixture(scope="module")
def server(tmp_path_factory, history_file):
    log = tmp_path_factory.mktemp("logs") / "streamlit.log"
    try:
        with streamlit_app(log, env={"KPI_NARRATOR_HISTORY": str(history_file)}) as url:
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
    # Opened directly, even as the server's first visit: the menu names the pages, never "app" or "explain".
    page.get_by_role("link", name="Explain a change").wait_for(timeout=30_000)
    assert page.get_by_role("link", name="explain", exact=True).count() == 0
    page.get_by_role("button", name="Run both").click()
    page.get_by_text("tool-calling agent").first.wait_for(timeout=60_000)
    page.get_by_text("Result").first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    no_exceptions(page)
    page.screenshot(path=str(ARTIFACTS / "compare-page.png"), full_page=True)
    # The result table fits, on a laptop and on a phone: nothing cut off at its right, no sideways scrolling.
    table = page.locator('[data-testid="stTable"]')
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(500)
        table.scroll_into_view_if_needed()
        fit = table.evaluate(
            """t => ({scroll: t.scrollWidth, client: t.clientWidth, right: t.getBoundingClientRect().right,
                     cells: Array.from(t.querySelectorAll('th, td')).map(c => c.getBoundingClientRect().right)})"""
        )
        assert fit["scroll"] <= fit["client"] + 1 and fit["right"] <= width, (width, fit)
        assert max(fit["cells"]) <= fit["right"] + 1, (width, fit)
        assert "5,451" in table.inner_text()  # the published figures are in it
        page.screenshot(path=str(ARTIFACTS / f"compare-table-{width}.png"))


def test_history_replays_a_saved_run(server, page, history_file, revenue_dataset):
    from agent.output.history import RunHistory
    from agent.run.runner import RunRequest, run_events

    # Its own saved run (whatever ran before): the newest run is the one the page opens.
    RunHistory(history_file).save(list(run_events(RunRequest(revenue_dataset))))
    page.goto(f"{server}/Run_history")
    page.get_by_text("Revenue fell 7.67%").first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Replay trace").click()
    page.get_by_text("Step 1 ·").first.wait_for(timeout=30_000)
    no_exceptions(page)
    page.screenshot(path=str(ARTIFACTS / "history-page.png"), full_page=True)


def test_llm_run_streams_live_and_sessions_stay_apart(server, page, browser):
    from tests.helpers import ANSWER, COMPUTE, SECRET
    from tests.openai_server import ScriptedChatServer

    page.set_viewport_size({"width": 1500, "height": 1100})
    with ScriptedChatServer([COMPUTE, {**ANSWER, "delay": 4}]) as llm:
        page.goto(server)
        page.get_by_role("combobox", name="Model").click()
        page.get_by_role("option", name="Other LiteLLM model…").click()
        page.get_by_role("textbox", name="LiteLLM model id").fill("openai/test-model")
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


def test_roles_pickers_when_the_period_column_cannot_be_guessed(server, page, tmp_path):
    # "stage" is no period word and its values name no time: the page must ask, not fail.
    path = tmp_path / "stages.csv"
    path.write_text("stage,country,revenue\nalpha,UK,10\nalpha,FR,5\nbeta,UK,12\nbeta,FR,4\n")
    page.set_viewport_size({"width": 1500, "height": 1100})
    page.goto(server)
    page.get_by_role("radiogroup", name="Data").get_by_text("Upload", exact=True).click()
    page.locator('.st-key-upload input[type="file"]').set_input_files(str(path))
    page.get_by_text("Choose the period column under Columns and roles").wait_for(timeout=30_000)
    assert page.get_by_role("button", name="Run", exact=True).count() == 0
    page.get_by_role("combobox", name="Period column").click()
    page.get_by_role("option", name="stage", exact=True).click()
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Revenue rose 6.67%").first.wait_for(timeout=60_000)
    page.get_by_text("claims:").first.wait_for(timeout=30_000)
    assert page.get_by_text("misattributed").count() == 0
    no_exceptions(page)
    page.screenshot(path=str(ARTIFACTS / "roles-pickers.png"), full_page=True)


def test_labels_from_the_data_are_text_in_the_page_and_the_report(server, page, tmp_path):
    """A label that is a Markdown link, one that is an image and a 200-character one: shown as text, the long one
    shortened in the summary, nothing fetched from or linked to the label's site, in the page or the report."""
    long_label = "Long segment " + "x" * 187
    csv = (
        "country,revenue_before,revenue_after\n"
        '"[Verify your account](http://evil.invalid)",1000,400\n'
        '"![x](http://evil.invalid/x.png)",500,650\n'
        f'"{long_label}",800,860\n'
        '"<a href=""http://evil.invalid/plotly"">click</a>",300,200\n'  # plotly renders tags in ticks and titles
        '":red[alarm] $x^2$ **bold**",400,150\n'  # Streamlit's colour, math and bold
        "UK,3000,3010\n"
    )
    path = tmp_path / "hostile_labels.csv"
    path.write_text(csv, encoding="utf-8")
    outside: list[str] = []
    page.on("request", lambda request: outside.append(request.url) if "evil" in request.url else None)
    page.set_viewport_size({"width": 1500, "height": 1100})
    page.goto(server)
    page.get_by_role("radiogroup", name="Data").get_by_text("Upload", exact=True).click()
    page.locator('.st-key-upload input[type="file"]').set_input_files(str(path))
    page.get_by_text("hostile_labels.csv · wide layout").wait_for(timeout=30_000)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Revenue fell").first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    no_exceptions(page)
    assert page.get_by_role("button", name="Deploy").count() == 0  # client.toolbarMode = "minimal"
    summary = page.locator('[data-testid="stMarkdownContainer"]').filter(has_text="Top drivers").first
    summary.wait_for(timeout=30_000)
    text = summary.inner_text().replace(
        "\u2060", ""
    )  # the word joiner that keeps `http://` from being linked
    assert "[Verify your account](http://evil.inval…" in text and "![x](http://evil.invalid/x.png)" in text
    assert "Long segment " + "x" * 26 + "…" in text and long_label not in text
    assert ":red[alarm] $x^2$ **bold**" in text  # no colour, math or bold
    assert page.locator(".katex").count() == 0 and summary.locator("strong", has_text="bold").count() == 0
    assert live_references(page) == []
    assert (
        page.locator(".js-plotly-plot").first.inner_text().count("evil.invalid") >= 1
    )  # chart text, not a link
    page.screenshot(path=str(ARTIFACTS / "hostile-labels.png"), full_page=True)
    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name="Report (HTML)").click()
    report = tmp_path / "report.html"
    report.write_bytes(Path(download.value.path()).read_bytes())
    # The report under its Content-Security-Policy: plotly (inline) still draws, nothing is fetched or linked.
    page.goto(report.as_uri())
    page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=30_000)
    assert live_references(page) == []
    assert outside == []


def live_references(page) -> list[str]:
    """Every link or source in the DOM (HTML and SVG, `xlink:href` too) that points at the hostile site."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('*')).flatMap(element => Array.from(element.attributes)
            .filter(a => /href|src/i.test(a.name) && a.value.includes('evil'))
            .map(a => `${element.tagName} ${a.name}=${a.value}`))"""
    )


def test_a_flagged_claim_is_marked_in_the_summary(server, page):
    from tests.helpers import COMPUTE
    from tests.openai_server import ScriptedChatServer

    wrong = {
        "content": "Thought: Done.\n<code>\nfinal_answer('Revenue fell 7.67%. UK drove 99.95% of the drop.')\n</code>"
    }
    page.set_viewport_size({"width": 1500, "height": 1100})
    with ScriptedChatServer([COMPUTE, wrong, wrong]) as llm:  # the model repeats its mistake after the check
        page.goto(server)
        page.get_by_role("combobox", name="Model").click()
        page.get_by_role("option", name="Other LiteLLM model…").click()
        page.get_by_role("textbox", name="LiteLLM model id").fill("openai/test-model")
        page.get_by_role("textbox", name="API base (optional)").fill(llm.url)
        page.get_by_role("textbox", name="API base (optional)").press("Enter")
        page.get_by_role("button", name="Run", exact=True).click()
        summary = page.get_by_text("UK drove ⚠ 99.95%⁽²⁾ (misattributed) ⚠ of the drop.")
        summary.first.wait_for(timeout=60_000)
        marked = page.locator("strong", has_text="⚠ 99.95%⁽²⁾ (misattributed) ⚠")  # bold, in red
        assert marked.count() == 1 and marked.evaluate("e => getComputedStyle(e).color") != page.locator(
            "p", has_text="Revenue fell 7.67%⁽¹⁾"
        ).first.evaluate("e => getComputedStyle(e).color")
        page.get_by_text("2 claims: 1 verified, 1 misattributed.").wait_for(timeout=30_000)
        # The footnotes say what each number was checked against; the flagged one names whose figure it is.
        page.get_by_text("99.95% is France's share of the change, not UK's").first.wait_for(timeout=30_000)
        # The self-correction step is in the trace: step 2's check error, then step 3.
        page.get_by_text("Step 3 ·").first.wait_for(timeout=30_000)
        no_exceptions(page)
        page.screenshot(path=str(ARTIFACTS / "main-page-flagged-claim.png"), full_page=True)


def test_a_daily_table_compares_weeks_and_says_when(server, page, tmp_path):
    from tools.synthetic import daily_frame

    path = tmp_path / "daily_revenue.csv"
    daily_frame().to_csv(
        path, index=False
    )  # 120 days; Germany × Android falls in the last 7, a spike earlier
    page.set_viewport_size({"width": 1500, "height": 1100})
    page.goto(server)
    page.get_by_role("radiogroup", name="Data").get_by_text("Upload", exact=True).click()
    page.locator('.st-key-upload input[type="file"]').set_input_files(str(path))
    page.get_by_text("daily_revenue.csv · long layout").wait_for(timeout=30_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)  # the trend with both windows shaded
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("2026-11-15..2026-11-21 → 2026-11-22..2026-11-28").first.wait_for(timeout=60_000)
    page.get_by_text("Germany × Android").first.wait_for(timeout=30_000)
    page.get_by_text("When: the drop is spread over the later window").first.wait_for(timeout=30_000)
    no_exceptions(page)
    page.screenshot(path=str(ARTIFACTS / "daily-windows.png"), full_page=True)


def test_events_upload_nested_change_log_steps_live_and_cited_events(server, page, tmp_path):
    """An events file uploaded beside a sample; an LLM (the scripted server) asks the change-log agent in step 1;
    its nested steps are on the page while step 2 still waits on the model; the summary cites the event."""
    from tests.openai_server import ScriptedChatServer

    events = tmp_path / "changes.csv"
    events.write_text(
        "date,description,kind,scope\n2026-11-22,Android app crash on start,incident,"
        "country=Germany; platform=Android\n2026-11-22,Spring sale ended,campaign,country=Italy\n"
    )
    ask = (
        "Thought: Ask the change log.\n<code>\nanswer = change_log(task='What changed for Germany × Android "
        "(country=Germany; platform=Android) between 2026-11-22 and 2026-11-28?')\nprint(answer)\n</code>"
    )
    managed = [
        {
            "content": "The window.",
            "tool_calls": [
                {
                    "name": "events_in_window",
                    "arguments": {
                        "start": "2026-11-22",
                        "end": "2026-11-28",
                        "scope": "country=Germany; platform=Android",
                    },
                }
            ],
        },
        {"content": "", "tool_calls": [{"name": "final_answer", "arguments": {"answer": "E1 matches."}}]},
    ]
    summary = (
        "**Revenue fell 1.49%**.\n\n- Germany × Android: Android app crash on start on 2026-11-22 (incident)."
    )
    final = {"content": f"Thought: Write it.\n<code>\nfinal_answer({summary!r})\n</code>", "delay": 5}
    page.set_viewport_size({"width": 1500, "height": 1100})
    with ScriptedChatServer([{"content": ask}, *managed, final]) as llm:
        page.goto(server)
        page.get_by_role("combobox", name="Sample file").click()
        page.get_by_role("option", name="daily_revenue.csv").click()
        page.get_by_text("No change log").wait_for(timeout=30_000)
        # A file dropped while the page is still running its sample switch can be lost: wait until it is idle.
        page.get_by_text("Revenue per date, compared windows shaded").wait_for(timeout=30_000)
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000
        )
        page.locator('.st-key-events_upload input[type="file"]').set_input_files(str(events))
        page.get_by_text("changes.csv: 2 events").wait_for(timeout=30_000)
        page.get_by_role("combobox", name="Model").click()
        page.get_by_role("option", name="Other LiteLLM model…").click()
        page.get_by_role("textbox", name="LiteLLM model id").fill("openai/test-model")
        page.get_by_role("textbox", name="API base (optional)").fill(llm.url)
        page.get_by_role("textbox", name="API base (optional)").press("Enter")
        page.get_by_role("button", name="Run", exact=True).click()
        # Live: step 2 waits 5 s on the model while step 1's nested change-log steps are already shown.
        page.get_by_text("Step 2 ·").first.wait_for(timeout=60_000)
        page.get_by_text("↳ change_log · step 1").first.wait_for(timeout=10_000)
        page.get_by_text("events_in_window(start='2026-11-22'").first.wait_for(timeout=10_000)
        assert page.get_by_text("Android app crash on start on 2026-11-22").count() == 0  # no summary yet
        page.screenshot(path=str(ARTIFACTS / "change-log-mid-run.png"))
        page.get_by_text("Android app crash on start on 2026-11-22 (incident)").first.wait_for(timeout=60_000)
        no_exceptions(page)
        page.screenshot(path=str(ARTIFACTS / "change-log-summary.png"), full_page=True)
    assert "events_in_window" in str(llm.requests[1]["body"]["tools"])


def use_scripted_llm(page, url: str) -> None:
    """Picks an LLM served by the scripted OpenAI-compatible server (no key: a local server wants none)."""
    page.get_by_role("combobox", name="Model").click()
    page.get_by_role("option", name="Other LiteLLM model…").click()
    page.get_by_role("textbox", name="LiteLLM model id").fill("openai/test-model")
    page.get_by_role("textbox", name="API base (optional)").fill(url)
    page.get_by_role("textbox", name="API base (optional)").press("Enter")


# Every code block on the page, with the running step's label if the block is inside it.
CODE_BLOCKS = """() => Array.from(document.querySelectorAll('[data-testid="stCode"]')).map(block => ({
    text: block.innerText,
    running: (block.closest('[data-testid="stExpander"]')?.innerText || '').includes('running…'),
}))"""


def test_a_slow_stream_shows_its_text_in_the_running_step(server, page):
    from tests.helpers import ANSWER, COMPUTE
    from tests.openai_server import ScriptedChatServer

    slow = {**ANSWER, "chunk_size": 4, "chunk_delay": 0.4}  # about 11 s of text, 4 characters at a time
    page.set_viewport_size({"width": 1500, "height": 1100})
    with ScriptedChatServer([COMPUTE, slow]) as llm:
        page.goto(server)
        page.get_by_text("revenue_by_country.tsv · wide layout · 6 rows").wait_for(timeout=30_000)
        use_scripted_llm(page, llm.url)
        page.get_by_role("button", name="Run", exact=True).click()
        # Step 2's thought shows while the model is still writing it, before the step (and the run) ends.
        page.get_by_text("Write it.").first.wait_for(timeout=60_000)
        assert page.get_by_text("Step 2 · running…").count() >= 1
        assert page.get_by_text("Revenue fell 7.67%").count() == 0
        page.screenshot(path=str(ARTIFACTS / "main-page-streaming.png"))
        # Until the summary: no code block is ever empty, and the running step shows its code as it arrives.
        partial_code = False
        while page.get_by_text("Revenue fell 7.67% (-132,919.66).").count() == 0:
            blocks = page.evaluate(CODE_BLOCKS)
            assert all(block["text"].strip() for block in blocks), blocks
            partial_code = partial_code or any(
                block["running"] and "final_answer" in block["text"] for block in blocks
            )
            page.wait_for_timeout(100)
        assert partial_code
        page.get_by_text("claims:").first.wait_for(timeout=30_000)
        no_exceptions(page)


def test_on_a_phone_the_summary_and_charts_come_before_the_trace(server, page):
    def top(locator) -> float:
        return locator.first.bounding_box()["y"]

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server)
    page.get_by_text("revenue_by_country.tsv · wide layout · 6 rows").wait_for(timeout=30_000)
    page.get_by_role("button", name="Run", exact=True).click()
    summary = page.get_by_text("Revenue fell 7.67%")
    summary.first.wait_for(timeout=60_000)
    chart, step = page.locator(".js-plotly-plot"), page.get_by_text("Step 1 ·")
    chart.first.wait_for(timeout=30_000)
    assert top(summary) < top(chart) < top(step)
    page.screenshot(path=str(ARTIFACTS / "main-page-phone.png"), full_page=True)
    # Side by side on a desktop: the trace on the left, the charts beside it from the same height.
    page.set_viewport_size({"width": 1500, "height": 1100})
    page.wait_for_timeout(500)
    step_box, chart_box = step.first.bounding_box(), chart.first.bounding_box()
    assert step_box["x"] + step_box["width"] <= chart_box["x"]
    assert chart_box["y"] < step_box["y"] + 600  # beside the trace, not under it
    no_exceptions(page)


def test_a_stopped_run_says_so_at_the_top_and_keeps_its_downloads(server, page):
    from tests.helpers import COMPUTE
    from tests.openai_server import ScriptedChatServer

    page.set_viewport_size({"width": 1500, "height": 1100})
    slow = {**COMPUTE, "delay": 4}  # never a final answer: the run goes on until it is stopped
    with ScriptedChatServer([COMPUTE, *[slow] * 6]) as llm:
        page.goto(server)
        page.get_by_text("revenue_by_country.tsv · wide layout · 6 rows").wait_for(timeout=30_000)
        use_scripted_llm(page, llm.url)
        page.get_by_role("button", name="Run", exact=True).click()
        page.get_by_text("Step 2 · running…").first.wait_for(timeout=60_000)
        page.locator(".st-key-stop_button button").click()
        stopped = page.get_by_text("Stopped by the user")
        stopped.first.wait_for(timeout=60_000)
        trace = page.get_by_role("heading", name="Trace")
        assert (
            stopped.first.bounding_box()["y"] < trace.first.bounding_box()["y"]
        )  # at the top, not under the trace
        assert page.locator('[data-testid="stAlertContentSuccess"]').count() == 0  # never a green badge
        page.get_by_role("button", name="Trace (JSON)").wait_for(timeout=10_000)  # the downloads stay
        page.get_by_text("Totals first.").first.wait_for(timeout=10_000)  # and the steps made so far
        no_exceptions(page)
        page.screenshot(path=str(ARTIFACTS / "main-page-stopped.png"))
