"""What the served app's one Python process does for every visitor at once: warm up, in the background, what
the first run would otherwise pay for in a visitor's click, and collect garbage now and then instead of after every
script run.

Every visitor's script runs in this process and takes turns holding the GIL, so a cost paid inside one visitor's
click is paid by every visitor whose click arrives at the same time.

Streamlit runs `gc.collect(2)` after every script run, fragment ticks included (`runner.postScriptGC`), to keep
memory down. A full collection walks every object the server tracks: with pandas, plotly and smolagents imported
that is about 170,000 objects and 0.09-0.1 s holding the GIL, on every rerun of every visitor. Sixteen visitors'
pages ticking spent 909 of 1,113 GIL samples of the server there (py-spy, 6 s of a burst): the slowest of them saw
its queue place 3.9 s after its click. `.streamlit/config.toml` turns that off and `collect_garbage()` runs the same
collection at most once every `COLLECT_EVERY_S` seconds, so what a closed session leaves in reference cycles (a run
and its ticket point at each other) is still freed, within half a minute. (`gc.freeze()` after the imports made the
collections cheap too, but it also froze the sessions alive at that moment: in cycles, their data stayed for good.)
"""

from __future__ import annotations

import gc
import threading
import time

# Seconds between two full collections of the server's objects (0.1 s each, holding the GIL).
COLLECT_EVERY_S = 30.0

_lock = threading.Lock()
_last_collection = time.monotonic()
_warming: threading.Thread | None = None


def collect_garbage(now: float | None = None) -> bool:
    """A full garbage collection if the last one was `COLLECT_EVERY_S` seconds ago or more (call it after each
    script run); returns True if it collected. Cheap otherwise: a clock read. A collection already under way in
    another script thread is not waited for."""
    global _last_collection
    now = time.monotonic() if now is None else now
    if now - _last_collection < COLLECT_EVERY_S or not _lock.acquire(blocking=False):
        return False
    try:
        if now - _last_collection < COLLECT_EVERY_S:
            return False
        _last_collection = now
        gc.collect()
        return True
    finally:
        _lock.release()


def warm_up_in_background() -> None:
    """Starts, once per process, a thread that pays the first run's one-time costs in the app while visitors read
    the page: the first plotly Figure of a process imports and validates its layout and template classes (about
    150 modules), which the first run's charts otherwise pay inside a visitor's click; the tokenizer loads."""
    global _warming
    with _lock:
        if _warming is None:
            _warming = threading.Thread(target=_warm_up, name="kpi-warm-up", daemon=True)
            _warming.start()


def _warm_up() -> None:
    # numpy first: an import another thread has under way finishes before this one goes on (the import lock), and
    # plotly's validators read numpy's attributes through sys.modules, where a half-imported numpy has none yet.
    import numpy  # noqa: F401
    import plotly.io as pio

    from ui.parts import page_figure

    # A chart as a worker sends it, with plotly's template: the worker's charts are not made with Streamlit's (this
    # process's default once streamlit is imported), so the worker's own warm-up pieces would warm the wrong one.
    chart = {
        "data": [{"type": kind} for kind in ("bar", "waterfall", "heatmap", "scatter")],
        "layout": {
            "template": pio.templates["plotly"].to_plotly_json(),
            "title": {"text": "warm-up", "pad": {"t": 1}},
            "annotations": [{"text": "warm-up"}],
            "shapes": [{"type": "line"}],
            "legend": {"orientation": "h"},
            "margin": {"t": 1},
            "uniformtext": {"minsize": 8},
        },
    }
    page_figure(chart).to_json()  # as the page builds it and st.plotly_chart sends it

    # The built-in analysts count tokens: the tokenizer's first load (70 ms holding the interpreter's lock) would
    # otherwise fall in the first run, while other visitors' clicks wait for that lock.
    from agent.models.tokens import preload

    preload()
