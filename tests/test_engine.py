import numpy as np
import pandas as pd
import pytest

from tools import engine
from tools.analysis import TABLE_ROWS, analyze
from tools.loading import DataError, load_dataset
from tools.synthetic import PLANTED_SLICE, planted_frame


def frame_of(rows, dims=("country",), metric="revenue"):
    columns = [*dims, f"{metric}_before", f"{metric}_after"]
    return pd.DataFrame(rows, columns=columns)


# --- the revenue-by-country example, to the cent -----------------------------------------------------------------


def test_example_totals_to_the_cent(revenue_dataset):
    totals = engine.totals(revenue_dataset.frame, "revenue_before", "revenue_after")
    assert round(totals["abs_change"], 2) == -132919.66
    assert round(totals["pct_change"], 2) == -7.67


@pytest.mark.parametrize(
    ("country", "abs_change", "pct_change", "contribution"),
    [
        ("France", -132847.57, -55.19, 99.95),
        ("other", 4233.09, 0.67, -3.18),
        ("UK", -4376.25, -0.91, 3.29),
        ("Germany", -690.99, -0.43, 0.52),
        ("Italy", 979.15, 0.81, -0.74),
        ("Spain", -217.09, -0.23, 0.16),
    ],
)
def test_example_segments_to_the_cent(revenue_dataset, country, abs_change, pct_change, contribution):
    table = engine.breakdown(revenue_dataset.frame, "country", "revenue_before", "revenue_after")
    row = table.set_index("country").loc[country]
    assert round(row["abs_change"], 2) == abs_change
    assert round(row["pct_change"], 2) == pct_change
    assert round(row["contribution_pct"], 2) == contribution


def test_breakdown_is_ordered_and_complete(revenue_dataset):
    table = engine.breakdown(revenue_dataset.frame, "country", "revenue_before", "revenue_after")
    assert list(table["country"][:3]) == ["France", "UK", "other"]
    assert table["contribution_pct"].sum() == pytest.approx(100.0)
    assert table["share_before"].sum() == pytest.approx(100.0)
    france = table.set_index("country").loc["France"]
    assert france["impact_norm"] == pytest.approx(france["contribution_pct"] / france["share_before"])
    assert round(france["impact_norm"], 2) == 7.19


# --- edge cases --------------------------------------------------------------------------------------------------


def test_zero_before_gives_null_pct_change():
    frame = frame_of([("UK", 10.0, 12.0), ("NewLand", 0.0, 5.0)])
    table = engine.breakdown(frame, "country", "revenue_before", "revenue_after").set_index("country")
    assert np.isnan(table.loc["NewLand", "pct_change"])
    assert table.loc["NewLand", "contribution_pct"] == pytest.approx(5 / 7 * 100)


def test_no_net_change_uses_gross_share():
    frame = frame_of([("A", 10.0, 15.0), ("B", 10.0, 5.0)])
    table = engine.breakdown(frame, "country", "revenue_before", "revenue_after").set_index("country")
    assert table["contribution_pct"].isna().all()
    assert table.loc["A", "share_of_gross_pct"] == pytest.approx(50.0)
    assert table.loc["B", "share_of_gross_pct"] == pytest.approx(-50.0)


def test_negative_metric_pct_sign_means_improvement():
    # Profit from -100 to -50 improved: +50%, not -50%.
    assert engine.pct_change(-100.0, -50.0) == pytest.approx(50.0)
    assert engine.pct_change(100.0, 50.0) == pytest.approx(-50.0)


def test_analysis_notes_zero_baseline_and_no_net_change(write_file):
    new = load_dataset(write_file("new.csv", "country,revenue_before,revenue_after\nA,0,5\nB,0,3\n"))
    result = analyze(new)
    assert result["totals"]["pct_change"] is None
    assert any("new" in note for note in result["notes"])
    flat = load_dataset(write_file("flat.csv", "country,revenue_before,revenue_after\nA,10,15\nB,10,5\n"))
    assert any("no net change" in note for note in analyze(flat)["notes"])


