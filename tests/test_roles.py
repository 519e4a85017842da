import pytest

from tools.loading import load_dataset
from tools.roles import suggest_ratio


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (("users", "orders"), (("orders", "users"), True)),
        (("sessions", "conversions"), (("conversions", "sessions"), True)),
        (("impressions", "clicks"), (("clicks", "impressions"), True)),
        (("users", "converted_users"), (("converted_users", "users"), True)),
        (("alpha", "beta"), (("alpha", "beta"), False)),  # no names: smaller over larger, not ticked
    ],
)
def test_suggested_ratio_is_the_outcome_over_its_base(write_file, columns, expected):
    first, second = columns
    text = f"channel,{first}_before,{first}_after,{second}_before,{second}_after\n"
    # the first metric always holds the larger totals, except in the nameless case where alpha is smaller
    big, small = (1000, 50) if first != "alpha" else (50, 1000)
    text += f"web,{big},{big},{small},{small}\napp,{big},{big},{small},{small}\n"
    assert suggest_ratio(load_dataset(write_file("r.csv", text))) == expected


def test_no_ratio_for_one_metric_or_negative_amounts(write_file):
    one = load_dataset(write_file("one.csv", "country,revenue_before,revenue_after\nUK,1,2\n"))
    assert suggest_ratio(one) == (None, False)
    text = "country,profit_before,profit_after,orders_before,orders_after\nUK,-5,3,1,2\n"
    assert suggest_ratio(load_dataset(write_file("neg.csv", text))) == (None, False)


# ---- export shapes explained with no flags and nothing typed ------------------------------------------------------

import datetime as dt  # noqa: E402
import json  # noqa: E402

import pandas as pd  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.helpers import ROOT, run_cli  # noqa: E402


def long_export(period_column: str, earlier: object, later: object, *, metric: str = "VOLUME", extra=None):
    """A long export: two periods × country × channel, the later period 10% up in every segment but one."""
    rows = []
    for period, factor in ((earlier, 1.0), (later, 1.1)):
        for i, country in enumerate(["DE", "FR", "UK"]):
            for j, channel in enumerate(["paid_search", "email"]):
                value = 1000.0 * (i + 1) + 100 * j
                rows.append(
                    {
                        period_column: period,
                        "COUNTRY": country,
                        "CHANNEL": channel,
                        metric: value * (0.5 if (period == later and country == "FR") else factor),
                        **(extra(value) if extra else {}),
                    }
                )
    return pd.DataFrame(rows)


def expected_totals(frame: pd.DataFrame, column: str, metric: str, earlier, later) -> tuple[float, float]:
    return float(frame.loc[frame[column] == earlier, metric].sum()), float(
        frame.loc[frame[column] == later, metric].sum()
    )


SHAPES = {
    # name: (frame, file name, metric, expected (before, after) labels)
    "iso dates under COHORT_MONTH": (long_export("COHORT_MONTH", "2026-10-01", "2026-11-01"), "cohort.csv"),
    "weeks": (long_export("report_week", "2026-W9", "2026-W10"), "weeks.csv"),
    "quarters": (long_export("fiscal_quarter", "Q2 2026", "Q3 2026"), "quarters.csv"),
    "month names, text order wrong": (long_export("Month", "Oct 2026", "Nov 2026").iloc[::-1], "months.csv"),
    "names with spaces": (
        long_export("Order Date", "2026-01-31", "2026-02-28", metric="Net Revenue"),
        "spaces.csv",
    ),
    "std and average beside the metric": (
        long_export("snapshot", "2025", "2026", extra=lambda v: {"VOLUME_STD": v / 10, "avg_ticket": v / 7}),
        "stats.csv",
    ),
}


def shape_file(tmp_path, shape: str):
    frame, file_name = SHAPES[shape]
    path = tmp_path / file_name
    frame.to_csv(path, index=False)
    return frame, path


