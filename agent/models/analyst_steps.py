"""The helpers the built-in analyst writes into its code: real Python, emitted from their source.

The built-in analyst (`agent.models.builtin_analyst`) calls the KPI tools itself, line by line, and uses these
helpers to print the tables it reads and to word the summary. Each helper it needs is written into the step's
code by `source_of` (its source without the docstring and type hints), so the trace shows what ran, ruff and mypy read the same
code, and tests call the helpers directly on small frames.

Rules for a helper here, because it runs in the agent's interpreter (smolagents' LocalPythonExecutor):
no imports inside (the step imports pandas as `pd` where a helper needs it), no keyword-only arguments, no
`*` unpacking inside a list (the interpreter nests the list instead), no dunder names, no `global`; it uses only its arguments, `pd`, `amount` and the other helpers of the step. No number
that could be read as a figure of the data is typed here: every figure comes from the tables.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Callable
from typing import Any

import pandas as pd

from tools.numbers import amount

# Lint pragmas are for the linter, not for the reader of the trace.
_PRAGMA = re.compile(r"\s*#\s*(?:noqa|type:\s*ignore)\b.*$")
_LINE_LENGTH = 110  # as ruff formats this project


def source_of(function: Callable[..., Any]) -> str:
    """A function's source as the analyst writes it: without its docstring (its examples would read as numbers
    the analyst typed), type hints (they name types the step never imports) and lint pragmas; comments and the
    formatter's layout stay."""
    lines = textwrap.dedent(inspect.getsource(function)).splitlines()
    definition = ast.parse("\n".join(lines)).body[0]
    assert isinstance(definition, ast.FunctionDef), function
    # Cuts on a line are made from its end, so the positions of the earlier ones still hold.
    cuts: list[tuple[int, int, int, str]] = []  # (line, start column, end column, replacement)
    arguments = definition.args
    for argument in [*arguments.posonlyargs, *arguments.args, arguments.vararg, arguments.kwarg]:
        if argument is not None and argument.annotation is not None:
            hint = argument.annotation
            name_end = argument.col_offset + len(argument.arg)
            if hint.end_lineno != argument.lineno:
                raise ValueError(f"{function.__name__}: a type hint over several lines cannot be cut")
            cuts.append((argument.lineno, name_end, hint.end_col_offset or 0, ""))
    for node in ast.walk(definition):
        if isinstance(node, ast.AnnAssign) and node.value is not None:  # `x: list[str] = []` becomes `x = []`
            if node.value.lineno != node.target.lineno:
                raise ValueError(f"{function.__name__}: a type hint over several lines cannot be cut")
            cuts.append((node.lineno, node.target.end_col_offset or 0, node.value.col_offset, " = "))
    if definition.returns is not None:
        hint = definition.returns
        line = lines[hint.lineno - 1]
        arrow = line.rindex("->", 0, hint.col_offset)
        cuts.append((hint.lineno, len(line[:arrow].rstrip()), hint.end_col_offset or 0, ""))
    for number, start, end, replacement in sorted(cuts, reverse=True):
        line = lines[number - 1]
        rest = line[end:]
        if rest.startswith(" = "):  # `x: int = 3` becomes `x=3`
            rest = "=" + rest[3:]
        lines[number - 1] = line[:start] + replacement + rest
    first = definition.body[0]
    if ast.get_docstring(definition) is not None and first.end_lineno is not None:
        del lines[first.lineno - 1 : first.end_lineno]
    # Without its hints a signature the formatter wrapped often fits on one line again.
    header_end = first.lineno - 1  # the signature's lines end where the body begins
    if header_end > 1:
        header = _one_line(lines[:header_end])
        if len(header) <= _LINE_LENGTH and "#" not in header:
            lines[:header_end] = [header]
    return "\n".join(_PRAGMA.sub("", line) for line in lines)


def _one_line(parts: list[str]) -> str:
    """Lines of a wrapped signature joined into one: `def f(`, `a,`, `b,`, `):` -> `def f(a, b):`."""
    joined = parts[0].rstrip()
    for part in (p.strip() for p in parts[1:]):
        if part.startswith(")"):
            joined = joined.rstrip(",") + part
        elif joined.endswith("("):
            joined += part
        else:
            joined += " " + part
    return joined


