"""Run history in a local SQLite database: every run's events, so a saved run replays exactly with no model.

The events are stored as the run produced them, after secrets were masked; no setting that holds a key is saved.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agent import events as ev
from agent.result import RunResult, collect

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
    events TEXT NOT NULL
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


class RunHistory:
    """Saved runs. Each call opens its own connection, so page sessions in different threads can share it."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=10)
        connection.row_factory = sqlite3.Row
        return connection

    def save(self, events: Iterable[ev.Event], data_hash: str = "") -> int:
        """Stores a finished run's events; returns its id."""
        events = list(events)
        result = collect(events)
        verification = result.verification or {"checked": [], "mismatches": []}
        wrong = len(verification["mismatches"])
        row = (
            time.time(), result.dataset.get("source") or "", data_hash, result.question, result.model, result.agent,
            result.status, len(verification["checked"]) - wrong, wrong, result.usage.get("input_tokens"),
            result.usage.get("output_tokens"), result.usage.get("duration_s"), result.narrative,
            json.dumps([e.to_dict() for e in events], ensure_ascii=False),
        )  # fmt: skip
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO runs (created_at, file_name, file_hash, question, model, agent, status, verified, "
                "mismatched, input_tokens, output_tokens, duration_s, narrative, events) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            return int(cursor.lastrowid)

    def list(self) -> list[dict[str, Any]]:
        """Saved runs, newest first, without their events."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, created_at, file_name, file_hash, question, model, agent, status, verified, mismatched, "
                "input_tokens, output_tokens, duration_s FROM runs ORDER BY id DESC"
            ).fetchall()
        return [dict(row) for row in rows]

    def events(self, run_id: int) -> list[ev.Event]:
        """The run's events, exactly as recorded."""
        with self._connect() as db:
            row = db.execute("SELECT events FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no saved run {run_id}")
        return [ev.event_from_dict(item) for item in json.loads(row["events"])]

    def result(self, run_id: int) -> RunResult:
        return collect(self.events(run_id))

    def export(self, run_id: int) -> str:
        """The run's events as JSON lines (one event a line)."""
        return "\n".join(json.dumps(e.to_dict(), ensure_ascii=False) for e in self.events(run_id)) + "\n"

    def delete(self, run_id: int) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
