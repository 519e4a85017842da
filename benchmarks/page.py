"""Page latency in headless Chromium: seconds from clicking Run to the first step shown, and to the summary."""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.datasets import scale_file
from tests.streamlit_server import CHROMIUM, CHROMIUM_ARGS, streamlit_app

SUMMARY_BADGE = re.compile(
    r"numbers in the summary match the engine|numbers match the engine|\d+ claims?: \d+ verified"
)


def page_latency(
    rows: list[int | None], data: Path, repeats: int, log=print, browser=None
) -> list[dict[str, Any]]:
    """One row per file: the sample (None) or a generated file of that many rows, uploaded through the page.

    Each repeat is a fresh browser page (a new Streamlit session); the file's loading is timed separately from
    the run (upload -> file described, then Run -> first step -> verified summary). `browser` is a Playwright
    browser to use (the tests pass theirs); by default Debian's chromium is launched.
    """
    if browser is None and not Path(CHROMIUM).exists():
        return [{"file": "-", "error": f"{CHROMIUM} is not installed (apt-get install chromium)"}]
    with tempfile.TemporaryDirectory() as folder:
        env = {"KPI_NARRATOR_HISTORY": str(Path(folder) / "history.sqlite")}
        with streamlit_app(Path(folder) / "streamlit.log", env=env) as url:
            if browser is not None:
                return _measure(browser, url, rows, data, repeats, log)
            from playwright.sync_api import sync_playwright

            with sync_playwright() as playwright:
                launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    return _measure(launched, url, rows, data, repeats, log)
                finally:
                    launched.close()


def _measure(
    browser, url: str, rows: list[int | None], data: Path, repeats: int, log
) -> list[dict[str, Any]]:
    results = []
    for size in rows:
        path = None if size is None else scale_file(size, data)
        runs = [_one_run(browser, url, path) for _ in range(repeats)]
        row = _condense("sample (revenue_by_country.tsv)" if path is None else path.name, size, runs)
        log(
            f"  page {row['file']}: "
            + (
                row.get("error")
                or f"open {row['open_s']:.2f} s, load {row['load_s']:.2f} s, Run -> first step {row['first_step_s']:.2f} s, "
                f"-> summary {row['summary_s']:.2f} s"
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
            page.get_by_text("Upload", exact=True).click()
            page.locator("input[type=file]").set_input_files(str(path))
            page.get_by_text(path.name).first.wait_for(timeout=120_000)
            page.get_by_text(f"{_rows_of(path):,} rows").first.wait_for(timeout=300_000)
        loaded = time.monotonic() - started
        clicked = time.monotonic()
        page.get_by_role("button", name="Run", exact=True).click()
        page.get_by_text("Step 1 ·").first.wait_for(timeout=300_000)
        first_step = time.monotonic() - clicked
        page.get_by_text(SUMMARY_BADGE).first.wait_for(timeout=300_000)
        summary = time.monotonic() - clicked
        errors = page.locator('[data-testid="stException"]').count()
        return {
            "open_s": opened,
            "load_s": loaded,
            "first_step_s": first_step,
            "summary_s": summary,
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
