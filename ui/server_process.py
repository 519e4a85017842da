"""What the served app's one Python process does for every visitor at once: warm up, in the background, what
the first run would otherwise pay for in a visitor's click, and keep its long-lived objects out of Streamlit's
garbage collection after each script run.

Every visitor's script runs in this process and takes turns holding the GIL, so a cost paid inside one visitor's
click is paid by every visitor whose click arrives at the same time.

Streamlit runs `gc.collect(2)` after every script run, fragment ticks included (`runner.postScriptGC`), to keep
memory down. A full collection walks every object the server tracks: with pandas, plotly and smolagents imported
that is about 170,000 objects and 0.09-0.1 s holding the GIL, on every rerun of every visitor. Sixteen visitors'
pages ticking spent 909 of 1,113 GIL samples of the server there (py-spy, 6 s of a burst): the slowest of them saw
its queue place 3.9 s after its click. `gc.freeze()` moves the objects tracked at that moment to a permanent
generation that collections skip; called once the imports are done, the post-run collection walks only what the
runs themselves made (0.1 s -> under 1 ms) and still collects their garbage.
"""

from __future__ import annotations

import gc
import sys
import threading

_lock = threading.Lock()
_modules_when_frozen = 0
_warming: threading.Thread | None = None


def freeze_long_lived_objects() -> bool:
    """Moves the objects alive now to the collector's permanent generation if modules were imported since the
    last call (imports are what make the long-lived heap grow); garbage is collected first, so it is not kept.

    Returns True if it froze. Cheap when nothing was imported: a length check.
    """
    global _modules_when_frozen
    if len(sys.modules) <= _modules_when_frozen:
        return False
    with _lock:
        if len(sys.modules) <= _modules_when_frozen:
            return False
        _modules_when_frozen = len(sys.modules)
        gc.collect()
        gc.freeze()
    return True


def warm_up_in_background() -> None:
    """Starts, once per process, a thread that pays the first run's one-time costs in the app while visitors read
    the page: the first plotly Figure of a process imports and validates its layout and template classes (about
    270 modules, 0.09 s), which the first run's charts otherwise pay inside a visitor's click."""
    global _warming
    with _lock:
        if _warming is None:
            _warming = threading.Thread(target=_warm_up, name="kpi-warm-up", daemon=True)
            _warming.start()


def _warm_up() -> None:
    # numpy first: an import another thread has under way finishes before this one goes on (the import lock), and
    # plotly's validators read numpy's attributes through sys.modules, where a half-imported numpy has none yet.
    import numpy  # noqa: F401
    import plotly.graph_objects as go
    import plotly.io as pio

    figure = go.Figure(
        {
            "data": [{"type": kind} for kind in ("bar", "waterfall", "heatmap", "scatter")],
            # As the worker's figures arrive: plotly's template (not Streamlit's default) as a dict, validated anew.
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
    )
    figure.to_json()  # as st.plotly_chart sends it
