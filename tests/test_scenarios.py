"""Scenario files: one scenario for every metric, in the loader, the ratio, the CLI, the page and the comparison."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from agent.run.runner import RunRequest, run_events
from agent.run.scenarios import run_scenarios, scenario_row, wants_all_scenarios
from tests.helpers import ROOT, run_cli
from tools.analysis import analyze, parse_ratio
from tools.loading import DataError, MetricColumns, load_dataset, scenario_of
from tools.segment_labels import needs_dimension, segment_label, slice_label

COUNTRIES = ["UK", "France", "Germany", "Spain", "Italy"]
MATURITY = ["new", "existing"]


def scenario_frame(
    scenarios: list[str], metrics: list[str], seed: int = 0, lacking: dict[str, str] | None = None
) -> pd.DataFrame:
    """A wide file by country × maturity: `<metric>_before`, then `<metric>_after_<scenario>` columns interleaved
    across metrics (scenario-major), each scenario with values of its own. `lacking` drops one metric's scenario."""
    rng = np.random.default_rng(seed)
    rows = [{"country": c, "maturity": m} for c in COUNTRIES for m in MATURITY]
    frame = pd.DataFrame(rows)
    for metric in metrics:
        frame[f"{metric}_before"] = rng.integers(1_000, 9_000, len(frame))
    for scenario in scenarios:
        for metric in metrics:
            if (lacking or {}).get(metric) == scenario:
                continue
            frame[f"{metric}_after_{scenario}"] = rng.integers(500, 12_000, len(frame))
    return frame


def write_csv(tmp_path, frame: pd.DataFrame, name: str = "scenarios.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


SCENARIOS = ["scenario_1", "scenario_2", "scenario_3"]
METRICS = ["users", "converted_users"]


@pytest.fixture
def three_scenarios(tmp_path):
    frame = scenario_frame(SCENARIOS, METRICS, seed=3)
    return frame, write_csv(tmp_path, frame)


def chosen_by(scenario: str) -> list[str]:
    """Every way to name a scenario: its name, each of its columns, and a differently cased/spaced name."""
    return [scenario, scenario.upper().replace("_", " "), *(f"{m}_after_{scenario}" for m in METRICS)]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_metric_comes_from_the_chosen_scenario(three_scenarios, scenario):
    frame, path = three_scenarios
    for after in chosen_by(scenario):
        dataset = load_dataset(path, after=after)
        assert dataset.scenario == scenario and dataset.scenarios == SCENARIOS
        for metric in METRICS:
            assert dataset.frame[f"{metric}_after"].sum() == frame[f"{metric}_after_{scenario}"].sum()
            assert dataset.frame[f"{metric}_before"].sum() == frame[f"{metric}_before"].sum()
            assert dataset.columns[metric].scenario == scenario
        ratio = analyze(dataset, ratio="converted_users/users")["ratio"]
        expected = frame[f"converted_users_after_{scenario}"].sum() / frame[f"users_after_{scenario}"].sum()
        assert ratio["after"] == pytest.approx(expected, rel=1e-12)


def test_default_scenario_is_shared_and_named(three_scenarios):
    frame, path = three_scenarios
    dataset = load_dataset(path)
    assert dataset.scenario == "scenario_1"
    assert dataset.frame["users_after"].sum() == frame["users_after_scenario_1"].sum()
    assert dataset.frame["converted_users_after"].sum() == frame["converted_users_after_scenario_1"].sum()
    assert any("3 scenarios" in w and "'scenario_2', 'scenario_3'" in w for w in dataset.warnings)
    assert dataset.describe()["scenario"] == "scenario_1"
    assert dataset.dimensions == ["country", "maturity"]  # no scenario column taken for a dimension


def test_a_metric_that_lacks_the_scenario_is_named_never_filled_from_another(tmp_path):
    frame = scenario_frame(SCENARIOS, METRICS, seed=5, lacking={"converted_users": "scenario_3"})
    path = write_csv(tmp_path, frame)
    dataset = load_dataset(path, after="scenario_3")
    assert dataset.metrics == ["users"]
    assert any("converted_users has no column for scenario 'scenario_3'" in w for w in dataset.warnings)
    with pytest.raises(DataError, match="converted_users has no column for scenario 'scenario_3'"):
        analyze(dataset, ratio="converted_users/users")
    with pytest.raises(DataError, match="converted_users has no column for scenario 'scenario_3'"):
        analyze(dataset, metric="converted_users")
    with pytest.raises(DataError, match="converted_users has no column for scenario 'scenario_3'"):
        load_dataset(path, after="scenario_3", metrics=["converted_users"])
    # the scenarios that both metrics have still pair them
    both = load_dataset(path, after="scenario_2")
    assert both.frame["converted_users_after"].sum() == frame["converted_users_after_scenario_2"].sum()


def test_ratio_refuses_parts_from_two_scenarios(three_scenarios):
    _, path = three_scenarios
    dataset = load_dataset(path, after="scenario_2")
    # A Dataset filled some other way (not by the loader) with one part from another scenario:
    users = dataset.columns["users"]
    dataset.columns["users"] = MetricColumns(
        "users", users.before, "users_after_scenario_1", scenario="scenario_1"
    )
    with pytest.raises(DataError, match=r"converted_users comes from scenario 'scenario_2'.*same scenario"):
        parse_ratio("converted_users/users", dataset)
    dataset.columns["users"] = MetricColumns(
        "users", users.before, users.after, scenario="scenario_2", periods=("2024", "2025")
    )
    with pytest.raises(DataError, match="same two periods"):
        parse_ratio("converted_users/users", dataset)


@pytest.mark.parametrize(
    ("column", "scenario"),
    [
        ("users_after_scenario_2", "scenario_2"),
        ("revenue_post_v2", "v2"),
        ("revenue_after_plan", "plan"),
        ("revenue_after", "after"),
        ("revenue_2026_plan", "2026_plan"),
        ("revenue_2026", "2026"),
        ("revenue_after_[x](http://evil)", "x_http_evil"),
    ],
)
def test_scenario_names(column, scenario):
    assert scenario_of(column) == scenario


def test_other_suffixes_are_scenarios_too(tmp_path):
    text = "country,revenue_before,revenue_after,revenue_after_plan,orders_before,orders_after,orders_after_plan\n"
    text += "UK,10,12,20,1,2,3\nFR,5,6,7,1,1,4\n"
    path = tmp_path / "plan.csv"
    path.write_text(text)
    plan = load_dataset(path, after="plan")
    assert (plan.scenario, plan.scenarios) == ("plan", ["after", "plan"])
    assert plan.frame["revenue_after"].sum() == 27 and plan.frame["orders_after"].sum() == 7
    assert load_dataset(path).frame["orders_after"].sum() == 3


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    scenario_count=st.integers(2, 4),
    metric_count=st.integers(1, 3),
    seed=st.integers(0, 10_000),
    pick=st.integers(0, 3),
    by_column=st.booleans(),
)
def test_property_after_totals_are_the_chosen_scenarios_column_sums(
    tmp_path, scenario_count, metric_count, seed, pick, by_column
):
    scenarios = [f"s{i + 1}" for i in range(scenario_count)]
    metrics = ["sales", "orders", "visits"][:metric_count]
    frame = scenario_frame(scenarios, metrics, seed=seed)
    path = write_csv(tmp_path, frame, f"p{seed}.csv")
    scenario = scenarios[pick % scenario_count]
    after = f"{metrics[-1]}_after_{scenario}" if by_column else scenario
    dataset = load_dataset(path, after=after)
    for metric in metrics:
        analysis = analyze(dataset, metric=metric)
        assert analysis["totals"]["after"] == pytest.approx(frame[f"{metric}_after_{scenario}"].sum())
        assert analysis["totals"]["before"] == pytest.approx(frame[f"{metric}_before"].sum())


