"""The plain ``body`` of the bot's Matrix notices shows user text as it was typed."""

from __future__ import annotations

from adapters.matrix import translate as tr
from bot.chat.render import esc, quote


def test_escaped_backticks_show_as_backticks_in_the_plain_body() -> None:
    typed = "Use `make test` and **not** \\o/ [x](y) <@&1>"
    content = tr.notice_content(f"**T1** {esc(typed)} — `!claim T1`")
    assert content["body"] == f"T1 {typed} — !claim T1"
    assert "<code>make test</code>" not in content["formatted_body"]
    assert "<a " not in content["formatted_body"]


def test_a_quoted_description_stays_a_quote_in_both_bodies() -> None:
    content = tr.notice_content("New need **T1** Docs\n" + quote("📣 P9 closed: passed\n- x", 500))
    assert content["body"].splitlines()[1:] == ["> 📣 P9 closed: passed", "> - x"]
    assert "<blockquote>" in content["formatted_body"]
