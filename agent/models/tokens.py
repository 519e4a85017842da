"""Counting tokens offline, with the cl100k tokenizer file that litellm ships (no download)."""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tiktoken import Encoding

_loading = threading.Lock()
_preloading: threading.Thread | None = None


def preload() -> None:
    """Loads the tokenizer (0.2 s) in a background thread, once, so that the first count does not wait for it."""
    global _preloading
    if _preloading is None:
        _preloading = threading.Thread(target=_encoding, name="tokenizer-preload", daemon=True)
        _preloading.start()


def _encoding() -> Encoding | None:
    with _loading:  # a count that arrives while the preload runs waits for it instead of loading twice
        return _load_encoding()


@functools.cache
def _load_encoding() -> Encoding | None:
    """The cl100k_base encoding, loaded from litellm's bundled cache; None when unavailable."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    bundled = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
    if not bundled.is_dir():
        return None
    # tiktoken reads this variable to find cached encodings instead of downloading them.
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(bundled))
    try:
        import tiktoken

        return tiktoken.get_encoding("cl100k_base")
    except Exception:  # no network and no cached file: fall back to the estimate below
        return None


def count_tokens(text: str) -> int:
    """Tokens in `text` by the cl100k tokenizer, or about one per four characters when it is unavailable."""
    encoding = _encoding()
    if encoding is None:
        return max(1, len(text) // 4) if text else 0
    return len(encoding.encode(text, disallowed_special=()))
