import importlib.util

from tests.helpers import ROOT
from tools.analysis import analyze
from tools.loading import load_dataset
from tools.synthetic import PLANTED_SLICE


def load_script():
    spec = importlib.util.spec_from_file_location("make_samples", ROOT / "sample_data" / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_samples_match_the_generator(tmp_path):
    for path in load_script().write_samples(tmp_path):
        committed = ROOT / "sample_data" / path.name
        assert committed.read_bytes() == path.read_bytes(), (
            f"{path.name}: run python sample_data/make_samples.py"
        )


def test_samples_hold_what_they_promise():
    revenue = analyze(load_dataset(ROOT / "sample_data" / "revenue_by_country.tsv"))
    assert round(revenue["totals"]["abs_change"], 2) == -132919.66
    planted = analyze(load_dataset(ROOT / "sample_data" / "sales_by_segment.csv"))
    assert planted["top_slices"][0]["slice"] == PLANTED_SLICE
    conversion = analyze(
        load_dataset(ROOT / "sample_data" / "conversion_by_channel.csv"), ratio="orders/users"
    )
    assert conversion["ratio"]["mix_share_pct"] > 100  # traffic moved to a weak channel; rates held

    scenarios = ROOT / "sample_data" / "conversion_scenarios.csv"
    rates = {}
    for scenario in ("scenario_1", "scenario_2", "scenario_3"):
        ratio = analyze(
            load_dataset(scenarios, after=scenario), ratio="converted_users/users", by=["maturity", "country"]
        )["ratio"]
        rates[scenario] = ratio
    assert abs(rates["scenario_1"]["change"]) < 0.005  # noise only
    assert rates["scenario_2"]["rate_effect"] < -0.01 and abs(rates["scenario_2"]["mix_effect"]) < 0.002
    assert rates["scenario_3"]["mix_effect"] < -0.01 and abs(rates["scenario_3"]["rate_effect"]) < 0.005
