"""The plain-data protocol between the app and its code worker: length-prefixed JSON frames, no pickle back.

The worker runs code a model wrote, so everything it sends is untrusted: the app reads only JSON (which cannot
run code when parsed), refuses frames over `MAX_REPLY_BYTES` without reading them, checks every reply against a
small schema, and replaces lone surrogate characters (which would crash a print or a UTF-8 encode later).

The worker cuts what it sends to size first (`to_plain`): long text, long lists and huge figures are cut with a
note, so an honest reply always fits; only a worker that writes raw frames of its own reaches the app's limits.

Frame: 8-byte big-endian length, then that many bytes. Worker -> app: one UTF-8 JSON object per frame. App ->
worker (the app is trusted): a JSON header, followed by `blobs` binary frames (variables: Arrow IPC for tables).
Standard library only at import time.
"""

from __future__ import annotations

import json
import math
import socket
import struct
import time
from typing import Any

_HEADER = struct.Struct(">Q")

# App side: a reply over this is refused unread (the worker is then killed). Honest replies stay far below it.
MAX_REPLY_BYTES = 8 * 1024**2
# Worker side: what one reply may carry before it is cut (with a note saying so).
MAX_TEXT_CHARS = 100_000  # one string (a final answer, an output, the prints of a step)
MAX_ITEMS = 20_000  # list items and dict entries in one value, all levels together
MAX_DEPTH = 32
MAX_FIGURE_BYTES = 3 * 1024**2  # one plotly figure's JSON
MAX_FIGURES_BYTES = 6 * 1024**2  # all figures of one step
REPLY_KINDS = {"ready", "ok", "done", "error", "tool", "ask"}
# A managed agent (the change-log agent) lives in the app: the code calls a proxy in the worker, which "asks" the
# app mid-step and waits for the "answer" frame. The question is text only, and bounded.
MAX_ASK_CHARS = 4_000
# A tool that runs in the app (raw_rows: the worker never holds the file's rows) is asked the same way, with its
# arguments (plain JSON, at most this many items); the app answers with the result as a variable (Arrow IPC), at
# most MAX_ANSWER_BYTES (the tool keeps to far less: tools.raw_rows.MAX_ANSWER_BYTES).
MAX_ASK_ITEMS = 200
MAX_ANSWER_BYTES = 4 * 1024**2


class ProtocolError(Exception):
    """The worker sent something that is not a valid reply (too large, not JSON, wrong shape)."""


# ---------------------------------------------------------------------------------------------------- framing
def send_frame(sock: socket.socket, data: bytes | memoryview, timeout: float | None = None) -> None:
    """Writes one frame; `data` may be any bytes-like object (an Arrow buffer is sent without a copy)."""
    sock.settimeout(timeout)
    sock.sendall(_HEADER.pack(len(data)))
    sock.sendall(data)


def _recv_exact(sock: socket.socket, size: int, deadline: float | None) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
        else:
            sock.settimeout(None)
        n = sock.recv_into(view[got:], size - got)  # a socket time-out is a TimeoutError
        if n == 0:
            raise EOFError("the other end closed the connection")
        got += n
    return buffer  # not bytes(buffer): a 20 MB table would be copied once more for nothing


def recv_frame(sock: socket.socket, deadline: float | None = None, limit: int | None = None) -> bytearray:
    """One frame's bytes. Raises TimeoutError past `deadline` (time.monotonic), ProtocolError over `limit`."""
    (size,) = _HEADER.unpack(_recv_exact(sock, _HEADER.size, deadline))
    if limit is not None and size > limit:
        raise ProtocolError(f"a reply of {size:,} bytes is over the {limit:,}-byte limit")
    return _recv_exact(sock, size, deadline)


def send_json(sock: socket.socket, message: dict[str, Any], timeout: float | None = None) -> None:
    """A JSON frame; ensure_ascii escapes lone surrogates, so any Python text can be sent."""
    send_frame(sock, json.dumps(message, ensure_ascii=True, allow_nan=False).encode("ascii"), timeout)


