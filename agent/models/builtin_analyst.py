"""The built-in analyst: a deterministic, rule-based smolagents model. It is not an LLM.

It reads the task's schema and the observations of earlier steps, and writes the code a careful analyst would:
step 1 computes with the KPI tools and prints the tables; step 2 draws the charts and assembles the narrative
from the computed values, then calls `final_answer`. When its code fails it retries that step defensively, and
after a second failure it says so. The real smolagents loop parses and executes everything it writes.

What it writes is real Python: the helpers of `agent.models.analyst_steps` (and the follow-up functions of
`agent.models.builtin_followup`), written into the step from their source, then short lines that call the KPI
tools and those helpers with the task's names bound as literals (by `repr`, so a column name is never code).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smolagents.models import ChatMessage, MessageRole, Model
from smolagents.monitoring import TokenUsage

from agent.models import analyst_change_log as change_log_steps
from agent.models import analyst_steps as steps
from agent.models.builtin_followup import answer_focus, find_focus, focus_parts, slice_name, words_of
from agent.models.tokens import count_tokens, preload
from agent.run.prompt import DEFAULT_QUESTION, TASK_PREFIX, ParsedTask, parse_task, task_positions
from tools.numbers import amount

FOLLOW_UP_FUNCTIONS = (words_of, find_focus, focus_parts, slice_name, answer_focus)

BUILTIN_MODEL_ID = "builtin-analyst"
BUILTIN_LABEL = "Built-in analyst (rule-based, not an LLM)"
_PHASE = re.compile(r"^# phase: (\w[\w-]*)", re.MULTILINE)
MAX_STEPS_REQUEST = "Based on the above, please provide an answer"


def message_text(message: ChatMessage | dict[str, Any]) -> tuple[str, str]:
    """(role, text) of a chat message, whatever shape its content has."""
    role = message.role if isinstance(message, ChatMessage) else message.get("role", "")
    content = message.content if isinstance(message, ChatMessage) else message.get("content")
    if isinstance(content, list):
        content = "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(getattr(role, "value", role)), content or ""


@dataclass
class _History:
    """What happened so far, read from the conversation."""

    task: ParsedTask | None
    phases: list[str]  # phase of each earlier step, in order
    failed: list[bool]  # whether each earlier step ended in an error
    observations: list[str]  # what each earlier step printed
    follow_up: str | None = None  # the question of a later turn in the same conversation

    @property
    def errors_in_a_row(self) -> int:
        count = 0
        for failed in reversed(self.failed):
            if not failed:
                break
            count += 1
        return count


def read_history(messages: list[ChatMessage | dict[str, Any]]) -> _History:
    """Splits the conversation into the task and the current turn's phases, errors and observations.

    A follow-up question arrives as a later "New task:" message in the same memory: the schema comes from the
    first task, the question and the steps from the latest one.
    """
    texts = [message_text(m) for m in messages]
    tasks = task_positions(texts)
    task_text = texts[tasks[0]][1] if tasks else ""
    follow_up = None
    if len(tasks) > 1:
        follow_up = texts[tasks[-1]][1][len(TASK_PREFIX) :].strip()
        texts = texts[tasks[-1] :]
    phases: list[str] = []
    failed: list[bool] = []
    observations: list[str] = []
    for role, text in texts:
        if role == "assistant":
            found = _PHASE.search(text)
            phases.append(found.group(1) if found else "unknown")
            failed.append(False)
            observations.append("")
        elif role == "tool-response" and phases:
            if "Error:\n" in text:
                failed[-1] = True
            observations[-1] += text
    return _History(parse_task(task_text), phases, failed, observations, follow_up)


class BuiltinAnalyst(Model):
    """A deterministic analyst that writes pandas and KPI-tool code. Rule-based, not an LLM; needs no network."""

    label = BUILTIN_LABEL
    rule_based = True  # token counts are computed here
    answers = "code"  # the agent kind it writes for

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(model_id=BUILTIN_MODEL_ID, **kwargs)
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
        if tools_to_call_from:
            raise NotImplementedError("The built-in analyst writes code; it has no tool-calling mode yet.")
        history = read_history(messages)
        last_role, last_text = message_text(messages[-1]) if messages else ("", "")
        if stop_sequences and "<end_plan>" in stop_sequences:  # a planning step (planning_interval)
            planned = parse_task(next((t for _, t in map(message_text, messages) if "## Data" in t), ""))
            output = change_log_steps.plan_text(bool(planned and planned.change_log)) + "\n<end_plan>"
        elif last_role == "user" and last_text.startswith(MAX_STEPS_REQUEST):
            output = _max_steps_answer(history)
        else:
            output = next_step(history)
        usage = TokenUsage(input_tokens=count_tokens(prompt), output_tokens=count_tokens(output))
        return ChatMessage(role=MessageRole.ASSISTANT, content=output, token_usage=usage)


def next_step(history: _History) -> str:
    """The Thought and code of the next step, given what happened so far."""
    task = history.task
    if task is None:
        return _step(
            "The task has no KPI Narrator data block, so I can only describe the table I was given.",
            "# phase: unsupported\n"
            'final_answer("The built-in analyst only answers KPI Narrator tasks (a `## Data` block describing '
            '`df`). Use an LLM model for free-form questions.")',
        )
    if history.errors_in_a_row >= 2:
        return _step(
            "My code failed twice in a row, so I stop here rather than guess; the trace shows the errors.",
            "# phase: give-up\n"
            'final_answer("The built-in analyst could not finish: its code failed twice (see the errors in the '
            'trace). The tables and figures from the engine are still valid.")',
        )
    done = [p for p, failed in zip(history.phases, history.failed) if not failed]
    retry = bool(history.failed) and history.failed[-1]
    if history.follow_up is not None:
        return _follow_up_step(task, history.follow_up)
    if "compute" not in done:
        return _compute_step(task, safe=retry)
    if task.change_log and change_log_steps.CHANGE_LOG_PHASE not in done:
        return _change_log_step(task)
    lead = _lead_dimension(history, task)
    return _report_step(task, lead, safe=retry)


def _follow_up_step(task: ParsedTask, question: str) -> str:
    """A follow-up in one step: find what the question names in `df`, break it down, answer; or say plainly that
    the question is beyond a rule-based analyst."""
    top = next((int(w) for w in re.findall(r"\b(?:top|first|largest)\s+(\d{1,2})\b", question.lower())), 3)
    metrics = [task.metric, *task.other_metrics]
    glue = [
        f"question = {question!r}",
        f"lines = answer_focus(df, question, metric={task.metric!r}, dimensions={task.dimensions!r}, top={top}, "
        f"metrics={metrics!r})",
        "if lines is None:",
        f"    final_answer({BEYOND_BUILTIN!r})",
        "else:",
        "    final_answer('\\n'.join(lines).strip())",
    ]
    thought = (
        "I look in `df` for the segments, dimensions or metric this question names, and break them down with "
        "the KPI tools; if it names none, I say so rather than answer another question."
    )
    return _step(thought, _code("follow-up", [amount, *FOLLOW_UP_FUNCTIONS], glue))


# Words of a question about the change itself: such a question is answered by the summary.
_CHANGE_WORDS = set(
    "change changed changes drop dropped drops fell fall rise rose grew grow growth decline declined increase "
    "increased decrease decreased why drove driver drivers explain happened moved move up down differ difference "
    "compare summary".split()
)


def _question_code(task: ParsedTask) -> tuple[list[Callable[..., Any]], list[str]]:
    """The user's own question, answered: the segments or dimension it names broken down first; a question about
    nothing this analyst can compute is said to be beyond it, never answered with another question's summary.

    Returns the helpers it needs and its lines of code."""
    question = task.question.strip()
    if not question or question == DEFAULT_QUESTION.format(metric=task.metric):
        return [], []
    words = set(re.findall(r"[a-z0-9]+", question.lower()))
    about_change = bool(
        words & (_CHANGE_WORDS | {task.metric.lower(), *(m.lower() for m in task.ratio or ())})
    )
    glue = [
        f"question = {question!r}",
        f"focus_lines = answer_focus(df, question, metric={task.metric!r}, dimensions={task.dimensions!r}, top=3)",
        "if focus_lines is not None:",
        "    lines = with_focus_first(lines, focus_lines)",
    ]
    if not about_change:
        glue += ["else:", f"    lines = [{BEYOND_BUILTIN!r}]"]
    return [amount, *FOLLOW_UP_FUNCTIONS, steps.with_focus_first], glue


BEYOND_BUILTIN = (
    "The built-in analyst answers questions that name segments of this file (such as a country or a platform), "
    "a dimension, or the top few changes; this question names none of them, so it is beyond a rule-based analyst. "
    "Ask it with an LLM model."
)


def _step(thought: str, code: str) -> str:
    return f"Thought: {thought}\n<code>\n{code}\n</code>"


def _lead_dimension(history: _History, task: ParsedTask) -> str | None:
    """The dimension of the slice that explains most of the change, as printed by the compute step."""
    for observation in reversed(history.observations):
        found = re.search(r"^lead dimensions: (.*)$", observation, flags=re.MULTILINE)
        if found:
            named = [d.strip() for d in found.group(1).split(",")]
            # Only names the schema knows are used: the observation holds data, never code.
            for dimension in named:
                if dimension in task.dimensions:
                    return dimension
    return task.dimensions[0] if task.dimensions else None


def _focus(task: ParsedTask) -> list[str]:
    """Dimensions ordered with those the question mentions first."""
    question = task.question.lower()
    mentioned = [d for d in task.dimensions if d.lower() in question]
    return mentioned + [d for d in task.dimensions if d not in mentioned]


def _guarded(code: str, fallback: str, what: str, safe: bool) -> str:
    """Code as is, or wrapped in try/except when retrying after an error."""
    if not safe:
        return code
    body = "\n".join("    " + line for line in code.splitlines())
    return f'try:\n{body}\nexcept Exception as error:\n    {fallback}\n    print(f"{what} failed: {{error}}")'


def _code(phase: str, helpers: list[Callable[..., Any]], glue: list[str], imports: str = "") -> str:
    """A step's code: its phase, imports, the helpers it uses (each once, from their source), then its lines."""
    unique = list(dict.fromkeys(helpers))
    parts = [f"# phase: {phase}", *([imports] if imports else [])]
    if unique:
        parts.append(steps.sources_of(*unique) + "\n")
    return "\n".join([*parts, *glue])


