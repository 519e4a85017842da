"""The KPI engine: exact before/after changes, contributions, drill-down and rate/mix decomposition.

Pure pandas and numpy, vectorised; it knows nothing of Streamlit or smolagents. Percentages are in percent
points (-7.67 means -7.67%); rates are fractions (0.034 means 3.4%).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from tools.facts import Totals
from tools.numbers import all_whole_numbers
from tools.segment_labels import slice_label

REFINE_SHARE = 0.9  # a narrower slice that explains this much of its parent's change replaces the parent
SIGNIFICANCE_LEVEL = 0.05


DRILL_DOWN_COLUMNS = [
    "slice",
    "label",
    "segment",
    "depth",
    "before",
    "after",
    "abs_change",
    "pct_change",
    "contribution_pct",
    "share_of_parent_pct",
    "replaces",
]


class EngineError(ValueError):
    """The request does not fit the data (an unknown column, a zero denominator); the message says what to do."""


def _values(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        raise EngineError(f"no column {column!r}; columns are: {', '.join(map(str, frame.columns))}.")
    return frame[column].to_numpy(dtype="float64")


def pct_change(before: np.ndarray | float, after: np.ndarray | float) -> np.ndarray | float:
    """(after - before) / |before| in percent; NaN where before is 0 (a new segment).

    Dividing by |before| keeps the sign meaning "went up" for negative metrics such as profit.
    """
    before_array = np.asarray(before, dtype="float64")
    after_array = np.asarray(after, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        result = np.where(
            before_array != 0, (after_array - before_array) / np.abs(before_array) * 100.0, np.nan
        )
    return float(result) if result.ndim == 0 else result


def totals(frame: pd.DataFrame, before: str, after: str) -> Totals:
    """Total before, after, absolute change and percentage change of a metric."""
    total_before = float(_values(frame, before).sum())
    total_after = float(_values(frame, after).sum())
    return {
        "before": total_before,
        "after": total_after,
        "abs_change": total_after - total_before,
        "pct_change": _none_if_nan(pct_change(total_before, total_after)),
    }


class GroupSumCache:
    """Group sums of one table, computed once: `analyze` needs each dimension's sums twice (breakdown and
    drill-down), and each pair's, from which the single dimensions' sums add up (`add_pairs`). Only for a table
    that does not change while the cache is in use."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.columns = _Columns(frame)
        self._sums: dict[tuple, _GroupSums] = {}

    def get(self, keys: Sequence[str], columns: Sequence[str]) -> _GroupSums:
        key = (tuple(keys), tuple(columns))
        if key not in self._sums:
            self._sums[key] = self._from_a_pair(key) or _GroupSums(
                self.frame, list(keys), list(columns), self.columns
            )
        return self._sums[key]

    def add_pairs(self, dimensions: Sequence[str], columns: Sequence[str]) -> None:
        """Computes the sums of every pair of dimensions first: each dimension's own sums then add up from them."""
        for pair in combinations(dimensions, 2):
            self.get(pair, columns)

    def _from_a_pair(self, key: tuple) -> _GroupSums | None:
        (keys, columns) = key
        if len(keys) != 1:
            return None
        for (pair, pair_columns), sums in self._sums.items():
            if len(pair) == 2 and pair_columns == columns and keys[0] in pair and sums.full is not None:
                return sums.marginal(pair.index(keys[0]))
        return None


class _Columns:
    """A table's columns as the arrays group sums need, each made (and checked for gaps) once."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._codes: dict[str, tuple[np.ndarray, bool]] = {}
        self._values: dict[str, tuple[np.ndarray, bool]] = {}

    def codes(self, key: str) -> tuple[np.ndarray, bool]:
        """A categorical column's codes, and whether any cell is missing (code -1)."""
        if key not in self._codes:
            codes = self.frame[key].cat.codes.to_numpy()
            self._codes[key] = codes, bool((codes < 0).any())
        return self._codes[key]

    def values(self, column: str) -> tuple[np.ndarray, bool]:
        """A column as float64, and whether it holds a missing value."""
        if column not in self._values:
            values = self.frame[column].to_numpy(dtype="float64")
            self._values[column] = values, bool(np.isnan(values).any())
        return self._values[column]


