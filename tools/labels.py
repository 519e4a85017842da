"""Text from a file or a model, made safe to show: labels are data, never markup.

A segment label, a column or file name, a loading warning or an error message may hold Markdown (`[Verify your
account](http://evil.invalid)`, `![x](http://evil.invalid/x.png)`, `**`, Streamlit's `:red[...]`, `$...$` LaTeX)
or HTML that plotly renders (`<a href>` in a title or a tick label). Everything shown on the page, in a chart or
in a report goes through one of these functions:

- `escape_markdown(text)`: a label or message inside Markdown (`st.markdown`, `st.warning`, a widget label, the
  Markdown report): every character Markdown or Streamlit would read as syntax is backslash-escaped.
- `safe_markdown(text, labels)`: prose a model wrote. Its own bold, italics and lists stay; the known labels in it
  are escaped (and shortened when long), and links, images, autolinks, colours and LaTeX anywhere in it are
  shown as text.
- `escape_plotly(text)` and `safe_figure(figure)`: plotly renders a subset of HTML in every text it draws, so
  `<`, `>` and `&` from data become entities, and figure parts that make the browser fetch a URL are dropped.
- `shorten_label(text)`: labels longer than `LABEL_LIMIT` characters end in "…" in prose and charts; tables keep
  the full name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

LABEL_LIMIT = 40
ELLIPSIS = "…"

# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones Markdown, GFM or Streamlit's
# extensions (`:red[...]` directives, `$` math, `~` strikethrough, e-mail autolinks) give a meaning anywhere.
# `_` inside a word and `:` outside `:name[` mean nothing, so `revenue_by_country.csv: empty` stays as it is.
_MARKDOWN_SPECIAL = re.compile(
    r"([\\`*{}\[\]<>()!|~$&@]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|:(?=[A-Za-z0-9_/-]*\[))"
)
# ... and these only at the start of a line: a heading, a quote, a list item.
_LINE_START = re.compile(r"^([#>+\-=]|\d+(?=[.)]))")
_WHITESPACE = re.compile(r"\s+")
# Private-use characters mark where a known label sat while the rest of a summary is neutralised.
_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"
_MARKS = re.compile(f"[{_MARK_OPEN}{_MARK_CLOSE}]")
_PLACEHOLDER = re.compile(f"{_MARK_OPEN}(\\d+){_MARK_CLOSE}")
# In a model's prose: what would become a link, an image, a colour, an icon or math.
_PROSE_SPECIAL = re.compile(r"([\[\]<>$\\])")
_DIRECTIVE = re.compile(r":(?=[A-Za-z0-9_/-]*\[)")  # `:red[`, `:material/home[`: the colon starts a directive
# GFM (Streamlit's Markdown) links bare `http://...`, `www.x` and e-mail addresses in the text after escapes are
# resolved, so a backslash cannot stop it: an invisible word joiner after the scheme, `www` or the name does.
_AUTOLINK = re.compile(r"(?i)\b(?:[a-z][a-z0-9+.-]{1,31}(?=://)|www(?=\.\w))|\w(?=@\w)")
WORD_JOINER = "\u2060"
# Figure keys whose string value is a URL the browser would fetch (map styles, layer and image sources, GeoJSON).
_FETCHING_KEYS = {"source", "style", "geojson", "accesstoken", "href", "url"}
_URL = re.compile(r"(?i)^\s*(?:[a-z][a-z0-9+.-]*:|//)")
# Tags plotly's own hover templates use; every other tag in a template is shown as text.
_TEMPLATE_TAGS = re.compile(r"&lt;(/?(?:br|b|i|em|sup|sub|extra)\s*/?)&gt;", flags=re.IGNORECASE)


def flatten(text: object) -> str:
    """One line: any run of whitespace (line breaks included) becomes one space."""
    return _WHITESPACE.sub(" ", str(text)).strip()


def shorten_label(text: object, limit: int = LABEL_LIMIT) -> str:
    """The label on one line, cut to `limit` characters with a trailing "…" when longer."""
    flat = flatten(text)
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + ELLIPSIS


def shorten_labels(texts: Iterable[object], limit: int = LABEL_LIMIT) -> list[str]:
    """Each label shortened, kept distinct: two long names that share their start get "(2)", "(3)" after the first
    (a chart's categories must not merge)."""
    seen: dict[str, int] = {}
    shortened = []
    for text in texts:
        short = shorten_label(text, limit)
        count = seen.get(short, 0) + 1
        seen[short] = count
        shortened.append(short if count == 1 else f"{short} ({count})")
    return shortened


def escape_markdown(text: object, keep_lines: bool = False) -> str:
    """Text shown as itself inside Markdown, every syntax character backslash-escaped: on one line, or (with
    `keep_lines`, for an error message) line by line, joined by Markdown line breaks."""
    if keep_lines:
        lines = [escape_markdown(line) for line in str(text).splitlines()]
        return "  \n".join(line for line in lines if line)
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", _AUTOLINK.sub(_break_autolink, flatten(text)))
    return _LINE_START.sub(_escape_line_start, escaped)


def _escape_line_start(match: re.Match[str]) -> str:
    start = match.group(1)
    return f"{start}\\" if start.isdigit() else f"\\{start}"  # `1.` -> `1\.`, `#` -> `\#`


def _needs_care(label: str, limit: int) -> bool:
    return len(label) > limit or bool(_MARKDOWN_SPECIAL.search(label))


def safe_markdown(text: object, labels: Iterable[object] = (), limit: int = LABEL_LIMIT) -> str:
    """A model's Markdown summary with everything that came from data shown as text.

    Known labels found in it are escaped and shortened to `limit` characters; then, in the whole text, links,
    images, autolinks (`http://`, `www.`, e-mail), HTML, `:colour[...]` directives and `$` math are neutralised.
    The model's own bold, italics, lists and headings stay.

    Args:
        text: The summary as the model wrote it.
        labels: Segment, slice, dimension, metric and file names of the run.
        limit: Labels longer than this are shortened with "…".
    """
    prose = _MARKS.sub("", str(text))
    known = sorted({flatten(label) for label in labels if label is not None}, key=len, reverse=True)
    known = [label for label in known if len(label) >= 2 and _needs_care(label, limit)]
    shown: list[str] = []
    for label in known:
        # The label as written in the summary, whatever its whitespace (a model may wrap a long name).
        pattern = re.compile(r"\s+".join(re.escape(part) for part in label.split(" ")))
        if pattern.search(prose):
            prose = pattern.sub(f"{_MARK_OPEN}{len(shown)}{_MARK_CLOSE}", prose)
            shown.append(escape_markdown(shorten_label(label, limit)))
    prose = _AUTOLINK.sub(_break_autolink, prose)
    prose = _DIRECTIVE.sub(r"\\:", prose)
    prose = _PROSE_SPECIAL.sub(r"\\\1", prose)
    return _PLACEHOLDER.sub(lambda match: shown[int(match.group(1))], prose)


def _break_autolink(match: re.Match[str]) -> str:
    """`http://x`, `www.x`, `a@b.c` with a word joiner after `http`, `www`, `a`: shown the same, never linked."""
    return match.group(0) + WORD_JOINER


def escape_plotly(text: object) -> str:
    """Text plotly shows as itself: `&`, `<` and `>` as entities (plotly renders `<a href>`, `<b>`, `<br>`...)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe_figure(figure: dict[str, Any]) -> dict[str, Any]:
    """A copy of a plotly figure (as JSON) that renders every text as text and fetches nothing.

    Every string is escaped with `escape_plotly` (hover and text templates keep plotly's own `<br>`, `<b>`,
    `<extra>` tags and `%{...}` fields); images, map styles and layer sources that point at a URL are dropped.
    """
    safe: dict[str, Any] = _safe_part(figure, "")
    return safe


def _safe_part(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        if "bdata" in value and "dtype" in value:  # a typed numeric array: numbers only
            return value
        cleaned = {}
        for name, item in value.items():
            if name == "images" and isinstance(item, list):
                item = [image for image in item if _is_inline_image(image)]
            elif name in _FETCHING_KEYS and isinstance(item, str) and _fetches(item):
                continue  # a URL the browser would fetch
            cleaned[name] = _safe_part(item, name)
        return cleaned
    if isinstance(value, list):
        return [_safe_part(item, key) for item in value]
    if isinstance(value, str):
        escaped = escape_plotly(value)
        if key.endswith("template"):
            escaped = _TEMPLATE_TAGS.sub(r"<\1>", escaped)
        return escaped
    return value


def _fetches(value: str) -> bool:
    return bool(_URL.match(value)) and not value.startswith("data:image/")


def _is_inline_image(image: Any) -> bool:
    source = image.get("source") if isinstance(image, dict) else None
    return isinstance(source, str) and source.startswith("data:image/")