def _compute_step(task: ParsedTask, safe: bool) -> str:
    """Step 1: totals, each dimension's segments, the slices that explain the change (and a ratio's effects), all
    printed so the next step and the reader can check them."""
    dimensions = _focus(task)
    helpers: list[Callable[..., Any]] = [steps.show_totals]
    glue = [
        f"metric = {task.metric!r}",
        f"dimensions = {dimensions!r}",
        "totals = metric_totals(df, metric=metric)",
        "show_totals(metric, totals)",
        "changes = {}",
    ]
    if dimensions:
        helpers += [steps.show_changes, steps.show_slices]
        each_dimension = (
            "for dimension in dimensions:\n"
            "    changes[dimension] = segment_changes(df, metric=metric, dimension=dimension)\n"
            "    show_changes(changes[dimension], dimension)"
        )
        glue.append(_guarded(each_dimension, "pass", "segment_changes", safe))
        slices = "slices = top_slices(df, metric=metric, dimensions=dimensions, top=5)\nshow_slices(slices)"
        glue.append(_guarded(slices, "slices = None", "top_slices", safe))
    else:
        glue.append("slices = None")
    if task.ratio:
        helpers.append(steps.show_rate_mix)
        numerator, denominator = task.ratio
        ratio_dimension = dimensions[0] if dimensions else None
        glue += [
            f"numerator, denominator = {numerator!r}, {denominator!r}",
            "volumes = {name: metric_totals(df, metric=name) for name in (numerator, denominator)}",
        ]
        effects = (
            f"effects = rate_mix_effects(df, numerator=numerator, denominator=denominator, "
            f"dimension={ratio_dimension!r})\n"
            f"show_rate_mix(effects, numerator, denominator, {ratio_dimension!r})"
        )
        glue.append(_guarded(effects, "effects = None", "rate_mix_effects", safe))
    what = "rate and mix effects" if task.ratio else "each segment's share of the change"
    thought = (
        f"I will compute the total change of {task.metric} and {what} with the KPI tools on `df`, "
        f"by {', '.join(dimensions) or 'the whole table'}, and rank the slices that explain it. "
        "I print the tables so I can check them before writing anything."
    )
    if safe:
        thought = (
            "My last code failed. I run the same computation again, guarding each part, so one failing "
            "tool does not stop the others, and I note what could not be computed."
        )
    return _step(thought, _code("compute", helpers, glue))


