"""Markdown to the HTML of a Matrix ``formatted_body`` (pure, like `translate`).

The core writes a small, fixed part of Markdown; a hand-written renderer takes that part
in a few dozen µs and hands anything else to markdown-it-py (raw HTML, entities, links
and images off), which gives the same HTML (tests/matrix/test_matrix_translate.py).
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

_MD = (MarkdownIt("commonmark", {"html": False, "breaks": True})
       # Entities would turn a member's literal "&lt;" into "<"; links and images are
       # never written by the core, so a slip in escaping can still not produce one.
       .disable(["entity", "link", "image", "autolink"]))
_SINGLE_PARAGRAPH = re.compile(r"^<p>((?:(?!</?p>).)*)</p>$", re.DOTALL)


def to_html(markdown: str) -> str:
    """HTML for ``formatted_body``; user text in `markdown` is escaped already."""
    html = _core_html(markdown)
    if html is None:
        html = _MD.render(markdown)
    html = html.strip()
    m = _SINGLE_PARAGRAPH.match(html)
    return m.group(1) if m else html


# The core writes a small, fixed part of Markdown: paragraphs, "- " lists, **bold** ids,
# `code` and backslash escapes in user text (bot.chat.render.esc). markdown-it-py takes
# about 2 ms for a 20-line `!needs` page here, as much as the rest of a command's CPU; the
# renderer below takes a few dozen µs for exactly that part and answers None for anything
# else, which then goes to markdown-it-py. tests/matrix/test_matrix_translate.py checks
# that both give the same HTML.
_INLINE = re.compile(r"\\([\\`*_{}\[\]()<>#+\-!|~.@])"
                     r"|(?<!`)`([^`\s](?:[^`]*[^`\s])?)`(?!`)"
                     r"|(?<![^\s(])\*\*([0-9A-Za-z](?:[^*`\\_\[\]<\n]*[0-9A-Za-z])?)\*\*(?![^\s).,:;])")
# Left over after the above, these would mean something to a Markdown parser (links and
# images are off in `_MD`, so brackets are text).
_SPECIAL = re.compile(r"[\\`*_<]")
# Lines that could open a block other than a paragraph or a "- " item.
_OTHER_BLOCK = re.compile(r"^(?:\s|[#>=_[]|[+*](?!\*?[^\s*])|\*\*\s*\*|``|~~|\d+[.)]|-(?!\s\S)|-\s*-)"
                          r"|\s$|\\$")
_HTML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


def _inline_html(text: str) -> str | None:
    out: list[str] = []
    pos = 0
    for m in _INLINE.finditer(text):
        plain = text[pos:m.start()]
        if _SPECIAL.search(plain):
            return None
        out.append(plain.translate(_HTML_ESCAPES))
        escaped, code, bold = m.groups()
        if escaped is not None:
            out.append(escaped.translate(_HTML_ESCAPES))
        elif code is not None:
            out.append(f"<code>{code.translate(_HTML_ESCAPES)}</code>")
        else:
            out.append(f"<strong>{bold.translate(_HTML_ESCAPES)}</strong>")
        pos = m.end()
    rest = text[pos:]
    if _SPECIAL.search(rest):
        return None
    out.append(rest.translate(_HTML_ESCAPES))
    return "".join(out)


def _core_html(markdown: str) -> str | None:
    """HTML as markdown-it-py renders the core's Markdown, or None for other Markdown."""
    if "\r" in markdown or "\x00" in markdown:
        return None  # markdown-it-py rewrites these first
    out: list[str] = []
    block: list[str] = []  # lines of the open paragraph or list item
    in_list = False
    after_blank = False

    def close_block() -> None:
        if block:
            out.append(("<li>" if in_list else "<p>") + "<br />\n".join(block)
                       + ("</li>\n" if in_list else "</p>\n"))
            block.clear()

    for line in markdown.split("\n"):
        if not line:
            close_block()
            if in_list:
                out.append("</ul>\n")
                in_list = False
            after_blank = True
            continue
        if _OTHER_BLOCK.search(line):
            return None
        item = line.startswith("- ")
        if item and _OTHER_BLOCK.search(line[2:]):
            return None  # a block nested in the item
        html = _inline_html(line[2:] if item else line)
        if html is None:
            return None
        if item:
            if after_blank and out and out[-1] == "</ul>\n":
                return None  # a blank line between items makes a loose list
            close_block()
            if not in_list:
                out.append("<ul>\n")
                in_list = True
        block.append(html)
        after_blank = False
    close_block()
    if in_list:
        out.append("</ul>\n")
    return "".join(out)
