"""The built-in analyst: a deterministic, rule-based smolagents model. It is not an LLM.

It reads the task's schema and the observations of earlier steps, and writes the code a careful analyst would:
step 1 computes with the KPI tools and prints the tables; step 2 draws the charts and assembles the narrative
from the computed values, then calls `final_answer`. When its code fails it retries that step defensively, and
after a second failure it says so. The real smolagents loop parses and executes everything it writes.
"""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import dataclass

from smolagents.models import ChatMessage, MessageRole, Model
from smolagents.monitoring import TokenUsage

from agent.models.analyst_change_log import (
    CHANGE_LOG_PHASE,
    causes_code,
    change_log_step,
    mix_tracking_caveat_code,
    plan_text,
)
from agent.models.builtin_followup import answer_focus, find_focus, focus_parts, slice_name, words_of
from agent.models.tokens import count_tokens, preload
from agent.run.prompt import DEFAULT_QUESTION, TASK_PREFIX, ParsedTask, parse_task, task_positions
from tools.numbers import amount

FOLLOW_UP_FUNCTIONS = (words_of, find_focus, focus_parts, slice_name, answer_focus)

BUILTIN_MODEL_ID = "builtin-analyst"
BUILTIN_LABEL = "Built-in analyst (rule-based, not an LLM)"
_PHASE = re.compile(r"^# phase: (\w[\w-]*)", re.MULTILINE)
MAX_STEPS_REQUEST = "Based on the above, please provide an answer"


def message_text(message: ChatMessage | dict) -> tuple[str, str]:
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


def read_history(messages: list[ChatMessage | dict]) -> _History:
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

    def __init__(self, **kwargs):
        super().__init__(model_id=BUILTIN_MODEL_ID, **kwargs)
        preload()  # the tokenizer loads while the engine analyses the file

    def generate(
        self,
        messages: list[ChatMessage | dict],
        stop_sequences: list[str] | None = None,
        response_format: dict | None = None,
        tools_to_call_from: list | None = None,
        **kwargs,
    ) -> ChatMessage:
        prompt = "\n".join(text for _, text in map(message_text, messages))
        if tools_to_call_from:
            raise NotImplementedError("The built-in analyst writes code; it has no tool-calling mode yet.")
        history = read_history(messages)
        last_role, last_text = message_text(messages[-1]) if messages else ("", "")
        if stop_sequences and "<end_plan>" in stop_sequences:  # a planning step (planning_interval)
            planned = parse_task(next((t for _, t in map(message_text, messages) if "## Data" in t), ""))
            output = plan_text(bool(planned and planned.change_log)) + "\n<end_plan>"
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
    if task.change_log and CHANGE_LOG_PHASE not in done:
        return _step(*change_log_step(task.windows))
    lead = _lead_dimension(history, task)
    return _report_step(task, lead, safe=retry)


def _follow_up_step(task: ParsedTask, question: str) -> str:
    """A follow-up in one step: find what the question names in `df`, break it down, answer; or say plainly that
    the question is beyond a rule-based analyst."""
    top = next((int(w) for w in re.findall(r"\b(?:top|first|largest)\s+(\d{1,2})\b", question.lower())), 3)
    functions = "\n\n".join(_source_of(f) for f in (amount, *FOLLOW_UP_FUNCTIONS))
    code = [
        "# phase: follow-up",
        functions,
        "",
        f"question = {question!r}",
        f"lines = answer_focus(df, question, metric={task.metric!r}, dimensions={task.dimensions!r}, top={top}, "
        f"metrics={[task.metric, *task.other_metrics]!r})",
        "if lines is None:",
        f"    final_answer({BEYOND_BUILTIN!r})",
        "else:",
        "    final_answer('\\n'.join(lines).strip())",
    ]
    thought = ("I look in `df` for the segments, dimensions or metric this question names, and break them down with "
               "the KPI tools; if it names none, I say so rather than answer another question.")  # fmt: skip
    return _step(thought, "\n".join(code))


_CHANGE_WORDS = {
    "change", "changed", "changes", "drop", "dropped", "drops", "fell", "fall", "rise", "rose", "grew", "grow",
    "growth", "decline", "declined", "increase", "increased", "decrease", "decreased", "why", "drove", "driver",
    "drivers", "explain", "happened", "moved", "move", "up", "down", "differ", "difference", "compare", "summary",
}  # fmt: skip


