"""Compare agents: the same file and question through the code agent and the tool-calling agent, side by side."""

from __future__ import annotations

from functools import partial

import streamlit as st

from agent.models.build import ModelConfigError, build_model
from agent.output.comparison import comparison_rows
from agent.run.queue import QueueRefused
from agent.run.runner import RunRequest
from agent.run.session import BackgroundRun, RunGroup, prepare_next_run
from agent.settings import AGENT_KINDS
from tools.labels import escape_markdown
from ui.change_log_parts import choose_events
from ui.live import draw_live
from ui.parts import (
    SAMPLES,
    choose_dataset,
    comparison_table,
    draw_charts,
    draw_steps,
    model_settings,
    queue_place,
    save_once,
    what_to_explain,
)
from ui.view_model import summary_markdown, verification_badge

st.set_page_config(page_title="Compare agents · KPI Narrator", page_icon="⚖️", layout="wide")
choice, max_steps = model_settings()

st.title("Code agent vs tool-calling agent")
st.caption(
    "The same file, question, tools and change log; one agent writes Python, the other makes JSON tool calls. "
    "Both answers are checked against the engine."
)

dataset = choose_dataset()
explained = what_to_explain(dataset, key="compare_")
metric, ratio, dimensions, question = (
    explained.metric,
    explained.ratio,
    explained.dimensions,
    explained.question,
)
no_dimensions = not explained.ready
# The same change log for both agents: each asks its change-log agent and may cite only its events.
events = choose_events(dataset, SAMPLES, key="compare_events_upload")

runs: dict[str, BackgroundRun] = st.session_state.get("compare_runs", {})
busy = any(not run.finished for run in runs.values())
if not busy:
    prepare_next_run("code")  # while the user reads the page
if st.button("Run both", type="primary", disabled=busy or no_dimensions, key="compare_button"):
    try:
        runs = {
            kind: BackgroundRun(
                RunRequest(
                    dataset,
                    question=question,
                    metric=None if ratio else metric,
                    ratio=ratio,
                    by=dimensions or None,
                    max_steps=max_steps,
                    agent=kind,
                    events=events,
                ),
                build_model(choice, kind),
            )
            for kind in AGENT_KINDS
        }
    except ModelConfigError as error:
        st.error(escape_markdown(error))
        st.stop()
    # One click, one ticket of the server's run queue for both agents (one place in the line, this visitor's
    # one run): two slots when the server has them (side by side), else one after the other (`RunGroup`).
    group = RunGroup(runs, **queue_place().kwargs())
    try:
        group.start()
    except QueueRefused as error:
        st.error(escape_markdown(error))
        st.stop()
    st.session_state["compare_runs"] = runs
    st.session_state["compare_group"] = group


def show_summaries(runs: dict[str, BackgroundRun]) -> None:
    """The two answers side by side, each with its badge, above the traces."""
    for column, (kind, run) in zip(st.columns(len(runs)), runs.items()):
        with column:
            st.subheader(f"{kind} agent: summary")
            claims = (run.result.verification or {}).get("claims") or []
            st.markdown(
                summary_markdown(run.result.narrative, run.result.analysis, run.result.dataset, claims)
            )
            ok, sentence = verification_badge(run.result.verification)
            (st.success if ok else st.error)(sentence)


def show_both(runs: dict[str, BackgroundRun]) -> None:
    for column, (kind, run) in zip(st.columns(len(runs)), runs.items()):
        run.poll()
        with column:
            st.subheader(f"{kind} agent")
            draw_steps(run)
            draw_charts(run, kind)


def all_finished(runs: dict[str, BackgroundRun]) -> bool:
    return all(run.finished for run in runs.values())


if runs:
    if all_finished(runs):
        for run in runs.values():
            run.poll()
            save_once(run)
        st.subheader("Result")
        # A static table, one column per agent: it fits a 1280 px page and a phone without scrolling sideways.
        st.table(comparison_table(comparison_rows({k: r.result for k, r in runs.items()})))
        show_summaries(runs)
        show_both(runs)
    else:
        # The group: while it waits in the run queue only its place is drawn.
        group = st.session_state.get("compare_group", runs)
        draw_live(partial(show_both, runs), group, done=partial(all_finished, runs))
