import pytest

from agent.verification import verify
from agent.view_model import (
    claim_notes,
    marked_summary,
    step_caption,
    step_state,
    summary_cards,
    verification_badge,
)
from tools.analysis import analyze


def test_cards_for_a_metric(revenue_dataset):
    cards = summary_cards(analyze(revenue_dataset))
    assert [(c.label, c.value, c.delta) for c in cards] == [
        ("revenue (before)", "1,731,985.21", None),
        ("revenue (after)", "1,599,065.55", "-7.67%"),
        ("change", "-132,919.66", "-7.67%"),
    ]


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
    from agent.view_model import known_labels, summary_markdown
    from tools.loading import load_dataset

    text = "country,**rev**_before,**rev**_after\n[UK](http://evil.invalid),10,12\nFR,5,5\n"
    analysis = analyze(load_dataset(write_file("m.csv", text)))
    assert summary_cards(analysis)[0].label == "\\*\\*rev\\*\\* (before)"
    assert {"[UK](http://evil.invalid)", "**rev**", "FR", "country"} <= known_labels(
        analysis, {"source": "m.csv"}
    )
    shown = summary_markdown("**[UK](http://evil.invalid)** rose; **rev** too.", analysis)
    assert shown.startswith("**\\[UK\\]\\(http") and "\\*\\*rev\\*\\* too" in shown
