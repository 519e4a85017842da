"""The JSON tool-calling agent, offline with the built-in counterpart and through LiteLLM with real tool calls."""

import json

from agent.models.builtin_tool_caller import BuiltinToolCaller
from agent.run.result import collect
from agent.run.runner import RunRequest, run_events
from tests.helpers import llm, network_guard
from tests.openai_server import ScriptedChatServer
from tools.bound_tools import bound_tools
from tools.loading import load_dataset
from tools.synthetic import conversion_frame


def test_builtin_tool_caller_makes_one_call_per_step(revenue_dataset):
    result = collect(run_events(RunRequest(revenue_dataset, agent="tool-calling")))
    assert result.status == "success" and result.agent == "tool-calling"
    assert "tool-calling (rule-based, not an LLM)" in result.model
    calls = [step["code"] for step in result.steps]
    assert calls[0] == "metric_totals(metric='revenue')"
    assert calls[-1].startswith("final_answer(")
    assert all(code.count("(") >= 1 and "\n" not in code.split("(", 1)[0] for code in calls)
    assert len(result.steps) == 5 and len(result.charts) == 1
    assert "-132,919.66" in result.narrative
    assert result.verification["mismatches"] == []


def test_both_agents_share_the_stream_and_the_verification(revenue_dataset):
    code = collect(run_events(RunRequest(revenue_dataset)))
    calls = collect(run_events(RunRequest(revenue_dataset, agent="tool-calling")))
    assert code.analysis == calls.analysis
    assert set(code.to_json()) == set(calls.to_json())
    assert len(code.steps) < len(calls.steps)
    assert code.usage["input_tokens"] < calls.usage["input_tokens"]


def test_ratio_through_tool_calls(write_file):
    dataset = load_dataset(write_file("conv.csv", conversion_frame().to_csv(index=False)))
    result = collect(run_events(RunRequest(dataset, ratio="orders/users", agent="tool-calling")))
    assert any(step["code"].startswith("rate_mix_effects(") for step in result.steps)
    assert "mix effect" in result.narrative
    assert result.verification["mismatches"] == []


def test_bound_tools_answer_in_json(revenue_dataset):
    figures = []
    tools = {tool.name: tool for tool in bound_tools(revenue_dataset.frame, figures)}
    rows = json.loads(tools["segment_changes"](metric="revenue", dimension="country"))
    assert rows[0]["country"] == "France" and round(rows[0]["abs_change"], 2) == -132847.57
    assert tools["change_chart"](metric="revenue", dimension="country").startswith("Chart drawn")
    assert figures and "data" in figures[0]


def test_tool_calls_through_litellm(revenue_dataset):
    replies = [
        {
            "content": "I need the totals.",
            "tool_calls": [{"name": "metric_totals", "arguments": {"metric": "revenue"}}],
        },
        {
            "content": "",
            "tool_calls": [
                {"name": "final_answer", "arguments": {"answer": "Revenue fell 7.67% (-132,919.66)."}}
            ],
        },
    ]
    with network_guard() as refused, ScriptedChatServer(replies) as server:  # LiteLLM talks to loopback only
        result = collect(run_events(RunRequest(revenue_dataset, agent="tool-calling"), llm(server)))
    assert refused == []
    assert result.status == "success", result.error
    assert result.steps[0]["code"] == "metric_totals(metric='revenue')"
    assert '"abs_change": -132919.66' in result.steps[0]["observation"]
    assert result.narrative == "Revenue fell 7.67% (-132,919.66)."
    assert result.verification["mismatches"] == []
    sent = server.requests[0]["body"]
    assert {tool["function"]["name"] for tool in sent["tools"]} >= {
        "metric_totals",
        "segment_changes",
        "final_answer",
    }


def test_a_tool_calling_llm_streams_its_text_into_the_running_step(revenue_dataset):
    """As the code agent: the model's text shows in the running step before its tool call runs."""
    from agent.run import events as ev

    replies = [
        {
            "content": "I need the totals of revenue before anything else.",
            "chunk_size": 6,
            "tool_calls": [{"name": "metric_totals", "arguments": {"metric": "revenue"}}],
        },
        {
            "content": "",
            "tool_calls": [{"name": "final_answer", "arguments": {"answer": "Revenue fell 7.67%."}}],
        },
    ]
    with ScriptedChatServer(replies) as server:
        events = list(run_events(RunRequest(revenue_dataset, agent="tool-calling"), llm(server, key=None)))
    assert server.requests[0]["body"]["stream"] is True
    kinds = [type(event).__name__ for event in events]
    assert kinds.index("TextDelta") < kinds.index("Code")
    pieces = [event.text for event in events if isinstance(event, ev.TextDelta) and event.step == 1]
    assert len(pieces) > 3 and "".join(pieces) == replies[0]["content"]
    result = collect(events)
    assert result.status == "success", result.error
    assert result.steps[0]["code"] == "metric_totals(metric='revenue')"
    assert result.steps[0]["thought"] == replies[0]["content"]


def test_builtin_tool_caller_needs_no_network(revenue_dataset):
    """A whole tool-calling run with the built-in model, every connection off the machine refused and recorded."""
    with network_guard() as refused:
        result = collect(run_events(RunRequest(revenue_dataset, agent="tool-calling"), BuiltinToolCaller()))
    assert refused == []
    assert result.status == "success", result.error
    assert "-132,919.66" in result.narrative and result.verification["mismatches"] == []


def test_default_step_budget_fits_a_three_dimension_file(write_file):
    from tools.loading import load_dataset
    from tools.synthetic import planted_frame

    path = write_file("planted.csv", planted_frame(300, noise=0.003).to_csv(index=False))
    result = collect(run_events(RunRequest(load_dataset(path), agent="tool-calling")))
    # totals, three dimensions, slices, chart, answer: 7 calls, more than the code agent's default of 6 steps
    assert result.status == "success", result.error
    assert result.usage["steps"] == 7
    assert "Germany × Android" in result.narrative