def _sums_of(
    frame: pd.DataFrame, keys: Sequence[str], columns: Sequence[str], cache: GroupSumCache | None
) -> _GroupSums:
    if cache is not None and cache.frame is frame:
        return cache.get(keys, columns)
    return _GroupSums(frame, list(keys), list(columns))


def group_sums(
    frame: pd.DataFrame, keys: Sequence[str], columns: Sequence[str], cache: GroupSumCache | None = None
) -> pd.DataFrame:
    """Sums of `columns` for every combination of `keys` that occurs, like `groupby(keys).sum()`.

    Returns:
        One row per occurring combination, indexed by the key values (a MultiIndex for several keys).
    """
    keys = list(keys)
    sums = _sums_of(frame, keys, columns, cache)
    if sums.labels is None:
        return sums.table
    labels = sums.labels(np.arange(sums.size))
    index = (
        pd.Index(labels[0], name=keys[0]) if len(keys) == 1 else pd.MultiIndex.from_arrays(labels, names=keys)
    )
    return pd.DataFrame(sums.values, index=index)


class _GroupSums:
    """Per-group sums as arrays, with the group labels decoded only for the rows asked for.

    Loaded files hold their dimensions as categoricals: then the sums come from `np.bincount` over the combined
    integer codes, several times faster than a pandas group-by on a million rows. Any other table (text keys,
    missing values) takes the pandas path.
    """

    def __init__(
        self, frame: pd.DataFrame, keys: list[str], columns: list[str], prepared: _Columns | None = None
    ) -> None:
        # Set by `_use_bins` on the bincount path; the pandas path keeps `full` None and reads `table`.
        self.labels: Callable[[np.ndarray], list[np.ndarray]] | None = None
        self.full: dict[str, np.ndarray] | None = None
        categoricals = [frame[k] for k in keys if isinstance(frame[k].dtype, pd.CategoricalDtype)]
        sizes = [len(c.cat.categories) for c in categoricals]
        if len(categoricals) == len(keys) and 0 < math.prod(sizes) <= max(4 * len(frame), 1 << 20):
            prepared = prepared or _Columns(frame)
            codes, missing_keys = zip(*(prepared.codes(k) for k in keys))
            values, missing_values = zip(*(prepared.values(c) for c in columns))
            if not any(missing_keys) and not any(missing_values):
                combined = np.ravel_multi_index(codes, sizes)  # one code per combination of the keys' codes
                bins = math.prod(sizes)
                counts = np.bincount(combined, minlength=bins)
                full = {c: np.bincount(combined, weights=v, minlength=bins) for c, v in zip(columns, values)}
                self._use_bins(counts, full, sizes, [c.cat.categories for c in categoricals])
                return
        self.table = frame.groupby(keys, observed=True, sort=False)[columns].sum()
        self.values = {c: self.table[c].to_numpy(dtype="float64") for c in columns}
        self.size = len(self.table)

    def _use_bins(
        self, counts: np.ndarray, full: dict[str, np.ndarray], sizes: list[int], categories: list
    ) -> None:
        """Takes sums over every combination of codes (`full`, with row `counts`), keeping those that occur."""
        self.counts, self.full, self.sizes, self.categories = counts, full, sizes, categories
        present = np.flatnonzero(counts)
        self.values = {c: array[present] for c, array in full.items()}

        def labels(rows: np.ndarray) -> list[np.ndarray]:
            positions = np.unravel_index(present[rows], sizes)
            return [np.asarray(cats.take(p), dtype=object) for cats, p in zip(categories, positions)]

        self.labels, self.size = labels, len(present)

    def marginal(self, position: int) -> _GroupSums:
        """The sums by this table's key at `position` alone, added up from its bins: no pass over the rows."""
        if self.full is None:  # callers check first: only bincount sums keep their bins
            raise ValueError("marginal() needs sums taken over categorical codes")
        full = self.full
        others = tuple(axis for axis in range(len(self.sizes)) if axis != position)

        def add_up(array: np.ndarray) -> np.ndarray:
            return array.reshape(self.sizes).sum(axis=others)

        sums = _GroupSums.__new__(_GroupSums)
        sums._use_bins(
            add_up(self.counts),
            {c: add_up(a) for c, a in full.items()},
            [self.sizes[position]],
            [self.categories[position]],
        )
        return sums

    def keys_of(self, rows: np.ndarray) -> list[tuple]:
        """The key values of these groups, one tuple each."""
        if self.labels is not None:
            return list(zip(*self.labels(rows)))
        index = self.table.index[rows]
        return [key if isinstance(key, tuple) else (key,) for key in index]


