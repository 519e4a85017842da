"""Page parts: choosing a dataset, the model settings, and drawing a run's trace."""

from __future__ import annotations

import math
import sqlite3
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from agent.models.build import ModelChoice
from agent.output.history import RunHistory, file_hash
from agent.run import events as ev
from agent.run.queue import RunQueue
from agent.run.result import RunResult
from agent.run.session import BackgroundRun, Replay
from tools.charts import trend_chart
from tools.labels import escape_markdown, safe_figure
from tools.loading import DataError, Dataset, RawColumns, load_dataset, peek_columns
from tools.roles import suggest_ratio
from tools.windows import Window
from ui.change_log_parts import draw_managed, draw_plan
from ui.file_cache import dataset_bytes
from ui.serving import (
    PROXY_HEADERS,
    ServingSettings,
    SettingsError,
    file_cache,
    history_owner,
    is_served,
    load_settings,
    new_session_token,
    run_queue,
    session_liveness,
)
from ui.view_model import step_caption, step_state

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"
SAMPLE_FILES = [
    "revenue_by_country.tsv",
    "sales_by_segment.csv",
    "conversion_by_channel.csv",
    "conversion_scenarios.csv",
    "daily_revenue.csv",
    "checkout_daily.csv",  # with its change log, checkout_events.csv (ui.change_log_parts)
]
MAX_WARNINGS = 20  # loading warnings shown on the page; a file with thousands would bury it


def cached_dataset(
    data: bytes,
    name: str,
    after: str | None = None,
    period_column: str | None = None,
    periods: tuple | None = None,
    by: tuple | None = None,
    compare: str | None = None,
    windows: tuple | None = None,
    digest: str | None = None,
) -> Dataset:
    """The loaded file, from the app's file cache (`ui.file_cache`: bounded by size, count and age, counted in the
    run queue's memory budget) when the same bytes were loaded with the same options before. `digest`: the
    bytes' `file_hash`, when the caller has it."""
    key = (digest or file_hash(data), name, after, period_column, periods, by, compare, windows)
    load = partial(
        load_dataset,
        data,
        name=name,
        after=after,
        period_column=period_column,
        periods=periods,
        by=by,
        compare=compare,
        windows=windows,
    )
    return file_cache(_settings()).get_or_load(key, load, dataset_bytes)


def _settings() -> ServingSettings:
    try:
        return load_settings()
    except (
        SettingsError
    ):  # page_access stops the page with the message; the cache uses its defaults meanwhile
        return ServingSettings()


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
    served = is_served(
        settings,
        st.get_option("server.address"),
        client_ip,
        headers.get("Host"),
        headers.get("Origin"),
        any(headers.get(name) for name in PROXY_HEADERS),
    )
    token = st.session_state.setdefault("session_token", new_session_token())
    user = st.user.to_dict() if "is_logged_in" in st.user else None
    return Access(served, settings, history_owner(served, user, token))


@dataclass
class QueuePlace:
    """What a page passes to a run for the server's run queue (`agent.run.queue`): the queue, who this visitor is
    (its session token: one run at a time across every page) and whether its tab is still open."""

    run_queue: RunQueue
    visitor: str
    alive: Callable[[], bool] | None

    def kwargs(self) -> dict:
        return {"run_queue": self.run_queue, "visitor": self.visitor, "alive": self.alive}


def queue_place() -> QueuePlace:
    """This session's place in the app's run queue (every page that runs an agent goes through it)."""
    visitor = st.session_state.setdefault("session_token", new_session_token())
    return QueuePlace(run_queue(page_access().settings), visitor, session_liveness())


def run_history() -> RunHistory:
    """The run history as this session may see it: its own runs in a served app or when logged in."""
    return RunHistory(owner=page_access().owner)


BUILTIN_CHOICE = "Built-in analyst (no LLM)"
OTHER_MODEL = "Other LiteLLM model…"
MODEL_CHOICES = [
    BUILTIN_CHOICE,
    "openai/gpt-4o-mini",
    "anthropic/claude-3-5-haiku-latest",
    "ollama/qwen2.5-coder",
    OTHER_MODEL,
]


