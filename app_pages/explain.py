"""KPI Narrator: upload a before/after file, watch the agent think beside its charts, read the verified summary."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import streamlit as st

from agent.models.build import ModelConfigError, build_model
from agent.output import export
from agent.run.queue import QueueRefused
from agent.run.runner import RunRequest
from agent.run.session import BackgroundRun, ScenarioComparison, prepare_next_run, run_cost
from agent.sandbox import worker_pool
from agent.settings import AGENT_KINDS
from tools.labels import escape_markdown
from ui.change_log_parts import choose_events, planning_setting
from ui.live import draw_live, show_place
from ui.parts import (
    SAMPLES,
    choose_dataset,
    compare_all_scenarios,
    draw_charts,
    draw_steps,
    model_settings,
    queue_place,
    save_once,
    scenario_loader,
    trace_and_charts,
    what_to_explain,
)
from ui.view_model import (
    claim_notes,
    result_header,
    scenario_table,
    summary_cards,
    summary_markdown,
    verification_badge,
)

# Seconds the click's rerun waits for a run that has started its first step to end (see the Run button).
SETTLE_S = 0.4

st.set_page_config(page_title="Explain a change · KPI Narrator", page_icon="📈", layout="wide")

choice, max_steps = model_settings()
with st.sidebar:
    agent_kind = st.radio(
        "Agent",
        list(AGENT_KINDS),
        horizontal=True,
        key="agent_kind",
        format_func=lambda name: AGENT_KINDS[name].label,
        help="; ".join(f"{k.label}: {k.description}" for k in AGENT_KINDS.values()) + ".",
    )
    st.caption(
        "Code agent: writes Python with the KPI tools. Tool-calling agent: one JSON tool call per step."
    )
    planning_interval = planning_setting()
    (st.caption if worker_pool.sandboxed() else st.warning)(worker_pool.sandbox_status())

st.title("KPI Narrator")
st.caption(
    "Explain why a metric moved. The agent writes and runs code; every number it reports is checked "
    "against a deterministic engine."
)

dataset = choose_dataset(compare_scenarios=True)
explained = what_to_explain(dataset)
metric, ratio, dimensions, question = (
    explained.metric,
    explained.ratio,
    explained.dimensions,
    explained.question,
)
compare = compare_all_scenarios(dataset)
events = choose_events(dataset, SAMPLES)


def request_for(loaded) -> RunRequest:
    return RunRequest(
        loaded,
        question=question,
        metric=metric if not ratio else None,
        ratio=ratio,
        by=dimensions or None,
        max_steps=max_steps,
        agent=agent_kind,
        events=events,
        planning_interval=planning_interval,
    )


run: BackgroundRun | ScenarioComparison | None = st.session_state.get("run")
start, stop = st.columns([1, 5])
no_dimensions = not explained.ready
# A conversation waiting for a follow-up is not busy: a new Run ends it.
busy = run is not None and not getattr(run, "idle", run.finished)
if start.button("Run", type="primary", disabled=busy or no_dimensions, key="run_button"):
    try:
        model = build_model(choice, agent_kind)
    except ModelConfigError as error:
        st.error(escape_markdown(error))
        st.stop()
    if isinstance(run, BackgroundRun):
        run.close()  # the earlier conversation takes no more follow-ups: its worker is let go
    # Every run waits in the server's run queue for its turn (`agent.run.queue`); the comparison of every
    # scenario takes one ticket for all of them, and each follow-up question takes its own.
    place = queue_place()
    if compare:
        loader = scenario_loader(dataset)
        run = ScenarioComparison(
            dataset.scenarios, loader, request_for, model, cost=run_cost(dataset), **place.kwargs()
        )
    else:  # follow-ups keep its memory
        run = BackgroundRun(request_for(dataset), model, conversation=True, **place.kwargs())
    run.data_hash = st.session_state.get(
        "data_hash"
    )  # the result is shown only beside the file it was made from
    try:
        st.session_state["run"] = run.start()
    except QueueRefused as error:
        st.error(escape_markdown(error))
        st.stop()
    # The analysis of a big file takes a moment; then step 1 shows in this rerun, at once. A run that ends soon after
    # (the built-in analyst on a small file: 0.2 s) is drawn with its summary in this rerun too, rather than at the
    # live trace's next tick and one more rerun; meanwhile its first step is on the page (on a busy server the run
    # takes longer than the wait, and the step showed only after it: 0.4 s later).
    if run.wait_for_first_step(0.5) and isinstance(run, BackgroundRun):
        first_step = st.empty()
        run.poll()
        with first_step.container():
            draw_steps(run, spinner=False)  # st.status would pause this rerun 0.1 s
        run.wait_idle(SETTLE_S)
        first_step.empty()  # the trace or the summary below takes its place
busy = run is not None and not getattr(run, "idle", run.finished)  # again: Run may have just started one
if busy and stop.button("Stop", key="stop_button"):
    run.stop()
if not busy:
    prepare_next_run(agent_kind)  # while the user reads the page


def show_trace(run: BackgroundRun, key: str = "main") -> None:
    run.poll()
    trace, charts = trace_and_charts(key)
    with trace:
        st.subheader("Trace")
        draw_steps(run)
    with charts:
        st.subheader("Charts")
        draw_charts(run, key)


def show_turns(run: BackgroundRun, live: bool = False) -> None:
    """Follow-up turns: the question, its answer checked against the engine, and its steps."""
    for index, turn in enumerate(run.result.turns, start=2):
        running = live and index == len(run.result.turns) + 1
        st.chat_message("user").text(turn.question)  # plain text: the question is the user's
        with st.chat_message("assistant"):
            if turn.narrative:
                claims = (turn.verification or {}).get("claims") or []
                st.markdown(summary_markdown(turn.narrative, turn.analysis, turn.dataset, claims))
                ok, sentence = verification_badge(turn.verification)
                (st.success if ok else st.error)(sentence)
            elif turn.error:
                st.error(escape_markdown(turn.error))
            with st.expander(f"Trace of follow-up {index - 1}", expanded=running):
                draw_steps(SimpleNamespace(result=turn, finished=not running))


def show_follow_up_live(run: BackgroundRun) -> None:
    run.poll()
    show_turns(run, live=True)
    show_place(run)  # the follow-up waits for its turn like any run


def show_comparison_live(comparison: ScenarioComparison) -> None:
    comparison.poll()
    show_scenario_rows(comparison)
    current = comparison.current
    if current:
        scenario, run = current
        st.caption(f"Running scenario {len(comparison.runs)} of {len(comparison.scenarios)}: {scenario}")
        show_trace(run, f"scenario-{scenario}")


def show_scenario_rows(comparison: ScenarioComparison) -> None:
    rows = comparison.rows()
    if rows:
        st.subheader("Scenarios compared")
        st.dataframe(pd.DataFrame(scenario_table(rows)), hide_index=True)


RUN_ENDINGS = {
    "max_steps": "The run stopped at its step limit before a summary it could finish; the steps so far are below.",
    "stopped": "Stopped by the user: the steps made so far are kept below.",
    "error": "The run failed",
}


def show_summary(run: BackgroundRun, key: str = "main") -> None:
    result = run.result
    st.text(result_header(result))  # plain text: the file name comes from the user
    if result.status in RUN_ENDINGS:  # at the top, in the badge's place: never a green badge for such a run
        ending = RUN_ENDINGS[result.status]
        if result.status == "error":
            ending += f": {result.error or 'see the trace'}"
        (st.warning if result.status == "stopped" else st.error)(escape_markdown(ending))
    if result.analysis:
        cards = summary_cards(result.analysis)
        # Three cards a row: six in one row (a ratio) cut their values off. The exact figure is on hover.
        for row in range(0, len(cards), 3):
            for column, card in zip(st.columns(3), cards[row : row + 3]):
                column.metric(card.label, card.value, card.delta, help=card.help)
    if result.narrative:
        st.subheader("Summary")
        claims = (result.verification or {}).get("claims") or []
        # Markdown only: HTML in cell values is shown as text. Each number is footnoted; a flagged one is marked ⚠.
        st.markdown(summary_markdown(result.narrative, result.analysis, result.dataset, claims))
        ok, sentence = verification_badge(result.verification)
        (st.success if ok else st.error)(sentence)
        if claims:
            with st.expander("Each number, checked against the engine", expanded=not ok):
                st.text("\n".join(claim_notes(claims)))  # plain text: the reasons quote segment labels
    if result.narrative or result.steps:  # a stopped or failed run keeps its downloads
        # Files are built when their button is clicked (on another thread), not on every rerun: the HTML report of a
        # 1M-row run is 7 MB and took 0.4 s to build.
        stem = Path(result.dataset.get("source") or "run").stem
        if result.dataset.get("scenario"):
            stem += f"-{result.dataset['scenario']}"
        downloads = st.columns(4)
        files = [  # (label, builder, file name ending, MIME type, key suffix)
            ("Report (HTML)", export.report_html, "report.html", "text/html", "html"),
            ("Report (Markdown)", export.report_markdown, "report.md", "text/markdown", "md"),
            ("Trace (JSON)", export.trace_json, "trace.json", "application/json", "json"),
        ]
        for column, (label, build, ending, mime, suffix) in zip(downloads, files):
            column.download_button(
                label,
                partial(build, result),
                f"{stem}-{ending}",
                mime,
                on_click="ignore",
                key=f"{key}-{suffix}",
            )
        tables = export.tables_of(result)
        table = downloads[3].selectbox(
            "Table", list(tables), label_visibility="collapsed", key=f"{key}-csv_table"
        )
        if table:
            # Every row, computed again by the engine: the analysis keeps each table's largest changes only.
            downloads[3].download_button(
                "Table (CSV)",
                partial(export.full_table_csv, run.request.dataset, result.analysis, table),
                f"{stem}-{table}.csv",
                "text/csv",
                on_click="ignore",
                key=f"{key}-csv",
            )
    if result.analysis:
        with st.expander("Engine tables"):
            for name, table in export.display_tables_of(result).items():  # readable headers and figures
                st.text(name.replace("_", " "))
                st.dataframe(table, hide_index=True)
                note = export.omitted_note(result, name)
                if note:
                    st.caption(escape_markdown(note))


if isinstance(run, ScenarioComparison):
    run.poll()
    if run.finished:
        show_scenario_rows(run)
        tabs = st.tabs(list(run.runs)) if run.runs else []
        for tab, (scenario, scenario_run) in zip(tabs, run.runs.items()):
            with tab:
                save_once(scenario_run)
                show_summary(scenario_run, key=f"scenario-{scenario}")
                show_trace(scenario_run, key=f"scenario-{scenario}")
    else:
        draw_live(partial(show_comparison_live, run), run)
elif (
    run is not None
    and getattr(run, "data_hash", None) not in (None, st.session_state.get("data_hash"))
    and not busy
):
    # The last result was made from another file: never shown under this file's header.
    st.info(
        f"The last result was for {escape_markdown(run.result.dataset.get('source') or 'another file')}; "
        "press Run to explain this file."
    )
elif run is not None:
    run.poll()
    if not run.idle and not run.result.turns:
        draw_live(partial(show_trace, run), run)
    else:
        save_once(run)
        show_summary(run)
        show_trace(run)
        if run.idle:
            show_turns(run)
            if run.can_follow_up:
                follow_up = st.chat_input(
                    "Ask a follow-up question (the agent keeps what it computed)", key="follow_up"
                )
                if follow_up:
                    try:
                        asked = run.ask(follow_up)  # it takes a ticket of the run queue
                    except QueueRefused as error:
                        st.error(escape_markdown(error))
                    else:
                        if not asked:
                            st.info(
                                "This conversation has ended (it waits 5 minutes for a follow-up). Press Run "
                                "to start a new one."
                            )
                        else:
                            st.rerun()
        else:  # a follow-up is running: earlier turns stay, the new one streams
            follow_up_live = partial(show_follow_up_live, run)
            draw_live(follow_up_live, run, while_waiting=follow_up_live)
