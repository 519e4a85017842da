"""The served process's one-time work: long-lived objects frozen out of Streamlit's post-run collection, and the first
run's plotly costs paid in the background. Each test runs in a Python of its own: freezing is process-wide."""

import json
import os
import subprocess
import sys

from tests.helpers import ROOT


def run_python(code: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=180
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_freezing_skips_the_imported_heap_collects_garbage_first_and_waits_for_new_imports():
    seen = run_python(
        "import gc, json, weakref\n"
        "import pandas\n"
        "from ui.server_process import freeze_long_lived_objects\n"
        "class Node: pass\n"
        "cycle = Node(); cycle.me = cycle; gone = []\n"
        "weakref.finalize(cycle, gone.append, 'collected'); del cycle\n"  # garbage only a collection finds
        "tracked = len(gc.get_objects())\n"
        "first = freeze_long_lived_objects()\n"
        "frozen = gc.get_freeze_count()\n"
        "again = freeze_long_lived_objects()\n"  # nothing imported since
        "import fractions, statistics\n"
        "after_import = freeze_long_lived_objects()\n"
        "print(json.dumps({'first': first, 'frozen_share': frozen / tracked, 'left': len(gc.get_objects()),\n"
        "    'garbage': gone, 'again': again, 'after_import': after_import}))"
    )
    assert seen["first"] is True and seen["frozen_share"] > 0.9  # pandas' heap: skipped by every collection
    assert seen["left"] < 1000  # what a collection still walks
    assert seen["garbage"] == ["collected"]  # collected before the freeze, not kept for good
    assert seen["again"] is False and seen["after_import"] is True


def test_the_warm_up_leaves_nothing_for_the_first_run_s_charts_to_import():
    seen = run_python(
        "import json, sys, threading\n"
        "import plotly.graph_objects as go\n"
        "from agent.sandbox.process import warm_up_pieces\n"
        "from tools.labels import safe_figure\n"
        "from ui import server_process\n"
        "charts = [made for made in (piece() for piece in warm_up_pieces()) if isinstance(made, dict) and 'layout' in made]\n"
        "server_process.warm_up_in_background(); server_process.warm_up_in_background()\n"
        "threads = [t for t in threading.enumerate() if t.name == 'kpi-warm-up']\n"
        "server_process._warming.join(60)\n"
        "before = set(sys.modules)\n"
        "for chart in charts: go.Figure(safe_figure(chart)).to_json()\n"  # as the page draws the worker's charts
        "print(json.dumps({'charts': len(charts), 'threads': len(threads),\n"
        "    'imported': sorted(set(sys.modules) - before)}))"
    )
    assert seen["charts"] >= 3 and seen["threads"] <= 1
    assert seen["imported"] == []  # without the warm-up: about 150 plotly modules, in a visitor's click


def test_the_app_freezes_and_warms_up_on_its_first_run():
    seen = run_python(
        "import gc, json\n"
        "from streamlit.testing.v1 import AppTest\n"
        "before = gc.get_freeze_count()\n"
        "app = AppTest.from_file('app.py', default_timeout=60).run()\n"
        "from ui import server_process\n"
        "print(json.dumps({'before': before, 'after': gc.get_freeze_count(), 'exception': len(app.exception),\n"
        "    'warming': server_process._warming is not None}))"
    )
    assert seen == {"before": 0, "after": seen["after"], "exception": 0, "warming": True}
    assert seen["after"] > 50_000