def model_settings() -> tuple[ModelChoice, int | None]:
    """The sidebar's model settings. The key lives only in this session's widget state.

    A local user types any model, API base and key. A visitor of a served app picks from the operator's model list
    (with the operator's API base and key), unless the operator lets visitors choose (`ui.serving`)."""
    access = page_access()
    if access.served and not access.settings.visitors_choose_model:
        with st.sidebar:
            st.header("Settings")
            models = access.settings.models
            model_id = st.selectbox(
                "Model",
                models,
                key="served_model",
                help="the models this server offers (set by its operator)",
            )
            max_steps = _max_steps()
            _login_button()
        return access.settings.choice(model_id), max_steps
    with st.sidebar:
        st.header("Settings")
        picked = st.selectbox(
            "Model",
            MODEL_CHOICES,
            key="model_pick",
            help="The built-in analyst is rule-based (no LLM, no key, no network). The others go "
            "through LiteLLM: any provider, Ollama, or an OpenAI-compatible server (API base).",
        )
        if picked == OTHER_MODEL:
            model_id = st.text_input(
                "LiteLLM model id",
                value="",
                key="model_id",
                placeholder="provider/model, e.g. mistral/mistral-small-latest",
            )
        else:
            model_id = "builtin" if picked == BUILTIN_CHOICE else picked
        model_id = model_id.strip() or "builtin"
        api_base = st.text_input(
            "API base (optional)", value="", key="api_base", help="an OpenAI-compatible server"
        )
        api_key = st.text_input(
            "API key (optional)",
            value="",
            type="password",
            key="api_key",
            help="kept only for this browser session, never stored",
        )
        max_steps = _max_steps()
        _login_button()
    return ModelChoice(model_id, api_base=api_base or None, api_key=api_key or None), max_steps


def _max_steps() -> int | None:
    steps = st.select_slider(
        "Max steps",
        options=["auto", *range(1, 21)],
        value="auto",
        key="max_steps",
        help="auto: 6 for the code agent, 12 for the tool-calling agent (one tool call per step)",
    )
    return None if steps == "auto" else int(steps)


def _login_button() -> None:
    """Log in / log out when the operator configured login (`st.login`); runs are then kept per person."""
    if "is_logged_in" not in st.user:
        return
    if st.user.is_logged_in:
        st.caption(escape_markdown(f"Logged in as {st.user.get('email') or st.user.get('name') or 'you'}"))
        st.button("Log out", on_click=st.logout, key="logout_button")
    else:
        st.button(
            "Log in",
            on_click=st.login,
            key="login_button",
            help="log in to keep your runs under your name (only you see them)",
        )


def choose_dataset(compare_scenarios: bool = False) -> Dataset:
    """Sample or upload, loaded with the roles the user chose (or the loader found), and described.

    When the loader cannot tell the period column or the periods, the page asks with pickers instead of an error;
    any other bad file stops the page with the loader's one-line message.

    Args:
        compare_scenarios: Offer "All scenarios" beside each scenario of a scenario file (the page can run them).
    """
    name, data = _choose_source()
    digest = _digest_of(data)
    chosen = _chosen_roles(name)
    try:
        dataset = cached_dataset(data, name, digest=digest, **chosen)
    except DataError as error:
        if error.setting in ("period_column", "periods"):
            st.info(f"{escape_markdown(error)} {PAGE_HINTS[error.setting]}")
            _roles_pickers(data, name, None, expanded=True)
            st.stop()
        if error.setting == "compare":  # the chosen windows do not fit: keep the pickers to fix them
            st.error(f"{escape_markdown(error)} {PAGE_HINTS['compare']}")
            _roles_pickers(
                data,
                name,
                cached_dataset(data, name, digest=digest, **{**chosen, "windows": None}),
                expanded=True,
            )
            st.stop()
        _stop_with(error)
    try:
        dataset = with_engine(_scenario_choice(dataset, data, name, chosen, compare_scenarios))
    except DataError as error:
        _stop_with(error)
    _roles_pickers(data, name, dataset, expanded=bool(dataset.windows))
    # Names from the file are text: a file or column called `[x](http://...)` is not a link.
    st.markdown(
        f"**{escape_markdown(dataset.source)}** · {dataset.layout} layout · {dataset.rows_read:,} rows → "
        f"{len(dataset.frame):,} segments · dimensions: {escape_markdown(', '.join(dataset.dimensions) or '(none)')}"
        f" · metrics: {escape_markdown(', '.join(dataset.metrics))}"
    )
    for warning in dataset.warnings[:MAX_WARNINGS]:
        st.warning(escape_markdown(warning))
    if len(dataset.warnings) > MAX_WARNINGS:
        st.warning(
            f"… and {len(dataset.warnings) - MAX_WARNINGS:,} more warnings (all are in the Trace (JSON) download)."
        )
    return dataset