def test_unknown_dimension_or_metric_is_a_clear_error(revenue_dataset):
    with pytest.raises(DataError, match="not a dimension"):
        analyze(revenue_dataset, by=["region"])
    with pytest.raises(DataError, match="no metric 'profit'"):
        analyze(revenue_dataset, metric="profit")


# --- drill-down --------------------------------------------------------------------------------------------------


def test_drill_down_prefers_the_narrower_slice():
    frame = planted_frame(2000, seed=5, noise=0.002)
    slices = engine.drill_down(frame, ["country", "platform", "store"], "revenue_before", "revenue_after")
    lead = slices.iloc[0]
    assert lead["slice"] == PLANTED_SLICE
    assert lead["replaces"] in {"country=Germany", "platform=Android"}
    assert lead["share_of_parent_pct"] >= 90
    labels = set(slices["label"])
    assert "country=Germany" not in labels  # replaced by Germany × Android


def test_drill_down_keeps_a_parent_whose_change_is_spread():
    # The drop is spread evenly over platforms: no single child holds 90% of it.
    rows = [
        (c, p, 100.0, 100.0 if c != "DE" else 80.0) for c in ("DE", "FR") for p in ("iOS", "Android", "Web")
    ]
    frame = pd.DataFrame(rows, columns=["country", "platform", "revenue_before", "revenue_after"])
    slices = engine.drill_down(frame, ["country", "platform"], "revenue_before", "revenue_after")
    assert slices.iloc[0]["label"] == "country=DE"
    assert slices.iloc[0]["contribution_pct"] == pytest.approx(100.0)


def test_analysis_keys(revenue_dataset):
    result = analyze(revenue_dataset)
    assert set(result["totals"]) == {"before", "after", "abs_change", "pct_change"}
    row = result["breakdowns"]["country"][0]
    for key in (
        "country",
        "before",
        "after",
        "abs_change",
        "pct_change",
        "contribution_pct",
        "share_before",
        "impact_norm",
    ):
        assert key in row
    assert result["top_slices"][0]["slice"] == {"country": "France"}
    assert result["ratio"] is None


# --- ratio metrics -----------------------------------------------------------------------------------------------


def ratio_frame(rows):
    return pd.DataFrame(
        rows, columns=["channel", "orders_before", "orders_after", "users_before", "users_after"]
    )


def test_rate_and_mix_sum_exactly_to_the_change():
    rng = np.random.default_rng(1)
    users0, users1 = rng.integers(100, 10_000, 12), rng.integers(100, 10_000, 12)
    rows = [
        (f"c{i}", int(rng.binomial(u0, 0.05)), int(rng.binomial(u1, 0.07)), int(u0), int(u1))
        for i, (u0, u1) in enumerate(zip(users0, users1))
    ]
    result = engine.ratio_decomposition(ratio_frame(rows), "orders", "users", "channel")
    assert result["rate_effect"] + result["mix_effect"] == pytest.approx(result["change"], abs=1e-15)
    segments = result["by_segment"]
    assert (segments["rate_effect"] + segments["mix_effect"]).sum() == pytest.approx(
        result["change"], abs=1e-15
    )


def test_pure_traffic_shift_is_all_mix():
    # Rates stay 10% and 2%; traffic moves from the first channel to the second.
    rows = [("good", 100, 50, 1000, 500), ("poor", 20, 40, 1000, 2000)]
    result = engine.ratio_decomposition(ratio_frame(rows), "orders", "users", "channel")
    assert result["rate_effect"] == 0.0
    assert result["mix_share_pct"] == pytest.approx(100.0)
    assert result["change"] == pytest.approx(90 / 2500 - 120 / 2000)


