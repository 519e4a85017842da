"""Counting tokens offline, with the cl100k tokenizer file that litellm ships (no download)."""

from __future__ import annotations

import contextlib
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
    """The cl100k_base encoding, from the kept copy of its arguments (`_kept_copy`) when that gives cl100k's tokens,
    else from litellm's bundled file (then kept for the next start); None when unavailable."""
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
    except ImportError:
        return None
    kept = _kept_copy()
    if kept is not None:
        try:
            encoding = tiktoken.Encoding(**_read_kept(kept))
            if encoding.encode(KNOWN_TEXT) == KNOWN_TOKENS:
                return encoding
        except Exception:  # missing, or not cl100k's arguments: made again below
            pass
    try:
        from tiktoken_ext.openai_public import cl100k_base  # type: ignore[import-untyped]

        arguments = cl100k_base()
        encoding = tiktoken.Encoding(**arguments)
    except Exception:  # no network and no bundled file: fall back to the estimate below
        return None
    if kept is not None:
        _keep(kept, arguments)
    return encoding


# cl100k's tokens for a text that exercises its split pattern: a kept copy must give exactly these.
KNOWN_TEXT = "Revenue fell 4.01%: Germany × Android, don't  panic\n\n"
KNOWN_TOKENS = [99204, 11299, 220, 19, 13, 1721, 4, 25, 10057, 25800, 8682, 11, 1541, 956, 220, 22743, 271]
KEPT_BYTES = range(1 << 20, 4 << 20)  # the copy is 1.6 MB: anything else is not read
KEPT_KEYS = {"name", "pat_str", "mergeable_ranks", "special_tokens"}  # tiktoken.Encoding's arguments


def _kept_copy() -> Path | None:
    """Where the marshalled copy of cl100k's arguments is kept: tiktoken parses its 1.7 MB rank file line by line
    (55 ms, holding the lock every other thread of the process needs), the copy loads in 13 ms. In the user's cache
    folder (an absolute $XDG_CACHE_HOME, else ~/.cache); None without a home."""
    import tiktoken

    configured = os.environ.get("XDG_CACHE_HOME", "")
    try:
        folder = Path(configured) if os.path.isabs(configured) else Path.home() / ".cache"
    except RuntimeError:  # no HOME and no user entry to find one
        return None
    return folder / "kpi-narrator" / f"cl100k_base-tiktoken-{tiktoken.__version__}.marshal"


def _read_kept(path: Path) -> dict:
    import marshal

    with open(path, "rb") as kept:
        size = os.fstat(kept.fileno()).st_size
        if size not in KEPT_BYTES:
            raise ValueError(f"{path}: {size} bytes, not a kept tokenizer")
        arguments = marshal.loads(kept.read())
    if not isinstance(arguments, dict) or set(arguments) != KEPT_KEYS:
        raise ValueError(f"{path}: not cl100k's arguments")
    return arguments


def _keep(path: Path, arguments: dict) -> None:
    """Writes the copy whole or not at all (a process reading it meanwhile sees the old one or none); a home that
    cannot be written costs tiktoken's own loading on every start, 40 ms more."""
    import marshal
    import tempfile

    partial = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(marshal.dumps(arguments))
        os.replace(partial, path)
    except OSError:
        if partial is not None:
            with contextlib.suppress(OSError):
                os.unlink(partial)


def count_tokens(text: str) -> int:
    """Tokens in `text` by the cl100k tokenizer, or about one per four characters when it is unavailable."""
    encoding = _encoding()
    if encoding is None:
        return max(1, len(text) // 4) if text else 0
    return len(encoding.encode(text, disallowed_special=()))
