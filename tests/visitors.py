"""Browser visitors of the served app, for the queue's browser test and the page benchmark (benchmarks.page):
each visitor uploads a file of its own and clicks Run; the page itself notes when it showed what (`WATCH_JS`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers import ROOT

SAMPLE = ROOT / "sample_data" / "revenue_by_country.tsv"

# Runs in the page: notes (performance.now(), ms) the first click the page receives (`window.kpiClicked`), then
# when the page first paints a step or a queue place, and a verified summary. A change is seen in the DOM
# (MutationObserver), then timed after the next frame is painted (requestAnimationFrame, then a task): what the
# visitor sees, including the time the browser spends drawing charts before it paints.
WATCH_JS = """
() => {
  window.kpiClicked = null; window.kpiTold = null; window.kpiSummary = null; window.kpiQueued = false;
  let toldSeen = false, summarySeen = false;
  // The click as the page receives it (Playwright's own checks before it clicks are not the visitor's wait).
  document.addEventListener("click", () => { if (window.kpiClicked == null) window.kpiClicked = performance.now(); },
                            {capture: true});
  const badge = /\\d+ claims?: \\d+ verified|numbers (in the summary )?match the engine/;
  const afterPaint = (store) => requestAnimationFrame(() => setTimeout(() => store(performance.now()), 0));
  const look = () => {
    if (window.kpiClicked == null) return;
    const text = document.body.innerText;
    // The first sign of the run: its first step, its place in the queue, or (a quick run) its whole result.
    if (!toldSeen && (text.includes("Step 1 \u00b7") || text.includes("ahead of you") || badge.test(text))) {
      toldSeen = true;
      window.kpiQueued = text.includes("ahead of you");
      afterPaint((now) => { window.kpiTold = now; });
    }
    if (!summarySeen && badge.test(text)) {
      summarySeen = true;
      afterPaint((now) => { window.kpiSummary = now; });
    }
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""


def visitor_file(index: int, folder: Path) -> tuple[Path, str]:
    """A small file of its own for visitor `index` (the sample, France's after value moved by `index` thousand),
    and the total change its summary must state, computed here from the file: "(-131,919.66" (the summary writes
    it in brackets, with its footnote mark after; the card above shows it without the bracket)."""
    import pandas as pd

    frame = pd.read_csv(SAMPLE, sep="\t")
    frame.loc[frame["country"] == "France", "revenue_after"] += 1000 * index
    path = folder / f"visitor_{index:02d}.tsv"
    frame.to_csv(path, sep="\t", index=False)
    change = frame["revenue_after"].sum() - frame["revenue_before"].sum()
    return path, f"({change:+,.2f}"


def visitor_burst(
    browser, url: str, visitors: int, folder: Path, timeout_s: float = 300
) -> list[dict[str, Any]]:
    """`visitors` browser contexts, each uploading a file of its own, click Run one right after the other.

    Returns one dict per visitor: seconds from its click to its first step or queue place (`told_s`) and to its
    verified summary (`summary_s`), whether it waited in the queue, whether its page states its own file's total
    change (`right`) and none of the others' (`foreign`), and the exceptions shown.
    """
    pages, expected = [], []
    try:
        for index in range(visitors):
            path, change = visitor_file(index, folder)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(url)
            page.get_by_text("wide layout").first.wait_for(timeout=120_000)
            page.get_by_role("radiogroup", name="Data").get_by_text("Upload", exact=True).click()
            page.locator('.st-key-upload input[type="file"]').set_input_files(str(path))
            page.get_by_text(f"{path.name} · wide layout · 6 rows").wait_for(timeout=120_000)
            page.evaluate(WATCH_JS)
            pages.append(page)
            expected.append(change)
        for page in pages:  # together: each click right after the one before
            page.get_by_role("button", name="Run", exact=True).click()
        seen = []
        for page, change in zip(pages, expected):
            page.wait_for_function("() => window.kpiSummary != null", timeout=timeout_s * 1000)
            page.get_by_text(change).first.wait_for(timeout=30_000)  # the summary is drawn with its badge
            marks = page.evaluate(
                "() => [window.kpiClicked, window.kpiTold, window.kpiSummary, window.kpiQueued]"
            )
            clicked, told, summary, queued = marks
            seen.append(
                {
                    "told_s": None if told is None else (told - clicked) / 1000,
                    "summary_s": (summary - clicked) / 1000,
                    "queued": bool(queued),
                    "right": page.get_by_text(change).count() >= 1,
                    "foreign": sum(page.get_by_text(other).count() for other in expected if other != change),
                    "exceptions": page.locator('[data-testid="stException"]').count(),
                }
            )
        return seen
    finally:
        for page in pages:
            page.context.close()
