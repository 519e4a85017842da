"""The deterministic analysis of a loaded file: every figure the agent's answer is verified against.

The contract (`tools.facts.Analysis`): only the figures in what `analyze` returns can pass verification; a number
of an answer that is not among them is "unsupported", however right. The analysis holds the totals, each
dimension's breakdown, the drill-down, the ratio's rate and mix effects and the timing, plus the figures KPI tools
contribute: a tool whose numbers are not among these (a new kind of breakdown, say) declares them in its one
definition (`tools.tool_spec.KpiTool.facts`), and `analyze(..., tools=...)` adds them as `tool_facts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tools import engine
from tools.facts import Analysis, SliceRow
from tools.loading import DataError, Dataset, listing
from tools.windows import when_it_changed

if TYPE_CHECKING:
    from tools.tool_spec import KpiTool

# Rows per table that go into the analysis (the `--json` output, the page, the history, the reports). The engine's
# tables are ordered by the size of the change, so these are the segments a summary speaks of; the rest is one
# "others" line in `omitted`, and the full tables are downloads computed by the engine (`agent.output.export`). A file
# with 1M distinct segments wrote 263 MB of JSON before this cap.
TABLE_ROWS = 100


def parse_ratio(ratio: str, dataset: Dataset) -> tuple[str, str]:
    """Splits `orders/users` into numerator and denominator metrics, checking both exist."""
    parts = [dataset.find_metric(part.strip()) for part in ratio.replace("÷", "/").split("/")]
    if len(parts) != 2 or not all(parts):
        raise DataError(
            f"The ratio {ratio!r}: write it as NUMERATOR/DENOMINATOR, for example orders/users.",
            setting="ratio",
        )
    for part in parts:
        if part in dataset.left_out:
            dataset.metric_columns(part)  # names the scenario the metric lacks
    unknown = [p for p in parts if p not in dataset.metrics]
    if unknown:
        raise DataError(
            f"{dataset.source}: the ratio names {', '.join(map(repr, unknown))}, which is not a metric "
            f"of this file. Metrics: {listing(dataset.metrics)}.",
            setting="ratio",
        )
    if parts[0] == parts[1]:
        raise DataError(f"The ratio {ratio!r}: numerator and denominator must differ.", setting="ratio")
    check_same_provenance(dataset, parts[0], parts[1])
    return parts[0], parts[1]


def check_same_provenance(dataset: Dataset, numerator: str, denominator: str) -> None:
    """Refuses a ratio whose two parts come from different scenarios or periods.

    The loader takes one scenario for every metric; this check is where the ratio is built, so that no other
    way of filling a Dataset (long tables, windows, databases) can divide one scenario by another.
    """
    top, bottom = dataset.columns.get(numerator), dataset.columns.get(denominator)
    if top is None or bottom is None:
        return
    if top.scenario != bottom.scenario:
        raise DataError(
            f"{dataset.source}: {numerator} comes from scenario {top.scenario!r} ({top.after}) but "
            f"{denominator} from {bottom.scenario!r} ({bottom.after}); a ratio needs both from the "
            "same scenario."
        )
    if tuple(top.periods) != tuple(bottom.periods):
        raise DataError(
            f"{dataset.source}: {numerator} compares {' with '.join(top.periods)} but {denominator} "
            f"compares {' with '.join(bottom.periods)}; a ratio needs both parts from the same two "
            "periods."
        )


def choose_metric(dataset: Dataset, metric: str | None, ratio: tuple[str, str] | None) -> str:
    """The metric the totals and breakdowns describe: the one asked for, the ratio's numerator, or the first."""
    if metric:
        dataset.metric_columns(metric)  # raises a clear error for an unknown name
        return dataset.find_metric(metric)
    return ratio[0] if ratio else dataset.metrics[0]


