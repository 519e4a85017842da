"""Folds the event stream into the run's result: the `--json` contract, also what the page keeps and saves."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from agent.run import events as ev
from tools.facts import Analysis


class TurnStepJson(TypedDict):
    """A step as each turn of `RunResult.to_json()["turns"]` writes it. None: the step had none (yet)."""

    number: int
    thought: str | None
    code: str | None
    observation: str | None
    error: str | None


class StepJson(TurnStepJson):
    """A step as `RunResult.to_json()["steps"]` writes it: with its tokens and seconds once it finished."""

    input_tokens: int | None
    output_tokens: int | None
    duration_s: float | None
    plan: str | None  # a planning step's plan, shown before the step (planning_interval)
    managed: list[dict[str, Any]]  # the change-log agent's steps, run inside this step


class Step(StepJson):
    """A step of the trace as the page draws it (`ui.parts.draw_steps`): also the indexes of its charts in
    `RunResult.charts`, and whether it finished (a running step is drawn with a spinner)."""

    charts: list[int]
    done: bool
    streamed: (
        str  # a streaming model's text so far (left out of the JSON: the thought and code hold it whole)
    )


@dataclass
class RunResult:
    """Everything a run produced, built only from its events (so a replay gives the same result)."""

    model: str = ""
    agent: str = ""
    question: str = ""
    dataset: dict[str, Any] = field(default_factory=dict)
    analysis: Analysis | dict[str, Any] = field(default_factory=dict)  # {} until the AnalysisReady event
    warnings: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    charts: list[dict[str, Any]] = field(default_factory=list)
    narrative: str | None = None
    answer: Any = None
    verification: dict[str, Any] | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    status: str = "running"
    error: str | None = None
    turns: list[RunResult] = field(default_factory=list)  # follow-up questions, each folded on its own

    def step(self, number: int) -> Step:
        """The step with this number, created on first use."""
        for existing in self.steps:
            if existing["number"] == number:
                return existing
        step: Step = {
            "number": number,
            "thought": None,
            "code": None,
            "observation": None,
            "error": None,
            "input_tokens": None,
            "output_tokens": None,
            "duration_s": None,
            "plan": None,
            "managed": [],
            "charts": [],
            "done": False,
            "streamed": "",
        }
        self.steps.append(step)
        return step

    def apply(self, event: ev.Event) -> None:
        """Updates the result with one event (a follow-up turn's events go to that turn's own result)."""
        if isinstance(event, ev.TurnStarted):
            self.turns.append(
                RunResult(
                    model=self.model,
                    agent=self.agent,
                    question=event.question,
                    dataset=self.dataset,
                    analysis=self.analysis,
                )
            )
            return
        if self.turns:
            self.turns[-1].apply(event)
            return
        if isinstance(event, ev.RunStarted):
            self.model, self.agent, self.question, self.dataset = (
                event.model,
                event.agent,
                event.question,
                event.dataset,
            )
        elif isinstance(event, ev.DataWarning):
            self.warnings.append(event.message)
        elif isinstance(event, ev.AnalysisReady):
            self.analysis = event.analysis
        elif isinstance(event, ev.StepStarted):
            self.step(event.step)
        elif isinstance(event, ev.Thought):
            self.step(event.step)["thought"] = event.text
        elif isinstance(event, ev.TextDelta):  # the model's text so far; its Thought and Code replace it
            self.step(event.step)["streamed"] += event.text
        elif isinstance(event, ev.Code):
            self.step(event.step)["code"] = event.code
        elif isinstance(event, ev.Observation):
            self.step(event.step)["observation"] = event.text
        elif isinstance(event, ev.StepError):
            if event.step is None:
                self.error = event.message
            else:
                self.step(event.step)["error"] = event.message
        elif isinstance(event, ev.Chart):
            self.charts.append(event.figure)
            self.step(event.step)["charts"].append(event.index)
        elif isinstance(event, ev.StepFinished):
            step = self.step(event.step)
            step["input_tokens"], step["output_tokens"] = event.input_tokens, event.output_tokens
            step["duration_s"], step["done"] = event.duration_s, True
        elif isinstance(event, ev.ManagedStep):
            record = event.to_dict()
            for key in ("type", "step"):
                record.pop(key)
            self.step(event.step)["managed"].append(record)
        elif isinstance(event, ev.Plan):
            self.step(event.step)["plan"] = event.text
        elif isinstance(event, ev.FinalAnswer):
            self.narrative, self.answer = event.text, event.value
        elif isinstance(event, ev.Verification):
            self.verification = {
                "checked": event.checked,
                "mismatches": event.mismatches,
                "claims": event.claims,
                "coverage": event.coverage,
                "run_status": event.run_status,
            }
        elif isinstance(event, ev.RunFinished):
            self.status, self.usage = event.status, event.usage
            if self.verification is not None:  # the badge is never green for a run that did not finish
                self.verification["run_status"] = event.status
            self.error = event.error
            # A step that started but never finished (a stop or a failure) is not part of the trace.
            self.steps = [
                s for s in self.steps if s["done"] or s["thought"] or s["code"] or s["error"] or s["managed"]
            ]

    def to_json(self) -> dict[str, Any]:
        """The `--json` contract. Figures in totals/breakdowns/top_slices/ratio are the engine's."""
        steps = [_step_json(s) for s in self.steps]
        return {
            "status": self.status,
            "error": self.error,
            "model": self.model,
            "agent": self.agent,
            "question": self.question,
            "dataset": self.dataset,
            "metric": self.analysis.get("metric"),
            "totals": self.analysis.get("totals"),
            "breakdowns": self.analysis.get("breakdowns"),
            "top_slices": self.analysis.get("top_slices"),
            "ratio": self.analysis.get("ratio"),
            "timing": self.analysis.get("timing"),
            "omitted": self.analysis.get("omitted"),  # what each cut table left out (count and sums)
            # The change log (`--events`): the events loaded, and those matched to the drivers by the engine.
            "events": (self.analysis.get("change_log") or {}).get("events"),
            "causes": (self.analysis.get("change_log") or {}).get("causes"),
            "narrative": self.narrative,
            "answer": self.answer,
            "steps": steps,
            "charts": self.charts,
            "verification": self.verification or {"checked": [], "mismatches": [], "claims": []},
            "warnings": self.warnings + list(self.analysis.get("notes") or []),
            "usage": self.usage,
            # Every turn of the conversation, the first included: question, answer, steps, verification.
            "turns": [self._turn_json()] + [turn._turn_json() for turn in self.turns],
        }

    def _turn_json(self) -> dict[str, Any]:
        steps = [_turn_step_json(s) for s in self.steps]
        return {
            "question": self.question,
            "narrative": self.narrative,
            "status": self.status,
            "error": self.error,
            "steps": steps,
            "verification": self.verification or {"checked": [], "mismatches": [], "claims": []},
        }


def _turn_step_json(step: Step) -> TurnStepJson:
    return {
        "number": step["number"],
        "thought": step["thought"],
        "code": step["code"],
        "observation": step["observation"],
        "error": step["error"],
    }


def _step_json(step: Step) -> StepJson:
    return {
        **_turn_step_json(step),
        "input_tokens": step["input_tokens"],
        "output_tokens": step["output_tokens"],
        "duration_s": step["duration_s"],
        "plan": step["plan"],
        "managed": step["managed"],
    }


def collect(events: Iterable[ev.Event]) -> RunResult:
    """Consumes an event iterable and returns the finished result."""
    result = RunResult()
    for event in events:
        result.apply(event)
    return result
