"""Generated benchmark files: revenue by country × platform × store with Germany × Android planted (-40%)."""

from __future__ import annotations

from pathlib import Path

from tools.synthetic import PLANTED_SLICE, planted_frame

DIMENSIONS = ["country", "platform", "store"]
METRIC = "revenue"
PLANTED = dict(PLANTED_SLICE)


def scale_file(rows: int, folder: Path, *, suffix: str = "csv") -> Path:
    """The planted file with this many rows, written once into `folder` and reused after."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"planted_{rows}.{suffix}"
    if not path.exists():
        frame = planted_frame(rows)
        partial = path.with_name(path.name + ".partial")
        if suffix == "parquet":
            frame.to_parquet(partial, index=False)
        else:
            import pyarrow as pa
            import pyarrow.csv as pacsv

            pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), partial)
        partial.rename(path)  # a run killed while writing never leaves a truncated file behind
    return path
