"""Writes the sample files in this folder. Run `python sample_data/make_samples.py` from the project root."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tools.synthetic import (  # noqa: E402
    conversion_frame,
    planted_frame,
    daily_frame,
    revenue_by_country_frame,
    scenario_conversion_frame,
)
from tools.synthetic_events import checkout_daily_frame, checkout_events_frame  # noqa: E402


def write_samples(folder: Path = HERE) -> list[Path]:
    """Writes the sample files into `folder` and returns their paths."""
    paths = [folder / "revenue_by_country.tsv", folder / "sales_by_segment.csv", folder / "conversion_by_channel.csv",
             folder / "conversion_scenarios.csv", folder / "daily_revenue.csv"]
    revenue_by_country_frame().to_csv(paths[0], sep="\t", index=False, float_format="%.2f")
    channels = ("channel", ["organic", "paid_search", "email", "affiliate"])
    planted = planted_frame(400, seed=3, third=channels, drop=0.35, noise=0.003)
    planted.to_csv(paths[1], index=False, float_format="%.2f")
    conversion_frame().to_csv(paths[2], index=False)
    scenario_conversion_frame().to_csv(paths[3], index=False)
    daily_frame().to_csv(paths[4], index=False)
    # The change-log pair: a daily metrics file and the events beside it (`--events`).
    pair = [folder / "checkout_daily.csv", folder / "checkout_events.csv"]
    checkout_daily_frame().to_csv(pair[0], index=False)
    checkout_events_frame().to_csv(pair[1], index=False)
    return paths + pair


def main() -> None:
    for path in write_samples():
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