def _change_log_step(task: ParsedTask) -> str:
    """Between the two steps when the run has a change log: the managed change-log agent is asked what changed for
    each driving slice in the later window (and which tracking changes touch the compared range)."""
    helpers: list[Callable[..., Any]] = [change_log_steps.driving_slices, change_log_steps.ask_change_log]
    suffix = change_log_steps.question_suffix(task.windows)
    glue = [
        "drivers = driving_slices(slices)",
        f"change_log_answers = ask_change_log(drivers, {suffix!r}, change_log)",
    ]
    thought = (
        "Before I write why, I ask the change-log agent what changed for each driving segment in the later window, "
        "and which tracking or data changes could explain the move instead."
    )
    return _step(thought, _code(change_log_steps.CHANGE_LOG_PHASE, helpers, glue))


def _report_step(task: ParsedTask, lead: str | None, safe: bool) -> str:
    """Step 2: the charts, then the summary worded by the helpers from the tables step 1 computed."""
    helpers: list[Callable[..., Any]] = []
    glue: list[str] = []
    if task.ratio:
        # A ratio is explained along the dimension its rate and mix effects were split by.
        lead = _focus(task)[0] if task.dimensions else None
    if lead:
        if task.ratio:
            charts = (
                "if effects is not None:\n"
                "    fig_rate_mix = rate_mix_chart(effects, title=f'{numerator} / {denominator}: rate and mix, "
                "by {main}')\n"
                "if table is not None:\n"
            )
        else:
            charts = (
                "if table is not None:\n"
                "    fig_waterfall = waterfall_chart(table, dimension=main, before_total=totals['before'], "
                "after_total=totals['after'], title=f'{metric}: before to after, by {main}')\n"
            )
        charts += "    fig_drivers = change_chart(table, dimension=main, title=f'{metric} change by {main}')"
        glue += [f"main = {lead!r}", "table = changes.get(main)", _guarded(charts, "pass", "charts", safe)]
    else:
        glue += ["main = None", "table = None"]
    # The headline driver gets its own charts when it is a 2-dimension slice (Germany × Android): where it sits
    # among its neighbours, and which pairs moved out of proportion to their size.
    helpers += [amount, steps.lead_pair]
    pair_charts = (
        "pair = lead_pair(slices)\n"
        "if pair:\n"
        "    fig_pair = change_heatmap(df, metric=metric, rows=pair[0], columns=pair[1], "
        "title=f'{metric} change by {pair[0]} and {pair[1]}')\n"
        "    fig_size = size_change_chart(df, metric=metric, dimensions=pair, "
        "title=f'{metric}: size vs change, {pair[0]} × {pair[1]}')"
    )
    glue.append(_guarded(pair_charts, "pass", "pair charts", safe))
    if task.ratio:
        helpers += [steps.rate_headline_lines, steps.by_size_of, steps.rate_mix_lines, steps.rate_caveats]
        glue.append("lines = rate_headline_lines(effects, numerator, denominator)")
    else:
        helpers += [steps.headline_lines, steps.driver_lines, steps.segment_caveats]
        glue.append("lines = headline_lines(metric, totals, slices)")
    if task.scenario:
        # A scenario file: the first line says which scenario every figure comes from.
        glue.append(f"lines[0] = {f'Scenario `{task.scenario}`: '!r} + lines[0]")
    if task.ratio:
        glue.append("lines += rate_mix_lines(effects, volumes, numerator, denominator)")
    else:
        glue.append("lines += driver_lines(table, main, metric)")
    if task.windows:
        # A time series: when in the later window the change happened, from `daily` (dates as ISO dates).
        earlier, later = task.windows
        helpers.append(steps.timing_lines)
        glue += [
            f"timing = change_timing(daily, metric=metric, earlier={earlier!r}, later={later!r})",
            "lines += timing_lines(timing, daily, totals)",
        ]
    glue.append(
        "caveats = rate_caveats(effects)"
        if task.ratio
        else "caveats = segment_caveats(table, main, metric, totals)"
    )
    if task.ratio:
        helpers.append(change_log_steps.mix_tracking_caveats)
        glue.append("caveats += mix_tracking_caveats(effects)")
    if task.change_log:
        # Events the change-log agent matched (or "no known event"), and tracking changes as caveats.
        helpers += [change_log_steps.why_lines, change_log_steps.change_log_causes]
        glue += [
            "why, tracking = change_log_causes(change_log_answers)",
            "lines += why",
            "caveats += tracking",
        ]
    if task.warnings:
        warning = f"Loading the file needed {task.warnings} fix(es) or assumption(s); see the warnings."
        glue.append(f"caveats.append({warning!r})")
    helpers.append(steps.caveat_lines)
    glue.append("lines += caveat_lines(caveats)")
    question_helpers, question_glue = _question_code(task)
    helpers += question_helpers
    glue += [*question_glue, 'summary = "\\n".join(lines)', "final_answer(summary)"]
    thought = (
        f"The tables above give the totals{' and the rate/mix split' if task.ratio else ''}; "
        f"the change is best read along {lead or 'no dimension'}. I chart it and write the summary only from the "
        "computed variables."
    )
    if safe:
        thought = (
            "My last code failed. I write the summary again, guarding the charts, from the variables "
            "that were computed."
        )
    imports = "import pandas as pd\nimport re" if task.change_log else "import pandas as pd"
    return _step(thought, _code("report", helpers, glue, imports=imports))


def _max_steps_answer(history: _History) -> str:
    """What the analyst says when the step limit stops it: only what the trace already printed."""
    first_lines = [obs.split("Execution logs:\n", 1)[-1].strip().splitlines() for obs in history.observations]
    printed = next((lines[0] for lines in first_lines if lines), "")
    summary = "The step limit stopped the analysis before the summary was written."
    return f"{summary} What was computed: {printed}" if printed else summary