def analyze(
    dataset: Dataset,
    *,
    metric: str | None = None,
    ratio: str | None = None,
    by: Sequence[str] | None = None,
    top: int = 10,
    max_rows: int = TABLE_ROWS,
    tools: Sequence[KpiTool] = (),
) -> Analysis:
    """Computes totals, per-dimension breakdowns, the drill-down and (with a ratio) rate and mix effects.

    Each table keeps its `max_rows` largest changes; what is left out is summed in `omitted`. Each of `tools` with
    `facts` adds its figures (`tool_facts`, only when there are some), so that verification knows them.

    Returns:
        A JSON-able dict: metric, dimensions, periods, totals, breakdowns, top_slices, ratio (or None), notes,
        omitted ({"breakdowns": {dimension: others}, "ratio": {dimension: others}} for tables that were cut, each
        `others` the number of segments left out and their summed figures), timing (for a time series); typed as
        `tools.facts.Analysis`.
    """
    ratio_parts = parse_ratio(ratio, dataset) if ratio else None
    metric = choose_metric(dataset, metric, ratio_parts)
    dimensions = [dataset.find_dimension(d) for d in by] if by else list(dataset.dimensions)
    unknown = [d for d in dimensions if d not in dataset.dimensions]
    if unknown:
        raise DataError(
            f"{dataset.source}: {', '.join(map(repr, unknown))} is not a dimension of this file. "
            f"Dimensions: {listing(dataset.dimensions) or '(none)'}."
        )
    before, after = dataset.metric_columns(metric)
    frame = dataset.frame
    totals = engine.totals(frame, before, after)
    cache = engine.GroupSumCache(frame)
    # Pairs first: the drill-down needs them, and each dimension's own sums then add up from them.
    cache.add_pairs(dimensions, [before, after])
    breakdowns = {d: engine.breakdown(frame, d, before, after, cache) for d in dimensions}
    slices = engine.drill_down(frame, dimensions, before, after, top=top, cache=cache)
    notes = []
    for name in [metric, *(ratio_parts or [])]:
        kind = dataset.not_additive.get(name)
        if kind:
            advice = (
                " Explain it as a ratio of two counts instead, if the file has them."
                if kind == "a rate"
                else ""
            )
            notes.append(
                f"{name} looks like {kind}: its values do not add up across segments, so totals and "
                f"shares of it mislead.{advice}"
            )
    if totals["before"] == 0:
        notes.append(f"{metric} was 0 before, so its percentage change is undefined (new).")
    if dimensions and breakdowns[dimensions[0]]["contribution_pct"].isna().all() and len(frame):
        notes.append(
            f"{metric} has no net change; segments are compared by their share of the gross movement."
        )
    result: dict[str, Any] = {
        "metric": metric,
        "dimensions": dimensions,
        "periods": list(dataset.periods),
        "totals": jsonable(totals),
        "breakdowns": {d: records(table.head(max_rows)) for d, table in breakdowns.items()},
        "top_slices": records(slices),
        "ratio": None,
        "notes": notes,
        "omitted": {"breakdowns": _others(breakdowns, max_rows, ["before", "after", "abs_change"])},
    }
    if ratio_parts:
        if not dimensions:
            raise DataError(f"{dataset.source}: a ratio needs at least one dimension to split it by.")
        decompositions = {d: engine.ratio_decomposition(frame, *ratio_parts, d) for d in dimensions}
        primary = decompositions[dimensions[0]]
        result["ratio"] = {
            **jsonable({k: v for k, v in primary.items() if k != "by_segment"}),
            "numerator_totals": jsonable(engine.totals(frame, *dataset.metric_columns(ratio_parts[0]))),
            "denominator_totals": jsonable(engine.totals(frame, *dataset.metric_columns(ratio_parts[1]))),
            "by_segment": records(primary["by_segment"].head(max_rows)),
            "by_dimension": {
                d: {
                    "rate_effect": jsonable(r["rate_effect"]),
                    "mix_effect": jsonable(r["mix_effect"]),
                    "by_segment": records(r["by_segment"].head(max_rows)),
                }
                for d, r in decompositions.items()
            },
        }
        effects = ["rate_effect", "mix_effect", "total_effect"]
        by_segment = {d: r["by_segment"] for d, r in decompositions.items()}
        result["omitted"]["ratio"] = _others(by_segment, max_rows, effects)
    summed_by = getattr(dataset, "engine", None)
    if (
        summed_by
    ):  # the segment table was summed where the data lives (tools.sources): by what, over how many rows
        result["source"] = {"engine": summed_by, "rows_scanned": int(getattr(dataset, "rows_scanned", 0))}
    if dataset.windows and dataset.daily is not None and metric in dataset.daily:
        # When, not only where: the later window's days against the earlier window's daily average.
        result["timing"] = jsonable(when_it_changed(dataset.daily, *dataset.windows, value=metric))
        result["windows"] = [window.label() for window in dataset.windows]
    contributed = [fact for spec in tools if spec.facts is not None for fact in spec.facts(frame, result)]
    if contributed:
        result["tool_facts"] = jsonable(contributed)
    # Every part is JSON-safe already: walking 10,000 breakdown rows again would cost more than the analysis.
    return result  # type: ignore[return-value]


