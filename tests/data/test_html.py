"""HTML to Markdown (data/html.py): code byte-exact in fences, lists, quotes, tables, links
and images as the paper strips them; a property test over generated post bodies."""

from __future__ import annotations

import html
import re
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from limalab.data.html import fence, to_markdown
from limalab.data.readers.stackexchange import read_threads
from tests.conftest import examples


def dump_answer(tmp_path: Path, body: str) -> str:
    """``body`` as a Stack Exchange dump stores it (an attribute: markup and newlines
    entity-encoded, ``&#xA;``), read back through the reader: the HTML the converter gets."""
    attr = html.escape(body, quote=True).replace("\n", "&#xA;")
    site = tmp_path / "physics.stackexchange.com"
    site.mkdir()
    (site / "Posts.xml").write_text(
        '\ufeff<?xml version="1.0" encoding="utf-8"?>\r\n<posts>\r\n'
        '  <row Id="1" PostTypeId="1" Score="3" Body="&lt;p&gt;Why?&lt;/p&gt;" Title="Why?" '
        'Tags="&lt;a&gt;" />\r\n'
        f'  <row Id="2" PostTypeId="2" ParentId="1" Score="5" Body="{attr}" '
        'ContentLicense="CC BY-SA 4.0" />\r\n'
        "</posts>",
        encoding="utf-8",
        newline="",
    )
    (thread,) = read_threads(site)
    return thread.answers[0].body


def test_code_keeps_indentation_blank_lines_and_columns() -> None:
    body = (
        '<p>Try:</p><pre class="lang-py prettyprint-override"><code>def f(x):\n    if x &lt; 2:\n\n'
        "        return x\nA    B      C\n</code></pre><p>Done.</p>"
    )
    assert to_markdown(body) == (
        "Try:\n\n```py\ndef f(x):\n    if x < 2:\n\n        return x\nA    B      C\n```\n\nDone."
    )


def test_lists_nest_and_keep_numbers_paragraphs_quotes_tables() -> None:
    body = (
        "<p>One&nbsp;paragraph.</p><p>Two.</p>"
        "<ol><li>first<ul><li>inner a</li><li>inner b</li></ul></li>"
        "<li>second</li></ol><blockquote><p>quoted</p></blockquote>"
        "<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>"
    )
    assert to_markdown(body) == (
        "One paragraph.\n\nTwo.\n\n1. first\n   - inner a\n   - inner b\n2. second\n\n"
        "> quoted\n\n| a | b |\n| --- | --- |\n| 1 | 2 |"
    )


def test_links_keep_their_words_images_go() -> None:
    text = to_markdown(
        '<p>Read <a href="https://x.org/a">the manual</a> <img src="i.png" alt="a diagram">now.</p>'
    )
    assert text == "Read the manual now." or text == "Read the manual  now."
    assert "x.org" not in text and "diagram" not in text


def test_code_in_a_list_item_or_quote_carries_the_container_prefix() -> None:
    text = to_markdown(
        "<ul><li>Run:<pre><code>a\n  b\n</code></pre></li></ul>"
        "<blockquote><pre>q\r\n  r</pre></blockquote>"
    )
    assert "- Run:\n\n  ```\n  a\n    b\n  ```" in text
    assert "> ```\n> q\n>   r\n> ```" in text


def test_br_is_one_line_break_whether_or_not_a_newline_follows(tmp_path: Path) -> None:
    body = dump_answer(
        tmp_path, "<p>Line one<br>\nLine two<br/>Line three<br />\n  Line four</p>\n\n<p>Next.</p>"
    )
    assert "<br>\nLine two" in body  # the dump's &#xA; after the tag, as Stack Exchange stores it
    assert to_markdown(body) == "Line one\nLine two\nLine three\nLine four\n\nNext."
    assert to_markdown("<p>a<br>\nb</p>") == to_markdown("<p>a<br>b</p>") == "a\nb"
    assert (
        to_markdown("<p>a<br><br>\nb</p>") == "a\n\nb"
    )  # two breaks: one empty line, as a browser shows


def test_br_in_a_quote_keeps_the_marker_in_a_list_the_indentation(tmp_path: Path) -> None:
    body = dump_answer(
        tmp_path,
        "<blockquote>\n  <p>@MISC {X1,<br>\n      TITLE = {a title},<br>\n"
        '      NOTE = {see <a href="https://example.org/q/1">https://example.org/q/1</a>\n'
        "  (version: 2010)},</p>\n\n<pre><code>URL = {x},\n</code></pre>\n</blockquote>\n\n"
        "<ol>\n<li>first<br>\nstill first</li>\n<li>second</li>\n</ol>",
    )
    assert to_markdown(body) == (
        "> @MISC {X1,\n> TITLE = {a title},\n> NOTE = {see https://example.org/q/1\n"
        "> (version: 2010)},\n>\n> ```\n> URL = {x},\n> ```\n\n"
        "1. first\n   still first\n2. second"
    )