# ----------------------------------------------------------------------------------------- app side: checking
def clean_text(text: str) -> str:
    """The text with lone surrogates (invalid in UTF-8) replaced by U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def checked_value(value: Any, budget: list[int] | None = None, depth: int = 0) -> Any:
    """A parsed JSON value made safe to use: text cleaned, depth and item count bounded (else ProtocolError).

    The frame's byte limit already bounds the memory; the item budget is a second bound, loose enough for a chart
    of plain lists that fits `MAX_FIGURE_BYTES`.
    """
    budget = budget if budget is not None else [MAX_REPLY_BYTES // 2]
    if depth > MAX_DEPTH * 2:
        raise ProtocolError("a reply nested too deeply")
    if isinstance(value, str):
        return clean_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, list):
        budget[0] -= len(value)
        if budget[0] < 0:
            raise ProtocolError("a reply with too many items")
        return [checked_value(v, budget, depth + 1) for v in value]
    if isinstance(value, dict):
        budget[0] -= len(value)
        if budget[0] < 0:
            raise ProtocolError("a reply with too many items")
        return {clean_text(str(k)): checked_value(v, budget, depth + 1) for k, v in value.items()}
    raise ProtocolError(f"a reply holding a {type(value).__name__}")


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise ProtocolError(f"a malformed reply ({what})")


def parse_reply(data: bytes | bytearray) -> dict[str, Any]:
    """A worker reply, checked against the schema: kind, and per kind the fields and their types."""
    try:
        # parse_constant: NaN/Infinity are not JSON and never sent by an honest worker.
        message = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ProtocolError(f"a reply that is not JSON ({type(error).__name__})") from None
    _require(isinstance(message, dict), "not an object")
    kind = message.get("kind")
    _require(kind in REPLY_KINDS, f"unknown kind {str(kind)[:40]!r}")
    checked: dict[str, Any] = {"kind": kind, "id": message.get("id")}
    _require(checked["id"] is None or isinstance(checked["id"], int), "id")
    if kind in ("done", "error", "tool"):
        logs, figures, notes = message.get("logs", ""), message.get("figures", []), message.get("notes", [])
        _require(isinstance(logs, str), "logs")
        _require(isinstance(figures, list) and all(isinstance(f, dict) for f in figures), "figures")
        _require(isinstance(notes, list) and all(isinstance(n, str) for n in notes), "notes")
        checked["logs"] = clean_text(logs)
        checked["figures"] = [checked_value(f) for f in figures]
        checked["notes"] = [clean_text(n) for n in notes]
    if kind == "done":
        _require(isinstance(message.get("final"), bool), "final")
        checked["final"] = message["final"]
        checked["output"] = checked_value(message.get("output"))
    elif kind == "ask":
        _require(isinstance(message.get("tool"), str) and len(message["tool"]) <= 64, "tool")
        _require(isinstance(message.get("task"), str), "task")
        checked["tool"] = message["tool"]
        checked["task"] = clean_text(message["task"][:MAX_ASK_CHARS])
        arguments = message.get("arguments", {})
        _require(isinstance(arguments, dict), "arguments")
        checked["arguments"] = checked_value(arguments, [MAX_ASK_ITEMS])
    elif kind in ("error", "tool"):
        _require(isinstance(message.get("message", ""), str), "message")
        checked["message"] = clean_text(message.get("message", ""))
        if kind == "tool":
            checked["failed"] = bool(message.get("failed", False))
    return checked


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_reply(sock: socket.socket, deadline: float | None) -> dict[str, Any]:
    """The next reply from a worker, read and checked (TimeoutError, EOFError, ProtocolError otherwise)."""
    return parse_reply(recv_frame(sock, deadline, MAX_REPLY_BYTES))


# --------------------------------------------------------------------------------------- worker side: cutting
class Cutter:
    """Turns any value into plain JSON data within the size limits, noting what it had to cut."""

    def __init__(self, max_items: int = MAX_ITEMS, max_text: int = MAX_TEXT_CHARS) -> None:
        self.items_left = max_items
        self.max_text = max_text
        self.notes: list[str] = []

    def text(self, text: str, what: str = "a text") -> str:
        if len(text) <= self.max_text:
            return text
        self.notes.append(f"{what} of {len(text):,} characters was cut to {self.max_text:,}")
        return text[: self.max_text] + f" [... {len(text) - self.max_text:,} characters cut]"

    def plain(self, value: Any, depth: int = 0) -> Any:
        """JSON-safe data: numbers (NaN/inf as null), text, lists and dicts; tables as lists of records."""
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value if abs(value) < 2**63 else str(value)
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        if isinstance(value, str):
            return self.text(value)
        if depth >= MAX_DEPTH:
            self.notes.append(f"a value nested deeper than {MAX_DEPTH} levels was cut")
            return None
        converted = self._numpy_or_pandas(value)
        if converted is not _UNCHANGED:
            return self.plain(converted, depth)
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if self.items_left <= 0:
                    self.notes.append(f"a dict of {len(value):,} entries was cut to {len(out):,}")
                    break
                self.items_left -= 1
                out[self.text(str(key), "a key")] = self.plain(item, depth + 1)
            return out
        if isinstance(value, (list, tuple, set, frozenset)):
            items = list(value) if not isinstance(value, list) else value
            keep = max(0, min(len(items), self.items_left))
            if keep < len(items):
                self.notes.append(f"a list of {len(items):,} items was cut to {keep:,}")
            self.items_left -= keep
            return [self.plain(item, depth + 1) for item in items[:keep]]
        return self.text(safe_str(value), "a value's text")

    def _numpy_or_pandas(self, value: Any) -> Any:
        """numpy scalars and arrays, pandas tables and series as plain Python; `_UNCHANGED` for anything else."""
        module = type(value).__module__ or ""
        if not module.startswith(("numpy", "pandas")):
            return _UNCHANGED
        import numpy as np
        import pandas as pd

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            flat = value.ravel()
            if flat.size > self.items_left:
                self.notes.append(f"an array of {flat.size:,} numbers was cut to {max(self.items_left, 0):,}")
            return flat[: max(self.items_left, 0)].tolist()
        if isinstance(value, (pd.DataFrame, pd.Series)):
            cells = value.size or 1
            rows = max(0, self.items_left) * len(value) // cells if cells > self.items_left else len(value)
            if rows < len(value):
                self.notes.append(f"a table of {len(value):,} rows was cut to {rows:,}")
            head = value.head(rows)
            if isinstance(head, pd.Series):
                return {str(k): v for k, v in head.items()}
            return head.to_dict(orient="records")
        if value is pd.NA or value is pd.NaT:
            return None
        return _UNCHANGED


_UNCHANGED = object()


def safe_str(value: Any) -> str:
    """str(value), or a placeholder when its __str__ fails (a hostile object must not stop a reply)."""
    try:
        text = str(value)
        return text if isinstance(text, str) else "<unprintable>"
    except Exception as error:
        return f"<{type(value).__name__} that cannot be shown: {type(error).__name__}>"


def cut_reply(reply: dict[str, Any]) -> dict[str, Any]:
    """A worker reply as plain JSON data within the limits; what was cut is listed in `notes`."""
    cutter = Cutter()
    out: dict[str, Any] = {"kind": reply["kind"], "id": reply.get("id")}
    if reply["kind"] not in ("done", "error", "tool"):
        return out
    if "output" in reply:
        out["output"] = cutter.plain(reply["output"])
    for key in ("logs", "message"):
        if key in reply:
            out[key] = cutter.text(safe_str(reply[key]), f"the {key}")
    for key in ("final", "failed"):
        if key in reply:
            out[key] = bool(reply[key])
    notes = cutter.notes
    out["figures"] = cut_figures(list(reply.get("figures") or []), notes)
    out["notes"] = notes
    return out


def decode_request(data: bytes | bytearray) -> dict[str, Any]:
    """A request from the app (the trusted side)."""
    return json.loads(data)


def cut_figures(figures: list[dict[str, Any]], notes: list[str]) -> list[dict[str, Any]]:
    """Figures that fit the limits, as plain dicts; the ones left out are named in `notes`."""
    kept, total = [], 0
    for figure in figures:
        try:
            text = json.dumps(figure, ensure_ascii=True, allow_nan=False)
        except ValueError:  # NaN or infinity somewhere in the data: null, as plotly's own JSON writes it
            try:
                plain = json.loads(json.dumps(figure, ensure_ascii=True), parse_constant=lambda _: None)
                text = json.dumps(plain, ensure_ascii=True, allow_nan=False)
            except (TypeError, ValueError):
                notes.append("a chart that is not plain JSON was left out")
                continue
        except TypeError:
            notes.append("a chart that is not plain JSON was left out")
            continue
        if len(text) > MAX_FIGURE_BYTES or total + len(text) > MAX_FIGURES_BYTES:
            notes.append(
                f"a chart of {len(text) / 1024**2:.1f} MB was left out (limit {MAX_FIGURE_BYTES // 1024**2} MB)"
            )
            continue
        total += len(text)
        kept.append(json.loads(text))
    return kept


# ------------------------------------------------------------------------------------- app -> worker: variables
def encode_variables(variables: dict[str, Any]) -> tuple[list[dict[str, str]], list[Any]]:
    """Variables as (descriptions, blobs): tables as Arrow IPC (an Arrow buffer, sent as it is), plain data as JSON.

    No pickle either way: a variable that is neither a table nor plain data is refused with its name.
    """
    specs, blobs = [], []
    for name, value in variables.items():
        kind, blob = _encode_one(str(name), value)
        specs.append({"name": str(name), "type": kind})
        blobs.append(blob)
    return specs, blobs


def _encode_one(name: str, value: Any) -> tuple[str, Any]:
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        import pyarrow as pa

        try:
            table = pa.Table.from_pandas(value)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            # Mixed-type object columns: sent as text, which is what the agent reads them as anyway.
            objects = [c for c in value.columns if value[c].dtype == object]
            table = pa.Table.from_pandas(value.astype(dict.fromkeys(objects, "string")))
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        # The Arrow buffer itself (bytes-like): to_pybytes() would copy the whole table once more.
        return "arrow", sink.getvalue()
    try:
        return "json", json.dumps(value, allow_nan=False).encode()
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"variable {name!r} ({type(value).__name__}) is neither a table nor plain data; the code worker "
            "takes DataFrames and JSON values only"
        ) from error


def decode_variable(kind: str, blob: bytes | bytearray) -> Any:
    """The worker's side of `encode_variables`: an Arrow stream is read in place (no copy of the received frame)."""
    if kind == "arrow":
        import pyarrow as pa

        return pa.ipc.open_stream(pa.py_buffer(blob)).read_all().to_pandas()
    if kind == "json":
        return json.loads(blob)
    raise ValueError(f"unknown variable encoding {kind!r}")
