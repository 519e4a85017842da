import pytest

from tools.analysis import analyze
from tools.verification import verify
from ui.view_model import (
    claim_notes,
    csv_table,
    display_table,
    marked_summary,
    step_caption,
    step_state,
    summary_cards,
    verification_badge,
)


def test_cards_for_a_metric(revenue_dataset):
    cards = summary_cards(analyze(revenue_dataset))
    # Compact as in the summary, the exact figure on hover, the % change once.
    assert [(c.label, c.value, c.delta, c.help) for c in cards] == [
        ("revenue (before)", "1.73M", None, "Exact: 1,731,985.21"),
        ("revenue (after)", "1.60M", "-7.67%", "Exact: 1,599,065.55"),
        ("change", "-132,919.66", None, "Exact: -132,919.66"),
    ]


def test_cards_of_counts_have_no_decimals():
    analysis = {
        "metric": "orders",
        "totals": {"before": 4432.0, "after": 4838.0, "abs_change": 406.0, "pct_change": 9.16},
    }
    assert [c.value for c in summary_cards(analysis)] == ["4,432", "4,838", "+406"]
    analysis["totals"] = {
        "before": 2_500_000.0,
        "after": 2_000_000.0,
        "abs_change": -500_000.0,
        "pct_change": -20.0,
    }
    cards = summary_cards(analysis)
    assert [c.value for c in cards] == ["2.50M", "2.00M", "-500,000"]
    assert cards[0].help == "Exact: 2,500,000"
    analysis["totals"] = {"before": 0.0, "after": 5.0, "abs_change": 5.0, "pct_change": None}
    assert summary_cards(analysis)[1].delta == "new"


def test_display_table_reads_as_a_report():
    rows = [
        {
            "country": "DE",
            "before": 20215.149999999998,
            "after": 19588.099999999995,
            "abs_change": -627.0500000000029,
            "pct_change": -3.101881509659849,
            "contribution_pct": 119.72543628516905,
            "share_before": 4.7,
        },
        {
            "country": "NO",
            "before": 0.0,
            "after": 10.0,
            "abs_change": 10.0,
            "pct_change": float("nan"),
            "contribution_pct": float("nan"),
            "share_before": 0.0,
        },
    ]
    table = display_table(rows, "country")
    assert list(table.columns) == [
        "country",
        "Before",
        "After",
        "Change",
        "% change",
        "Share of change",
        "Share before",
    ]
    assert table.iloc[0].tolist() == ["DE", "20,215.15", "19,588.10", "-627.05", "-3.10%", "119.73%", "4.70%"]
    assert table.iloc[1].tolist() == ["NO", "0.00", "10.00", "+10.00", "new", "—", "0.00%"]
    counts = display_table(
        [{"channel": "a", "before": 4432.0, "after": 4026.0, "abs_change": -406.0}], "channel"
    )
    assert counts.iloc[0].tolist() == ["a", "4,432", "4,026", "-406"]  # counts without ".00"
    assert "nan" not in table.to_string().lower()


def test_display_table_of_rate_and_mix_names_the_ratio():
    rows = [
        {
            "channel": "email",
            "numerator_before": 971.0,
            "denominator_before": 12000.0,
            "rate_before": 0.0809,
            "rate_effect": -0.000001,
            "mix_effect": -0.0011,
            "p_value": 0.0000001,
            "significant": True,
        }
    ]
    table = display_table(rows, "channel", ratio=("orders", "users"))
    assert dict(table.iloc[0]) == {
        "channel": "email",
        "orders before": "971",
        "users before": "12,000",
        "Rate before": "8.09%",
        "Rate effect": "0.00 pp",
        "Mix effect": "-0.11 pp",
        "p-value": "< 0.001",
        "Significant": "yes",
    }


def test_csv_table_keeps_numbers_without_noise():
    import pandas as pd

    frame = pd.DataFrame(
        {
            "country": ["DE"],
            "abs_change": [-627.0500000000029],
            "pct_change": [float("nan")],
            "rate_effect": [0.000293101964815653],
        }
    )
    table = csv_table(frame, "country")
    assert list(table.columns) == ["country", "Change", "% change", "Rate effect"]
    assert table["Change"].iloc[0] == -627.05 and repr(table["Change"].iloc[0]) == "np.float64(-627.05)"
    assert table["Rate effect"].iloc[0] == 0.000293 and pd.isna(table["% change"].iloc[0])


