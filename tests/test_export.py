import csv
import io
import json

import pytest

from agent.output.export import defuse_cell, report_html, report_markdown, table_csv, tables_of, trace_json
from agent.run.result import collect
from agent.run.runner import RunRequest, run_events
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
    assert page.count("class='chart-spec'") == len(hostile_result.charts) and "id='plotly-gz'" in page
    assert "claims: " in page and " verified" in page


def test_markdown_and_json(revenue_dataset):
    result = collect(run_events(RunRequest(revenue_dataset)))
    markdown = report_markdown(result)
    assert "Revenue fell 7.67%" in markdown and "## by country" in markdown and "| France |" in markdown
    data = json.loads(trace_json(result))
    assert data["totals"]["abs_change"] == -132919.66 and data["steps"]


LINK = "[Verify your account](http://evil.invalid)"
IMAGE = "![x](http://evil.invalid/x.png)"
LONG = "Segment " + "very long name " * 13 + "end"


@pytest.fixture
def label_result(write_file):
    text = (
        f'country,revenue_before,revenue_after\n"{LINK}",1000,400\n"{IMAGE}",500,650\n"{LONG}",800,820\n'
        "UK,3000,3010\n"
    )
    return collect(run_events(RunRequest(load_dataset(write_file("labels.csv", text)))))


def test_html_report_shows_labels_as_text_and_forbids_outside_requests(label_result):
    import re

    assert (
        LINK in label_result.narrative and LONG in label_result.narrative
    )  # the built-in analyst quotes them
    page = report_html(label_result)
    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\';' in page
    assert "<script src" not in page  # plotly.js is inline
    assert not re.search(
        r"(href|src)\s*=\s*[\"']?[^\"'>]*evil", page
    )  # no link or image to it, live or in JS
    assert "<a " not in page.split("<body>", 1)[1].split("<script", 1)[0]
    summary = page.split("<h1>", 1)[1].split("<p><em>", 1)[0].replace("\u2060", "")  # invisible word joiners
    assert "[Verify your account](http://evil.inval…" in summary  # shown as text (shortened), not as a link
    assert LONG not in summary and "Segment very long name very long name v…" in summary
    assert html_escape(LONG) in page  # the table keeps the full name


def test_markdown_report_renders_no_link_or_image(label_result):
    import markdown_it

    report = report_markdown(label_result)
    rendered = markdown_it.MarkdownIt("commonmark", {"html": False}).render(report)
    assert "<a " not in rendered and "<img" not in rendered
    assert (
        "Segment very long name very long name v…" in rendered and LONG in rendered
    )  # summary short, table full


def html_escape(text: str) -> str:
    import html

    return html.escape(text, quote=False)


def test_a_file_with_many_segments_keeps_its_largest_changes_and_downloads_every_row(write_file):
    from agent.output.export import full_table_csv, omitted_note
    from tools.analysis import TABLE_ROWS
    from tools.labels import escape_markdown

    rows = [f"s{i},{100 + i},{100 + 2 * i}" for i in range(TABLE_ROWS + 50)]
    dataset = load_dataset(
        write_file("many.csv", "shop,revenue_before,revenue_after\n" + "\n".join(rows) + "\n")
    )
    result = collect(run_events(RunRequest(dataset)))
    shown = tables_of(result)["by_shop"]
    assert len(shown) == TABLE_ROWS and shown[0]["shop"] == f"s{TABLE_ROWS + 49}"  # the largest changes
    note = omitted_note(result, "by_shop")
    assert note.startswith("… and 50 more segments") and f"{sum(range(50)):+,.2f}" in note
    assert escape_markdown(note) in report_markdown(result) and note in report_html(result)
    full = list(csv.DictReader(io.StringIO(full_table_csv(dataset, result.analysis, "by_shop"))))
    assert len(full) == TABLE_ROWS + 50 and {r["shop"] for r in full} == {
        f"s{i}" for i in range(TABLE_ROWS + 50)
    }
    data = json.loads(trace_json(result))
    assert (
        len(data["breakdowns"]["shop"]) == TABLE_ROWS
        and data["omitted"]["breakdowns"]["shop"]["segments"] == 50
    )


