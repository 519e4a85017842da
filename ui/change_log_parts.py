"""Page parts of the change log: the optional events uploader (with the sample pair's change log by default), the
planning setting, and the change-log agent's steps nested in the analyst's step that asked it."""

from __future__ import annotations

from typing import Any

import streamlit as st

from tools.change_log import ChangeLog, load_events
from tools.labels import escape_markdown
from tools.loading import DataError, Dataset

SAMPLES_WITH_EVENTS = {"checkout_daily.csv": "checkout_events.csv"}  # the sample pair: metrics -> change log
EVENT_TYPES = ["csv", "tsv", "txt", "xlsx"]


@st.cache_data(max_entries=8, show_spinner=False)
def _cached_events(data: bytes, name: str, dimensions: tuple[str, ...]) -> ChangeLog:
    return load_events(data, name=name, dimensions=list(dimensions))


def choose_events(dataset: Dataset, samples_folder, key: str = "events_upload") -> ChangeLog | None:
    """The change log for the run: an uploaded events file, or the sample pair's own, or none (`key`: the uploader's
    widget key, one per page).

    A file that cannot be used shows the loader's message (naming the file and what to do) and the run goes on
    without it; rows left out are said in a warning.
    """
    # A bordered box, not an expander: an expander keeps the open/closed state of its first drawing, and what was
    # loaded (or why not) must be in sight once a file is dropped.
    with st.container(border=True):
        st.markdown("**Change log** (optional): why, not only where")
        upload = st.file_uploader(
            "Events file",
            type=EVENT_TYPES,
            key=key,
            help="CSV, TSV or Excel: one event per row with a date (or start and end), a description, and "
            "optionally a kind (release, incident, campaign, pricing, tracking, external) and a scope naming "
            "segments (country=France; platform=Android) or columns named like the dimensions.",
        )
        if upload is not None:
            name, data = upload.name, upload.getvalue()
        elif dataset.source in SAMPLES_WITH_EVENTS:
            name = SAMPLES_WITH_EVENTS[dataset.source]
            data = (samples_folder / name).read_bytes()
            st.caption(f"Using the sample's change log, {name}; upload another events file to replace it.")
        else:
            st.caption("No change log: the summary says where the metric moved, not why.")
            return None
        try:
            log = _cached_events(data, name, tuple(dataset.dimensions))
        except DataError as error:
            st.error(escape_markdown(str(error)))
            return None
        st.text(f"{name}: {len(log.events)} events")  # plain text: the name comes from the user
        for message in log.warnings[:10]:
            st.warning(escape_markdown(message))
        return log


def planning_setting() -> int | None:
    """The sidebar's planning interval: a planning step every N steps (0: none)."""
    every = st.number_input(
        "Plan every N steps (0: no planning)",
        min_value=0,
        max_value=10,
        value=0,
        step=1,
        key="planning_interval",
        help="smolagents planning_interval: the plan shows in the trace before the steps it plans.",
    )
    return int(every) or None


def draw_plan(step: dict[str, Any]) -> None:
    """The analyst's plan made before this step (planning_interval)."""
    if step.get("plan"):
        st.caption("Plan")
        st.text(step["plan"])


def draw_managed(step: dict[str, Any]) -> None:
    """The change-log agent's steps, nested in the analyst's step whose code asked it."""
    for record in step.get("managed") or []:
        agent = "change_log"
        if record["kind"] == "ask":
            st.markdown(f"↳ **{agent}** asked (call {record.get('call_index', 1)}):")
            st.text(record.get("observation") or "")
            continue
        with st.container(border=True):
            if record["kind"] == "plan":
                st.caption(f"↳ {agent} · plan")
                st.text(record.get("thought") or "")
                continue
            tokens = ""
            if record.get("input_tokens") is not None:
                tokens = f" · {record['input_tokens']:,} in / {record.get('output_tokens') or 0:,} out tokens"
            st.caption(f"↳ {agent} · step {record.get('number')}{tokens}")
            if record.get("call"):
                st.code(record["call"], language="python")
            if record.get("observation"):
                st.code(record["observation"], language="text")
            if record.get("error"):
                st.error(escape_markdown(record["error"], keep_lines=True))
