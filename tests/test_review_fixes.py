"""Cases an outside review found: each was wrong before, each is right now."""

from __future__ import annotations

import json

import pytest

from agent.run.result import collect
from agent.run.runner import RunRequest, run_events
from tests.helpers import run_cli
from tools.analysis import find_focus
from tools.loading import DataError, load_dataset


def test_a_metric_name_with_spaces_and_line_breaks_is_analysed(write_file):
    text = 'COHORT_MONTH,Country,"Net\nRevenue"\nOct 2026,DE,1\nOct 2026,FR,2\nNov 2026,DE,3\nNov 2026,FR,1\n'
    dataset = load_dataset(write_file("c.csv", text))
    assert dataset.metrics == ["Net Revenue"]
    result = collect(run_events(RunRequest(dataset, executor="local")))
    assert result.narrative.startswith("**Net Revenue rose 33.33%**")
    assert all(c["verdict"] == "verified" for c in result.verification["claims"])


def test_rows_without_a_period_are_named_not_dropped_in_silence(write_file):
    text = "period,country,sales\nbefore,DE,10\nafter,DE,12\n,FR,100\nbefore,FR,5\nafter,FR,6\n"
    dataset = load_dataset(write_file("p.csv", text))
    assert any("1 row(s) have no value in the period column 'period'" in w for w in dataset.warnings)


def test_before_after_words_win_over_a_column_of_months(write_file):
    text = (
        "period,campaign,country,clicks\nbefore,May 2026,DE,100\nbefore,June 2026,FR,300\n"
        "after,May 2026,DE,150\nafter,June 2026,FR,350\n"
    )
    dataset = load_dataset(write_file("c.csv", text))
    assert dataset.period_column == "period" and dataset.periods == ("before", "after")
    assert any("'campaign' could be one too" in w for w in dataset.warnings)


def test_one_series_of_dates_is_a_time_series(write_file):
    rows = "".join(f"2026-10-{day:02d},{100 + day}\n" for day in range(1, 29))
    dataset = load_dataset(write_file("single.csv", "date,revenue\n" + rows), compare="wow")
    assert [w.label() for w in dataset.windows] == ["2026-10-15..2026-10-21", "2026-10-22..2026-10-28"]


def test_windows_on_a_wide_file_and_periods_with_windows_are_refused_plainly(write_file, revenue_file):
    with pytest.raises(DataError, match="this file has before/after columns already"):
        load_dataset(revenue_file, compare="wow")
    text = "date,country,sales\n2026-10-01,DE,1\n2026-10-02,DE,2\n"
    with pytest.raises(DataError, match="either two periods or comparison windows"):
        load_dataset(write_file("d.csv", text), compare="wow", periods=["2026-10-01", "2026-10-02"])


def test_a_name_in_two_dimensions_is_not_an_empty_intersection(write_file):
    text = "origin,destination,trips_before,trips_after\nParis,Lyon,10,20\nLyon,Paris,5,5\nNice,Lyon,3,3\n"
    dataset = load_dataset(write_file("trips.csv", text))
    assert find_focus("What happened in Paris?", dataset) == {"origin": ["Paris"]}
    result = collect(run_events(RunRequest(dataset, question="What happened in Paris?", executor="local")))
    assert "**Paris: trips rose 100.00%**" in result.narrative and "Paris × Paris" not in result.narrative


def test_an_all_zero_file_did_not_change(write_file):
    text = "country,revenue_before,revenue_after\nDE,0,0\nFR,0,0\n"
    result = collect(run_events(RunRequest(load_dataset(write_file("z.csv", text)), executor="local")))
    assert "did not change" in result.narrative and "is new" not in result.narrative


def test_minutes_are_not_a_minimum(write_file):
    text = "country,watch_min_before,watch_min_after\nDE,10,12\n"
    assert load_dataset(write_file("w.csv", text)).not_additive == {}


def test_cli_after_all_with_follow_ups_and_on_a_long_file_says_what_to_do(write_file):
    scenarios = write_file("s.csv", "c,revenue_before,revenue_after_a,revenue_after_b\nUK,1,2,3\n")
    process = run_cli("run", str(scenarios), "--after", "all", "-q", "A", "-q", "B")
    assert process.returncode == 2 and "give -q once" in process.stderr
    long = write_file("l.csv", "period,country,sales\nbefore,DE,1\nafter,DE,2\n")
    process = run_cli("run", str(long), "--after", "all")
    assert process.returncode == 2 and "this file is a long table" in process.stderr


def test_the_tool_calling_built_in_says_it_answers_the_first_question_only(revenue_file):
    result = json.loads(
        run_cli(
            "run",
            str(revenue_file),
            "--agent",
            "tool-calling",
            "-q",
            "Explain",
            "-q",
            "And France?",
            "--json",
            "--executor",
            "local",
            check=True,
        ).stdout
    )
    assert "answers the first question only" in result["turns"][1]["narrative"]


@pytest.mark.parametrize(
    "text",
    [
        "Revenue fell 7.67%, mostly on 26 Oct.",
        "In week 43 revenue fell 7.67%.",
        "The drop sat on Nov 17–18; revenue fell 7.67%.",
        "Revenue fell 7.67% in Q3.",
    ],
)
def test_day_and_week_numbers_of_dates_are_not_claims(revenue_dataset, text):
    from tools.analysis import analyze
    from tools.verification import verify

    claims = verify(text, analyze(revenue_dataset))["claims"]
    assert [(c["text"], c["verdict"]) for c in claims] == [("7.67%", "verified")]
    wrong = verify("France fell 26%.", analyze(revenue_dataset))["claims"]
    assert wrong[0]["verdict"] != "verified"  # a plain number stays a claim


def test_us_dates_are_read_month_first_for_the_whole_column(write_file):
    rows = "".join(f"11/{day:02d}/2026,{shop},{10 + day}\n" for day in range(1, 13) for shop in ("A", "B"))
    dataset = load_dataset(write_file("us.csv", "date,shop,sales\n" + rows), compare="last-3d")
    assert [w.label() for w in dataset.windows] == ["2026-11-07..2026-11-09", "2026-11-10..2026-11-12"]
    european = "".join(
        f"{day:02d}/11/2026,{shop},{10 + day}\n" for day in range(10, 25) for shop in ("A", "B")
    )
    assert (
        load_dataset(write_file("eu.csv", "date,shop,sales\n" + european), compare="wow").windows[1].end.day
        == 24
    )


def test_a_count_named_converted_users_is_no_rate():
    from tests.helpers import ROOT
    from tools.analysis import analyze
    from tools.verification import verify

    dataset = load_dataset(ROOT / "sample_data" / "conversion_scenarios.csv")
    analysis = analyze(dataset, ratio="converted_users/users")
    assert [c["verdict"] for c in verify("Converted_users fell 0.56%.", analysis)["claims"]] == ["verified"]
    rate = verify("Conversion fell from 33.76% to 33.57%.", analysis)["claims"]
    assert [(c["verdict"], c["kind"]) for c in rate] == [
        ("verified", "rate_before"),
        ("verified", "rate_after"),
    ]
    result = collect(
        run_events(RunRequest(dataset, ratio="converted_users/users", agent="tool-calling", executor="local"))
    )
    assert [c for c in result.verification["claims"] if c["verdict"] != "verified"] == []