def _pairs_are_small(frame: pd.DataFrame, dimensions: Sequence[str]) -> bool:
    """Whether every pair's sums can be held at once: categorical dimensions whose pairs have no more combinations,
    together, than the table has rows. Six dimensions of 1,000 values each have 15M: kept together they took
    0.58 GB at 1M rows where one pair at a time takes 0.09 GB."""
    columns = [frame[d] for d in dimensions]
    if not all(isinstance(c.dtype, pd.CategoricalDtype) for c in columns):
        return False  # the pandas path keeps no bins to add up from
    sizes = [len(c.cat.categories) for c in columns]
    return sum(a * b for a, b in combinations(sizes, 2)) <= len(frame)


def largest_first(values: np.ndarray, keep: int) -> np.ndarray:
    """Positions of the `keep` largest values, largest first; ties keep their order (a stable sort's result).

    Partitions before sorting: ranking 200,000 drill-down groups to keep 50 needs no full sort.
    """
    if len(values) <= keep:
        return np.argsort(-values, kind="stable")
    threshold = np.partition(values, len(values) - keep)[len(values) - keep]
    candidates = np.flatnonzero(values >= threshold)
    return candidates[np.argsort(-values[candidates], kind="stable")][:keep]


def segment_table(
    grouped: pd.DataFrame, before: str, after: str, total_before: float, total_after: float
) -> pd.DataFrame:
    """Adds change, contribution, share and impact columns to per-segment before/after sums."""
    values_before = grouped[before].to_numpy(dtype="float64")
    values_after = grouped[after].to_numpy(dtype="float64")
    change = values_after - values_before
    total_change = total_after - total_before
    gross = np.abs(change).sum()
    # A total change this small against the gross movement is rounding noise: contribution is undefined then.
    no_net_change = abs(total_change) <= 1e-9 * max(gross, abs(total_before), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        contribution = np.full_like(change, np.nan) if no_net_change else change / total_change * 100.0
        share_before = (
            values_before / total_before * 100.0 if total_before != 0 else np.full_like(change, np.nan)
        )
        impact = np.where(share_before != 0, contribution / share_before, np.nan)
        gross_share = change / gross * 100.0 if gross else np.zeros_like(change)
    table = pd.DataFrame(
        {
            "before": values_before,
            "after": values_after,
            "abs_change": change,
            "pct_change": pct_change(values_before, values_after),
            "contribution_pct": contribution,
            "share_before": share_before,
            "impact_norm": impact,
            "share_of_gross_pct": gross_share,
        },
        index=grouped.index,
    )
    return table


def breakdown(
    frame: pd.DataFrame, dimension: str, before: str, after: str, cache: GroupSumCache | None = None
) -> pd.DataFrame:
    """Every value of one dimension with its change, largest absolute change first.

    Returns:
        Columns: <dimension>, before, after, abs_change, pct_change, contribution_pct, share_before,
        impact_norm, share_of_gross_pct.
    """
    if dimension not in frame.columns:
        raise EngineError(f"no dimension {dimension!r}; columns are: {', '.join(map(str, frame.columns))}.")
    total = totals(frame, before, after)
    grouped = group_sums(frame, [dimension], [before, after], cache)
    table = segment_table(grouped, before, after, total["before"], total["after"])
    table = table.reset_index()
    table[dimension] = table[dimension].astype(str)
    return _largest_change_first(table)


def _largest_change_first(table: pd.DataFrame) -> pd.DataFrame:
    order = np.argsort(-np.abs(table["abs_change"].to_numpy()), kind="stable")
    return table.iloc[order].reset_index(drop=True)


def drill_down(
    frame: pd.DataFrame,
    dimensions: Sequence[str],
    before: str,
    after: str,
    *,
    max_depth: int = 2,
    top: int = 10,
    refine_share: float = REFINE_SHARE,
    cache: GroupSumCache | None = None,
) -> pd.DataFrame:
    """Ranks 1- and 2-dimension slices by how much of the total change they explain.

    A narrower slice that explains at least `refine_share` of its parent's change (same direction) replaces the
    parent: "Germany × Android" is reported instead of "Germany" when the drop sits there.

    Returns:
        Columns: slice (dict dimension -> value), label ("country=DE × platform=iOS"), segment ("DE × iOS"), depth, before, after, abs_change, pct_change,
        contribution_pct, share_of_parent_pct (for a slice that replaced its parent), replaces (parent label).
    """
    dimensions = list(dimensions)
    if not dimensions:
        return pd.DataFrame(columns=DRILL_DOWN_COLUMNS)
    total = totals(frame, before, after)
    keep = max(top * 5, 50)
    candidates: list[dict[str, Any]] = []
    if (cache is None or cache.frame is not frame) and max_depth >= 2 and _pairs_are_small(frame, dimensions):
        # Pairs first, each dimension's sums added up from them, as `analyze` does: three passes over the rows
        # instead of six for three dimensions (the top_slices tool on 1M rows: 56 -> 31 ms), the same figures.
        cache = GroupSumCache(frame)
        cache.add_pairs(dimensions, [before, after])
    for depth in range(1, min(max_depth, len(dimensions)) + 1):
        for combo in combinations(dimensions, depth):
            sums = _sums_of(frame, combo, [before, after], cache)
            sums_before, sums_after = sums.values[before], sums.values[after]
            largest = largest_first(np.abs(sums_after - sums_before), keep)
            for values, value_before, value_after in zip(
                sums.keys_of(largest), sums_before[largest], sums_after[largest]
            ):
                slice_ = {d: str(v) for d, v in zip(combo, values)}
                candidates.append(
                    {
                        "slice": slice_,
                        "label": _label(slice_),
                        "depth": depth,
                        "before": float(value_before),
                        "after": float(value_after),
                        "abs_change": float(value_after - value_before),
                        "share_of_parent_pct": None,
                        "replaces": None,
                    }
                )
    replaced: dict[str, dict] = {}
    by_label = {c["label"]: c for c in candidates}
    for child in candidates:
        if child["depth"] < 2:
            continue
        for parent_dim, value in child["slice"].items():
            parent_label = _label({parent_dim: value})
            parent = by_label.get(parent_label)
            if parent is None or parent["abs_change"] == 0:
                continue
            share = child["abs_change"] / parent["abs_change"]
            if share >= refine_share:
                best = replaced.get(parent_label)
                if best is None or abs(child["abs_change"]) > abs(best["abs_change"]):
                    replaced[parent_label] = {
                        **child,
                        "share_of_parent_pct": share * 100.0,
                        "replaces": parent_label,
                    }
    rows, seen = [], set()
    for candidate in candidates:
        candidate = replaced.get(candidate["label"], candidate)
        if candidate["label"] not in seen:
            seen.add(candidate["label"])
            rows.append(candidate)
    # Only the `top` rows that are kept become a table (stable: ties keep the order above).
    rows = [rows[i] for i in largest_first(np.abs([row["abs_change"] for row in rows]), top)] if rows else []
    table = pd.DataFrame(
        {
            "slice": [row["slice"] for row in rows],
            "label": [row["label"] for row in rows],
            "segment": [slice_label(row["slice"]) for row in rows],
            **{key: [row[key] for row in rows] for key in ("depth", "before", "after", "abs_change")},
            "share_of_parent_pct": pd.Series([row["share_of_parent_pct"] for row in rows], dtype="float64"),
            "replaces": pd.Series([row["replaces"] for row in rows], dtype=object),
        }
    )
    table["pct_change"] = pct_change(
        table["before"].to_numpy(dtype="float64"), table["after"].to_numpy(dtype="float64")
    )
    no_net_change = table.empty or abs(total["abs_change"]) <= 1e-9 * max(abs(total["before"]), 1.0)
    table["contribution_pct"] = np.nan if no_net_change else table["abs_change"] / total["abs_change"] * 100.0
    return table[DRILL_DOWN_COLUMNS]


def _label(slice_: dict[str, str]) -> str:
    return " × ".join(f"{d}={v}" for d, v in slice_.items())


def ratio_decomposition(
    frame: pd.DataFrame, numerator: str, denominator: str, dimension: str
) -> dict[str, Any]:
    """Splits the change of a ratio metric (numerator / denominator) into rate and mix effects.

    With w the segment's share of the denominator and r its rate, the overall rate is sum(w * r). Each segment's
    change w1*r1 - w0*r0 is split exactly (midpoint, no remainder): rate effect (r1 - r0) * (w0 + w1) / 2 and
    mix effect (w1 - w0) * ((r0 + r1) / 2 - R) where R is the mean of the overall rates before and after (the
    centring moves nothing in the sum, since the weight shifts add up to zero, and makes a segment's mix effect
    positive when weight moves towards segments converting above average). A segment that is new or gone has no
    rate of its own in one period; its whole contribution is mix.

    Args:
        frame: The tidy table.
        numerator: Metric name of the numerator (columns `<numerator>_before` / `_after`).
        denominator: Metric name of the denominator.
        dimension: The dimension whose segments are weighted.

    Returns:
        before, after, change, rate_effect, mix_effect (rates as fractions), rate_share_pct, mix_share_pct,
        counts (whether a significance test applies), and by_segment, a DataFrame with one row per segment.
    """
    n0, n1 = _values(frame, f"{numerator}_before"), _values(frame, f"{numerator}_after")
    d0, d1 = _values(frame, f"{denominator}_before"), _values(frame, f"{denominator}_after")
    if dimension not in frame.columns:
        raise EngineError(f"no dimension {dimension!r}; columns are: {', '.join(map(str, frame.columns))}.")
    sums = pd.DataFrame({"n0": n0, "n1": n1, "d0": d0, "d1": d1, dimension: frame[dimension].to_numpy()})
    grouped = sums.groupby(dimension, observed=True, sort=False)[["n0", "n1", "d0", "d1"]].sum()
    N0, N1, D0, D1 = (float(grouped[c].sum()) for c in ("n0", "n1", "d0", "d1"))
    if D0 == 0 or D1 == 0:
        period = "before" if D0 == 0 else "after"
        raise EngineError(f"the denominator {denominator!r} totals 0 {period}; the rate is undefined.")
    if (grouped[["d0", "d1"]].to_numpy() < 0).any():
        raise EngineError(
            f"the denominator {denominator!r} has negative values; a rate needs counts or amounts ≥ 0."
        )
    g_n0, g_n1 = grouped["n0"].to_numpy(), grouped["n1"].to_numpy()
    g_d0, g_d1 = grouped["d0"].to_numpy(), grouped["d1"].to_numpy()
    rate_before_total, rate_after_total = N0 / D0, N1 / D1
    w0, w1 = g_d0 / D0, g_d1 / D1
    with np.errstate(divide="ignore", invalid="ignore"):
        r0 = np.where(g_d0 > 0, g_n0 / g_d0, np.nan)
        r1 = np.where(g_d1 > 0, g_n1 / g_d1, np.nan)
    # A segment absent in one period borrows its other period's rate, so its rate effect is zero and its whole
    # contribution (w1 * r1 or -w0 * r0) lands in the mix effect.
    r0_filled = np.where(np.isnan(r0), np.nan_to_num(r1), r0)
    r1_filled = np.where(np.isnan(r1), np.nan_to_num(r0), r1)
    centre = (rate_before_total + rate_after_total) / 2.0
    rate_effect = (r1_filled - r0_filled) * (w0 + w1) / 2.0
    mix_effect = (w1 - w0) * ((r0_filled + r1_filled) / 2.0 - centre)
    change = rate_after_total - rate_before_total
    total_rate, total_mix = float(rate_effect.sum()), float(mix_effect.sum())
    counts = all_whole_numbers(np.concatenate([g_n0, g_n1, g_d0, g_d1])) and bool(
        np.all(g_n0 <= g_d0) and np.all(g_n1 <= g_d1)
    )
    p_values = _two_proportion_p_values(g_n0, g_d0, g_n1, g_d1) if counts else np.full(len(grouped), np.nan)
    by_segment = pd.DataFrame(
        {
            dimension: grouped.index.astype(str),
            "numerator_before": g_n0,
            "numerator_after": g_n1,
            "denominator_before": g_d0,
            "denominator_after": g_d1,
            "rate_before": r0,
            "rate_after": r1,
            "rate_change": r1 - r0,
            "weight_before": w0,
            "weight_after": w1,
            "rate_effect": rate_effect,
            "mix_effect": mix_effect,
            "total_effect": rate_effect + mix_effect,
            "p_value": p_values,
            "significant": (p_values < SIGNIFICANCE_LEVEL) if counts else np.full(len(grouped), None),
        }
    )
    order = np.argsort(-np.abs(by_segment["total_effect"].to_numpy()), kind="stable")
    by_segment = by_segment.iloc[order].reset_index(drop=True)
    share = (lambda part: part / change * 100.0) if change else (lambda part: None)
    return {
        "numerator": numerator,
        "denominator": denominator,
        "dimension": dimension,
        "before": rate_before_total,
        "after": rate_after_total,
        "change": change,
        "pct_change": _none_if_nan(pct_change(rate_before_total, rate_after_total)),
        "rate_effect": total_rate,
        "mix_effect": total_mix,
        "rate_share_pct": share(total_rate),
        "mix_share_pct": share(total_mix),
        "counts": counts,
        "by_segment": by_segment,
    }


def _two_proportion_p_values(n0: np.ndarray, d0: np.ndarray, n1: np.ndarray, d1: np.ndarray) -> np.ndarray:
    """Two-sided p-value of a two-proportion z-test per segment (NaN where a period has no trials)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (n0 + n1) / (d0 + d1)
        standard_error = np.sqrt(pooled * (1 - pooled) * (1 / d0 + 1 / d1))
        z = (n1 / d1 - n0 / d0) / standard_error
    valid = (d0 > 0) & (d1 > 0) & (standard_error > 0) & np.isfinite(z)
    p_values = np.full(len(n0), np.nan)
    p_values[valid] = [math.erfc(abs(value) / math.sqrt(2.0)) for value in z[valid]]
    # Equal rates with no spread at all (0% or 100% in both periods) is no evidence of change.
    p_values[(d0 > 0) & (d1 > 0) & (standard_error == 0)] = 1.0
    return p_values


def _none_if_nan(value: np.ndarray | float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value