def test_pure_rate_change_is_all_rate():
    rows = [("a", 100, 150, 1000, 1000), ("b", 20, 20, 1000, 1000)]
    result = engine.ratio_decomposition(ratio_frame(rows), "orders", "users", "channel")
    assert result["mix_effect"] == pytest.approx(0.0, abs=1e-15)
    assert result["rate_share_pct"] == pytest.approx(100.0)


def test_new_and_vanished_segments_are_mix_and_exact():
    rows = [("old", 50, 0, 1000, 0), ("new", 0, 30, 0, 500), ("stay", 10, 12, 100, 100)]
    result = engine.ratio_decomposition(ratio_frame(rows), "orders", "users", "channel")
    segments = result["by_segment"].set_index("channel")
    assert segments.loc["new", "rate_effect"] == 0.0
    assert segments.loc["old", "rate_effect"] == 0.0
    assert result["rate_effect"] + result["mix_effect"] == pytest.approx(result["change"], abs=1e-15)


def test_two_proportion_p_values():
    rows = [("big", 1000, 1300, 10_000, 10_000), ("tiny", 5, 6, 100, 100)]
    result = engine.ratio_decomposition(ratio_frame(rows), "orders", "users", "channel")
    segments = result["by_segment"].set_index("channel")
    assert result["counts"]
    assert segments.loc["big", "p_value"] < 1e-6  # 10% -> 13% on 10,000 users each
    assert segments.loc["tiny", "p_value"] > 0.5  # 5% -> 6% on 100 users each
    assert bool(segments.loc["big", "significant"]) and not bool(segments.loc["tiny", "significant"])


def test_no_p_values_for_amounts():
    rows = [("a", 10.5, 12.25, 100.0, 110.0), ("b", 5.0, 5.0, 50.0, 40.0)]
    result = engine.ratio_decomposition(ratio_frame(rows), "orders", "users", "channel")
    assert not result["counts"]
    assert result["by_segment"]["p_value"].isna().all()


def test_zero_denominator_is_a_clear_error():
    with pytest.raises(engine.EngineError, match="totals 0 before"):
        engine.ratio_decomposition(ratio_frame([("a", 0, 1, 0, 10)]), "orders", "users", "channel")


def test_ratio_in_analysis(write_file):
    text = "channel,orders_before,orders_after,users_before,users_after\ngood,100,50,1000,500\npoor,20,40,1000,2000\n"
    dataset = load_dataset(write_file("conv.csv", text))
    result = analyze(dataset, ratio="orders/users")
    assert result["metric"] == "orders"
    ratio = result["ratio"]
    assert ratio["before"] == pytest.approx(0.06)
    assert ratio["mix_effect"] == pytest.approx(ratio["change"])
    assert ratio["denominator_totals"]["after"] == 2500
    assert ratio["by_segment"][0]["channel"] in {"good", "poor"}
    with pytest.raises(DataError, match="NUMERATOR/DENOMINATOR"):
        analyze(dataset, ratio="orders")
    with pytest.raises(DataError, match="'visits'"):
        analyze(dataset, ratio="orders/visits")


# --- scale -------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_one_million_rows_three_dimensions(tmp_path):
    frame = planted_frame(1_000_000, seed=9)
    path = tmp_path / "million.csv"
    frame.to_csv(path, index=False)
    dataset = load_dataset(path)
    assert len(dataset.frame) == 1_000_000
    result = analyze(dataset)
    assert result["top_slices"][0]["slice"] == PLANTED_SLICE
    expected = frame["revenue_after"].sum() - frame["revenue_before"].sum()
    assert result["totals"]["abs_change"] == pytest.approx(expected, abs=0.01)
    # 10,000 stores: the largest changes are kept, the rest is one "others" line that adds up to the total.
    stores = result["breakdowns"]["store"]
    others = result["omitted"]["breakdowns"]["store"]
    assert len(stores) == TABLE_ROWS and others["segments"] == 10_000 - TABLE_ROWS
    assert sum(row["abs_change"] for row in stores) + others["abs_change"] == pytest.approx(
        expected, abs=0.01
    )
    assert min(abs(row["abs_change"]) for row in stores) >= abs(others["abs_change"]) / others["segments"]


