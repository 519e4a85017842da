"""smolagents is imported without the Hugging Face Hub client, and the Hub functions it holds still work."""

from tests.helpers import run_python


def test_the_agent_loop_is_imported_without_the_hub_client():
    seen = run_python(
        "import sys, json\n"
        "import agent.run.runner\n"
        "import smolagents.agents as agents, smolagents.tools as tools, huggingface_hub\n"
        "print(json.dumps({'client': 'huggingface_hub.hf_api' in sys.modules,\n"
        "    'stand_ins': [type(getattr(m, n)).__name__ for m, n in ((agents, 'create_repo'), (tools, 'hf_hub_download'))],\n"
        "    'left_on_hub': 'create_repo' in vars(huggingface_hub)}))"
    )
    assert seen == {"client": False, "stand_ins": ["HubFunction", "HubFunction"], "left_on_hub": False}


def test_a_stand_in_calls_the_real_hub_function_and_other_importers_get_the_real_one():
    seen = run_python(
        "import json\n"
        "import agent.run.runner\n"
        "import smolagents.agents as agents\n"
        "from huggingface_hub import create_repo\n"  # another importer, after smolagents
        "print(json.dumps({'same': agents.create_repo.resolve() == create_repo,\n"
        "    'real': type(create_repo).__name__}))"
    )
    assert seen == {"same": True, "real": "method"}


def test_smolagents_imported_first_is_left_alone():
    seen = run_python(
        "import sys, json\n"
        "import smolagents\n"
        "import agent.run.runner, smolagents.agents as agents\n"
        "print(json.dumps({'client': 'huggingface_hub.hf_api' in sys.modules,\n"
        "    'kind': type(agents.create_repo).__name__}))"
    )
    assert seen == {"client": True, "kind": "method"}


def test_after_import_runs_once_the_module_is_imported_and_at_once_when_it_is_already(tmp_path):
    (tmp_path / "late_module.py").write_text("VALUE = 1\n")
    seen = run_python(
        "import json, sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "from agent.light_imports import after_import\n"
        "calls = []\n"
        "after_import('late_module', lambda m: calls.append(('later', m.VALUE)))\n"
        "before = list(calls)\n"
        "import late_module\n"
        "after_import('late_module', lambda m: calls.append(('now', m.VALUE)))\n"
        "import importlib; importlib.reload(late_module)\n"  # the hook stepped aside: a reload calls nothing
        "print(json.dumps({'before': before, 'calls': calls}))"
    )
    assert seen == {"before": [], "calls": [["later", 1], ["now", 1]]}


def test_the_worker_is_ready_without_plotly_and_still_captures_fig_show():
    """install_show_capture() no longer imports plotly (70 ms of a worker's start): the capture is put in place
    when the agent's code first imports plotly."""
    seen = run_python(
        "import json, sys\n"
        "from agent.sandbox.figures import FigureCollector, install_show_capture\n"
        "install_show_capture()\n"
        "imported = 'plotly.basedatatypes' in sys.modules\n"
        "collector = FigureCollector()\n"
        "import plotly.graph_objects as go, plotly.io as pio\n"
        "go.Figure(layout={'title': {'text': 'shown'}}).show()\n"
        "pio.show(go.Figure(layout={'title': {'text': 'by plotly.io'}}))\n"
        "titles = [f['layout']['title']['text'] for f in collector.collect({})]\n"
        "print(json.dumps({'imported': imported, 'titles': titles}))"
    )
    assert seen == {"imported": False, "titles": ["shown", "by plotly.io"]}


def test_a_lookup_without_import_keeps_the_after_import_hook(tmp_path):
    (tmp_path / "looked_up.py").write_text("VALUE = 2\n")
    seen = run_python(
        "import json, sys, importlib.util\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "from agent.light_imports import after_import\n"
        "calls = []\n"
        "after_import('looked_up', lambda m: calls.append(m.VALUE))\n"
        "importlib.util.find_spec('looked_up')\n"  # a lookup imports nothing: the hook must stay
        "import looked_up\n"
        "print(json.dumps({'calls': calls}))"
    )
    assert seen == {"calls": [2]}