def _digest_of(data: bytes) -> str:
    """The chosen file's `file_hash` (the session's `data_hash`), computed once per upload rather than twice per
    rerun (38 MB: 18 ms each). The session keeps the bytes it was computed for (`data_bytes`), so the identity check
    cannot match a new object that reuses a freed one's address."""
    if st.session_state.get("data_bytes") is not data:
        st.session_state["data_hash"], st.session_state["data_bytes"] = file_hash(data), data
    return st.session_state["data_hash"]


# What fixes a loader problem, named as this page names its controls (the CLI names its flags).
PAGE_HINTS = {
    "period_column": "Choose the period column under Columns and roles.",
    "periods": "Choose the earlier and the later period under Columns and roles.",
    "metric": "Pick another metric.",
    "by": "Pick other dimensions.",
    "after": "Pick another scenario.",
    "ratio": "Pick another numerator or denominator.",
    "max_size": "",
    "compare": "Choose other windows under Columns and roles.",
}


def _stop_with(error: DataError) -> None:
    st.error(f"{escape_markdown(error)} {PAGE_HINTS.get(error.setting or '', '')}".strip())
    st.stop()


# A one-row-per-segment template: what the uploader expects, to fill in or to compare with an export.
TEMPLATE_CSV = (
    "country,platform,revenue_before,revenue_after,orders_before,orders_after\n"
    "Germany,iOS,1200.50,1180.00,40,38\nGermany,Android,980.00,610.25,35,22\nFrance,iOS,870.10,905.40,30,31\n"
)


def _choose_source() -> tuple[str, bytes]:
    # The choice and the uploaded file outlive a visit to another page (Streamlit drops a widget's state when the
    # page that draws it is left): they are kept under keys of their own and put back.
    for key in ("source", "sample"):
        if key not in st.session_state and f"kept_{key}" in st.session_state:
            st.session_state[key] = st.session_state[f"kept_{key}"]
    known = operator_connections()
    choices = [
        "Sample",
        "Upload",
        *(["Connect"] if known else []),
    ]  # Connect: only what the operator configured
    if st.session_state.get("source") not in (None, *choices):
        st.session_state["source"] = "Sample"
    source = st.radio("Data", choices, horizontal=True, label_visibility="collapsed", key="source")
    st.session_state["kept_source"] = source
    if source == "Connect":
        return _connected_source(known)
    if source == "Sample":
        name = st.selectbox("Sample file", SAMPLE_FILES, key="sample")
        st.session_state["kept_sample"] = name
        return name, (SAMPLES / name).read_bytes()
    upload = st.file_uploader(
        "Before/after file",
        type=["csv", "tsv", "txt", "xlsx", "parquet"],
        key="upload",
        help="CSV, TSV, Excel (.xlsx) or Parquet: one row per segment with before/after columns "
        "(revenue_before, revenue_after), or one row per segment and period (a date or period column).",
    )
    if upload is not None:
        st.session_state["kept_upload"] = (upload.name, upload.getvalue())
        return upload.name, st.session_state["kept_upload"][1]
    kept = st.session_state.get("kept_upload")
    if kept is not None:
        left, right = st.columns([4, 1])
        left.caption(
            f"Using {escape_markdown(kept[0])}, uploaded earlier; upload another file to replace it."
        )
        if right.button("Forget it", key="forget_upload"):
            st.session_state.pop("kept_upload", None)
            st.rerun()
        return kept
    st.info(
        "Upload a CSV, TSV, Excel or Parquet file with one row per segment (wide: revenue_before, "
        "revenue_after) or one row per segment and period (long: a date or period column)."
    )
    st.download_button(
        "Template (CSV)", TEMPLATE_CSV, "kpi-narrator-template.csv", "text/csv", key="template"
    )
    st.stop()


