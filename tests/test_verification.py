import pytest

from agent.verification import extract_numbers, verify
from tools.analysis import analyze


@pytest.fixture
def analysis(revenue_dataset):
    return analyze(revenue_dataset)


@pytest.mark.parametrize(
    ("text", "value", "tolerance"),
    [
        ("-132,919.66", -132919.66, 0.005),
        ("$1,234.5", 1234.5, 0.05),
        ("99.95%", 99.95, 0.005),
        ("132.9k", 132900.0, 50.0),
        ("1.6M", 1_600_000.0, 50_000.0),
        ("-0.58 pp", -0.58, 0.005),
        ("7.19x", 7.19, 0.005),
        ("−55.19%", -55.19, 0.005),
    ],
)
def test_numbers_are_read_with_their_rounding(text, value, tolerance):
    [mention] = extract_numbers(f"it moved {text} last week")
    assert mention.value == pytest.approx(value)
    assert mention.tolerance == pytest.approx(tolerance, rel=1e-6)


def test_digits_inside_names_are_not_numbers():
    assert extract_numbers("Q3 and scenario_2 and H1 and v2.0beta") == []
    assert [m.value for m in extract_numbers("Store 12 fell 5.5%", ignore=["Store 12"])] == [5.5]


def test_correct_answer_verifies(analysis):
    text = ("**Revenue fell 7.67%** (-132,919.66), from 1,731,985.21 to 1,599,065.55. France: -132,847.57 "
            "(-55.19%), 99.95% of the change; UK -4,376.25; other +4,233.09.")  # fmt: skip
    result = verify(text, analysis)
    assert len(result["checked"]) == 9
    assert result["mismatches"] == []
    assert {c["matched"] for c in result["checked"]} >= {"totals.abs_change", "totals.pct_change"}


def test_a_wrong_number_is_flagged(analysis):
    result = verify("Revenue fell 7.67%, France explains 95.12% of it.", analysis)
    assert [m["text"] for m in result["mismatches"]] == ["95.12%"]


def test_rounded_figures_match_and_overprecise_wrong_ones_do_not(analysis):
    assert verify("Revenue fell by 132.9k (7.7%)", analysis)["mismatches"] == []
    assert verify("Revenue fell by 132,919.00", analysis)["mismatches"] != []


def test_small_counts_and_years_are_skipped(analysis):
    result = verify("The top 3 countries in 2024 explain it; France alone 99.95%.", analysis)
    assert [c["text"] for c in result["checked"]] == ["99.95%"]
    assert set(result["skipped"]) == {"3", "2024"}


def test_structured_answers_are_checked(analysis):
    answer = {
        "headline": "Revenue fell 7.67%",
        "total_change": -132919.66,
        "drivers": [{"France": -132000.0}],
    }
    result = verify(answer, analysis)
    assert len(result["checked"]) == 3
    assert [m["text"] for m in result["mismatches"]] == ["drivers[0].France=-132000.0"]


def test_ratio_rates_and_effects_verify_as_percentages(write_file):
    from tools.loading import load_dataset

    text = "channel,orders_before,orders_after,users_before,users_after\ngood,100,50,1000,500\npoor,20,40,1000,2000\n"
    analysis = analyze(load_dataset(write_file("conv.csv", text)), ratio="orders/users")
    good = verify("Conversion fell from 6.00% to 3.60% (-2.40 pp), all mix (100.00%).", analysis)
    assert good["mismatches"] == []
    bad = verify("Conversion fell from 6.00% to 3.10%.", analysis)
    assert [m["text"] for m in bad["mismatches"]] == ["3.10%"]
