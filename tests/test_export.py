import csv
import io
import json

import pytest

from agent.export import defuse_cell, report_html, report_markdown, table_csv, tables_of, trace_json
from agent.result import collect
from agent.runner import RunRequest, run_events
from tools.loading import load_dataset

HOSTILE = '=HYPERLINK("http://x","y")<script>alert(1)</script>'


@pytest.fixture
def hostile_result(write_file):
    text = 'country,revenue_before,revenue_after\n"' + HOSTILE.replace('"', '""') + '",100,40\nUK,300,310\n'
    return collect(run_events(RunRequest(load_dataset(write_file("h.csv", text)))))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+44", "'+44"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("UK", "UK"),
        (-2.5, -2.5),
    ],
)
def test_defuse(value, expected):
    assert defuse_cell(value) == expected


def test_csv_defuses_text_and_keeps_numbers(hostile_result):
    text = table_csv(tables_of(hostile_result)["by_country"])
    rows = list(csv.DictReader(io.StringIO(text)))
    hostile = next(r for r in rows if "HYPERLINK" in r["country"])
    assert hostile["country"].startswith("'=")
    assert float(hostile["abs_change"]) == -60.0  # negative numbers stay numbers


def test_html_report_escapes_cells_and_embeds_charts(hostile_result):
    page = report_html(hostile_result)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page
    assert "plotly" in page.lower() and page.count('class="plotly-graph-div"') == len(hostile_result.charts)
    assert "claims: " in page and " verified" in page


def test_markdown_and_json(revenue_dataset):
    result = collect(run_events(RunRequest(revenue_dataset)))
    markdown = report_markdown(result)
    assert "Revenue fell 7.67%" in markdown and "## by country" in markdown and "| France |" in markdown
    data = json.loads(trace_json(result))
    assert data["totals"]["abs_change"] == -132919.66 and data["steps"]