def test_super_and_subscripts_keep_their_meaning(tmp_path: Path) -> None:
    body = dump_answer(
        tmp_path,
        "<p>E = mc<sup>2</sup>, H<sub>2</sub>O, e<sup>-x t</sup>, 10<sup>-3</sup>, "
        "a<sub>i,j</sub> and 2<sup>(n+1)</sup>.</p>\n<pre><code>x<sup>2</sup>\n</code></pre>",
    )
    assert to_markdown(body) == (
        "E = mc^2, H_2O, e^(-x t), 10^-3, a_(i,j) and 2^(n+1).\n\n```\nx2\n```"
    )  # code stays the text a browser shows


def test_fence_outgrows_backtick_runs() -> None:
    assert fence("a ``` b\n") == "````\na ``` b\n````"
    assert fence("x", "py") == "```py\nx\n```"


# --- property: every <pre>'s text survives exactly, inside a long enough fence ----------------

code_text = st.lists(
    st.sampled_from(list("ab `~<>&\"'\t\n\r#*_-|") + ["\u00a0", "é", "    ", "```"]),
    min_size=1,
    max_size=30,
).map("".join)
inline = st.sampled_from(["", "<b>b</b>", "<span>s</span>", "&amp;", "&lt;tag&gt;"])


@st.composite
def pre_block(draw: st.DrawFn) -> tuple[str, str]:
    """(HTML of a <pre>, the text a browser shows), with entities and inner tags in it."""
    parts, shown = [], []
    for _ in range(draw(st.integers(1, 3))):
        raw = draw(code_text)
        parts.append(html.escape(raw, quote=False))
        shown.append(raw)
        tag = draw(inline)
        parts.append(tag)
        shown.append(html.unescape(re.sub(r"<[^>]+>", "", tag)))
    inner = "".join(parts)
    wrapped = f"<pre><code>{inner}</code></pre>" if draw(st.booleans()) else f"<pre>{inner}</pre>"
    text = "".join(shown).replace("\r\n", "\n").replace("\r", "\n")
    return wrapped, text.removeprefix("\n")  # the one newline HTML ignores at the start


CONTAINERS = [
    "{}",
    "<p>Before.</p>{}<p>After.</p>",
    "<ul><li>item{}</li></ul>",
    "<ol><li><p>x</p>{}</li></ol>",
    "<blockquote>{}</blockquote>",
    "<ul><li>a<ul><li>b{}</li></ul></li></ul>",
    "<div>{}</div>",
]


def fenced_code(markdown: str) -> tuple[str, str]:
    """(fence, code) of the first fenced block, its container prefix (list indent, quote
    marker) removed from every line."""
    lines = markdown.split("\n")
    for i, ln in enumerate(lines):
        m = re.fullmatch(r"(?P<p>[ >]*(?:[-*+]|\d+[.)])? *)(?P<t>`{3,})\w*", ln)
        if m:
            rest = re.sub(r"[^ >]", " ", m.group("p"))
            body = [
                x[len(rest) :] if x.startswith(rest) else x.removeprefix(rest.rstrip())
                for x in lines[i + 1 :]
            ]
            j = body.index(m.group("t"))
            return m.group("t"), "\n".join(body[:j]) + "\n"
    raise AssertionError(f"no fence in {markdown!r}")


@settings(max_examples=examples(150), deadline=None)
@given(block=pre_block(), container=st.sampled_from(CONTAINERS))
@example(block=("<pre><code>x\n\n\n  y\n</code></pre>", "x\n\n\n  y\n"), container="{}")
@example(block=("<pre>\n```\n``\n</pre>", "```\n``\n"), container="<blockquote>{}</blockquote>")
def test_pre_text_survives_exactly_in_a_fence(block: tuple[str, str], container: str) -> None:
    body, text = block
    if text == "":
        return  # a <pre> holding only the newline HTML ignores shows nothing
    ticks, got = fenced_code(to_markdown(container.format(body)))
    want = text if text.endswith("\n") else text + "\n"
    assert got == want
    runs = re.findall(r"`+", text)
    assert len(ticks) > max(map(len, runs), default=0) and len(ticks) >= 3
