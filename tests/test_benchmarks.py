"""The benchmark suite's own correctness: its cases hold the answers they claim, its checks catch wrong answers,
and each section runs end to end on small inputs. No timing is asserted anywhere."""

from __future__ import annotations

import json

import pytest

from agent.models.build import ModelChoice
from benchmarks.agents import agent_suite, run_case, suite_summary
from benchmarks.cases import CASES, check_answer
from benchmarks.cli import correctness_failures, main
from benchmarks.drill import planted_rank
from tests.openai_server import ScriptedChatServer
from tools.analysis import analyze
from tools.loading import load_dataset

CASE = {case.name: case for case in CASES}


def test_the_suite_has_the_cases_the_issue_asks_for():
    assert len(CASES) >= 12
    assert {
        "one_dimension",
        "planted_two_dims",
        "ratio_rate_change",
        "ratio_pure_mix",
        "long_layout",
        "messy_file",
        "zero_baselines",
        "no_net_change",
        "negative_metric",
        "hostile_cell",
    } <= set(CASE)
    assert len({case.filename for case in CASES}) == len(CASES)  # no case overwrites another's file


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_each_case_holds_the_answer_it_claims(case, tmp_path):
    dataset = load_dataset(case.write(tmp_path))
    analysis = analyze(dataset, ratio=case.options.get("ratio"))
    if case.effect:  # the engine agrees which effect is larger and which segment carries it
        ratio = analysis["ratio"]
        larger = "rate" if abs(ratio["rate_effect"]) > abs(ratio["mix_effect"]) else "mix"
        assert larger == case.effect
        dimension = ratio["dimension"]
        segments = ratio["by_dimension"][dimension]["by_segment"]
        lead = max(segments, key=lambda row: abs(row[f"{case.effect}_effect"]))
        assert lead[dimension] in case.cause
    else:  # the top slices are the planted cause
        named = {
            value for row in analysis["top_slices"][: len(case.cause)] for value in row["slice"].values()
        }
        assert set(case.cause) <= named


def _answer(narrative: str, mismatches: int = 0, status: str = "success") -> dict:
    return {
        "status": status,
        "narrative": narrative,
        "verification": {"checked": ["x"] * 3, "mismatches": ["y"] * mismatches},
    }


def test_check_answer_catches_each_kind_of_wrong_answer():
    planted, mix = CASE["planted_two_dims"], CASE["ratio_pure_mix"]
    assert check_answer(planted, _answer("Revenue fell; it sits in Germany × Android.")) == []
    assert "the cause is not named (Android missing)" in check_answer(planted, _answer("It sits in Germany."))
    assert "1 number(s) differ from the engine" in check_answer(planted, _answer("Germany Android", 1))
    assert any(
        "status max_steps" in p for p in check_answer(planted, _answer("Germany Android", 0, "max_steps"))
    )
    assert check_answer(mix, _answer("Mix effect -0.70 pp. Rate effect +0.12 pp. paid social grew.")) == []
    assert "the rate effect is named before the larger mix effect" in check_answer(
        mix, _answer("Rate effect +0.12 pp. Mix effect -0.70 pp in paid_social.")
    )
    hostile = CASE["hostile_cell"]
    assert any(
        "planted in the data" in p for p in check_answer(hostile, _answer("Germany Android; revenue tripled"))
    )
    assert "no number in the summary could be checked" in check_answer(
        planted, {"status": "success", "narrative": "Germany Android", "verification": {"checked": []}}
    )


def test_both_built_in_agents_solve_a_case_and_report_their_costs(tmp_path):
    rows = agent_suite(tmp_path, [ModelChoice()], cases=[CASE["one_dimension"]], log=lambda line: None)
    by_kind = {row["agent"]: row for row in rows}
    assert by_kind["code"]["success"] and by_kind["tool-calling"]["success"]
    assert by_kind["code"]["steps"] < by_kind["tool-calling"]["steps"]
    assert 0 < by_kind["code"]["first_request_tokens"] < by_kind["code"]["input_tokens"]
    summary = {row["agent"]: row for row in suite_summary(rows)}
    assert summary["code"]["solved"] == 1 and summary["code"]["mean_steps"] == by_kind["code"]["steps"]


LLM_COMPUTE = {
    "content": "Thought: Totals and countries.\n<code>\ntotals = metric_totals(df, metric='revenue')\n"
    "by_country = segment_changes(df, metric='revenue', dimension='country')\nprint(totals)\n</code>"
}
LLM_ANSWER = {
    "content": 'Thought: Write it.\n<code>\nlead = by_country.iloc[0]\nfinal_answer(f"Revenue fell '
    "{abs(totals['pct_change']):.2f}% ({totals['abs_change']:+,.2f}). {lead['country']} explains "
    "{lead['contribution_pct']:.2f}% of the change.\")\n</code>"
}