@pytest.mark.parametrize("keys", [["country"], ["country", "platform"], ["platform", "store"]])
def test_group_sums_match_pandas_on_categoricals_text_and_gaps(keys):
    frame = planted_frame(3000)
    columns = ["revenue_before", "revenue_after"]
    expected = frame.groupby(keys, sort=True)[columns].sum()
    as_categories = frame.astype({k: "category" for k in ["country", "platform", "store"]})
    with_gap = as_categories.copy()
    with_gap.loc[5, "revenue_after"] = np.nan  # missing values take the pandas path, which skips them
    for table in (frame, as_categories, with_gap):
        result = engine.group_sums(table, keys, columns).sort_index()
        assert [tuple(map(str, i)) if isinstance(i, tuple) else str(i) for i in result.index] == [
            tuple(map(str, i)) if isinstance(i, tuple) else str(i) for i in expected.index
        ]
        reference = table.groupby(keys, observed=True, sort=True)[columns].sum()
        np.testing.assert_allclose(result.to_numpy(), reference.to_numpy(), rtol=1e-12)


def test_group_sums_leave_out_combinations_that_never_occur():
    frame = pd.DataFrame(
        {
            "a": pd.Categorical(["x", "x", "y"], categories=["x", "y", "z"]),
            "b": pd.Categorical(["p", "q", "p"]),
            "v": [1.0, 2.0, 4.0],
        }
    )
    result = engine.group_sums(frame, ["a", "b"], ["v"])
    assert dict(zip(result.index, result["v"])) == {("x", "p"): 1.0, ("x", "q"): 2.0, ("y", "p"): 4.0}


def test_largest_first_is_a_stable_ranking():
    rng = np.random.default_rng(3)
    values = rng.integers(0, 20, 500).astype(float)  # many ties
    for keep in (1, 7, 50, 500, 600):
        expected = np.argsort(-values, kind="stable")[:keep]
        np.testing.assert_array_equal(engine.largest_first(values, keep), expected)


def test_sums_added_up_from_pairs_match_sums_from_the_rows():
    frame = planted_frame(5000).astype({"country": "category", "platform": "category", "store": "category"})
    frame = frame[frame["country"] != "France"]  # a category with no rows left must not become a group
    columns = ["revenue_before", "revenue_after"]
    cache = engine.GroupSumCache(frame)
    cache.add_pairs(["country", "platform", "store"], columns)
    for dimension in ("country", "platform", "store"):
        from_pairs = engine.breakdown(frame, dimension, *columns, cache)
        from_rows = engine.breakdown(frame, dimension, *columns)
        assert list(from_pairs[dimension]) == list(from_rows[dimension])
        np.testing.assert_allclose(
            from_pairs[["before", "after"]], from_rows[["before", "after"]], rtol=1e-12
        )
    assert "France" not in set(engine.breakdown(frame, "country", *columns, cache)["country"])


def test_drill_down_sums_pairs_first_only_when_they_fit_beside_the_table():
    # All pairs held at once, as `analyze` does, only when they have no more combinations than the table has rows:
    # six dimensions of 1,000 values each took 0.58 GB that way at 1M rows, 0.09 GB one pair at a time.
    small = pd.DataFrame({d: pd.Categorical(["a", "b"] * 50) for d in ("x", "y", "z")})
    wide = pd.DataFrame({d: pd.Categorical([f"{d}{i}" for i in range(100)]) for d in ("x", "y", "z")})
    text = small.astype(str)
    assert engine._pairs_are_small(small, ["x", "y", "z"])  # 12 combinations, 100 rows
    assert not engine._pairs_are_small(wide, ["x", "y", "z"])  # 30,000 combinations, 100 rows
    assert not engine._pairs_are_small(text, ["x", "y"])  # no categorical codes to add up from
