"""The served process's work for every visitor: garbage collected now and then, not after every script run, and the
first run's plotly costs paid in the background. Each test runs in a Python of its own (process-wide state)."""

from tests.helpers import run_python


def test_garbage_is_collected_at_most_every_half_minute_and_cycles_are_freed():
    seen = run_python(
        "import json, weakref\n"
        "from ui import server_process\n"
        "class Node: pass\n"
        "cycle = Node(); cycle.me = cycle; gone = []\n"
        "weakref.finalize(cycle, gone.append, 'collected'); del cycle\n"  # garbage only a collection finds
        "start = server_process._last_collection\n"
        "soon = server_process.collect_garbage(start + 5)\n"
        "after_soon = list(gone)\n"
        "later = server_process.collect_garbage(start + server_process.COLLECT_EVERY_S)\n"
        "again = server_process.collect_garbage(start + server_process.COLLECT_EVERY_S + 1)\n"
        "print(json.dumps({'soon': soon, 'after_soon': after_soon, 'later': later, 'gone': gone, 'again': again}))"
    )
    assert seen == {"soon": False, "after_soon": [], "later": True, "gone": ["collected"], "again": False}


def test_streamlit_s_collection_after_every_run_is_off_in_the_checked_in_config():
    """The setting only counts if Streamlit reads it from the project's .streamlit/config.toml."""
    seen = run_python(
        "import json\n"
        "from streamlit import config\n"
        "config.get_config_options(force_reparse=True)\n"
        "print(json.dumps({'post_script_gc': config.get_option('runner.postScriptGC')}))"
    )
    assert seen == {"post_script_gc": False}


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
        "from agent.models import tokens\n"
        "tokens._preloading.join(60)\n"
        "tokenizer = tokens._load_encoding.cache_info().currsize\n"
        "before = set(sys.modules)\n"
        "for chart in charts: go.Figure(safe_figure(chart)).to_json()\n"  # as the page draws the worker's charts
        "print(json.dumps({'charts': len(charts), 'threads': len(threads), 'tokenizer': tokenizer,\n"
        "    'imported': sorted(set(sys.modules) - before)}))"
    )
    assert seen["charts"] >= 3 and seen["threads"] <= 1 and seen["tokenizer"] == 1
    assert seen["imported"] == []  # without the warm-up: about 150 plotly modules, in a visitor's click


def test_the_app_warms_up_and_collects_after_its_runs():
    seen = run_python(
        "import json\n"
        "from streamlit.testing.v1 import AppTest\n"
        "from ui import server_process\n"
        "server_process._last_collection -= server_process.COLLECT_EVERY_S\n"  # as if half a minute went by
        "before = server_process._last_collection\n"
        "app = AppTest.from_file('app.py', default_timeout=60).run()\n"
        "print(json.dumps({'exception': len(app.exception), 'collected': server_process._last_collection > before,\n"
        "    'warming': server_process._warming is not None}))"
    )
    assert seen == {"exception": 0, "collected": True, "warming": True}