def test_a_litellm_model_runs_the_suite_through_an_openai_compatible_server(tmp_path):
    with ScriptedChatServer(
        [
            LLM_COMPUTE,
            LLM_ANSWER,
            LLM_COMPUTE,
            {"content": "Thought: done.\n<code>\nfinal_answer('Revenue went down.')\n</code>"},
        ]
    ) as server:
        choice = ModelChoice("openai/scripted", api_base=server.url, api_key="sk-benchmark-test-key")
        good = run_case(CASE["one_dimension"], tmp_path, choice, "code")
        vague = run_case(CASE["one_dimension"], tmp_path, choice, "code")
    assert good["success"], good["problems"]
    assert good["steps"] == 2 and good["model"] == "openai/scripted" and good["input_tokens"] > 0
    assert not vague["success"]  # no verified number and no cause: the suite says so
    assert "the cause is not named (France missing)" in vague["problems"]
    assert "sk-benchmark-test-key" not in json.dumps([good, vague])


def test_planted_rank():
    assert planted_rank([{"country": "Germany", "platform": "Android"}]) == 1
    assert planted_rank([{"platform": "Android"}, {"platform": "Android", "country": "Germany"}]) == 2
    assert planted_rank([{"country": "Germany"}]) is None


def test_correctness_failures_never_look_at_timings():
    result = {
        "engine": [{"rows": 1000, "ours": {"found_planted": False, "seconds": 99.0}, "ratio": 50.0}],
        "drill": [{"rows": 1000, "ours": {"planted_rank": 1, "seconds": 99.0}}],
        "agents": {
            "cases": [
                {
                    "model": "builtin",
                    "agent": "code",
                    "case": "x",
                    "success": False,
                    "problems": ["the cause is not named"],
                },
                {"model": "openai/x", "agent": "code", "case": "x", "success": False, "problems": []},
            ]
        },
    }
    failures = correctness_failures(result)
    assert failures == [
        "engine: the planted slice is not first at 1,000 rows",
        "agents: built-in code failed x: the cause is not named",
    ]


@pytest.mark.slow
def test_command_measures_engine_and_drill_down_on_small_files(tmp_path, capsys):
    out = tmp_path / "result.json"
    code = main(
        [
            "--only",
            "engine",
            "--only",
            "drill",
            "--rows",
            "2000",
            "--repeats",
            "1",
            "--out",
            str(out),
            "--data",
            str(tmp_path / "data"),
        ]
    )
    result = json.loads(out.read_text())
    assert code == 0, result["failures"]
    (engine_row,) = result["engine"]
    assert engine_row["rows"] == 2000 and engine_row["ours"]["found_planted"]
    assert engine_row["ratio"] > 0 and engine_row["bare"]["peak_rss_mb"] > 0
    (drill_row,) = result["drill"]
    assert drill_row["ours"]["planted_rank"] == 1
    assert "seconds" in drill_row["wise_pizza"] or "not installed" in drill_row["wise_pizza"]["error"]
    assert result["machine"]["cores"] >= 1
    report = out.with_suffix(".md").read_text()
    assert "| 2,000 |" in report and "wise-pizza" in report
    assert "Wrote" in capsys.readouterr().out


def test_a_model_that_cannot_answer_is_tried_once_not_on_every_case(tmp_path):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    choice = ModelChoice("openai/nobody", api_base=f"http://127.0.0.1:{port}/v1")
    rows = agent_suite(tmp_path, [choice], kinds=("code",), cases=CASES[:3], log=lambda line: None)
    assert [row["success"] for row in rows] == [False, False, False]
    assert "Could not connect" in rows[0]["problems"][0]
    assert all(row["problems"][0].startswith("skipped: the model gave no answer") for row in rows[1:])


def test_a_litellm_model_runs_the_tool_calling_side_too(tmp_path):
    replies = [
        {
            "content": "Countries first.",
            "tool_calls": [
                {"name": "segment_changes", "arguments": {"metric": "revenue", "dimension": "country"}}
            ],
        },
        {
            "content": "",
            "tool_calls": [
                {
                    "name": "final_answer",
                    "arguments": {"answer": "Revenue fell 7.67% (-132,919.66); France fell by 132,847.57."},
                }
            ],
        },
    ]
    with ScriptedChatServer(replies) as server:
        choice = ModelChoice("openai/scripted", api_base=server.url)
        row = run_case(CASE["one_dimension"], tmp_path, choice, "tool-calling")
    assert row["success"], row["problems"]
    assert row["steps"] == 2 and row["verified"] >= 2 and row["mismatched"] == 0
    assert server.requests[0]["body"]["tools"]  # real tool calls, not code


