"""Runs a code agent on a loaded file and turns everything it does into the event stream (`agent.run.events`)."""

from __future__ import annotations

import dataclasses
import io
import json
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from smolagents import CodeAgent, Tool, ToolCallingAgent
from smolagents.agents import ActionStep, FinalAnswerStep
from smolagents.memory import ToolCall
from smolagents.models import Model
from smolagents.monitoring import LogLevel
from smolagents.utils import AgentMaxStepsError

from agent.models.build import describe_model_error, secrets_of
from agent.models.builtin_analyst import BUILTIN_LABEL, BuiltinAnalyst
from agent.models.builtin_tool_caller import BUILTIN_TOOL_CALLER_LABEL, BuiltinToolCaller
from agent.run import events as ev
from agent.run.prompt import DEFAULT_QUESTION, TaskSpec, build_task, code_agent_prompt_templates
from agent.sandbox import worker_pool
from agent.sandbox.figures import FigureCollector, title_of
from agent.sandbox.interpreter import AUTHORIZED_IMPORTS, local_executor
from agent.sandbox.process import DEFAULT_STEP_TIMEOUT_S, ProcessExecutor
from tools.analysis import analyze, find_focus, focus_slices, jsonable, named_metric
from tools.bound_tools import bound_tools
from tools.facts import Analysis
from tools.kpi_tools import KPI_TOOLS
from tools.loading import Dataset
from tools.verification import ClaimCheck, final_answer_check, verify

# A tool-calling agent makes one call per step (totals, each dimension, slices, chart, answer): a 3-dimension file
# needs 7 steps where the code agent needs 2. Its default leaves room for that, as in the published comparison.
DEFAULT_MAX_STEPS = {"code": 6, "tool-calling": 12}


@dataclass
class RunRequest:
    """What to analyse and how.

    Attributes:
        dataset: The loaded file.
        question: The user's question; a default one names the metric.
        metric: The metric to explain; default the ratio's numerator or the file's first metric.
        ratio: "NUMERATOR/DENOMINATOR" for a rate metric such as orders/users.
        by: The dimensions to analyse; default all of the file's.
        max_steps: The agent's step limit; None for the agent kind's default (`DEFAULT_MAX_STEPS`).
        executor: "process" (a killable worker process, the default) or "local" (in this process; for tools that
            cannot be sent to a worker).
        step_timeout: Seconds a step's code may run (process executor) before it is stopped.
        agent: "code" (a CodeAgent writing Python, the default) or "tool-calling" (a ToolCallingAgent making JSON
            tool calls, for comparison).
    """

    dataset: Dataset
    question: str = ""
    metric: str | None = None
    ratio: str | None = None
    by: Sequence[str] | None = None
    max_steps: int | None = None
    tools: list[Tool] = field(default_factory=lambda: list(KPI_TOOLS))
    executor: str = "process"
    step_timeout: float = DEFAULT_STEP_TIMEOUT_S
    agent: str = "code"


AGENT_KINDS = ("code", "tool-calling")


def model_label(model: Model) -> str:
    """How a model is named to users: the built-in analysts say what they are."""
    if isinstance(model, BuiltinAnalyst):
        return BUILTIN_LABEL
    if isinstance(model, BuiltinToolCaller):
        return BUILTIN_TOOL_CALLER_LABEL
    return str(getattr(model, "model_id", type(model).__name__))


def _quiet_console() -> Console:
    # smolagents prints step errors even at verbosity 0; the events carry them, so its console stays silent.
    return Console(file=io.StringIO(), quiet=True)


def build_code_agent(
    model: Model, tools: list[Tool], max_steps: int, executor: str = "process", step_timeout: float = 30.0
) -> CodeAgent:
    """A fresh CodeAgent for one run (never shared: it holds the run's memory and variables)."""
    if executor not in ("process", "local"):
        raise ValueError(f"executor must be 'process' or 'local', not {executor!r}")
    agent = CodeAgent(
        tools=tools,
        model=model,
        executor=ProcessExecutor(step_timeout=step_timeout) if executor == "process" else local_executor(),
        additional_authorized_imports=AUTHORIZED_IMPORTS,
        prompt_templates=code_agent_prompt_templates(),
        max_steps=max_steps,
        verbosity_level=LogLevel.OFF,
    )
    agent.logger.console = _quiet_console()
    return agent


def build_tool_calling_agent(model: Model, tools: list[Tool], max_steps: int) -> ToolCallingAgent:
    """A fresh ToolCallingAgent for one run: JSON tool calls, no code."""
    agent = ToolCallingAgent(tools=tools, model=model, max_steps=max_steps, verbosity_level=LogLevel.OFF)
    agent.logger.console = _quiet_console()
    return agent


