import ast

from smolagents.models import ChatMessage, MessageRole

from agent.models.builtin_analyst import BUILTIN_LABEL, BuiltinAnalyst
from agent.run.prompt import TaskSpec, build_task


def message(role: str, text: str) -> ChatMessage:
    return ChatMessage(role=MessageRole(role), content=[{"type": "text", "text": text}])


def conversation(task: str, *turns: tuple[str, str]) -> list[ChatMessage]:
    messages = [message("system", "system prompt"), message("user", f"New task:\n{task}")]
    for role, text in turns:
        messages.append(message(role, text))
    return messages


def code_of(output: str) -> str:
    assert output.startswith("Thought: ")
    code = output.split("<code>\n", 1)[1].split("\n</code>", 1)[0]
    ast.parse(code)  # what it writes is valid Python
    return code


def test_it_says_what_it_is():
    model = BuiltinAnalyst()
    assert "rule-based, not an LLM" in BUILTIN_LABEL
    assert model.model_id == "builtin-analyst"


def test_first_step_computes_with_the_tools(revenue_dataset):
    task = build_task(revenue_dataset, TaskSpec("revenue", ["country"], "Why?"))
    reply = BuiltinAnalyst().generate(conversation(task))
    code = code_of(reply.content)
    assert code.startswith("# phase: compute")
    assert "segment_changes(df, metric=metric, dimension=dimension)" in code
    assert "dimensions = ['country']" in code
    assert "final_answer" not in code
    assert reply.token_usage.input_tokens > 100 and reply.token_usage.output_tokens > 50


def test_second_step_reports_from_computed_values(revenue_dataset):
    task = build_task(revenue_dataset, TaskSpec("revenue", ["country"], "Why?"))
    first = BuiltinAnalyst().generate(conversation(task)).content
    reply = BuiltinAnalyst().generate(
        conversation(task, ("assistant", first), ("tool-response", "Observation:\nlead dimensions: country"))
    )
    code = code_of(reply.content)
    assert code.startswith("# phase: report")
    assert "waterfall_chart(" in code and "final_answer(summary)" in code
    assert "132" not in code  # no number is typed in: all come from variables


def test_question_puts_its_dimension_first(write_file):
    from tools.loading import load_dataset

    dataset = load_dataset(write_file("d.csv", "country,platform,revenue_before,revenue_after\nUK,iOS,1,2\n"))
    task = build_task(dataset, TaskSpec("revenue", ["country", "platform"], "What happened by platform?"))
    code = code_of(BuiltinAnalyst().generate(conversation(task)).content)
    assert "dimensions = ['platform', 'country']" in code


def test_after_an_error_it_retries_defensively_then_gives_up(revenue_dataset):
    task = build_task(revenue_dataset, TaskSpec("revenue", ["country"], "Why?"))
    first = BuiltinAnalyst().generate(conversation(task)).content
    error = ("tool-response", "Call id: call_1\nError:\nCode execution failed: boom\nNow let's retry")
    retry = BuiltinAnalyst().generate(conversation(task, ("assistant", first), error)).content
    retry_code = code_of(retry)
    assert retry_code.startswith("# phase: compute")
    assert "try:" in retry_code and "except Exception as error:" in retry_code
    give_up = BuiltinAnalyst().generate(
        conversation(task, ("assistant", first), error, ("assistant", retry), error)
    )
    assert "# phase: give-up" in code_of(give_up.content)


def test_lead_dimension_is_taken_only_from_known_names(write_file):
    from tools.loading import load_dataset

    dataset = load_dataset(write_file("d.csv", "country,platform,revenue_before,revenue_after\nUK,iOS,1,2\n"))
    task = build_task(dataset, TaskSpec("revenue", ["country", "platform"], "q"))
    first = BuiltinAnalyst().generate(conversation(task)).content
    observation = "Observation:\nlead dimensions: __import__('os'), platform"
    code = code_of(
        BuiltinAnalyst()
        .generate(conversation(task, ("assistant", first), ("tool-response", observation)))
        .content
    )
    assert "main = 'platform'" in code
    assert "__import__" not in code