def sources_of(*functions: Callable[..., Any]) -> str:
    """Several functions' sources, a blank line between them."""
    return "\n\n".join(source_of(f) for f in functions)


# --- step 1: the tables the analyst prints to read them ---


def show_totals(metric: str, totals: dict[str, Any]) -> None:
    """Prints the metric's total before and after, its change and % change."""
    pct_text = "new" if totals["pct_change"] is None else f"{totals['pct_change']:+.2f}%"
    print(
        f"{metric}: {totals['before']:,.2f} -> {totals['after']:,.2f} ({totals['abs_change']:+,.2f}, {pct_text})"
    )


def show_changes(table: pd.DataFrame, dimension: str) -> None:
    """Prints a dimension's segments, largest changes first (at most 8)."""
    count = len(table)
    print(f"\nBy {dimension}" + (f" (largest 8 of {count})" if count > 8 else "") + ":")
    print(table.head(8).round(2).to_string(index=False))


def show_slices(slices: pd.DataFrame) -> None:
    """Prints the slices that explain the change, then the dimensions of the first one (the next step reads
    that line to choose the dimension of its charts)."""
    lead_dimensions = list(slices.iloc[0]["slice"]) if len(slices) else []
    print("\nSlices that explain the change:")
    print(slices.drop(columns="slice").round(2).to_string(index=False))
    print("lead dimensions:", ", ".join(lead_dimensions))


def show_rate_mix(effects: dict[str, Any], numerator: str, denominator: str, dimension: str) -> None:
    """Prints the rate before and after, its rate and mix effects, and each segment's part in them."""
    print(
        f"\n{numerator} / {denominator}: {effects['before']:.4%} -> {effects['after']:.4%} "
        f"({effects['change'] * 100:+.2f} pp); rate effect {effects['rate_effect'] * 100:+.2f} pp, "
        f"mix effect {effects['mix_effect'] * 100:+.2f} pp"
    )
    columns = [dimension, "rate_before", "rate_after", "weight_before", "weight_after"]
    columns += ["rate_effect", "mix_effect", "p_value"]
    print(effects["by_segment"][columns].round(4).to_string(index=False))


# --- step 2: charts and the summary, worded from the computed tables ---


def lead_pair(slices: pd.DataFrame | None) -> list[str] | None:
    """The two dimensions of the leading slice when it has two (Germany × Android), else None."""
    if slices is not None and len(slices) and len(slices.iloc[0]["slice"]) == 2:
        return list(slices.iloc[0]["slice"])
    return None


def headline_lines(metric: str, totals: dict[str, Any], slices: pd.DataFrame | None) -> list[str]:
    """The first line (how the total moved) and, when one slice explains it, where the change sits."""
    change = totals["abs_change"]
    if totals["pct_change"] is None and change != 0:
        headline = f"**{metric} is new**: {amount(totals['after'])} after, nothing before."
    elif change == 0:
        headline = f"**{metric} did not change** in total ({amount(totals['after'])})."
    else:
        verb = "rose" if change > 0 else "fell"
        name = metric[:1].upper() + metric[1:]  # VOLUME stays VOLUME
        headline = (
            f"**{name} {verb} {abs(totals['pct_change']):.2f}%**, from {amount(totals['before'])} "
            f"to {amount(totals['after'])} ({amount(change, True)})."
        )
    lines = [headline]
    if slices is not None and len(slices) and pd.notna(slices.iloc[0]["contribution_pct"]):
        lead = slices.iloc[0]
        lines.append("")
        lines.append(
            f"The change sits in **{lead['segment']}**: {amount(lead['abs_change'], True)}, "
            f"{lead['contribution_pct']:.2f}% of the total change."
        )
    return lines


def rate_headline_lines(effects: dict[str, Any] | None, numerator: str, denominator: str) -> list[str]:
    """The first line of a ratio's summary: the rate before and after."""
    if effects is None:
        return [f"**{numerator} / {denominator}**: the rate could not be decomposed (see the trace)."]
    verb = "rose" if effects["change"] > 0 else "fell" if effects["change"] < 0 else "held"
    return [
        f"**{numerator} / {denominator} {verb} from {effects['before']:.2%} to {effects['after']:.2%}** "
        f"({effects['change'] * 100:+.2f} pp)."
    ]


