"""Parse numbers the way people write them in spreadsheets: `$1,234.50`, `1 234`, `12%`, `(5.00)`, `1.234,5`.

Everything here is vectorised over a whole column; no Python loop touches a row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Written for "no value": these become missing, never zero.
MISSING_TOKENS = ["", "na", "n/a", "nan", "null", "none", "-", "—", "–", "#n/a", "#value!", "#div/0!"]

_CURRENCY = r"[$€£¥₹₽]|\b(?:USD|EUR|GBP|JPY|CHF|INR)\b"
# Thin, no-break and ordinary spaces, and the apostrophe the Swiss use, all group thousands.
_GROUPING_SPACES = r"[\s\u00a0\u202f\u2009'’]"


@dataclass
class ParsedColumn:
    """A column after number parsing.

    Attributes:
        values: Float values; NaN where a cell was empty or not a number.
        invalid: True where a cell held text that is not a number (empty cells are not invalid, only missing).
        percent: True when the column's numbers were written with a `%` sign.
    """

    values: pd.Series
    invalid: pd.Series
    percent: bool


def parse_number_column(column: pd.Series) -> ParsedColumn:
    """Turns a column of numbers written as text into floats.

    Args:
        column: Any pandas Series. Numeric dtypes pass through unchanged.

    Returns:
        The parsed column, with a mask of cells that held text which is not a number.
    """
    if pd.api.types.is_bool_dtype(column):
        values = column.astype("float64")
        return ParsedColumn(values, pd.Series(False, index=column.index), False)
    if pd.api.types.is_numeric_dtype(column):
        values = (
            column if column.dtype == "float64" else pd.to_numeric(column, errors="coerce").astype("float64")
        )
        return ParsedColumn(values, pd.Series(False, index=column.index), False)

    text = column.astype("string").str.strip()
    missing = text.isna() | text.str.lower().isin(MISSING_TOKENS)

    # Fast path: most files hold plain numbers.
    plain = pd.to_numeric(text.where(~missing), errors="coerce")
    if not (plain.isna() & ~missing).any():
        return ParsedColumn(plain.astype("float64"), pd.Series(False, index=column.index), False)

    cleaned = text.where(~missing, None)
    negative_parens = cleaned.str.match(r"^\(.*\)$", na=False)
    percent_cells = cleaned.str.contains("%", regex=False, na=False)
    cleaned = (
        cleaned.str.replace(
            _CURRENCY, "", regex=True
        )  # before the spaces go, while "USD 10" has its word break
        .str.replace(_GROUPING_SPACES, "", regex=True)
        .str.replace("−", "-", regex=False)  # Unicode minus
        .str.replace(r"[()%]", "", regex=True)
    )
    if _uses_decimal_comma(cleaned):
        cleaned = cleaned.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    else:
        cleaned = cleaned.str.replace(",", "", regex=False)
    # A sign written after the currency symbol ("$-5") or before it ("-$5") both end up in front here.
    values = pd.to_numeric(cleaned, errors="coerce").astype("float64")
    values = values.where(~negative_parens, -values.abs())
    invalid = values.isna() & ~missing
    percent = bool(percent_cells[~invalid & ~missing].any())
    return ParsedColumn(values, invalid.fillna(False).astype(bool), percent)


def _uses_decimal_comma(cleaned: pd.Series) -> bool:
    """Decides, for a whole column, whether `,` is the decimal mark (European style) or groups thousands."""
    sample = cleaned.dropna()
    if sample.empty:
        return False
    has_comma = sample.str.contains(",", regex=False)
    if not has_comma.any():
        return False
    # "1.234,50": a dot before the comma means the comma is decimal.
    if sample.str.contains(r"\.\d{3},\d", regex=True).any():
        return True
    # "1,234.50": a comma before a dot means the dot is decimal.
    if sample.str.contains(r",\d{3}\.\d", regex=True).any():
        return False
    # Only commas: groups of exactly three digits read as thousands, anything else as decimals.
    thousands_like = sample[has_comma].str.fullmatch(r"[-+]?\d{1,3}(,\d{3})+")
    return not bool(thousands_like.all())


def is_mostly_numeric(column: pd.Series, threshold: float = 0.9, sample: int = 5000) -> bool:
    """True when at least `threshold` of the column's non-empty cells are numbers.

    Judged on the first `sample` non-empty cells: parsing a million text cells to decide a column's kind costs
    seconds and tells no more.
    """
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return True
    if pd.api.types.is_bool_dtype(column):
        return False
    if isinstance(column.dtype, pd.CategoricalDtype):
        # The same first `sample` filled cells, but each distinct value among them is parsed once, weighted.
        codes = column.cat.codes.to_numpy()
        head = codes[: sample * 2]
        head = head[head >= 0][:sample]
        if len(head) < sample:
            head = codes[codes >= 0][:sample]
        weights = np.bincount(head, minlength=len(column.cat.categories))
        used = np.flatnonzero(weights)
        cells = pd.Series(column.cat.categories.take(used))
        counts = pd.Series(weights[used].astype("float64"))
    else:
        cells = column.dropna().head(sample)
        counts = pd.Series(np.ones(len(cells)))
    cells = cells.reset_index(drop=True)
    # Quick no: a column whose filled cells mostly hold no digit at all (names, codes) needs no number parsing.
    text = cells.astype("string").str.strip()
    filled_cells = (text.notna() & ~text.str.lower().isin(MISSING_TOKENS)).to_numpy()
    with_digit = text.str.contains(r"\d", regex=True, na=False).to_numpy()
    if float(counts[with_digit].sum()) < threshold * float(counts[filled_cells].sum()):
        return False
    parsed = parse_number_column(cells)
    numbers = float(counts[parsed.values.notna().to_numpy()].sum())
    filled = float(counts[(parsed.values.notna() | parsed.invalid).to_numpy()].sum())
    return filled > 0 and numbers / filled >= threshold


def all_whole_numbers(values: pd.Series | np.ndarray) -> bool:
    """True when every value is a non-negative whole number (a count)."""
    array = np.asarray(values, dtype="float64")
    array = array[~np.isnan(array)]
    return bool(array.size) and bool(np.all(array >= 0)) and bool(np.all(np.floor(array) == array))


def amount(value, signed=False):
    """An amount as a manager reads it: 518.1M, +10.4M, 1.73B; below a million, 132,919.66 (two decimals).

    Plain Python with no imports: the built-in analyst writes this function's source into the agent's code.
    """
    sign = "+" if signed and value > 0 else ""
    size = abs(value)
    for unit, scale in (("B", 1e9), ("M", 1e6)):
        if size >= scale:
            text = f"{value / scale:,.2f}" if size < 10 * scale else f"{value / scale:,.1f}"
            return sign + text + unit
    return sign + f"{value:,.2f}"
