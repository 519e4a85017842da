"""Drawing a run while it goes: one home for the "poll, fragment, rerun once at the end" block of every page.

A running thing (a run, a replay, the two runs of the Compare page) is drawn in a fragment that Streamlit reruns
every half second, so only that part of the page is redrawn. When it is done, one full rerun of the page draws what
comes after (the summary, the downloads) and stops the ticking; a thing already done is drawn plainly, once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

# The session key holding which finished thing has had its one full rerun (so it gets only one).
DRAWN_KEY = "live_drawn"


def is_done(subject: Any) -> bool:
    """True once a run has nothing more to draw: finished, or waiting for a follow-up question (`idle`)."""
    return bool(getattr(subject, "idle", subject.finished))


def done_marker(subject: Any) -> tuple[int, int]:
    """Which finished state of `subject` was drawn: the object and its number of follow-up turns (a conversation
    is done again after each follow-up)."""
    result = getattr(subject, "result", None)
    return id(subject), len(getattr(result, "turns", None) or [])


def draw_live(
    draw: Callable[[], None],
    subject: Any,
    done: Callable[[], bool] | None = None,
    every_s: float = 0.5,
) -> None:
    """Draws `subject` with `draw` (which polls it), redrawn every `every_s` seconds until it is done, then reruns
    the whole page once.

    Args:
        draw: Polls the subject and draws it; called on every tick.
        subject: The run, replay or comparison being drawn (it names the finished state, `done_marker`).
        done: When the subject is done; default `is_done(subject)`.
        every_s: Seconds between redraws.
    """
    finished = done or (lambda: is_done(subject))
    if finished():
        draw()
        return

    def tick() -> None:
        draw()
        settle = getattr(subject, "wait_idle", None)
        if settle is not None and not finished():
            # A run that ends within this tick is drawn whole at once, not at the next tick: the wait wakes on
            # each event; what it polled is drawn by the next tick if the run goes on.
            settle(every_s / 2)
        marker = done_marker(subject)
        if finished() and st.session_state.get(DRAWN_KEY) != marker:
            st.session_state[DRAWN_KEY] = marker
            st.rerun()  # the whole page: it draws the summary and ends this fragment's ticking

    st.fragment(run_every=every_s)(tick)()