def operator_connections() -> dict[str, dict]:
    """`[connections.NAME]` with a `url` in .streamlit/secrets.toml: set by the operator, never typed by visitors."""
    from tools.sources import connections

    try:
        return connections(st.secrets.to_dict() if hasattr(st.secrets, "to_dict") else dict(st.secrets))
    except Exception:  # no secrets file, or no connections in it: no Connect choice
        return {}


@st.cache_data(show_spinner=False, max_entries=16, ttl=300)
def cached_tables(connection: str, url: str) -> list[str]:
    """The tables a connection can read (cached a few minutes; the URL is a cache key, never shown)."""
    from tools.sources import list_tables, open_source

    source = open_source(url, query="SELECT 1 AS one")
    try:
        return list_tables(source.backend)
    finally:
        source.backend.disconnect()


@st.cache_data(show_spinner=False, max_entries=8, ttl=300)
def cached_summary(connection: str, url: str, table: str):
    """The table summed per segment by its own engine (`tools.sources.summarise`), cached a few minutes."""
    from tools.sources import open_source, summarise

    source = open_source(url, table=table)
    try:
        return summarise(source)
    finally:
        source.backend.disconnect()


def _connected_source(known: dict[str, dict]) -> tuple[str, bytes]:
    """A connection and a table: the table summed where it lives, then the same flow as a file of its segments."""
    connection = st.selectbox("Connection", list(known), key="connection")
    settings = known[connection]
    url = str(settings["url"])
    try:
        tables = [str(settings["table"])] if settings.get("table") else cached_tables(connection, url)
        if not tables:
            _stop_with(
                DataError(f"{connection}: the connection shows no tables. Ask the operator to check it.")
            )
        table = st.selectbox("Table", tables, key=f"table-{connection}")
        with st.spinner(f"Summing {table} per segment in the database…"):
            summary = cached_summary(connection, url, table)
    except DataError as error:
        _stop_with(error)
    st.session_state["connected"] = summary
    return f"{connection}.{table}", summary.table


def with_engine(dataset: Dataset) -> Dataset:
    """A dataset from a connection says which engine summed it over how many rows (the trace shows it)."""
    summary = st.session_state.get("connected")
    if st.session_state.get("source") != "Connect" or summary is None:
        return dataset
    from tools.sources import sourced

    return sourced(dataset, summary)


NO_PERIOD_COLUMN = "(none: before/after columns)"


def _chosen_roles(name: str) -> dict:
    """The roles the user picked for this file so far (read before the pickers are drawn, to load with them)."""
    period_column = st.session_state.get(f"period_column-{name}")
    period_column = None if period_column in (None, NO_PERIOD_COLUMN) else period_column
    earlier, later = st.session_state.get(f"earlier-{name}"), st.session_state.get(f"later-{name}")
    periods = (earlier, later) if period_column and earlier and later and earlier != later else None
    extra = st.session_state.get(f"extra_dimensions-{name}") or []
    base = st.session_state.get(f"dimensions_found-{name}") or []
    preset = st.session_state.get(f"compare-{name}")
    windows = None
    if preset == CUSTOM_WINDOWS:
        dates = [st.session_state.get(f"{side}_window-{name}") for side in ("earlier", "later")]
        if all(isinstance(d, (tuple, list)) and len(d) == 2 for d in dates):
            windows = tuple(Window(*d) for d in dates)
    return {
        "period_column": period_column,
        "periods": periods,
        "by": tuple(dict.fromkeys([*base, *extra])) if extra else None,
        "compare": WINDOW_PRESETS.get(preset) if preset and preset != CUSTOM_WINDOWS else None,
        "windows": windows,
    }


