"""CSV and JSON Lines downloads of a community's ledger and log.

They are the exports of `commons-bot export` (`bot.views.export.write_export`), streamed to
the visitor as they are written: a worker thread writes, and each chunk waits until the
response took it, so a download of a million events holds one chunk in memory.
"""

from __future__ import annotations

import asyncio
import io

from aiohttp import web

from bot.views.export import write_export

# `/c/demo/ledger.csv` is `--what ledger --format csv`; the log is the event export.
EXPORT_OF = {"ledger": "ledger", "log": "events"}
CONTENT_TYPE = {"csv": "text/csv", "jsonl": "application/x-ndjson"}
CHUNK = 64 * 1024


class _ResponseWriter(io.TextIOBase):
    """A text stream for the export's thread that hands chunks to the response."""

    def __init__(self, response: web.StreamResponse, loop: asyncio.AbstractEventLoop) -> None:
        self._response = response
        self._loop = loop
        self._parts: list[str] = []
        self._size = 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:  # type: ignore[override]
        self._parts.append(s)
        self._size += len(s)
        if self._size >= CHUNK:
            self.flush()
        return len(s)

    def flush(self) -> None:
        if not self._parts:
            return
        data = "".join(self._parts).encode("utf-8")
        self._parts, self._size = [], 0
        # Waiting for the write is the back-pressure that keeps memory flat.
        asyncio.run_coroutine_threadsafe(self._response.write(data), self._loop).result()


def add_download_routes(app: web.Application, prefix: str, community_of, pool_key, engine_key) -> None:  # type: ignore[no-untyped-def]
    """Add `PREFIX/ledger.csv`, `/ledger.jsonl`, `/log.csv` and `/log.jsonl` to the board.

    Args:
        app: the board's application.
        prefix: the community part of the path (`/c/{cid}`).
        community_of: the board's check that a request names a public community.
        pool_key: the app key of the board's thread pool.
        engine_key: the app key of its read-only engine.

    The security headers are the board's, given as the response is prepared.
    """

    async def download(request: web.Request) -> web.StreamResponse:
        cid = community_of(request)
        what, ext = request.match_info["what"], request.match_info["ext"]
        response = web.StreamResponse(headers={
            "Content-Type": f"{CONTENT_TYPE[ext]}; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{cid}-{what}.{ext}"'})
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        out = _ResponseWriter(response, loop)

        fmt = "csv" if ext == "csv" else "json"

        def run() -> None:
            write_export(request.app[engine_key], cid, EXPORT_OF[what], fmt, out)
            out.flush()

        await loop.run_in_executor(request.app[pool_key], run)
        await response.write_eof()
        return response

    app.router.add_get(prefix + "/{what:ledger|log}.{ext:csv|jsonl}", download)
