"""KPI Narrator: upload a before/after file, watch the agent think beside its charts, read the verified summary."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from agent import export
from agent.models import ModelChoice, ModelConfigError, build_model
from agent.runner import RunRequest
from agent.session import BackgroundRun
from agent.view_model import step_caption, step_state, summary_cards, verification_badge
from tools.loading import DataError, Dataset, load_dataset

SAMPLES = Path(__file__).parent / "sample_data"
SAMPLE_FILES = ["revenue_by_country.tsv", "sales_by_segment.csv", "conversion_by_channel.csv"]

st.set_page_config(page_title="KPI Narrator", page_icon="📈", layout="wide")


@st.cache_data(show_spinner=False, max_entries=16)
def cached_dataset(data: bytes, name: str) -> Dataset:
    return load_dataset(data, name=name)


with st.sidebar:
    st.header("Settings")
    model_id = st.text_input("Model", value="builtin", help="builtin = the rule-based analyst (no LLM, no key); "
                             "or a LiteLLM id such as openai/gpt-4o-mini")  # fmt: skip
    api_base = st.text_input("API base (optional)", value="", help="an OpenAI-compatible server")
    api_key = st.text_input(
        "API key (optional)", value="", type="password", help="kept only for this session"
    )
    agent_kind = st.radio("Agent", ["code", "tool-calling"], horizontal=True)
    max_steps = st.slider("Max steps", 1, 12, 6)

st.title("KPI Narrator")
st.caption("Explain why a metric moved. The agent writes and runs code; every number it reports is checked "
           "against a deterministic engine.")  # fmt: skip

source = st.radio("Data", ["Sample", "Upload"], horizontal=True, label_visibility="collapsed", key="source")
if source == "Sample":
    sample = st.selectbox("Sample file", SAMPLE_FILES, key="sample")
    name, data = sample, (SAMPLES / sample).read_bytes()
else:
    upload = st.file_uploader(
        "Before/after file", type=["csv", "tsv", "txt", "xlsx", "parquet"], key="upload"
    )
    if upload is None:
        st.info("Upload a CSV, TSV, Excel or Parquet file with one row per segment.")
        st.stop()
    name, data = upload.name, upload.getvalue()

try:
    dataset = cached_dataset(data, name)
except DataError as error:
    st.error(str(error))
    st.stop()

st.write(f"**{dataset.source}** · {dataset.layout} layout · {len(dataset.frame):,} segments · "
         f"dimensions: {', '.join(dataset.dimensions) or '(none)'} · metrics: {', '.join(dataset.metrics)}")  # fmt: skip
for warning in dataset.warnings:
    st.warning(warning)

left, right = st.columns(2)
metric = left.selectbox("Metric", dataset.metrics)
dimensions = right.multiselect("Dimensions", dataset.dimensions, default=dataset.dimensions)
ratio = None
use_ratio = st.checkbox("Ratio metric (e.g. orders / users)", value="users" in dataset.metrics, key=f"use_ratio-{name}",
                        disabled=len(dataset.metrics) < 2)  # fmt: skip
if use_ratio and len(dataset.metrics) >= 2:
    numerator_col, denominator_col = st.columns(2)
    numerator = numerator_col.selectbox("Numerator", dataset.metrics, index=0)
    others = [m for m in dataset.metrics if m != numerator]
    denominator = denominator_col.selectbox("Denominator", others, index=len(others) - 1)
    ratio = f"{numerator}/{denominator}"
question = st.text_input("Question", value=f"Explain how {metric} changed and which segments drove it.")

run: BackgroundRun | None = st.session_state.get("run")
start, stop = st.columns([1, 5])
if start.button("Run", type="primary", disabled=run is not None and not run.finished, key="run_button"):
    try:
        model = build_model(
            ModelChoice(model_id, api_base=api_base or None, api_key=api_key or None), agent_kind
        )
    except ModelConfigError as error:
        st.error(str(error))
        st.stop()
    request = RunRequest(dataset, question=question, metric=metric if not ratio else None, ratio=ratio,
                         by=dimensions or None, max_steps=max_steps, agent=agent_kind)  # fmt: skip
    run = st.session_state["run"] = BackgroundRun(request, model).start()
if run is not None and not run.finished and stop.button("Stop"):
    run.stop()


def show_trace(run: BackgroundRun) -> None:
    run.poll()
    result = run.result
    trace, charts = st.columns([3, 2])
    with trace:
        st.subheader("Trace")
        for step in result.steps:
            label = f"Step {step['number']} · {step_caption(step)}"
            with st.status(label, state=step_state(step, run.finished), expanded=True):
                if step["thought"]:
                    st.text(step["thought"])
                if step["code"]:
                    st.code(step["code"], language="python")
                if step["observation"]:
                    st.code(step["observation"], language="text")
                if step["error"]:
                    st.error(step["error"])
    with charts:
        st.subheader("Charts")
        for index, figure in enumerate(result.charts):
            st.plotly_chart(go.Figure(figure), key=f"chart-{index}", width="stretch")
    if result.error and not any(s["error"] == result.error for s in result.steps):
        st.error(result.error)
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
        stem = Path(result.dataset.get("source") or "run").stem
        downloads = st.columns(4)
        downloads[0].download_button(
            "Report (HTML)", export.report_html(result), f"{stem}-report.html", "text/html"
        )
        downloads[1].download_button("Report (Markdown)", export.report_markdown(result), f"{stem}-report.md",
                                     "text/markdown")  # fmt: skip
        downloads[2].download_button("Trace (JSON)", export.trace_json(result), f"{stem}-trace.json",
                                     "application/json")  # fmt: skip
        tables = export.tables_of(result)
        table = downloads[3].selectbox("Table", list(tables), label_visibility="collapsed", key="csv_table")
        if table:
            downloads[3].download_button("Table (CSV)", export.table_csv(tables[table]), f"{stem}-{table}.csv",
                                         "text/csv")  # fmt: skip
    if result.analysis:
        with st.expander("Engine tables"):
            import pandas as pd

            for dimension, rows in (result.analysis.get("breakdowns") or {}).items():
                st.write(f"By {dimension}")
                st.dataframe(pd.DataFrame(rows), hide_index=True)
            if result.analysis.get("top_slices"):
                st.write("Slices that explain the change")
                slices = pd.DataFrame(result.analysis["top_slices"]).drop(columns=["slice"])
                st.dataframe(slices, hide_index=True)


if run is not None:
    run.poll()
    if run.finished:
        show_summary(run)
        show_trace(run)
    else:
        st.fragment(run_every=0.5)(show_trace)(run)