def _others(tables: dict[str, pd.DataFrame], max_rows: int, columns: list[str]) -> dict[str, dict[str, Any]]:
    """For each table longer than `max_rows`: how many rows were left out, and their sums of `columns`."""
    others = {}
    for name, table in tables.items():
        rest = table.iloc[max_rows:]
        if len(rest):
            sums = {column: rest[column].to_numpy(dtype="float64").sum() for column in columns}
            others[name] = {"segments": len(rest), **jsonable(sums)}
    return others


def records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as JSON-safe dicts, built column by column (a 10,000-row breakdown takes milliseconds)."""
    columns = [_column_values(table[name]) for name in table.columns]
    keys = [str(name) for name in table.columns]
    return [dict(zip(keys, row)) for row in zip(*columns)]


def _column_values(column: pd.Series) -> list[Any]:
    """One column as JSON-safe Python values (see `jsonable`)."""
    if pd.api.types.is_float_dtype(column.dtype) and not isinstance(column.dtype, pd.CategoricalDtype):
        return clean_floats(column.to_numpy(dtype="float64", na_value=np.nan))
    whole = pd.api.types.is_bool_dtype(column.dtype) or pd.api.types.is_integer_dtype(column.dtype)
    if whole and not column.isna().any():
        return column.to_numpy().tolist()
    if pd.api.types.is_string_dtype(column.dtype) or isinstance(column.dtype, pd.CategoricalDtype):
        values = column.astype(object)
        return values.where(values.notna(), None).tolist()
    return [jsonable(value) for value in column.tolist()]


def clean_floats(values: np.ndarray) -> list[float | None]:
    """Floats rounded to 15 significant digits (float noise gone, every real digit kept); NaN and inf -> None.

    Sums of cents carry noise like -132919.66000000015. Vectorised: x * 10**d, rounded to a whole number, then
    divided by 10**d; both powers are exact doubles for d <= 22 and the whole number is exact below 2**53, so the
    result is the double nearest to the 15-digit decimal. Other magnitudes go through the decimal text.
    """
    values = np.asarray(values, dtype="float64")
    finite = np.isfinite(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.floor(np.log10(np.abs(values)))
    digits = 14 - np.where(finite & (values != 0), magnitude, 0)
    fast = finite & (digits >= 0) & (digits <= 22)
    scale = 10.0 ** np.where(fast, digits, 0)
    cleaned = np.where(fast, np.round(values * scale) / scale, values) + 0.0  # + 0.0 turns -0.0 into 0.0
    result = cleaned.astype(object)
    for index in np.flatnonzero(finite & ~fast):
        result[index] = float(f"{values[index]:.15g}")
    result[~finite] = None
    return result.tolist()


def jsonable(value: Any) -> Any:
    """Makes engine output JSON-safe: NaN/inf -> None, numpy scalars -> Python, floats cleaned of float noise."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, pd.DataFrame):
        return records(value)
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return clean_floats(np.array([value]))[0]
    if value is None or isinstance(value, (str, int)):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def find_focus(
    question: str, dataset: Dataset, dimensions: Sequence[str] | None = None
) -> dict[str, list[str]]:
    """The segments a question names: for each dimension, its values that appear in the question as words.

    "Why did Android revenue drop in Germany, and was iOS affected?" -> {"country": ["Germany"], "platform":
    ["Android", "iOS"]}. Matched without regard to case, on whole words; dimensions with more than 5,000 values
    are not searched (their values are ids, not names a question uses).
    """
    text = f" {' '.join(_words(question))} "
    focus: dict[str, list[str]] = {}
    for dimension in dimensions or dataset.dimensions:
        column = dataset.frame[dimension]
        values = column.cat.categories if isinstance(column.dtype, pd.CategoricalDtype) else column.unique()
        if len(values) > 5000:
            continue
        found = [str(v) for v in values if str(v).strip() and f" {' '.join(_words(str(v)))} " in text]
        # "Paris" as origin and as destination: the first dimension takes it (their intersection is no answer).
        taken = {v for values_ in focus.values() for v in values_}
        found = [v for v in found if v not in taken]
        if found:  # in the order the question names them
            focus[dimension] = sorted(found, key=lambda v: text.find(f" {' '.join(_words(v))} "))
    return focus


