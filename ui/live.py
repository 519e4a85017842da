"""Drawing a run while it goes: one home for the "poll, fragment, rerun once at the end" block of every page.

A running thing (a run, a replay, the two runs of the Compare page) is drawn in a fragment that Streamlit reruns
every half second, so only that part of the page is redrawn. When it is done, one full rerun of the page draws what
comes after (the summary, the downloads) and stops the ticking; a thing already done is drawn plainly, once.

A thing waiting in the server's run queue (`queue_message`) draws only its place, once a second: sixteen visitors'
pages redrawing empty traces twice a second kept the server too busy to answer their clicks. When its turn comes,
a full rerun starts the live trace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

# The session key holding which finished thing has had its one full rerun (so it gets only one).
DRAWN_KEY = "live_drawn"
# Seconds between redraws of a place in the run queue.
WAITING_EVERY_S = 1.0


def is_done(subject: Any) -> bool:
    """True once a run has nothing more to draw: finished, or waiting for a follow-up question (`idle`)."""
    return bool(getattr(subject, "idle", subject.finished))


def done_marker(subject: Any) -> tuple[int, int]:
    """Which finished state of `subject` was drawn: the object and its number of follow-up turns (a conversation
    is done again after each follow-up)."""
    result = getattr(subject, "result", None)
    return id(subject), len(getattr(result, "turns", None) or [])


def queue_message(subject: Any) -> str | None:
    """What a run waiting in the queue says ("2 runs ahead of you ..."); None once it runs, or without a queue."""
    return getattr(subject, "queue_message", None)


def show_place(subject: Any) -> None:
    """The subject's place in the run queue, if it waits there."""
    from tools.labels import escape_markdown

    message = queue_message(subject)
    if message:
        st.info(escape_markdown(message), icon=":material/hourglass_top:")


def draw_live(
    draw: Callable[[], None],
    subject: Any,
    done: Callable[[], bool] | None = None,
    every_s: float = 0.5,
    while_waiting: Callable[[], None] | None = None,
) -> None:
    """Draws `subject` with `draw` (which polls it), redrawn every `every_s` seconds until it is done, then reruns
    the whole page once. While it waits in the run queue, only `while_waiting` is drawn (default: its place), every
    `WAITING_EVERY_S` seconds, and its turn reruns the whole page.

    Args:
        draw: Polls the subject and draws it; called on every tick.
        subject: The run, replay or comparison being drawn (it names the finished state, `done_marker`).
        done: When the subject is done; default `is_done(subject)`.
        every_s: Seconds between redraws.
        while_waiting: Draws the subject while it waits in the queue (it must poll it: polling keeps its place).
    """
    finished = done or (lambda: is_done(subject))
    if finished():
        draw()
        return
    if queue_message(subject) is not None:

        def waiting_tick() -> None:
            if while_waiting is not None:
                while_waiting()
            else:
                poll = getattr(subject, "poll", None)
                if poll is not None:
                    poll()  # the visitor is still there
                show_place(subject)
            if queue_message(subject) is None:
                st.rerun()  # its turn came (or it ended): the whole page, with the live trace

        st.fragment(run_every=WAITING_EVERY_S)(waiting_tick)()
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
