"""Labels are data: escaping for Markdown and plotly, shortening, and summaries with hostile labels in them."""

from __future__ import annotations

import markdown_it
import plotly.graph_objects as go
import pytest

from tools.labels import (
    ELLIPSIS,
    WORD_JOINER,
    escape_markdown,
    escape_plotly,
    flatten,
    safe_figure,
    safe_markdown,
    shorten_label,
)

LINK = "[Verify your account](http://evil.invalid)"
IMAGE = "![x](http://evil.invalid/x.png)"
LONG = "Segment " + "very long name " * 14  # 200+ characters


def render(text: str) -> str:
    """CommonMark as the HTML report renders it (raw HTML off)."""
    return markdown_it.MarkdownIt("commonmark", {"html": False}).render(text)


def test_shorten_label_keeps_short_labels_and_cuts_long_ones_with_an_ellipsis():
    assert shorten_label("France") == "France"
    short = shorten_label(LONG)
    assert len(short) == 40 and short.endswith(ELLIPSIS) and short.startswith("Segment very long")
    assert shorten_label("a\n\nb") == "a b"  # never spans lines
    assert shorten_label("abcdef", limit=4) == "abc" + ELLIPSIS


@pytest.mark.parametrize(
    "label",
    [
        LINK,
        IMAGE,
        "**bold**",
        ":red[alarm]",
        "$x^2$",
        "<b>x</b>",
        "# heading",
        "- item",
        "1. item",
        "www.evil.invalid",
        "`code`",
        "a | b",
        "<http://evil.invalid>",
        "&lt;b&gt;",
    ],
)
def test_an_escaped_label_renders_as_exactly_itself(label):
    html = render(escape_markdown(label))
    assert (
        html.startswith("<p>") and html.count("<") == 2
    )  # only the paragraph: no link, image, emphasis, code
    html = html.replace(WORD_JOINER, "")  # invisible: it only stops GFM from linking `http://` and `www.`
    expected = label.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    assert html == f"<p>{expected}</p>\n"


def test_an_error_message_keeps_its_lines_each_escaped():
    shown = escape_markdown("Code failed at line 2:\n# [x](http://evil.invalid)\n\n1. boom", keep_lines=True)
    html = render(shown)
    assert html.count("<br />") == 2 and "<a " not in html and "<h1>" not in html and "<ol>" not in html


def test_escape_markdown_puts_a_label_on_one_line():
    assert "\n" not in escape_markdown("line one\n\n# line two")
    assert flatten("  a \t b\r\n c ") == "a b c"


def test_safe_markdown_keeps_the_models_formatting_and_escapes_labels_in_it():
    summary = f"**Revenue fell 7.67%.**\n\n- {LINK}: -5.00, 60.00% of the change\n- {LONG}: +1.00"
    shown = safe_markdown(summary, [LINK, LONG, "France"])
    html = render(shown)
    assert "<strong>Revenue fell 7.67%.</strong>" in html and html.count("<li>") == 2
    assert "<a " not in html and "href" not in html
    assert shorten_label(LINK) in html.replace(WORD_JOINER, "")  # shown as text, shortened (42 characters)
    assert LONG not in html and shorten_label(LONG) in html


def test_safe_markdown_neutralises_links_images_colours_and_math_the_model_wrote_itself():
    summary = (
        f"See {IMAGE} and [here](http://evil.invalid), <http://evil.invalid>, http://evil.invalid, "
        "www.evil.invalid, mail a@evil.invalid; :red[alarm] and $x^2$."
    )
    shown = safe_markdown(summary)
    html = render(shown)
    assert "<a " not in html and "<img" not in html
    for syntax in (
        "\\[",
        "\\]",
        "\\<",
        "\\$",
        f"http{WORD_JOINER}://",
        f"www{WORD_JOINER}.",
        f"a{WORD_JOINER}@evil",
    ):
        assert syntax in shown
    # Shown the same as written (the word joiner is invisible), only not live:
    visible = html.replace(WORD_JOINER, "")
    assert "[here](http://evil.invalid)" in visible and "$x^2$" in visible and ":red[alarm]" in visible


def test_safe_markdown_matches_a_label_the_model_wrapped_over_two_lines():
    wrapped = LONG.replace("name very", "name\nvery", 1)
    assert shorten_label(LONG) in safe_markdown(f"Driver: {wrapped}.", [LONG])


def test_safe_markdown_leaves_a_plain_summary_as_it_was():
    text = "**Revenue fell 7.67%** (-132,919.66).\n\n- France: -132,847.57, 99.95% of the change"
    assert safe_markdown(text, ["France", "UK", "country"]) == text


def test_escape_plotly_turns_tags_into_entities():
    assert escape_plotly('<a href="http://evil.invalid">x</a> & co') == (
        '&lt;a href="http://evil.invalid"&gt;x&lt;/a&gt; &amp; co'
    )


def test_safe_figure_escapes_text_from_data_and_drops_what_would_fetch_a_url():
    hostile = '<a href="http://evil.invalid">click</a>'
    figure = go.Figure(go.Bar(x=[hostile, "UK"], y=[1, 2], hovertemplate="%{x}<br>%{y}<extra></extra>"))
    figure.update_layout(title=f"Change by {hostile}", xaxis={"ticktext": [hostile], "tickvals": [hostile]})
    figure.add_layout_image(source="http://evil.invalid/x.png", x=0, y=0)
    figure.add_layout_image(source="data:image/png;base64,iVBORw0KGgo=", x=0, y=0)
    figure.update_layout(map={"style": "http://evil.invalid/style.json"})
    safe = safe_figure(figure.to_plotly_json())
    text = str(safe)
    assert "<a " not in text and "&lt;a href" in text
    assert safe["data"][0]["x"][0] == escape_plotly(hostile)
    assert safe["data"][0]["hovertemplate"] == "%{x}<br>%{y}<extra></extra>"  # plotly's own tags stay
    assert [image["source"][:5] for image in safe["layout"]["images"]] == ["data:"]
    assert "style" not in safe["layout"]["map"]
    go.Figure(safe)  # still a valid figure


def test_safe_figure_shows_a_tag_in_a_hover_template_as_text():
    safe = safe_figure(
        {"data": [{"type": "bar", "hovertemplate": '<a href="http://evil.invalid">%{x}</a><b>'}]}
    )
    assert safe["data"][0]["hovertemplate"] == '&lt;a href="http://evil.invalid"&gt;%{x}&lt;/a&gt;<b>'


def test_the_terminal_prints_no_hyperlink_for_a_label(write_file):
    import io

    from rich.console import Console

    from agent.output.render import TerminalRenderer
    from agent.run.runner import RunRequest, run_events
    from tools.loading import load_dataset

    path = write_file(
        "t.csv", f'country,revenue_before,revenue_after\n"{LINK}",1000,400\n"{LONG}",500,650\nUK,9,9\n'
    )
    output = io.StringIO()
    render = TerminalRenderer(Console(file=output, force_terminal=True, width=200))
    for event in run_events(RunRequest(load_dataset(path))):
        render(event)
    text = output.getvalue()
    assert "\x1b]8;" not in text  # no OSC 8 hyperlink escape
    assert "[Verify your account](http" in text.replace(WORD_JOINER, "") and shorten_label(LONG) in text