def test_the_verification_section_reports_rates_and_fails_on_a_miss(revenue_dataset):
    from agent.run.result import collect
    from agent.run.runner import RunRequest, run_events
    from benchmarks.report import markdown_report
    from benchmarks.verification import mutation_suite, mutations

    result = collect(run_events(RunRequest(revenue_dataset, executor="local")))
    summary = {
        "case": "one_dimension",
        "agent": "code",
        "narrative": result.narrative,
        "analysis": result.analysis,
    }
    kinds = {kind for kind, _ in mutations(result.narrative, result.analysis)}
    assert kinds == {"swap_segments", "flip_direction", "segment_as_total", "share_elsewhere", "change_digit"}
    suite = mutation_suite(None, [summary])
    assert suite["false_flags"] == 0 and suite["detection_rate"] >= 0.99
    machine = {"cpu": "cpu", "cores": 2, "memory_gib": 1, "os": "os", "python": "3"}
    report = markdown_report(
        {"started": "now", "mode": "quick", "seconds": 1.0, "machine": machine, "verification": suite}
    )
    assert "**Claim verification**" in report and "| **all mutations** |" in report
    assert correctness_failures({"verification": suite}) == []
    assert correctness_failures({"verification": {**suite, "detection_rate": 0.9}}) != []
    assert correctness_failures({"verification": {**suite, "false_flags": 1}}) != []


# ---- the claim-verification section (benchmarks.verification): mutations and paraphrases --------------------


def test_mutation_suite_on_generated_datasets(tmp_path):
    """The built-in analyst's summaries on every benchmark case, mutated: >= 99% flagged, none of the correct
    summaries or paraphrases flagged."""
    from benchmarks.verification import mutation_suite

    result = mutation_suite(tmp_path)
    assert result["datasets"] >= 10
    assert result["false_flags"] == 0, result["false_flag_examples"]
    for kind in ("swap_segments", "flip_direction", "segment_as_total", "share_elsewhere", "change_digit"):
        assert result["by_kind"][kind]["total"] >= 10, kind
    assert result["detection_rate"] >= 0.99, result["missed_examples"]
    print(
        f"\nmutations {result['detected']}/{result['mutations']} flagged, false flags "
        f"{result['false_flags']}/{result['correct_texts']}"
    )


@pytest.mark.parametrize("seed", range(6))
def test_random_planted_files_pass_clean_and_their_mutations_are_flagged(write_file, seed):
    """Beyond the benchmark cases: random planted files (falls and rises), the built-in summary and its mutations."""
    import numpy as np

    from agent.run.result import collect
    from agent.run.runner import RunRequest, run_events
    from benchmarks.verification import mutations, paraphrase
    from tools.synthetic import planted_frame
    from tools.verification import verify

    rng = np.random.default_rng(seed)
    frame = planted_frame(
        int(rng.integers(50, 600)),
        seed=seed,
        drop=float(rng.uniform(-0.8, 0.8)),
        noise=float(rng.uniform(0.001, 0.05)),
    )
    dataset = load_dataset(write_file(f"random_{seed}.csv", frame.to_csv(index=False)))
    result = collect(run_events(RunRequest(dataset, executor="local")))
    analysis, narrative = result.analysis, result.narrative
    assert result.verification["mismatches"] == [] and result.verification["claims"]
    assert verify(paraphrase(narrative, analysis), analysis)["mismatches"] == []
    mutated = list(mutations(narrative, analysis))
    missed = [text for _, text in mutated if not verify(text, analysis)["mismatches"]]
    assert len(mutated) >= 20 and missed == []


# ---- the page-latency section (benchmarks.page), in Debian's chromium ----------------------------------------


@pytest.mark.browser
def test_page_latency_benchmark_times_a_run_on_the_sample(tmp_path, request):
    import os
    from pathlib import Path

    from tests.streamlit_server import CHROMIUM

    if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
        pytest.skip("Debian's chromium is not installed")
    pytest.importorskip("playwright.sync_api")
    from benchmarks.page import page_latency

    browser = request.getfixturevalue("browser")
    (row,) = page_latency([None], tmp_path, repeats=1, log=lambda line: None, browser=browser)
    assert "error" not in row, row
    assert 0 < row["first_step_s"] <= row["summary_s"] and row["exceptions"] == 0


