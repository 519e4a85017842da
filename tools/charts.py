"""Plotly figures of a change: the top segments and an "others" bar, a waterfall, rate vs mix effects, and for a
2-dimension driver a heatmap of one dimension against the other and a size-vs-change scatter.

Every number on a chart (bar labels and hover text) is written with `tools.numbers.amount`, as in the summary:
518.1M, +10.4M, 132,919.66. Labels sit outside their bars and are never clipped (`cliponaxis=False` and an axis
range with room for them). Titles are in sentence case, start at the left, under the mode bar; legends lie flat.

Segment and dimension names longer than 40 characters are shortened with "…" (tables keep them whole); the text
is escaped for plotly where a figure is shown (`tools.labels.safe_figure`), since figures also come from the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from tools.labels import shorten_label, shorten_labels
from tools.numbers import amount

if TYPE_CHECKING:
    from tools.windows import Window

UP, DOWN, NEUTRAL = "#2e7d32", "#c62828", "#78909c"
OTHERS = "others"
# The mode bar (zoom, download) takes the top ~30 px at the right: the title sits below that strip, at the left.
MODE_BAR_PX = 32
TITLE_MARGIN = 80
# Room beyond the longest bar for its label, as a share of the axis span (labels are up to ~12 characters).
LABEL_ROOM = 0.3


def compact(value: float, signed: bool = False, scale: float = 0.0) -> str:
    """A label for a crowded chart: 1.73M as `amount` writes it, 429.7k for thousands, and below a thousand whole
    numbers when the chart's `scale` (its largest value) is in thousands or more, else `amount`'s two decimals."""
    sign = "+" if signed and value > 0 else ""
    size = abs(value)
    if size >= 1e6:
        return amount(value, signed)
    if size >= 1e3:
        return sign + f"{value / 1e3:,.1f}k"
    if scale >= 1e3:
        return sign + f"{round(value) + 0:,.0f}"
    return amount(value, signed)


def sentence_case(text: str) -> str:
    """The first letter upper case, the rest as written (names such as "DE" or "iOS" keep their case)."""
    return text[:1].upper() + text[1:]


def _title(text: str) -> dict:
    return {
        "text": sentence_case(text),
        "x": 0,
        "xanchor": "left",
        "xref": "paper",
        "y": 1,
        "yref": "container",
        "yanchor": "top",
        "pad": {"t": MODE_BAR_PX},
    }


def _layout(title: str, **more: Any) -> dict[str, Any]:
    """Layout shared by every chart: the title under the mode bar, small side margins, flat legends."""
    layout = {
        "title": _title(title),
        "margin": {"l": 10, "r": 20, "t": TITLE_MARGIN, "b": 10},
        "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1, "yanchor": "bottom"},
        "separators": ".,",
        # Plotly shrinks a label that does not fit its bar to a few pixels: every label keeps a readable size.
        "uniformtext": {"minsize": 11, "mode": "show"},
    }
    layout.update(more)
    return layout


def _room(values: Sequence[float] | np.ndarray, share: float = LABEL_ROOM) -> list[float]:
    """An axis range from 0 (or the smallest value) to the largest, with `share` of the span added on the side
    where labels sit outside the bars."""
    low = min(0.0, float(np.nanmin(values))) if len(values) else 0.0
    high = max(0.0, float(np.nanmax(values))) if len(values) else 1.0
    span = (high - low) or abs(high) or 1.0
    return [low - share * span if low < 0 else low, high + share * span if high > 0 else high]


def top_with_others(table: pd.DataFrame, label_column: str, value_column: str, top: int = 8) -> pd.DataFrame:
    """The `top` rows by absolute value and one "others" row holding the sum of the rest."""
    order = table[value_column].abs().sort_values(ascending=False, kind="stable").index
    ranked = table.loc[order]
    head = ranked.head(top)[[label_column, value_column]].copy()
    head[label_column] = shorten_labels(head[label_column].astype(str))
    rest = ranked.iloc[top:]
    if len(rest):
        others = pd.DataFrame(
            {label_column: [f"{OTHERS} ({len(rest)})"], value_column: [rest[value_column].sum()]}
        )
        head = pd.concat([head, others], ignore_index=True)
    return head.reset_index(drop=True)


def change_bar_chart(
    table: pd.DataFrame, dimension: str, *, top: int = 8, title: str | None = None
) -> go.Figure:
    """Horizontal bars of each segment's absolute change, largest first, the rest summed as "others"."""
    data = top_with_others(table, dimension, "abs_change", top)
    colors = [UP if value >= 0 else DOWN for value in data["abs_change"]]
    labels = [amount(float(value), True) for value in data["abs_change"]]
    figure = go.Figure(
        go.Bar(
            x=data["abs_change"],
            y=data[dimension],
            orientation="h",
            marker_color=colors,
            text=labels,
            customdata=labels,
            textposition="outside",
            cliponaxis=False,  # a label past the axis end is drawn, not cut to "+4"
            hovertemplate="%{y}: %{customdata}<extra></extra>",
        )
    )
    figure.update_layout(
        _layout(
            title or f"Change by {shorten_label(dimension)}",
            # The axis names the dimension: a tick reading "new" or "1" alone could be any dimension's.
            yaxis={"autorange": "reversed", "title": shorten_label(dimension), "type": "category"},
            xaxis={"title": "change", "range": _room(data["abs_change"]), "tickformat": "~s"},
            height=max(260, 40 * len(data) + 120),
            showlegend=False,
        )
    )
    return figure