# The page's names for the comparison presets (the CLI's --compare values).
WINDOW_PRESETS = {
    "Week over week": "wow",
    "Month over month (to date)": "mom",
    "Last 28 days vs a year earlier": "yoy",
    "Last 14 days vs the 14 before": "last-14d",
    "Last 28 days vs the 28 before": "last-28d",
}
CUSTOM_WINDOWS = "Two date ranges"


@st.cache_data(show_spinner=False, max_entries=8, ttl=3600)
def cached_columns(data: bytes, name: str) -> RawColumns:
    return peek_columns(data, name=name)


def _roles_pickers(data: bytes, name: str, dataset: Dataset | None, expanded: bool) -> None:
    """Columns and roles: the file's first rows, and the roles found, each changeable."""
    with st.expander("Columns and roles", expanded=expanded):
        columns = cached_columns(data, name)
        st.dataframe(columns.preview, hide_index=True)
        if dataset is None or dataset.layout == "long":
            found = dataset.period_column if dataset else None
            options = [NO_PERIOD_COLUMN, *columns.columns]
            current = st.session_state.get(f"period_column-{name}") or found or NO_PERIOD_COLUMN
            st.selectbox(
                "Period column",
                options,
                index=options.index(current) if current in options else 0,
                key=f"period_column-{name}",
                help="The column that says which period a row belongs to (a date, month, week, ...).",
            )
            column = st.session_state.get(f"period_column-{name}") or found
            labels = columns.values.get(column) if column and column != NO_PERIOD_COLUMN else None
            if dataset is not None and dataset.windows:
                _window_pickers(name, dataset)
            elif labels and len(labels) >= 2:
                earlier_default = dataset.periods[0] if dataset else labels[-2]
                later_default = dataset.periods[1] if dataset else labels[-1]
                left, right = st.columns(2)
                left.selectbox(
                    "Earlier period",
                    labels,
                    key=f"earlier-{name}",
                    index=labels.index(earlier_default) if earlier_default in labels else 0,
                )
                right.selectbox(
                    "Later period",
                    labels,
                    key=f"later-{name}",
                    index=labels.index(later_default) if later_default in labels else len(labels) - 1,
                )
        if dataset is None:
            return
        if not st.session_state.get(f"extra_dimensions-{name}"):
            st.session_state[f"dimensions_found-{name}"] = list(dataset.dimensions)
        if dataset.ignored or st.session_state.get(f"extra_dimensions-{name}"):
            st.multiselect(
                "Also use as dimensions",
                list(dataset.ignored),
                key=f"extra_dimensions-{name}",
                help="Columns left out as ids, constants or free text.",
            )
        if dataset.not_additive:
            # metric names come from the file: text, never Markdown
            names = ", ".join(f"{m} ({kind})" for m, kind in dataset.not_additive.items())
            st.caption(
                "Not additive (averages, rates, deviations: their sums mean nothing): "
                + escape_markdown(names)
            )


