"""HTML to text the way LIMA prepared Stack Exchange: links, images and markup stripped;
code blocks and lists kept."""

from __future__ import annotations

import html
import re

_CODE = re.compile(r"<pre[^>]*>\s*(?:<code[^>]*>)?(.*?)(?:</code>)?\s*</pre>", re.S)
_LI = re.compile(r"<li[^>]*>(.*?)</li>", re.S)
_BLOCK_END = re.compile(r"</(p|ul|ol|h\d|blockquote|div)>|<br\s*/?>", re.I)
_TAG = re.compile(r"<[^>]+>")


def strip_html(body: str) -> str:
    codes: list[str] = []

    def keep_code(m: re.Match) -> str:
        codes.append(html.unescape(m.group(1)))
        return f"\x00{len(codes) - 1}\x00"

    text = _CODE.sub(keep_code, body)
    text = _LI.sub(lambda m: "\n- " + m.group(1).strip() + "\n", text)
    text = _BLOCK_END.sub("\n", text)
    text = _TAG.sub("", text)
    text = html.unescape(text)
    text = re.sub(r"\x00(\d+)\x00", lambda m: "\n```\n" + codes[int(m.group(1))].strip("\n") + "\n```\n", text)
    lines = [re.sub(r"[ \t]+", " ", ln).strip() for ln in text.split("\n")]
    return "\n".join(ln for ln in lines if ln)
