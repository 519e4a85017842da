"""Runs an agent on a loaded file and turns everything it does into the event stream (`agent.run.events`).

The runner knows no concrete model: it reads what a model declares (`agent.models.build.DescribedModel`) and
builds the agent its kind's registry entry names (`agent.settings.AGENT_KINDS`).
"""

from __future__ import annotations

import dataclasses
import json
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from smolagents import CodeAgent, Tool, ToolCallingAgent
from smolagents.agents import ActionStep, FinalAnswerStep, MultiStepAgent, PlanningStep
from smolagents.memory import ToolCall
from smolagents.models import ChatMessage, ChatMessageStreamDelta, Model
from smolagents.monitoring import LogLevel
from smolagents.utils import AgentMaxStepsError

from agent.models.build import check_answers, describe_model_error, model_label, secrets_of, usage_estimated
from agent.models.builtin_change_log import BuiltinChangeLogReader
from agent.run import events as ev
from agent.run.change_log_agent import (
    CHANGE_LOG_AGENT_NAME,
    ManagedStepRecorder,
    build_change_log_agent,
    task_line,
)
from agent.run.prompt import DEFAULT_QUESTION, TaskSpec, build_task, code_agent_prompt_templates
from agent.run.silent_logger import SilentLogger
from agent.sandbox import worker_pool
from agent.sandbox.figures import FigureCollector, install_show_capture, title_of
from agent.sandbox.interpreter import AUTHORIZED_IMPORTS, local_executor
from agent.sandbox.process import ProcessExecutor
from agent.settings import DEFAULT_AGENT_KIND, DEFAULT_STEP_TIMEOUT_S, agent_kind
from tools.analysis import analyze, find_focus, focus_slices, jsonable, named_metric
from tools.bound_tools import bound_tools
from tools.change_log import ChangeLog, match_events
from tools.facts import Analysis
from tools.kpi_tools import KPI_TOOLS
from tools.loading import Dataset
from tools.tool_spec import KpiTool, bind_raw_rows
from tools.verification import ClaimCheck, final_answer_check, verify


@dataclass
class RunRequest:
    """What to analyse and how.

    Attributes:
        dataset: The loaded file.
        question: The user's question; a default one names the metric.
        metric: The metric to explain; default the ratio's numerator or the file's first metric.
        ratio: "NUMERATOR/DENOMINATOR" for a rate metric such as orders/users.
        by: The dimensions to analyse; default all of the file's.
        max_steps: The agent's step limit; None for the agent kind's default (`agent.settings.AGENT_KINDS`).
        executor: "process" (a killable worker process, the default) or "local" (in this process; for tools that
            cannot be sent to a worker).
        step_timeout: Seconds a step's code may run (process executor) before it is stopped.
        agent: An agent kind of `agent.settings.AGENT_KINDS`: "code" (a CodeAgent writing Python, the default) or
            "tool-calling" (a ToolCallingAgent making JSON tool calls, for comparison).
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
    agent: str = DEFAULT_AGENT_KIND
    # The change log beside the metrics: the analyst asks a managed agent about it.
    events: ChangeLog | None = None
    planning_interval: int | None = None  # smolagents planning steps, every N steps (None: no planning)

    def tool_specs(self) -> list[KpiTool]:
        """The one definitions of the request's KPI tools (`tools.tool_spec`); a hand-made `Tool` has none."""
        return [
            spec for spec in (getattr(tool, "spec", None) for tool in self.tools) if isinstance(spec, KpiTool)
        ]


class RecordingModel(Model):
    """The agent's view of the caller's model: every call is passed on, and the text of the last reply is kept.

    The Thought must be shown before the code runs, but smolagents only yields the step after it ran; the caller's
    model object is never changed. `Model.__init__` is not called: every attribute but these is the inner model's.
    """

    def __init__(self, inner: Model) -> None:
        self.__dict__["inner"] = inner
        self.__dict__["last_text"] = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["inner"], name)

    def generate(self, *args: Any, **kwargs: Any) -> ChatMessage:
        message = self.inner.generate(*args, **kwargs)
        self.__dict__["last_text"] = (
            message.content if isinstance(message.content, str) else str(message.content)
        )
        return message

    def parse_tool_calls(self, message: ChatMessage) -> ChatMessage:
        return self.inner.parse_tool_calls(message)


