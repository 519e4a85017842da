"""The built-in analyst's tool-calling counterpart: rule-based (not an LLM), one JSON tool call per step.

It calls the dataset-bound tools in a fixed order, reads each JSON observation, and writes the final answer from
the numbers it read, as a tool-calling LLM has to (it cannot keep a table in a variable).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from smolagents.models import (
    ChatMessage,
    ChatMessageToolCall,
    ChatMessageToolCallFunction,
    MessageRole,
    Model,
)
from smolagents.monitoring import TokenUsage

from agent.models.analyst_change_log import change_log_question, why_lines
from agent.models.builtin_analyst import MAX_STEPS_REQUEST, message_text
from agent.models.tokens import count_tokens, preload
from agent.run.prompt import ParsedTask, parse_task, task_positions
from tools.numbers import amount

BUILTIN_TOOL_CALLER_ID = "builtin-analyst-tool-calling"
BUILTIN_TOOL_CALLER_LABEL = "Built-in analyst, tool-calling (rule-based, not an LLM)"


def _plan(task: ParsedTask) -> list[tuple[str, dict[str, Any]]]:
    """The tool calls, in order, that gather what the answer needs."""
    calls: list[tuple[str, dict[str, Any]]] = [("metric_totals", {"metric": task.metric})]
    calls += [("segment_changes", {"metric": task.metric, "dimension": d}) for d in task.dimensions]
    if task.dimensions:
        calls.append(("top_slices", {"metric": task.metric, "dimensions": task.dimensions}))
    if task.ratio and task.dimensions:
        numerator, denominator = task.ratio
        arguments = {"numerator": numerator, "denominator": denominator, "dimension": task.dimensions[0]}
        calls.append(("rate_mix_effects", arguments))
    if task.change_log and task.dimensions:
        # The question is written from the top_slices answer (`_ask_change_log`).
        calls.append(("change_log", {}))
    if task.dimensions:
        calls.append(("change_chart", {"metric": task.metric, "dimension": task.dimensions[0]}))
    return calls


def _ask_change_log(task: ParsedTask, observations: list[str]) -> dict:
    """The managed change-log agent's question about the leading slice the tools returned."""
    found = [_json(o) for o in observations]
    slices = next((f for f in found if isinstance(f, list) and f and "label" in f[0]), None)
    lead = slices[0] if slices else None
    if lead is None:
        return {"task": "What changed? List tracking or data changes too."}
    # The tool answers with the slice as its label, `country=France × customer=new customers`.
    scope = lead.get("slice") if isinstance(lead.get("slice"), dict) else None
    if scope is None:
        parts = [p.split("=", 1) for p in str(lead.get("label", "")).split(" × ")]
        scope = {k.strip(): v.strip() for k, v in (p for p in parts if len(p) == 2)}
    return {"task": change_log_question(str(lead.get("segment")), scope, task.windows)}


def tool_observations(messages: list[ChatMessage | dict[str, Any]]) -> list[str]:
    """What the tools answered so far, in order (the rule-based tool callers plan from how many there are)."""
    texts = [message_text(m) for m in messages]
    return [text.split("Observation:\n", 1)[-1] for role, text in texts if role == "tool-response"]


def tool_call_reply(prompt: str, content: str, call: tuple[str, dict[str, Any]] | None) -> ChatMessage:
    """A rule-based tool caller's reply: its text, the one tool call (if any), and tokens counted here."""
    tool_calls = None
    if call is not None:
        function = ChatMessageToolCallFunction(name=call[0], arguments=call[1])
        tool_calls = [
            ChatMessageToolCall(id=f"call_{uuid.uuid4().hex[:8]}", type="function", function=function)
        ]
    output = content + (f"\n{json.dumps({'name': call[0], 'arguments': call[1]})}" if call else "")
    usage = TokenUsage(input_tokens=count_tokens(prompt), output_tokens=count_tokens(output))
    return ChatMessage(role=MessageRole.ASSISTANT, content=content, tool_calls=tool_calls, token_usage=usage)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None


