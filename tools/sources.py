"""Data where it lives: the engine's group-by pushed to DuckDB or a database, today's analysis on the result.

Everything `tools.analysis.analyze` needs is sums of each metric per segment and period. A `Source` answers that
group-by where the data is (pandas in memory, DuckDB over big local files, any Ibis backend such as PostgreSQL),
and the small segment table it returns is loaded by `tools.loading.load_dataset` exactly like an uploaded file:
wide, long and windowed layouts, scenarios and every message stay the loader's. The agent's `df` is that segment
table.

Read only, always: every statement is checked to be one SELECT before it is sent (`tools.sql.check_select`),
database sessions are opened read-only, and a statement that runs past the time limit is cancelled.
"""

from __future__ import annotations

import contextlib
import glob
import io
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import pandas as pd

from tools.loading import DataError, Dataset, _period_candidate, is_period_name, listing, load_dataset
from tools.raw_rows import from_sample
from tools.sql import check_select
from tools.windows import Window

SAMPLE_ROWS = 1000  # rows fetched for the prompt's preview and to recognise a wide layout by its column names
MAX_SEGMENTS = 1_000_000  # a group-by with more segments than this is refused: it would not be a summary
DEFAULT_TIMEOUT_S = 300.0
ROWS_COLUMN = "__rows__"  # the row count of each group, summed into the rows scanned
FILE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "csv", ".txt": "csv"}
URL_SCHEMES = ("duckdb://", "postgresql://", "postgres://")


@dataclass
class Grouped:
    """The answer of a group-by: one row per segment (keys, then each measure's sum) and the rows it read."""

    frame: pd.DataFrame
    rows_scanned: int


class Source(Protocol):
    """Where a table lives, and the only questions the analysis asks of it.

    Attributes:
        name: What messages call it (a file name, a table; never a password).
        engine: What computes the sums: "pandas", "duckdb", "postgres", ...
    """

    name: str
    engine: str

    def kinds(self) -> dict[str, str]:
        """Each column's kind, in table order: "number", "integer", "text", "date", "time", "boolean", "other"."""
        ...

    def sample(self, rows: int = SAMPLE_ROWS) -> pd.DataFrame:
        """At most `rows` rows, for the prompt's preview and for recognising the layout."""
        ...

    def group_sums(self, keys: Sequence[str], measures: Sequence[str], *, max_groups: int) -> Grouped:
        """Sums of `measures` per combination of `keys` that occurs, as float64, with every row counted.

        Raises:
            DataError: When there are more than `max_groups` segments, or the query fails or runs too long.
        """
        ...


class PandasSource:
    """A table already in memory: the group-by is pandas' own (the reference the other engines match)."""

    engine = "pandas"

    def __init__(self, frame: pd.DataFrame, name: str) -> None:
        self.frame, self.name = frame, name

    def kinds(self) -> dict[str, str]:
        return {str(c): _pandas_kind(self.frame[c]) for c in self.frame.columns}

    def sample(self, rows: int = SAMPLE_ROWS) -> pd.DataFrame:
        return self.frame.head(rows).copy()

    def group_sums(self, keys: Sequence[str], measures: Sequence[str], *, max_groups: int) -> Grouped:
        values = self.frame[list(measures)].astype("float64")
        counted = values.assign(**{ROWS_COLUMN: 1}, **{k: self.frame[k] for k in keys})
        if keys:
            frame = counted.groupby(list(keys), dropna=False, sort=False, observed=True).sum(min_count=1)
            frame = frame.reset_index()
        else:
            frame = counted.sum(min_count=1).to_frame().T
        if len(frame) > max_groups:
            raise _too_many_segments(self.name, keys, max_groups)
        rows = int(frame.pop(ROWS_COLUMN).sum())
        return Grouped(frame[[*keys, *measures]], rows)


def _pandas_kind(column: pd.Series) -> str:
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "time"
    return "text"


