import json
import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT, run_cli

CONTRACT_KEYS = {
    "totals",
    "breakdowns",
    "top_slices",
    "ratio",
    "narrative",
    "steps",
    "charts",
    "verification",
    "warnings",
    "usage",
    "model",
    "agent",
}


def test_json_output_is_one_object_with_the_contract(revenue_file):
    process = run_cli("run", str(revenue_file), "--json", check=True)
    result = json.loads(process.stdout)  # stdout holds the object and nothing else
    assert set(result) >= CONTRACT_KEYS
    assert result["totals"]["abs_change"] == pytest.approx(-132919.66, abs=0.005)
    assert round(result["totals"]["pct_change"], 2) == -7.67
    france = next(r for r in result["breakdowns"]["country"] if r["country"] == "France")
    assert round(france["contribution_pct"], 2) == 99.95
    assert set(france) >= {
        "before",
        "after",
        "abs_change",
        "pct_change",
        "contribution_pct",
        "share_before",
        "impact_norm",
    }
    assert result["top_slices"][0] == {**result["top_slices"][0], "slice": {"country": "France"}}
    assert result["ratio"] is None
    assert result["verification"]["mismatches"] == [] and result["verification"]["checked"]
    assert "rule-based, not an LLM" in result["model"] and result["agent"] == "code"
    step = result["steps"][0]
    assert set(step) == {
        "number",
        "thought",
        "code",
        "observation",
        "error",
        "input_tokens",
        "output_tokens",
        "duration_s",
        "plan",
        "managed",
    }
    assert step["plan"] is None and step["managed"] == []  # no planning, no change log
    assert result["usage"]["steps"] == len(result["steps"]) >= 2
    assert result["charts"] and "data" in result["charts"][0]


def test_terminal_run_prints_the_trace_then_the_summary(revenue_file):
    process = run_cli("run", str(revenue_file), check=True)
    out = process.stdout
    for marker in (
        "Step 1",
        "Thought:",
        "Code",
        "Observation",
        "Step 2",
        "Summary",
        "Revenue fell 7.67%",
        "20 claims: 20 verified",
        "rule-based, not an LLM",
    ):
        assert marker in out, marker
    assert out.index("Step 1") < out.index("Step 2") < out.index("Summary")


def test_ratio_and_by_flags(write_file):
    from tools.synthetic import conversion_frame

    path = write_file("conv.csv", conversion_frame().to_csv(index=False))
    result = json.loads(
        run_cli("run", str(path), "--ratio", "orders/users", "--by", "channel", "--json", check=True).stdout
    )
    ratio = result["ratio"]
    assert ratio["rate_effect"] + ratio["mix_effect"] == pytest.approx(ratio["change"], abs=1e-12)
    assert list(result["breakdowns"]) == ["channel"]
    assert result["verification"]["mismatches"] == []


def test_after_flag_and_scenario_warning(write_file):
    path = write_file(
        "s.csv", "country,revenue_before,revenue_after_a,revenue_after_b\nUK,10,12,20\nFR,5,5,5\n"
    )
    default = json.loads(run_cli("run", str(path), "--json", check=True).stdout)
    assert default["totals"]["after"] == 17
    assert any("'b'" in w for w in default["warnings"]) and default["dataset"]["scenario"] == "a"
    chosen = json.loads(run_cli("run", str(path), "--after", "revenue_after_b", "--json", check=True).stdout)
    assert chosen["totals"]["after"] == 25
    assert (
        json.loads(run_cli("run", str(path), "--after", "b", "--json", check=True).stdout)["totals"]["after"]
        == 25
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ("country,revenue\nUK,1\n", "found no before/after pair"),
    ],
)
def test_bad_file_exits_2_with_one_clear_line(write_file, content, message):
    path = write_file("bad.csv", content)
    process = run_cli("run", str(path))
    assert process.returncode == 2
    assert process.stderr.startswith("error: bad.csv: ")
    assert message in process.stderr
    assert "Traceback" not in process.stderr + process.stdout


def test_bad_file_with_json_prints_a_json_error(write_file):
    process = run_cli("run", str(write_file("bad.csv", "")), "--json")
    assert process.returncode == 2
    assert json.loads(process.stdout) == {
        "status": "error",
        "error": process.stderr.strip()[len("error: ") :],
    }


def test_bad_flag_values(revenue_file):
    unset = run_cli(
        "run", str(revenue_file), "--model", "openai/x", "--api-key-env", "KPI_TEST_UNSET_VARIABLE"
    )
    assert (
        unset.returncode == 2
        and "KPI_TEST_UNSET_VARIABLE: that environment variable is not set" in unset.stderr
    )
    message = run_cli("run", str(revenue_file), "--ratio", "orders").stderr
    assert (
        "The ratio 'orders': write it as NUMERATOR/DENOMINATOR" in message
        and "(set it with --ratio" in message
    )
    missing = run_cli("run", "/nonexistent.csv")
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_markup_in_cells_is_printed_as_text(write_file):
    path = write_file(
        "m.csv", "country,revenue_before,revenue_after\n[bold red]PWNED[/bold red],10,5\nUK,1,1\n"
    )
    process = run_cli("run", str(path), check=True)
    assert "[bold red]PWNED[/bold red]" in process.stdout


def test_output_cut_by_a_full_disk_is_an_error_exit_not_success():
    """The CLI leaves without interpreter teardown; a flush that fails at the end must still fail the exit code."""
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONUNBUFFERED", None)
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "agent", "run", "--help"], stdout=full, cwd=ROOT, env=env, timeout=60
        )
    assert done.returncode != 0


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--json"], ""),
        ([], ""),  # rich already ends a live trace on a broken pipe with exit 1: kept so
        (
            ["--json", "--metric", "profit"],
            "error: ",
        ),  # the error reaches stderr; its JSON copy has no reader
    ],
    ids=["json", "live", "bad-input"],
)
def test_a_reader_that_stops_reading_gets_no_traceback(revenue_file, arguments, said):
    # `python -m agent run FILE --json | head -c 100`: the pipe closes before the output is written.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read: the first write fails with a broken pipe
    try:
        done = subprocess.run(
            [sys.executable, "-m", "agent", "run", str(revenue_file), *arguments],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.stderr.startswith(said) if said else done.stderr == ""
    assert done.returncode == 1  # as Python itself exits after a broken pipe: the output is not whole