def test_hostile_dimension_names_stay_string_literals(write_file):
    from tools.loading import load_dataset

    header = "\"x'); import os; print('\",revenue_before,revenue_after\n"
    dataset = load_dataset(write_file("d.csv", header + "UK,1,2\n"))
    task = build_task(dataset, TaskSpec("revenue", dataset.dimensions, "q"))
    code = code_of(BuiltinAnalyst().generate(conversation(task)).content)
    tree = ast.parse(code)
    assert not any(isinstance(node, (ast.Import, ast.ImportFrom)) for node in ast.walk(tree))


def test_step_limit_answer_repeats_only_what_was_printed(revenue_dataset):
    task = build_task(revenue_dataset, TaskSpec("revenue", ["country"], "Why?"))
    first = BuiltinAnalyst().generate(conversation(task)).content
    observation = (
        "Observation:\nExecution logs:\nrevenue: 1,731,985.21 -> 1,599,065.55 (-132,919.66, -7.67%)\n"
    )
    messages = conversation(task, ("assistant", first), ("tool-response", observation))
    messages.append(
        message("user", "Based on the above, please provide an answer to the following user task:\n...")
    )
    reply = BuiltinAnalyst().generate(messages).content
    assert "step limit" in reply and "-132,919.66" in reply


def test_non_kpi_task_is_declined():
    reply = BuiltinAnalyst().generate(conversation("What is 2 + 2?")).content
    assert "# phase: unsupported" in code_of(reply)


RATE_CHANGE_CSV = (
    "channel,users_before,users_after,orders_before,orders_after\n"
    "organic,40000,40000,2000,2000\n"
    "email,12000,12000,960,480\n"
    "paid_search,25000,25000,1000,1000\n"
)


def test_the_larger_effect_leads_the_summary(write_file):
    from agent.run.result import collect
    from agent.run.runner import RunRequest, run_events
    from tools.loading import load_dataset

    dataset = load_dataset(write_file("rate.csv", RATE_CHANGE_CSV))
    for kind in ("code", "tool-calling"):
        request = RunRequest(dataset, ratio="orders/users", executor="local", agent=kind, max_steps=12)
        result = collect(run_events(request))
        text = result.narrative.lower()
        assert result.status == "success" and not result.verification["mismatches"]
        # Traffic did not move and email's own rate halved: the rate effect is the story and is told first.
        assert -1 < text.index("rate effect") < text.find("mix effect") or "mix effect" not in text, kind
        assert "email" in text


def test_a_two_dimension_driver_gets_a_heatmap_and_a_size_vs_change_chart():
    from agent.run.result import collect
    from agent.run.runner import RunRequest, run_events
    from tests.helpers import ROOT
    from tools.loading import load_dataset

    result = collect(run_events(RunRequest(load_dataset(ROOT / "sample_data" / "sales_by_segment.csv"))))
    kinds = [figure["data"][0]["type"] for figure in result.charts]
    assert "heatmap" in kinds
    titles = [figure["layout"]["title"]["text"] for figure in result.charts]
    assert "Revenue change by country and platform" in titles
    assert "Revenue: size vs change, country × platform" in titles


def helpers_of(code: str) -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in ast.parse(code).body if isinstance(node, ast.FunctionDef)}


def test_each_step_writes_the_helpers_it_calls_without_docstrings_or_hints(write_file):
    from tools.loading import load_dataset

    text = "country,platform,users_before,users_after,orders_before,orders_after\nUK,iOS,10,12,1,2\nFR,Web,5,5,1,1\n"
    dataset = load_dataset(write_file("d.csv", text))
    for ratio, question in ((None, "Why?"), (("orders", "users"), "What happened on iOS?")):
        spec = TaskSpec("orders", ["country", "platform"], question, ratio=ratio)
        task = build_task(dataset, spec)
        first = BuiltinAnalyst().generate(conversation(task)).content
        observation = ("tool-response", "Observation:\nlead dimensions: country")
        second = BuiltinAnalyst().generate(conversation(task, ("assistant", first), observation)).content
        for code in (code_of(first), code_of(second)):
            helpers = helpers_of(code)
            called = {
                n.func.id
                for n in ast.walk(ast.parse(code))
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
            }
            assert helpers and set(helpers) <= called, set(helpers) - called  # no helper written for nothing
            for helper in helpers.values():
                assert ast.get_docstring(helper) is None and helper.returns is None
                assert all(a.annotation is None for a in helper.args.args)
