"""smolagents is imported without the Hugging Face Hub client, and the Hub functions it holds still work."""

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