def _window_pickers(name: str, dataset: Dataset) -> None:
    """The compared windows of a time series: a preset, or two date ranges; the trend with both shaded."""
    options = [*WINDOW_PRESETS, CUSTOM_WINDOWS]
    st.selectbox(
        "Compare",
        options,
        key=f"compare-{name}",
        help="Windows relative to the latest date; windows of unequal length are compared on daily averages.",
    )
    if st.session_state.get(f"compare-{name}") == CUSTOM_WINDOWS:
        earlier, later = dataset.windows
        first, last = dataset.daily["date"].min().date(), dataset.daily["date"].max().date()
        left, right = st.columns(2)
        left.date_input(
            "Earlier window",
            (earlier.start, earlier.end),
            min_value=first,
            max_value=last,
            key=f"earlier_window-{name}",
        )
        right.date_input(
            "Later window",
            (later.start, later.end),
            min_value=first,
            max_value=last,
            key=f"later_window-{name}",
        )
    metric = dataset.metrics[0]
    if dataset.daily is not None and metric in dataset.daily:
        st.plotly_chart(trend_chart(dataset.daily, metric, dataset.windows), key=f"trend-{name}")


ALL_SCENARIOS = "All scenarios (compare)"


def _scenario_choice(
    dataset: Dataset, data: bytes, name: str, chosen: dict, compare_scenarios: bool
) -> Dataset:
    """One scenario picker for every metric: a ratio must never divide one scenario's values by another's."""
    if not dataset.scenarios:
        return dataset
    choices = [*dataset.scenarios, ALL_SCENARIOS] if compare_scenarios else dataset.scenarios
    choice = st.selectbox(
        "Scenario",
        choices,
        key=f"scenario-{name}",
        help="Files with several 'after' columns per metric hold scenarios; every metric's after "
        "values come from the one chosen. 'All scenarios' runs each and compares them.",
    )
    if choice in (dataset.scenario, ALL_SCENARIOS):
        return dataset
    return cached_dataset(data, name, after=choice, **chosen)


def compare_all_scenarios(dataset: Dataset) -> bool:
    """True when the user chose to run and compare every scenario of the file."""
    return bool(dataset.scenarios) and st.session_state.get(f"scenario-{dataset.source}") == ALL_SCENARIOS


def scenario_loader(dataset: Dataset):
    """Loads the current file with one scenario chosen (for comparing them); raises DataError like the loader."""
    data, name = st.session_state["data_bytes"], dataset.source
    # Called from the comparison's thread: the plain loader, not the Streamlit cache.
    return lambda scenario: load_dataset(data, name=name, after=scenario)


@dataclass
class Explained:
    """What a page asks the agent to explain: the metric (a ratio's numerator), the ratio, dimensions, question."""

    metric: str
    ratio: str | None
    dimensions: list[str]
    question: str

    @property
    def ready(self) -> bool:
        """False while the user has cleared every dimension of a file that has some."""
        return bool(self.dimensions) or self._no_dimensions_in_file

    _no_dimensions_in_file: bool = False


def what_to_explain(dataset: Dataset, key: str = "") -> Explained:
    """Metric, Dimensions, the ratio and the Question, as the main page and the Compare page ask for them.

    Metric and Question follow a chosen ratio; not-additive metrics are marked; cleared Dimensions say what to do.
    """
    left, right = st.columns(2)
    with st.container():
        ratio = ratio_picker(dataset)
    if ratio:  # the ratio's numerator's totals, the rate in the question
        metric = left.selectbox(
            "Metric",
            [ratio.split("/")[0]],
            disabled=True,
            help="the ratio's numerator",
            key=f"{key}metric_ratio",
        )
        measure = ratio.replace("/", " / ")
    else:
        metric = measure = left.selectbox(
            "Metric",
            dataset.metrics,
            # Averages, rates and deviations come last and are marked: their sums across segments mean nothing.
            format_func=lambda m: f"{m} (not additive)" if m in dataset.not_additive else m,
            key=f"{key}metric-{dataset.source}",
        )
    dimensions = right.multiselect(
        "Dimensions", dataset.dimensions, default=dataset.dimensions, key=f"{key}dimensions-{dataset.source}"
    )
    question = st.text_input("Question", value=f"Explain how {measure} changed and which segments drove it.")
    explained = Explained(metric, ratio, list(dimensions), question, not dataset.dimensions)
    if not explained.ready:  # a choice to respect, not a reason to analyse them all anyway
        st.info("Pick at least one dimension to break the change down by.")
    return explained


