from tools.analysis import analyze
from tools.facts import TOTAL, fact_table, segment_names, slice_entities


def test_every_figure_has_its_entity_kind_and_sign(revenue_dataset):
    facts = fact_table(analyze(revenue_dataset))
    by = {}
    for fact in facts:  # the first of each (the breakdown's; the drill-down repeats 1-dimension slices)
        by.setdefault((fact.entity, fact.kind), fact)
    assert round(by[(TOTAL, "pct_change")].value, 2) == -7.67
    assert by[(TOTAL, "pct_change")].sign == -1
    france = by[("country=France", "share_of_change")]
    assert round(france.value, 2) == 99.95 and france.label == "France" and france.metric == "revenue"
    assert france.source == "breakdowns.country[0].contribution_pct"
    assert round(by[("country=UK", "pct_change")].value, 2) == -0.91
    assert by[("country=other", "abs_change")].sign == 1
    assert by[(TOTAL, "abs_change")].shown() == "-132,919.66"
    assert by[("country=France", "share_of_change")].shown() == "99.95%"


def test_slices_and_ratio_figures_are_facts(write_file):
    from tools.loading import load_dataset
    from tools.synthetic import conversion_frame, planted_frame

    planted = analyze(
        load_dataset(write_file("p.csv", planted_frame(400, seed=1, noise=0.003).to_csv(index=False)))
    )
    assert frozenset(["country=Germany", "platform=Android"]) in slice_entities(planted)
    assert any(
        f.entity == "country=Germany & platform=Android" and f.kind == "share_of_change"
        for f in fact_table(planted)
    )
    conversion = analyze(
        load_dataset(write_file("c.csv", conversion_frame().to_csv(index=False))), ratio="orders/users"
    )
    facts = fact_table(conversion)
    rate = {(f.entity, f.kind): f for f in facts if f.metric == "orders/users"}
    # Rates and effects become percent and pp, as prose writes them.
    assert abs(rate[(TOTAL, "rate_before")].value - conversion["ratio"]["before"] * 100) < 1e-9
    assert rate[(TOTAL, "rate_change")].unit == "pp"
    assert ("channel=paid_social", "mix_effect") in rate and ("channel=email", "p_value") in rate
    users = [f for f in facts if f.metric == "users" and f.entity == TOTAL]
    assert {f.kind for f in users} == {"before", "after", "abs_change", "pct_change"}
    assert segment_names(conversion)["paid_social"] == {"channel=paid_social"}
