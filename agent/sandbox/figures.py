"""Catching the plotly figures the agent's code makes: from the executor's variables, and from `fig.show()`."""

from __future__ import annotations

import json
import threading
from typing import Any

_shown = threading.local()
_installed = False


def install_show_capture() -> None:
    """Makes `fig.show()` and `plotly.io.show(fig)` hand the figure to the current run instead of opening a browser.

    It replaces `BaseFigure.show` and `plotly.io.show` for the whole process, so it is called by whoever runs the
    agent's code (the worker, the in-process executor), never at import. Not through plotly's renderer registry:
    importing that imports IPython, 0.23 s of a worker's 0.8 s start. Nor by importing plotly here: each change is
    made when its module is imported (plotly's figure classes take 70 ms, which a worker spends after saying it is
    ready, issue 19). Idempotent.
    """
    global _installed
    if _installed:
        return
    _installed = True
    from agent.light_imports import after_import

    after_import("plotly.io", _capture_plotly_io_show)
    after_import("plotly.basedatatypes", _capture_figure_show)


def _show(figure: Any, *args: Any, **kwargs: Any) -> None:
    """`fig.show()` / `plotly.io.show(fig)`: the figure goes to the current run's list (plotly JSON)."""
    if hasattr(figure, "to_plotly_json"):
        figure = figure.to_plotly_json()
    if not isinstance(figure, dict):
        raise ValueError(f"show() takes a plotly figure, not {type(figure).__name__}")
    figures = getattr(_shown, "figures", None)
    if figures is not None:
        figures.append(figure)


def _capture_plotly_io_show(module: Any) -> None:
    module.show = _show  # plotly.io resolves `show` lazily: a plain attribute wins


def _capture_figure_show(module: Any) -> None:
    module.BaseFigure.show = _show


def _figures_in(value: Any) -> list[Any]:
    from plotly.basedatatypes import BaseFigure

    if isinstance(value, BaseFigure):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, BaseFigure)]
    if isinstance(value, dict):
        return [v for v in value.values() if isinstance(v, BaseFigure)]
    return []


class FigureCollector:
    """Finds figures that are new since the last look, in the order the code made them."""

    def __init__(self) -> None:
        # `fig.show()` reaches the collector only after `install_show_capture()`.
        # Keeping the objects (not only their ids) stops Python from reusing an id for a new figure.
        self._seen: dict[int, Any] = {}
        _shown.figures = []

    def collect(self, state: dict[str, Any]) -> list[dict[str, Any]]:
        """New figures in the executor's variables and in `fig.show()` calls, as plotly JSON dicts."""
        found = []
        for value in list(state.values()):
            for figure in _figures_in(value):
                if id(figure) not in self._seen:
                    self._seen[id(figure)] = figure
                    found.append(figure_to_dict(figure))
        shown = getattr(_shown, "figures", None) or []
        found.extend(json.loads(json.dumps(fig, default=_json_default)) for fig in shown)
        _shown.figures = []
        return found


def figure_to_dict(figure: Any) -> dict[str, Any]:
    """Plotly JSON of a figure (numpy arrays and dates made plain)."""
    return json.loads(figure.to_json())


def _json_default(value: Any) -> Any:
    import plotly.io.json as pio_json

    return json.loads(pio_json.to_json_plotly(value))


def title_of(figure: dict[str, Any]) -> str:
    """The title text of a figure dict, or an empty string."""
    title = (figure.get("layout") or {}).get("title")
    if isinstance(title, dict):
        return str(title.get("text") or "")
    return str(title or "")