def ratio_picker(dataset: Dataset) -> str | None:
    """NUMERATOR/DENOMINATOR when the user defines a ratio metric, else None.

    Ticked by default when the names make a clear rate (orders / users); the default pair is always the smaller
    count over the larger, never the inverse.
    """
    suggested, clear = suggest_ratio(dataset)
    use_ratio = st.checkbox(
        "Ratio metric (e.g. orders / users)",
        value=clear,
        key=f"use_ratio-{dataset.source}",
        disabled=suggested is None and len(dataset.metrics) < 2,
    )
    if not use_ratio or len(dataset.metrics) < 2:
        return None
    numerator_default, denominator_default = suggested or (dataset.metrics[0], dataset.metrics[1])
    numerator_col, denominator_col = st.columns(2)
    numerator = numerator_col.selectbox(
        "Numerator",
        dataset.metrics,
        key=f"numerator-{dataset.source}",
        index=dataset.metrics.index(numerator_default),
    )
    others = [m for m in dataset.metrics if m != numerator]
    index = others.index(denominator_default) if denominator_default in others else len(others) - 1
    denominator = denominator_col.selectbox(
        "Denominator", others, index=index, key=f"denominator-{dataset.source}"
    )
    return f"{numerator}/{denominator}"


class DrawnRun(Protocol):
    """What `draw_steps` reads of a run: a `BackgroundRun`, a `Replay`, or one turn of a conversation."""

    @property
    def result(self) -> RunResult: ...

    @property
    def finished(self) -> bool: ...


def draw_steps(run: DrawnRun, spinner: bool = True) -> None:
    """Each step in its own block: thought, code, observation, error, seconds and tokens.

    Only the running step is an `st.status` (its spinner); finished ones are expanders with an icon, because every
    `st.status` pauses the script 50 ms and the trace is redrawn every half second. `spinner=False`: the running
    step is an expander too (a first step drawn while the click's rerun waits, then replaced).
    """
    result = run.result
    for step in result.steps:
        state = step_state(step, run.finished)
        # Streamlit shows a finished fragment's "running" status with a tick, so the label says it too.
        label = f"{'⏳ ' if state == 'running' else ''}Step {step['number']} · {step_caption(step)}"
        if state == "running" and spinner:
            block = st.status(label, state="running", expanded=True, type="step")
        else:
            icon = {"complete": ":material/check_circle:", "running": ":material/hourglass_top:"}.get(
                state, ":material/error:"
            )
            block = st.expander(label, expanded=True, icon=icon, type="step")
        with block:
            draw_plan(step)
            if step["thought"] is None and step["code"] is None and step.get("streamed"):
                # The model is still writing: its text so far. A code block shows once it has code in it.
                thought, code = streamed_parts(step["streamed"])
                if thought:
                    st.text(thought)
                if code:
                    st.code(code, language="python")
            if step["thought"]:
                st.text(step["thought"])
            if step["code"]:
                st.code(step["code"], language="python")
            draw_managed(step)  # the change-log agent's steps, asked by this step's code
            if step["observation"]:
                st.code(step["observation"], language="text")
            if step["error"]:
                st.error(escape_markdown(step["error"], keep_lines=True))
    if result.error and not any(s["error"] == result.error for s in result.steps):
        st.error(escape_markdown(result.error, keep_lines=True))


CODE_TAGS = (("<code>", "</code>"), ("```", "```"))


