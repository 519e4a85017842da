"""The helpers the built-in analyst writes into its code: called directly on small frames, emitted as source the
agent's interpreter accepts, and run there with the same results."""

import ast
import contextlib
import inspect
import io

import pandas as pd
import pytest

from agent.models import analyst_steps as steps
from agent.models.builtin_analyst import FOLLOW_UP_FUNCTIONS
from agent.sandbox.interpreter import local_executor
from tools.kpi_tools import KPI_TOOLS
from tools.numbers import amount

TOOLS = {tool.name: tool for tool in KPI_TOOLS}

# Every function the analyst writes into a step.
WRITTEN = [
    amount,
    *FOLLOW_UP_FUNCTIONS,
    *(f for name, f in vars(steps).items() if inspect.isfunction(f) and f.__module__ == steps.__name__),
]
WRITTEN = [
    f for f in WRITTEN if f.__name__ not in ("source_of", "sources_of") and not f.__name__.startswith("_")
]

SALES = pd.DataFrame(
    {
        "country": ["UK", "France", "Spain", "Italy"],
        "revenue_before": [100.0, 50.0, 0.0, 20.0],
        "revenue_after": [60.0, 55.0, 25.0, 20.0],
    }
)


def tables(frame: pd.DataFrame, dimension: str = "country"):
    totals = TOOLS["metric_totals"](frame, metric="revenue")
    table = TOOLS["segment_changes"](frame, metric="revenue", dimension=dimension)
    slices = TOOLS["top_slices"](frame, metric="revenue", dimensions=[dimension], top=5)
    return totals, table, slices


def test_the_summary_helpers_word_what_the_tables_hold():
    totals, table, slices = tables(SALES)
    headline = steps.headline_lines("revenue", totals, slices)
    assert headline[0] == "**Revenue fell 5.88%**, from 170.00 to 160.00 (-10.00)."
    assert "**UK**" in headline[-1] and "400.00% of the total change" in headline[-1]
    drivers = steps.driver_lines(table, "country", "revenue")
    assert drivers[1] == "Top drivers by country (revenue):"
    assert [line.split(":")[0] for line in drivers[2:]] == ["- UK", "- Spain", "- France"]
    caveats = steps.segment_caveats(table, "country", "revenue", totals)
    assert caveats[0] == "New (nothing before, so no percentage change): Spain."
    assert caveats[1] == "Moved against the total: Spain (+25.00), France (+5.00)."
    assert steps.caveat_lines(caveats)[:3] == ["", "Caveats:", "- " + caveats[0]]
    assert steps.caveat_lines([]) == []


def test_a_total_that_did_not_move_or_is_new_is_said_so():
    offsetting = SALES.assign(revenue_after=[100.0, 50.0, 10.0, 10.0])
    totals, table, slices = tables(offsetting)
    assert (
        steps.headline_lines("revenue", totals, slices)[0] == "**revenue did not change** in total (170.00)."
    )
    assert steps.segment_caveats(table, "country", "revenue", totals)[-1] == (
        "There is no net change; segments offset each other."
    )
    new = SALES.assign(revenue_before=0.0)
    totals, _, slices = tables(new)
    assert steps.headline_lines("revenue", totals, slices)[0].startswith("**revenue is new**: 160.00 after")
    assert steps.driver_lines(None, "country", "revenue") == []
    assert steps.segment_caveats(None, "country", "revenue", totals) == []


def test_the_larger_ratio_effect_leads_and_noise_is_a_caveat():
    frame = pd.DataFrame(
        {
            "channel": ["organic", "email", "paid"],
            "users_before": [40000, 12000, 25000],
            "users_after": [40000, 12000, 25000],
            "orders_before": [2000, 960, 1000],
            "orders_after": [2010, 480, 1000],
        }
    )
    effects = TOOLS["rate_mix_effects"](frame, numerator="orders", denominator="users", dimension="channel")
    volumes = {name: TOOLS["metric_totals"](frame, metric=name) for name in ("orders", "users")}
    assert steps.rate_headline_lines(effects, "orders", "users")[0].startswith("**orders / users fell from")
    lines = steps.rate_mix_lines(effects, volumes, "orders", "users")
    effect_line = next(line for line in lines if "effect" in line)
    assert effect_line.index("Rate effect") < effect_line.index(
        "Mix effect"
    )  # traffic held; email's rate fell
    assert lines[lines.index("Largest rate effects by channel:") + 1].startswith("- email:")
    assert "Volumes: users 77,000 -> 77,000 (+0.00%); orders 3,960 -> 3,490 (-11.87%)." in lines
    assert steps.rate_caveats(effects) == [
        "Rate moves in organic, paid are not significant (p >= 0.05) and are not called drivers."
    ]
    amounts = frame.assign(**{c: frame[c] + 0.5 for c in ("orders_before", "orders_after")})
    no_counts = TOOLS["rate_mix_effects"](
        amounts, numerator="orders", denominator="users", dimension="channel"
    )
    assert steps.rate_caveats(no_counts) == [
        "The metrics are not counts, so no significance test was run on the rates."
    ]
    assert steps.rate_headline_lines(None, "orders", "users")[0].endswith(
        "could not be decomposed (see the trace)."
    )
    assert steps.rate_mix_lines(None, volumes, "orders", "users") == steps.rate_caveats(None) == []