def _question_code(task: ParsedTask) -> list[str]:
    """The user's own question, answered: the segments or dimension it names broken down first; a question about
    nothing this analyst can compute is said to be beyond it, never answered with another question's summary."""
    question = task.question.strip()
    if not question or question == DEFAULT_QUESTION.format(metric=task.metric):
        return []
    words = set(re.findall(r"[a-z0-9]+", question.lower()))
    about_change = bool(
        words & (_CHANGE_WORDS | {task.metric.lower(), *(m.lower() for m in task.ratio or ())})
    )
    functions = "\n\n".join(_source_of(f) for f in FOLLOW_UP_FUNCTIONS)
    return [
        functions,
        f"question = {question!r}",
        f"focus_lines = answer_focus(df, question, metric={task.metric!r}, dimensions={task.dimensions!r}, top=3)",
        "if focus_lines is not None:",
        "    lines = lines[:1] + [''] + focus_lines + ['Overall:'] + lines[1:]",
        *([] if about_change else ["else:", f"    lines = [{BEYOND_BUILTIN!r}]"]),
    ]


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


def _compute_step(task: ParsedTask, safe: bool) -> str:
    dimensions = _focus(task)
    code = [
        "# phase: compute",
        f"metric = {task.metric!r}",
        f"dimensions = {dimensions!r}",
        "totals = metric_totals(df, metric=metric)",
        "pct_text = 'new' if totals['pct_change'] is None else f\"{totals['pct_change']:+.2f}%\"",
        "print(f\"{metric}: {totals['before']:,.2f} -> {totals['after']:,.2f} "
        "({totals['abs_change']:+,.2f}, {pct_text})\")",
        "changes = {}",
    ]
    if dimensions:
        code.append(
            _guarded(
                "for dimension in dimensions:\n"
                "    changes[dimension] = segment_changes(df, metric=metric, dimension=dimension)\n"
                "    count = len(changes[dimension])\n"
                '    print(f"\\nBy {dimension}" + (f" (largest 8 of {count})" if count > 8 else "") + ":")\n'
                "    print(changes[dimension].head(8).round(2).to_string(index=False))",
                "pass",
                "segment_changes",
                safe,
            )
        )
        code.append(
            _guarded(
                "slices = top_slices(df, metric=metric, dimensions=dimensions, top=5)\n"
                "lead_dimensions = list(slices.iloc[0]['slice']) if len(slices) else []\n"
                "print('\\nSlices that explain the change:')\n"
                "print(slices.drop(columns='slice').round(2).to_string(index=False))\n"
                "print('lead dimensions:', ', '.join(lead_dimensions))",
                "slices = None",
                "top_slices",
                safe,
            )
        )
    else:
        code.append("slices = None")
    if task.ratio:
        numerator, denominator = task.ratio
        ratio_dimension = dimensions[0] if dimensions else None
        code += [
            f"numerator, denominator = {numerator!r}, {denominator!r}",
            "volumes = {name: metric_totals(df, metric=name) for name in (numerator, denominator)}",
        ]
        code.append(
            _guarded(
                f"effects = rate_mix_effects(df, numerator=numerator, denominator=denominator, "
                f"dimension={ratio_dimension!r})\n"
                "print(f\"\\n{numerator} / {denominator}: {effects['before']:.4%} -> {effects['after']:.4%} "
                "({effects['change'] * 100:+.2f} pp); rate effect {effects['rate_effect'] * 100:+.2f} pp, "
                "mix effect {effects['mix_effect'] * 100:+.2f} pp\")\n"
                f"columns = [{ratio_dimension!r}, 'rate_before', 'rate_after', 'weight_before', 'weight_after', "
                "'rate_effect', 'mix_effect', 'p_value']\n"
                "print(effects['by_segment'][columns].round(4).to_string(index=False))",
                "effects = None",
                "rate_mix_effects",
                safe,
            )
        )
    what = "rate and mix effects" if task.ratio else "each segment's share of the change"
    thought = (
        f"I will compute the total change of {task.metric} and {what} with the KPI tools on `df`, "
        f"by {', '.join(dimensions) or 'the whole table'}, and rank the slices that explain it. "
        "I print the tables so I can check them before writing anything."
    )
    if safe:
        thought = "My last code failed. I run the same computation again, guarding each part, so one failing " \
                  "tool does not stop the others, and I note what could not be computed."  # fmt: skip
    return _step(thought, "\n".join(code))