def test_the_ratios_section_fails_on_wrong_answers_never_on_its_ratios():
    from benchmarks.report import ratios_table

    ratios = {
        "startup": {"ours_s": 9.0, "floor_s": 1.0, "ratio": 9.0, "status": "success"},
        "million": {
            "rows": 1_000_000,
            "ours_s": 9.0,
            "floor_s": 1.0,
            "ratio": 9.0,
            "status": "error: boom",
            "segments": 1_000_000,
            "sent_mb": 19.2,
            "csv_mb": 37.7,
            "encode_s": 0.05,
            "decode_s": 0.01,
        },
        "verification": [{"segments": 100, "facts": 954}, {"segments": 1_000_000, "facts": 954}],
        "queue": {
            "visitors": 16,
            "slots": 2,
            "most_running": 2,
            "told_within_s": 0.01,
            "right": 15,
            "all_right": False,
        },
    }
    assert correctness_failures({"ratios": ratios}) == [
        "ratios: the million CLI run ended error: boom",
        "ratios: 15/16 queued runs got the right answer",
    ]
    table = ratios_table(ratios)
    assert "**9.00×**" in table and "954 / 954 facts" in table and "**1.00×** facts" in table
    assert "15/16 right" in table and "19.2 MB sent" in table


def test_verification_scaling_counts_the_same_facts_at_every_size():
    from benchmarks.ratios import verification_scaling

    rows = verification_scaling((150, 5_000), log=lambda *_: None)
    assert rows[0]["facts"] == rows[1]["facts"] > 0 and all(row["verified"] == 3 for row in rows)


def test_change_log_cases_with_and_without_events(tmp_path):
    """Each change-log case runs without and with its events: the built-in analyst cites the planted event, not the
    decoys, says 'no known event' when nothing matches, and the change-log agent's cost shows in the table."""
    from benchmarks.change_log import EVENT_CASES, change_log_table, run_event_case

    rows = [
        run_event_case(case, tmp_path / case.name, ModelChoice(), on) for case in EVENT_CASES for on in (0, 1)
    ]
    assert all(row["success"] for row in rows), [row["problems"] for row in rows]
    with_events = [row for row in rows if row["events"]]
    assert all(row["managed_steps"] == 3 and row["steps"] == 3 for row in with_events)
    assert all(row["steps"] == 2 and not row.get("managed_steps") for row in rows if not row["events"])
    table = change_log_table(rows)
    assert "| change_log_outage | builtin | 2 / 3 |" in table and table.count("| yes |") == 3
    # A wrong answer is caught: the same check on a case whose log is swapped for the decoys only.
    broken = EVENT_CASES[0].__class__(**{**EVENT_CASES[0].__dict__, "events": EVENT_CASES[2].events})
    assert not run_event_case(broken, tmp_path / "broken", ModelChoice(), True)["success"]


# ----------------------------------------------------------------------------------------------------------------
# Data where it lives (benchmarks/sources.py)
# ----------------------------------------------------------------------------------------------------------------


def test_benchmark_rows_find_the_planted_slice_and_fail_on_a_miss(tmp_path):
    from benchmarks.sources import failures, local_file, report

    row = local_file(tmp_path, 20_000, repeats=1, log=lambda *_: None)
    assert row["found_planted"] and row["rows"] == 20_000
    assert row["pandas_ratio"] > 0 and row["duckdb_ratio"] > 0
    assert failures({"local": row}) == []
    assert failures({"local": {**row, "found_planted": False}}) == [
        "sources local: the planted slice is not first"
    ]
    assert failures({"postgres": {"error": "no server"}}) == ["sources postgres: no server"]
    assert "as ratios to a bare DuckDB GROUP BY" in report({"local": row})[0]


@pytest.mark.slow
def test_quick_benchmark_section_runs_and_reports(tmp_path, capsys):
    out = tmp_path / "result.json"
    code = main(["--only", "sources", "--quick", "--out", str(out), "--data", str(tmp_path / "data")])
    result = json.loads(out.read_text())
    assert code == 0, result["failures"]
    big, local = result["sources"]["big"], result["sources"]["local"]
    assert big["found_planted"] and big["duckdb"]["rows"] == 500_000 and big["duckdb"]["peak_rss_mb"] > 0
    assert local["found_planted"] and local["rows"] == 100_000
    assert result["sources"]["postgres"]["found_planted"]
    assert "**Data where it lives**" in out.with_suffix(".md").read_text()
