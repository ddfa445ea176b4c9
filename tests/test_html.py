"""HTML to Markdown (data/html.py): code byte-exact in fences, lists, quotes, tables, links
and images as the paper strips them; a property test over generated post bodies."""

from __future__ import annotations

import html
import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from limalab.data.html import fence, to_markdown
from tests.conftest import examples


def test_code_keeps_indentation_blank_lines_and_columns() -> None:
    body = ('<p>Try:</p><pre class="lang-py prettyprint-override"><code>def f(x):\n    if x &lt; 2:\n\n'
            '        return x\nA    B      C\n</code></pre><p>Done.</p>')
    assert to_markdown(body) == ("Try:\n\n```py\ndef f(x):\n    if x < 2:\n\n        return x\nA    B      C\n```"
                                 "\n\nDone.")


def test_lists_nest_and_keep_numbers_paragraphs_quotes_tables() -> None:
    body = ("<p>One&nbsp;paragraph.</p><p>Two.</p><ol><li>first<ul><li>inner a</li><li>inner b</li></ul></li>"
            "<li>second</li></ol><blockquote><p>quoted</p></blockquote>"
            "<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>")
    assert to_markdown(body) == ("One paragraph.\n\nTwo.\n\n1. first\n   - inner a\n   - inner b\n2. second\n\n"
                                 "> quoted\n\n| a | b |\n| --- | --- |\n| 1 | 2 |")


def test_links_keep_their_words_images_go() -> None:
    text = to_markdown('<p>Read <a href="https://x.org/a">the manual</a> <img src="i.png" alt="a diagram">now.</p>')
    assert text == "Read the manual now." or text == "Read the manual  now."
    assert "x.org" not in text and "diagram" not in text


def test_code_in_a_list_item_or_quote_carries_the_container_prefix() -> None:
    text = to_markdown("<ul><li>Run:<pre><code>a\n  b\n</code></pre></li></ul>"
                       "<blockquote><pre>q\r\n  r</pre></blockquote>")
    assert "- Run:\n\n  ```\n  a\n    b\n  ```" in text
    assert "> ```\n> q\n>   r\n> ```" in text


def test_fence_outgrows_backtick_runs() -> None:
    assert fence("a ``` b\n") == "````\na ``` b\n````"
    assert fence("x", "py") == "```py\nx\n```"


# --- property: every <pre>'s text survives exactly, inside a long enough fence ----------------

code_text = st.lists(st.sampled_from(list("ab `~<>&\"'\t\n\r#*_-|") + ["\u00a0", "é", "    ", "```"]),
                     min_size=1, max_size=30).map("".join)
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


CONTAINERS = ["{}", "<p>Before.</p>{}<p>After.</p>", "<ul><li>item{}</li></ul>", "<ol><li><p>x</p>{}</li></ol>",
              "<blockquote>{}</blockquote>", "<ul><li>a<ul><li>b{}</li></ul></li></ul>", "<div>{}</div>"]


def fenced_code(markdown: str) -> tuple[str, str]:
    """(fence, code) of the first fenced block, its container prefix (list indent, quote
    marker) removed from every line."""
    lines = markdown.split("\n")
    for i, ln in enumerate(lines):
        m = re.fullmatch(r"(?P<p>[ >]*(?:[-*+]|\d+[.)])? *)(?P<t>`{3,})\w*", ln)
        if m:
            rest = re.sub(r"[^ >]", " ", m.group("p"))
            body = [x[len(rest):] if x.startswith(rest) else x.removeprefix(rest.rstrip()) for x in lines[i + 1:]]
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