def _render_call(name: str, arguments: Any) -> str:
    """A JSON tool call written like a Python call, for the trace."""
    if isinstance(arguments, dict):
        return f"{name}({', '.join(f'{k}={v!r}' for k, v in arguments.items())})"
    return f"{name}({arguments!r})"


def _split_thought(model_output: str | None, code: str | None) -> str:
    """The prose before the code block, without the 'Thought:' label."""
    text = model_output or ""
    for marker in ("<code>", "```py"):
        if marker in text:
            text = text.split(marker, 1)[0]
            break
    else:
        if code and code in text:
            text = text.split(code, 1)[0]
    text = text.strip()
    return text[len("Thought:") :].strip() if text.startswith("Thought:") else text


def _new_figures(
    agent: CodeAgent | ToolCallingAgent, collector: FigureCollector | None, drawn: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Figures the last step made: drawn by bound tools, reported by a worker, or in the executor's variables."""
    if drawn:
        figures = list(drawn)
        drawn.clear()
        return figures
    executor = getattr(agent, "python_executor", None)
    if executor is None:
        return []
    if hasattr(executor, "take_figures"):
        return executor.take_figures()
    return collector.collect(getattr(executor, "state", {})) if collector is not None else []


def _without_noise(observation: str | None) -> str:
    """The observation without smolagents' "Last output from code snippet: None" (code that returns nothing)."""
    text = (observation or "").replace("Last output from code snippet:\nNone", "").rstrip()
    return "" if text.strip() in ("", "Execution logs:") else text


def _usage_estimated(model: Model) -> bool:
    """Whether the last step's tokens were counted here rather than reported by a provider."""
    return isinstance(model, (BuiltinAnalyst, BuiltinToolCaller)) or bool(
        getattr(model, "last_usage_estimated", False)
    )


def answer_text(value: Any) -> str:
    """The narrative of a final answer: itself if text, else its summary field, else its JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("narrative", "summary", "answer", "text"):
            if isinstance(value.get(key), str):
                return value[key]
    try:
        return json.dumps(jsonable(value), indent=2)
    except TypeError:
        return str(value)


def run_events(
    request: RunRequest,
    model: Model | None = None,
    *,
    stop: threading.Event | None = None,
    follow_ups: Iterable[str] = (),
) -> Iterator[ev.Event]:
    """Runs the code agent and yields every event of the run as it happens.

    Args:
        request: What to analyse.
        model: The smolagents model (None: the built-in analyst of the agent kind).
        stop: Set it to end the run after the current step.
        follow_ups: Further questions, asked in order once the first turn is over, each in the same agent memory
            (smolagents `reset=False`): a `TurnStarted` event, then that turn's steps, answer, verification and
            `RunFinished`. It may block (a page waiting for the next question); the worker lives until it ends.

    Raises:
        DataError: Before the first event, when the request does not fit the file (unknown metric or ratio).
    """
    if request.agent not in AGENT_KINDS:
        raise ValueError(f"agent must be one of {AGENT_KINDS}, not {request.agent!r}")
    dataset = request.dataset
    max_steps = request.max_steps or DEFAULT_MAX_STEPS[request.agent]
    drawn: list[dict[str, Any]] = []
    # The agent comes first: its worker process needs half a second to import pandas, and starts it while the
    # engine analyses the file.
    if request.agent == "tool-calling":
        model = model if model is not None and not isinstance(model, BuiltinAnalyst) else BuiltinToolCaller()
        # The tools run in a worker (same limits as the code agent's code) unless the local executor was asked for.
        worker = ProcessExecutor(step_timeout=request.step_timeout) if request.executor == "process" else None
        if worker is not None:
            worker.send_variables({"df": dataset.frame})
        tools = bound_tools(dataset.frame.copy(), drawn, worker.call_tool if worker is not None else None)
        agent = build_tool_calling_agent(model, tools, max_steps)
        if worker is not None:
            agent.cleanup = worker.cleanup  # type: ignore[method-assign]
    else:
        model = model if model is not None and not isinstance(model, BuiltinToolCaller) else BuiltinAnalyst()
        worker = None
        agent = build_code_agent(model, request.tools, max_steps, request.executor, request.step_timeout)
        # `df` goes into the executor's variables, not into the task text (additional_args would paste str(df)).
        agent.state["df"] = dataset.frame.copy()
        if dataset.daily is not None:  # a time series: every date's totals, for when (not only where)
            agent.state["daily"] = dataset.daily.copy()
    try:
        analysis = analyze(dataset, metric=request.metric, ratio=request.ratio, by=request.by)
    except BaseException:
        if hasattr(agent, "cleanup"):
            agent.cleanup()
        raise
    # A summary whose claims do not match the engine goes back to the model once, naming each claim and the
    # right figure; the correction is a step of its own in the trace.
    # Segments the question names are checked too (their breakdowns are figures an answer may state).
    checked = _with_focus(analysis, dataset, request.question.strip())
    check = final_answer_check(checked)
    agent.final_answer_checks = [check]
    ratio = analysis["ratio"]
    ratio_parts = (ratio["numerator"], ratio["denominator"]) if ratio else None
    spec = TaskSpec(
        metric=analysis["metric"],
        dimensions=analysis["dimensions"],
        question=request.question.strip() or DEFAULT_QUESTION.format(metric=analysis["metric"]),
        ratio=ratio_parts,
    )
    task = build_task(dataset, spec, agent=request.agent)

    secrets = secrets_of(model)
    yield ev.RunStarted(model=model_label(model), agent=request.agent, question=spec.question, task=task,
                        dataset=dataset.describe())  # fmt: skip
    for message in dataset.warnings:
        yield ev.DataWarning(message)
    sandbox_note = _sandbox_warning(worker if request.agent == "tool-calling" else agent.python_executor)
    if sandbox_note:
        yield ev.DataWarning(sandbox_note)
    yield ev.AnalysisReady(analysis)
    try:
        for event in _drive(agent, model, task, max_steps, checked, stop, drawn):
            yield redact(event, secrets) if secrets else event
        for turn, question in enumerate(follow_ups, start=2):
            if stop is not None and stop.is_set():
                break
            # The follow-up's answer is checked against the engine's figures plus those of the segments it names.
            checked = _with_focus(analysis, dataset, question)
            agent.final_answer_checks = [final_answer_check(checked)]
            yield ev.TurnStarted(turn, question, question)
            for event in _drive(agent, model, question, max_steps, checked, stop, drawn, reset=False):
                yield redact(event, secrets) if secrets else event
    finally:
        if hasattr(agent, "cleanup"):
            agent.cleanup()  # stops the worker process, even when the consumer abandons the stream


def _sandbox_warning(executor: Any) -> str | None:
    """A sentence when the agent's code is less confined than it should be (no bubblewrap, or in-process)."""
    if isinstance(executor, ProcessExecutor):
        return None if executor.sandboxed else worker_pool.sandbox_status()
    if executor is None:  # the tool-calling agent's tools with --executor local
        return "The tool-calling agent's tools run in this process (--executor local), outside the sandbox."
    return "The agent's code runs in this process (--executor local), outside the sandbox."


def _with_focus(analysis: Analysis, dataset: Dataset, question: str) -> Analysis:
    """What an answer to this question is checked against: the analysis of the metric it names (another metric of
    the file, or the run's), plus the slices of the segments it names (Germany × Android and its breakdown)."""
    named = named_metric(question, dataset) if question else None
    if named and named != analysis["metric"] and named not in (analysis.get("ratio") or {}).values():
        analysis = analyze(dataset, metric=named, by=analysis["dimensions"])
    focus = find_focus(question, dataset, analysis["dimensions"]) if question else {}
    if not focus:
        return analysis
    return {**analysis, "top_slices": [*analysis["top_slices"], *focus_slices(dataset, analysis, focus)]}


def redact(event: ev.Event, secrets: list[str]) -> ev.Event:
    """The event with every secret (an API key a provider echoed in an error, say) masked in its text fields."""
    changes = {}
    for item in dataclasses.fields(event):
        value = getattr(event, item.name)
        if isinstance(value, str) and any(secret in value for secret in secrets):
            for secret in secrets:
                value = value.replace(secret, "***")
            changes[item.name] = value
    return dataclasses.replace(event, **changes) if changes else event


def _drive(
    agent: CodeAgent | ToolCallingAgent,
    model: Model,
    task: str,
    max_steps: int,
    analysis: Analysis,
    stop: threading.Event | None,
    drawn: list[dict[str, Any]],
    reset: bool = True,
) -> Iterator[ev.Event]:
    """Iterates the agent's stream and translates it into events (`reset=False`: a follow-up in the same memory)."""
    last_output: dict[str, Any] = {}
    original_generate = model.generate

    def recording_generate(*args: Any, **kwargs: Any) -> Any:
        # The Thought must be shown before the code runs; smolagents only yields the step after it ran.
        message = original_generate(*args, **kwargs)
        last_output["text"] = message.content if isinstance(message.content, str) else str(message.content)
        return message

    model.generate = recording_generate  # type: ignore[method-assign]
    executor = getattr(agent, "python_executor", None)
    # Only the in-process executor needs plotly's show() capture (importing plotly's renderers costs 0.3 s).
    figures = FigureCollector() if executor is not None and not hasattr(executor, "take_figures") else None
    started = time.perf_counter()
    usage = {"steps": 0, "input_tokens": 0, "output_tokens": 0, "duration_s": 0.0, "tokens_estimated": False}
    emitted_steps: set[int] = set()
    shown_code: set[int] = set()
    final_value: Any = None
    has_final = False
    status, run_error = "success", None
    current = 1
    chart_index = 0
    yield ev.StepStarted(current)
    try:
        for item in agent.run(task, stream=True, reset=reset, max_steps=max_steps):
            if isinstance(item, ToolCall):
                if item.name == "python_interpreter":
                    thought, code = (
                        _split_thought(last_output.get("text"), item.arguments),
                        str(item.arguments),
                    )
                else:  # a JSON tool call: the model's text is the thought, the call is the "code"
                    thought, code = (
                        (last_output.get("text") or "").strip(),
                        _render_call(item.name, item.arguments),
                    )
                if current not in shown_code:
                    yield ev.Thought(current, thought)
                yield ev.Code(current, code)
                shown_code.add(current)
            elif isinstance(item, ActionStep):
                if item.step_number in emitted_steps:  # smolagents yields the last step twice at max_steps
                    continue
                emitted_steps.add(item.step_number)
                step = item.step_number
                if step not in shown_code and item.model_output:  # the output could not be parsed into code
                    yield ev.Thought(step, _split_thought(item.model_output, None))
                observation = _without_noise(item.observations)
                if observation:
                    yield ev.Observation(step, observation)
                if item.error is not None:
                    yield ev.StepError(step, str(item.error))
                for figure in _new_figures(agent, figures, drawn):
                    yield ev.Chart(step, chart_index, title_of(figure), figure)
                    chart_index += 1
                tokens = item.token_usage
                estimated = _usage_estimated(model)
                usage["tokens_estimated"] = usage["tokens_estimated"] or estimated
                usage["steps"] += 1
                if tokens is not None:
                    usage["input_tokens"] += tokens.input_tokens
                    usage["output_tokens"] += tokens.output_tokens
                yield ev.StepFinished(
                    step,
                    tokens.input_tokens if tokens else None,
                    tokens.output_tokens if tokens else None,
                    round(item.timing.duration or 0.0, 4),
                    tokens_estimated=estimated,
                )
                if not item.is_final_answer and step < max_steps and not (stop is not None and stop.is_set()):
                    current = step + 1
                    yield ev.StepStarted(current)
            elif isinstance(item, FinalAnswerStep):
                final_value, has_final = item.output, True
            # The consumer ran while we were suspended at a yield: a stop it asked for must land before the
            # agent starts another step (smolagents checks the switch at the top of each step).
            if stop is not None and stop.is_set():
                agent.interrupt()
        last = agent.memory.steps[-1] if agent.memory.steps else None
        if last is not None and isinstance(getattr(last, "error", None), AgentMaxStepsError):
            status = "max_steps"
            if last.token_usage is not None:
                usage["input_tokens"] += last.token_usage.input_tokens
                usage["output_tokens"] += last.token_usage.output_tokens
    except Exception as error:  # the model or provider failed; keep every step made so far
        interrupted = stop is not None and stop.is_set()
        status = "stopped" if interrupted else "error"
        run_error = (
            "Stopped by the user."
            if interrupted
            else describe_model_error(error, str(model.model_id), getattr(model, "api_base", None))
        )
        if not interrupted:
            # A model that failed mid-step leaves that step without code: the error belongs to it.
            failed_step = (
                max(emitted_steps) if emitted_steps and max(emitted_steps) not in shown_code else None
            )
            yield ev.StepError(failed_step, run_error)
    finally:
        model.generate = original_generate  # type: ignore[method-assign]

    usage["duration_s"] = round(time.perf_counter() - started, 4)
    if has_final:
        value = jsonable(final_value) if not isinstance(final_value, str) else final_value
        yield ev.FinalAnswer(answer_text(final_value), value)
        check = next((c for c in agent.final_answer_checks if isinstance(c, ClaimCheck)), None)
        result = verify(final_value, analysis, check.lexicon if check is not None else None)
        yield ev.Verification(
            result["checked"], result["mismatches"], result["claims"], result["coverage"], status
        )
    yield ev.RunFinished(status, usage, run_error)
