"""Retakes the README's screenshots from the real app: `python docs/screenshots.py`.

It serves the app on a loopback port (`benchmarks.streamlit_server`), drives Debian's chromium with Playwright, and
writes docs/screenshot-*.png. The LLM runs go through the scripted OpenAI-compatible server of the tests
(`tests/openai_server.py`) on 127.0.0.1: no network, no key.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.openai_server import ScriptedChatServer  # noqa: E402
from tests.streamlit_server import CHROMIUM, CHROMIUM_ARGS, streamlit_app  # noqa: E402

DOCS = ROOT / "docs"
SAMPLE_LINE = "revenue_by_country.tsv · wide layout · 6 rows"
# A two-step answer from an LLM: totals, then the summary (written slowly, so it is caught mid-stream).
COMPUTE = {
    "content": "Thought: Totals first, then the countries that moved most.\n<code>\n"
    "totals = metric_totals(df, metric='revenue')\nprint(totals)\n</code>"
}
ANSWER = {
    "content": "Thought: Revenue fell; I state the change and its size, as the engine computed them.\n<code>\n"
    "final_answer(f\"Revenue fell {abs(totals['pct_change']):.2f}% ({totals['abs_change']:+,.2f}).\")\n</code>"
}
WRONG = {
    "content": "Thought: Done.\n<code>\nfinal_answer('Revenue fell 7.67%. UK drove 99.95% of the drop.')\n</code>"
}


def use_llm(page, url: str) -> None:
    """Picks the scripted server as an OpenAI-compatible model in the sidebar."""
    page.get_by_role("combobox", name="Model").click()
    page.get_by_role("option", name="Other LiteLLM model…").click()
    page.get_by_role("textbox", name="LiteLLM model id").fill("openai/test-model")
    page.get_by_role("textbox", name="API base (optional)").fill(url)
    page.get_by_role("textbox", name="API base (optional)").press("Enter")


def open_main(page, url: str, width: int, height: int) -> None:
    page.set_viewport_size({"width": width, "height": height})
    page.goto(url)
    page.get_by_text(SAMPLE_LINE).wait_for(timeout=60_000)


def scroll_to(page, text: str) -> None:
    """Scrolls Streamlit's main area (the page itself does not scroll) so that `text` is near the top."""
    page.get_by_text(text).first.evaluate(
        """e => { e.scrollIntoView({block: 'start'});
                 const main = document.querySelector('[data-testid="stMain"]'); if (main) main.scrollBy(0, -24); }"""
    )
    page.wait_for_timeout(400)


def settled(page) -> None:
    """Waits for the finished page's last full rerun: cards and download buttons drawn, not placeholders."""
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Report (HTML)").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)


def main_page(browser, url: str) -> None:
    """The finished run on the sample with the built-in analyst: cards, summary, badge, trace beside the charts."""
    page = browser.new_page()
    open_main(page, url, 1400, 2300)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("claims:").first.wait_for(timeout=120_000)
    page.locator(".js-plotly-plot").nth(1).wait_for(timeout=60_000)
    settled(page)
    scroll_to(page, "revenue_by_country.tsv · revenue")
    page.screenshot(path=str(DOCS / "screenshot-main.png"))
    page.close()


def mid_run(browser, url: str) -> None:
    """An LLM run caught while step 2's text streams in: step 1 done, step 2 running with its text so far."""
    slow = {**ANSWER, "chunk_size": 4, "chunk_delay": 0.35}
    with ScriptedChatServer([COMPUTE, slow]) as llm:
        page = browser.new_page()
        open_main(page, url, 1400, 1000)
        use_llm(page, llm.url)
        page.get_by_role("button", name="Run", exact=True).click()
        page.get_by_text("Step 2 · running…").first.wait_for(timeout=120_000)
        page.locator('[data-testid="stCode"]', has_text="final_answer(").first.wait_for(timeout=60_000)
        page.wait_for_timeout(1200)  # a little more of the code
        scroll_to(page, "Trace")
        page.screenshot(path=str(DOCS / "screenshot-mid-run.png"))
        page.get_by_text("claims:").first.wait_for(timeout=120_000)  # let the run end before the server goes
        page.close()


def flagged_claim(browser, url: str) -> None:
    """A summary with a misattributed number: marked in red in the text, counted in the badge, footnoted."""
    with ScriptedChatServer([COMPUTE, WRONG, WRONG]) as llm:
        page = browser.new_page()
        open_main(page, url, 1400, 900)
        use_llm(page, llm.url)
        page.get_by_role("button", name="Run", exact=True).click()
        page.get_by_text("1 misattributed").first.wait_for(timeout=120_000)
        settled(page)
        scroll_to(page, "Summary")
        page.screenshot(path=str(DOCS / "screenshot-flagged-claim.png"))
        page.close()


def phone(browser, url: str) -> None:
    """The finished run at phone width: the summary, then the charts, then the trace."""
    page = browser.new_page()
    open_main(page, url, 390, 844)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("claims:").first.wait_for(timeout=120_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    settled(page)
    scroll_to(page, "Summary")
    page.screenshot(path=str(DOCS / "screenshot-phone.png"))
    page.close()


def compare(browser, url: str) -> None:
    """The Compare page after both agents ran: the table, then the two summaries side by side."""
    page = browser.new_page()
    page.set_viewport_size({"width": 1400, "height": 1300})
    page.goto(f"{url}/Compare_agents")
    page.get_by_role("button", name="Run both").click()
    page.locator('[data-testid="stTable"]').wait_for(timeout=120_000)
    page.wait_for_timeout(1000)
    scroll_to(page, "Result")
    page.screenshot(path=str(DOCS / "screenshot-compare.png"))
    page.close()


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch:
        history = Path(scratch) / "history.sqlite"  # the screenshots' runs stay out of the user's history
        app = streamlit_app(Path(scratch) / "streamlit.log", env={"KPI_NARRATOR_HISTORY": str(history)})
        with app as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for shot in (main_page, mid_run, flagged_claim, phone, compare):
                    shot(browser, url)
                    print(f"{shot.__name__}: done")
            finally:
                browser.close()


if __name__ == "__main__":
    main()
