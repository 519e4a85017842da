"""One definition per KPI tool: both agents' tools made from it agree, and a tool's figures reach verification."""

import json

import pandas as pd
import pytest

from agent.run.result import collect
from agent.run.runner import RunRequest, run_events
from tools.analysis import jsonable
from tools.bound_tools import bound_tools, call_in_worker, calling_specs
from tools.kpi_tools import KPI_SPECS, KPI_TOOLS
from tools.loading import load_dataset
from tools.tool_spec import Arg, Calling, KpiTool, code_tool, dimension, metric_columns, top_rows

PAIRS = (
    "country,platform,orders_before,orders_after,users_before,users_after\n"
    "DE,Android,100,40,1000,900\nDE,iOS,80,81,800,820\nUK,Android,90,91,950,940\nUK,iOS,60,75,600,610\n"
)

# Arguments each tool of the tool-calling agent is called with (the code agent gets the table as well).
GOOD = {
    "metric_totals": {"metric": "orders"},
    "segment_changes": {"metric": "orders", "dimension": "country"},
    "top_slices": {"metric": "orders", "dimensions": ["country", "platform"]},
    "rate_mix_effects": {"numerator": "orders", "denominator": "users", "dimension": "platform"},
    "change_chart": {"metric": "orders", "dimension": "country"},
}
_NO_METRIC = (
    KeyError,
    "no metric 'profit' (missing profit_before, profit_after); metrics in df: orders, users",
)
_NO_DIMENSION = (KeyError, "no dimension 'city'; dimensions: country, platform")
_NOT_A_NAME = (ValueError, "metric must be a column name (text of at most 200 characters)")
# (tool, the arguments changed, the error both adapters raise, its message)
BAD = [
    ("metric_totals", {"metric": "profit"}, *_NO_METRIC),
    ("metric_totals", {"metric": 5}, *_NOT_A_NAME),
    ("segment_changes", {"metric": "profit"}, *_NO_METRIC),
    ("segment_changes", {"dimension": "city"}, *_NO_DIMENSION),
    ("top_slices", {"metric": "profit"}, *_NO_METRIC),
    ("top_slices", {"dimensions": ["country", "city"]}, *_NO_DIMENSION),
    ("top_slices", {"dimensions": "country"}, ValueError, "dimensions must be a list of dimension columns"),
    ("rate_mix_effects", {"numerator": "profit"}, *_NO_METRIC),
    ("rate_mix_effects", {"dimension": "city"}, *_NO_DIMENSION),
    ("change_chart", {"metric": "profit"}, *_NO_METRIC),
    ("change_chart", {"dimension": "city"}, *_NO_DIMENSION),
]


@pytest.fixture
def frame(write_file) -> pd.DataFrame:
    return load_dataset(write_file("pairs.csv", PAIRS)).frame


def _code_call(name: str, frame: pd.DataFrame, arguments: dict):
    """The code agent's call that the tool-calling agent's call stands for."""
    code = {tool.name: tool for tool in KPI_TOOLS}
    if name == "change_chart":  # the code agent charts a table it computed first
        table = code["segment_changes"](frame, metric=arguments["metric"], dimension=arguments["dimension"])
        title = f"{arguments['metric']} change by {arguments['dimension']}"
        return code["change_chart"](table, dimension=arguments["dimension"], title=title)
    return code[name](frame, **arguments)


def test_every_tool_is_defined_once_and_both_agents_get_it_from_there():
    assert [tool.name for tool in KPI_TOOLS] == [spec.name for spec in KPI_SPECS]
    assert all(tool.spec is spec for tool, spec in zip(KPI_TOOLS, KPI_SPECS, strict=True))
    bound = bound_tools(pd.DataFrame(), [])
    # raw_rows reads the run's kept raw rows, not the table: tests/test_raw_rows.py tries it with both agents.
    assert [tool.name for tool in bound] == [spec.name for spec in calling_specs()] == [*GOOD, "raw_rows"]
    for tool in bound:  # the same summary and argument docs as the code agent's
        spec = tool.spec
        assert tool.description.startswith((spec.calling.summary or spec.description).rstrip("."))
        for name, schema in tool.inputs.items():
            assert schema["description"], f"{tool.name}.{name}"


@pytest.mark.parametrize("name", list(GOOD))
def test_both_adapters_give_the_same_answer(frame, name):
    figures: list[dict] = []
    tool = {t.name: t for t in bound_tools(frame, figures)}[name]
    text = tool(**GOOD[name])
    result = _code_call(name, frame, GOOD[name])
    spec = tool.spec
    if spec.calling.draws:
        assert text.startswith("Chart drawn") and figures == [json.loads(result.to_json())]
    else:
        assert json.loads(text) == json.loads(json.dumps(jsonable(spec.calling.answer(result, GOOD[name]))))
    # The worker's side of the same call answers the same text.
    reply = call_in_worker(frame, name, GOOD[name], [])
    assert reply == {"kind": "tool", "failed": False, "message": text}


@pytest.mark.parametrize(("name", "change", "error", "message"), BAD)
def test_both_adapters_fail_alike_on_bad_arguments(frame, name, change, error, message):
    arguments = {**GOOD[name], **change}
    with pytest.raises(error) as in_code:
        _code_call(name, frame, arguments)
    tool = {t.name: t for t in bound_tools(frame, [])}[name]
    with pytest.raises(error) as in_calling:
        tool(**arguments)
    assert message in str(in_code.value)
    assert str(in_code.value) == str(in_calling.value)
    reply = call_in_worker(frame, name, arguments, [])
    assert reply["failed"] and reply["message"] == f"{error.__name__}: {in_code.value}"


