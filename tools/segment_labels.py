"""Names of segments and slices as a reader sees them: a value alone when it is clear, with its dimension when not.

"France" needs no dimension, but "new", "other", "true" or "1" do: "The change sits in new" leaves the reader
guessing, "The change sits in maturity = new" does not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# Words that say nothing about which dimension they belong to.
_GENERIC_WORDS = """
    new existing returning old other others rest all any total none unknown n/a na null nan missing (missing)
    yes no y n true false t f on off active inactive churned paid free trial organic direct default
    control treatment test variant a b c high low medium mid small large big top bottom first last
    in out up down open closed male female m
"""
GENERIC_VALUES = frozenset(_GENERIC_WORDS.split())
_NUMBER_LIKE = re.compile(r"^[\s+\-]?[\d.,\s%]+$")


def needs_dimension(value: object) -> bool:
    """True when a value read alone could be any dimension's: generic words, numbers, flags, single letters."""
    text = str(value).strip()
    if not text:
        return True
    return text.lower() in GENERIC_VALUES or bool(_NUMBER_LIKE.match(text)) or len(text) == 1


def segment_label(dimension: str, value: object) -> str:
    """`France`, or `maturity = new` when the value alone could mislead."""
    return f"{dimension} = {value}" if needs_dimension(value) else str(value)


def slice_label(parts: Mapping[str, object]) -> str:
    """A slice of one or more dimensions: `Germany × Android`, `UK × maturity = new`."""
    return " × ".join(segment_label(dimension, value) for dimension, value in parts.items())
