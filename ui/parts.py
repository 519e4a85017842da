"""Page parts: choosing a dataset, the model settings, and drawing a run's trace."""

from __future__ import annotations

import sqlite3
import weakref
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from agent.history import RunHistory, file_hash
from agent.models import ModelChoice
from agent.session import BackgroundRun, Replay
from agent.view_model import step_caption, step_state
from tools.labels import escape_markdown, safe_figure
from tools.loading import DataError, Dataset, load_dataset
from ui.serving import (
    PROXY_HEADERS,
    ServingSettings,
    SettingsError,
    history_owner,
    is_served,
    load_settings,
    new_session_token,
)

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"
SAMPLE_FILES = ["revenue_by_country.tsv", "sales_by_segment.csv", "conversion_by_channel.csv"]
MAX_WARNINGS = 20  # loading warnings shown on the page; a file with thousands would bury it


@st.cache_data(show_spinner=False, max_entries=16)
def cached_dataset(
    data: bytes,
    name: str,
    after: str | None = None,
    period_column: str | None = None,
    periods: tuple | None = None,
) -> Dataset:
    return load_dataset(data, name=name, after=after, period_column=period_column, periods=periods)


@dataclass
class Access:
    """What this browser session may do: see `ui.serving`."""

    served: bool
    settings: ServingSettings
    owner: str | None  # whose runs the history shows and saves (None: a local user, every run)


def page_access() -> Access:
    """Served or local, the operator's settings, and the history owner of this session; a broken settings file
    stops the page with a message naming it."""
    try:
        settings = load_settings()
    except SettingsError as error:
        st.error(escape_markdown(error))
        st.stop()
    client_ip = st.context.ip_address
    client_ip = client_ip if isinstance(client_ip, str) else None  # AppTest has no browser connection
    headers = st.context.headers
    served = is_served(settings, st.get_option("server.address"), client_ip, headers.get("Host"),
                       headers.get("Origin"), any(headers.get(name) for name in PROXY_HEADERS))  # fmt: skip
    token = st.session_state.setdefault("session_token", new_session_token())
    user = st.user.to_dict() if "is_logged_in" in st.user else None
    return Access(served, settings, history_owner(served, user, token))


def run_history() -> RunHistory:
    """The run history as this session may see it: its own runs in a served app or when logged in."""
    return RunHistory(owner=page_access().owner)


def model_settings() -> tuple[ModelChoice, int | None]:
    """The sidebar's model settings. The key lives only in this session's widget state.

    A local user types any model, API base and key. A visitor of a served app picks from the operator's model list
    (with the operator's API base and key), unless the operator lets visitors choose (`ui.serving`)."""
    access = page_access()
    if access.served and not access.settings.visitors_choose_model:
        with st.sidebar:
            st.header("Settings")
            models = access.settings.models
            model_id = st.selectbox("Model", models, key="served_model",
                                    help="the models this server offers (set by its operator)")  # fmt: skip
            max_steps = _max_steps()
            _login_button()
        return access.settings.choice(model_id), max_steps
    with st.sidebar:
        st.header("Settings")
        model_id = st.text_input("Model", value="builtin", key="model_id",
                                 help="builtin = the rule-based analyst (no LLM, no key); or a LiteLLM id such as "
                                 "openai/gpt-4o-mini")  # fmt: skip
        api_base = st.text_input("API base (optional)", value="", key="api_base",
                                 help="an OpenAI-compatible server")  # fmt: skip
        api_key = st.text_input("API key (optional)", value="", type="password", key="api_key",
                                help="kept only for this browser session, never stored")  # fmt: skip
        max_steps = _max_steps()
        _login_button()
    return ModelChoice(model_id, api_base=api_base or None, api_key=api_key or None), max_steps


def _max_steps() -> int | None:
    steps = st.select_slider("Max steps", options=["auto", *range(1, 21)], value="auto", key="max_steps",
                             help="auto: 6 for the code agent, 12 for the tool-calling agent (one tool call per "
                             "step)")  # fmt: skip
    return None if steps == "auto" else int(steps)


def _login_button() -> None:
    """Log in / log out when the operator configured login (`st.login`); runs are then kept per person."""
    if "is_logged_in" not in st.user:
        return
    if st.user.is_logged_in:
        st.caption(escape_markdown(f"Logged in as {st.user.get('email') or st.user.get('name') or 'you'}"))
        st.button("Log out", on_click=st.logout, key="logout_button")
    else:
        st.button("Log in", on_click=st.login, key="login_button",
                  help="log in to keep your runs under your name (only you see them)")  # fmt: skip


