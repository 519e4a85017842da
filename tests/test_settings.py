"""The one home of the agent's settings (agent kinds, time-outs, environment defaults), the runner reading only what
a model declares, and side effects made by explicit calls rather than at import."""

import os
import subprocess
import sys

import pytest
from smolagents.models import ChatMessage, MessageRole, Model
from smolagents.monitoring import TokenUsage

from agent import settings
from agent.models.build import ModelChoice, build_model, model_label
from agent.run import runner
from agent.run.result import collect
from agent.run.runner import RunRequest, run_events
from agent.sandbox import worker_pool
from agent.settings import (
    AGENT_KINDS,
    ENVIRONMENT_DEFAULTS,
    PROJECT_ROOT,
    agent_kind,
    apply_environment_defaults,
)


def _step(code: str) -> str:
    return f"Thought: go.\n<code>\n{code}\n</code>"


def test_every_agent_kind_has_a_builder_and_a_builtin_model_that_answers_it():
    assert set(AGENT_KINDS) == {"code", "tool-calling"}
    for name, kind in AGENT_KINDS.items():
        assert kind.name == name and kind.default_max_steps > 0 and kind.description
        assert callable(kind.builder())
        model = build_model(ModelChoice("builtin"), name)
        assert model.answers == name and model.rule_based
        assert type(model) is type(kind.make_builtin_model())


def test_an_unknown_agent_kind_names_the_kinds_there_are():
    with pytest.raises(ValueError, match=r"agent must be one of \('code', 'tool-calling'\), not 'sql'"):
        agent_kind("sql")
    with pytest.raises(ValueError, match="not 'sql'"):
        build_model(ModelChoice("builtin"), "sql")


def test_environment_defaults_keep_what_the_user_set():
    environ = {"LITELLM_LOCAL_MODEL_COST_MAP": "False"}
    apply_environment_defaults(environ)
    apply_environment_defaults(environ)
    assert environ == {**ENVIRONMENT_DEFAULTS, "LITELLM_LOCAL_MODEL_COST_MAP": "False"}
    empty: dict[str, str] = {}
    apply_environment_defaults(empty)
    assert empty == ENVIRONMENT_DEFAULTS


def test_importing_the_package_sets_the_environment_defaults_first():
    env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT_DEFAULTS}
    code = "import os, agent; print(os.environ.get('LITELLM_LOCAL_MODEL_COST_MAP'))"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert out.stdout.strip() == "True", out.stderr


def test_numpy_starts_no_blas_threads_in_the_app_or_its_workers():
    env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT_DEFAULTS}
    code = "import os, agent, numpy; print(os.environ['OPENBLAS_NUM_THREADS'], len(os.listdir('/proc/self/task')))"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert out.stdout.split() == ["1", "1"], out.stderr  # OpenBLAS alone starts one more thread per core
    sandboxed, _, _ = worker_pool.worker_command(["-c", "pass"], "/tmp/scratch", sandboxed=True)
    assert "OPENBLAS_NUM_THREADS" in sandboxed
    assert sandboxed[sandboxed.index("OPENBLAS_NUM_THREADS") + 1] == "1"
    _, plain_env, _ = worker_pool.worker_command(["-c", "pass"], "/tmp/scratch", sandboxed=False)
    assert plain_env["OPENBLAS_NUM_THREADS"] == "1"


def test_project_root_holds_both_packages():
    assert (PROJECT_ROOT / "agent" / "settings.py").is_file() and (PROJECT_ROOT / "tools").is_dir()


def test_the_cli_reads_its_agent_choices_and_time_out_from_the_settings():
    from agent.cli import build_parser

    parser = build_parser()
    defaults = parser.parse_args(["run", "data.csv"])
    assert defaults.agent == settings.DEFAULT_AGENT_KIND
    assert defaults.step_timeout == settings.DEFAULT_STEP_TIMEOUT_S
    for name in AGENT_KINDS:
        assert parser.parse_args(["run", "data.csv", "--agent", name]).agent == name
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "data.csv", "--agent", "sql"])


def test_nothing_is_patched_at_import_and_installing_is_idempotent():
    code = """
import plotly.io as pio
import smolagents.local_python_executor as lpe
from plotly.basedatatypes import BaseFigure
original_lookup, original_show = lpe.evaluate_name, BaseFigure.show
from agent.sandbox import figures, interpreter
import agent.run.runner
assert lpe.evaluate_name is original_lookup, "name lookup patched at import"
assert BaseFigure.show is original_show, "fig.show() changed at import"
interpreter.install_guards(); interpreter.install_guards()
figures.install_show_capture(); figures.install_show_capture()
assert lpe.evaluate_name is interpreter._strict_evaluate_name
assert BaseFigure.show is not original_show and pio.show is BaseFigure.show
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


class _Declared(Model):
    """A model that says what it is, as the runner expects: label, rule-based, which agent kind it answers."""

    label = "Declared test analyst"
    rule_based = True
    answers = "code"

    def __init__(self) -> None:
        super().__init__(model_id="declared")
        self.generate_was_replaced: list[bool] = []

    def generate(
        self, messages, stop_sequences=None, response_format=None, tools_to_call_from=None, **kwargs
    ):
        # Whether someone replaced `generate` on this object while it runs.
        self.generate_was_replaced.append("generate" in vars(self))
        code = "final_answer(f\"Revenue fell {metric_totals(df, metric='revenue')['pct_change']:.2f}%.\")"
        return ChatMessage(role=MessageRole.ASSISTANT, content=_step(code), token_usage=TokenUsage(0, 0))


def test_the_runner_uses_what_a_model_declares_and_leaves_the_model_alone(revenue_dataset):
    model = _Declared()
    result = collect(run_events(RunRequest(revenue_dataset, executor="local"), model))
    assert result.status == "success", result.error
    assert result.model == "Declared test analyst" == model_label(model)
    assert result.usage["tokens_estimated"] is True  # rule-based: counted here, whatever the reply says
    assert model.generate_was_replaced == [False]
    assert "generate" not in vars(model)


def test_a_model_for_another_agent_kind_is_refused(revenue_dataset):
    with pytest.raises(ValueError, match="answers the code agent, not the tool-calling agent"):
        next(run_events(RunRequest(revenue_dataset, agent="tool-calling"), _Declared()))


def test_our_own_failure_is_an_internal_error_not_the_models(revenue_dataset, scripted_model, monkeypatch):
    def broken(observation):
        raise RuntimeError("translation bug")

    monkeypatch.setattr(runner, "_without_noise", broken)
    model = scripted_model([_step("print(metric_totals(df, metric='revenue'))")])
    result = collect(run_events(RunRequest(revenue_dataset, executor="local"), model))
    assert result.status == "error"
    assert result.error.startswith("KPI Narrator failed while following the agent")
    assert "RuntimeError: translation bug" in result.error
    assert "The model" not in result.error and "scripted" not in result.error
    assert any("translation bug" in (step.get("error") or "") for step in result.steps)
