"""Run history in a local SQLite database: every run's events, so a saved run replays exactly with no model.

The events are stored as the run produced them, after secrets were masked; no setting that holds a key is saved.
Each run has an owner (a logged-in user or a browser session of a served app, see `ui.serving`); a history opened
for an owner lists, opens, exports and deletes only that owner's runs. Opened without an owner (a local user), it
holds every run.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agent.run import events as ev
from agent.run.result import RunResult, collect
from tools.verification import tally

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    file_name TEXT NOT NULL,
    file_hash TEXT NOT NULL,
    question TEXT NOT NULL,
    model TEXT NOT NULL,
    agent TEXT NOT NULL,
    status TEXT NOT NULL,
    verified INTEGER NOT NULL,
    mismatched INTEGER NOT NULL,
    input_tokens INTEGER,
    output_tokens INTEGER,
    duration_s REAL,
    narrative TEXT,
    events TEXT NOT NULL,
    owner TEXT
)
"""


def default_path() -> Path:
    """$KPI_NARRATOR_HISTORY, else the user's data folder (XDG) / kpi-narrator / history.sqlite."""
    if os.environ.get("KPI_NARRATOR_HISTORY"):
        return Path(os.environ["KPI_NARRATOR_HISTORY"])
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "kpi-narrator" / "history.sqlite"


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _measure(result: RunResult) -> str:
    """What a run explained, for the list: `revenue`, `orders / users`, with its scenario or windows."""
    analysis, data = result.analysis or {}, result.dataset or {}
    ratio = analysis.get("ratio")
    text = f"{ratio['numerator']} / {ratio['denominator']}" if ratio else str(analysis.get("metric") or "")
    if data.get("scenario"):
        text += f" · scenario {data['scenario']}"
    if data.get("windows"):
        text += " · " + " vs ".join(data["windows"])
    if analysis.get("change_log"):
        text += f" · change log {analysis['change_log'].get('source')}"
    return text


class RunHistory:
    """Saved runs. Each call opens its own connection, so page sessions in different threads can share it.

    Args:
        path: The SQLite file; default `default_path()`.
        owner: Whose runs this history shows and saves; None for every run (a local user).
    """

    def __init__(self, path: str | os.PathLike | None = None, owner: str | None = None):
        self.path = Path(path) if path else default_path()
        self.owner = owner
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(_SCHEMA)
            columns = {row["name"] for row in db.execute("PRAGMA table_info(runs)")}
            if "owner" not in columns:  # a history written before runs had owners: those runs have none
                db.execute("ALTER TABLE runs ADD COLUMN owner TEXT")
            if (
                "measure" not in columns
            ):  # what was explained: the metric, or the ratio, with scenario/windows
                db.execute("ALTER TABLE runs ADD COLUMN measure TEXT")

    def _mine(self) -> tuple[str, tuple]:
        """The SQL condition (and its parameters) that keeps this owner's runs."""
        return ("owner = ?", (self.owner,)) if self.owner is not None else ("1 = 1", ())

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=10)
        connection.row_factory = sqlite3.Row
        return connection

    def save(self, events: Iterable[ev.Event], data_hash: str = "") -> int:
        """Stores a finished run's events; returns its id."""
        events = list(events)
        result = collect(events)
        counts = tally(result.verification)
        row = (
            time.time(),
            result.dataset.get("source") or "",
            data_hash,
            result.question,
            result.model,
            result.agent,
            result.status,
            counts.passed,
            counts.mismatched,
            result.usage.get("input_tokens"),
            result.usage.get("output_tokens"),
            result.usage.get("duration_s"),
            result.narrative,
            json.dumps([e.to_dict() for e in events], ensure_ascii=False),
            self.owner,
            _measure(result),
        )
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO runs (created_at, file_name, file_hash, question, model, agent, status, verified, "
                "mismatched, input_tokens, output_tokens, duration_s, narrative, events, owner, measure) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            if cursor.lastrowid is None:  # sqlite always sets it after an INSERT
                raise sqlite3.DatabaseError("the run was not saved")
            return cursor.lastrowid

    def list(self) -> list[dict[str, Any]]:
        """This owner's saved runs, newest first, without their events."""
        condition, parameters = self._mine()
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, created_at, file_name, measure, file_hash, question, model, agent, status, verified, "
                f"mismatched, input_tokens, output_tokens, duration_s FROM runs WHERE {condition} ORDER BY id DESC",
                parameters,
            ).fetchall()
        return [dict(row) for row in rows]

    def events(self, run_id: int) -> builtins.list[ev.Event]:  # `list` in this class is the method above
        """The run's events, exactly as recorded; another owner's run is as absent as a deleted one."""
        condition, parameters = self._mine()
        with self._connect() as db:
            row = db.execute(
                f"SELECT events FROM runs WHERE id = ? AND {condition}", (run_id, *parameters)
            ).fetchone()
        if row is None:
            raise KeyError(f"no saved run {run_id}")
        return [ev.event_from_dict(item) for item in json.loads(row["events"])]

    def result(self, run_id: int) -> RunResult:
        return collect(self.events(run_id))

    def export(self, run_id: int) -> str:
        """The run's events as JSON lines (one event a line)."""
        return "\n".join(json.dumps(e.to_dict(), ensure_ascii=False) for e in self.events(run_id)) + "\n"

    def delete(self, run_id: int) -> bool:
        """Deletes one of this owner's runs; False when there is no such run (or it is another owner's)."""
        condition, parameters = self._mine()
        with self._connect() as db:
            cursor = db.execute(f"DELETE FROM runs WHERE id = ? AND {condition}", (run_id, *parameters))
            return cursor.rowcount > 0