# Amounts in the summary as a manager reads them (518.1M, +10.4M; the exact figures stay in the tables, exports and
# trace): one function, written into the agent's code from its source, so the analyst and the tests share it.
def _source_of(function) -> str:
    """A function's source without its docstring (its examples would read as numbers the analyst typed)."""
    tree = ast.parse(inspect.getsource(function))
    definition = tree.body[0]
    if ast.get_docstring(definition):  # type: ignore[arg-type]
        definition.body = definition.body[1:]  # type: ignore[attr-defined]
    return ast.unparse(tree)


_AMOUNT_CODE = _source_of(amount)


def _report_step(task: ParsedTask, lead: str | None, safe: bool) -> str:
    code = ["# phase: report", "import pandas as pd", _AMOUNT_CODE]
    if task.ratio:
        # A ratio is explained along the dimension its rate and mix effects were split by.
        lead = _focus(task)[0] if task.dimensions else None
    if lead:
        charts = (
            "if effects is not None:\n    fig_rate_mix = rate_mix_chart(effects, title=f'{numerator} / {denominator}: "
            "rate and mix, by {main}')\n"
            if task.ratio
            else "if table is not None:\n    fig_waterfall = waterfall_chart(table, dimension=main, "
            "before_total=totals['before'], after_total=totals['after'], title=f'{metric}: before to after, by {main}')\n"
        )
        charts += "if table is not None:\n    fig_drivers = change_chart(table, dimension=main, title=f'{metric} change by {main}')"
        code += [f"main = {lead!r}", "table = changes.get(main)", _guarded(charts, "pass", "charts", safe)]
    else:
        code += ["main = None", "table = None"]
    # The headline driver gets its own charts when it is a 2-dimension slice (Germany × Android): where it sits
    # among its neighbours, and which pairs moved out of proportion to their size.
    pair_charts = (
        "if slices is not None and len(slices) and len(slices.iloc[0]['slice']) == 2:\n"
        "    pair = list(slices.iloc[0]['slice'])\n"
        "    fig_pair = change_heatmap(df, metric=metric, rows=pair[0], columns=pair[1], "
        "title=f'{metric} change by {pair[0]} and {pair[1]}')\n"
        "    fig_size = size_change_chart(df, metric=metric, dimensions=pair, "
        "title=f'{metric}: size vs change, {pair[0]} × {pair[1]}')"
    )
    code.append(_guarded(pair_charts, "pass", "pair charts", safe))
    code += _headline_code(task)
    if task.scenario:
        # A scenario file: the first line says which scenario every figure comes from.
        code.append(f"lines[0] = 'Scenario `{task.scenario}`: ' + lines[0]")
    code += _ratio_code() if task.ratio else _drivers_code()
    code += _timing_code(task)
    code += _caveats_code(task)
    code += _question_code(task)
    code += ['summary = "\\n".join(lines)', "final_answer(summary)"]
    thought = (
        f"The tables above give the totals{' and the rate/mix split' if task.ratio else ''}; "
        f"the change is best read along {lead or 'no dimension'}. I chart it and write the summary only from the "
        "computed variables."
    )
    if safe:
        thought = "My last code failed. I write the summary again, guarding the charts, from the variables " \
                  "that were computed."  # fmt: skip
    return _step(thought, "\n".join(code))


def _headline_code(task: ParsedTask) -> list[str]:
    if task.ratio:
        return [
            "lines = []",
            "if effects is not None:",
            "    verb = 'rose' if effects['change'] > 0 else 'fell' if effects['change'] < 0 else 'held'",
            "    lines.append(f\"**{numerator} / {denominator} {verb} from {effects['before']:.2%} to "
            "{effects['after']:.2%}** ({effects['change'] * 100:+.2f} pp).\")",
            "else:",
            '    lines.append(f"**{numerator} / {denominator}**: the rate could not be decomposed (see the trace).")',
        ]
    return [
        "change = totals['abs_change']",
        "if totals['pct_change'] is None and change != 0:",
        "    headline = f\"**{metric} is new**: {amount(totals['after'])} after, nothing before.\"",
        "elif change == 0:",
        "    headline = f\"**{metric} did not change** in total ({amount(totals['after'])}).\"",
        "else:",
        "    verb = 'rose' if change > 0 else 'fell'",
        "    headline = (f\"**{metric[:1].upper() + metric[1:]} {verb} {abs(totals['pct_change']):.2f}%**, from "
        "{amount(totals['before'])} to {amount(totals['after'])} ({amount(change, True)}).\")",
        "lines = [headline]",
        "if slices is not None and len(slices) and pd.notna(slices.iloc[0]['contribution_pct']):",
        "    lead = slices.iloc[0]",
        "    lines.append('')",
        "    lines.append(f\"The change sits in **{lead['segment']}**: {amount(lead['abs_change'], True)}, "
        "{lead['contribution_pct']:.2f}% of the total change.\")",
    ]