def driver_lines(table: pd.DataFrame | None, main: str, metric: str) -> list[str]:
    """The three segments of `main` that moved most, with their change and share of the change."""
    if table is None or not len(table):
        return []
    lines = ["", f"Top drivers by {main} ({metric}):"]
    for _, row in table.head(3).iterrows():
        pct = "new" if pd.isna(row["pct_change"]) else f"{row['pct_change']:+.2f}%"
        if pd.notna(row["contribution_pct"]):
            share = f", {row['contribution_pct']:.2f}% of the change"
        else:
            share = f", {abs(row['share_of_gross_pct']):.2f}% of all movement"
        lines.append(f"- {row[main]}: {amount(row['abs_change'], True)} ({pct}){share}")
    return lines


def by_size_of(segments: pd.DataFrame, effect: str) -> pd.DataFrame:
    """The segments ordered by the size of an effect, largest first."""
    return segments.reindex(segments[effect].abs().sort_values(ascending=False).index)


def rate_mix_lines(
    effects: dict[str, Any] | None, volumes: dict[str, Any], numerator: str, denominator: str
) -> list[str]:
    """The rate and mix effects (the larger first), the volumes, and the segments behind each effect."""
    if effects is None:
        return []
    dim = effects["dimension"]
    segments = effects["by_segment"]
    # The larger effect leads: a reader who stops after one sentence must get the main cause.
    rate_leads = abs(effects["rate_effect"]) > abs(effects["mix_effect"])
    lines = []
    if effects["mix_share_pct"] is not None:
        mix_text = (
            f"Mix effect {effects['mix_effect'] * 100:+.2f} pp ({effects['mix_share_pct']:.2f}% of the "
            f"change): weight shifted between {dim} segments."
        )
        rate_text = (
            f"Rate effect {effects['rate_effect'] * 100:+.2f} pp ({effects['rate_share_pct']:.2f}% of "
            f"the change): segments' own rates moved."
        )
        lines.append("")
        lines.append(f"{rate_text} {mix_text}" if rate_leads else f"{mix_text} {rate_text}")
    volume_parts = []
    for name in (denominator, numerator):
        v = volumes[name]
        v_pct = "new" if v["pct_change"] is None else f"{v['pct_change']:+.2f}%"
        volume_parts.append(f"{name} {v['before']:,.0f} -> {v['after']:,.0f} ({v_pct})")
    lines.append("")
    lines.append("Volumes: " + "; ".join(volume_parts) + ".")
    if rate_leads:
        lines.append("")
        lines.append(f"Largest rate effects by {dim}:")
        for _, row in by_size_of(segments, "rate_effect").head(3).iterrows():
            moved = round(row["rate_effect"] * 100, 2)
            if pd.notna(row["rate_before"]) and pd.notna(row["rate_after"]) and moved:
                lines.append(
                    f"- {row[dim]}: rate {row['rate_before']:.2%} -> {row['rate_after']:.2%}, "
                    f"rate effect {row['rate_effect'] * 100:+.2f} pp"
                )
    by_mix = by_size_of(segments, "mix_effect")
    by_mix = by_mix[(by_mix["mix_effect"] * 100).round(2) != 0]  # a weight that did not move explains nothing
    if len(by_mix):
        lines.append("")
        lines.append(f"Largest mix effects by {dim}:")
    for _, row in by_mix.head(3).iterrows():
        rate = "new" if pd.isna(row["rate_before"]) else f"{row['rate_before']:.2%}"
        lines.append(
            f"- {row[dim]}: share of {denominator} {row['weight_before']:.2%} -> {row['weight_after']:.2%} "
            f"at a rate of {rate} before, mix effect {row['mix_effect'] * 100:+.2f} pp"
        )
    if effects["counts"]:
        tested = segments[segments["p_value"].notna()]
        real = by_size_of(tested[tested["p_value"] < 0.05], "rate_effect")
        lines.append("")
        if len(real):
            lines.append("Significant rate moves (p < 0.05):")
            for _, row in real.head(3).iterrows():
                lines.append(
                    f"- {row[dim]}: rate {row['rate_before']:.2%} -> {row['rate_after']:.2%} "
                    f"(p = {row['p_value']:.4f}), rate effect {row['rate_effect'] * 100:+.2f} pp"
                )
        else:
            lines.append(f"No {dim} segment changed its own rate significantly (p < 0.05).")
    return lines


