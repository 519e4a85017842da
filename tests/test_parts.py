"""Page parts that need no browser: the running step's streamed text split into thought and code."""

import pytest

from ui.parts import streamed_parts


@pytest.mark.parametrize(
    ("text", "thought", "code"),
    [
        ("Thou", "", ""),  # the label itself, still arriving
        ("Thought: Totals fi", "Totals fi", ""),
        ("Thought: Totals first.\n<co", "Totals first.", ""),  # half an opening tag is not shown
        ("Thought: Totals first.\n<code>\n", "Totals first.", ""),  # no empty code block
        ("Thought: Totals first.\n<code>\ntotals = metric_to", "Totals first.", "totals = metric_to"),
        ("Thought: Totals.\n<code>\nprint(1)\n</co", "Totals.", "print(1)"),  # nor half a closing tag
        ("Thought: Totals.\n<code>\nprint(1)\n</code>", "Totals.", "print(1)"),
        ("Thought: Chart.\n```pyth", "Chart.", ""),  # the fence's language, not code
        ("Thought: Chart.\n```python\nfig = 1\n``", "Chart.", "fig = 1"),
        ("No label at all", "No label at all", ""),
    ],
)
def test_streamed_text_is_split_into_thought_and_code(text, thought, code):
    assert streamed_parts(text) == (thought, code)


def test_the_code_so_far_keeps_its_lines():
    _, code = streamed_parts("Thought: x\n<code>\na = 1\nif a:\n    print(a)\n")
    assert code == "a = 1\nif a:\n    print(a)"


def test_the_comparison_table_has_a_column_per_agent_with_figures_as_text():
    from ui.parts import comparison_table

    rows = [
        {
            "agent": "code",
            "status": "success",
            "input tokens": 5451,
            "seconds": 3.2149,
            "published steps": None,
        },
        {
            "agent": "tool-calling",
            "status": "max_steps",
            "input tokens": 29201,
            "seconds": float("nan"),
            "published steps": 12,
        },
    ]
    table = comparison_table(rows)
    assert list(table.columns) == ["code agent", "tool-calling agent"]
    assert list(table.index) == ["Status", "Input tokens", "Seconds", "Published steps"]
    assert list(table.loc["Input tokens"]) == ["5,451", "29,201"]
    assert list(table.loc["Seconds"]) == ["3.21", "—"] and list(table.loc["Published steps"]) == ["—", "12"]
