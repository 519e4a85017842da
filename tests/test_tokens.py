import marshal

import pytest

from agent.models import tokens

TEXTS = [
    "Revenue fell 4.01% from 3.31M to 3.18M (-132,919.66).",
    "def show_totals(metric, totals):\n    print(f\"{metric}: {totals['before']:,.2f}\")\n\n\n",
    "Größe × 日本語 — émoji 📈 and   spaces\r\n",
]


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache folder, and the encoding loaded again on first use (and again after the test)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    tokens._load_encoding.cache_clear()
    yield tmp_path / "kpi-narrator"
    tokens._load_encoding.cache_clear()


def _tiktoken_counts() -> list[int]:
    import tiktoken

    tokens._load_encoding()  # sets TIKTOKEN_CACHE_DIR to litellm's bundled files
    encoding = tiktoken.get_encoding("cl100k_base")
    return [len(encoding.encode(text, disallowed_special=())) for text in TEXTS]


def test_the_kept_copy_counts_as_tiktoken_does_and_spares_the_parsing(fresh_cache, monkeypatch):
    expected = _tiktoken_counts()
    assert [tokens.count_tokens(text) for text in TEXTS] == expected
    (kept,) = fresh_cache.glob("cl100k_base-*.marshal")
    assert len(marshal.loads(kept.read_bytes())["mergeable_ranks"]) == 100_256

    def parse_again():
        raise AssertionError("the rank file was parsed although a kept copy exists")

    monkeypatch.setattr("tiktoken_ext.openai_public.cl100k_base", parse_again)
    tokens._load_encoding.cache_clear()
    assert [tokens.count_tokens(text) for text in TEXTS] == expected


def test_a_broken_copy_is_replaced_and_an_unwritable_folder_only_costs_time(
    fresh_cache, tmp_path, monkeypatch
):
    expected = _tiktoken_counts()
    tokens._load_encoding.cache_clear()
    fresh_cache.mkdir(exist_ok=True)
    kept = fresh_cache / tokens._cl100k_copy_name()
    kept.write_bytes(b"\x00not marshal")
    assert [tokens.count_tokens(text) for text in TEXTS] == expected
    assert len(marshal.loads(kept.read_bytes())["mergeable_ranks"]) == 100_256

    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    tokens._load_encoding.cache_clear()
    assert [tokens.count_tokens(text) for text in TEXTS] == expected