class IbisSource:
    """A table or a read-only query on any Ibis backend: DuckDB over files, PostgreSQL, and the rest.

    The sums are one `GROUP BY` compiled by Ibis for the backend; only SELECT statements are sent.
    """

    def __init__(self, backend: Any, table: Any, name: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.backend, self.table, self.name, self.timeout_s = backend, table, name, timeout_s
        self.engine = str(backend.name)

    def kinds(self) -> dict[str, str]:
        return {name: _ibis_kind(dtype) for name, dtype in self.table.schema().items()}

    def sample(self, rows: int = SAMPLE_ROWS) -> pd.DataFrame:
        # Decimals as floats: pandas holds them as objects, which no loader takes for numbers.
        decimals = {
            name: self.table[name].cast("float64")
            for name, t in self.table.schema().items()
            if t.is_decimal()
        }
        return self._run(self.table.mutate(**decimals).limit(rows)).to_pandas()

    def group_sums(self, keys: Sequence[str], measures: Sequence[str], *, max_groups: int) -> Grouped:
        table = self.table
        kinds = self.kinds()
        # Dates as ISO text: the loader reads them as a CSV's dates, whatever the database's date type.
        key_columns = {k: table[k].cast("string") if kinds[k] == "date" else table[k] for k in keys}
        sums: dict[str, Any] = {m: table[m].sum().cast("float64") for m in measures}
        sums[ROWS_COLUMN] = table.count()
        grouped = table.group_by(**key_columns).aggregate(**sums) if keys else table.aggregate(**sums)
        arrow = self._run(grouped.limit(max_groups + 1))
        if arrow.num_rows > max_groups:
            raise _too_many_segments(self.name, keys, max_groups)
        frame = arrow.to_pandas()
        rows = int(frame.pop(ROWS_COLUMN).sum())
        return Grouped(frame[[*keys, *measures]], rows)

    def _run(self, expression: Any) -> Any:
        """Runs an Ibis expression as an Arrow table: checked to be a SELECT, cancelled past the time limit."""
        sql = str(self.backend.compile(expression))
        check_select(sql, dialect=_dialect(self.backend), where=f"{self.name}: the generated query")
        timer = None
        if self.engine == "duckdb":  # PostgreSQL cancels on its own (statement_timeout, set on connecting)
            timer = threading.Timer(self.timeout_s, self.backend.con.interrupt)
            timer.daemon = True
            timer.start()
        try:
            if (
                self.engine == "postgres"
            ):  # Ibis' own fetch took 2.4x the query's time at 1M rows: a plain cursor
                return self._fetch(sql)
            return expression.to_pyarrow()
        except Exception as error:
            raise self._explain(error) from error
        finally:
            if timer is not None:
                timer.cancel()

    def _fetch(self, sql: str) -> Any:
        """Runs checked SQL on the connection's own cursor; the rows as an Arrow table."""
        import pyarrow as pa

        with self.backend.con.cursor() as cursor:
            cursor.execute(sql)
            names = [column.name for column in cursor.description]
            rows = cursor.fetchall()
        return pa.Table.from_pandas(pd.DataFrame(rows, columns=names), preserve_index=False)

    def _explain(self, error: Exception) -> DataError:
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if "statement timeout" in text or "Interrupt" in type(error).__name__ or "nterrupted" in text:
            return DataError(
                f"{self.name}: the query ran past the {self.timeout_s:g} s limit and was cancelled. "
                "Choose fewer dimensions or a smaller table, or raise the time limit.",
                setting="timeout",
            )
        if "read-only" in text or "read only" in text:
            return DataError(f"{self.name}: the database refused a write ({text}); this app only reads.")
        return DataError(
            f"{self.name}: the {self.engine} query failed: {text}. Check the table and column names."
        )


def _dialect(backend: Any) -> str | None:
    """sqlglot's name for a backend's SQL (Ibis names its backends after their dialects)."""
    name = str(backend.name)
    return name if name in ("duckdb", "postgres", "bigquery", "snowflake", "mysql", "trino") else None


def _ibis_kind(dtype: Any) -> str:
    if dtype.is_boolean():
        return "boolean"
    if dtype.is_integer():
        return "integer"
    if dtype.is_floating() or dtype.is_decimal():
        return "number"
    if dtype.is_date():
        return "date"
    if dtype.is_timestamp():
        return "time"
    if dtype.is_string():
        return "text"
    return "other"


def _too_many_segments(name: str, keys: Sequence[str], max_groups: int) -> DataError:
    return DataError(
        f"{name}: grouping by {', '.join(map(repr, keys))} gives more than {max_groups:,} segments, "
        "which no summary can explain. Choose fewer dimensions (leave out ids and free text).",
        setting="by",
    )


# ----------------------------------------------------------------------------------------------------------------
# Opening a source: a file, a glob, a DuckDB database or a PostgreSQL URL
# ----------------------------------------------------------------------------------------------------------------


def is_source_url(text: str) -> bool:
    """True for what `open_source` opens and `load_dataset` cannot: a database URL or a glob of files."""
    if text.startswith(URL_SCHEMES) or "://" in text:
        return True
    return (
        any(ch in text for ch in "*?[") and not Path(text).exists()
    )  # `report[1].csv` is a file, not a glob


def redact(url: str) -> str:
    """The URL with any password replaced by ***: what messages, traces and history may show."""
    return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", url)


def open_source(
    location: str,
    *,
    table: str | None = None,
    query: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_limit: str | None = None,
) -> IbisSource:
    """Opens a file, a glob (`data/*.parquet`), `duckdb:///path/db.duckdb?table=sales` or
    `postgresql://user@host:5432/db?table=sales` as a read-only source.

    Credentials come from the URL (never shown: see `redact`) or from the environment as libpq reads it
    (PGPASSWORD, PGUSER, PGHOST, ~/.pgpass).

    Args:
        table: The table to read (a URL's `?table=` otherwise); `schema.table` for another schema.
        query: A read-only SELECT to read instead of a table.
        timeout_s: Seconds a query may run before it is cancelled.
        memory_limit: DuckDB's memory limit (e.g. "1GB"); it spills to disk beyond it.
    """
    import ibis

    if table and query:
        raise DataError("give either a table or a query, not both.", setting="table")
    shown = redact(location)
    if not (location.startswith(URL_SCHEMES) or "://" in location):
        if table or query:
            raise DataError(
                f"{shown}: a table or a query applies to a database (duckdb:///PATH, "
                "postgresql://...); a file or a glob is read whole.",
                setting="table",
            )
        return _open_files(location, timeout_s=timeout_s, memory_limit=memory_limit)
    parts = urlsplit(location)
    options = parse_qs(parts.query)
    listed_table = (options.get("table") or [""])[0] or None
    table = table or (None if query else listed_table)  # a query wins over ?table=
    if parts.scheme == "duckdb":
        path = unquote(parts.path)
        if not Path(path).is_file():
            raise DataError(f"{shown}: no DuckDB database at {path}. Check the path.")
        config: dict[str, Any] = {"enable_external_access": False}  # a query cannot read or write other files
        if memory_limit:
            config["memory_limit"] = memory_limit
        backend = ibis.duckdb.connect(path, read_only=True, **config)
        name = f"{Path(path).name}:{table or 'query'}"
    elif parts.scheme in ("postgresql", "postgres"):
        milliseconds = max(1, int(timeout_s * 1000))
        try:
            backend = ibis.postgres.connect(
                host=parts.hostname or None,
                port=parts.port or 5432,
                user=unquote(parts.username or "") or None,
                password=unquote(parts.password) if parts.password else None,
                database=unquote(parts.path.lstrip("/")) or None,
                # The session can only read, and the server cancels a statement past the limit.
                options=f"-c default_transaction_read_only=on -c statement_timeout={milliseconds}",
                connect_timeout=10,
            )
        except Exception as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            first = first.replace(parts.password or "\0", "***")
            raise DataError(
                f"{shown}: could not connect ({first}). Check the host, port, database and user; the "
                "password comes from PGPASSWORD or ~/.pgpass."
            ) from None
        name = f"{parts.path.lstrip('/') or 'postgres'}.{table or 'query'}"
    else:
        raise DataError(
            f"{shown}: unknown kind of source {parts.scheme!r}. Use a file, a glob, duckdb:///PATH "
            "or postgresql://USER@HOST/DB (other Ibis backends: see the README)."
        )
    return IbisSource(backend, _relation(backend, name, table, query), name, timeout_s=timeout_s)


def _relation(backend: Any, name: str, table: str | None, query: str | None) -> Any:
    """The table or the checked query, as an Ibis table; errors name the table and list those that exist."""
    if query:
        check_select(query, dialect=_dialect(backend))
        try:
            return backend.sql(query, schema=_query_schema(backend, query))
        except DataError:
            raise
        except Exception as error:
            first = str(error).strip().splitlines()[0]
            raise DataError(f"{name}: the query failed: {first}. Fix the SELECT.", setting="query") from None
    if not table:
        raise DataError(
            f"{name}: name the table to read (?table=NAME or --table NAME), or give a SELECT query. "
            f"Tables: {listing(list_tables(backend)) or '(none)'}.",
            setting="table",
        )
    schema, _, bare = table.rpartition(".")
    try:
        return backend.table(bare, database=schema or None)
    except Exception:
        raise DataError(
            f"{name}: there is no table {table!r}. Tables: {listing(list_tables(backend)) or '(none)'}.",
            setting="table",
        ) from None


# PostgreSQL type oids -> Ibis types, for the columns of a query (anything else is read as text).
_POSTGRES_TYPES = {
    16: "boolean",
    20: "int64",
    21: "int16",
    23: "int32",
    700: "float32",
    701: "float64",
    1700: "decimal(38, 9)",
    1082: "date",
    1114: "timestamp",
    1184: "timestamp('UTC')",
}


def _query_schema(backend: Any, query: str) -> dict[str, Any] | None:
    """A query's columns and types, from running it with LIMIT 0: Ibis would create a view to learn them, which a
    read-only PostgreSQL session refuses (and its DuckDB way fails on duckdb 2). None for other backends."""
    probe = f"SELECT * FROM ({query.strip().rstrip(';')}) AS kpi_query LIMIT 0"
    check_select(probe, dialect=_dialect(backend))
    if backend.name == "duckdb":
        from ibis.backends.sql.datatypes import DuckDBType

        relation = backend.con.sql(probe)
        return {
            name: DuckDBType.from_string(str(kind)) for name, kind in zip(relation.columns, relation.types)
        }
    if backend.name != "postgres":
        return None
    with backend.con.cursor() as cursor:
        cursor.execute(probe)
        return {column.name: _POSTGRES_TYPES.get(column.type_code, "string") for column in cursor.description}


def list_tables(backend: Any) -> list[str]:
    """The tables and views a connection can read (its default schema)."""
    try:
        if backend.name == "duckdb":  # Ibis 12's list_tables calls a method duckdb 2 removed
            rows = (
                backend.con.cursor()
                .sql("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
                .fetchall()
            )
            return sorted(str(row[0]) for row in rows)
        return sorted(backend.list_tables())
    except Exception:
        return []


def _open_files(location: str, *, timeout_s: float, memory_limit: str | None) -> IbisSource:
    """A file or a glob of files of one kind, read by DuckDB in place (out of core)."""
    import ibis

    paths = (
        sorted(glob.glob(os.path.expanduser(location))) if any(ch in location for ch in "*?[") else [location]
    )
    if not paths or not all(Path(p).is_file() for p in paths):
        what = "no file matches" if len(paths) != 1 else "no such file"
        raise DataError(
            f"{location}: {what}. Check the path (a glob such as data/*.parquet reads every match)."
        )
    kinds = {FILE_SUFFIXES.get(Path(p).suffix.lower()) for p in paths}
    if None in kinds or len(kinds) != 1:
        raise DataError(
            f"{location}: DuckDB reads Parquet (.parquet) or CSV (.csv, .tsv) files, one kind at a "
            "time. For Excel, upload the file instead."
        )
    config = {"memory_limit": memory_limit} if memory_limit else {}
    backend = ibis.duckdb.connect(**config)
    name = Path(location).name
    try:
        if kinds == {"parquet"}:
            table = backend.read_parquet(paths, table_name="source")
        else:
            table = backend.read_csv(paths, table_name="source")
    except Exception as error:
        first = str(error).strip().splitlines()[0]
        raise DataError(f"{name}: DuckDB could not read it ({first}).") from None
    return IbisSource(backend, table, name, timeout_s=timeout_s)


# ----------------------------------------------------------------------------------------------------------------
# Loading: the group-by where the data lives, then the loader on the segment table
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class SourcedDataset(Dataset):
    """A Dataset whose segment table was computed by a source's engine.

    Attributes:
        engine: What computed the sums ("duckdb", "postgres", "pandas").
        rows_scanned: The rows the engine read (`rows_read` too); `frame` holds one row per segment.
        seconds: How long the group-by took.
        sample: At most SAMPLE_ROWS rows of the source as stored, for the prompt's preview.
    """

    engine: str = "pandas"
    rows_scanned: int = 0
    seconds: float = 0.0
    sample: pd.DataFrame | None = None

    def describe(self) -> dict:
        return {**super().describe(), "engine": self.engine, "rows_scanned": self.rows_scanned}


@dataclass
class Summary:
    """A source summed to one row per segment (and period): what the loader reads instead of the raw rows.

    Attributes:
        table: The segment table as Parquet bytes (small: one row per segment and period).
        engine, name: What computed it, over what (see `Source`).
        rows_scanned: The rows the engine read.
        segments: Rows of `table`.
        seconds: How long the group-by took.
        sample: At most SAMPLE_ROWS rows of the source as stored, for the prompt's preview.
    """

    table: bytes
    engine: str
    name: str
    rows_scanned: int
    segments: int
    seconds: float
    sample: pd.DataFrame

    def note(self) -> str:
        """The line the trace and the page show first: which engine, how many rows."""
        return (
            f"Computed by {self.engine}: {self.rows_scanned:,} rows of {self.name} summed into "
            f"{self.segments:,} segments in {self.seconds:.1f} s."
        )


def summarise(
    source: Source,
    *,
    by: Sequence[str] | None = None,
    period_column: str | None = None,
    long: bool = False,
    max_segments: int = MAX_SEGMENTS,
) -> Summary:
    """Sums a source per segment where it lives.

    A wide table (before/after columns, recognised by name on a sample) sums its metric columns (every
    scenario's) per segment; any other table (`long`: a period column or dates asked for) sums every numeric
    column per segment and period or date. Text, dates and flags are the group keys; with `by`, only those and
    what holds time.
    """
    kinds = source.kinds()
    sample = source.sample(SAMPLE_ROWS)
    named = [*(by or []), *([period_column] if period_column else [])]
    missing = [c for c in named if c not in kinds]
    if missing:
        raise DataError(
            f"{source.name}: there is no column {', '.join(map(repr, missing))}. Columns: "
            f"{listing(list(kinds))}.",
            setting="by" if by else "period_column",
        )
    measures = None if long or period_column else _wide_columns(sample, source.name)
    if measures is None:  # a long table: every numeric column but a period given as a number (year 2024)
        measures = [
            c
            for c, k in kinds.items()
            if k in ("number", "integer") and c not in named and not (k == "integer" and is_period_name(c))
        ]
    # Group keys: text, dates and flags, a period given as a number (year 2024) and whatever was named; other
    # numeric columns are neither summed nor grouped by (the loader ignores them too).
    keys = [
        c
        for c, k in kinds.items()
        if c not in measures
        and k != "other"
        and (k not in ("number", "integer") or c in named or is_period_name(c))
    ]
    if by:  # the dimensions asked for, and what holds the periods
        keys = [c for c in keys if c in by or c == period_column or _holds_time(c, kinds)]
    _check_numbers_as_text(sample, keys, source.name, named)
    started = time.perf_counter()
    grouped = source.group_sums(keys, measures, max_groups=max_segments)
    seconds = time.perf_counter() - started
    order = [c for c in kinds if c in keys or c in measures]  # the source's column order, as a file has it
    buffer = io.BytesIO()
    grouped.frame[order].to_parquet(buffer, index=False)
    return Summary(
        buffer.getvalue(),
        source.engine,
        source.name,
        grouped.rows_scanned,
        len(grouped.frame),
        seconds,
        sample,
    )


def load_source(
    source: Source,
    *,
    by: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    after: str | None = None,
    period_column: str | None = None,
    periods: Sequence[str] | None = None,
    compare: str | None = None,
    windows: tuple[Window, Window] | None = None,
    max_segments: int = MAX_SEGMENTS,
) -> SourcedDataset:
    """Loads a source like `load_dataset` loads a file, with the group-by done by the source's engine.

    The segment table (`summarise`) goes through the loader, so layouts, scenarios, windows and messages are
    those of a file with the same segments.
    """
    long = bool(period_column or periods or compare or windows)
    summary = summarise(source, by=by, period_column=period_column, long=long, max_segments=max_segments)
    dataset = load_dataset(
        summary.table,
        name=source.name,
        by=by,
        metrics=metrics,
        after=after,
        period_column=period_column,
        periods=periods,
        compare=compare,
        windows=windows,
    )
    return sourced(dataset, summary)


def sourced(dataset: Dataset, summary: Summary) -> SourcedDataset:
    """The dataset loaded from a summary's segment table, saying which engine computed it over how many rows."""
    values = {f.name: getattr(dataset, f.name) for f in fields(Dataset)}
    values["rows_read"] = summary.rows_scanned
    values["warnings"] = [summary.note(), *dataset.warnings]
    # The loader saw the segment table; the raw rows are the source's own, as its engine returned them.
    values["raw_rows"] = from_sample(summary.sample, dataset.dimensions, summary.name, summary.rows_scanned)
    return SourcedDataset(
        **values,
        engine=summary.engine,
        rows_scanned=summary.rows_scanned,
        seconds=summary.seconds,
        sample=summary.sample,
    )


def _holds_time(column: str, kinds: dict[str, str]) -> bool:
    return kinds[column] in ("date", "time") or is_period_name(column)


def _wide_columns(sample: pd.DataFrame, name: str) -> list[str] | None:
    """The metric columns of a wide table (every scenario's), recognised on a sample; None for a long table."""
    if sample.empty:
        return None
    buffer = io.BytesIO()
    sample.to_parquet(buffer, index=False)
    try:
        layout = load_dataset(buffer.getvalue(), name=name)
    except DataError:
        return None
    if layout.layout != "wide":
        return None
    used = {
        c for info in layout.columns.values() for c in (info.before, info.after, *info.after_alternatives)
    }
    used |= {c for columns in layout.left_out.values() for c in columns}
    # Left-out metrics' "before" columns are not in `columns`: any column named for a period counts.
    numeric = [c for c in sample.columns if pd.api.types.is_numeric_dtype(sample[c])]
    return [str(c) for c in numeric if c in used or _period_candidate(str(c)) is not None]


def _check_numbers_as_text(sample: pd.DataFrame, keys: list[str], name: str, chosen: Sequence[str]) -> None:
    """A text column of amounts ("1,234.50 €", "12%") would be grouped by, not summed: say how to fix it.

    Codes written as digits (zip codes, store numbers) are text on purpose: only amounts with a decimal point,
    separators, a currency or a percent sign count, and never a column chosen as a dimension.
    """
    from tools.numbers import is_mostly_numeric

    for column in keys:
        values = sample[column] if column in sample.columns else None
        if values is None or column in chosen or is_period_name(column):
            continue
        if (
            not pd.api.types.is_string_dtype(values.dtype)
            or len(values.dropna()) < 5
            or values.nunique() <= 24
        ):
            continue
        formatted = values.dropna().astype(str).str.contains(r"[.,%$€£¥()]|\d\s\d", regex=True).mean() > 0.5
        if formatted and is_mostly_numeric(values):
            raise DataError(
                f"{name}: column {column!r} holds numbers written as text (e.g. {values.iloc[0]!r}); "
                "the database path sums only numeric columns. Store it as a number (CAST it in a "
                "--query), or upload the file instead."
            )


def open_and_load(
    location: str,
    *,
    table: str | None = None,
    query: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_limit: str | None = None,
    **options: Any,
) -> SourcedDataset:
    """`open_source` then `load_source`, closing the connection afterwards."""
    source = open_source(location, table=table, query=query, timeout_s=timeout_s, memory_limit=memory_limit)
    try:
        return load_source(source, **options)
    finally:
        _close(source)


def _close(source: IbisSource) -> None:
    disconnect: Callable[[], None] | None = getattr(source.backend, "disconnect", None)
    if disconnect is not None:
        with contextlib.suppress(Exception):  # closing is best effort: the answer is already computed
            disconnect()


# ----------------------------------------------------------------------------------------------------------------
# Operator-configured connections: [connections.NAME] in .streamlit/secrets.toml
# ----------------------------------------------------------------------------------------------------------------


def secrets_paths() -> list[Path]:
    """Where Streamlit looks for secrets: the project's .streamlit/secrets.toml, then the user's."""
    return [Path.cwd() / ".streamlit" / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml"]


def connections(secrets: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The `[connections.NAME]` tables that have a `url` (Streamlit's convention), by name.

    Args:
        secrets: Parsed secrets (the page passes `st.secrets`); read from `secrets_paths()` when None.
    """
    if secrets is None:
        import tomllib

        secrets = {}
        for path in reversed(secrets_paths()):  # the project's file wins over the user's
            if path.is_file():
                try:
                    secrets = {**secrets, **tomllib.loads(path.read_text(encoding="utf-8"))}
                except (OSError, tomllib.TOMLDecodeError) as error:
                    raise DataError(f"{path}: could not be read as TOML ({error}).") from None
    found = secrets.get("connections") or {}
    return {
        str(name): dict(value) for name, value in found.items() if hasattr(value, "get") and value.get("url")
    }


def connection_url(name: str, secrets: dict[str, Any] | None = None) -> str:
    """The URL of connection `name`, with its `table` (when set) as `?table=`; never printed (see `redact`)."""
    known = connections(secrets)
    if name not in known:
        raise DataError(
            f"no connection {name!r} in .streamlit/secrets.toml. Connections: "
            f'{listing(list(known)) or "(none)"}; add [connections.{name}] with url = "...".',
            setting="table",
        )
    settings = known[name]
    url = str(settings["url"])
    if settings.get("table") and "table=" not in url:
        url += ("&" if "?" in url else "?") + f"table={settings['table']}"
    return url