# ---- the run: summary, JSON, comparison -------------------------------------------------------------------------


def test_cli_json_names_the_scenario_and_uses_it_for_both_ratio_parts(three_scenarios):
    frame, path = three_scenarios
    process = run_cli(
        "run",
        str(path),
        "--ratio",
        "converted_users/users",
        "--after",
        "users_after_scenario_2",
        "--json",
        "--executor",
        "local",
        check=True,
    )
    result = json.loads(process.stdout)
    assert result["dataset"]["scenario"] == "scenario_2"
    expected = frame["converted_users_after_scenario_2"].sum() / frame["users_after_scenario_2"].sum()
    assert result["ratio"]["after"] == pytest.approx(expected, rel=1e-12)
    assert result["narrative"].splitlines()[0].startswith("Scenario `scenario_2`:")
    assert result["verification"]["mismatches"] == []


def test_cli_after_all_gives_one_verified_row_per_scenario(three_scenarios):
    frame, path = three_scenarios
    process = run_cli(
        "run",
        str(path),
        "--ratio",
        "converted_users/users",
        "--after",
        "all",
        "--json",
        "--executor",
        "local",
        check=True,
    )
    result = json.loads(process.stdout)
    rows = result["scenarios"]
    assert [row["scenario"] for row in rows] == SCENARIOS
    for row in rows:
        scenario = row["scenario"]
        expected = frame[f"converted_users_after_{scenario}"].sum() / frame[f"users_after_{scenario}"].sum()
        assert row["after"] == pytest.approx(expected, rel=1e-12)
        assert row["all_verified"], row
        assert result["runs"][scenario]["dataset"]["scenario"] == scenario
    terminal = run_cli("run", str(path), "--after", "all", "--executor", "local", check=True).stdout
    assert "by scenario" in terminal and all(s in terminal for s in SCENARIOS)


def test_cli_after_all_on_a_file_without_scenarios_says_so(revenue_file):
    process = run_cli("run", str(revenue_file), "--after", "all")
    assert process.returncode == 2
    assert "has one 'after' column per metric" in process.stderr


