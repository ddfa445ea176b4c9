"""HTML to Markdown the way LIMA prepared Stack Exchange: links, images and other markup
stripped; code blocks, lists, paragraphs, quotes and tables kept.

The conversion is markdownify's (MIT, on BeautifulSoup's stdlib ``html.parser``): it knows
nested and numbered lists, quotes and tables. html2text does the same job but is GPL-3.0, which
would bind this project's licence; inscriptis (Apache-2.0) renders plain text with layout, not
Markdown, so code blocks would lose their fences. Two things are ours:

- **Code is byte-exact.** A ``<pre>`` block's text (entities unescaped, inner tags removed,
  CRLF normalised, a leading newline dropped as HTML drops one after ``<pre>``) goes into a fence
  longer than any backtick run it holds, and no whitespace clean-up ever touches it: the
  blocks are held out as placeholders while the rest is converted and tidied, then put back.
  Inside a list item or a quote every line of the fence carries the container's indentation
  or ``> `` marker, as Markdown nests them (remove it and the code is exact again).
- **Links keep their text, images go.** The paper strips both; a link's words are part of the
  sentence, an image's alt text is not.
- **A ``<br>`` is one line break**, whatever follows it. Stack Exchange stores most breaks as
  ``<br>&#xA;``; the newline after the tag is whitespace HTML does not show, so it is dropped
  (markdownify would add it to the break: a blank line, a paragraph). Inside a quote or a list
  item the next line keeps the ``> `` marker or the indentation.
- **Super- and subscripts keep their meaning**: ``x<sup>2</sup>`` is ``x^2``, ``H<sub>2</sub>O``
  is ``H_2O``, a script of more than one token in parentheses (``e^(-x t)``). markdownify's
  ``sup_symbol``/``sub_symbol`` options wrap both sides (``x^2^``, Pandoc's syntax), which
  reads as a different formula in plain text.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, Tag
from markdownify import MarkdownConverter

_HOLE = (
    "\x00{}\x00"  # NUL never survives from the input (removed first), so it marks a held-out block
)
_HOLE_LINE = re.compile(r"^(?P<before>.*?)\x00(?P<n>\d+)\x00(?P<after>.*)$", re.M)
_BACKTICKS = re.compile(r"`+")
_LANG = re.compile(r"\b(?:lang|language)-([\w+#.-]+)")
_ONE_TOKEN = re.compile(r"[-+]?\w+|\(.*\)")  # a script that needs no parentheses around it


def pre_text(el) -> str:
    """What a browser shows of a ``<pre>``: its text, CRLF as LF, minus one leading newline."""
    text = el.get_text().replace("\r\n", "\n").replace("\r", "\n")
    return text[1:] if text.startswith("\n") else text


def fence(code: str, language: str = "") -> str:
    """``code`` between fences longer than any backtick run in it (CommonMark's rule)."""
    ticks = "`" * max(3, 1 + max((len(m) for m in _BACKTICKS.findall(code)), default=0))
    return (
        f"{ticks}{language}\n{code}{'' if code.endswith(chr(10)) or not code else chr(10)}{ticks}"
    )


class _Converter(MarkdownConverter):
    def __init__(self) -> None:
        super().__init__(
            heading_style="atx",
            bullets="-",
            escape_asterisks=False,
            escape_underscores=False,
            escape_misc=False,
            newline_style="backslash",
        )
        self.blocks: list[str] = []

    def convert_pre(self, el, text, parent_tags):  # noqa: ARG002  markdownify's signature
        code = pre_text(el)
        if not code:
            return ""
        classes = " ".join(
            el.get("class", [])
            + [c for code_el in el.find_all("code") for c in code_el.get("class", [])]
        )
        lang = _LANG.search(classes)
        self.blocks.append(fence(code, lang.group(1) if lang else ""))
        return "\n\n" + _HOLE.format(len(self.blocks) - 1) + "\n\n"

    def convert_a(self, el, text, parent_tags):  # noqa: ARG002
        return text  # the words stay, the target goes

    def convert_img(self, el, text, parent_tags):  # noqa: ARG002
        return ""

    def convert_br(self, el, text, parent_tags):
        return " " if "_inline" in parent_tags else "\n"

    def process_text(self, el, parent_tags=None):
        text = super().process_text(el, parent_tags)
        prev = el.previous_sibling
        if isinstance(prev, Tag) and prev.name == "br" and "pre" not in (parent_tags or ()):
            return text.lstrip(" \t\r\n")  # the break is the br's alone
        return text

    def convert_sup(self, el, text, parent_tags):  # noqa: ARG002
        return _script("^", text, parent_tags)

    def convert_sub(self, el, text, parent_tags):  # noqa: ARG002
        return _script("_", text, parent_tags)


def _script(mark: str, text: str, parent_tags: set[str]) -> str:
    """``^2`` / ``_2``; ``^(n+1)`` when the script is more than one token."""
    body = text.strip()
    if "_noformat" in parent_tags or not body:
        return text
    return (
        mark
        + (body if _ONE_TOKEN.fullmatch(body) else f"({body})")
        + (" " if text[-1].isspace() else "")
    )


def _tidy(text: str) -> str:
    """Prose clean-up (never reaches code: blocks are placeholders here)."""
    text = text.replace("\u00a0", " ")
    lines = [ln.rstrip() for ln in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def _put_back(text: str, blocks: list[str]) -> str:
    """Each placeholder becomes its fence, on lines of its own, indented like its container."""

    def restore(m: re.Match) -> str:
        before, after = m.group("before"), m.group("after")
        prefix = before if re.fullmatch(r"[ >]*(?:[-*+]|\d+[.)])? *", before) else ""
        lead = (
            "" if prefix or not before.strip() else before.rstrip() + "\n"
        )  # a block inside inline text
        rest = re.sub(r"[^ >]", " ", prefix)  # a list item's bullet only on its first line
        lines = blocks[int(m.group("n"))].split("\n")
        body = "\n".join(
            [prefix + lines[0]]
            + [(rest + ln) if ln or rest.strip() else rest.rstrip() + ln for ln in lines[1:]]
        )
        return lead + body + ("\n" + after.strip() if after.strip() else "")

    return _HOLE_LINE.sub(restore, text)


def to_markdown(body: str) -> str:
    """A Stack Exchange post body (HTML) as Markdown text."""
    conv = _Converter()
    soup = BeautifulSoup(body.replace("\x00", ""), "html.parser")
    return _put_back(_tidy(conv.convert_soup(soup)), conv.blocks)