def test_modules_smolagents_never_needs_here_stand_in_while_it_imports_and_work_when_used():
    """The CLI's import (`stand_in_modules=True`): requests, the remote executors and rich's Markdown are not
    imported with smolagents; what smolagents holds of them still works, and later importers get the real modules."""
    seen = run_python(
        "import json, sys\n"
        "from agent import light_imports\n"
        "light_imports.install(stand_in_modules=True)\n"
        "import agent.run.runner, smolagents, smolagents.agents as agents, smolagents.agent_types as types_\n"
        "absent = [m for m in ('requests', 'rich.markdown', 'smolagents.remote_executors') if m in sys.modules]\n"
        "kinds = [type(agents.Markdown).__name__, type(smolagents.DockerExecutor).__name__,\n"
        "    type(types_.requests).__name__]\n"
        "from rich.markdown import Markdown\n"  # another importer, afterwards: the real class
        "import requests, smolagents.remote_executors as remote\n"
        "print(json.dumps({'absent': absent, 'kinds': kinds,\n"
        "    'markdown': agents.Markdown.resolve() is Markdown and type(agents.Markdown('*a*')) is Markdown,\n"
        "    'docker': smolagents.DockerExecutor.resolve() is remote.DockerExecutor,\n"
        "    'requests': types_.requests.get is requests.get and type(requests).__name__ == 'module',\n"
        "    'left': [m for m in sys.modules.values() if type(m).__name__ == 'ModuleStandIn']}))"
    )
    assert seen["absent"] == []
    assert seen["kinds"] == ["DeferredCallable", "DeferredCallable", "ModuleStandIn"]
    assert seen["markdown"] and seen["docker"] and seen["requests"]
    assert seen["left"] == []  # nothing stands in once smolagents is imported


def test_the_served_app_s_import_keeps_every_module_real():
    """Without `stand_in_modules` (the Streamlit server imports on many threads) smolagents gets the real modules."""
    seen = run_python(
        "import json, sys\n"
        "import agent.run.runner, smolagents.agents as agents, smolagents.agent_types as types_\n"
        "print(json.dumps({'requests': type(types_.requests).__name__, 'markdown': type(agents.Markdown).__name__}))"
    )
    assert seen == {"requests": "module", "markdown": "type"}


def test_the_code_worker_imports_neither_requests_nor_jinja2_and_its_tools_still_work():
    seen = run_python(
        "import json, sys\n"
        "from agent import light_imports\n"
        "light_imports.install(lazy_package_init=True, stand_in_modules=True)\n"  # as agent/sandbox/worker.py
        "from agent.sandbox.process import _worker_main\n"
        "from agent.sandbox.interpreter import local_executor\n"
        "from tools.kpi_tools import KPI_TOOLS\n"
        "absent = [m for m in ('requests', 'jinja2', 'rich.markdown') if m in sys.modules]\n"
        "executor = local_executor()\n"
        "executor.send_tools({t.name: t for t in KPI_TOOLS})\n"
        "out = executor('import pandas as pd\\n'\n"
        '    \'df = pd.DataFrame({"c": ["a", "b"], "m_before": [1.0, 2.0], "m_after": [2.0, 2.0]})\\n\'\n'
        '    \'metric_totals(df, metric="m")["abs_change"]\')\n'
        "import jinja2\n"
        "print(json.dumps({'absent': absent, 'output': out.output, 'jinja2': type(jinja2).__name__}))"
    )
    assert seen == {"absent": [], "output": 1.0, "jinja2": "module"}


def test_while_stand_ins_are_placed_a_package_s_submodule_and_a_spec_lookup_still_work():
    """Another importer meanwhile (a thread, say) gets a working module: `import requests.adapters` imports the real
    package first, and `find_spec` finds the stand-in's spec."""
    seen = run_python(
        "import importlib.util, json, sys\n"
        "from agent import light_imports\n"
        "with light_imports._modules_standing_in(True):\n"
        "    placed = type(sys.modules['requests']).__name__\n"
        "    spec = importlib.util.find_spec('requests').name\n"
        "    import requests.adapters\n"
        "    real = type(sys.modules['requests']).__name__\n"
        "print(json.dumps({'placed': placed, 'spec': spec, 'real': real,\n"
        "    'adapter': requests.adapters.HTTPAdapter.__name__, 'left': type(sys.modules['requests']).__name__}))"
    )
    assert seen == {
        "placed": "ModuleStandIn",
        "spec": "requests",
        "real": "module",
        "adapter": "HTTPAdapter",
        "left": "module",
    }
