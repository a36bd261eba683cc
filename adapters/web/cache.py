"""The board's cache of rendered pages, kept valid by the community's newest event."""

from __future__ import annotations

from collections import OrderedDict


class PageCache:
    """Rendered pages by address, each valid while its community's newest event is the one
    it was rendered at: every change to what a page shows writes an event, so a page is
    recomputed only after a change."""

    def __init__(self, size: int = 128, max_chars: int = 64_000) -> None:
        self._pages: OrderedDict[tuple[str, str], tuple[int, str]] = OrderedDict()
        self._size = size
        self._max_chars = max_chars

    def get(self, key: tuple[str, str], since: int) -> str | None:
        """The page rendered at `since`, if it is still held."""
        hit = self._pages.get(key)
        if hit is None or hit[0] != since:
            return None
        self._pages.move_to_end(key)
        return hit[1]

    def put(self, key: tuple[str, str], since: int, text: str) -> None:
        """Hold a page (large ones are not held)."""
        if len(text) > self._max_chars:
            return
        self._pages[key] = (since, text)
        self._pages.move_to_end(key)
        while len(self._pages) > self._size:
            self._pages.popitem(last=False)