def _narrative(task: ParsedTask, observations: list[str]) -> str:
    """The answer, written from the numbers the tools returned."""
    found = [_json(o) for o in observations]
    totals = next((f for f in found if isinstance(f, dict) and "abs_change" in f), None)
    if totals is None:
        return "The tools returned no totals, so there is nothing to report."
    change, pct = totals["abs_change"], totals.get("pct_change")
    verb = "rose" if change > 0 else "fell" if change < 0 else "did not change"
    pct_text = "new" if pct is None else f"{abs(pct):.2f}%"
    name = task.metric[:1].upper() + task.metric[1:]  # VOLUME stays VOLUME
    lines = [
        f"**{name} {verb} {pct_text}**, from {amount(totals['before'])} to {amount(totals['after'])} "
        f"({amount(change, True)})."
    ]
    slices = next((f for f in found if isinstance(f, list) and f and "label" in f[0]), None)
    if slices and slices[0].get("contribution_pct") is not None:
        lead = slices[0]
        lines.append(
            f"The change sits in **{lead['segment']}**: {amount(lead['abs_change'], True)}, "
            f"{lead['contribution_pct']:.2f}% of the total change."
        )
    ratio = next((f for f in found if isinstance(f, dict) and "mix_effect" in f), None)
    if ratio and task.ratio:
        effects = [
            f"mix effect {ratio['mix_effect'] * 100:+.2f} pp",
            f"rate effect {ratio['rate_effect'] * 100:+.2f} pp",
        ]
        if abs(ratio["rate_effect"]) > abs(ratio["mix_effect"]):
            effects.reverse()  # the larger effect first
        lines.append(
            f"{task.ratio[0]} / {task.ratio[1]} went from {ratio['before']:.2%} to {ratio['after']:.2%}: "
            f"{', '.join(effects)}."
        )
    dimension = task.dimensions[0] if task.dimensions else None
    rows = (
        next((f for f in found if isinstance(f, list) and f and dimension in f[0]), None)
        if dimension
        else None
    )
    if rows:
        lines += ["", f"Top drivers by {dimension}:"]
        for row in rows[:3]:
            row_pct = "new" if row.get("pct_change") is None else f"{row['pct_change']:+.2f}%"
            share = (
                ""
                if row.get("contribution_pct") is None
                else f", {row['contribution_pct']:.2f}% of the change"
            )
            lines.append(f"- {row[dimension]}: {amount(row['abs_change'], True)} ({row_pct}){share}")
    report = next((o for o in observations if "Possible causes" in o), None)
    if report is not None and slices:
        why, caveats = why_lines(report, str(slices[0].get("segment")), slices[0].get("pct_change"))
        lines += ["", "Why (from the change log):", *why]
        if caveats:
            lines += ["", "Caveats:", *(f"- {c}" for c in caveats)]
    return "\n".join(lines)


FOLLOW_UP_ANSWER = (
    "The built-in tool-calling agent answers the first question only, with a fixed plan of tool calls. Ask "
    "follow-up questions with the code agent or an LLM model."
)


class BuiltinToolCaller(Model):
    """Deterministic tool-calling analyst: one tool call per step, then `final_answer`. Not an LLM."""

    label = BUILTIN_TOOL_CALLER_LABEL
    rule_based = True  # token counts are computed here
    answers = "tool-calling"  # the agent kind it writes for

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(model_id=BUILTIN_TOOL_CALLER_ID, **kwargs)
        preload()  # the tokenizer loads while the engine analyses the file

    def generate(
        self,
        messages: list[ChatMessage | dict[str, Any]],
        stop_sequences: list[str] | None = None,
        response_format: dict[str, Any] | None = None,
        tools_to_call_from: list[Any] | None = None,
        **kwargs: Any,
    ) -> ChatMessage:
        prompt = "\n".join(text for _, text in map(message_text, messages))
        texts = [message_text(m) for m in messages]
        tasks = task_positions(texts)
        task = parse_task(texts[tasks[0]][1] if tasks else "")
        observations = tool_observations(messages)
        if texts and texts[-1][0] == "user" and texts[-1][1].startswith(MAX_STEPS_REQUEST):
            content, call = (
                "The step limit stopped the analysis. " + (_narrative(task, observations) if task else ""),
                None,
            )
        elif task is None:
            content, call = (
                "This is not a KPI Narrator task.",
                ("final_answer", {"answer": "Not a KPI task."}),
            )
        elif len(tasks) > 1:
            # A follow-up: this rule-based caller plans the first question only; it says so, never repeats it.
            content, call = (
                "A follow-up question: beyond my fixed plan.",
                ("final_answer", {"answer": FOLLOW_UP_ANSWER}),
            )
        else:
            plan = _plan(task)
            done = len(observations)
            if done < len(plan):
                name, arguments = plan[done]
                if name == "change_log":
                    arguments = _ask_change_log(task, observations)
                content, call = f"Next I call {name} to get {re.sub('_', ' ', name)}.", (name, arguments)
            else:
                content = "I have every figure I need; I write the answer from the tool outputs."
                call = ("final_answer", {"answer": _narrative(task, observations)})
        return tool_call_reply(prompt, content, call)