def waterfall_chart(
    table: pd.DataFrame,
    dimension: str,
    *,
    before_total: float,
    after_total: float,
    periods: tuple[str, str] = ("before", "after"),
    top: int = 6,
    title: str | None = None,
) -> go.Figure:
    """A bridge from the total before to the total after through each top segment's change.

    The value axis starts at 0: a 0.1% change looks like one (the labels give each step's size; the change bar
    chart shows the steps on their own scale).
    """
    data = top_with_others(table, dimension, "abs_change", top)
    labels = [
        f"total {shorten_label(periods[0])}",
        *data[dimension].tolist(),
        f"total {shorten_label(periods[1])}",
    ]
    values = [before_total, *data["abs_change"].tolist(), after_total]
    # Up to nine bars share the width of a page column: labels are compact ("429.7k"), hover gives the amount.
    scale = max(abs(before_total), abs(after_total))
    texts = [
        compact(float(before_total), scale=scale),
        *[compact(float(v), True, scale) for v in data["abs_change"]],
        compact(float(after_total), scale=scale),
    ]
    hover = [
        amount(float(before_total)),
        *[amount(float(v), True) for v in data["abs_change"]],
        amount(float(after_total)),
    ]
    figure = go.Figure(
        go.Waterfall(
            x=labels,
            y=values,
            measure=["absolute"] + ["relative"] * len(data) + ["total"],
            increasing={"marker": {"color": UP}},
            decreasing={"marker": {"color": DOWN}},
            totals={"marker": {"color": NEUTRAL}},
            text=texts,
            customdata=hover,
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{x}: %{customdata}<extra></extra>",
        )
    )
    # Every running total, to size the axis: from 0 (or below, if a total goes negative) to the highest step.
    running = np.cumsum([before_total, *data["abs_change"].tolist()])
    high = max(float(np.max(running)), float(after_total), 0.0)
    low = min(float(np.min(running)), float(after_total), 0.0)
    span = (high - low) or 1.0
    figure.update_layout(
        _layout(
            title
            or f"From {shorten_label(periods[0])} to {shorten_label(periods[1])}, by {shorten_label(dimension)}",
            xaxis={"type": "category"},
            yaxis={"range": [low - 0.15 * span if low < 0 else 0.0, high + 0.15 * span], "tickformat": "~s"},
            height=380,
            showlegend=False,
        )
    )
    return figure