@pytest.mark.parametrize("shape", list(SHAPES))
def test_export_shapes_need_no_flags_in_the_cli(tmp_path, shape):
    frame, path = shape_file(tmp_path, shape)
    period_column = frame.columns[0]
    metric = next(c for c in frame.columns if c in ("VOLUME", "Net Revenue"))
    values = list(dict.fromkeys(frame[period_column]))
    earlier, later = sorted(values, key=lambda v: SHAPES_ORDER[shape].index(v))
    result = json.loads(run_cli("run", str(path), "--json", "--executor", "local", check=True).stdout)
    assert result["dataset"]["period_column"] == period_column
    assert result["dataset"]["periods"] == [str(earlier), str(later)]
    assert result["metric"] == metric  # as written, and the std/average columns are not chosen by default
    before, after = expected_totals(frame, period_column, metric, earlier, later)
    assert (result["totals"]["before"], result["totals"]["after"]) == (
        pytest.approx(before),
        pytest.approx(after),
    )
    assert result["status"] == "success" and result["verification"]["mismatches"] == []


SHAPES_ORDER = {
    "iso dates under COHORT_MONTH": ["2026-10-01", "2026-11-01"],
    "weeks": ["2026-W9", "2026-W10"],
    "quarters": ["Q2 2026", "Q3 2026"],
    "month names, text order wrong": ["Oct 2026", "Nov 2026"],
    "names with spaces": ["2026-01-31", "2026-02-28"],
    "std and average beside the metric": ["2025", "2026"],
}


def test_std_and_average_columns_are_marked_not_additive(tmp_path):
    _, path = shape_file(tmp_path, "std and average beside the metric")
    dataset = load_dataset(path)
    assert dataset.not_additive == {"VOLUME_STD": "a standard deviation", "avg_ticket": "an average"}
    assert dataset.metrics[0] == "VOLUME"
    from tools.analysis import analyze

    notes = analyze(dataset, metric="volume_std")["notes"]
    assert any("VOLUME_STD looks like a standard deviation" in n for n in notes)


def test_wide_years_and_excel_dates(tmp_path):
    wide = pd.DataFrame(
        {"Region": ["North", "South"], "Sales_2025": [10.0, 20.0], "Sales_2026": [12.0, 18.0]}
    )
    wide.to_csv(tmp_path / "wide.csv", index=False)
    dataset = load_dataset(tmp_path / "wide.csv")
    assert dataset.periods == ("2025", "2026") and dataset.metrics == ["Sales"]

    excel = long_export("Period", dt.datetime(2026, 11, 1), dt.datetime(2026, 10, 1))  # later period first
    excel.to_excel(tmp_path / "dates.xlsx", index=False)
    dataset = load_dataset(tmp_path / "dates.xlsx")
    assert dataset.period_column == "Period" and dataset.periods == ("2026-10-01", "2026-11-01")
    assert dataset.frame["VOLUME_before"].sum() == pytest.approx(
        excel.loc[excel["Period"] == dt.datetime(2026, 10, 1), "VOLUME"].sum()
    )


def test_names_match_without_regard_to_case(tmp_path):
    _, path = shape_file(tmp_path, "iso dates under COHORT_MONTH")
    dataset = load_dataset(path, period_column="cohort_month", by=["country"], metrics=["volume"])
    assert dataset.metrics == ["VOLUME"] and dataset.dimensions == ["COUNTRY"]
    from tools.analysis import analyze

    assert analyze(dataset, metric="Volume", by=["country"])["metric"] == "VOLUME"


def test_ids_constants_and_free_text_are_not_dimensions(tmp_path):
    rows = 30
    frame = pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(rows)],
            "market": ["EU"] * rows,
            "note": [
                f"customer wrote a long free text comment number {i} about the delivery" for i in range(rows)
            ],
            "country": ["DE", "FR", "UK"] * 10,
            "revenue_before": range(rows),
            "revenue_after": range(1, rows + 1),
        }
    )
    frame.to_csv(tmp_path / "ids.csv", index=False)
    dataset = load_dataset(tmp_path / "ids.csv")
    assert dataset.dimensions == ["country"]
    assert set(dataset.ignored) == {"order_id", "market", "note"}
    assert load_dataset(tmp_path / "ids.csv", by=["market", "country"]).dimensions == ["market", "country"]


@pytest.mark.parametrize("shape", list(SHAPES))
def test_export_shapes_need_nothing_typed_in_the_page(tmp_path, shape):
    frame, path = shape_file(tmp_path, shape)
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    app.radio(key="source").set_value("Upload").run()
    app.file_uploader(key="upload").set_value((path.name, path.read_bytes(), "text/csv")).run()
    assert not app.exception and not app.error
    app.button(key="run_button").click().run()
    run = app.session_state["run"]
    assert run.wait_idle(60)
    app.run()
    earlier, later = SHAPES_ORDER[shape]
    assert run.result.status == "success"
    assert run.result.analysis["periods"] == [earlier, later]
    period_column = frame.columns[0]
    metric = run.result.analysis["metric"]
    before, after = expected_totals(frame, period_column, metric, earlier, later)
    assert run.result.analysis["totals"]["before"] == pytest.approx(before)
    assert run.result.analysis["totals"]["after"] == pytest.approx(after)


