"""The claim check works on the fact table of the analysis, whose tables keep their largest changes: the facts it
scans do not grow with the number of segments (counted, not timed)."""

import numpy as np
import pandas as pd
import pytest

from tools.analysis import TABLE_ROWS, analyze
from tools.loading import load_dataset
from tools.verification import Lexicon, verify


def stores(segments: int, ratio: bool = False):
    """One dimension of `segments` stores; store 0 loses half its revenue (and conversion), the rest move ±10%."""
    rng = np.random.default_rng(segments)
    before = rng.uniform(100, 200, segments).round(2)
    after = (before * rng.uniform(0.9, 1.1, segments)).round(2)
    before[0], after[0] = 100_000.0, 50_000.0
    frame = pd.DataFrame(
        {"store": [f"S{i:06d}" for i in range(segments)], "revenue_before": before, "revenue_after": after}
    )
    if ratio:
        frame["users_before"] = frame["users_after"] = 1000
    return load_dataset(frame.to_csv(index=False).encode(), name="stores.csv")


def scanned(segments: int, ratio: bool = False) -> tuple[int, int, dict]:
    analysis = analyze(stores(segments, ratio), ratio="revenue/users" if ratio else None)
    lexicon = Lexicon(analysis)
    total, top = analysis["totals"], analysis["breakdowns"]["store"][0]
    text = (
        f"Revenue changed {total['pct_change']:.2f}% ({total['abs_change']:,.2f}). {top['store']} fell "
        f"{abs(top['pct_change']):.2f}%."
    )
    return len(lexicon.facts), len(lexicon.names), verify(text, analysis, lexicon)


@pytest.mark.parametrize("ratio", [False, True])
def test_the_facts_scanned_do_not_grow_with_the_segments(ratio):
    small_facts, small_names, small = scanned(TABLE_ROWS + 1, ratio)
    big_facts, big_names, big = scanned(50_000, ratio)
    assert big_facts == small_facts and big_names == small_names == TABLE_ROWS
    for checked in (small, big):  # the check still works: the total and the top store are verified
        assert checked["counts"]["verified"] == 3 and not checked["mismatches"]
