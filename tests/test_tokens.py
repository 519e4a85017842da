import marshal
import os

import pytest

from agent.models import tokens

TEXTS = [
    "Revenue fell 4.01% from 3.31M to 3.18M (-132,919.66).",
    "def show_totals(metric, totals):\n    print(f\"{metric}: {totals['before']:,.2f}\")\n\n\n",
    "Größe × 日本語 — émoji 📈 and   spaces\r\n",
]
RANKS = 100_256


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache folder, and the encoding loaded again on first use (and again after the test)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    tokens._load_encoding.cache_clear()
    yield tmp_path / "kpi-narrator"
    tokens._load_encoding.cache_clear()


@pytest.fixture
def expected() -> list[int]:
    """The counts of tiktoken's own cl100k_base."""
    import tiktoken

    tokens._load_encoding()  # sets TIKTOKEN_CACHE_DIR to litellm's bundled files
    tokens._load_encoding.cache_clear()
    encoding = tiktoken.get_encoding("cl100k_base")
    return [len(encoding.encode(text, disallowed_special=())) for text in TEXTS]


def counts() -> list[int]:
    tokens._load_encoding.cache_clear()
    return [tokens.count_tokens(text) for text in TEXTS]


def kept_ranks(path) -> int:
    return len(marshal.loads(path.read_bytes())["mergeable_ranks"])


def test_the_kept_copy_counts_as_tiktoken_does_and_spares_the_parsing(fresh_cache, expected, monkeypatch):
    assert counts() == expected
    (kept,) = fresh_cache.glob("cl100k_base-*.marshal")
    assert kept_ranks(kept) == RANKS and not list(fresh_cache.glob("*.tmp"))

    def parse_again():
        raise AssertionError("the rank file was parsed although a kept copy exists")

    monkeypatch.setattr("tiktoken_ext.openai_public.cl100k_base", parse_again)
    assert counts() == expected


@pytest.mark.parametrize(
    "spoil",
    [
        lambda arguments: b"\x00not marshal",
        lambda arguments: marshal.dumps(
            {**arguments, "mergeable_ranks": {str(k): v for k, v in arguments["mergeable_ranks"].items()}}
        ),
        lambda arguments: marshal.dumps({k: v for k, v in arguments.items() if k != "pat_str"}),
        lambda arguments: marshal.dumps({**arguments, "pat_str": r"\S+|\s+"}),  # loads, counts differently
        lambda arguments: b"[\xff\xff\xff\x7f",  # a list of 2**31 items: refused by its size, not allocated
    ],
    ids=["garbage", "wrong-types", "missing-key", "other-pattern", "huge-list"],
)
def test_a_copy_that_is_not_cl100k_is_made_again(fresh_cache, expected, spoil):
    from tiktoken_ext.openai_public import cl100k_base

    counts()
    kept = tokens._kept_copy()
    kept.write_bytes(spoil(cl100k_base()))
    assert counts() == expected
    assert kept_ranks(kept) == RANKS


def test_without_a_usable_home_it_still_counts_exactly(fresh_cache, expected, tmp_path, monkeypatch):
    monkeypatch.setenv(
        "XDG_CACHE_HOME", "relative/cache"
    )  # ignored, as the XDG spec says: not the working folder
    monkeypatch.chdir(tmp_path)
    assert tokens._kept_copy().is_absolute()

    def no_home():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setattr(tokens.Path, "home", staticmethod(no_home))
    assert tokens._kept_copy() is None
    assert counts() == expected
    assert not (tmp_path / "relative").exists()


def test_a_copy_that_cannot_be_written_leaves_no_partial_file(fresh_cache, expected, monkeypatch):
    def full_disk(source, target):
        raise OSError(28, "No space left on device")

    tokens._kept_copy().unlink(missing_ok=True)
    monkeypatch.setattr(tokens.os, "replace", full_disk)
    assert counts() == expected
    assert os.listdir(fresh_cache) == []
