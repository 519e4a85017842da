"""Temporary: the built-in analysts' runs after their code templates became real Python are the runs of main
before it (summaries, printed output, errors, charts, verification), on every sample and edge case of
tests/builtin_cases.py. The 'before' was generated from main at b16262e with `python tests/builtin_cases.py` (long texts
kept as fingerprints)."""

import json

import pytest

from tests.builtin_cases import ROOT, all_snapshots, compact

BEFORE = ROOT / "tests" / "fixtures" / "builtin_before.json"


@pytest.mark.slow
def test_every_run_is_the_same_as_before():
    before = json.loads(BEFORE.read_text(encoding="utf-8"))
    after = json.loads(json.dumps(compact(all_snapshots()), ensure_ascii=False))
    assert sorted(after) == sorted(before)
    changed = [name for name in before if after[name] != before[name]]
    assert not changed, changed
