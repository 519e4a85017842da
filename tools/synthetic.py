"""Generated before/after tables with a known, planted cause: for the samples, the tests and the benchmarks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

COUNTRIES = [
    "Germany",
    "France",
    "UK",
    "Italy",
    "Spain",
    "Netherlands",
    "Poland",
    "Sweden",
    "Belgium",
    "Austria",
    "Ireland",
    "Denmark",
    "Finland",
    "Norway",
    "Portugal",
    "Czechia",
    "Greece",
    "Hungary",
    "Romania",
    "Croatia",
]
PLATFORMS = ["iOS", "Android", "Web", "Desktop", "TV"]
PLANTED_SLICE = {"country": "Germany", "platform": "Android"}


def planted_frame(
    rows: int,
    *,
    seed: int = 7,
    third: tuple[str, list[str]] | None = None,
    drop: float = 0.4,
    noise: float = 0.01,
) -> pd.DataFrame:
    """A wide table of revenue by country × platform × a third dimension, one row per segment.

    Every segment stays flat (give or take `noise`), except Germany × Android, which falls by `drop`.

    Args:
        rows: Number of rows (segments).
        seed: Random seed; the same seed gives the same table.
        third: Name and values of the third dimension; default `store` with as many stores as needed.
        drop: Planted fall of the Germany × Android segments (0.4 = -40%).
        noise: Standard deviation of every other segment's change (0.01 = 1%).
    """
    rng = np.random.default_rng(seed)
    index = np.arange(rows)
    countries = np.array(COUNTRIES)[index % len(COUNTRIES)]
    platforms = np.array(PLATFORMS)[(index // len(COUNTRIES)) % len(PLATFORMS)]
    block = len(COUNTRIES) * len(PLATFORMS)
    if third is None:
        width = len(str(max(math.ceil(rows / block) - 1, 0)))
        third_name, third_values = (
            "store",
            np.char.add("S", np.char.zfill((index // block).astype(str), width)),
        )
    else:
        third_name, values = third
        third_values = np.array(values)[(index // block) % len(values)]
    before = np.round(rng.gamma(2.0, 500.0, rows), 2)
    growth = rng.normal(0.0, noise, rows)
    planted = (countries == PLANTED_SLICE["country"]) & (platforms == PLANTED_SLICE["platform"])
    growth[planted] = -drop + rng.normal(0.0, 0.02, int(planted.sum()))
    after = np.round(before * (1.0 + growth), 2)
    return pd.DataFrame(
        {
            "country": countries,
            "platform": platforms,
            third_name: third_values,
            "revenue_before": before,
            "revenue_after": after,
        }
    )


def conversion_frame(seed: int = 11) -> pd.DataFrame:
    """Users and orders by channel × device where traffic shifts to a low-converting channel.

    Each segment's own conversion rate barely moves (binomial noise only); paid social triples its traffic at a
    1% rate, so the overall conversion falls mostly through the mix.
    """
    rng = np.random.default_rng(seed)
    channels = {  # channel: (users before, users after, conversion rate)
        "organic": (40_000, 41_000, 0.052),
        "email": (12_000, 11_500, 0.081),
        "paid_search": (25_000, 26_000, 0.038),
        "paid_social": (10_000, 31_000, 0.011),
        "referral": (6_000, 6_200, 0.045),
    }
    devices = {"mobile": 0.62, "desktop": 0.38}
    device_rate = {"mobile": 0.85, "desktop": 1.3}
    rows = []
    for channel, (users_before, users_after, rate) in channels.items():
        for device, share in devices.items():
            u0, u1 = round(users_before * share), round(users_after * share)
            p = rate * device_rate[device]
            rows.append(
                {
                    "channel": channel,
                    "device": device,
                    "users_before": u0,
                    "users_after": u1,
                    "orders_before": int(rng.binomial(u0, p)),
                    "orders_after": int(rng.binomial(u1, p)),
                }
            )
    return pd.DataFrame(rows)


def scenario_conversion_frame(seed: int = 5) -> pd.DataFrame:
    """Users and converted users by country × maturity, before and in three scenarios of the after period.

    scenario_1: every segment as before (binomial noise only). scenario_2: new users in the UK convert at half their
    rate. scenario_3: France's new users triple at their own (low) rate, so the overall rate falls through the mix.
    """
    rng = np.random.default_rng(seed)
    countries = {"UK": 30_000, "France": 22_000, "Germany": 26_000, "Spain": 14_000}
    maturity = {"new": (0.35, 0.18), "existing": (0.65, 0.42)}  # share of users, conversion rate
    rows = []
    for country, users in countries.items():
        for stage, (share, rate) in maturity.items():
            u0 = round(users * share)
            row = {
                "country": country,
                "maturity": stage,
                "users_before": u0,
                "converted_users_before": int(rng.binomial(u0, rate)),
            }
            for scenario in (1, 2, 3):
                u1, r1 = u0, rate
                if scenario == 2 and (country, stage) == ("UK", "new"):
                    r1 = rate / 2
                if scenario == 3 and (country, stage) == ("France", "new"):
                    u1 = 3 * u0
                row[f"users_after_scenario_{scenario}"] = u1
                row[f"converted_users_after_scenario_{scenario}"] = int(rng.binomial(u1, r1))
            rows.append(row)
    return pd.DataFrame(rows)


def daily_frame(
    days: int = 120,
    *,
    end: str = "2026-11-28",
    drop: float = 0.4,
    drop_days: int = 7,
    spike_day: int | None = 60,
    seed: int = 13,
) -> pd.DataFrame:
    """A long daily table of revenue by country × platform, one row per date and segment.

    Every segment is flat with 1% noise and a weekly rhythm, except Germany × Android, which falls by `drop` on the
    last `drop_days` days; on `spike_day` (counted from the start) France × iOS triples for one day: a distractor in
    an earlier week.
    """
    rng = np.random.default_rng(seed)
    dates = pd.date_range(end=end, periods=days, freq="D")
    countries, platforms = COUNTRIES[:6], PLATFORMS[:3]
    base = {
        (c, p): 1000.0 + 150 * i + 40 * j for i, c in enumerate(countries) for j, p in enumerate(platforms)
    }
    rows = []
    for index, date in enumerate(dates):
        weekly = 1.0 + 0.05 * np.sin(2 * np.pi * date.day_of_week / 7)
        for (country, platform), level in base.items():
            value = level * weekly * (1 + rng.normal(0, 0.01))
            if (country, platform) == ("Germany", "Android") and index >= days - drop_days:
                value *= 1 - drop
            if spike_day is not None and index == spike_day and (country, platform) == ("France", "iOS"):
                value *= 3
            rows.append(
                {
                    "date": date.date().isoformat(),
                    "country": country,
                    "platform": platform,
                    "revenue": round(value, 2),
                }
            )
    return pd.DataFrame(rows)


REVENUE_BY_COUNTRY = [
    ("other", 632767.39, 637000.48),
    ("UK", 481409.27, 477033.02),
    ("France", 240704.63, 107857.06),
    ("Germany", 160469.75, 159778.76),
    ("Italy", 120352.31, 121331.46),
    ("Spain", 96281.86, 96064.77),
]


def revenue_by_country_frame() -> pd.DataFrame:
    """The revenue-by-country example of the published code-agent comparison."""
    return pd.DataFrame(REVENUE_BY_COUNTRY, columns=["country", "revenue_before", "revenue_after"])
