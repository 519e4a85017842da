"""What a file's columns are for, guessed from their names and values: here, which ratio the metrics suggest.

A rate is the smaller count over the larger (orders over users, never users over orders): the default a page or
a command offers must not invert it.
"""

from __future__ import annotations

import re

from tools.loading import Dataset

# Words that name what is counted on top of a rate (the numerator) and what it is counted among (the denominator).
NUMERATOR_WORDS = frozenset(
    "order sale conversion converted purchase signup click transaction booking lead subscription install "
    "registration checkout payer buyer activation trial return churned won deal".split()
)
DENOMINATOR_WORDS = frozenset(
    "user session visit visitor impression view pageview customer account request call send sent delivered "
    "open recipient lead trial install".split()
)


def _words(name: str) -> set[str]:
    """`converted_users` -> {"converted", "user"}: lower-case words, a plural `s` dropped."""
    words = {w for w in re.split(r"[^a-z0-9]+", name.lower()) if w}
    return {w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words}


def _totals(dataset: Dataset, metric: str) -> float:
    before, after = dataset.metric_columns(metric)
    return float(dataset.frame[before].sum() + dataset.frame[after].sum())


def suggest_ratio(dataset: Dataset) -> tuple[tuple[str, str] | None, bool]:
    """The ratio to offer by default: (numerator, denominator) and whether the names make it a clear rate.

    The numerator is a metric whose name counts outcomes (orders, conversions, clicks, ...) and the denominator one
    that counts the base (users, sessions, visits, impressions, ...), with the numerator's total the smaller. Without
    such names, the smaller-total metric over the larger is offered, but not ticked.
    """
    metrics = list(dataset.metrics)
    if len(metrics) < 2:
        return None, False
    totals = {m: _totals(dataset, m) for m in metrics}
    if min(totals.values()) < 0:
        return None, False  # negative amounts (profit) are not counts: no rate to suggest
    words = {m: _words(m) for m in metrics}

    def outcome(metric: str) -> bool:
        return bool(words[metric] & NUMERATOR_WORDS)

    def base(metric: str) -> bool:
        return bool(words[metric] & DENOMINATOR_WORDS) and not (
            words[metric] & NUMERATOR_WORDS - DENOMINATOR_WORDS
        )

    pairs = [(n, d) for n in metrics for d in metrics if n != d and totals[n] <= totals[d]]
    named = [(n, d) for n, d in pairs if outcome(n) and base(d)]
    if named:
        return named[0], True
    if pairs:
        # Smaller over larger; among those, the pair of the two largest totals (the broadest base).
        return max(pairs, key=lambda pair: (totals[pair[1]], totals[pair[0]])), False
    return None, False
