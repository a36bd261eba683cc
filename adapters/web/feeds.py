"""Atom feeds (RFC 4287) through feedgen: new needs, proposals, decisions, funding calls."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

_TITLES = {
    "need.offered": "New need {object}: {title}",
    "proposal.opened": "New proposal {object}: {text}",
    "proposal.closed": "{object} decided: {outcome}",
    "call.opened": "Funding call {object}: {title}",
    "call.closed": "{object} closed: funds allocated",
}


def atom(*, feed_id: str, title: str, page_url: str, self_url: str, community: str,
         base_url: str, items: list[dict[str, Any]]) -> bytes:
    """An Atom document of board events (newest first), each linking to its page.

    Args:
        feed_id: the feed's permanent IRI.
        title: the feed's title.
        page_url: the HTML page the feed mirrors.
        self_url: the feed's own address.
        community: the community id (for entry links).
        base_url: the board's address, without a trailing slash.
        items: events from `bot.views.board.feed`.
    """
    from feedgen.feed import FeedGenerator

    fg = FeedGenerator()
    fg.id(feed_id)
    fg.title(title)
    fg.author({"name": "commons-bot"})
    fg.link(href=page_url, rel="alternate", type="text/html")
    fg.link(href=self_url, rel="self", type="application/atom+xml")
    newest = items[0]["at"] if items else datetime(2000, 1, 1)
    fg.updated(newest.replace(tzinfo=UTC))
    for item in reversed(items):  # feedgen prepends each entry
        d = {k: str(v) for k, v in (item.get("details") or {}).items()}
        fields = {"object": item["object"], "title": "", "text": "", "outcome": ""} | d
        entry = fg.add_entry()
        url = f"{base_url}/c/{community}/{item['object']}"
        entry.id(f"{base_url}/c/{community}/log#e{item['id']}")
        entry.title(_TITLES.get(item["kind"], "{object}").format_map(fields))
        entry.link(href=url, rel="alternate", type="text/html")
        entry.updated(item["at"].replace(tzinfo=UTC))
        entry.author({"name": item["actor"]})
        entry.summary(f"{item['actor']}: {item['text']}")
    return fg.atom_str(pretty=True)