def test_cards_for_a_ratio(write_file):
    from tools.loading import load_dataset

    text = "channel,orders_before,orders_after,users_before,users_after\ngood,100,50,1000,500\npoor,20,40,1000,2000\n"
    cards = summary_cards(analyze(load_dataset(write_file("c.csv", text)), ratio="orders/users"))
    labels = [c.label for c in cards]
    assert "orders / users" in labels and "mix effect" in labels
    assert next(c for c in cards if c.label == "mix effect").value == "-2.40 pp"


def test_badge():
    assert verification_badge({"checked": [{"text": "1"}] * 3, "mismatches": []}) == (
        True,
        "All 3 numbers in the summary match the engine.",
    )
    ok, text = verification_badge(
        {"checked": [{"text": "1"}, {"text": "9.9%"}], "mismatches": [{"text": "9.9%"}]}
    )
    assert not ok and "1 of 2" in text and "9.9%" in text
    assert verification_badge(None)[0] is False


def test_badge_counts_claims_and_names_the_verdicts(revenue_dataset):
    analysis = analyze(revenue_dataset)
    good = verify("Revenue fell 7.67%; France drove 99.95% of the drop.", analysis)
    assert verification_badge({**good, "run_status": "success"}) == (True, "2 claims: 2 verified.")
    bad = verify("Revenue fell 7.67%; UK drove 99.95% of the drop. The decline was 132,919.66.", analysis)
    ok, text = verification_badge({**bad, "run_status": "success"})
    assert not ok
    assert text.startswith("3 claims: 1 verified, 1 unbound (weak pass), 1 misattributed.")
    assert "does not name the top driver \\(France\\)" in text  # the label is Markdown-escaped


@pytest.mark.parametrize("status", ["max_steps", "stopped", "error"])
def test_a_run_that_did_not_finish_never_gets_a_green_badge(revenue_dataset, status):
    good = verify("Revenue fell 7.67%; France drove 99.95% of the drop.", analyze(revenue_dataset))
    ok, text = verification_badge({**good, "run_status": status})
    assert not ok and "not a finished analysis" in text
    assert (
        verification_badge({"checked": [{"text": "1"}], "mismatches": [], "run_status": status})[0] is False
    )


def test_the_summary_marks_each_number_and_flags_in_the_text(revenue_dataset):
    analysis = analyze(revenue_dataset)
    text = "Revenue fell 7.67%. UK drove 99.95% of the drop."
    claims = verify(text, analysis)["claims"]
    assert marked_summary(text, claims) == (
        "Revenue fell 7.67%⁽¹⁾. UK drove :red[**⚠ 99.95%⁽²⁾ (misattributed) ⚠**] of the drop."
    )
    assert marked_summary(text, claims, escape=str.upper).startswith(
        "REVENUE FELL 7.67%⁽¹⁾. UK DROVE :red[**⚠ 99.95%⁽²⁾"
    )
    bold = "**Revenue fell 7.67%. UK drove 99.95% of the drop.**"
    assert ":red[⚠ 99.95%⁽²⁾ (misattributed) ⚠] of the drop.**" in marked_summary(
        bold, verify(bold, analysis)["claims"]
    )
    notes = claim_notes(claims)
    assert notes[0] == "1. ✓ 7.67% — verified: the total's % change · engine: -7.67%"
    assert notes[1].startswith(
        "2. ⚠ 99.95% — misattributed: 99.95% is France's share of the change, not UK's"
    )


def test_step_states_and_captions():
    assert step_state({"error": "boom"}, False) == "error"
    assert step_state({"done": False}, False) == "running"
    assert step_state({"done": True}, False) == "complete"
    assert step_caption({"done": True, "duration_s": 1.234, "input_tokens": 1000, "output_tokens": 20}) == (
        "1.23 s · 1,000 in / 20 out tokens"
    )


def test_cards_and_summary_show_names_from_the_data_as_text(write_file):
    from tools.loading import load_dataset
    from ui.view_model import known_labels, summary_markdown

    text = "country,**rev**_before,**rev**_after\n[UK](http://evil.invalid),10,12\nFR,5,5\n"
    analysis = analyze(load_dataset(write_file("m.csv", text)))
    assert summary_cards(analysis)[0].label == "\\*\\*rev\\*\\* (before)"
    assert {"[UK](http://evil.invalid)", "**rev**", "FR", "country"} <= known_labels(
        analysis, {"source": "m.csv"}
    )
    shown = summary_markdown("**[UK](http://evil.invalid)** rose; **rev** too.", analysis)
    assert shown.startswith("**\\[UK\\]\\(http") and "\\*\\*rev\\*\\* too" in shown
