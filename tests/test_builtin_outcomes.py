"""The built-in analyst through the real agent loop and its sandboxed worker, on every sample file: it succeeds,
every number it writes is verified against the engine, and it names the drivers the engine finds (not text frozen
from an earlier run)."""

import ast

import pytest

from agent.run.result import collect
from agent.run.runner import RunRequest, run_events
from tests.helpers import ROOT
from tools.analysis import analyze
from tools.loading import load_dataset
from tools.synthetic import PLANTED_SLICE

SAMPLES = ROOT / "sample_data"


def run(dataset, **request):
    result = collect(run_events(RunRequest(dataset, **request)))
    assert result.status == "success", result.error
    for step in result.steps:
        ast.parse(step["code"])
    return result


def assert_all_verified(result, at_least: int) -> None:
    verification = result.verification
    assert not verification["mismatches"], verification["mismatches"]
    assert all(claim["verdict"] in ("verified", "unbound") for claim in verification["claims"])
    assert sum(claim["verdict"] == "verified" for claim in verification["claims"]) >= at_least
    assert verification["coverage"]["total_change"] and verification["coverage"]["top_driver"]


@pytest.mark.parametrize(
    ("file", "options"),
    [
        ("revenue_by_country.tsv", {}),
        ("sales_by_segment.csv", {}),
        ("daily_revenue.csv", {"compare": "wow"}),
        ("daily_revenue.csv", {"compare": "mom"}),
    ],
)
def test_each_sample_is_explained_by_the_drivers_the_engine_finds(file, options):
    dataset = load_dataset(SAMPLES / file, **options)
    analysis = analyze(dataset)
    result = run(dataset)
    assert_all_verified(result, at_least=10)
    lead = analysis["top_slices"][0]
    first_dimension = dataset.dimensions[0]
    top = analysis["breakdowns"][first_dimension][0][first_dimension]
    assert f"The change sits in **{lead['segment']}**" in result.narrative
    assert f"Top drivers by {first_dimension} ({analysis['metric']}):\n- {top}:" in result.narrative
    if dataset.windows is not None:
        assert "\nWhen: " in result.narrative  # a daily table says when in the later window the change fell


def test_the_planted_pair_gets_its_own_charts():
    result = run(load_dataset(SAMPLES / "sales_by_segment.csv"))
    pair = " × ".join(PLANTED_SLICE.values())
    assert f"**{pair}**" in result.narrative
    titles = [chart["layout"]["title"]["text"] for chart in result.charts]
    assert "Revenue: size vs change, country × platform" in titles


def larger_effect_first(narrative: str, ratio: dict) -> bool:
    """Whether the summary tells the larger of the engine's rate and mix effects first."""
    larger, smaller = ("Mix effect", "Rate effect")
    if abs(ratio["rate_effect"]) > abs(ratio["mix_effect"]):
        larger, smaller = smaller, larger
    return -1 < narrative.find(larger) < narrative.find(smaller)


def test_a_ratio_leads_with_its_larger_effect_and_tests_significance():
    dataset = load_dataset(SAMPLES / "conversion_by_channel.csv")
    ratio = analyze(dataset, ratio="orders/users")["ratio"]
    result = run(dataset, ratio="orders/users")
    assert_all_verified(result, at_least=10)
    assert larger_effect_first(result.narrative, ratio)
    significance = ("Significant rate moves (p < 0.05):", "changed its own rate significantly")
    assert any(text in result.narrative for text in significance)


@pytest.mark.parametrize("scenario", ["scenario_1", "scenario_2", "scenario_3"])
def test_each_scenario_is_named_and_told_by_its_larger_effect(scenario):
    dataset = load_dataset(SAMPLES / "conversion_scenarios.csv", after=scenario)
    ratio = analyze(dataset, ratio="converted_users/users")["ratio"]
    result = run(dataset, ratio="converted_users/users")
    assert_all_verified(result, at_least=5)
    assert result.narrative.startswith(f"Scenario `{scenario}`: **converted_users / users ")
    assert larger_effect_first(result.narrative, ratio)


def test_a_question_naming_a_segment_is_answered_first():
    dataset = load_dataset(SAMPLES / "sales_by_segment.csv")
    result = run(dataset, question="What happened on Android?")
    assert_all_verified(result, at_least=10)
    lines = result.narrative.splitlines()
    assert lines[2].startswith("**Android: revenue fell") and "Overall:" in lines


def failing(name: str):
    """The KPI tool `name`, failing as a service behind it would."""
    from smolagents import Tool

    from tools.kpi_tools import KPI_TOOLS

    original = next(tool for tool in KPI_TOOLS if tool.name == name)

    class Failing(Tool):
        skip_forward_signature_validation = True

        def forward(self, *args, **kwargs):
            raise RuntimeError(f"{name} service unavailable")

    Failing.name, Failing.description = original.name, original.description
    Failing.inputs, Failing.output_type = original.inputs, original.output_type
    return [tool for tool in KPI_TOOLS if tool.name != name] + [Failing()]


@pytest.mark.parametrize(
    ("file", "ratio", "broken", "retried"),
    [
        ("conversion_by_channel.csv", "orders/users", "rate_mix_effects", "compute"),
        ("sales_by_segment.csv", None, "change_heatmap", "report"),
    ],
)
def test_a_failing_tool_is_retried_guarded_and_the_rest_still_verified(file, ratio, broken, retried):
    dataset = load_dataset(SAMPLES / file)
    result = run(dataset, ratio=ratio, tools=failing(broken), executor="local")
    phases = [step["code"].split("\n", 1)[0] for step in result.steps]
    first_failure = next(i for i, step in enumerate(result.steps) if step["error"])
    assert f"{broken} service unavailable" in result.steps[first_failure]["error"]
    assert phases[first_failure] == phases[first_failure + 1] == f"# phase: {retried}"
    retry = result.steps[first_failure + 1]
    assert "try:" in retry["code"] and not retry["error"]
    assert f"failed: {broken} service unavailable" in retry["observation"]  # said, not hidden
    assert not result.verification["mismatches"]
    if ratio:
        assert "the rate could not be decomposed" in result.narrative
    else:
        assert f"**{' × '.join(PLANTED_SLICE.values())}**" in result.narrative
