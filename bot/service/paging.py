"""Paging of long lists (`page:N`): the page size, and reading the page a member asked for."""

from __future__ import annotations

from bot.chat.render import echo
from bot.domain.rules import count
from bot.service.context import Ctx

PAGE = 10


def page_number(ctx: Ctx, text: str | None) -> int:
    """The page a `page:N` option names (1 without one); refuses anything but a page number."""
    if text is None:
        return 1
    page = count(text, 1, 100000)
    if page is None:
        raise ctx.refuse(f"page:{echo(text, 10)} is not a page number — write page:2")
    return page