def streamed_parts(text: str) -> tuple[str, str]:
    """A step's text as it streams in, as (thought, code so far): no "Thought:" label, no code tags, and no half
    tag ("<co") at the end; the code is "" until it has a character of code."""
    for opening, closing in CODE_TAGS:
        if opening in text:
            thought, code = text.split(opening, 1)
            # A fence's first line names the language ("```py" may still grow into "```python").
            if opening == "```":
                code = code.split("\n", 1)[1] if "\n" in code else ""
            code = code.split(closing, 1)[0]
            code = _without_partial_tag(code, closing)
            break
    else:
        thought, code = text, ""
        for opening, _ in CODE_TAGS:
            thought = _without_partial_tag(thought, opening)
    thought = thought.strip()
    if "Thought:".startswith(thought):  # the label itself, still arriving
        thought = ""
    if thought.startswith("Thought:"):
        thought = thought[len("Thought:") :].strip()
    return thought, code.strip("\n") if code.strip() else ""


def _without_partial_tag(text: str, tag: str) -> str:
    """The text without a beginning of `tag` at its end ("Let me see <co" -> "Let me see ")."""
    for length in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:length]):
            return text[:-length]
    return text


def comparison_table(rows: list[dict]) -> pd.DataFrame:
    """The Compare page's table turned on its side: one row per measure, one column per agent, figures as text
    ("5,451", "3.21", "—"). Twelve measures as columns overflowed a 1280 px page and a phone; two agents fit."""

    def shown(value: object) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "—"
        if isinstance(value, float):
            return f"{value:,.2f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    measures = [key for key in rows[0] if key != "agent"] if rows else []
    table = pd.DataFrame(
        {f"{row['agent']} agent": [shown(row.get(measure)) for measure in measures] for row in rows},
        index=[measure[:1].upper() + measure[1:] for measure in measures],
    )
    table.index.name = "Measure"
    return table


# Streamlit stacks columns below 640 px in their order: the trace (long) would push the charts off the phone's
# screen. There the charts column goes first; side by side, the trace stays on the left.
_CHARTS_FIRST_ON_PHONES = """<style>
@media (max-width: 640px) {
  [class*="st-key-trace_charts"] [data-testid="stHorizontalBlock"] > [data-testid="stColumn"]:last-child {
    order: -1;
  }
}
</style>"""


def trace_and_charts(key: str) -> tuple:
    """Two columns, the trace (3/5) and the charts (2/5); on a phone the charts come first."""
    st.html(_CHARTS_FIRST_ON_PHONES)
    with st.container(key=f"trace_charts-{key}"):
        return tuple(st.columns([3, 2]))


# Building a plotly Figure validates the whole dict (70 ms a chart); the trace is redrawn every half second.
_figures: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def page_figure(figure: dict) -> go.Figure:
    """A chart of the run (plotly JSON from the worker) as the page draws it."""
    # A figure holds text from the data and the model: plotly would render its tags (`<a href>`) as HTML.
    return go.Figure(safe_figure(figure))


def draw_charts(run: BackgroundRun | Replay, key: str) -> None:
    built = _figures.setdefault(run, [])
    if len(built) > len(run.result.charts):  # a replay that started over
        built.clear()
    built.extend(page_figure(figure) for figure in run.result.charts[len(built) :])
    for index, figure in enumerate(built):
        st.plotly_chart(figure, key=f"{key}-chart-{index}", width="stretch")


def save_once(run: BackgroundRun) -> None:
    """Saves a finished run to the history once; a history that cannot be written is a warning, not a failure."""
    turns = 1 + len(run.result.turns)
    if not getattr(run, "idle", run.finished) or (run.saved_id is not None and run.saved_turns == turns):
        return
    try:
        history = run_history()
        if run.saved_id is not None and run.saved_id > 0:  # a conversation grew: its saved copy is replaced
            history.delete(run.saved_id)
        # The streamed pieces are left out: the step's Thought and Code hold the same text, and a replay paced per
        # event would crawl through hundreds of them.
        events = [event for event in run.events if not isinstance(event, ev.TextDelta)]
        run.saved_id, run.saved_turns = history.save(events, st.session_state.get("data_hash", "")), turns
    except (OSError, sqlite3.Error) as error:
        run.saved_id = -1
        st.warning(escape_markdown(f"The run could not be saved to the history: {error}"))
