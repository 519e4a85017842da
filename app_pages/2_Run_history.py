"""Run history: every run saved locally; open one to read it or replay its trace, with no model.

In a served app, or when login is configured, the page shows only this person's runs (`ui.serving`)."""

from __future__ import annotations

import datetime as dt
from functools import partial

import pandas as pd
import streamlit as st

from agent.output import export
from agent.run.session import Replay
from tools.labels import escape_markdown
from ui.live import draw_live
from ui.parts import draw_charts, draw_steps, page_access, run_history, trace_and_charts
from ui.view_model import claim_notes, summary_markdown, verification_badge

st.set_page_config(page_title="Run history · KPI Narrator", page_icon="🗂️", layout="wide")
st.title("Run history")

access = page_access()
history = run_history()
if access.owner is None:
    st.caption(escape_markdown(f"Saved in {history.path}. Set KPI_NARRATOR_HISTORY to use another file."))
elif access.owner.startswith("session:"):
    st.caption("Only the runs of this browser session are shown (this server has no login).")
else:
    st.caption("Only your runs are shown.")
runs = history.list()
if not runs:
    st.info("No saved runs yet. Every finished run on the main page and the Compare page is saved here.")
    st.stop()

table = pd.DataFrame(runs).drop(columns=["file_hash"])
table["created_at"] = [dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M") for t in table["created_at"]]
st.dataframe(table, hide_index=True)

labels = {
    r["id"]: f"#{r['id']} · {r['file_name']} · {r.get('measure') or '—'} · {r['agent']} agent · {r['model']}"
    for r in runs
}
run_id = st.selectbox("Open a run", list(labels), format_func=labels.get, key="history_run")
result = history.result(run_id)

actions = st.columns(4)
replay_clicked = actions[0].button("Replay trace", key="replay_button")
# Built when clicked, not on every rerun (a big run's report is megabytes).
actions[1].download_button(
    "Export (JSON lines)",
    partial(history.export, run_id),
    f"run-{run_id}.jsonl",
    "application/x-ndjson",
    on_click="ignore",
)
actions[2].download_button(
    "Report (HTML)", partial(export.report_html, result), f"run-{run_id}.html", "text/html", on_click="ignore"
)
if actions[3].button("Delete", key="delete_button"):
    st.session_state["confirm_delete"] = run_id
if st.session_state.get("confirm_delete") == run_id:  # a deleted run cannot come back: ask first
    st.warning(escape_markdown(f"Delete {labels[run_id]}? This cannot be undone."))
    yes, no = st.columns(2)
    if yes.button("Yes, delete it", key="confirm_delete_button"):
        history.delete(run_id)  # only ever one of this owner's runs
        st.session_state.pop("replay", None)
        st.session_state.pop("confirm_delete", None)
        st.rerun()
    if no.button("Keep it", key="cancel_delete_button"):
        st.session_state.pop("confirm_delete", None)
        st.rerun()

if result.narrative:
    claims = (result.verification or {}).get("claims") or []
    st.markdown(
        summary_markdown(result.narrative, result.analysis, result.dataset, claims)
    )  # the recorded verdicts: a flagged claim is marked
    ok, sentence = verification_badge(result.verification)
    (st.success if ok else st.error)(sentence)
    if claims:
        with st.expander("Each number, checked against the engine", expanded=not ok):
            st.text("\n".join(claim_notes(claims)))
for turn in result.turns:  # the whole conversation: each follow-up with its checked answer
    st.chat_message("user").text(turn.question)
    with st.chat_message("assistant"):
        turn_claims = (turn.verification or {}).get("claims") or []
        st.markdown(summary_markdown(turn.narrative, turn.analysis, turn.dataset, turn_claims))
        turn_ok, turn_sentence = verification_badge(turn.verification)
        (st.success if turn_ok else st.error)(turn_sentence)

replay = st.session_state.get("replay")
if replay_clicked or replay is None or replay.run_id != run_id:
    replay = Replay(history.events(run_id), pace_s=0.25 if replay_clicked else 0.0, run_id=run_id)
    st.session_state["replay"] = replay


def show_replay(replay: Replay) -> None:
    replay.poll()
    trace, charts = trace_and_charts(f"history-{replay.run_id}")
    with trace:
        draw_steps(replay)
    with charts:
        draw_charts(replay, f"history-{replay.run_id}")


draw_live(partial(show_replay, replay), replay, every_s=0.25)
