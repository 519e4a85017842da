"""Plotly figures of a change: the top segments and an "others" bar, a waterfall, rate vs mix effects.

Segment and dimension names longer than 40 characters are shortened with "…" (tables keep them whole); the text
is escaped for plotly where a figure is shown (`tools.labels.safe_figure`), since figures also come from the model.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from tools.labels import shorten_label, shorten_labels

UP, DOWN, NEUTRAL = "#2e7d32", "#c62828", "#78909c"
OTHERS = "others"


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
    figure = go.Figure(
        go.Bar(
            x=data["abs_change"],
            y=data[dimension],
            orientation="h",
            marker_color=colors,
            text=[f"{value:+,.2f}" for value in data["abs_change"]],
            textposition="auto",
            hovertemplate="%{y}: %{x:+,.2f}<extra></extra>",
        )
    )
    figure.update_layout(
        title=title or f"Change by {shorten_label(dimension)}",
        # The axis names the dimension: a tick reading "new" or "1" alone could be any dimension's.
        yaxis={"autorange": "reversed", "title": shorten_label(dimension), "type": "category"},
        xaxis={"title": "absolute change"},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        height=max(260, 40 * len(data) + 100),
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
    """A bridge from the total before to the total after through each top segment's change."""
    data = top_with_others(table, dimension, "abs_change", top)
    labels = [
        f"total {shorten_label(periods[0])}",
        *data[dimension].tolist(),
        f"total {shorten_label(periods[1])}",
    ]
    values = [before_total, *data["abs_change"].tolist(), after_total]
    figure = go.Figure(
        go.Waterfall(
            x=labels,
            y=values,
            measure=["absolute"] + ["relative"] * len(data) + ["total"],
            increasing={"marker": {"color": UP}},
            decreasing={"marker": {"color": DOWN}},
            totals={"marker": {"color": NEUTRAL}},
            text=[f"{before_total:,.0f}", *[f"{v:+,.0f}" for v in data["abs_change"]], f"{after_total:,.0f}"],
            textposition="outside",
        )
    )
    low = min(before_total, after_total)
    high = max(before_total, after_total)
    swing = float(data["abs_change"].abs().sum()) or abs(high) * 0.05 or 1.0
    figure.update_layout(
        title=title
        or f"From {shorten_label(periods[0])} to {shorten_label(periods[1])}, by {shorten_label(dimension)}",
        xaxis={"type": "category"},
        # Start the axis near the totals so the segments' steps are visible, not slivers on a tall bar.
        yaxis={"range": [low - swing * 1.2, high + swing * 1.2]},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        showlegend=False,
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
    figure = go.Figure(
        [
            go.Bar(name="rate effect", x=labels, y=table["rate_effect"] * 100, marker_color="#1565c0"),
            go.Bar(name="mix effect", x=labels, y=table["mix_effect"] * 100, marker_color="#f9a825"),
        ]
    )
    figure.update_layout(
        title=title or f"Rate vs mix effect by {shorten_label(dimension)} (pp)",
        barmode="group",
        xaxis={"type": "category", "title": dimension},
        yaxis={"title": "percentage points"},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return figure


def trend_chart(daily: pd.DataFrame, metric: str, windows=None, *, title: str | None = None) -> go.Figure:
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
            hovertemplate="%{x|%Y-%m-%d}: %{y:,.2f}<extra></extra>",
            name=str(metric),
        )
    )
    for window, colour, name in zip(windows or (), ("#90a4ae", "#ffb74d"), ("earlier", "later")):
        # Shade whole days: a window's last date ends at the next midnight.
        figure.add_vrect(x0=pd.Timestamp(window.start), x1=pd.Timestamp(window.end) + pd.Timedelta(days=1),
                         fillcolor=colour, opacity=0.25, line_width=0, annotation_text=name,
                         annotation_position="top left")  # fmt: skip
    figure.update_layout(
        title=title or f"{metric} per date, compared windows shaded",
        yaxis={"title": str(metric)},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        height=300,
        showlegend=False,
    )
    return figure
