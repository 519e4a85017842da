"""A bounded sample of a file's raw rows (before they were summed into segments), kept at load time.

The agent's `df` is the segment table; sometimes it needs to see the rows the file really holds (how a value is
written, an id column, the rows behind one segment). The loader keeps at most `KEPT_ROWS` of them (`keep_rows`),
never a second copy of a big file, and the `raw_rows` tool (`tools.kpi_tools.RAW_ROWS`) answers from that sample:
at most `MAX_LIMIT` rows and `MAX_ANSWER_BYTES` per call, optionally only those of one segment or slice.

Which rows are kept: the first rows of each segment, in file order (`k` = `KEPT_ROWS` // segments of them, at
least one, so that every segment has a row when there are at most `KEPT_ROWS` segments), up to `KEPT_ROWS` rows in
all. A source summed where it lives (a database, DuckDB) keeps the first rows it returned (`from_sample`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd

MAX_LIMIT = 1_000  # rows one call may return
DEFAULT_LIMIT = 20
MAX_ANSWER_BYTES = 1024**2  # one call's rows in memory (pandas' deep count, above their Arrow IPC size)
KEPT_ROWS = 10_000  # rows kept at load time, at most
KEPT_CELLS = 1_000_000  # and at most this many cells (a file of 10,000 columns keeps 100 rows)
KEPT_BYTES = 32 * 1024**2  # and at most this much memory
CELL_CHARS = 500  # a kept text cell longer than this is cut (with "…"): a 10 MB cell is not kept whole
ROW_INDEX = "row"  # the kept rows' index: the file's row number (header = row 1)


@dataclass(frozen=True)
class RawRows:
    """The raw rows kept from one file or source.

    Attributes:
        frame: The kept rows: the file's own columns as read (values not yet parsed as numbers), text cut to
            `CELL_CHARS`; indexed by the file's row number (`row`) for a file.
        dimensions: The dataset's dimensions (columns of `frame`).
        source: The file's name, for messages.
        rows_in_file: Data rows of the file (or rows the source's engine scanned).
        chosen: How the rows were chosen, in words.
    """

    frame: pd.DataFrame
    dimensions: tuple[str, ...]
    source: str
    rows_in_file: int
    chosen: str

    @cached_property
    def labels(self) -> pd.DataFrame:
        """The segment of each kept row as `df` names it (one text column per dimension, same index).

        Worked out when a call first names a segment, not at load time: most runs never ask.
        """
        from tools.loading import as_dimension

        return pd.DataFrame(
            {d: as_dimension(self.frame[d]).astype(str).to_numpy() for d in self.dimensions},
            index=self.frame.index,
        )

    @property
    def nbytes(self) -> int:
        """The memory the kept rows take (deep)."""
        return int(self.frame.memory_usage(deep=True).sum())


# ---- at load time ----------------------------------------------------------------------------------------------


def keep_rows(
    raw: pd.DataFrame,
    dimensions: Sequence[str],
    segments: int,
    source: str,
    file_rows: np.ndarray | None = None,
) -> RawRows:
    """The bounded sample of a file's raw table, taken while the loader still holds it.

    Args:
        raw: The file's rows as read (`tools.loading.read_table`).
        dimensions: The dataset's dimensions (columns of `raw`).
        segments: How many segments the dataset has (rows of its `df`).
        source: The file's name.
        file_rows: The file's row number of each raw row (None: row i is file row i + 2).
    """
    budget = max(1, min(KEPT_ROWS, KEPT_CELLS // max(1, raw.shape[1])))
    per_segment = max(1, min(MAX_LIMIT, budget // max(1, segments)))
    if len(raw) <= budget:
        positions = np.arange(len(raw))
        chosen = "every row of the file"
    else:
        positions = _first_rows_of_each_segment(raw, list(dimensions), per_segment, budget, segments)
        chosen = (
            f"the first {per_segment:,} row{'s' if per_segment > 1 else ''} of each segment in file order, "
            f"{len(positions):,} rows in all"
        )
    rows = file_rows[positions] if file_rows is not None else positions + 2
    frame = raw.iloc[positions]
    frame.index = pd.Index(rows, name=ROW_INDEX)
    return _bounded(frame, dimensions, source, len(raw), chosen)


def from_sample(sample: pd.DataFrame, dimensions: Sequence[str], source: str, rows_scanned: int) -> RawRows:
    """The raw rows of a source summed where it lives: the first rows its engine returned (`Source.sample`)."""
    budget = max(1, min(KEPT_ROWS, KEPT_CELLS // max(1, sample.shape[1])))
    frame = sample.head(budget).reset_index(drop=True)
    chosen = f"the first {len(frame):,} rows the source returned"
    return _bounded(frame, [d for d in dimensions if d in frame.columns], source, rows_scanned, chosen)


def _first_rows_of_each_segment(
    raw: pd.DataFrame, dimensions: list[str], per_segment: int, budget: int, segments: int
) -> np.ndarray:
    """Positions of the first `per_segment` rows of each segment, in file order, at most `budget` of them.

    Read in growing chunks, so a file whose first rows already fill the sample (a million segments) costs one
    small chunk, not a pass over every row. Segments are told apart by a hash of their values (64 bits).
    """
    if not dimensions:
        return np.arange(min(len(raw), budget))
    seen: dict[int, int] = {}  # segment hash -> rows of it met so far
    chosen: list[np.ndarray] = []
    kept = full = 0
    start, size = 0, max(2 * budget, 4096)
    while start < len(raw) and kept < budget and full < segments:
        chunk = raw.iloc[start : start + size][dimensions]
        hashes = pd.util.hash_pandas_object(chunk, index=False).to_numpy()
        distinct, inverse, counts = np.unique(hashes, return_inverse=True, return_counts=True)
        before = (
            np.fromiter((seen.get(h, 0) for h in distinct.tolist()), dtype=np.int64, count=len(distinct))
            if seen
            else np.zeros(len(distinct), dtype=np.int64)
        )
        # Each row's place among its segment's rows: rows met in earlier chunks, then its rank in this chunk.
        order = np.argsort(inverse, kind="stable")
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        rank = np.empty(len(hashes), dtype=np.int64)
        rank[order] = np.arange(len(hashes)) - starts
        take = np.flatnonzero(before[inverse] + rank < per_segment)
        chosen.append(take + start)
        kept += len(take)
        after = before + counts
        full += int(((before < per_segment) & (after >= per_segment)).sum())
        start += size
        if kept < budget and full < segments and start < len(raw):  # another chunk to read: remember counts
            seen.update(zip(distinct.tolist(), after.tolist(), strict=True))
        size *= 2
    return np.concatenate(chosen)[:budget] if chosen else np.arange(0)


def _bounded(frame: pd.DataFrame, dimensions: Sequence[str], source: str, rows: int, chosen: str) -> RawRows:
    """The kept rows as plain values, long text cut, within `KEPT_BYTES`."""
    columns: dict[Any, pd.Series] = {}
    size = 8 * len(frame)  # the index
    for column in frame.columns:
        values = frame[column]
        dtype = values.dtype
        # Text as plain objects: a categorical would carry (and send) every value of the whole file's column.
        if pd.api.types.is_object_dtype(dtype) or isinstance(dtype, (pd.StringDtype, pd.CategoricalDtype)):
            values, text_bytes = _cut_text(values.astype(object))
            size += text_bytes
        else:
            values = values.copy()  # never a view into the loader's table, which is let go after loading
            size += int(values.memory_usage(index=False, deep=True))
        columns[column] = values
    kept = pd.DataFrame(columns, index=frame.index)
    kept.columns = frame.columns
    if size > KEPT_BYTES and len(kept) > 1:
        keep = max(1, int(len(kept) * KEPT_BYTES / size))
        kept = kept.head(keep)
        chosen += f", cut to the first {keep:,} by size"
    return RawRows(kept, tuple(dimensions), source, rows, chosen)


def _cut_text(column: pd.Series) -> tuple[pd.Series, int]:
    """Text cells of at most `CELL_CHARS` characters (other values as they are), and about the bytes they take."""
    lengths = np.fromiter(
        (len(v) if isinstance(v, str) else 0 for v in column), dtype=np.int64, count=len(column)
    )
    long = lengths > CELL_CHARS
    if long.any():
        column = column.copy()
        column[long] = column[long].map(lambda v: v[:CELL_CHARS] + "…")
    # A Python str is about 50 bytes plus its characters (up to 4 bytes each); a pointer is 8.
    return column, int(np.minimum(lengths, CELL_CHARS + 1).sum()) + 58 * len(column)


# ---- the tool --------------------------------------------------------------------------------------------------


def raw_rows(rows: RawRows | None, limit: Any = DEFAULT_LIMIT, segment: Any = None) -> pd.DataFrame:
    """Up to `limit` kept raw rows, optionally only those of one segment (or slice), within `MAX_ANSWER_BYTES`.

    Raises:
        ValueError: A limit that is not a whole number from 1 to `MAX_LIMIT`, a segment that is not a dict of
            dimension -> value, or no kept row in that segment; each message says what to ask instead.
        KeyError: A segment naming a column that is not a dimension (the message lists the dimensions).
    """
    count = _limit(limit)
    if rows is None:
        raise ValueError("no raw rows were kept for this table; use df (one row per segment) instead")
    frame = rows.frame
    if segment is not None:
        frame = frame.loc[_in_segment(rows, segment)]
    picked = frame.head(count)
    fitted = _fit_bytes(picked)
    note = (
        f"{len(fitted):,} of the {len(rows.frame):,} raw rows kept from {rows.source} ({rows.chosen}); "
        f"the file has {rows.rows_in_file:,} rows. Raw rows are the file as written, before summing: "
        "df holds the segments."
    )
    if len(fitted) < len(picked):
        note += (
            f" Cut from {len(picked):,} to {len(fitted):,} rows to stay within {MAX_ANSWER_BYTES:,} bytes."
        )
    fitted.attrs["note"] = note
    return fitted


def _limit(limit: Any) -> int:
    if isinstance(limit, float) and limit.is_integer():
        limit = int(limit)  # 20.0 from a JSON call
    if isinstance(limit, bool) or not isinstance(limit, Integral) or int(limit) < 1:
        raise ValueError(f"limit must be a whole number from 1 to {MAX_LIMIT:,}, e.g. raw_rows(limit=20)")
    if int(limit) > MAX_LIMIT:
        raise ValueError(
            f"limit={int(limit):,} is over the cap of {MAX_LIMIT:,} rows a call; ask for at most {MAX_LIMIT:,} "
            "(or one segment's rows with segment={...}); df holds every segment"
        )
    return int(limit)


def _in_segment(rows: RawRows, segment: Any) -> np.ndarray:
    """A mask of the kept rows that belong to the segment (every dimension it names has its value)."""
    if not isinstance(segment, Mapping) or not segment:
        raise ValueError(
            "segment must be a dict of dimension -> value, e.g. segment={'country': 'France'} (or none for "
            "any rows)"
        )
    labels = rows.labels
    known = list(labels.columns)
    mask = np.ones(len(labels), dtype=bool)
    for name, value in segment.items():
        if name not in known:
            raise KeyError(f"no dimension {str(name)[:200]!r}; dimensions: {', '.join(map(str, known))}")
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ValueError(
                f"segment[{name!r}] must be one value of {name}, as df writes it (text or a number)"
            )
        mask &= (labels[name] == _label(value)).to_numpy()
    if not mask.any():
        wanted = ", ".join(f"{name}={_label(value)[:80]!r}" for name, value in segment.items())
        first = next(iter(segment))
        values = list(dict.fromkeys(labels[first].tolist()))
        shown = ", ".join(v[:40] for v in values[:12]) + (
            f" and {len(values) - 12:,} more" if len(values) > 12 else ""
        )
        raise ValueError(
            f"no raw row of {wanted} among the {len(labels):,} rows kept from {rows.source} ({rows.chosen}); "
            f"values of {first} there: {shown}. Check the value against df[{first!r}]."
        )
    return mask


def _label(value: Any) -> str:
    """A segment value as `df` writes it: text, stripped; a whole float as an integer (2024.0 -> "2024")."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text[:CELL_CHARS] + "…" if len(text) > CELL_CHARS else text  # as the kept cell was cut


def _fit_bytes(frame: pd.DataFrame) -> pd.DataFrame:
    """The first rows of `frame` that fit `MAX_ANSWER_BYTES` (at least one row, its text already cut)."""
    if frame.empty:
        return frame.copy()
    size = int(frame.memory_usage(deep=True).sum())
    if size <= MAX_ANSWER_BYTES:
        return frame.copy()
    per_row = np.cumsum(_row_bytes(frame))
    keep = max(1, int(np.searchsorted(per_row, MAX_ANSWER_BYTES, side="right")))
    return frame.head(keep).copy()


def _row_bytes(frame: pd.DataFrame) -> np.ndarray:
    """Each row's bytes, as pandas' deep memory count reckons them (numbers 8, text its object size)."""
    import sys

    sizes = np.full(len(frame), 8 * (1 + frame.shape[1]), dtype=np.int64)
    for column in frame.columns:
        if pd.api.types.is_object_dtype(frame[column].dtype):
            sizes += np.fromiter((sys.getsizeof(v) for v in frame[column]), dtype=np.int64, count=len(frame))
    return sizes


def tool_answer(rows: pd.DataFrame) -> dict[str, Any]:
    """What the tool-calling agent's model reads: the rows (with their file row number) and the note."""
    records = rows.reset_index() if rows.index.name == ROW_INDEX else rows
    return {"note": rows.attrs.get("note", ""), "rows": records.to_dict(orient="records")}
