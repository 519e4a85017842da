"""KPI Narrator: upload a before/after file, watch the agent think beside its charts, read the verified summary."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pandas as pd
import streamlit as st

from agent import export, worker_pool
from agent.models import ModelConfigError, build_model
from agent.runner import RunRequest
from agent.session import BackgroundRun, prepare_next_run
from agent.view_model import summary_cards, verification_badge
from ui.parts import choose_dataset, draw_charts, draw_steps, model_settings, ratio_picker, save_once

st.set_page_config(page_title="KPI Narrator", page_icon="📈", layout="wide")

choice, max_steps = model_settings()
with st.sidebar:
    agent_kind = st.radio("Agent", ["code", "tool-calling"], horizontal=True, key="agent_kind")
    (st.caption if worker_pool.sandboxed() else st.warning)(worker_pool.sandbox_status())

st.title("KPI Narrator")
st.caption("Explain why a metric moved. The agent writes and runs code; every number it reports is checked "
           "against a deterministic engine.")  # fmt: skip

dataset = choose_dataset()
left, right = st.columns(2)
metric = left.selectbox("Metric", dataset.metrics)
dimensions = right.multiselect("Dimensions", dataset.dimensions, default=dataset.dimensions)
ratio = ratio_picker(dataset)
question = st.text_input("Question", value=f"Explain how {metric} changed and which segments drove it.")

run: BackgroundRun | None = st.session_state.get("run")
start, stop = st.columns([1, 5])
if start.button("Run", type="primary", disabled=run is not None and not run.finished, key="run_button"):
    try:
        model = build_model(choice, agent_kind)
    except ModelConfigError as error:
        st.error(str(error))
        st.stop()
    request = RunRequest(dataset, question=question, metric=metric if not ratio else None, ratio=ratio,
                         by=dimensions or None, max_steps=max_steps, agent=agent_kind)  # fmt: skip
    run = st.session_state["run"] = BackgroundRun(request, model).start()
    run.wait_for_first_step(0.5)  # the analysis of a big file takes a moment; then step 1 shows in this rerun
if run is not None and not run.finished and stop.button("Stop", key="stop_button"):
    run.stop()
if run is None or run.finished:
    prepare_next_run(agent_kind)  # while the user reads the page


def show_trace(run: BackgroundRun) -> None:
    run.poll()
    trace, charts = st.columns([3, 2])
    with trace:
        st.subheader("Trace")
        draw_steps(run)
    with charts:
        st.subheader("Charts")
        draw_charts(run, "main")
    if run.finished and st.session_state.get("drawn_final") is not run:
        st.session_state["drawn_final"] = run
        st.rerun()  # one full rerun draws the summary and stops the ticking


def show_summary(run: BackgroundRun) -> None:
    result = run.result
    if result.analysis:
        cards = summary_cards(result.analysis)
        for column, card in zip(st.columns(len(cards)), cards):
            column.metric(card.label, card.value, card.delta)
    if result.narrative:
        st.subheader("Summary")
        st.markdown(result.narrative)  # Markdown only: HTML in cell values is shown as text
        ok, sentence = verification_badge(result.verification)
        (st.success if ok else st.error)(sentence)
    if result.narrative:
        # Files are built when their button is clicked (on another thread), not on every rerun: the HTML report of a
        # 1M-row run is 7 MB and took 0.4 s to build.
        stem = Path(result.dataset.get("source") or "run").stem
        downloads = st.columns(4)
        downloads[0].download_button("Report (HTML)", partial(export.report_html, result), f"{stem}-report.html",
                                     "text/html", on_click="ignore")  # fmt: skip
        downloads[1].download_button("Report (Markdown)", partial(export.report_markdown, result),
                                     f"{stem}-report.md", "text/markdown", on_click="ignore")  # fmt: skip
        downloads[2].download_button("Trace (JSON)", partial(export.trace_json, result), f"{stem}-trace.json",
                                     "application/json", on_click="ignore")  # fmt: skip
        tables = export.tables_of(result)
        table = downloads[3].selectbox("Table", list(tables), label_visibility="collapsed", key="csv_table")
        if table:
            downloads[3].download_button("Table (CSV)", partial(export.table_csv, tables[table]),
                                         f"{stem}-{table}.csv", "text/csv", on_click="ignore")  # fmt: skip
    if result.analysis:
        with st.expander("Engine tables"):
            for name, rows in export.tables_of(result).items():
                st.write(name.replace("_", " "))
                st.dataframe(pd.DataFrame(rows), hide_index=True)


if run is not None:
    run.poll()
    if run.finished:
        save_once(run)
        show_summary(run)
        show_trace(run)
    else:
        st.fragment(run_every=0.5)(show_trace)(run)