def build_code_agent(
    model: Model,
    tools: list[Tool],
    max_steps: int,
    executor: str = "process",
    step_timeout: float = DEFAULT_STEP_TIMEOUT_S,
    *,
    managed_agents: list | None = None,
    planning_interval: int | None = None,
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
        logger=SilentLogger(),
        managed_agents=managed_agents,
        planning_interval=planning_interval,
        # An LLM's text streams into the running step (`ev.TextDelta`): a 10-second step is not a blank box.
        stream_outputs=bool(getattr(model, "streams", False)),
    )
    return agent


def build_tool_calling_agent(
    model: Model,
    tools: list[Tool],
    max_steps: int,
    *,
    managed_agents: list | None = None,
    planning_interval: int | None = None,
) -> ToolCallingAgent:
    """A fresh ToolCallingAgent for one run: JSON tool calls, no code."""
    agent = ToolCallingAgent(
        tools=tools,
        model=model,
        max_steps=max_steps,
        verbosity_level=LogLevel.OFF,
        logger=SilentLogger(),
        managed_agents=managed_agents,
        planning_interval=planning_interval,
        # An LLM's text streams into the running step (`ev.TextDelta`), as for the code agent.
        stream_outputs=bool(getattr(model, "streams", False)),
    )
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


@dataclass
class PreparedAgent:
    """One run's agent, as an agent kind's builder (`agent.settings.AgentKind.build`) makes it.

    Attributes:
        agent: The smolagents agent, with the data in its executor or bound to its tools.
        sandbox_note: A sentence when the agent's code or tools run less confined than they should.
        managed: What the change-log agent did inside the analyst's steps, when the run has a change log.
    """

    agent: MultiStepAgent
    sandbox_note: str | None
    managed: ManagedStepRecorder | None = None


def _change_log_agents(request: RunRequest, model: Model) -> tuple[list | None, ManagedStepRecorder | None]:
    """The change-log agent, as the analyst's managed agent, when an events file came with the run. A rule-based
    model gets the built-in change-log reader; an LLM reads the change log itself, with the same tools."""
    if request.events is None:
        return None, None
    recorder = ManagedStepRecorder()
    inner = getattr(model, "inner", model)  # the caller's model, not the analyst's recording view of it
    reader = BuiltinChangeLogReader() if getattr(inner, "rule_based", False) else inner
    agent = build_change_log_agent(
        reader, request.events, recorder, planning_interval=request.planning_interval
    )
    return [agent], recorder


def prepare_code_agent(request: RunRequest, model: Model, drawn: list[dict[str, Any]]) -> PreparedAgent:
    """The code agent for one run: `df` (and `daily` for a time series) in its executor's variables."""
    max_steps = request.max_steps or agent_kind("code").default_max_steps
    managed, recorder = _change_log_agents(request, model)
    agent = build_code_agent(
        model,
        bind_raw_rows(request.tools, request.dataset.raw_rows),  # raw_rows reads this run's kept rows
        max_steps,
        request.executor,
        request.step_timeout,
        managed_agents=managed,
        planning_interval=request.planning_interval,
    )
    # `df` goes into the executor's variables, not into the task text (additional_args would paste str(df)).
    agent.state["df"] = request.dataset.frame.copy()
    if request.dataset.daily is not None:  # a time series: every date's totals, for when (not only where)
        agent.state["daily"] = request.dataset.daily.copy()
    return PreparedAgent(agent, _sandbox_warning(agent.python_executor), recorder)


def prepare_tool_calling_agent(
    request: RunRequest, model: Model, drawn: list[dict[str, Any]]
) -> PreparedAgent:
    """The tool-calling agent for one run: its tools bound to the table; charts they draw go to `drawn`."""
    max_steps = request.max_steps or agent_kind("tool-calling").default_max_steps
    # The tools run in a worker (same limits as the code agent's code) unless the local executor was asked for.
    worker = ProcessExecutor(step_timeout=request.step_timeout) if request.executor == "process" else None
    if worker is not None:
        worker.send_variables({"df": request.dataset.frame})
    remote = worker.call_tool if worker is not None else None
    tools = bound_tools(
        request.dataset.frame.copy(), drawn, remote, specs=request.tool_specs(), raw=request.dataset.raw_rows
    )
    managed, recorder = _change_log_agents(request, model)
    agent = build_tool_calling_agent(
        model, tools, max_steps, managed_agents=managed, planning_interval=request.planning_interval
    )
    if worker is not None:
        agent.cleanup = worker.cleanup  # type: ignore[method-assign]
    return PreparedAgent(agent, _sandbox_warning(worker), recorder)


