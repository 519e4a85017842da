"""The event stream of a run. The terminal, `--json`, the tests and the page all consume these, nothing else.

Every event is a small dataclass that turns into a JSON-able dict (`to_dict`) and back (`event_from_dict`), so a
recorded run replays exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from tools.facts import Analysis


@dataclass
class Event:
    """Base of all events. `type` names the kind in dicts and JSON."""

    type: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}


@dataclass
class RunStarted(Event):
    """A run begins: which model and agent, the task text sent to the model, the file's layout."""

    type: ClassVar[str] = "run_started"
    model: str
    agent: str
    question: str
    task: str
    dataset: dict[str, Any]


@dataclass
class DataWarning(Event):
    """Something the user should know: a row left out, an assumption made."""

    type: ClassVar[str] = "warning"
    message: str


@dataclass
class AnalysisReady(Event):
    """The engine's deterministic figures (totals, breakdowns, slices, ratio), before the agent starts."""

    type: ClassVar[str] = "analysis"
    analysis: Analysis


@dataclass
class StepStarted(Event):
    type: ClassVar[str] = "step_started"
    step: int


@dataclass
class Thought(Event):
    type: ClassVar[str] = "thought"
    step: int
    text: str


@dataclass
class TextDelta(Event):
    """A piece of the model's text as it streams in (an LLM with streaming): the page shows the running step's
    text growing. The step's Thought and Code events follow with the whole text, so folding may ignore these."""

    type: ClassVar[str] = "text_delta"
    step: int
    text: str


@dataclass
class Code(Event):
    type: ClassVar[str] = "code"
    step: int
    code: str


@dataclass
class Observation(Event):
    type: ClassVar[str] = "observation"
    step: int
    text: str


@dataclass
class StepError(Event):
    """An error in a step (the run goes on), or of the whole run when `step` is None."""

    type: ClassVar[str] = "error"
    step: int | None
    message: str


@dataclass
class Chart(Event):
    """A plotly figure the agent's code made, as plotly JSON."""

    type: ClassVar[str] = "chart"
    step: int
    index: int
    title: str
    figure: dict[str, Any]


@dataclass
class StepFinished(Event):
    type: ClassVar[str] = "step_finished"
    step: int
    input_tokens: int | None
    output_tokens: int | None
    duration_s: float
    tokens_estimated: bool = False


@dataclass
class FinalAnswer(Event):
    """The agent's answer: `text` is the narrative; `value` is the answer as returned (text or structure)."""

    type: ClassVar[str] = "final_answer"
    text: str
    value: Any = None


@dataclass
class Verification(Event):
    """Every claim of the final answer checked against the engine (`tools.verification.verify`).

    checked: every claim (the older name); mismatches: the flagged ones; claims: every claim with its entity, kind,
    verdict and the engine figure; coverage: total change stated, top driver named; run_status: how the run ended.
    """

    type: ClassVar[str] = "verification"
    checked: list[dict[str, Any]] = field(default_factory=list)
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    claims: list[dict[str, Any]] = field(default_factory=list)
    coverage: dict[str, Any] = field(default_factory=dict)
    run_status: str | None = None


@dataclass
class RunFinished(Event):
    """The run is over. status: success, max_steps, error or stopped."""

    type: ClassVar[str] = "run_finished"
    status: str
    usage: dict[str, Any]
    error: str | None = None


@dataclass
class TurnStarted(Event):
    """A follow-up question in the same conversation: the agent keeps its memory and variables. Every event after
    it, up to its own RunFinished, belongs to this turn (its steps count from 1 again)."""

    type: ClassVar[str] = "turn_started"
    turn: int
    question: str
    task: str = ""


@dataclass
class ManagedStep(Event):
    """A step of a managed agent (the change-log agent), nested under the analyst's step that called it.

    kind: "ask" (the analyst's question, in `observation`), "plan" (a planning step, the plan in `thought`) or
    "action" (`number` is the managed agent's own step number; `call` its tool call(s)). call_index counts the
    analyst's calls to the agent in this run (1, 2, ...).
    """

    type: ClassVar[str] = "managed_step"
    step: int
    agent: str
    kind: str
    number: int | None = None
    thought: str | None = None
    call: str | None = None
    observation: str | None = None
    error: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    duration_s: float = 0.0
    call_index: int = 1


@dataclass
class Plan(Event):
    """A planning step of the analyst (smolagents `planning_interval`): the plan, shown before step `step`."""

    type: ClassVar[str] = "plan"
    step: int
    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        RunStarted,
        DataWarning,
        AnalysisReady,
        StepStarted,
        Thought,
        TextDelta,
        Code,
        Observation,
        StepError,
        Chart,
        StepFinished,
        FinalAnswer,
        Verification,
        RunFinished,
        TurnStarted,
        ManagedStep,
        Plan,
    )
}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuilds an event from `Event.to_dict()` output (for replaying a recorded run)."""
    cls = EVENT_TYPES.get(data.get("type", ""))
    if cls is None:
        raise ValueError(f"unknown event type {data.get('type')!r}")
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
