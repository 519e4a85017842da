"""Comparison windows over a daily table, and when in the later window the change happened."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from tests.helpers import run_cli
from tools.analysis import analyze
from tools.loading import DataError, load_dataset
from tools.synthetic import daily_frame
from tools.windows import Window, WindowError, parse_range, preset_windows, when_it_changed

LATEST = dt.date(2026, 11, 28)


@pytest.mark.parametrize(
    ("preset", "before", "after"),
    [
        ("wow", ("2026-11-15", "2026-11-21"), ("2026-11-22", "2026-11-28")),
        ("last-14d", ("2026-10-18", "2026-10-31"), ("2026-11-01", "2026-11-14")),
        ("mom", ("2026-10-01", "2026-10-28"), ("2026-11-01", "2026-11-28")),
        ("yoy", ("2025-11-02", "2025-11-29"), ("2026-11-01", "2026-11-28")),
    ],
)
def test_presets_are_relative_to_the_latest_date(preset, before, after):
    latest = dt.date(2026, 11, 14) if preset == "last-14d" else LATEST
    windows = preset_windows(preset, latest)
    assert [(w.start.isoformat(), w.end.isoformat()) for w in windows] == [before, after]


def test_bad_windows_say_what_to_write():
    with pytest.raises(WindowError, match="wow, mom, yoy or last-Nd"):
        preset_windows("fortnight", LATEST)
    with pytest.raises(WindowError, match=r"2026-10-01\.\.2026-10-31"):
        parse_range("October")
    assert parse_range("2026-10-01..2026-10-31").days == 31


@pytest.fixture
def daily_file(tmp_path):
    frame = daily_frame()
    path = tmp_path / "daily.csv"
    frame.to_csv(path, index=False)
    return frame, path


def test_wow_finds_the_planted_slice_not_the_earlier_spike(daily_file):
    frame, path = daily_file
    dataset = load_dataset(path, compare="wow")
    assert [w.label() for w in dataset.windows] == ["2026-11-15..2026-11-21", "2026-11-22..2026-11-28"]
    analysis = analyze(dataset)
    assert analysis["top_slices"][0]["slice"] == {"country": "Germany", "platform": "Android"}
    dates = pd.to_datetime(frame["date"])
    after = frame.loc[dates >= "2026-11-22", "revenue"].sum()
    before = frame.loc[(dates >= "2026-11-15") & (dates <= "2026-11-21"), "revenue"].sum()
    assert analysis["totals"]["after"] == pytest.approx(after) and analysis["totals"][
        "before"
    ] == pytest.approx(before)
    assert any("outside both windows were left out" in w for w in dataset.warnings)
    timing = analysis["timing"]
    assert not timing["concentrated"]  # the drop runs over the whole week
    assert len(timing["days"]) == 7


def test_a_daily_table_defaults_to_week_over_week_with_a_note(daily_file):
    _, path = daily_file
    dataset = load_dataset(path)
    assert dataset.windows is not None and dataset.windows[1].end == LATEST
    assert any("compared the last 7 days" in w for w in dataset.warnings)


def test_explicit_windows_of_unequal_length_compare_daily_averages(daily_file):
    frame, path = daily_file
    windows = (parse_range("2026-10-01..2026-10-31"), parse_range("2026-11-01..2026-11-14"))
    dataset = load_dataset(path, windows=windows)
    assert any("compared on daily averages" in w for w in dataset.warnings)
    dates = pd.to_datetime(frame["date"])
    october = frame.loc[(dates >= "2026-10-01") & (dates <= "2026-10-31"), "revenue"].sum() / 31
    assert analyze(dataset)["totals"]["before"] == pytest.approx(october)
    with pytest.raises(DataError, match="must end before the later one"):
        load_dataset(path, windows=(windows[1], windows[0]))
    with pytest.raises(DataError, match="holds no data; the dates in 'date' run from 2026-08-01"):
        load_dataset(path, windows=(parse_range("2020-01-01..2020-01-31"), windows[1]))


def test_when_a_drop_sits_on_two_days_it_is_called_concentrated():
    dates = pd.date_range("2026-11-01", periods=14, freq="D")
    values = np.full(14, 100.0)
    values[[10, 11]] = [40.0, 50.0]  # the later week's drop sits on Nov 11-12
    timing = when_it_changed(
        pd.DataFrame({"date": dates, "revenue": values}),
        Window(dt.date(2026, 11, 1), dt.date(2026, 11, 7)),
        Window(dt.date(2026, 11, 8), dt.date(2026, 11, 14)),
        "revenue",
    )
    assert (
        timing["concentrated"]
        and timing["run"]["start"] == "2026-11-11"
        and timing["run"]["end"] == "2026-11-12"
    )
    assert timing["total_difference"] == pytest.approx(-110.0)


def test_cli_compare_wow(daily_file):
    _, path = daily_file
    result = json.loads(
        run_cli("run", str(path), "--compare", "wow", "--json", "--executor", "local", check=True).stdout
    )
    assert result["dataset"]["windows"] == ["2026-11-15..2026-11-21", "2026-11-22..2026-11-28"]
    assert result["top_slices"][0]["slice"] == {"country": "Germany", "platform": "Android"}
    assert result["timing"]["days"][-1]["date"] == "2026-11-28"
    assert result["verification"]["mismatches"] == []
    bad = run_cli("run", str(path), "--compare", "fortnight")
    assert bad.returncode == 2 and "(set it with --compare" in bad.stderr


def test_page_windows_presets_and_trend(daily_file):
    from streamlit.testing.v1 import AppTest

    from tests.helpers import ROOT

    _, path = daily_file
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    app.radio(key="source").set_value("Upload").run()
    app.file_uploader(key="upload").set_value((path.name, path.read_bytes(), "text/csv")).run()
    assert not app.exception and not app.error
    trend = app.get("plotly_chart")[0].proto.spec
    assert '"earlier"' in trend and '"later"' in trend  # both windows shaded and named
    app.selectbox(key=f"compare-{path.name}").set_value("Last 14 days vs the 14 before").run()
    app.button(key="run_button").click().run()
    run = app.session_state["run"]
    assert run.wait_idle(60)
    app.run()
    assert run.result.analysis["windows"] == ["2026-11-01..2026-11-14", "2026-11-15..2026-11-28"]
    assert any("2026-11-01..2026-11-14 → 2026-11-15..2026-11-28" in t.value for t in app.text)  # the header
    app.selectbox(key=f"compare-{path.name}").set_value("Two date ranges").run()
    app.date_input(key=f"later_window-{path.name}").set_value(
        (dt.date(2026, 11, 20), dt.date(2026, 11, 28))
    ).run()
    app.date_input(key=f"earlier_window-{path.name}").set_value(
        (dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    ).run()
    assert not app.exception
    assert any("compared on daily averages" in w.value for w in app.warning)


def test_the_summary_says_when_and_the_agent_reaches_the_daily_table(tmp_path):
    from agent.run.result import collect
    from agent.run.runner import RunRequest, run_events

    path = tmp_path / "two_days.csv"
    daily_frame(drop_days=2).to_csv(path, index=False)  # the planted drop sits on the last two days
    result = collect(run_events(RunRequest(load_dataset(path, compare="wow"), executor="local")))
    # concentrated on the planted days (noise on the other days may leave the last one alone holding 70%)
    assert (
        "% of the drop fell on 2026-11-28." in result.narrative
        or "fell on 2026-11-27 to 2026-11-28." in result.narrative
    )
    assert "spread over" not in result.narrative
    assert "change_timing(daily" in result.steps[-1]["code"]
    flagged = [c for c in result.verification["claims"] if c["verdict"] not in ("verified", "unbound")]
    assert not flagged, flagged
    task = result.dataset["windows"]
    assert task == ["2026-11-15..2026-11-21", "2026-11-22..2026-11-28"]