def run_events(
    request: RunRequest,
    model: Model | None = None,
    *,
    stop: threading.Event | None = None,
    follow_ups: Iterable[str] = (),
) -> Iterator[ev.Event]:
    """Runs the agent of the request's kind and yields every event of the run as it happens.

    Args:
        request: What to analyse.
        model: The smolagents model (None: the built-in analyst of the agent kind, `agent.settings`).
        stop: Set it to end the run after the current step.
        follow_ups: Further questions, asked in order once the first turn is over, each in the same agent memory
            (smolagents `reset=False`): a `TurnStarted` event, then that turn's steps, answer, verification and
            `RunFinished`. It may block (a page waiting for the next question); the worker lives until it ends.

    Raises:
        ValueError: An unknown agent kind, or a model that declares it answers another kind.
        DataError: Before the first event, when the request does not fit the file (unknown metric or ratio).
    """
    kind = agent_kind(request.agent)
    specs = request.tool_specs()  # their facts join the analysis, so verification knows every tool's figures
    dataset = request.dataset
    max_steps = request.max_steps or kind.default_max_steps
    model = kind.make_builtin_model() if model is None else model
    check_answers(model, kind.name)
    drawn: list[dict[str, Any]] = []
    # The agent comes first: its worker process needs half a second to import pandas, and starts it while the
    # engine analyses the file. The agent talks to our recording wrapper, never to the caller's model itself.
    recorder = RecordingModel(model)
    prepared = kind.builder()(request, recorder, drawn)
    agent = prepared.agent
    try:
        analysis = analyze(dataset, metric=request.metric, ratio=request.ratio, by=request.by, tools=specs)
    except BaseException:
        if hasattr(agent, "cleanup"):
            agent.cleanup()
        raise
    # A summary whose claims do not match the engine goes back to the model once, naming each claim and the
    # right figure; the correction is a step of its own in the trace.
    # Segments the question names are checked too (their breakdowns are figures an answer may state).
    if request.events is not None:
        # The engine matches events to drivers first: what the summary may cite, and what verification expects.
        analysis["change_log"] = {
            **request.events.to_json(),
            **match_events(request.events, analysis, dataset.windows),
        }
    checked = _with_focus(analysis, dataset, request.question.strip(), specs)
    check = final_answer_check(checked)
    agent.final_answer_checks = [check]
    ratio = analysis["ratio"]
    ratio_parts = (ratio["numerator"], ratio["denominator"]) if ratio else None
    spec = TaskSpec(
        metric=analysis["metric"],
        dimensions=analysis["dimensions"],
        question=request.question.strip() or DEFAULT_QUESTION.format(metric=analysis["metric"]),
        ratio=ratio_parts,
        change_log=task_line(request.events) if request.events is not None else None,
    )
    task = build_task(dataset, spec, agent=request.agent)

    secrets = secrets_of(model)
    yield ev.RunStarted(
        model=model_label(model),
        agent=request.agent,
        question=spec.question,
        task=task,
        dataset=dataset.describe(),
    )
    for message in dataset.warnings + (request.events.warnings if request.events is not None else []):
        yield ev.DataWarning(message)
    if prepared.sandbox_note:
        yield ev.DataWarning(prepared.sandbox_note)
    yield ev.AnalysisReady(analysis)
    try:
        for event in _drive(
            agent, recorder, task, max_steps, checked, stop, drawn, managed=prepared.managed, secrets=secrets
        ):
            yield redact(event, secrets) if secrets else event
        for turn, question in enumerate(follow_ups, start=2):
            if stop is not None and stop.is_set():
                break
            # The follow-up's answer is checked against the engine's figures plus those of the segments it names.
            checked = _with_focus(analysis, dataset, question, specs)
            agent.final_answer_checks = [final_answer_check(checked)]
            yield ev.TurnStarted(turn, question, question)
            for event in _drive(
                agent,
                recorder,
                question,
                max_steps,
                checked,
                stop,
                drawn,
                reset=False,
                managed=prepared.managed,
                secrets=secrets,
            ):
                yield redact(event, secrets) if secrets else event
    finally:
        if hasattr(agent, "cleanup"):
            agent.cleanup()  # stops the worker process, even when the consumer abandons the stream