def choose_dataset() -> Dataset:
    """Sample or upload, loaded and described; stops the page with the loader's message on a bad file."""
    source = st.radio(
        "Data", ["Sample", "Upload"], horizontal=True, label_visibility="collapsed", key="source"
    )
    if source == "Sample":
        name = st.selectbox("Sample file", SAMPLE_FILES, key="sample")
        data = (SAMPLES / name).read_bytes()
    else:
        upload = st.file_uploader(
            "Before/after file", type=["csv", "tsv", "txt", "xlsx", "parquet"], key="upload"
        )
        if upload is None:
            st.info("Upload a CSV, TSV, Excel or Parquet file with one row per segment.")
            st.stop()
        name, data = upload.name, upload.getvalue()
    st.session_state["data_hash"] = file_hash(data)
    try:
        dataset = cached_dataset(data, name)
        dataset = _loading_options(dataset, data, name)
    except DataError as error:
        st.error(escape_markdown(error))
        st.stop()
    # Names from the file are text: a file or column called `[x](http://...)` is not a link.
    st.markdown(f"**{escape_markdown(dataset.source)}** · {dataset.layout} layout · {dataset.rows_read:,} rows → "
                f"{len(dataset.frame):,} segments · dimensions: {escape_markdown(', '.join(dataset.dimensions) or '(none)')}"
                f" · metrics: {escape_markdown(', '.join(dataset.metrics))}")  # fmt: skip
    for warning in dataset.warnings[:MAX_WARNINGS]:
        st.warning(escape_markdown(warning))
    if len(dataset.warnings) > MAX_WARNINGS:
        st.warning(
            f"… and {len(dataset.warnings) - MAX_WARNINGS:,} more warnings (the CLI prints all of them)."
        )
    return dataset


def _loading_options(dataset: Dataset, data: bytes, name: str) -> Dataset:
    """What the loader guessed, changeable: the scenario 'after' column, a long table's periods and their order."""
    scenarios = {m: c for m, c in dataset.columns.items() if c.after_alternatives}
    if not scenarios and dataset.layout != "long":
        return dataset
    with st.expander("Loading options", expanded=False):
        after = None
        for metric, columns in scenarios.items():
            choices = [columns.after, *columns.after_alternatives]
            after = st.selectbox(
                f"'After' column for {escape_markdown(metric)}", choices, key=f"after-{name}-{metric}"
            )
            after = None if after == columns.after else after
        periods = None
        if dataset.layout == "long":
            labels = list(dataset.periods)
            earlier = st.selectbox("Earlier period", labels, index=0, key=f"earlier-{name}")
            later = st.selectbox("Later period", labels, index=1, key=f"later-{name}")
            if (earlier, later) != tuple(labels) and earlier != later:
                periods = (earlier, later)
    if after is None and periods is None:
        return dataset
    return cached_dataset(data, name, after=after, period_column=dataset.period_column, periods=periods)


def ratio_picker(dataset: Dataset) -> str | None:
    """NUMERATOR/DENOMINATOR when the user defines a ratio metric, else None."""
    use_ratio = st.checkbox("Ratio metric (e.g. orders / users)", value="users" in dataset.metrics,
                            key=f"use_ratio-{dataset.source}", disabled=len(dataset.metrics) < 2)  # fmt: skip
    if not use_ratio or len(dataset.metrics) < 2:
        return None
    numerator_col, denominator_col = st.columns(2)
    numerator = numerator_col.selectbox("Numerator", dataset.metrics, index=0)
    others = [m for m in dataset.metrics if m != numerator]
    denominator = denominator_col.selectbox("Denominator", others, index=len(others) - 1)
    return f"{numerator}/{denominator}"


def draw_steps(run: BackgroundRun) -> None:
    """Each step in its own block: thought, code, observation, error, seconds and tokens.

    Only the running step is an `st.status` (its spinner); finished ones are expanders with an icon, because every
    `st.status` pauses the script 50 ms and the trace is redrawn every half second.
    """
    result = run.result
    for step in result.steps:
        state = step_state(step, run.finished)
        # Streamlit shows a finished fragment's "running" status with a tick, so the label says it too.
        label = f"{'⏳ ' if state == 'running' else ''}Step {step['number']} · {step_caption(step)}"
        if state == "running":
            block = st.status(label, state="running", expanded=True, type="step")
        else:
            icon = ":material/check_circle:" if state == "complete" else ":material/error:"
            block = st.expander(label, expanded=True, icon=icon, type="step")
        with block:
            if step["thought"]:
                st.text(step["thought"])
            if step["code"]:
                st.code(step["code"], language="python")
            if step["observation"]:
                st.code(step["observation"], language="text")
            if step["error"]:
                st.error(escape_markdown(step["error"], keep_lines=True))
    if result.error and not any(s["error"] == result.error for s in result.steps):
        st.error(escape_markdown(result.error, keep_lines=True))


# Building a plotly Figure validates the whole dict (70 ms a chart); the trace is redrawn every half second.
_figures: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def draw_charts(run: BackgroundRun | Replay, key: str) -> None:
    built = _figures.setdefault(run, [])
    if len(built) > len(run.result.charts):  # a replay that started over
        built.clear()
    for figure in run.result.charts[len(built) :]:
        # A figure holds text from the data and the model: plotly would render its tags (`<a href>`) as HTML.
        built.append(go.Figure(safe_figure(figure)))
    for index, figure in enumerate(built):
        st.plotly_chart(figure, key=f"{key}-chart-{index}", width="stretch")


def save_once(run: BackgroundRun) -> None:
    """Saves a finished run to the history once; a history that cannot be written is a warning, not a failure."""
    if not run.finished or run.saved_id is not None:
        return
    try:
        run.saved_id = run_history().save(run.events, st.session_state.get("data_hash", ""))
    except (OSError, sqlite3.Error) as error:
        run.saved_id = -1
        st.warning(escape_markdown(f"The run could not be saved to the history: {error}"))