def _ratio_code() -> list[str]:
    return [
        "if effects is not None:",
        "    dim = effects['dimension']",
        "    segments = effects['by_segment']",
        "    # The larger effect leads: a reader who stops after one sentence must get the main cause.",
        "    rate_leads = abs(effects['rate_effect']) > abs(effects['mix_effect'])",
        "    if effects['mix_share_pct'] is not None:",
        "        mix_text = (f\"Mix effect {effects['mix_effect'] * 100:+.2f} pp ({effects['mix_share_pct']:.2f}% of the \"",
        '                    f"change): weight shifted between {dim} segments.")',
        "        rate_text = (f\"Rate effect {effects['rate_effect'] * 100:+.2f} pp ({effects['rate_share_pct']:.2f}% of \"",
        '                     f"the change): segments\' own rates moved.")',
        "        lines.append('')",
        "        lines.append(f'{rate_text} {mix_text}' if rate_leads else f'{mix_text} {rate_text}')",
        "    volume_parts = []",
        "    for name in (denominator, numerator):",
        "        v = volumes[name]",
        "        v_pct = 'new' if v['pct_change'] is None else f\"{v['pct_change']:+.2f}%\"",
        "        volume_parts.append(f\"{name} {v['before']:,.0f} -> {v['after']:,.0f} ({v_pct})\")",
        "    lines.append('')",
        "    lines.append('Volumes: ' + '; '.join(volume_parts) + '.')",
        "    if rate_leads:",
        "        lines.append('')",
        "        lines.append(f'Largest rate effects by {dim}:')",
        "        by_rate = segments.reindex(segments['rate_effect'].abs().sort_values(ascending=False).index)",
        "        for _, row in by_rate.head(3).iterrows():",
        "            if pd.notna(row['rate_before']) and pd.notna(row['rate_after']) and round(row['rate_effect'] * 100, 2):",
        "                lines.append(f\"- {row[dim]}: rate {row['rate_before']:.2%} -> {row['rate_after']:.2%}, \"",
        "                             f\"rate effect {row['rate_effect'] * 100:+.2f} pp\")",
        "    by_mix = segments.reindex(segments['mix_effect'].abs().sort_values(ascending=False).index)",
        "    by_mix = by_mix[(by_mix['mix_effect'] * 100).round(2) != 0]  # a weight that did not move explains nothing",
        "    if len(by_mix):",
        "        lines.append('')",
        "        lines.append(f'Largest mix effects by {dim}:')",
        "    for _, row in by_mix.head(3).iterrows():",
        "        rate = 'new' if pd.isna(row['rate_before']) else f\"{row['rate_before']:.2%}\"",
        "        lines.append(f\"- {row[dim]}: share of {denominator} {row['weight_before']:.2%} -> "
        "{row['weight_after']:.2%} at a rate of {rate} before, mix effect {row['mix_effect'] * 100:+.2f} pp\")",
        "    if effects['counts']:",
        "        tested = segments[segments['p_value'].notna()]",
        "        real = tested[tested['p_value'] < 0.05]",
        "        real = real.reindex(real['rate_effect'].abs().sort_values(ascending=False).index)",
        "        lines.append('')",
        "        if len(real):",
        "            lines.append('Significant rate moves (p < 0.05):')",
        "            for _, row in real.head(3).iterrows():",
        "                lines.append(f\"- {row[dim]}: rate {row['rate_before']:.2%} -> {row['rate_after']:.2%} "
        "(p = {row['p_value']:.4f}), rate effect {row['rate_effect'] * 100:+.2f} pp\")",
        "        else:",
        "            lines.append(f'No {dim} segment changed its own rate significantly (p < 0.05).')",
        "        noise = tested[tested['p_value'] >= 0.05]",
        "        noise = noise.reindex(noise['rate_effect'].abs().sort_values(ascending=False).index)",
        "        if len(noise):",
        "            names = ', '.join(str(name) for name in noise[dim].head(5))",
        "            ratio_caveat = f'Rate moves in {names} are not significant (p >= 0.05) and are not called drivers.'",
        "        else:",
        "            ratio_caveat = None",
        "    else:",
        "        ratio_caveat = 'The metrics are not counts, so no significance test was run on the rates.'",
        "else:",
        "    ratio_caveat = None",
    ]