def test_a_ratio_with_many_segments_keeps_its_largest_effects_and_downloads_every_row(write_file):
    from agent.output.export import full_table_csv, omitted_note
    from tools.analysis import TABLE_ROWS, analyze

    rows = "".join(f"c{i},{10 + i % 7},{12 + i % 5},{100 + i},{90 + 2 * i}\n" for i in range(TABLE_ROWS + 40))
    dataset = load_dataset(
        write_file("r.csv", "channel,orders_before,orders_after,users_before,users_after\n" + rows)
    )
    analysis = analyze(dataset, ratio="orders/users")
    ratio, others = analysis["ratio"], analysis["omitted"]["ratio"]["channel"]
    assert len(ratio["by_segment"]) == TABLE_ROWS and others["segments"] == 40
    shown = sum(row["total_effect"] for row in ratio["by_segment"])
    assert shown + others["total_effect"] == pytest.approx(ratio["change"], abs=1e-12)
    result = collect(run_events(RunRequest(dataset, ratio="orders/users")))
    assert omitted_note(result, "rate_mix_by_segment").startswith("… and 40 more segments")
    full = list(csv.DictReader(io.StringIO(full_table_csv(dataset, result.analysis, "rate_mix_by_segment"))))
    assert len(full) == TABLE_ROWS + 40


def test_report_and_csv_tables_read_as_a_report(write_file):
    from agent.output.export import full_table_csv

    # Cents that sum with float noise, and a segment that is new (no % change).
    text = (
        "country,revenue_before,revenue_after\nDE,20215.15,19588.10\nDE,0.0,0.0\nNO,0,10.5\nUK,300.1,300.2\n"
    )
    dataset = load_dataset(write_file("n.csv", text))
    result = collect(run_events(RunRequest(dataset)))
    page = report_html(result)
    assert "<th>Change</th>" in page and "<th>% change</th>" in page and "<th>Share of change</th>" in page
    tables = page.split("<h2>by country</h2>")[1]  # after plotly.js, whose code says NaN
    assert "abs_change" not in tables
    assert ">new<" in tables and "NaN" not in tables and ">nan<" not in tables
    assert "-627.05" in tables and "627.050000" not in tables
    markdown = report_markdown(result)
    assert "| Change |" in markdown and "| new |" in markdown and "NaN" not in markdown
    assert "| -627.05 | -3.10% |" in markdown  # figures as written, not "\\-627.05"
    rows = list(csv.DictReader(io.StringIO(full_table_csv(dataset, result.analysis, "by_country"))))
    germany = next(r for r in rows if r["country"] == "DE")
    assert germany["Change"] == "-627.05" and germany["% change"] == "-3.1"  # numbers, no noise
    norway = next(r for r in rows if r["country"] == "NO")
    assert norway["% change"] == ""  # an empty cell, never "nan"
    assert json.loads(trace_json(result))["breakdowns"]["country"][0]["abs_change"] == pytest.approx(-627.05)


def test_the_report_carries_plotly_once_packed_and_its_title_says_what_it_is(revenue_dataset):
    """4.8 MB before (plotly.js inlined as text); plotly.js gzipped once, each chart as JSON, a title to forward."""
    import datetime as dt
    import re

    from agent.output.export import report_title
    from agent.run.result import collect
    from agent.run.runner import RunRequest, run_events

    result = collect(run_events(RunRequest(revenue_dataset, executor="local")))
    page = report_html(result)
    assert len(page.encode()) < 2_500_000
    assert page.count("id='plotly-gz'") == 1 and page.count("class='chart-spec'") == len(result.charts) >= 2
    specs = re.findall(r"class='chart-spec' data-target='chart-\d+'>(.*?)</script>", page)
    assert [json.loads(spec)["layout"]["title"]["text"] for spec in specs]  # whole JSON, nothing cut by `</`
    title = report_title(result, made_on=dt.date(2026, 11, 29))
    assert title == "revenue: what changed · revenue_by_country.tsv · before → after · 2026-11-29"
    assert f"<title>{report_title(result)}</title>" in page.replace("&gt;", ">")
