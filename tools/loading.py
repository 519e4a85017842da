"""Load a before/after metrics file into one tidy table: one row per segment, `<metric>_before` / `<metric>_after`.

Reads CSV, TSV, semicolon or pipe files (delimiter sniffed), Excel (.xlsx) and Parquet, in a wide layout
(`revenue_before`, `revenue_after`, ...) or a long one (a period column with two values). Every problem
with the file is a `DataError` whose message names the file, row or column and says what to do.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import pandas as pd

from tools.numbers import is_mostly_numeric, parse_number_column
from tools.periods import Label, parse_periods, time_order
from tools.windows import Window, WindowError, preset_windows

if TYPE_CHECKING:
    from tools.raw_rows import RawRows

DEFAULT_MAX_BYTES = 1024 * 1024 * 1024  # 1 GiB; the CLI and the page can lower it.
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
MISSING_LABEL = "(missing)"
# An .xlsx is a zip of XML; openpyxl needs about 2 bytes of memory per unpacked byte.
EXCEL_MAX_UNPACKED_BYTES = 512 * 1024 * 1024
CSV_BLOCK_BYTES = 4 << 20  # several blocks for a big file, so that both cores parse
# Text columns with up to this many distinct values (per block) are read dictionary-encoded.
DICTIONARY_MAX_CARDINALITY = 1 << 16

# Pairs of words that mark the earlier and the later period in a column name or a period value.
PERIOD_WORD_PAIRS: list[tuple[str, str]] = [
    ("before", "after"),
    ("pre", "post"),
    ("prev", "curr"),
    ("previous", "current"),
    ("prior", "current"),
    ("old", "new"),
    ("last", "this"),
    ("ly", "ty"),
    ("baseline", "current"),
    ("base", "new"),
    ("control", "treatment"),
    ("start", "end"),
]
_BEFORE_WORDS = {before for before, _ in PERIOD_WORD_PAIRS}
_AFTER_WORDS = {after for _, after in PERIOD_WORD_PAIRS}
_PERIOD_COLUMN_NAMES = {
    "period",
    "periods",
    "date",
    "day",
    "week",
    "month",
    "quarter",
    "year",
    "time",
    "snapshot",
    "version",
    "phase",
    "window",
    "when",
    "timeframe",
    "time_period",
    "wave",
    "release",
}
_YEAR = re.compile(r"^(19|20)\d{2}$")
_NAME_SPLIT = re.compile(r"[\s_\-.]+")


def listing(names: Iterable[object], limit: int = 12) -> str:
    """Names for a message, at most `limit` of them: a file with 10,000 columns must not print them all."""
    texts = [str(n) for n in names]
    shown = ", ".join(texts[:limit])
    return shown + (f" and {len(texts) - limit:,} more" if len(texts) > limit else "")


class DataError(ValueError):
    """A problem with the user's file. The message says what is wrong and what to do about it.

    Attributes:
        setting: The setting that fixes it (`periods`, `period_column`, `metric`, `by`, `after`, `max_size`), so
            that each surface can name its own control: a flag in the CLI, a picker in the page. The message itself
            names neither.
    """

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


@dataclass
class MetricColumns:
    """Where one metric came from in the file.

    Attributes:
        name: The metric's name in the tidy table (`revenue` for `revenue_before` / `revenue_after`).
        before: The file's column holding the earlier period.
        after: The file's column chosen for the later period.
        after_alternatives: Other columns that could serve as the later period (other scenarios).
        percent: True when the file wrote the values with a `%` sign (read as percent points).
        scenario: The scenario `after` belongs to (`scenario_2` for `users_after_scenario_2`); None when the
            file has one "after" column per metric.
        periods: The earlier and the later period this metric's two columns hold.
    """

    name: str
    before: str
    after: str
    after_alternatives: list[str] = field(default_factory=list)
    percent: bool = False
    scenario: str | None = None
    periods: tuple[str, str] = ("before", "after")


@dataclass
class Dataset:
    """A loaded file: one row per segment and a before/after column pair per metric.

    Attributes:
        frame: Dimensions (text) and float columns `<metric>_before`, `<metric>_after`.
        dimensions: The dimension columns, in file order.
        metrics: Metric names, in file order.
        source: The file's name, for messages.
        layout: "wide" (before/after columns) or "long" (a period column).
        periods: Labels of the earlier and the later period ("before"/"after", "2023"/"2024", ...).
        columns: Where each metric came from in the file.
        warnings: What was fixed or left out while loading, in words for the user.
        rows_read: Data rows in the file.
        period_column: The period column of a long file.
        scenario: The scenario every metric's "after" values come from; None when the file has no scenarios.
        scenarios: Every scenario of the file, in file order (several "after" columns per metric).
        left_out: Metrics the file has but the chosen scenario lacks, with their own "after" columns.
        not_additive: Metrics whose values do not add up across segments (averages, rates, deviations), with
            what they look like ("an average"); listed after the others, never chosen by default.
        ignored: Columns that are neither a metric nor a dimension (ids, free text, constants), with why.
        windows: For a time series, the (earlier, later) windows compared.
        daily: For a time series, the total of each metric per date over every date of the file (`date` as
            datetime64, one column per metric): the trend, and when in the later window the change happened.
        averaged: For a time series, whether the windows are compared on daily averages (unequal lengths).
        raw_rows: A bounded sample of the file's rows as written, kept for the `raw_rows` tool (`tools.raw_rows`).
    """

    frame: pd.DataFrame
    dimensions: list[str]
    metrics: list[str]
    source: str
    layout: str
    periods: tuple[str, str]
    columns: dict[str, MetricColumns]
    warnings: list[str]
    rows_read: int
    period_column: str | None = None
    scenario: str | None = None
    scenarios: list[str] = field(default_factory=list)
    left_out: dict[str, list[str]] = field(default_factory=dict)
    not_additive: dict[str, str] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)
    windows: tuple[Window, Window] | None = None
    daily: pd.DataFrame | None = None
    averaged: bool = False
    raw_rows: RawRows | None = field(default=None, repr=False, compare=False)

    def find_metric(self, metric: str) -> str:
        """The metric's name as the file writes it, matched without regard to case and spacing."""
        if metric in self.metrics:
            return metric
        wanted = normal_name(metric)
        for known in [*self.metrics, *self.left_out]:
            if normal_name(known) == wanted:
                return known
        return metric

    def find_dimension(self, dimension: str) -> str:
        """The dimension's name as the file writes it, matched without regard to case and spacing."""
        wanted = normal_name(dimension)
        return next((d for d in self.dimensions if d == dimension or normal_name(d) == wanted), dimension)

    def metric_columns(self, metric: str) -> tuple[str, str]:
        """The tidy table's before and after column for a metric (named in any case)."""
        metric = self.find_metric(metric)
        if metric not in self.metrics and metric in self.left_out:
            raise DataError(
                f"{self.source}: {metric} has no column for scenario {self.scenario!r} (its after columns: "
                f"{', '.join(self.left_out[metric])}). Choose a scenario that {metric} has."
            )
        if metric not in self.metrics:
            raise DataError(
                f"{self.source}: there is no metric '{metric}'. Metrics in this file: {listing(self.metrics)}.",
                setting="metric",
            )
        return f"{metric}_before", f"{metric}_after"

    def describe(self) -> dict:
        """A small JSON-able summary of the layout (no data values)."""
        return {
            "source": self.source,
            "layout": self.layout,
            "rows_read": self.rows_read,
            "segments": len(self.frame),
            "dimensions": list(self.dimensions),
            "metrics": list(self.metrics),
            "periods": list(self.periods),
            "period_column": self.period_column,
            "scenario": self.scenario,
            "scenarios": list(self.scenarios),
            "not_additive": dict(self.not_additive),
            "windows": [w.label() for w in self.windows] if self.windows else None,
            "ignored": dict(self.ignored),
            "columns": {
                name: {"before": c.before, "after": c.after, "after_alternatives": c.after_alternatives}
                for name, c in self.columns.items()
            },
        }


# --------------------------------------------------------------------------------------------------------------
# Reading bytes into a raw table
# --------------------------------------------------------------------------------------------------------------