def _drivers_code() -> list[str]:
    return [
        "if table is not None and len(table):",
        "    lines.append('')",
        "    lines.append(f'Top drivers by {main} ({metric}):')",
        "    for _, row in table.head(3).iterrows():",
        "        pct = 'new' if pd.isna(row['pct_change']) else f\"{row['pct_change']:+.2f}%\"",
        "        if pd.notna(row['contribution_pct']):",
        "            share = f\", {row['contribution_pct']:.2f}% of the change\"",
        "        else:",
        "            share = f\", {abs(row['share_of_gross_pct']):.2f}% of all movement\"",
        "        lines.append(f\"- {row[main]}: {amount(row['abs_change'], True)} ({pct}){share}\")",
    ]


def _timing_code(task: ParsedTask) -> list[str]:
    """A time series: when in the later window the change happened, from `daily` (dates written as ISO dates)."""
    if not task.windows:
        return []
    earlier, later = task.windows
    return [
        f"timing = change_timing(daily, metric=metric, earlier={earlier!r}, later={later!r})",
        "run = timing['run']",
        "# only for daily tables with two or more dates in the later window: a week or a month is one date",
        "daily_dates = pd.to_datetime(daily['date'])",
        "is_daily = len(daily_dates) > 1 and daily_dates.diff().dropna().min() == pd.Timedelta(days=1)",
        "if run is not None and totals['abs_change'] and is_daily and len(timing['days']) > 1:",
        "    direction = 'drop' if totals['abs_change'] < 0 else 'rise'",
        "    where = f\"{run['start']} to {run['end']}\" if run['start'] != run['end'] else run['start']",
        "    lines.append('')",
        "    if timing['concentrated']:",
        "        lines.append(f\"When: {run['share_pct']:.2f}% of the {direction} fell on {where}.\")",
        "    else:",
        "        lines.append(f\"When: the {direction} is spread over the later window; {run['share_pct']:.2f}% of it \"",
        '                     f"fell on {where}.")',
    ]


def _caveats_code(task: ParsedTask) -> list[str]:
    code = ["caveats = []"]
    if task.ratio:
        code += ["if ratio_caveat:", "    caveats.append(ratio_caveat)"]
        code += mix_tracking_caveat_code()
    else:
        code += _segment_caveats_code()
    if task.change_log:
        code += causes_code()
    if task.warnings:
        code.append(
            f"caveats.append('Loading the file needed {task.warnings} fix(es) or assumption(s); see the warnings.')"
        )
    code += [
        "if caveats:",
        "    lines.append('')",
        "    lines.append('Caveats:')",
        "    for caveat in caveats:",
        "        lines.append(f'- {caveat}')",
    ]
    return code


def _segment_caveats_code() -> list[str]:
    return [
        "if table is not None and len(table):",
        "    new = table[table['pct_change'].isna() & (table['after'] != 0)]",
        "    if len(new):",
        "        names = ', '.join(str(name) for name in new[main].head(5))",
        "        caveats.append(f'New (nothing before, so no percentage change): {names}.')",
        "    total_change = totals['abs_change']",
        "    against = table.head(5)[table.head(5)['abs_change'] * total_change < 0]",
        "    if total_change != 0 and len(against):",
        "        parts = [f\"{row[main]} ({amount(row['abs_change'], True)})\" for _, row in against.iterrows()]",
        "        caveats.append('Moved against the total: ' + ', '.join(parts) + '.')",
        "    outliers = table[(table['impact_norm'].abs() >= 3) & (table['contribution_pct'].abs() >= 10)]",
        "    for _, row in outliers.head(2).iterrows():",
        "        caveats.append(f\"{row[main]} moved {row['impact_norm']:.2f}x its size: {row['share_before']:.2f}% of "
        "{metric} before, {row['contribution_pct']:.2f}% of the change.\")",
        "    if pd.isna(table['contribution_pct']).all():",
        "        caveats.append('There is no net change; segments offset each other.')",
    ]


def _max_steps_answer(history: _History) -> str:
    """What the analyst says when the step limit stops it: only what the trace already printed."""
    first_lines = [obs.split("Execution logs:\n", 1)[-1].strip().splitlines() for obs in history.observations]
    printed = next((lines[0] for lines in first_lines if lines), "")
    summary = "The step limit stopped the analysis before the summary was written."
    return f"{summary} What was computed: {printed}" if printed else summary