def test_every_tool_of_both_agents_is_tried_with_bad_arguments():
    assert {name for name, *_ in BAD} == set(GOOD)


def test_a_metric_without_its_after_column_is_refused_by_both(frame):
    """The drift this fixes: the tool-calling tools checked only `_before`, and failed with pandas' bare
    KeyError('orders_after') instead of naming the missing column."""
    half = frame.drop(columns="orders_after")
    with pytest.raises(KeyError, match=r"missing orders_after\); metrics in df: orders, users"):
        {t.name: t for t in bound_tools(half, [])}["metric_totals"](metric="orders")
    with pytest.raises(KeyError, match=r"missing orders_after\)"):
        _code_call("metric_totals", half, {"metric": "orders"})


def test_unknown_and_missing_arguments_are_named(frame):
    assert call_in_worker(frame, "metric_totals", {"metric": "orders", "x": 1}, [])["message"] == (
        "TypeError: unknown argument(s) for metric_totals: x"
    )
    assert (
        "missing argument(s) for segment_changes: dimension"
        in call_in_worker(frame, "segment_changes", {"metric": "orders"}, [])["message"]
    )
    with pytest.raises(TypeError, match=r"segment_changes\(\): missing a required argument: 'dimension'"):
        _code_call("segment_changes", frame, {"metric": "orders"})


def _platform_facts(table: pd.DataFrame, analysis) -> list[dict]:
    before, after = metric_columns(table, analysis["metric"])
    sums = table.groupby("platform")[[before, after]].sum()
    return [
        {
            "slice": {"platform": str(name)},
            "metric": analysis["metric"],
            "kind": "pct_change",
            "value": (row[after] - row[before]) / abs(row[before]) * 100,
        }
        for name, row in sums.iterrows()
    ]


def _platform_changes(df, metric: str) -> pd.DataFrame:
    before, after = metric_columns(df, metric)
    sums = df.groupby(dimension(df, "platform"))[[before, after]].sum()
    return (sums[after] - sums[before]).div(sums[before].abs()).mul(100).rename("pct_change").reset_index()


# A tiny new tool, defined once: the % change of each platform (a dimension the run does not analyse).
PLATFORM_CHANGES = KpiTool(
    name="platform_changes",
    description="Each platform's % change of a metric.",
    inputs={"df": Arg("any", "The data table."), "metric": Arg("string", "Metric name.")},
    run=_platform_changes,
    calling=Calling(
        returns="JSON rows with platform, pct_change.",
        answer=lambda table, arguments: top_rows(table, ["platform", "pct_change"]),
    ),
    facts=_platform_facts,
)


def test_a_new_tools_numbers_verify_through_its_one_definition(write_file, scripted_model):
    dataset = load_dataset(write_file("pairs.csv", PAIRS))
    code = "rows = platform_changes(df, metric='orders')\nandroid = rows[rows['platform'] == 'Android']['pct_change'].iloc[0]"
    answer = "final_answer(f'Android orders fell {abs(android):.2f}%.')"
    script = [f"Thought: by platform.\n<code>\n{code}\n{answer}\n</code>"]

    def run(tools):
        request = RunRequest(dataset, metric="orders", by=["country"], tools=tools, executor="local")
        # Twice: a flagged answer goes back to the model once, and is accepted with its flags the second time.
        return collect(run_events(request, scripted_model(script * 2)))

    with_facts = run([*KPI_TOOLS, code_tool(PLATFORM_CHANGES)])
    assert with_facts.narrative == "Android orders fell 31.05%."
    [claim] = with_facts.verification["claims"]
    assert claim["verdict"] == "verified" and claim["entity_key"] == "platform=Android"
    # The same tool without its facts: the right number is unknown to verification.
    silent = KpiTool(**{**PLATFORM_CHANGES.__dict__, "facts": None})
    without = run([*KPI_TOOLS, code_tool(silent)])
    assert without.narrative == with_facts.narrative
    assert [c["verdict"] for c in without.verification["claims"]] == ["unsupported"]
    assert len(with_facts.steps) == 1 and len(without.steps) == 2  # sent back once, as unverifiable
    # The tool-calling agent gets the same tool from the same definition.
    [bound] = bound_tools(dataset.frame, [], specs=[PLATFORM_CHANGES])
    assert json.loads(bound(metric="orders"))[0] == {"platform": "Android", "pct_change": -31.052632}


def test_the_code_agent_drills_a_file_of_seven_dimensions_without_a_failed_step(write_file):
    """The shared dimension check must not refuse what `analyze()` drills: a 7-dimension file in 2 clean steps."""
    import itertools

    import numpy as np

    levels = [[f"v{i}{j}" for j in range(2)] for i in range(7)]
    frame = pd.DataFrame(list(itertools.product(*levels)), columns=[f"d{i}" for i in range(7)])
    frame["revenue_before"] = np.random.default_rng(0).uniform(100, 200, len(frame)).round(2)
    frame["revenue_after"] = frame["revenue_before"]
    planted = (frame.d0 == "v00") & (frame.d3 == "v30")
    frame.loc[planted, "revenue_after"] = (frame.loc[planted, "revenue_before"] / 2).round(2)
    dataset = load_dataset(write_file("seven.csv", frame.to_csv(index=False)))
    result = collect(run_events(RunRequest(dataset, executor="local")))
    assert [step["error"] for step in result.steps] == [None, None]
    assert "v00 × v30" in result.narrative and result.verification["mismatches"] == []