def test_a_lacking_scenario_is_an_error_row_not_a_crash(tmp_path):
    frame = scenario_frame(SCENARIOS, METRICS, seed=9, lacking={"converted_users": "scenario_2"})
    path = write_csv(tmp_path, frame)

    def run(dataset):
        return run_events(RunRequest(dataset, ratio="converted_users/users", executor="local"), None)

    rows, _ = run_scenarios(SCENARIOS, lambda s: load_dataset(path, after=s), run)
    assert [row.status for row in rows] == ["success", "error", "success"]
    assert "converted_users has no column for scenario 'scenario_2'" in rows[1].error
    assert rows[0].all_verified and not rows[1].all_verified
    assert (
        wants_all_scenarios("ALL") and not wants_all_scenarios("scenario_1") and not wants_all_scenarios(None)
    )


def test_summary_names_ambiguous_values_with_their_dimension(tmp_path):
    # The whole change sits in maturity = new: the summary must not say "sits in new".
    frame = pd.DataFrame(
        {
            "country": ["UK", "UK", "FR", "FR"],
            "maturity": ["new", "existing", "new", "existing"],
            "revenue_before": [100, 100, 100, 100],
            "revenue_after": [50, 100, 40, 100],
        }
    )
    path = write_csv(tmp_path, frame, "maturity.csv")
    from agent.run.result import collect

    result = collect(run_events(RunRequest(load_dataset(path), executor="local"), None))
    assert "**maturity = new**" in result.narrative
    assert scenario_row("-", result).top_driver == "maturity = new"


def test_segment_labels():
    assert [needs_dimension(v) for v in ("new", "Other", "1", "true", " ", "B", "France", "Android")] == [
        True,
        True,
        True,
        True,
        True,
        True,
        False,
        False,
    ]
    assert segment_label("maturity", "new") == "maturity = new"
    assert slice_label({"country": "UK", "maturity": "existing"}) == "UK × maturity = existing"


# ---- the page ---------------------------------------------------------------------------------------------------


def upload(app: AppTest, path) -> AppTest:
    app.radio(key="source").set_value("Upload").run()
    return app.file_uploader(key="upload").set_value((path.name, path.read_bytes(), "text/csv")).run()


def test_page_has_one_scenario_picker_and_applies_it_to_every_metric(three_scenarios):
    frame, path = three_scenarios
    app = upload(AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run(), path)
    assert not app.exception
    picker = app.selectbox(key=f"scenario-{path.name}")
    assert picker.options == [*SCENARIOS, "All scenarios (compare)"]
    assert not [s for s in app.selectbox if str(s.label).startswith("'After' column")]
    picker.set_value("scenario_3").run()
    app.checkbox(key=f"use_ratio-{path.name}").check().run()
    app.selectbox(key=f"numerator-{path.name}").set_value("converted_users").run()
    app.selectbox(key=f"denominator-{path.name}").set_value("users").run()
    app.button(key="run_button").click().run()
    run = app.session_state["run"]
    assert run.wait_idle(60)
    app.run()
    assert not app.exception
    assert run.result.dataset["scenario"] == "scenario_3"
    expected = frame["converted_users_after_scenario_3"].sum() / frame["users_after_scenario_3"].sum()
    assert run.result.analysis["ratio"]["after"] == pytest.approx(expected, rel=1e-12)
    assert any("scenario scenario_3" in t.value for t in app.text)  # the result's header names it


def test_page_compares_all_scenarios(three_scenarios):
    frame, path = three_scenarios
    app = upload(AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run(), path)
    app.selectbox(key=f"scenario-{path.name}").set_value("All scenarios (compare)").run()
    app.checkbox(key=f"use_ratio-{path.name}").uncheck().run()  # the metric users, summed
    app.button(key="run_button").click().run()
    comparison = app.session_state["run"]
    assert comparison.wait(120)
    app.run()
    assert not app.exception
    rows = comparison.rows()
    assert [row.scenario for row in rows] == SCENARIOS
    for row in rows:
        assert row.after == pytest.approx(frame[f"users_after_{row.scenario}"].sum())
        assert row.all_verified
    table = next(d.value for d in app.dataframe if "Scenario" in d.value.columns)
    assert list(table["Scenario"]) == SCENARIOS


def test_history_exports_and_replay_keep_the_scenario(three_scenarios, tmp_path):
    from agent.output import export
    from agent.output.history import RunHistory

    _, path = three_scenarios
    events = list(run_events(RunRequest(load_dataset(path, after="scenario_2"), executor="local"), None))
    history = RunHistory(tmp_path / "history.sqlite")
    replayed = history.result(history.save(events))
    assert replayed.dataset["scenario"] == "scenario_2"
    assert replayed.narrative.startswith("Scenario `scenario_2`:")
    assert "scenario scenario_2" in export.report_markdown(replayed)
    assert "scenario scenario_2" in export.report_html(replayed)
    assert json.loads(export.trace_json(replayed))["dataset"]["scenario"] == "scenario_2"
