"""The one home for the agent's settings: the agent kinds, the time-outs, the environment defaults, the project root.

A new agent kind is one entry of `AGENT_KINDS`; the CLI's `--agent` choices, the pages' pickers, the runner and
`build_model` all read it. This module is imported first (by `agent/__init__.py`) and imports nothing heavy: the
sandboxed worker imports it too.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Seconds a step's code (or a tool-calling agent's tool) may run in the worker before the worker is killed.
DEFAULT_STEP_TIMEOUT_S = 30.0

# Set in this process and in every worker's (empty) environment. litellm fetches its model price list from the
# internet at import unless told to use its bundled copy. numpy's OpenBLAS starts a spinning thread per core at
# import, 0.05-0.11 s of CPU per process: on 2 cores shared by the app and its workers that was 12% of the sample
# CLI's wall time (issue 19). KPI work makes few matrix products (agent code doing a 2000x2000 one: 140 -> 253 ms).
# The app keeps a value the user set; a worker always runs one thread (its environment is ours alone).
ENVIRONMENT_DEFAULTS: dict[str, str] = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "OPENBLAS_NUM_THREADS": "1"}


def apply_environment_defaults(environ: MutableMapping[str, str] | None = None) -> None:
    """Sets each of `ENVIRONMENT_DEFAULTS` not set already (idempotent; a value the user set is kept)."""
    target = os.environ if environ is None else environ
    for name, value in ENVIRONMENT_DEFAULTS.items():
        target.setdefault(name, value)


@dataclass(frozen=True)
class AgentKind:
    """One kind of agent the app can run.

    Attributes:
        name: Its id in `RunRequest.agent`, `--agent` and the pages ("code").
        label: How the page names it.
        description: One sentence saying what it does (the page's help, the CLI's help).
        default_max_steps: Its step limit when none is given.
        build: "module:function" that makes one run's agent: `(request, model, drawn) -> PreparedAgent`
            (see `agent.run.runner`); imported when first used, so this module stays light.
        builtin_model: "module:Class" of the rule-based model that answers this kind offline.
    """

    name: str
    label: str
    description: str
    default_max_steps: int
    build: str
    builtin_model: str

    def builder(self) -> Callable[..., Any]:
        """The function that builds this kind's agent for one run."""
        return _imported(self.build)

    def make_builtin_model(self) -> Any:
        """A fresh rule-based model of this kind (no network, no key)."""
        return _imported(self.builtin_model)()


def _imported(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


AGENT_KINDS: dict[str, AgentKind] = {
    "code": AgentKind(
        name="code",
        label="code",
        description="writes and runs Python with the KPI tools (fewer steps)",
        default_max_steps=6,
        build="agent.run.runner:prepare_code_agent",
        builtin_model="agent.models.builtin_analyst:BuiltinAnalyst",
    ),
    # One tool call per step (totals, each dimension, slices, chart, answer): a 3-dimension file needs 7 steps
    # where the code agent needs 2. Its default leaves room for that, as in the published comparison.
    "tool-calling": AgentKind(
        name="tool-calling",
        label="tool-calling",
        description="one JSON tool call per step, for comparison",
        default_max_steps=12,
        build="agent.run.runner:prepare_tool_calling_agent",
        builtin_model="agent.models.builtin_tool_caller:BuiltinToolCaller",
    ),
}
DEFAULT_AGENT_KIND = "code"


def agent_kind(name: str) -> AgentKind:
    """The registered kind of that name.

    Raises:
        ValueError: No such kind; the message lists the kinds there are.
    """
    try:
        return AGENT_KINDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"agent must be one of {tuple(AGENT_KINDS)}, not {name!r}") from None


apply_environment_defaults()  # before any module of this package can import litellm