class FileSource:
    """The file being loaded: bytes (an upload) or a path on disk, which is read whole only when needed.

    pyarrow and pandas read a path themselves (no 200 MB copy of a big CSV held beside the table); the whole
    file's bytes are read only to transcode UTF-16 or to point at a bad line in a message.
    """

    def __init__(self, name: str, *, data: bytes | None = None, path: Path | None = None) -> None:
        self.name, self.path, self._data = name, path, data
        self.size = len(data) if data is not None else self._file().stat().st_size

    def _file(self) -> Path:
        """The path on disk; a source always has its bytes or its path."""
        if self.path is None:
            raise ValueError(f"{self.name}: a source needs its bytes or its path")
        return self.path

    def head(self, size: int = 65536) -> bytes:
        if self._data is not None:
            return self._data[:size]
        with open(self._file(), "rb") as file:
            return file.read(size)

    def data(self) -> bytes:
        if self._data is None:
            self._data = self._file().read_bytes()
        return self._data

    def replace(self, data: bytes) -> None:
        """Holds transcoded bytes instead of the file's own."""
        self._data, self.path, self.size = data, None, len(data)

    def readable(self) -> str | io.BytesIO:
        """What pyarrow and pandas read: the path, or the bytes as a file object."""
        return str(self.path) if self._data is None else io.BytesIO(self._data)


def open_source(source: str | os.PathLike | bytes | BinaryIO, name: str | None, max_bytes: int) -> FileSource:
    """The file to load, refused when over `max_bytes` before any of it is read."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = name or path.name
        if not path.exists():
            raise DataError(f"{name}: no such file. Check the path.")
        if path.is_dir():
            raise DataError(f"{name}: is a folder, not a file.")
        size = path.stat().st_size
        if size > max_bytes:
            raise DataError(_too_large(name, size, max_bytes), setting="max_size")
        return FileSource(name, path=path)
    data = bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) else source.read(max_bytes + 1)
    name = name or getattr(source, "name", None) or "uploaded file"
    if len(data) > max_bytes:
        raise DataError(_too_large(name, len(data), max_bytes), setting="max_size")
    return FileSource(name, data=data)


def _too_large(name: str, size: int, max_bytes: int) -> str:
    return (
        f"{name}: the file is {size / 1e6:,.1f} MB, over the {max_bytes / 1e6:,.0f} MB limit. "
        "Aggregate it to one row per segment first, or raise the size limit."
    )


def read_table(source: FileSource) -> tuple[pd.DataFrame, np.ndarray | None, list[str]]:
    """Parses a file into a raw table of the file's own columns.

    Returns:
        The table, the spreadsheet row number of each of its rows (header = row 1; None when row i is simply
        i + 2), and warnings.
    """
    name = source.name
    head = source.head()
    suffix = Path(name).suffix.lower()
    # isspace stops at the first other byte; a file with only blank head is read whole to be sure
    if not source.size or (head.isspace() and (source.size <= len(head) or source.data().isspace())):
        raise DataError(
            f"{name}: the file is empty. Upload a table with a header row and one row per segment."
        )
    file_format = next((f for f in FILE_FORMATS.values() if f.matches(head, suffix)), TEXT_FORMAT)
    return file_format.read(source)


def _sheet(reader: Callable[[FileSource], tuple[pd.DataFrame, list[str]]]) -> Reader:
    """A reader of a format whose cells come typed (Excel, Parquet): names cleaned, blank rows' numbers kept."""

    def read(source: FileSource) -> tuple[pd.DataFrame, np.ndarray | None, list[str]]:
        frame, warnings = reader(source)
        return _finish_sheet(frame, source.name, warnings)

    return read


def _refuse(message: str) -> Reader:
    """A "reader" of a format that is recognised only to say what to do instead."""

    def read(source: FileSource) -> tuple[pd.DataFrame, np.ndarray | None, list[str]]:
        raise DataError(f"{source.name}: {message}")

    return read


def _finish_sheet(
    frame: pd.DataFrame, name: str, warnings: list[str]
) -> tuple[pd.DataFrame, np.ndarray | None, list[str]]:
    frame = _clean_column_names(frame, name)
    if frame.empty:
        raise DataError(f"{name}: the table has a header but no data rows.")
    # Spreadsheet row numbers survive the blank rows dropped above.
    rows = frame.index.to_numpy() + 2
    return frame.reset_index(drop=True), rows, warnings


# A reader: the file -> (its raw table, each row's spreadsheet row number or None, warnings); see `read_table`.
Reader = Callable[[FileSource], tuple[pd.DataFrame, np.ndarray | None, list[str]]]


@dataclass(frozen=True)
class FileFormat:
    """A file format the loader reads, recognised by its first bytes or its file name's suffix.

    Attributes:
        name: How messages name it.
        suffixes: File name endings (lower case, with the dot).
        magic: First bytes any file of the format starts with.
        read: Its reader (`Reader`).
    """

    name: str
    suffixes: frozenset[str]
    magic: tuple[bytes, ...]
    read: Reader

    def matches(self, head: bytes, suffix: str) -> bool:
        return suffix in self.suffixes or any(head.startswith(magic) for magic in self.magic)


# Tried in order; a file no entry matches is read as delimited text (`TEXT_FORMAT`). A new format is one entry.
FILE_FORMATS: dict[str, FileFormat] = {
    "excel": FileFormat(
        "Excel", frozenset(EXCEL_SUFFIXES), (b"PK\x03\x04",), _sheet(lambda s: (_read_excel(s), []))
    ),
    "parquet": FileFormat(
        "Parquet", frozenset(PARQUET_SUFFIXES), (b"PAR1",), _sheet(lambda s: _read_parquet(s))
    ),
    "old-excel": FileFormat(
        "old Excel",
        frozenset({".xls"}),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),
        _refuse("old Excel (.xls) files are not supported. Save it as .xlsx or CSV."),
    ),
}


def row_number(rows: np.ndarray | None, position: int) -> int:
    """The file's row number of the raw table's row at `position` (see `read_table`)."""
    return int(rows[position]) if rows is not None else position + 2


def _read_excel(source: FileSource) -> pd.DataFrame:
    name = source.name
    _check_unpacked_size(source)
    try:
        frame = pd.read_excel(source.readable(), sheet_name=0, engine="openpyxl")
    except Exception as error:  # openpyxl raises many types for broken files
        raise DataError(
            f"{name}: could not be read as an Excel workbook ({_first_line(error)}). "
            "Save it again as .xlsx or export a CSV."
        ) from error
    return frame.dropna(how="all")


