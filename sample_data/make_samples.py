"""Writes the sample files in this folder. Run `python sample_data/make_samples.py` from the project root."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tools.synthetic import conversion_frame, planted_frame, revenue_by_country_frame  # noqa: E402


def main() -> None:
    revenue_by_country_frame().to_csv(HERE / "revenue_by_country.tsv", sep="\t", index=False, float_format="%.2f")
    channels = ("channel", ["organic", "paid_search", "email", "affiliate"])
    planted_frame(400, seed=3, third=channels, drop=0.35, noise=0.003).to_csv(
        HERE / "sales_by_segment.csv", index=False, float_format="%.2f"
    )
    conversion_frame().to_csv(HERE / "conversion_by_channel.csv", index=False)
    print(f"wrote samples to {HERE}")


if __name__ == "__main__":
    main()