def _direct(stream: Iterator[Any]) -> Iterator[tuple[bool, Any]]:
    """The agent's stream as `_lockstep` gives it, read here: (True, item) for each item."""
    try:
        for item in stream:
            yield True, item
    finally:
        stream.close()  # type: ignore[attr-defined]


def _lockstep(
    stream: Iterator[Any], recorder: ManagedStepRecorder, poll_s: float = 0.1
) -> Iterator[tuple[bool, Any]]:
    """The agent's stream read in a worker thread, one item at a time: (True, item) for each item, and (False,
    None) whenever the managed agent finished a step while the analyst's step is still running.

    Lockstep: the agent thread waits until the consumer asks for the next item, as when iterating directly, so a
    stop asked while an event is handled still lands before the next step. Errors of the stream are raised here.
    """
    items: queue.Queue = queue.Queue()
    resume, abandoned = threading.Event(), threading.Event()

    def pump() -> None:
        try:
            for item in stream:
                items.put((True, item))
                resume.wait()
                resume.clear()
                if abandoned.is_set():  # the consumer went away: end the agent's stream here
                    stream.close()  # type: ignore[attr-defined]
                    break
            items.put((None, None))
        except BaseException as error:  # handed to the consumer, which raises it where the loop would have
            items.put((False, error))

    threading.Thread(target=pump, daemon=True, name="agent-stream").start()
    try:
        while True:
            try:
                kind, value = items.get(timeout=poll_s)
            except queue.Empty:
                if recorder.pending():
                    yield False, None
                continue
            if kind is None:
                return
            if kind is False:
                raise value
            yield True, value
            resume.set()
    finally:
        abandoned.set()
        resume.set()


def _sandbox_warning(executor: Any) -> str | None:
    """A sentence when the agent's code is less confined than it should be (no bubblewrap, or in-process)."""
    if isinstance(executor, ProcessExecutor):
        return None if executor.sandboxed else worker_pool.sandbox_status()
    if executor is None:  # the tool-calling agent's tools with --executor local
        return "The tool-calling agent's tools run in this process (--executor local), outside the sandbox."
    return "The agent's code runs in this process (--executor local), outside the sandbox."


def _with_focus(
    analysis: Analysis, dataset: Dataset, question: str, specs: Sequence[KpiTool] = ()
) -> Analysis:
    """What an answer to this question is checked against: the analysis of the metric it names (another metric of
    the file, or the run's), plus the slices of the segments it names (Germany × Android and its breakdown)."""
    named = named_metric(question, dataset) if question else None
    if named and named != analysis["metric"] and named not in (analysis.get("ratio") or {}).values():
        analysis = analyze(dataset, metric=named, by=analysis["dimensions"], tools=specs)
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


def internal_error(error: BaseException) -> str:
    """The run's error when our own code failed (not the model's or the provider's)."""
    return (
        f"KPI Narrator failed while following the agent (a bug here, not the model's fault): "
        f"{type(error).__name__}: {error}"
    )