def rate_mix_chart(
    by_segment: pd.DataFrame, dimension: str, *, top: int = 8, title: str | None = None
) -> go.Figure:
    """Grouped bars of each segment's rate effect and mix effect, in percentage points."""
    table = by_segment.copy()
    table["size"] = table["rate_effect"].abs() + table["mix_effect"].abs()
    table = table.sort_values("size", ascending=False, kind="stable").head(top)
    labels = shorten_labels(table[dimension].astype(str))
    bars = []
    for name, column, colour in (
        ("rate effect", "rate_effect", "#1565c0"),
        ("mix effect", "mix_effect", "#f9a825"),
    ):
        points = table[column] * 100
        bars.append(
            go.Bar(
                name=name,
                x=labels,
                y=points,
                marker_color=colour,
                text=[_pp_label(v) for v in points],
                textposition="outside",
                cliponaxis=False,
                hovertemplate=f"%{{x}}, {name}: %{{y:+.2f}} pp<extra></extra>",
            )
        )
    points = pd.concat([table["rate_effect"], table["mix_effect"]]) * 100
    figure = go.Figure(bars)
    figure.update_layout(
        _layout(
            title or f"Rate vs mix effect by {shorten_label(dimension)} (pp)",
            barmode="group",
            bargap=0.1,  # wider bars: each label fits its own bar's width
            xaxis={"type": "category", "title": shorten_label(dimension)},
            yaxis={"title": "percentage points", "range": _room(points, 0.2)},
            height=380,
        )
    )
    return figure


def _pp_label(points: float) -> str:
    """A rate or mix bar's label in pp without the unit (the axis says it; two bars share a narrow slot); none for
    an effect that rounds to zero."""
    shown = round(float(points), 2) + 0.0
    return f"{shown:+.2f}" if shown else ""


def cross_table(frame: pd.DataFrame, rows: str, columns: str, before: str, after: str) -> pd.DataFrame:
    """Every (rows, columns) pair with its change: columns <rows>, <columns>, before, after, abs_change,
    share_before (% of the total before) and contribution_pct (% of the total change; NaN when it did not move)."""
    from tools import engine

    total = engine.totals(frame, before, after)
    grouped = engine.group_sums(frame, [rows, columns], [before, after])
    table = engine.segment_table(grouped, before, after, total["before"], total["after"]).reset_index()
    table[rows] = table[rows].astype(str)
    table[columns] = table[columns].astype(str)
    return table


def change_heatmap(
    table: pd.DataFrame, rows: str, columns: str, *, top: int = 12, title: str | None = None
) -> go.Figure:
    """A heatmap of the change of each `rows` × `columns` pair (a `cross_table`): where a 2-dimension driver sits.

    The `top` values of each dimension by absolute change are kept; red is a fall, green a rise, white no change.
    """

    def keep(dimension: str) -> list[str]:
        sizes = table.groupby(dimension)["abs_change"].sum().abs().sort_values(ascending=False, kind="stable")
        return list(sizes.index[:top])

    row_values, column_values = keep(rows), keep(columns)
    grid = table.pivot_table(index=rows, columns=columns, values="abs_change", aggfunc="sum").reindex(
        index=row_values, columns=column_values
    )
    z = grid.to_numpy(dtype="float64")
    texts = [["" if np.isnan(v) else amount(float(v), True) for v in line] for line in z]
    limit = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=shorten_labels(column_values),
            y=shorten_labels(row_values),
            text=texts,
            texttemplate="%{text}",
            customdata=texts,
            hovertemplate=f"{shorten_label(rows)} %{{y}} × {shorten_label(columns)} %{{x}}: %{{customdata}}"
            "<extra></extra>",
            colorscale=[[0.0, DOWN], [0.5, "#ffffff"], [1.0, UP]],
            zmin=-(limit or 1.0),
            zmax=limit or 1.0,
            showscale=False,  # the cells carry their numbers: a colour bar would take width for nothing
            xgap=2,
            ygap=2,
        )
    )
    figure.update_layout(
        _layout(
            title or f"Change by {shorten_label(rows)} and {shorten_label(columns)}",
            xaxis={"type": "category", "title": shorten_label(columns), "side": "bottom"},
            yaxis={"type": "category", "title": shorten_label(rows), "autorange": "reversed"},
            height=max(260, 36 * len(row_values) + 140),
        )
    )
    return figure


