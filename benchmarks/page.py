"""Page latency in headless Chromium: seconds from clicking Run to the first step shown, and to the summary; and
sixteen visitors clicking Run together (`visitor_burst`): when each saw its first step or its place in the run
queue, and whether each got the summary of its own file.
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.datasets import scale_file
from tests.streamlit_server import CHROMIUM, CHROMIUM_ARGS, streamlit_app
from tests.visitors import WATCH_JS, visitor_burst

SUMMARY_BADGE = re.compile(
    r"numbers in the summary match the engine|numbers match the engine|\d+ claims?: \d+ verified"
)


# How the burst's server runs: as the README says to serve the app (Streamlit's source watcher walked every module
# on its event loop for each session, holding visitors' clicks up for seconds).
SERVED_ENV = {"STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}


def page_latency(
    rows: list[int | None], data: Path, repeats: int, log=print, browser=None, visitors: int = 0
) -> list[dict[str, Any]]:
    """One row per file: the sample (None) or a generated file of that many rows, uploaded through the page; then
    a row for `visitors` visitors clicking Run together (0: none), on a server of its own started as the README
    says to serve the app (`SERVED_ENV`).

    Each repeat is a fresh browser page (a new Streamlit session); the file's loading is timed separately from
    the run (upload -> file described, then Run -> first step -> verified summary). `browser` is a Playwright
    browser to use (the tests pass theirs); by default Debian's chromium is launched.
    """
    if browser is None and not Path(CHROMIUM).exists():
        return [{"file": "-", "error": f"{CHROMIUM} is not installed (apt-get install chromium)"}]
    if browser is not None:
        return _measure(browser, rows, data, repeats, log, visitors)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            return _measure(launched, rows, data, repeats, log, visitors)
        finally:
            launched.close()


def _measure(
    browser, rows: list[int | None], data: Path, repeats: int, log, visitors: int = 0
) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory() as folder:
        env = {"KPI_NARRATOR_HISTORY": str(Path(folder) / "history.sqlite")}
        with streamlit_app(Path(folder) / "streamlit.log", env=env) as url:
            for size in rows:
                path = None if size is None else scale_file(size, data)
                runs = [_one_run(browser, url, path) for _ in range(repeats)]
                row = _condense("sample (revenue_by_country.tsv)" if path is None else path.name, size, runs)
                log(
                    f"  page {row['file']}: "
                    + (
                        row.get("error")
                        or f"open {row['open_s']:.2f} s, load {row['load_s']:.2f} s, Run -> first step "
                        f"{row['first_step_s']:.2f} s, -> summary {row['summary_s']:.2f} s"
                    )
                )
                results.append(row)
    if visitors:
        with tempfile.TemporaryDirectory() as folder:
            env = {"KPI_NARRATOR_HISTORY": str(Path(folder) / "history.sqlite"), **SERVED_ENV}
            with streamlit_app(Path(folder) / "streamlit.log", env=env) as url:
                files = Path(folder) / "files"
                files.mkdir()
                row = burst_row(visitor_burst(browser, url, visitors, files))
        log(
            f"  page, {visitors} visitors clicking Run together (server run with --server.fileWatcherType none): "
            + (
                row.get("error")
                or f"first step or queue place shown {row['told_max_s']:.2f} s after the click at most "
                f"(median {row['told_median_s']:.2f} s); verified summary after {row['summary_max_s']:.2f} s at "
                f"most (median {row['summary_median_s']:.2f} s); {row['right']}/{visitors} got their own file's "
                f"summary; {row['queued']} waited in the queue"
            )
        )
        results.append(row)
    return results


def _one_run(browser, url: str, path: Path | None) -> dict[str, Any]:
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    try:
        opening = time.monotonic()
        page.goto(url)
        page.get_by_text("wide layout").first.wait_for(timeout=60_000)  # the sample is loaded and described
        opened = time.monotonic() - opening
        started = time.monotonic()
        if path is not None:
            page.get_by_role("radiogroup", name="Data").get_by_text("Upload", exact=True).click()
            page.locator('.st-key-upload input[type="file"]').set_input_files(str(path))
            page.get_by_text(path.name).first.wait_for(timeout=120_000)
            page.get_by_text(f"{_rows_of(path):,} rows").first.wait_for(timeout=300_000)
        loaded = time.monotonic() - started
        # Timed in the page, to the frame that shows it (`WATCH_JS`): Playwright's own polling of a busy page
        # added 0.4-0.8 s to what the browser had already painted.
        page.evaluate(WATCH_JS)
        page.get_by_role("button", name="Run", exact=True).click()
        page.wait_for_function("() => window.kpiSummary != null && window.kpiTold != null", timeout=300_000)
        page.get_by_text(SUMMARY_BADGE).first.wait_for(timeout=60_000)
        clicked, told, summary = page.evaluate("() => [window.kpiClicked, window.kpiTold, window.kpiSummary]")
        errors = page.locator('[data-testid="stException"]').count()
        return {
            "open_s": opened,
            "load_s": loaded,
            "first_step_s": (told - clicked) / 1000,
            "summary_s": (summary - clicked) / 1000,
            "exceptions": errors,
        }
    except Exception as error:  # a time-out or a closed page: reported, the other files still run
        return {"error": f"{type(error).__name__}: {str(error).splitlines()[0]}"}
    finally:
        page.close()


def _rows_of(path: Path) -> int:
    return int(path.stem.rsplit("_", 1)[1])


def _condense(name: str, size: int | None, runs: list[dict[str, Any]]) -> dict[str, Any]:
    errors = [run["error"] for run in runs if "error" in run]
    if errors:
        return {"file": name, "rows": size, "error": errors[0]}
    row: dict[str, Any] = {"file": name, "rows": size, "runs": len(runs)}
    for key in ("open_s", "load_s", "first_step_s", "summary_s"):
        row[key] = round(statistics.median(run[key] for run in runs), 3)
    row["exceptions"] = sum(run["exceptions"] for run in runs)
    return row


# ---- several visitors at once: the browser side is tests/visitors.py (the browser test drives it too) ----------


def burst_row(seen: list[dict[str, Any]]) -> dict[str, Any]:
    """The burst as one row of the page table: the slowest visitor in the timing columns, medians beside."""
    name = f"{len(seen)} visitors together (slowest)"
    told = [visit["told_s"] for visit in seen]
    if any(value is None for value in told):
        return {
            "file": name,
            "error": "a visitor saw neither a first step nor a queue place before its summary",
        }
    summaries = [visit["summary_s"] for visit in seen]
    right = sum(visit["right"] and not visit["foreign"] for visit in seen)
    row: dict[str, Any] = {
        "file": name,
        "visitors": len(seen),
        "open_s": None,
        "load_s": None,
        "first_step_s": round(max(told), 3),
        "summary_s": round(max(summaries), 3),
        "told_max_s": round(max(told), 3),
        "told_median_s": round(statistics.median(told), 3),
        "summary_max_s": round(max(summaries), 3),
        "summary_median_s": round(statistics.median(summaries), 3),
        "queued": sum(visit["queued"] for visit in seen),
        "right": right,
        "exceptions": sum(visit["exceptions"] for visit in seen),
    }
    if right < len(seen):
        row["error"] = f"{len(seen) - right}/{len(seen)} visitors did not get their own file's summary"
    return row