def _check_unpacked_size(source: FileSource) -> None:
    """Refuses a workbook whose parts unpack past EXCEL_MAX_UNPACKED_BYTES: a 1 MB .xlsx can expand to 1 GiB of
    XML, which openpyxl then holds as 2.2 GB of cells. The archive's directory says the sizes without unpacking."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(source.data()) if source.path is None else source.path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as error:
        raise DataError(
            f"{source.name}: could not be read as an Excel workbook ({_first_line(error)}). "
            "Save it again as .xlsx or export a CSV."
        ) from error
    if unpacked > EXCEL_MAX_UNPACKED_BYTES:
        raise DataError(
            f"{source.name}: the workbook unpacks to {unpacked / 1e6:,.0f} MB, over the "
            f"{EXCEL_MAX_UNPACKED_BYTES / 1e6:,.0f} MB read from Excel files. Export the sheet as CSV "
            "or Parquet, which have no such limit."
        )


def _read_parquet(source: FileSource) -> tuple[pd.DataFrame, list[str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = source.name
    try:
        table = pq.read_table(source.readable())
    except Exception as error:
        raise DataError(f"{name}: could not be read as Parquet ({_first_line(error)}).") from error
    # Lists, structs and maps hold several values per cell: neither a dimension nor an amount.
    nested = [f.name for f in table.schema if pa.types.is_nested(f.type)]
    warnings = []
    if nested:
        table = table.drop_columns(nested)
        warnings.append(
            f"Column(s) {', '.join(map(repr, nested))} hold lists or records, not single values, and "
            "were left out."
        )
    if table.num_columns == 0:
        raise DataError(f"{name}: no column holds single values (only lists or records).")
    return table.to_pandas(), warnings


def _read_text(source: FileSource) -> tuple[pd.DataFrame, np.ndarray | None, list[str]]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    name = source.name
    _prepare_text(source)
    delimiter = sniff_delimiter(source.head(65537), name)
    skipped: list[str] = []

    def skip_row(row: Any) -> str:  # pyarrow's InvalidRow
        skipped.append(row.text)
        return "skip"

    block_size = CSV_BLOCK_BYTES

    def parse(newlines_in_values: bool) -> Any:  # a pyarrow Table
        skipped.clear()
        return pacsv.read_csv(
            source.readable(),
            read_options=pacsv.ReadOptions(block_size=block_size),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=newlines_in_values, invalid_row_handler=skip_row
            ),
            # Text columns arrive dictionary-encoded (pandas categoricals): a million rows of 20 countries are
            # then cleaned and grouped as 20 values, not a million strings.
            convert_options=pacsv.ConvertOptions(
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                auto_dict_encode=True,
                auto_dict_max_cardinality=DICTIONARY_MAX_CARDINALITY,
            ),
        )

    try:
        # The fast parse cannot see a line break inside a quoted value, but it cannot miss one either: the break
        # splits that row into two with too few fields, which are skipped or refused. Then the careful parse runs.
        try:
            table = parse(newlines_in_values=False)
        except pa.ArrowInvalid:
            table = None
        if table is None or skipped:
            try:
                table = parse(newlines_in_values=True)
            except pa.ArrowInvalid as error:
                if "straddl" not in str(error):
                    raise
                # One row longer than a parse block: read the file as one block (one core, but it reads).
                block_size = min(max(source.size + 1, CSV_BLOCK_BYTES), (1 << 31) - 1)
                table = parse(newlines_in_values=True)
    except pa.ArrowInvalid as error:
        _check_utf8(source)  # a clearer message when the cause is the encoding
        raise DataError(
            f"{name}: could not be read as a table ({_first_line(error)}). "
            "Check that every row has the header's number of fields."
        ) from error
    if any(_is_binary(column_type) for column_type in table.schema.types):
        _check_utf8(source)  # pyarrow reads text that is not UTF-8 as bytes; say which line
    frame = _clean_column_names(table.to_pandas(), name)
    if frame.empty:
        raise DataError(f"{name}: the table has a header but no data rows.")
    rows = None  # row i of the table is the file's row i + 2, unless rows were left out
    warnings = []
    if skipped:
        lines = _line_numbers(source.data(), skipped)
        rows = _shift_rows(np.arange(len(frame)) + 2, lines)
        listed = ", ".join(str(n) for n in lines[:5]) + (
            f" and {len(lines) - 5} more" if len(lines) > 5 else ""
        )
        warnings.append(
            f"{len(skipped)} row(s) with the wrong number of fields were left out (line {listed}). "
            "A field that holds the delimiter must be quoted."
        )
    return frame, rows, warnings


# CSV, TSV, semicolon and pipe files: whatever no entry of `FILE_FORMATS` claims (the delimiter is sniffed).
TEXT_FORMAT = FileFormat("delimited text", frozenset({".csv", ".tsv", ".tab", ".txt"}), (), _read_text)


def _is_binary(column_type: Any) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(column_type):
        column_type = column_type.value_type
    return pa.types.is_binary(column_type) or pa.types.is_large_binary(column_type)


def _prepare_text(source: FileSource) -> None:
    """Transcodes UTF-16 (Excel's 'Unicode text') to UTF-8 and refuses binary files; pyarrow skips a UTF-8 BOM.

    The UTF-8 check of the whole file is left to pyarrow (`_check_utf8` runs only when it found bad bytes).
    """
    name, head = source.name, source.head(8192)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            source.replace(source.data().decode("utf-16").encode("utf-8"))
        except UnicodeDecodeError as error:
            raise DataError(
                f"{name}: the file says it is UTF-16 but is not. Save it as CSV UTF-8."
            ) from error
        return
    if b"\x00" in head:
        raise DataError(
            f"{name}: this is not a text table (it holds binary bytes). Upload a CSV, TSV, .xlsx or .parquet file."
        )


def _check_utf8(source: FileSource) -> None:
    """Raises a DataError naming the first line that is not UTF-8 text."""
    data = source.data()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataError(
            f"{source.name}: line {line} holds bytes that are not UTF-8 text (byte {error.start}). "
            "Save the file as 'CSV UTF-8' and upload it again."
        ) from error


def sniff_delimiter(data: bytes, name: str) -> str:
    """Finds the delimiter that splits the first lines into the same number of fields (quotes respected)."""
    head = data[:65536].decode("utf-8", errors="ignore")
    lines = [line for line in head.splitlines() if line.strip()][:50]
    if len(lines) > 1 and not head.endswith("\n") and len(data) > 65536:
        lines = lines[:-1]  # the last line may be cut in the middle
    best, best_score = None, (0, 0)
    prefer_tab = Path(name).suffix.lower() in {".tsv", ".tab"}
    for delimiter in ("\t", ",", ";", "|"):
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        if not counts or counts[0] < 2:
            continue
        agreeing = sum(1 for count in counts if count == counts[0])
        score = (agreeing, counts[0] + (1000 if prefer_tab and delimiter == "\t" else 0))
        if score > best_score:
            best, best_score = delimiter, score
    if best is None:
        raise DataError(
            f"{name}: could not find a delimiter; the first line has one column. "
            "Separate columns with commas, tabs or semicolons, and give each column a header."
        )
    return best


def _line_numbers(data: bytes, texts: list[str]) -> list[int]:
    """Finds the file lines of rows that the CSV reader skipped, in order."""
    lines, position = [], 0
    for text in texts:
        found = data.find(text.encode("utf-8"), position)
        if found < 0:
            continue
        lines.append(data.count(b"\n", 0, found) + 1)
        position = found + len(text)
    return lines


def _shift_rows(rows: np.ndarray, skipped_lines: list[int]) -> np.ndarray:
    """Spreadsheet row numbers of the kept rows, given the line numbers of the rows left out."""
    shifted = rows.copy()
    for line in sorted(skipped_lines):
        shifted[shifted >= line] += 1
    return shifted


def _clean_column_names(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    names = []
    for position, column in enumerate(frame.columns, start=1):
        # Runs of spaces, tabs and line breaks become one space: a name is one line in every message and prompt.
        text = " ".join(str(column).split())
        if not text or text.startswith("Unnamed:"):
            text = f"column_{position}"
        names.append(text)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DataError(
            f"{name}: column name(s) {', '.join(repr(d) for d in duplicates)} appear more than once. "
            "Give every column its own name."
        )
    frame.columns = names
    return frame


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


# --------------------------------------------------------------------------------------------------------------
# Layout detection
# --------------------------------------------------------------------------------------------------------------


@dataclass
class _Candidate:
    column: str
    metric: tuple[str, ...]
    side: str  # "before" or "after"
    pair: str  # the word pair (or "year") it belongs to
    extra: tuple[str, ...]  # words after the period word: scenario names
    order: int = 0  # for years: the year
    written: str = ""  # the metric's words as the file writes them (`Net_Revenue` for `Net Revenue before`)


def _period_candidate(column: str) -> _Candidate | None:
    as_written = [w for w in _NAME_SPLIT.split(column.strip()) if w]
    words = [w.lower() for w in as_written]
    for index, word in enumerate(words):
        written = "_".join(as_written[:index] if index else as_written[index + 1 :])
        sides = []
        if word in _BEFORE_WORDS:
            sides.append("before")
        if word in _AFTER_WORDS:
            sides.append("after")
        if _YEAR.match(word):
            metric = tuple(words[:index] or words[index + 1 :])
            extra = tuple(words[index + 1 :]) if index else ()
            written = "_".join(as_written[:index] or as_written[index + 1 :])
            return _Candidate(column, metric, "year", "year", extra, int(word), written)
        if sides:
            metric = tuple(words[:index] if index else words[index + 1 :])
            extra = tuple(words[index + 1 :]) if index else ()
            return _Candidate(column, metric, sides[0], word, extra, 0, written)
    return None


def _find_wide_pairs(frame: pd.DataFrame, default_metric: str) -> list[tuple[str, str, list[str]]]:
    """Finds (metric, before column, after columns) in file order."""
    candidates = [c for c in map(_period_candidate, frame.columns) if c is not None]
    # Candidates grouped by metric words: a file with 10,000 columns is matched in one pass, not 10,000 scans.
    by_metric: dict[tuple[str, ...], list[_Candidate]] = {}
    for candidate in candidates:
        by_metric.setdefault(candidate.metric, []).append(candidate)
    found: dict[str, tuple[str, list[str]]] = {}
    used: set[str] = set()
    for before in candidates:
        if before.column in used or before.extra:
            continue
        same_metric = by_metric[before.metric]
        if before.side == "year":
            years = [c for c in same_metric if c.side == "year"]
            later = [c for c in years if c.order > before.order]
            if not later or any(c.order < before.order for c in years):
                continue
            first_later_year = min(c.order for c in later)
            afters = [c for c in later if c.order == first_later_year] + [
                c for c in later if c.order != first_later_year
            ]
        elif before.side == "before":
            partners = {after for b, after in PERIOD_WORD_PAIRS if b == before.pair}
            afters = [c for c in same_metric if c.side == "after" and c.pair in partners]
            # "new" is the after-word of both "old" and "base": keep the words a file really uses.
        else:
            continue
        afters = [c for c in afters if c.column not in used]
        if not afters:
            continue
        metric = before.written or default_metric
        if metric in found:
            continue
        found[metric] = (before.column, [c.column for c in afters])
        used.add(before.column)
        used.update(c.column for c in afters)
    order = {column: i for i, column in enumerate(frame.columns)}
    return sorted(((m, b, a) for m, (b, a) in found.items()), key=lambda item: order[item[1]])


def _metric_name_from_file(name: str) -> str:
    """`revenue_by_country.tsv` -> `revenue`; otherwise `value`."""
    stem = Path(name).stem.lower()
    match = re.match(r"^([a-z][a-z0-9]*)(?:[_\-\s]+by[_\-\s]+)", stem)
    return match.group(1) if match else "value"


def order_periods(values: Sequence[Label]) -> tuple[list[Label], bool]:
    """Orders two or more period labels from earliest to latest.

    Returns:
        The ordered labels and whether the order is certain (False: file order was assumed).
    """
    values = list(values)
    words = [str(v).strip().lower() for v in values]
    for before, after in PERIOD_WORD_PAIRS:
        if len(values) == 2 and set(words) == {before, after}:
            return (values if words[0] == before else values[::-1]), True
    if all(isinstance(v, (int, float, np.integer, np.floating)) for v in values):
        return sorted(values), True  # type: ignore[type-var]  # numbers, checked just above
    by_time = time_order(values)  # 2026-W9 before 2026-W10, Oct 2026 before Nov 2026: time, never text order
    if by_time is not None:
        return by_time, True
    quarters = [key for key in map(_quarter_key, words) if key is not None]
    if len(quarters) == len(words):
        return [v for _, v in sorted(zip(quarters, values), key=lambda p: p[0])], True
    try:
        stamps = pd.to_datetime(pd.Series([str(v) for v in values]), errors="raise", format="mixed")
        return [values[i] for i in np.argsort(stamps.to_numpy(), kind="stable")], True
    except (ValueError, TypeError, OverflowError):
        pass
    numbers = pd.to_numeric(pd.Series(words), errors="coerce")
    if numbers.notna().all():
        return [values[i] for i in np.argsort(numbers.to_numpy(), kind="stable")], True
    return values, False


def _quarter_key(word: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"(?:(\d{4})[\s\-_]*q([1-4]))|(?:q([1-4])[\s\-_]*(\d{4}))|(?:q([1-4]))", word)
    if not match:
        return None
    year = match.group(1) or match.group(4) or "0"
    quarter = match.group(2) or match.group(3) or match.group(5)
    return int(year), int(quarter)


def _find_period_column(
    frame: pd.DataFrame, numeric: set[str], warnings: list[str] | None = None
) -> str | None:
    """The time column of a long table: found by its values first, then by its name.

    A column whose values all name periods (dates, months, weeks, quarters, fiscal years; real date cells) and
    repeat across rows wins; then a column named with a period word (`COHORT_MONTH`, `order_date`, `report_week`,
    `fiscal_quarter`) with a few values; then a column holding a before/after word pair.
    """
    scored = []
    text_columns = [c for c in frame.columns if c not in numeric]
    for position, column in enumerate(frame.columns):
        values = frame[column]
        named = is_period_name(column)
        if column in numeric and not named and not pd.api.types.is_datetime64_any_dtype(values):
            continue  # a numeric column is an amount unless its name says time
        distinct = values.dropna().unique()
        if len(distinct) < 2:
            continue
        # Each period holds several segments; a table of one series (date, revenue) has one row a date.
        repeats = len(values) >= 2 * len(distinct) or named or text_columns == [column]
        by_values = len(distinct) <= 50_000 and repeats and time_order(distinct) is not None
        words = {str(v).strip().lower() for v in distinct[:3]}
        paired = len(distinct) == 2 and any(words == {b, a} for b, a in PERIOD_WORD_PAIRS)
        # before/after words say "period" more surely than dates, which a campaign or cohort column may hold.
        score = 4 if paired else 3 if by_values else 1 if named and len(distinct) <= 12 else 0
        if score:
            scored.append((score + (0.5 if named else 0), -position, column))
    if not scored:
        return None
    scored.sort(reverse=True)
    if warnings is not None and len(scored) > 1:
        others = ", ".join(repr(column) for _, _, column in scored[1:4])
        warnings.append(
            f"Took {scored[0][2]!r} as the period column; {others} could be one too. Choose another "
            "period column if this is not the one."
        )
    return scored[0][2]


_PERIOD_WORDS = {
    "period",
    "date",
    "day",
    "week",
    "month",
    "quarter",
    "year",
    "time",
    "snapshot",
    "cohort",
    "fy",
    "fiscal",
    "yyyymm",
    "wk",
    "mo",
    "qtr",
    "dt",
    "asof",
    "version",
    "phase",
    "window",
    "wave",
    "release",
    "timeframe",
    "when",
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "yearly",
    "annual",
    "timestamp",
}


_NOT_ADDITIVE_WORDS = {
    "a standard deviation": {"std", "stdev", "stddev", "sd", "variance", "var", "stderr", "se"},
    "an average": {"avg", "average", "mean", "median", "aov", "arpu", "arppu", "per"},
    "a rate": {"rate", "ratio", "pct", "percent", "percentage", "share", "ctr", "cvr", "cr"},
    # "min" alone is as often minutes (watch_min) as a minimum: only the unambiguous words count.
    "a minimum or maximum": {"max", "minimum", "maximum", "p50", "p90", "p95", "p99", "percentile"},
}


def not_additive_kind(name: str) -> str | None:
    """What a metric looks like when its values do not add up across segments ("an average"), from its name."""
    words = {w for w in re.split(r"[^a-z0-9]+", str(name).lower()) if w}
    for kind, cue_words in _NOT_ADDITIVE_WORDS.items():
        if words & cue_words:
            return kind
    return None


def is_period_name(column: str) -> bool:
    """True when a column's name says it holds time: a period word in it (`COHORT_MONTH`, `order_date`)."""
    words = {w for w in re.split(r"[^a-z0-9]+", str(column).lower()) if w}
    return bool(words & _PERIOD_WORDS) or str(column).strip().lower() in _PERIOD_COLUMN_NAMES


# --------------------------------------------------------------------------------------------------------------
# Building the tidy table
# --------------------------------------------------------------------------------------------------------------


def load_dataset(
    source: str | os.PathLike | bytes | BinaryIO,
    *,
    name: str | None = None,
    by: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    after: str | None = None,
    period_column: str | None = None,
    periods: Sequence[str] | None = None,
    compare: str | None = None,
    windows: tuple[Window, Window] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Dataset:
    """Loads a before/after metrics file into a `Dataset` with one row per segment.

    Args:
        source: A path, the file's bytes, or a binary file object (an upload).
        name: The file's name, used for its type and in messages (taken from a path when not given).
        by: The dimension columns; default every text column that is not a metric or the period.
        metrics: Keep only these metrics (names as in the tidy table or the file's column stems).
        after: In a wide file with several "after" columns for a metric, the column to use.
        period_column: In a long file, the column that holds the period.
        periods: In a long file, the two period values to compare, earlier first.
        compare: In a time series (a long file with many dates), a preset pair of windows: wow, mom, yoy,
            last-Nd. A daily series of 14 days or more defaults to wow.
        windows: In a time series, the (earlier, later) windows to compare.
        max_bytes: Files larger than this are refused.

    Raises:
        DataError: With a message for the user that names the file, row or column and what to do.
    """
    file = open_source(source, name, max_bytes)
    name = file.name
    raw, source_rows, warnings = read_table(file)
    rows_read = len(raw)
    by = [b.strip() for b in by] if by else None
    by = _resolve_columns(raw, name, by, "dimension", "by")
    if period_column:
        named = _resolve_columns(raw, name, [period_column], "period column", "period_column")
        period_column = named[0] if named else period_column

    if periods and (compare or windows):
        raise DataError(
            f"{name}: give either two periods or comparison windows, not both.", setting="compare"
        )
    wants_series = bool(period_column or periods or compare or windows)
    if (compare or windows) and not period_column and _find_wide_pairs(raw, _metric_name_from_file(name)):
        raise DataError(
            f"{name}: comparison windows apply to a table with a date column (one row per segment and "
            "date); this file has before/after columns already.",
            setting="compare",
        )
    pairs = [] if wants_series else _find_wide_pairs(raw, _metric_name_from_file(name))
    series = None
    wide = None
    if pairs:
        wide = _wide_to_tidy(raw, name, pairs, after, warnings)
        tidy, columns, period_labels = wide.tidy, wide.columns, wide.periods
        layout, used_period_column = "wide", None
    else:
        if after:
            raise DataError(
                f"{name}: choosing a scenario or 'after' column applies only to files with before/after "
                "columns; this file has none."
            )
        numeric = {c for c in raw.columns if is_mostly_numeric(raw[c])}
        used_period_column = period_column or _find_period_column(raw, numeric, warnings)
        if used_period_column is None:
            raise DataError(
                f"{name}: found no before/after pair of numeric columns and no period column. Name the columns "
                "like revenue_before / revenue_after (or _prev/_curr, _2023/_2024), or choose the column that holds "
                f"the period. Columns seen: {listing(raw.columns)}.",
                setting="period_column",
            )
        tidy, columns, period_labels, series = _long_to_tidy(
            raw, name, used_period_column, periods, by, numeric, warnings, compare, windows
        )
        layout = "long"

    metric_names = list(columns)
    if metrics:
        by_name = {normal_name(m): m for m in [*columns, *(wide.left_out if wide else {})]}
        wanted = [by_name.get(normal_name(m), m.strip()) for m in metrics]
        lacking = [m for m in wanted if wide and m in wide.left_out]
        if wide and lacking:
            raise DataError(
                f"{name}: {', '.join(lacking)} has no column for scenario {wide.scenario!r} (its after "
                f"columns: {', '.join(wide.left_out[lacking[0]])}). Choose a scenario that "
                f"{lacking[0]} has."
            )
        unknown = [m for m in wanted if m not in columns]
        if unknown:
            raise DataError(
                f"{name}: no metric named {', '.join(map(repr, unknown))}. Metrics in this file: "
                f"{listing(metric_names)}.",
                setting="metric",
            )
        metric_names = [m for m in metric_names if m in wanted]
        columns = {m: columns[m] for m in metric_names}

    not_additive = {m: kind for m in metric_names if (kind := not_additive_kind(m))}
    if not_additive:
        # Sums of averages or rates mean nothing: such metrics come last and are analysed only when chosen.
        metric_names = [m for m in metric_names if m not in not_additive] + list(not_additive)
        columns = {m: columns[m] for m in metric_names}
        described = "; ".join(f"{m} looks like {kind}" for m, kind in not_additive.items())
        warnings.append(
            f"Not additive: {described}. Such values do not add up across segments, so they are not "
            "analysed unless chosen."
        )

    value_columns = [f"{m}_{side}" for m in metric_names for side in ("before", "after")]
    if layout == "long":
        dimensions = [c for c in tidy.columns if c not in value_columns]
    else:
        assert wide is not None  # the wide layout is the one that has it
        dimensions = _choose_dimensions(raw, tidy, name, by, wide.other_columns, warnings)
    ignored: dict[str, str] = {}
    if not by:
        dimensions, ignored = _usable_dimensions(tidy, dimensions, warnings)
    # A long file has one row per segment and period; only a wide file's repeated rows are worth a warning.
    # tidy's index holds positions in the raw table; source_rows turns them into the file's row numbers.
    frame = _finish(
        # Rows that repeat a segment are worth a warning in a wide file, unless the user chose fewer dimensions
        # (summing over the others is then what was asked for).
        tidy,
        source_rows,
        name,
        dimensions,
        metric_names,
        columns,
        warnings,
        warn_repeats=layout == "wide" and not by,
    )
    from tools.raw_rows import keep_rows  # here: tools.raw_rows reads this module's as_dimension

    # The raw table is let go after this: a bounded sample of it is all that stays (issue 19).
    raw_rows = keep_rows(raw, dimensions, len(frame), name, source_rows)
    return Dataset(
        frame=frame,
        dimensions=dimensions,
        metrics=metric_names,
        source=name,
        layout=layout,
        periods=period_labels,
        columns=columns,
        warnings=warnings,
        rows_read=rows_read,
        period_column=used_period_column,
        scenario=wide.scenario if wide else None,
        scenarios=wide.scenarios if wide else [],
        left_out=wide.left_out if wide else {},
        not_additive=not_additive,
        ignored=ignored,
        windows=series.windows if series else None,
        daily=series.daily if series else None,
        averaged=series is not None and series.scales != (1.0, 1.0),
        raw_rows=raw_rows,
    )


def _resolve_columns(
    raw: pd.DataFrame, name: str, wanted: Sequence[str] | None, role: str, setting: str
) -> list[str] | None:
    """The file's columns that the user named, matched without regard to case and spacing (`volume` is `VOLUME`)."""
    if not wanted:
        return None
    by_name = {normal_name(c): c for c in raw.columns}
    missing = [w for w in wanted if w not in raw.columns and normal_name(w) not in by_name]
    if missing:
        raise DataError(
            f"{name}: there is no column {', '.join(map(repr, missing))} to use as the {role}. "
            f"Columns: {listing(raw.columns)}.",
            setting=setting,
        )
    return [w if w in raw.columns else by_name[normal_name(w)] for w in wanted]


@dataclass
class _WideLayout:
    """A wide file's metrics with the scenario chosen for all of them."""

    tidy: pd.DataFrame
    columns: dict[str, MetricColumns]
    periods: tuple[str, str]
    scenario: str | None
    scenarios: list[str]
    left_out: dict[str, list[str]]
    other_columns: set[str]  # file columns that belong to metrics (left out ones included), never dimensions


def scenario_of(column: str) -> str:
    """The scenario an "after" column belongs to: the words after its period word, else that word.

    `users_after_scenario_2` -> `scenario_2`, `revenue_post_v2` -> `v2`, `revenue_after` -> `after`,
    `revenue_2025_plan` -> `2025_plan`, `revenue_2026` -> `2026`.
    """
    candidate = _period_candidate(column)
    if candidate is None:
        key = normal_name(column)
    elif candidate.side == "year":
        key = "_".join((str(candidate.order), *candidate.extra))
    else:
        key = "_".join(candidate.extra) or candidate.pair
    # Only letters, digits and `_`: the name is shown in prose and Markdown, and comes from the file.
    return re.sub(r"\W+", "_", key).strip("_") or "after"


def normal_name(text: str) -> str:
    """A name as compared with what the user typed: lower case, runs of spaces, dots and dashes as `_`."""
    return re.sub(r"[\s\-.]+", "_", str(text).strip().lower()).strip("_")


def _wide_to_tidy(
    raw: pd.DataFrame,
    name: str,
    pairs: list[tuple[str, str, list[str]]],
    after: str | None,
    warnings: list[str],
) -> _WideLayout:
    """Takes every metric's "after" values from one scenario: a ratio must never mix two scenarios."""
    position = {column: i for i, column in enumerate(raw.columns)}
    by_metric = {
        metric: dict(sorted(((scenario_of(c), c) for c in afters), key=lambda item: position[item[1]]))
        for metric, _, afters in pairs
    }
    first_column: dict[str, int] = {}
    for keys in by_metric.values():
        for key, column in keys.items():
            first_column.setdefault(key, position[column])
            first_column[key] = min(first_column[key], position[column])
    has_scenarios = any(len(keys) > 1 for keys in by_metric.values())
    scenarios = sorted(first_column, key=first_column.__getitem__) if has_scenarios else []

    if not has_scenarios:
        chosen = None
        if after and not any(
            _names(after, key, column) for keys in by_metric.values() for key, column in keys.items()
        ):
            every = ", ".join(c for keys in by_metric.values() for c in keys.values())
            raise DataError(
                f"{name}: {after!r} is not an 'after' column of this file; it has one per metric "
                f"({every}), so there is no scenario to choose."
            )
    elif after:
        chosen = _resolve_scenario(after, by_metric, scenarios, name)
    else:
        # The scenario most metrics have; ties go to the one that comes first in the file.
        chosen = max(scenarios, key=lambda key: sum(key in keys for keys in by_metric.values()))
        others = [key for key in scenarios if key != chosen]
        warnings.append(
            f"The file has {len(scenarios)} scenarios ({', '.join(scenarios)}); every metric uses "
            f"{chosen!r}. Choose another scenario to analyse {', '.join(map(repr, others))} "
            "instead."
        )

    values: dict[str, pd.Series] = {}
    columns: dict[str, MetricColumns] = {}
    left_out: dict[str, list[str]] = {}
    other_columns: set[str] = set()
    for metric, before_column, after_columns in pairs:
        keys = by_metric[metric]
        other_columns.update([before_column, *after_columns])
        if chosen is None:
            column = after_columns[0]
        elif chosen in keys:
            column = keys[chosen]
        else:
            left_out[metric] = list(keys.values())
            continue
        periods = _period_labels(before_column, column)
        columns[metric] = MetricColumns(
            metric,
            before_column,
            column,
            [c for c in after_columns if c != column],
            scenario=chosen,
            periods=periods,
        )
        values[f"{metric}_before"] = raw[before_column]
        values[f"{metric}_after"] = raw[column]
    tidy = pd.DataFrame(values, index=raw.index)
    for metric, their_columns in left_out.items():
        warnings.append(
            f"{metric} has no column for scenario {chosen!r} (its after columns: "
            f"{', '.join(their_columns)}), so it is left out of this scenario."
        )
    labels = next(iter(columns.values())).periods
    for info in columns.values():
        if info.periods != labels:
            warnings.append(
                f"{info.name} compares {info.periods[0]} with {info.periods[1]}, not {labels[0]} with "
                f"{labels[1]} like {next(iter(columns))}; read its changes with care."
            )
    return _WideLayout(tidy, columns, labels, chosen, scenarios, left_out, other_columns)


def _names(typed: str, scenario: str, column: str) -> bool:
    """True when what the user typed names this scenario or this column."""
    wanted = normal_name(typed)
    return wanted in (normal_name(scenario), normal_name(column))


def _resolve_scenario(
    after: str, by_metric: dict[str, dict[str, str]], scenarios: list[str], name: str
) -> str:
    """The scenario that `after` names: a scenario's name (`scenario_2`) or any one of its columns."""
    for key in scenarios:
        if normal_name(after) == normal_name(key):
            return key
    for keys in by_metric.values():
        for key, column in keys.items():
            if _names(after, key, column):
                return key
    if normal_name(after) == "all":
        raise DataError(
            f"{name}: load one scenario at a time ({', '.join(scenarios)}); comparing all of them "
            "runs the analysis once per scenario."
        )
    raise DataError(
        f"{name}: {after!r} is neither a scenario nor an 'after' column of this file. Scenarios: "
        f"{', '.join(scenarios)}."
    )


def _period_labels(before_column: str, after_column: str) -> tuple[str, str]:
    before, after = _period_candidate(before_column), _period_candidate(after_column)
    if before and after and before.side == "year":
        return str(before.order), str(after.order)
    return (before.pair if before else "before"), (after.pair if after else "after")


def _long_to_tidy(
    raw: pd.DataFrame,
    name: str,
    period_column: str,
    periods: Sequence[str] | None,
    by: Sequence[str] | None,
    numeric: set[str],
    warnings: list[str],
    compare: str | None = None,
    windows: tuple[Window, Window] | None = None,
) -> tuple[pd.DataFrame, dict[str, MetricColumns], tuple[str, str], _TimeSeries | None]:
    labels = period_labels(raw[period_column])
    distinct = distinct_in_order(labels)
    series = None
    if not periods:
        series = _time_series(name, period_column, labels, distinct, compare, windows, warnings)
    if series is not None:
        ordered = [series.windows[0].label(), series.windows[1].label()]
    elif periods:
        wanted = [str(p).strip() for p in periods]
        if len(wanted) != 2 or wanted[0] == wanted[1]:
            raise DataError(
                f"{name}: give two different periods to compare, earlier first.", setting="periods"
            )
        by_text = {normal_name(d): d for d in distinct}
        unknown = [p for p in wanted if normal_name(p) not in by_text]
        if unknown:
            raise DataError(
                f"{name}: period value(s) {', '.join(map(repr, unknown))} are not in column "
                f"{period_column!r}, which holds: {', '.join(distinct[:12])}.",
                setting="periods",
            )
        ordered = [by_text[normal_name(p)] for p in wanted]
    else:
        by_time = time_order(distinct) if len(distinct) > 2 else None
        if len(distinct) > 2 and by_time is not None:
            # Until comparison windows exist: the latest two periods, said plainly.
            ordered = by_time[-2:]
            warnings.append(
                f"The period column {period_column!r} holds {len(distinct)} periods ({by_time[0]} to "
                f"{by_time[-1]}); compared the latest two, {ordered[0]} and {ordered[1]}. Choose two "
                "other periods to compare them instead."
            )
        elif len(distinct) != 2:
            raise DataError(
                f"{name}: the period column {period_column!r} holds {len(distinct)} values "
                f"({', '.join(distinct[:12])}); choose the two periods to compare, earlier first.",
                setting="periods",
            )
        else:
            ordered, certain = order_periods(distinct)
            if not certain:
                warnings.append(
                    f"Took {ordered[0]!r} as the earlier period and {ordered[1]!r} as the later one "
                    "(file order). Swap the periods if it is the other way round."
                )

    metric_columns = [c for c in raw.columns if c in numeric and c != period_column and c not in (by or [])]
    if not metric_columns:
        raise DataError(f"{name}: the long table has no numeric column to compare across {period_column!r}.")
    dimensions = (
        list(by) if by else [c for c in raw.columns if c not in metric_columns and c != period_column]
    )
    missing = labels.isna().to_numpy()
    if missing.any():  # a row with no period belongs to neither side: named, never dropped in silence
        first = [row_number(None, int(i)) for i in np.flatnonzero(missing)[:5]]
        warnings.append(
            f"{int(missing.sum()):,} row(s) have no value in the period column {period_column!r} and "
            f"were left out (row {', '.join(map(str, first))}{' …' if missing.sum() > 5 else ''})."
        )
    if series is not None:
        in_before, in_after = (window.contains(series.row_dates) for window in series.windows)
        mask = pd.Series(in_before | in_after, index=raw.index)
        scale_before, scale_after = series.scales
    else:
        mask = labels.isin(ordered)
        scale_before = scale_after = 1.0
    subset = raw.loc[mask]
    repeated = subset.assign(__period__=labels[mask]).duplicated([*dimensions, "__period__"], keep="first")
    if repeated.any():
        first = subset.loc[repeated.to_numpy()].iloc[0]
        segment = ", ".join(f"{d}={first[d]}" for d in dimensions) or "the only segment"
        warnings.append(
            f"{int(repeated.sum())} row(s) repeat a segment and period that appear earlier (first: "
            f"{segment}, {period_column}={labels[first.name]}); their values were summed."
        )
    is_after = in_after[mask.to_numpy()] if series is not None else (labels[mask] == ordered[1]).to_numpy()
    parts: dict[str, object] = {}
    columns: dict[str, MetricColumns] = {}
    for column in metric_columns:
        metric = str(column).strip() or "value"  # as written in the file: VOLUME stays VOLUME
        parsed = parse_number_column(subset[column])
        # Each long row holds one period: the other period's value for that row is zero, then rows are summed.
        values = parsed.values.mask(parsed.invalid, np.nan)
        # Windows of unequal length are compared on daily averages (scales of 1 / days with data).
        parts[f"{metric}_before"] = np.where(is_after, 0.0, values * scale_before)
        parts[f"{metric}_after"] = np.where(is_after, values * scale_after, 0.0)
        if series is not None:
            every = parse_number_column(raw[column]).values
            series.add_daily(metric, every)
        columns[metric] = MetricColumns(
            metric,
            f"{column} @ {ordered[0]}",
            f"{column} @ {ordered[1]}",
            [],
            parsed.percent,
            periods=(str(ordered[0]), str(ordered[1])),
        )
    # Built at once: inserting thousands of columns one by one fragments the frame (and warns on each).
    tidy = pd.concat([subset[dimensions], pd.DataFrame(parts, index=subset.index)], axis=1)
    return tidy, columns, (str(ordered[0]), str(ordered[1])), series


@dataclass
class _TimeSeries:
    """A long table read as a time series: the two windows, each row's date, and the daily totals."""

    windows: tuple[Window, Window]
    row_dates: np.ndarray  # datetime64[D] per raw row (NaT where the row has no period)
    scales: tuple[float, float]  # 1 / days with data in each window when compared on daily averages, else 1
    daily: pd.DataFrame | None = None

    def add_daily(self, metric: str, values: pd.Series) -> None:
        """Adds one metric's total per date (every date of the file, not only the windows)."""
        frame = pd.DataFrame(
            {"date": self.row_dates, metric: values.to_numpy(dtype="float64", na_value=np.nan)}
        )
        sums = frame.dropna(subset=["date"]).groupby("date", sort=True)[metric].sum(min_count=1)
        self.daily = (
            sums.reset_index() if self.daily is None else self.daily.merge(sums.reset_index(), on="date")
        )


MIN_DAILY_SERIES = 14  # a daily file with at least two weeks of dates defaults to week over week


def _time_series(
    name: str,
    period_column: str,
    labels: pd.Series,
    distinct: list[str],
    compare: str | None,
    windows: tuple[Window, Window] | None,
    warnings: list[str],
) -> _TimeSeries | None:
    """Reads the period column as dates and picks the windows, or None when the table is no time series."""
    parsed = dict(zip(distinct, parse_periods(distinct)))
    unparsed = [label for label, value in parsed.items() if value is None]
    asked = bool(compare or windows)
    if unparsed:
        if asked:
            raise DataError(
                f"{name}: comparison windows need dates, but {period_column!r} holds "
                f"{listing(map(repr, unparsed), 5)}.",
                setting="compare",
            )
        return None
    known = {label: value for label, value in parsed.items() if value is not None}  # every one, checked above
    kinds = {value[0] for value in known.values()}
    if not asked:
        if kinds != {"day"} or len(distinct) < MIN_DAILY_SERIES:
            return None
        compare = "wow"
    dates = {label: np.datetime64(value[1], "D") for label, value in known.items()}
    latest = max(value[1] for value in known.values())
    first = min(value[1] for value in known.values())
    try:
        before, after = windows or preset_windows(compare or "", latest)
    except WindowError as error:
        raise DataError(f"{name}: {error}", setting="compare") from error
    if before.end >= after.start:
        raise DataError(
            f"{name}: the earlier window ({before.label()}) must end before the later one "
            f"({after.label()}) starts.",
            setting="compare",
        )
    row_dates = labels.map(dates).to_numpy(dtype="datetime64[D]")
    distinct_dates = np.unique(row_dates[~np.isnat(row_dates)])
    counts = [int(window.contains(distinct_dates).sum()) for window in (before, after)]
    for window, count, which in zip((before, after), counts, ("earlier", "later")):
        if not count:
            raise DataError(
                f"{name}: the {which} window {window.label()} holds no data; the dates in "
                f"{period_column!r} run from {first} to {latest}.",
                setting="compare",
            )
    if not asked:
        warnings.append(
            f"{period_column!r} holds {len(distinct)} dates ({first} to {latest}); compared the last 7 "
            f"days ({after.label()}) with the 7 before ({before.label()}). Choose other windows to "
            "compare others."
        )
    scales = (1.0, 1.0)
    daily_kind = kinds == {"day"}
    if counts[0] != counts[1] or (daily_kind and (counts[0] != before.days or counts[1] != after.days)):
        scales = (1.0 / counts[0], 1.0 / counts[1])
        warnings.append(
            f"The windows hold {counts[0]} and {counts[1]} dates with data ({before.label()}, "
            f"{after.label()}), so they are compared on daily averages: every figure is a total per "
            "date."
        )
    outside = ~(before.contains(row_dates) | after.contains(row_dates)) & ~np.isnat(row_dates)
    if outside.any():
        warnings.append(f"{int(outside.sum()):,} row(s) with dates outside both windows were left out.")
    return _TimeSeries((before, after), row_dates, scales)


def distinct_in_order(labels: pd.Series) -> list[str]:
    """The distinct labels in order of first appearance (on codes, for a categorical)."""
    if isinstance(labels.dtype, pd.CategoricalDtype):
        codes = labels.cat.codes.to_numpy()
        return [str(v) for v in labels.cat.categories[pd.unique(codes[codes >= 0])]]
    return [str(v) for v in dict.fromkeys(labels.dropna())]


def period_labels(column: pd.Series) -> pd.Series:
    """A period column as stripped text; real date cells (Excel, Parquet) as ISO dates, not `2026-10-01 00:00:00`.

    A categorical column (how CSV text arrives) is cleaned on its categories and stays categorical: a daily table
    of a million rows has 730 dates, and turning every cell into a string took 5 s.
    """
    if not isinstance(column.dtype, pd.CategoricalDtype) and len(column) > 1000:
        # Formatted once per distinct value, not per row (pyarrow reads ISO dates as date objects).
        codes, uniques = pd.factorize(column)
        if len(uniques) < len(column) // 2:
            column = pd.Series(
                pd.Categorical.from_codes(codes, categories=pd.Index(uniques)), index=column.index
            )
    if isinstance(column.dtype, pd.CategoricalDtype):
        clean = _plain_period_labels(pd.Series(column.cat.categories))
        clean_codes, distinct = pd.factorize(clean)
        codes = column.cat.codes.to_numpy()
        mapped = np.where(codes >= 0, clean_codes[np.maximum(codes, 0)], -1)
        return pd.Series(pd.Categorical.from_codes(mapped, categories=distinct), index=column.index)
    return _plain_period_labels(column)


def _plain_period_labels(column: pd.Series) -> pd.Series:
    """`period_labels` of a column that is not categorical, cell by cell."""
    if pd.api.types.is_datetime64_any_dtype(column):
        text = column.dt.strftime("%Y-%m-%d")
        has_time = (column.dropna() != column.dropna().dt.normalize()).any()
        if has_time:
            text = column.dt.strftime("%Y-%m-%d %H:%M")
        return text.astype("string")
    if pd.api.types.is_float_dtype(column) and column.dropna().apply(float.is_integer).all():
        column = column.astype("Int64")  # 2025.0 -> 2025
    return column.astype("string").str.strip()


_ID_WORDS = {"id", "uuid", "guid", "key", "hash", "identifier"}


def _usable_dimensions(
    tidy: pd.DataFrame, candidates: list[str], warnings: list[str]
) -> tuple[list[str], dict[str, str]]:
    """Leaves out text columns that cannot explain a change: one value everywhere, an id per row, free text."""
    kept, ignored = [], {}
    rows = len(tidy)
    for column in candidates:
        values = tidy[column]
        distinct = values.nunique(dropna=True)
        words = {w for w in re.split(r"[^a-z0-9]+", str(column).lower()) if w}
        if distinct <= 1 and rows > 1:
            ignored[column] = "one value in every row"
        elif rows >= 20 and distinct >= 0.9 * rows and (words & _ID_WORDS or _looks_like_ids(values)):
            ignored[column] = "an id (a different value in almost every row)"
        elif rows >= 20 and _mean_text_length(values) > 60:
            ignored[column] = "free text"
        else:
            kept.append(column)
    if not kept and candidates:  # never leave a file without a dimension it had
        return candidates, {}
    if ignored:
        described = "; ".join(f"{c} ({why})" for c, why in ignored.items())
        warnings.append(f"Not used as dimensions: {described}. Choose them as dimensions to use them anyway.")
    return kept, ignored


def _mean_text_length(values: pd.Series) -> float:
    """The mean length of the values as text (missing ones left out), like `values.dropna().astype(str).str.len()
    .mean()`; a categorical column is measured on its distinct values (1M rows as text took 0.3 s a column)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        codes = codes[codes >= 0]
        if not len(codes):
            return float("nan")
        lengths = values.cat.categories.astype(str).str.len().to_numpy(dtype="float64")
        return float(lengths[codes].mean())
    return values.dropna().astype(str).str.len().mean()


def _looks_like_ids(values: pd.Series) -> bool:
    """UUIDs, hashes or long digit strings: labels no reader would group by."""
    sample = values.dropna().astype(str).head(200)
    return bool(len(sample)) and bool(sample.str.fullmatch(r"[0-9a-fA-F\-]{16,}|\d{6,}").all())


def _choose_dimensions(
    raw: pd.DataFrame,
    tidy: pd.DataFrame,
    name: str,
    by: Sequence[str] | None,
    used: set[str],
    warnings: list[str],
) -> list[str]:
    if by:
        clash = [b for b in by if b in used]
        if clash:
            raise DataError(
                f"{name}: {', '.join(map(repr, clash))} is a metric column, not a dimension.", setting="by"
            )
        dimensions = list(by)
    else:
        rest = [c for c in raw.columns if c not in used]
        dimensions = [c for c in rest if not is_mostly_numeric(raw[c])]
        ignored = [c for c in rest if c not in dimensions]
        if ignored:
            warnings.append(
                f"Numeric column(s) {', '.join(map(repr, ignored))} are neither a before/after pair nor "
                "a dimension and were ignored (choose them as dimensions to use them)."
            )
    for dimension in dimensions:
        tidy[dimension] = raw[dimension]
    return dimensions


def _finish(
    tidy: pd.DataFrame,
    source_rows: np.ndarray | None,
    name: str,
    dimensions: list[str],
    metrics: list[str],
    columns: dict[str, MetricColumns],
    warnings: list[str],
    warn_repeats: bool,
) -> pd.DataFrame:
    """Parses metric values, drops rows that lack one, and sums rows that repeat a segment."""
    value_columns = [f"{m}_{side}" for m in metrics for side in ("before", "after")]
    # numpy masks, and the parsed columns put back in one go: per-column pandas work cost 1 ms a column (10 s for a
    # file with 10,000 columns).
    bad = np.zeros(len(tidy), dtype=bool)
    reasons: dict[str, np.ndarray] = {}
    parsed_columns = {}
    for column in value_columns:
        parsed = parse_number_column(tidy[column])
        metric = column.rsplit("_", 1)[0]
        if parsed.percent and not columns[metric].percent:
            columns[metric].percent = True
        numbers = parsed.values.to_numpy(dtype="float64", na_value=np.nan)
        if np.isnan(numbers).all():
            source_column = columns[metric].before if column.endswith("_before") else columns[metric].after
            raise DataError(
                f"{name}: column {source_column!r} holds no numbers. Check that it is the metric you "
                "meant, and that its cells are numbers."
            )
        # inf, -inf and numbers past 1.8e308 (read as inf) are no amounts: such rows are left out, like empty ones.
        reasons[column] = ~np.isfinite(numbers)
        bad |= reasons[column]
        parsed_columns[column] = parsed
    values = pd.DataFrame({c: p.values for c, p in parsed_columns.items()}, index=tidy.index)
    tidy = pd.concat([tidy.drop(columns=value_columns), values], axis=1)
    _check_conventions(name, metrics, columns, parsed_columns, warnings)

    for metric, info in columns.items():
        if info.percent and metric in metrics:
            warnings.append(
                f"{metric}: values were written with '%' and are read as percent points (12% -> 12)."
            )

    if bad.any():
        warnings.append(_describe_bad_rows(tidy, source_rows, bad, reasons, dimensions, columns))
        tidy = tidy.loc[~bad]
        if tidy.empty:
            raise DataError(
                f"{name}: every row has a missing, non-numeric or infinite value; nothing is left to compare."
            )
    _check_sums(name, tidy, value_columns, columns)

    for dimension in dimensions:
        tidy[dimension] = as_dimension(tidy[dimension])

    if not dimensions:
        return tidy[value_columns].sum().to_frame().T
    if not _repeats_a_segment(tidy, dimensions):
        return tidy[dimensions + value_columns].reset_index(drop=True)
    if warn_repeats:
        repeated = tidy.duplicated(dimensions, keep="first")
        example = tidy.loc[repeated].iloc[0]
        segment = ", ".join(f"{d}={example[d]}" for d in dimensions)
        warnings.append(
            f"{int(repeated.sum())} row(s) repeat a segment that appears earlier (first: row "
            f"{row_number(source_rows, example.name)}, {segment}); their values were summed."
        )
    frame = tidy.groupby(dimensions, observed=True, sort=False)[value_columns].sum().reset_index()
    for dimension in dimensions:
        frame[dimension] = frame[dimension].astype("category")
    return frame


def _check_sums(
    name: str, tidy: pd.DataFrame, value_columns: list[str], columns: dict[str, MetricColumns]
) -> None:
    """Refuses metrics whose values cannot be added up: a sum past 1.8e308 is inf, and inf is no change."""
    # The sum of absolute values bounds every partial sum, so no group-by of these rows can overflow either.
    with np.errstate(over="ignore"):
        totals = np.abs(tidy[value_columns].to_numpy(dtype="float64")).sum(axis=0)
    for column, total in zip(value_columns, totals):
        if not np.isfinite(total):
            metric = column.rsplit("_", 1)[0]
            source = columns[metric].before if column.endswith("_before") else columns[metric].after
            raise DataError(
                f"{name}: the values of column {source!r} are too large to add up (their sum passes "
                "1.8e308). Check the column's units, or divide it by a power of ten."
            )


def _check_conventions(
    name: str, metrics: list[str], columns: dict[str, MetricColumns], parsed: dict, warnings: list[str]
) -> None:
    """Warns when a metric's after values are about 1000 times its before values row by row (or the reverse), with
    whole numbers on one side and decimals on the other: the mark of `1.234` in one column and `1,234` in the other,
    which the two columns read differently (a 99,900% rise that never happened)."""
    for metric in metrics:
        before = parsed[f"{metric}_before"].values.to_numpy(dtype="float64", na_value=np.nan)
        after = parsed[f"{metric}_after"].values.to_numpy(dtype="float64", na_value=np.nan)
        both = np.isfinite(before) & np.isfinite(after) & (before != 0) & (after != 0)
        if both.sum() < 1:
            continue
        ratio = float(np.median(np.abs(after[both] / before[both])))
        if not (600 <= ratio <= 1700 or 600 <= 1 / ratio <= 1700):
            continue
        whole = [bool(np.all(np.floor(side[both]) == side[both])) for side in (before, after)]
        if whole[0] != whole[1]:
            info = columns[metric]
            warnings.append(
                f"{metric}: the values of {info.after!r} are about {ratio if ratio > 1 else 1 / ratio:,.0f} "
                f"times {'those' if ratio > 1 else 'a thousandth'} of {info.before!r}, row by row, and one "
                "column holds whole numbers while the other holds decimals. The two columns may write "
                "numbers differently (1.234 in one, 1,234 in the other); write both the same way and "
                "load the file again."
            )


def as_dimension(column: pd.Series) -> pd.Series:
    """A dimension column as a categorical of stripped text; blank and missing cells become "(missing)".

    The text work runs on the distinct values only: a million rows of 20 countries cost 20 string operations.
    """
    categorical = column if isinstance(column.dtype, pd.CategoricalDtype) else column.astype("category")
    stripped = pd.Series(categorical.cat.categories).astype("string").str.strip()
    original_codes = categorical.cat.codes.to_numpy()
    clean = (
        stripped.notna().all()
        and (stripped != "").all()
        and stripped.is_unique
        and np.array_equal(
            stripped.to_numpy(dtype=object), np.asarray(categorical.cat.categories, dtype=object)
        )
        and original_codes.min(initial=0) >= 0
        and np.bincount(original_codes, minlength=len(stripped)).all()
    )
    if clean:
        return categorical  # clean text, every value used: nothing to do
    labels = [*stripped.fillna(MISSING_LABEL).replace("", MISSING_LABEL).tolist(), MISSING_LABEL]
    # Labels that became equal (" DE" and "DE") share one code; code -1 (a missing cell) maps to the last label.
    label_codes, distinct = pd.factorize(pd.Series(labels, dtype=object))
    codes = label_codes[original_codes]
    used = np.bincount(codes, minlength=len(distinct)) > 0
    renumber = np.cumsum(used) - 1
    return pd.Series(
        pd.Categorical.from_codes(renumber[codes], categories=pd.Index(distinct[used], dtype=object)),
        index=column.index,
        name=column.name,
    )


def _repeats_a_segment(tidy: pd.DataFrame, dimensions: list[str]) -> bool:
    """True when two rows share every dimension value (found on integer codes, not on the text)."""
    sizes = [len(tidy[d].cat.categories) for d in dimensions]
    if math.prod(sizes) >= 2**62:
        return bool(tidy.duplicated(dimensions).any())
    keys = np.ravel_multi_index([tidy[d].cat.codes.to_numpy() for d in dimensions], sizes)
    if math.prod(sizes) <= 4 * len(keys):  # counting beats hashing when the key space is this small
        return bool(np.bincount(keys, minlength=math.prod(sizes)).max() > 1)
    return len(pd.unique(keys)) < len(keys)


def _describe_bad_rows(
    tidy: pd.DataFrame,
    source_rows: np.ndarray | None,
    bad: np.ndarray,
    reasons: dict[str, np.ndarray],
    dimensions: list[str],
    columns: dict[str, MetricColumns],
) -> str:
    examples = []
    for position in np.flatnonzero(bad)[:5]:
        index = tidy.index[position]
        segment = ", ".join(f"{d}={tidy.at[index, d]}" for d in dimensions) or "the only segment"
        missing = [column for column, mask in reasons.items() if mask[position]]
        labels = []
        for column in missing:
            info = columns[column.rsplit("_", 1)[0]]
            labels.append(info.before if column.endswith("_before") else info.after)
        examples.append(f"row {row_number(source_rows, index)} ({segment}: {', '.join(labels)})")
    count = int(bad.sum())
    more = f" and {count - len(examples)} more" if count > len(examples) else ""
    return (
        f"{count} row(s) with a missing, non-numeric or infinite value were left out: {'; '.join(examples)}"
        f"{more}. Fill them in with finite numbers (0 if the value really is zero) to include them."
    )


@dataclass
class RawColumns:
    """A file's columns before any role is decided: what a page shows when it asks the user to choose roles.

    Attributes:
        source: The file's name.
        columns: Every column, as written.
        preview: The first rows, as text.
        values: For each column with at most `PEEK_VALUES` distinct values, those values (period choices).
    """

    source: str
    columns: list[str]
    preview: pd.DataFrame
    values: dict[str, list[str]]


PEEK_VALUES = 60


def peek_columns(
    source: str | os.PathLike | bytes | BinaryIO,
    *,
    name: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> RawColumns:
    """Reads a file's columns, first rows and the few values of each low-cardinality column (no roles needed)."""
    file = open_source(source, name, max_bytes)
    raw, _, _ = read_table(file)
    values = {}
    for column in raw.columns:
        distinct = period_labels(raw[column]).dropna().unique()
        if len(distinct) <= PEEK_VALUES:
            ordered = time_order(list(distinct)) or list(distinct)
            values[column] = [str(v) for v in ordered]
    return RawColumns(file.name, list(raw.columns), raw.head(5).astype("string"), values)