def test_timing_is_told_only_for_a_daily_table():
    dates = pd.date_range("2026-11-01", periods=14, freq="D")
    revenue = [100.0] * 14
    revenue[10] = 40.0  # the drop falls on one day of the later week
    daily = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "revenue": revenue})
    timing = TOOLS["change_timing"](
        daily, metric="revenue", earlier="2026-11-01..2026-11-07", later="2026-11-08..2026-11-14"
    )
    totals = {"abs_change": -60.0}
    assert steps.timing_lines(timing, daily, totals) == ["", "When: 100.00% of the drop fell on 2026-11-11."]
    weekly = daily.iloc[::7]
    assert steps.timing_lines(timing, weekly, totals) == []
    assert steps.timing_lines(timing, daily, {"abs_change": 0.0}) == []


def test_the_printed_tables_end_with_the_lead_dimensions(capsys):
    totals, table, slices = tables(SALES)
    steps.show_totals("revenue", totals)
    steps.show_changes(table, "country")
    steps.show_slices(slices)
    printed = capsys.readouterr().out
    assert printed.startswith("revenue: 170.00 -> 160.00 (-10.00, -5.88%)\n")
    assert "\nBy country:\n" in printed and "\nSlices that explain the change:\n" in printed
    assert printed.rstrip().endswith("lead dimensions: country")
    assert steps.lead_pair(slices) is None and steps.lead_pair(None) is None
    assert steps.with_focus_first(["head", "rest"], ["focus"]) == ["head", "", "focus", "Overall:", "rest"]


def without_hints_and_docstring(function) -> str:
    """The function's syntax tree as `source_of` should leave it: no docstring, no type hints."""
    tree = ast.parse(inspect.getsource(function))
    definition = tree.body[0]
    if ast.get_docstring(definition) is not None:
        definition.body = definition.body[1:]
    arguments = definition.args
    for argument in [*arguments.posonlyargs, *arguments.args, arguments.vararg, arguments.kwarg]:
        if argument is not None:
            argument.annotation = None
    definition.returns = None

    class HintsOff(ast.NodeTransformer):
        def visit_AnnAssign(self, node):
            return ast.Assign(targets=[node.target], value=node.value)

    return ast.dump(HintsOff().visit(tree))


@pytest.mark.parametrize("function", WRITTEN, ids=lambda f: f.__name__)
def test_written_source_is_the_function_without_docstring_or_hints(function):
    written = steps.source_of(function)
    assert ast.dump(ast.parse(written)) == without_hints_and_docstring(function)
    assert "noqa" not in written and "type: ignore" not in written and '"""' not in written
    assert written.startswith(f"def {function.__name__}(")


@pytest.mark.parametrize("function", WRITTEN, ids=lambda f: f.__name__)
def test_written_helpers_keep_to_what_the_agents_interpreter_runs(function):
    tree = ast.parse(steps.source_of(function))
    definition = tree.body[0]
    assert not definition.args.kwonlyargs and not definition.decorator_list
    for node in ast.walk(tree):
        forbidden = (
            ast.Import,
            ast.ImportFrom,
            ast.Global,
            ast.Nonlocal,
            ast.Yield,
            ast.Await,
            ast.AnnAssign,
        )
        assert not isinstance(node, forbidden), ast.unparse(node)
        # The interpreter nests a starred list instead of unpacking it.
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            assert not any(isinstance(e, ast.Starred) for e in node.elts), ast.unparse(node)
        if isinstance(node, ast.Name):
            assert not node.id.startswith("__")
        if isinstance(node, ast.Attribute):
            assert not node.attr.startswith("_")


def test_helpers_give_the_same_lines_in_the_agents_interpreter():
    """The step's helpers, written as the analyst writes them, run in the sandboxed interpreter on the same
    tables and give what they give here."""
    totals, table, slices = tables(SALES)
    executor = local_executor()
    executor.send_tools({tool.name: tool for tool in KPI_TOOLS})
    executor.send_variables({"df": SALES, "totals": totals, "table": table, "slices": slices})
    helpers = [amount, steps.headline_lines, steps.driver_lines, steps.segment_caveats, steps.caveat_lines]
    code = "\n".join(
        [
            "import pandas as pd",
            steps.sources_of(*helpers),
            "lines = headline_lines('revenue', totals, slices)",
            "lines += driver_lines(table, 'country', 'revenue')",
            "lines += caveat_lines(segment_caveats(table, 'country', 'revenue', totals))",
            "lines",
        ]
    )
    ran = executor(code).output
    here = steps.headline_lines("revenue", totals, slices) + steps.driver_lines(table, "country", "revenue")
    here += steps.caveat_lines(steps.segment_caveats(table, "country", "revenue", totals))
    assert ran == here and len(here) > 8


def test_printing_helpers_print_the_same_in_the_agents_interpreter():
    totals, table, slices = tables(SALES)
    executor = local_executor()
    executor.send_tools({})
    executor.send_variables({"totals": totals, "table": table, "slices": slices})
    code = steps.sources_of(steps.show_totals, steps.show_changes, steps.show_slices) + (
        "\nshow_totals('revenue', totals)\nshow_changes(table, 'country')\nshow_slices(slices)"
    )
    logs = executor(code).logs
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        steps.show_totals("revenue", totals)
        steps.show_changes(table, "country")
        steps.show_slices(slices)
    assert logs == printed.getvalue() and "lead dimensions: country" in logs
