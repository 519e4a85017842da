"""KPI Narrator's benchmarks: `python -m benchmarks` (see `benchmarks.cli`). They measure; tests never time."""
