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
    """Loads the tokenizer (70 ms) in a background thread, once, so that the first count does not wait for it."""
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

        return tiktoken.Encoding(**_cl100k_arguments())
    except Exception:  # no network and no cached file: fall back to the estimate below
        return None


def _cl100k_arguments() -> dict:
    """cl100k_base's constructor arguments (name, pattern, 100,256 ranks, special tokens), from a marshalled copy
    kept in the user's cache folder: tiktoken parses its 1.7 MB rank file line by line (55 ms, holding the lock
    every other thread of the process needs), the copy loads in 13 ms. Written on first use; any problem with it
    falls back to tiktoken's own loading."""
    import marshal

    from tiktoken_ext.openai_public import cl100k_base  # type: ignore[import-untyped]

    cache = _cache_folder() / _cl100k_copy_name()
    try:
        arguments = marshal.loads(cache.read_bytes())
        if isinstance(arguments, dict) and len(arguments.get("mergeable_ranks", ())) > 100_000:
            return arguments
    except (OSError, ValueError, EOFError, TypeError):
        pass
    arguments = cl100k_base()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        partial.write_bytes(marshal.dumps(arguments))
        partial.replace(cache)  # whole or not at all, for a process reading it meanwhile
    except OSError:  # a read-only home: tiktoken's loading every time
        pass
    return arguments


def _cache_folder() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kpi-narrator"


def _cl100k_copy_name() -> str:
    import tiktoken

    return f"cl100k_base-tiktoken-{tiktoken.__version__}.marshal"


def count_tokens(text: str) -> int:
    """Tokens in `text` by the cl100k tokenizer, or about one per four characters when it is unavailable."""
    encoding = _encoding()
    if encoding is None:
        return max(1, len(text) // 4) if text else 0
    return len(encoding.encode(text, disallowed_special=()))