def test_big_amounts_in_prose_are_compact_and_still_verified(tmp_path):
    from agent.run.result import collect
    from agent.run.runner import RunRequest, run_events

    frame = long_export("COHORT_MONTH", "2026-10-01", "2026-11-01")
    frame["VOLUME"] *= 100_000  # hundreds of millions
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    result = collect(run_events(RunRequest(load_dataset(path), executor="local")))
    headline = result.narrative.splitlines()[0]
    assert headline.startswith("**VOLUME fell 10.00%**, from 1.23B to 1.11B (-123.0M)")
    flagged = [c for c in result.verification["claims"] if c["verdict"] not in ("verified", "unbound")]
    assert not flagged and result.verification["claims"]


@pytest.mark.parametrize("shape", ["wide years", "excel dates"])
def test_wide_and_excel_shapes_need_nothing_typed_in_the_page(tmp_path, shape):
    if shape == "wide years":
        frame = pd.DataFrame(
            {"Region": ["North", "South"], "Sales_2025": [10.0, 20.0], "Sales_2026": [12.0, 18.0]}
        )
        path, kind, expected = tmp_path / "wide.csv", "text/csv", (["2025", "2026"], 30.0)
        frame.to_csv(path, index=False)
    else:
        frame = long_export("Period", dt.datetime(2026, 11, 1), dt.datetime(2026, 10, 1))
        path = tmp_path / "dates.xlsx"
        kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        frame.to_excel(path, index=False)
        later = float(frame.loc[frame["Period"] == dt.datetime(2026, 11, 1), "VOLUME"].sum())
        expected = (["2026-10-01", "2026-11-01"], later)
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    app.radio(key="source").set_value("Upload").run()
    app.file_uploader(key="upload").set_value((path.name, path.read_bytes(), kind)).run()
    assert not app.exception and not app.error
    app.button(key="run_button").click().run()
    run = app.session_state["run"]
    assert run.wait_idle(60)
    assert run.result.status == "success"
    assert run.result.analysis["periods"] == expected[0]
    assert run.result.analysis["totals"]["after"] == pytest.approx(expected[1])


def test_wide_and_excel_shapes_need_no_flags_in_the_cli(tmp_path):
    wide = pd.DataFrame(
        {"Region": ["North", "South"], "Sales_2025": [10.0, 20.0], "Sales_2026": [12.0, 18.0]}
    )
    wide.to_csv(tmp_path / "wide.csv", index=False)
    result = json.loads(
        run_cli("run", str(tmp_path / "wide.csv"), "--json", "--executor", "local", check=True).stdout
    )
    assert result["dataset"]["periods"] == ["2025", "2026"] and result["totals"]["after"] == 30.0
    excel = long_export("Period", dt.datetime(2026, 11, 1), dt.datetime(2026, 10, 1))
    excel.to_excel(tmp_path / "dates.xlsx", index=False)
    result = json.loads(
        run_cli("run", str(tmp_path / "dates.xlsx"), "--json", "--executor", "local", check=True).stdout
    )
    assert result["dataset"]["periods"] == ["2026-10-01", "2026-11-01"]
    later = excel.loc[excel["Period"] == dt.datetime(2026, 11, 1), "VOLUME"].sum()
    assert result["totals"]["after"] == pytest.approx(later) and result["verification"]["mismatches"] == []


def test_not_additive_metrics_are_marked_in_the_metric_picker(tmp_path):
    _, path = shape_file(tmp_path, "std and average beside the metric")
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    app.radio(key="source").set_value("Upload").run()
    app.file_uploader(key="upload").set_value((path.name, path.read_bytes(), "text/csv")).run()
    picker = app.selectbox(key=f"metric-{path.name}")
    assert picker.value == "VOLUME"
    assert (
        picker.format_func("VOLUME_STD") == "VOLUME_STD (not additive)"
        and picker.format_func("VOLUME") == "VOLUME"
    )