def rate_caveats(effects: dict[str, Any] | None) -> list[str]:
    """What a reader of a ratio's summary must know: rate moves that are noise, or that none could be tested."""
    if effects is None:
        return []
    if not effects["counts"]:
        return ["The metrics are not counts, so no significance test was run on the rates."]
    dim = effects["dimension"]
    segments = effects["by_segment"]
    tested = segments[segments["p_value"].notna()]
    noise = by_size_of(tested[tested["p_value"] >= 0.05], "rate_effect")
    if not len(noise):
        return []
    names = ", ".join(str(name) for name in noise[dim].head(5))
    return [f"Rate moves in {names} are not significant (p >= 0.05) and are not called drivers."]


def timing_lines(timing: dict[str, Any], daily: pd.DataFrame, totals: dict[str, Any]) -> list[str]:
    """When in the later window the change happened, for a daily table with two or more days in that window."""
    run = timing["run"]
    # A week or a month is one date: only a daily table can say on which days the change fell.
    daily_dates = pd.to_datetime(daily["date"])
    is_daily = len(daily_dates) > 1 and daily_dates.diff().dropna().min() == pd.Timedelta(days=1)
    if run is None or not totals["abs_change"] or not is_daily or len(timing["days"]) <= 1:
        return []
    direction = "drop" if totals["abs_change"] < 0 else "rise"
    where = f"{run['start']} to {run['end']}" if run["start"] != run["end"] else run["start"]
    if timing["concentrated"]:
        return ["", f"When: {run['share_pct']:.2f}% of the {direction} fell on {where}."]
    return [
        "",
        f"When: the {direction} is spread over the later window; {run['share_pct']:.2f}% of it fell on {where}.",
    ]


def segment_caveats(table: pd.DataFrame | None, main: str, metric: str, totals: dict[str, Any]) -> list[str]:
    """New segments, segments that moved against the total, outsized movers, and changes that cancel out."""
    if table is None or not len(table):
        return []
    caveats = []
    new = table[table["pct_change"].isna() & (table["after"] != 0)]
    if len(new):
        names = ", ".join(str(name) for name in new[main].head(5))
        caveats.append(f"New (nothing before, so no percentage change): {names}.")
    total_change = totals["abs_change"]
    largest = table.head(5)
    against = largest[largest["abs_change"] * total_change < 0]
    if total_change != 0 and len(against):
        parts = [f"{row[main]} ({amount(row['abs_change'], True)})" for _, row in against.iterrows()]
        caveats.append("Moved against the total: " + ", ".join(parts) + ".")
    outliers = table[(table["impact_norm"].abs() >= 3) & (table["contribution_pct"].abs() >= 10)]
    for _, row in outliers.head(2).iterrows():
        caveats.append(
            f"{row[main]} moved {row['impact_norm']:.2f}x its size: {row['share_before']:.2f}% of {metric} "
            f"before, {row['contribution_pct']:.2f}% of the change."
        )
    if pd.isna(table["contribution_pct"]).all():
        caveats.append("There is no net change; segments offset each other.")
    return caveats


def caveat_lines(caveats: list[str]) -> list[str]:
    """The caveats as a list under their heading; nothing when there are none."""
    if not caveats:
        return []
    return ["", "Caveats:"] + [f"- {caveat}" for caveat in caveats]


def with_focus_first(lines: list[str], focus_lines: list[str]) -> list[str]:
    """The summary with the answer to the user's own question after its headline and before the rest."""
    return lines[:1] + [""] + focus_lines + ["Overall:"] + lines[1:]  # noqa: RUF005 (see the module's rules)
