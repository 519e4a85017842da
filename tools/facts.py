"""The analysis as a typed contract, and its fact table: one row per engine figure, with whose figure it is.

`tools.analysis.analyze` returns an `Analysis` (a JSON-safe dict, typed here so readers know every key), and
`fact_table` flattens it into `Fact` rows. The verifier (`tools.verification`) binds each number of an answer to
an entity and a kind and looks it up in the fact table, so "99.95%" is France's share of the change, not "some
figure somewhere". Values are in the units prose uses: percent for shares and % changes, percentage points for
rate changes and rate/mix effects (the engine keeps rates as fractions), the metric's own units for levels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, cast

TOTAL = "total"


class Totals(TypedDict):
    """One metric summed over every segment. pct_change is None when `before` is 0 (new)."""

    before: float
    after: float
    abs_change: float
    pct_change: float | None


class SegmentRow(TypedDict, total=False):
    """One value of a dimension (breakdowns). The row also holds the dimension's own key: {"country": "France"}.

    Percentages are in percent; contribution_pct (share of the total change) is None when the total is flat.
    """

    before: float
    after: float
    abs_change: float
    pct_change: float | None
    contribution_pct: float | None
    share_before: float | None
    impact_norm: float | None
    share_of_gross_pct: float | None


class SliceRow(TypedDict):
    """A 1- or 2-dimension slice of the drill-down (top_slices)."""

    slice: dict[str, str]
    label: str  # "country=Germany × platform=Android"
    segment: str  # "Germany × Android"
    depth: int
    before: float
    after: float
    abs_change: float
    pct_change: float | None
    contribution_pct: float | None
    share_of_parent_pct: float | None
    replaces: str | None


class RatioSegmentRow(TypedDict, total=False):
    """One segment of a rate/mix decomposition; rates, weights and effects are fractions. Holds its dimension key."""

    numerator_before: float
    numerator_after: float
    denominator_before: float
    denominator_after: float
    rate_before: float | None
    rate_after: float | None
    rate_change: float | None
    weight_before: float
    weight_after: float
    rate_effect: float
    mix_effect: float
    total_effect: float
    p_value: float | None
    significant: bool | None


class RatioDimension(TypedDict):
    rate_effect: float
    mix_effect: float
    by_segment: list[RatioSegmentRow]


class Ratio(TypedDict):
    """A ratio metric (numerator / denominator) split by the first dimension; rates and effects are fractions."""

    numerator: str
    denominator: str
    dimension: str
    before: float
    after: float
    change: float
    pct_change: float | None
    rate_effect: float
    mix_effect: float
    rate_share_pct: float | None
    mix_share_pct: float | None
    counts: bool
    numerator_totals: Totals
    denominator_totals: Totals
    by_segment: list[RatioSegmentRow]
    by_dimension: dict[str, RatioDimension]


class ToolFact(TypedDict):
    """A figure a KPI tool contributes to verification (`tools.tool_spec.KpiTool.facts`).

    slice: whose figure: {} for the total, {"country": "France"}, or a slice of several dimensions.
    kind: one of `KIND_LABELS`, in prose units (percent, pp or the metric's units).
    """

    slice: dict[str, str]
    metric: str
    kind: str
    value: float


class LeftOut(TypedDict, total=False):
    """The rows a cut table left out: how many, and their summed figures (before/after/abs_change or effects)."""

    segments: int
    before: float | None
    after: float | None
    abs_change: float | None
    rate_effect: float | None
    mix_effect: float | None
    total_effect: float | None


class Omitted(TypedDict, total=False):
    """Per cut table (keyed by dimension): what it left out. A table that was not cut is absent."""

    breakdowns: dict[str, LeftOut]
    ratio: dict[str, LeftOut]


class Day(TypedDict):
    """One day of the later window: its total and its difference from the earlier window's baseline."""

    date: str  # ISO date
    total: float
    difference: float


class ConcentratedRun(TypedDict):
    """The shortest run of consecutive later days holding at least 70% of the total difference."""

    start: str
    end: str
    days: int
    share_pct: float


class Timing(TypedDict):
    """When the change happened (time series only); see `tools.windows.when_it_changed`."""

    baseline: float
    days: list[Day]
    total_difference: float
    run: ConcentratedRun | None
    concentrated: bool


class _AnalysisCore(TypedDict):
    metric: str
    dimensions: list[str]
    periods: list[str]
    totals: Totals
    breakdowns: dict[str, list[SegmentRow]]
    top_slices: list[SliceRow]
    ratio: Ratio | None
    notes: list[str]
    tool_facts: NotRequired[list[ToolFact]]


class Analysis(_AnalysisCore, total=False):
    """What `tools.analysis.analyze` returns: every figure an answer is verified against (JSON-safe).

    The contract for every reader (verification, facts, runner, export, render, view model): the keys of
    `_AnalysisCore` are always there; `omitted` is there for a fresh analysis (older saved runs lack it), `timing`
    and `windows` only for a time series. Only figures reachable from here are facts (`fact_table`), so only they
    can pass verification: a new tool's numbers must land in this dict to count as verified.
    """

    omitted: Omitted
    change_log: dict[str, Any]  # a run with an events file: its events and their matches (`tools.change_log`)
    source: dict[str, Any]  # data summed where it lives: {engine, rows_scanned} (`tools.sources`)
    timing: Timing
    windows: list[str]  # the two window labels, earlier first


def dimension_value(row: SegmentRow | RatioSegmentRow | Mapping[str, Any], dimension: str) -> Any:
    """A row's value of its dimension: rows hold it under the dimension's own name ({"country": "France"}), a key
    a TypedDict cannot name."""
    return cast("Mapping[str, Any]", row)[dimension]


# The kinds of figure, as the verifier names them to people.
KIND_LABELS = {
    "before": "value before",
    "after": "value after",
    "abs_change": "change",
    "pct_change": "% change",
    "share_of_change": "share of the change",
    "share_before": "share before",
    "share_after": "share after",
    "impact_norm": "impact (× its size)",
    "share_of_gross": "share of all movement",
    "share_of_parent": "share of its parent's change",
    "rate_before": "rate before",
    "rate_after": "rate after",
    "rate_change": "rate change (pp)",
    "rate_effect": "rate effect (pp)",
    "mix_effect": "mix effect (pp)",
    "total_effect": "rate + mix effect (pp)",
    "weight_before": "share of the denominator before",
    "weight_after": "share of the denominator after",
    "rate_share": "rate effect's share of the change",
    "mix_share": "mix effect's share of the change",
    "p_value": "p-value",
}
# Kinds whose sign says a direction (fell/rose); the others are levels, shares or sizes.
CHANGE_KINDS = {"abs_change", "pct_change", "rate_change", "rate_effect", "mix_effect", "total_effect"}
UNITS = {
    **dict.fromkeys(
        [
            "pct_change",
            "share_of_change",
            "share_before",
            "share_after",
            "share_of_gross",
            "share_of_parent",
            "rate_before",
            "rate_after",
            "weight_before",
            "weight_after",
            "rate_share",
            "mix_share",
        ],
        "%",
    ),
    **dict.fromkeys(["rate_change", "rate_effect", "mix_effect", "total_effect"], "pp"),
    "impact_norm": "x",
}


@dataclass(slots=True)
class Fact:
    """One engine figure.

    Attributes:
        entity: "total", one segment "country=France", or a slice "country=Germany & platform=Android".
        label: How people name the entity: "the total", "France", "Germany × Android".
        metric: The metric the figure describes ("revenue", or "orders/users" for the ratio itself).
        kind: One of `KIND_LABELS`.
        value: In prose units (percent, pp or the metric's units).
        sign: -1, 0 or 1.
        source: Where it sits in the analysis ("breakdowns.country[2].pct_change").
    """

    entity: str
    label: str
    metric: str
    kind: str
    value: float
    sign: int
    source: str

    @property
    def unit(self) -> str:
        return UNITS.get(self.kind, "")

    def shown(self) -> str:
        """The figure as a person reads it: "-55.19%", "-0.58 pp", "-132,847.57", "7.19x"."""
        unit = self.unit
        if self.kind == "p_value":
            return f"{self.value:.4g}"
        if unit == "%":
            return f"{self.value:+.2f}%" if self.kind in CHANGE_KINDS else f"{self.value:.2f}%"
        if unit == "pp":
            return f"{self.value:+.2f} pp"
        if unit == "x":
            return f"{self.value:.2f}x"
        return f"{self.value:+,.2f}" if self.kind in CHANGE_KINDS else f"{self.value:,.2f}"


def entity_key(slice_: dict[str, str]) -> str:
    """ "country=Germany & platform=Android" for {"country": "Germany", "platform": "Android"} (order kept)."""
    return " & ".join(f"{d}={v}" for d, v in slice_.items()) if slice_ else TOTAL


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


class _Builder:
    def __init__(self) -> None:
        self.facts: list[Fact] = []

    def add(
        self, entity: str, label: str, metric: str, kind: str, value: Any, source: str, scale: float = 1.0
    ) -> None:
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        value = float(value) * scale
        if math.isfinite(value):
            self.facts.append(Fact(entity, label, metric, kind, value, _sign(value), source))


_LEVEL_KEYS = {"before": "before", "after": "after", "abs_change": "abs_change", "pct_change": "pct_change"}
_SEGMENT_KEYS = {
    **_LEVEL_KEYS,
    "contribution_pct": "share_of_change",
    "share_before": "share_before",
    "impact_norm": "impact_norm",
    "share_of_gross_pct": "share_of_gross",
    "share_of_parent_pct": "share_of_parent",
}
_RATIO_SEGMENT_KEYS = {
    "rate_before": "rate_before",
    "rate_after": "rate_after",
    "rate_change": "rate_change",
    "weight_before": "weight_before",
    "weight_after": "weight_after",
    "rate_effect": "rate_effect",
    "mix_effect": "mix_effect",
    "total_effect": "total_effect",
}


def fact_table(analysis: Analysis | dict[str, Any]) -> list[Fact]:
    """Every figure of the analysis as a `Fact`, rates and effects in percent / pp."""
    build = _Builder()
    metric = str(analysis.get("metric") or "")
    for key, kind in _LEVEL_KEYS.items():
        build.add(TOTAL, "the total", metric, kind, (analysis.get("totals") or {}).get(key), f"totals.{key}")
    total_after = (analysis.get("totals") or {}).get("after")
    for dimension, rows in (analysis.get("breakdowns") or {}).items():
        for i, row in enumerate(rows):
            name = str(row.get(dimension))
            entity = entity_key({dimension: name})
            where = f"breakdowns.{dimension}[{i}]"
            for key, kind in _SEGMENT_KEYS.items():
                build.add(entity, name, metric, kind, row.get(key), f"{where}.{key}")
            # The share after is not in the table; "its share fell from 13.9% to 6.7%" needs it.
            if total_after and row.get("after") is not None:
                build.add(
                    entity,
                    name,
                    metric,
                    "share_after",
                    row["after"] / total_after * 100.0,
                    f"{where}.after / totals.after",
                )
    for i, row in enumerate(analysis.get("top_slices") or []):
        slice_ = {str(d): str(v) for d, v in (row.get("slice") or {}).items()}
        entity, label = entity_key(slice_), " × ".join(slice_.values())
        for key, kind in _SEGMENT_KEYS.items():
            build.add(entity, label, metric, kind, row.get(key), f"top_slices[{i}].{key}")
    ratio = analysis.get("ratio")
    if ratio:
        _ratio_facts(build, ratio)
    for i, fact in enumerate(analysis.get("tool_facts") or []):
        slice_ = {str(d): str(v) for d, v in (fact.get("slice") or {}).items()}
        label = " × ".join(slice_.values()) if slice_ else "the total"
        build.add(
            entity_key(slice_),
            label,
            str(fact.get("metric") or metric),
            str(fact.get("kind")),
            fact.get("value"),
            f"tool_facts[{i}]",
        )
    run = (analysis.get("timing") or {}).get("run")
    if (
        run
    ):  # a time series: "74.67% of the drop fell on 2026-11-23 to 2026-11-27" is a share of the total change
        build.add(TOTAL, "the total", metric, "share_of_change", run.get("share_pct"), "timing.run.share_pct")
    return build.facts


def _ratio_facts(build: _Builder, ratio: Ratio | dict[str, Any]) -> None:
    numerator, denominator = str(ratio["numerator"]), str(ratio["denominator"])
    rate = f"{numerator}/{denominator}"
    total = {
        "before": "rate_before",
        "after": "rate_after",
        "change": "rate_change",
        "rate_effect": "rate_effect",
        "mix_effect": "mix_effect",
    }
    for key, kind in total.items():
        build.add(TOTAL, "the total", rate, kind, ratio.get(key), f"ratio.{key}", 100.0)
    build.add(TOTAL, "the total", rate, "pct_change", ratio.get("pct_change"), "ratio.pct_change")
    build.add(TOTAL, "the total", rate, "rate_share", ratio.get("rate_share_pct"), "ratio.rate_share_pct")
    build.add(TOTAL, "the total", rate, "mix_share", ratio.get("mix_share_pct"), "ratio.mix_share_pct")
    levels = (
        ("numerator_totals", numerator, ratio.get("numerator_totals")),
        ("denominator_totals", denominator, ratio.get("denominator_totals")),
    )
    for part, name, figures in levels:
        for key, kind in _LEVEL_KEYS.items():
            build.add(TOTAL, "the total", name, kind, (figures or {}).get(key), f"ratio.{part}.{key}")
    by_dimension: dict[str, Any] = ratio.get("by_dimension") or {
        str(ratio["dimension"]): {"by_segment": ratio.get("by_segment")}
    }
    for dimension, split in by_dimension.items():
        for i, row in enumerate(split.get("by_segment") or []):
            name = str(row.get(dimension))
            entity = entity_key({dimension: name})
            where = f"ratio.by_dimension.{dimension}.by_segment[{i}]"
            for key, kind in _RATIO_SEGMENT_KEYS.items():
                build.add(entity, name, rate, kind, row.get(key), f"{where}.{key}", 100.0)
            build.add(entity, name, rate, "p_value", row.get("p_value"), f"{where}.p_value")
            for metric, prefix in ((numerator, "numerator"), (denominator, "denominator")):
                for period in ("before", "after"):
                    key = f"{prefix}_{period}"
                    build.add(entity, name, metric, period, row.get(key), f"{where}.{key}")


def segment_names(analysis: Analysis | dict[str, Any]) -> dict[str, set[str]]:
    """Each segment name written in the analysis -> the entities it names (one per dimension that has it)."""
    names: dict[str, set[str]] = {}
    for dimension, rows in (analysis.get("breakdowns") or {}).items():
        for row in rows:
            names.setdefault(str(row.get(dimension)), set()).add(
                entity_key({dimension: str(row.get(dimension))})
            )
    for row in analysis.get("top_slices") or []:
        for dimension, value in (row.get("slice") or {}).items():
            names.setdefault(str(value), set()).add(entity_key({str(dimension): str(value)}))
    ratio = analysis.get("ratio") or {}
    for dimension, part in (ratio.get("by_dimension") or {}).items():
        for row in part.get("by_segment") or []:
            names.setdefault(str(row.get(dimension)), set()).add(
                entity_key({dimension: str(row.get(dimension))})
            )
    for fact in analysis.get("tool_facts") or []:  # segments a KPI tool's figures name
        for dimension, value in (fact.get("slice") or {}).items():
            names.setdefault(str(value), set()).add(entity_key({str(dimension): str(value)}))
    return names


def slice_entities(analysis: Analysis | dict[str, Any]) -> dict[frozenset[str], str]:
    """The slices of two or more dimensions: {{"country=Germany", "platform=Android"}: "country=...&..."}."""
    found = {}
    for row in [*(analysis.get("top_slices") or []), *(analysis.get("tool_facts") or [])]:
        slice_ = {str(d): str(v) for d, v in (row.get("slice") or {}).items()}
        if len(slice_) > 1:
            found[frozenset(entity_key({d: v}) for d, v in slice_.items())] = entity_key(slice_)
    return found