def _words(text: str) -> list[str]:
    return [w for w in "".join(ch.lower() if ch.isalnum() else " " for ch in text).split() if w]


def focus_slices(dataset: Dataset, analysis: Analysis, focus: dict[str, list[str]]) -> list[SliceRow]:
    """Slice rows (as in `top_slices`) for the segments a question names and their breakdown by the other
    dimensions: the figures an answer about them may state, so that verification knows them.

    Shares are of the total change, like every `contribution_pct` of the analysis.
    """
    before, after = dataset.metric_columns(analysis["metric"])
    frame = dataset.frame
    total = engine.totals(frame, before, after)
    others = [d for d in analysis["dimensions"] if d not in focus]
    rows: list[dict[str, Any]] = []
    for combination in _combinations(focus):
        mask = np.ones(len(frame), dtype=bool)
        for dimension, value in combination.items():
            mask &= (frame[dimension].astype(str) == value).to_numpy()
        part = frame.loc[mask]
        if part.empty:
            continue
        rows.append(_slice_row(combination, engine.totals(part, before, after), total))
        for dimension in others:
            for _, row in engine.breakdown(part, dimension, before, after).head(TABLE_ROWS).iterrows():
                figures = {"before": row["before"], "after": row["after"]}
                rows.append(_slice_row({**combination, dimension: str(row[dimension])}, figures, total))
    return jsonable(rows)


def _combinations(focus: dict[str, list[str]]) -> list[dict[str, str]]:
    combinations: list[dict[str, str]] = [{}]
    for dimension, values in focus.items():
        combinations = [{**c, dimension: v} for c in combinations for v in values]
    return combinations[:50]


def _slice_row(parts: dict[str, str], figures: Mapping[str, Any], total: Mapping[str, Any]) -> dict[str, Any]:
    from tools.segment_labels import slice_label

    before, after = float(figures["before"]), float(figures["after"])
    change = after - before
    total_change = float(total["abs_change"])
    return {
        "slice": dict(parts),
        "label": " × ".join(f"{d}={v}" for d, v in parts.items()),
        "segment": slice_label(parts),
        "depth": len(parts),
        "before": before,
        "after": after,
        "abs_change": change,
        "pct_change": change / abs(before) * 100.0 if before else None,
        "contribution_pct": change / total_change * 100.0 if total_change else None,
    }


def named_metric(question: str, dataset: Dataset) -> str | None:
    """The metric a question names as words ("and orders?"), the longest name first; None when it names none."""
    text = f" {' '.join(_words(question))} "
    for metric in sorted(dataset.metrics, key=len, reverse=True):
        if f" {' '.join(_words(metric))} " in text:
            return metric
    return None