class _Translator:
    """Turns what smolagents yields into events. This is our code: a failure here is reported as ours."""

    def __init__(
        self,
        agent: MultiStepAgent,
        model: RecordingModel,
        max_steps: int,
        stop: threading.Event | None,
        drawn: list[dict[str, Any]],
        figures: FigureCollector | None,
        managed: ManagedStepRecorder | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        self.agent, self.model, self.max_steps, self.stop = agent, model, max_steps, stop
        self.drawn, self.figures, self.managed = drawn, figures, managed
        self.streamed = StreamedText(secrets)  # a streaming model's text of the running step
        self.streamed_text: str | None = None
        self.usage: dict[str, Any] = {
            "steps": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "duration_s": 0.0,
            "tokens_estimated": False,
        }
        if managed is not None:  # the change-log agent's share, also counted in the totals
            self.usage.update(managed_steps=0, managed_input_tokens=0, managed_output_tokens=0)
        self.emitted_steps: set[int] = set()
        self.shown_code: set[int] = set()
        self.final_value: Any = None
        self.has_final = False
        self.current = 1
        self.chart_index = 0

    def events(self, item: Any) -> list[ev.Event]:
        """The events of one item of the agent's stream (a streamed piece of text, a tool call, a plan, a finished
        step, the final answer)."""
        if isinstance(item, ChatMessageStreamDelta):  # a streaming model: generate() is not called
            return self._text_delta(item)
        if isinstance(item, ToolCall):
            return self._tool_call(item)
        if isinstance(item, PlanningStep):
            return self._plan(item)
        if isinstance(item, ActionStep):
            return self._step(item)
        if isinstance(item, FinalAnswerStep):
            self.final_value, self.has_final = item.output, True
        return []

    def _text_delta(self, item: ChatMessageStreamDelta) -> list[ev.Event]:
        if not item.content:
            return []
        piece = self.streamed.add(item.content)
        self.streamed_text = self.streamed.text
        return [ev.TextDelta(self.current, piece)] if piece else []

    def _tool_call(self, item: ToolCall) -> list[ev.Event]:
        last_text = self.streamed_text if self.streamed_text is not None else self.model.last_text
        if item.name == "python_interpreter":
            thought, code = _split_thought(last_text, item.arguments), str(item.arguments)
        else:  # a JSON tool call: the model's text is the thought, the call is the "code"
            thought, code = (last_text or "").strip(), _render_call(item.name, item.arguments)
        found: list[ev.Event] = [] if self.current in self.shown_code else [ev.Thought(self.current, thought)]
        found.append(ev.Code(self.current, code))
        self.shown_code.add(self.current)
        return found

    def _plan(self, item: PlanningStep) -> list[ev.Event]:
        tokens = item.token_usage
        if tokens is not None:
            self.usage["input_tokens"] += tokens.input_tokens
            self.usage["output_tokens"] += tokens.output_tokens
        return [
            ev.Plan(
                self.current,
                item.plan,
                tokens.input_tokens if tokens else None,
                tokens.output_tokens if tokens else None,
            )
        ]

    def managed_steps(self, step: int) -> list[ev.Event]:
        """The managed agent's steps finished since last asked, nested under the analyst's step that called it."""
        found: list[ev.Event] = []
        for record in self.managed.take() if self.managed is not None else []:
            if record["kind"] == "action":
                self.usage["managed_steps"] += 1
            for key in ("input_tokens", "output_tokens"):
                self.usage[key] += record[key] or 0
                self.usage[f"managed_{key}"] += record[key] or 0
            found.append(ev.ManagedStep(step=step, agent=CHANGE_LOG_AGENT_NAME, **record))
        return found

    def _step(self, item: ActionStep) -> list[ev.Event]:
        if item.step_number in self.emitted_steps:  # smolagents yields the last step twice at max_steps
            return []
        self.emitted_steps.add(item.step_number)
        step = item.step_number
        found: list[ev.Event] = []
        if step not in self.shown_code and item.model_output:  # the output could not be parsed into code
            found.append(ev.Thought(step, _split_thought(item.model_output, None)))
        found.extend(self.managed_steps(step))
        observation = _without_noise(item.observations)
        if observation:
            found.append(ev.Observation(step, observation))
        if item.error is not None:
            found.append(ev.StepError(step, str(item.error)))
        for figure in _new_figures(self.agent, self.figures, self.drawn):
            found.append(ev.Chart(step, self.chart_index, title_of(figure), figure))
            self.chart_index += 1
        tokens = item.token_usage
        estimated = usage_estimated(self.model.inner)
        self.usage["tokens_estimated"] = self.usage["tokens_estimated"] or estimated
        self.usage["steps"] += 1
        if tokens is not None:
            self.usage["input_tokens"] += tokens.input_tokens
            self.usage["output_tokens"] += tokens.output_tokens
        found.append(
            ev.StepFinished(
                step,
                tokens.input_tokens if tokens else None,
                tokens.output_tokens if tokens else None,
                round(item.timing.duration or 0.0, 4),
                tokens_estimated=estimated,
            )
        )
        self.streamed.reset()
        self.streamed_text = None  # the next step's text is its own (a failed parse left none)
        if (
            not item.is_final_answer
            and step < self.max_steps
            and not (self.stop is not None and self.stop.is_set())
        ):
            self.current = step + 1
            found.append(ev.StepStarted(self.current))
        return found

    def finish(self) -> str:
        """The status of a stream that ended by itself: "max_steps" when the step limit ended it."""
        last = self.agent.memory.steps[-1] if self.agent.memory.steps else None
        if last is None or not isinstance(getattr(last, "error", None), AgentMaxStepsError):
            return "success"
        if last.token_usage is not None:
            self.usage["input_tokens"] += last.token_usage.input_tokens
            self.usage["output_tokens"] += last.token_usage.output_tokens
        return "max_steps"

    def failed_step(self) -> int | None:
        """The step a model failure belongs to: one that ended without code, else none."""
        if self.emitted_steps and max(self.emitted_steps) not in self.shown_code:
            return max(self.emitted_steps)
        return None


class StreamedText:
    """The running step's text as the model streams it, released in pieces that never hold part of a secret.

    Each piece is cut from the text with every secret masked, and the last (longest secret - 1) characters are
    held back: a key split over two deltas is masked before any of it is released.
    """

    def __init__(self, secrets: Sequence[str] = ()):
        self.secrets = [secret for secret in secrets if secret]
        self.hold = max((len(secret) for secret in self.secrets), default=1) - 1
        self.text = ""  # everything streamed in this step, unmasked (for splitting the thought from the code)
        self._released = 0

    def reset(self) -> None:
        self.text, self._released = "", 0

    def add(self, piece: str) -> str:
        """Takes a delta; returns what may be shown now (maybe "")."""
        self.text += piece
        masked = self.text
        for secret in self.secrets:
            masked = masked.replace(secret, "***")
        end = len(masked) - self.hold
        released = masked[self._released : end] if end > self._released else ""
        self._released = max(self._released, end)
        return released


def _drive(
    agent: MultiStepAgent,
    model: RecordingModel,
    task: str,
    max_steps: int,
    analysis: Analysis,
    stop: threading.Event | None,
    drawn: list[dict[str, Any]],
    reset: bool = True,
    managed: ManagedStepRecorder | None = None,
    secrets: Sequence[str] = (),
) -> Iterator[ev.Event]:
    """Iterates the agent's stream and translates it into events (`reset=False`: a follow-up in the same memory).

    Two kinds of failure are kept apart: the agent loop's (the model or its provider: "the model failed") and the
    translation's (our own code: an internal error, said as such).
    """
    executor = getattr(agent, "python_executor", None)
    figures = None
    # Only the in-process executor runs the agent's code in this process; a worker captures fig.show() itself.
    if executor is not None and not hasattr(executor, "take_figures"):
        install_show_capture()
        figures = FigureCollector()
    translator = _Translator(agent, model, max_steps, stop, drawn, figures, managed, secrets)
    started = time.perf_counter()
    status, run_error = "success", None
    yield ev.StepStarted(translator.current)
    stream = agent.run(task, stream=True, reset=reset, max_steps=max_steps)
    # With a change-log agent, its steps happen inside one of the analyst's steps: the stream is read in a thread,
    # in lockstep, so they can be shown as they finish rather than when the calling step ends.
    items = _lockstep(stream, managed) if managed is not None else _direct(stream)
    try:
        while True:
            try:
                is_item, item = next(items)
            except StopIteration:
                break
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
                    yield ev.StepError(translator.failed_step(), run_error)
                break
            try:
                found = translator.events(item) if is_item else translator.managed_steps(translator.current)
            except Exception as error:  # our bug, not the model's: said so, and the run ends here
                status, run_error = "error", internal_error(error)
                yield ev.StepError(translator.current, run_error)
                break
            yield from found
            # The consumer ran while we were suspended at a yield: a stop it asked for must land before the
            # agent starts another step (smolagents checks the switch at the top of each step).
            if stop is not None and stop.is_set():
                agent.interrupt()
        if status == "success":
            try:
                status = translator.finish()
            except Exception as error:  # ours as well
                status, run_error = "error", internal_error(error)
    finally:
        items.close()  # type: ignore[attr-defined]  # a generator: ends the agent's stream (lockstep: from its thread)

    usage = translator.usage
    usage["duration_s"] = round(time.perf_counter() - started, 4)
    if translator.has_final:
        final_value = translator.final_value
        value = jsonable(final_value) if not isinstance(final_value, str) else final_value
        yield ev.FinalAnswer(answer_text(final_value), value)
        check = next((c for c in agent.final_answer_checks if isinstance(c, ClaimCheck)), None)
        result = verify(final_value, analysis, check.lexicon if check is not None else None)
        yield ev.Verification(
            result["checked"], result["mismatches"], result["claims"], result["coverage"], status
        )
    yield ev.RunFinished(status, usage, run_error)
