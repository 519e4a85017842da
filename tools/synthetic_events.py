"""A metrics file and its change log with a planted cause, for the sample pair, the tests and the benchmark.

Daily revenue by country × customer (new / returning). France × new falls by `drop` over the last `drop_days`
days; the change log holds the outage that caused it, a release on the same day in another country (a decoy by
scope), a French campaign that ended weeks before (a decoy by date), a tracking change (a caveat) and a price change
in a country that did not move.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COUNTRIES = ["France", "Germany", "UK", "Spain", "Italy"]
CUSTOMERS = ["new customers", "returning customers"]


def checkout_daily_frame(
    days: int = 76, *, end: str = "2026-11-15", drop: float = 0.55, drop_days: int = 7, seed: int = 21
) -> pd.DataFrame:
    """Daily revenue by country × customer; France × new falls by `drop` on the last `drop_days` days."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(end=end, periods=days, freq="D")
    rows = []
    for index, date in enumerate(dates):
        weekly = 1.0 + 0.04 * np.sin(2 * np.pi * date.day_of_week / 7)
        for i, country in enumerate(COUNTRIES):
            for j, customer in enumerate(CUSTOMERS):
                value = (2000.0 + 300 * i + 900 * j) * weekly * (1 + rng.normal(0, 0.01))
                if (country, customer) == ("France", "new customers") and index >= days - drop_days:
                    value *= 1 - drop
                rows.append(
                    {
                        "date": date.date().isoformat(),
                        "country": country,
                        "customer": customer,
                        "revenue": round(value, 2),
                    }
                )
    return pd.DataFrame(rows)


def checkout_events_frame(hostile: str | None = None) -> pd.DataFrame:
    """The change log of `checkout_daily_frame` (its default dates); `hostile` adds an event with that text,
    scoped to Germany on the day of the outage (a decoy a model must read as data)."""
    rows = [
        (
            "2026-09-15",
            "2026-09-30",
            "campaign",
            "country=France",
            "Back-to-school campaign in France (ended)",
        ),
        ("2026-11-09", "", "incident", "country=France", "Payment provider outage: card checkout failing"),
        ("2026-11-09", "", "release", "country=Germany", "Checkout redesign released"),
        ("2026-11-11", "", "tracking", "all", "Consent banner update: sessions counted only after consent"),
        ("2026-11-12", "", "pricing", "country=UK", "Delivery fee raised"),
    ]
    if hostile is not None:
        rows.append(("2026-11-09", "", "external", "country=Germany", hostile))
    return pd.DataFrame(rows, columns=["date", "end", "kind", "scope", "description"])