def size_change_chart(
    table: pd.DataFrame, label_columns: list[str], *, top: int = 15, named: int = 5, title: str | None = None
) -> go.Figure:
    """Each segment's share of the total before (x) against its share of the change (y), in %.

    Points on the dotted diagonal moved in proportion to their size; far from it, out of proportion. Takes a
    breakdown or a `cross_table` (label columns joined with " × "); the `top` segments by absolute change are
    drawn, the `named` largest with their name beside the point (all of them on hover).
    """
    data = table.reindex(table["abs_change"].abs().sort_values(ascending=False, kind="stable").index).head(
        top
    )
    data = data[data["share_before"].notna() & data["contribution_pct"].notna()]
    names = shorten_labels(data[label_columns].astype(str).agg(" × ".join, axis=1))
    changes = [amount(float(v), True) for v in data["abs_change"]]
    hover = [
        f"{name}: {share:.2f}% of the total before, {part:.2f}% of the change ({change})"
        for name, share, part, change in zip(names, data["share_before"], data["contribution_pct"], changes)
    ]
    shares = data["share_before"].to_numpy(dtype="float64")
    parts = data["contribution_pct"].to_numpy(dtype="float64")
    x_edge = max(1.0, float(shares.max()) if len(shares) else 1.0) * 1.25
    y_low = min(0.0, float(parts.min()) if len(parts) else 0.0)
    y_high = max(0.0, float(parts.max()) if len(parts) else 1.0, x_edge)
    y_span = (y_high - y_low) or 1.0
    figure = go.Figure(
        [
            go.Scatter(
                x=[0, x_edge],
                y=[0, x_edge],
                mode="lines",
                line={"color": NEUTRAL, "dash": "dot"},
                name="in proportion to size",
                hoverinfo="skip",
            ),
            go.Scatter(
                x=shares,
                y=parts,
                mode="markers+text",
                text=[name if i < named else "" for i, name in enumerate(names)],
                textposition="middle right",
                cliponaxis=False,
                customdata=hover,
                marker={"size": 10, "color": [UP if v >= 0 else DOWN for v in data["abs_change"]]},
                hovertemplate="%{customdata}<extra></extra>",
                name="segment",
            ),
        ]
    )
    figure.update_layout(
        _layout(
            title or "Size vs change: share before against share of the change",
            xaxis={"title": "share of the total before (%)", "range": [0, x_edge], "ticksuffix": "%"},
            yaxis={
                "title": "share of the change (%)",
                "range": [y_low - 0.1 * y_span, y_high + 0.1 * y_span],
                "ticksuffix": "%",
            },
            height=400,
        )
    )
    return figure


def trend_chart(
    daily: pd.DataFrame, metric: str, windows: Sequence[Window] | None = None, *, title: str | None = None
) -> go.Figure:
    """The metric's total per date over every date of the file, with the two compared windows shaded.

    Args:
        daily: One row per date (`date`) with the metric's total in column `metric`.
        metric: The metric to draw.
        windows: The (earlier, later) `tools.windows.Window` pair to shade, if any.
        title: The chart's title.
    """
    figure = go.Figure(
        go.Scatter(
            x=daily["date"],
            y=daily[metric],
            mode="lines",
            line={"color": NEUTRAL, "width": 2},
            customdata=[amount(float(v)) for v in daily[metric]],
            hovertemplate="%{x|%Y-%m-%d}: %{customdata}<extra></extra>",
            name=str(metric),
        )
    )
    for window, colour, name in zip(windows or (), ("#90a4ae", "#ffb74d"), ("earlier", "later")):
        # Shade whole days: a window's last date ends at the next midnight.
        figure.add_vrect(
            x0=pd.Timestamp(window.start),
            x1=pd.Timestamp(window.end) + pd.Timedelta(days=1),
            fillcolor=colour,
            opacity=0.25,
            line_width=0,
            annotation_text=name,
            annotation_position="top left",
        )
    figure.update_layout(
        _layout(
            title or f"{metric} per date, compared windows shaded",
            yaxis={"title": str(metric), "tickformat": "~s"},
            height=320,
            showlegend=False,
        )
    )
    return figure
