"""The board's aiohttp application: routes, headers, page assembly.

Every route reads; none changes anything (the engine behind it refuses writes too).
Each page is server-rendered HTML that works with JavaScript off, and the same data is
served as JSON at the page's address plus `.json`. One small script keeps an open page
live through server-sent events.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from sqlalchemy import Connection, Engine

from adapters.http.guard import protect
from adapters.web import params
from adapters.web.cache import PageCache
from adapters.web.downloads import add_download_routes
from adapters.web.live import Watcher, relay
from bot.chat.render import when
from bot.config import Settings
from bot.domain.ref import NUMBER
from bot.views import board
from bot.views import books as store_books

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", Engine)
POOL = web.AppKey("pool", ThreadPoolExecutor)
WATCHER = web.AppKey("watcher", Watcher)
JINJA = web.AppKey("jinja", jinja2.Environment)
CACHE = web.AppKey("cache", PageCache)
# Charts are served as images: no script ever runs in an <img>, and pygal styles inline.
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'"
NO_FEEDS = ("This board has no feeds: they need its public address, which the admin sets as "
            "web.base_url in the config (like https://commons.example.org).")
# A community's pages; the id's pattern keeps `.json` out of it.
C = "/c/{cid:[a-z0-9][a-z0-9_-]{0,31}}"
# An object's page: `/T12` (its number in ASCII digits, as an id writes it).
N = f"{{n:{NUMBER}}}"
Handler = Callable[[web.Request], Awaitable[tuple[str, dict[str, Any]]]]


class Gone(Exception):
    """A page that cannot be shown; the message is the one line the visitor reads."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def make_app(settings: Settings, engine: Engine, *, workers: int = 4) -> web.Application:
    """The board as an aiohttp application, to run alone or beside the adapters.

    More routes (health, metrics, downloads) may be added to it before it starts.

    Args:
        settings: the configuration (which communities are public, the board's address).
        engine: a read-only engine (`make_engine(url, read_only=True)`).
        workers: threads that run the queries, so the event loop never waits on them.
    """
    app = web.Application(middlewares=[_errors])
    app[SETTINGS] = settings
    app[ENGINE] = engine
    app[POOL] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="board")
    app[JINJA] = _jinja()
    app[CACHE] = PageCache()

    async def latest(community: str) -> int:
        return await _read(app, board.latest_event, community)

    app[WATCHER] = Watcher(latest)
    app.on_startup.append(_start)
    # Open event streams end at shutdown, before the server waits for handlers to finish.
    app.on_shutdown.append(_end_streams)
    app.on_cleanup.append(_stop)
    r = app.router
    r.add_get("/", _html(index))
    _page(r, C + "/", board_page, json_path=C + "/board.json")
    _page(r, C + "/needs/{group:[a-z]+}", needs_page)
    _page(r, C + "/T" + N, need_page)
    _page(r, C + "/proposals", proposals_page)
    _page(r, C + "/P" + N, proposal_page)
    _page(r, C + "/calls", calls_page)
    _page(r, C + "/F" + N, call_page)
    r.add_get(C + "/F" + N + "/chart.svg", call_chart)
    r.add_get(C + "/B" + N, pitch_redirect)
    _page(r, C + "/ledger", ledger_page)
    r.add_get(C + "/ledger/chart.svg", ledger_chart)
    _page(r, C + "/log", log_page)
    _page(r, C + "/books", books_page)
    r.add_get(C + "/feed.atom", feed)
    r.add_get(C + "/skills/{skill:[^/{}]+}/feed.atom", feed)
    r.add_get(C + "/live", live)
    add_download_routes(app, C, _community, POOL, ENGINE)
    static = r.add_static("/static/", HERE / "static", name="static")
    # Versioned by content, computed once: a new stylesheet is never served from a cache.
    versions: dict[str, str] = {}

    def static_url(filename: str) -> str:
        if filename not in versions:
            versions[filename] = str(static.url_for(filename=filename, append_version=True))
        return versions[filename]

    app[JINJA].globals["static"] = static_url
    app[JINJA].globals["feeds"] = _base_url(settings) is not None
    # The board's listener (`guard.listen`) also secures what aiohttp answers by itself.
    protect(app)
    return app


def _base_url(settings: Settings) -> str | None:
    return settings.web.base_url if settings.web else None


def watcher(app: web.Application) -> Watcher:
    """The app's live watcher: the core's change hook is its `on_change`."""
    return app[WATCHER]


async def _start(app: web.Application) -> None:
    app[WATCHER].start()


async def _end_streams(app: web.Application) -> None:
    await app[WATCHER].stop()


async def _stop(app: web.Application) -> None:
    app[POOL].shutdown(wait=False)


def _jinja() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             auto_reload=False)
    env.filters["when"] = when
    env.filters["iso"] = lambda d: d.isoformat() + "Z" if d else ""
    return env


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except Gone as exc:
        return _error(request, exc.status, exc.message)
    except params.BadParameter as exc:
        return _error(request, 400, str(exc))
    except web.HTTPNotFound:
        return _error(request, 404, "There is no such page — start from the list of communities.")
    except web.HTTPMethodNotAllowed:
        return _error(request, 405, "The board only shows things; change them from the chat.")
    except web.HTTPException:
        raise
    except ConnectionError:
        # The visitor left mid-answer (a download, a stream): nothing to show, nothing wrong.
        # aiohttp ends the connection and its server log says so quietly (adapters.http.guard).
        log.debug("the visitor of %s left before the answer was sent", request.path)
        raise
    except Exception:
        log.exception("could not show %s", request.path)
        return _error(request, 500, "The board could not show this page just now; try again shortly.")


def _error(request: web.Request, status: int, message: str) -> web.Response:
    text = request.app[JINJA].get_template("error.html").render(message=message, status=status)
    return web.Response(text=text, status=status, content_type="text/html")


async def _read(app: web.Application, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    def run() -> Any:
        with app[ENGINE].connect() as conn:
            return fn(conn, *args, **kw)

    return await asyncio.get_running_loop().run_in_executor(app[POOL], run)


def _community(request: web.Request) -> str:
    cid = request.match_info["cid"]
    if not request.app[SETTINGS].served_on_web(cid):
        raise Gone(404, f"No community {cid[:32]} is shown here — start from the list of communities.")
    return cid


def _json_default(o: Any) -> Any:
    if isinstance(o, datetime):
        return o.isoformat() + "Z"
    if isinstance(o, date):
        return o.isoformat()
    raise TypeError(type(o).__name__)


def _page(router: web.UrlDispatcher, path: str, fn: Handler, *, json_path: str | None = None) -> None:
    router.add_get(path, _html(fn))
    router.add_get(json_path or path + ".json", _json(fn))


def _cached(kind: str, content_type: str, fn: Handler,
            render: Callable[[web.Request, str, dict[str, Any]], str]
            ) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        app = request.app
        cid = request.match_info.get("cid")
        since = None
        if cid is not None and app[SETTINGS].served_on_web(cid):
            since = await _read(app, board.latest_event, cid)
            text = app[CACHE].get((kind, request.path_qs), since)
            if text is not None:
                return web.Response(text=text, content_type=content_type)
        template, ctx = await fn(request)
        if since is not None:
            ctx["since"] = since
        loop = asyncio.get_running_loop()
        text = await loop.run_in_executor(app[POOL], render, request, template, ctx)
        if since is not None:
            app[CACHE].put((kind, request.path_qs), since, text)
        return web.Response(text=text, content_type=content_type)

    return handler


def _render_html(request: web.Request, template: str, ctx: dict[str, Any]) -> str:
    cid = request.match_info.get("cid")
    ctx.setdefault("community", cid)
    ctx.setdefault("name", _name(request.app[SETTINGS], cid))
    ctx["path"] = request.path
    return request.app[JINJA].get_template(template).render(**ctx)


def _render_json(request: web.Request, template: str, ctx: dict[str, Any]) -> str:
    return json.dumps(ctx, default=_json_default, ensure_ascii=False)


def _html(fn: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    return _cached("html", "text/html", fn, _render_html)


def _json(fn: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    return _cached("json", "application/json", fn, _render_json)


def _name(settings: Settings, cid: str | None) -> str:
    if cid is None:
        return ""
    try:
        return settings.community(cid).name or cid
    except KeyError:
        return cid


# --- pages -----------------------------------------------------------------------------


async def index(request: web.Request) -> tuple[str, dict[str, Any]]:
    """The communities this board shows."""
    settings = request.app[SETTINGS]
    shown = [{"id": c.id, "name": c.name or c.id} for c in settings.communities
             if settings.served_on_web(c.id)]
    return "index.html", {"communities": shown}


async def board_page(request: web.Request) -> tuple[str, dict[str, Any]]:
    """Open needs by state (submitted, free, full), most urgent first, filterable by skill."""
    cid = _community(request)
    skill = params.SKILL.of(request)

    def read(conn: Connection) -> dict[str, Any]:
        groups = {g: board.board(conn, cid, g, skill=skill, limit=10).__dict__
                  for g in ("submitted", "free", "full")}
        # The filter suggests the skills on this page: counting every skill in use would
        # cost a scan of all open needs on each view.
        shown = sorted({s for g in groups.values() for n in g["items"] for s in n["skills"]})
        return {"groups": groups, "skills": shown}

    data = await _read(request.app, read)
    return "board.html", {**data, "skill": skill, "title": "Board"}


async def needs_page(request: web.Request) -> tuple[str, dict[str, Any]]:
    """One group of needs, a page at a time (done and cancelled ones too)."""
    cid = _community(request)
    group = request.match_info["group"]
    if group not in board.GROUPS:
        raise Gone(404, f"Needs are grouped as {', '.join(board.GROUPS)}.")
    skill = params.SKILL.of(request)
    after = params.needs_cursor(group).of(request)
    page = await _read(request.app, board.board, cid, group, skill=skill, after=after)
    return "needs.html", {"group": group, "page": page.__dict__, "skill": skill,
                          "title": f"Needs: {group}"}


async def need_page(request: web.Request) -> tuple[str, dict[str, Any]]:
    """A need with its claims, submissions, reviews and history."""
    cid = _community(request)
    n = int(request.match_info["n"])
    need = await _read(request.app, board.need, cid, n)
    if need is None:
        raise Gone(404, f"T{n} does not exist — see the board.")
    return "need.html", {"need": need, "title": f"T{n} {need['title']}"}


async def proposals_page(request: web.Request) -> tuple[str, dict[str, Any]]:
    """Open and closed proposals with their counts."""
    cid = _community(request)
    after = {state: params.cursor(state, board.proposals_cursor).of(request) for state in ("open", "closed")}

    def read(conn: Connection) -> dict[str, Any]:
        return {state: board.proposals(conn, cid, state, after=n).__dict__ for state, n in after.items()}

    data = await _read(request.app, read)
    return "proposals.html", {**data, "title": "Proposals"}


async def proposal_page(request: web.Request) -> tuple[str, dict[str, Any]]:
    """A proposal's votes and reasons against its quorum, outcome and deciding rule."""
    cid = _community(request)
    n = int(request.match_info["n"])
    p = await _read(request.app, board.proposal, cid, n)
    if p is None:
        raise Gone(404, f"P{n} does not exist — see the proposals.")
    return "proposal.html", {"p": p, "title": f"P{n} {p['text']}"}


async def calls_page(request: web.Request) -> tuple[str, dict[str, Any]]:
    """Funding calls."""
    cid = _community(request)
    after = params.cursor("after", board.calls_cursor).of(request)
    page = await _read(request.app, board.calls, cid, after=after)
    return "calls.html", {"page": page.__dict__, "title": "Funding calls"}


async def call_page(request: web.Request) -> tuple[str, dict[str, Any]]:
    """A funding call: pitches, points, allocation as bars, and the steps of the allocation."""
    cid = _community(request)
    n = int(request.match_info["n"])
    c = await _read(request.app, board.call, cid, n)
    if c is None:
        raise Gone(404, f"F{n} does not exist — see the funding calls.")
    return "call.html", {"call": c, "title": f"F{n} {c['title']}"}


async def call_chart(request: web.Request) -> web.Response:
    """The call's bars as an SVG image."""
    from adapters.web.charts import call_bars

    cid = _community(request)
    c = await _read(request.app, board.call, cid, int(request.match_info["n"]))
    if c is None:
        raise Gone(404, "No such funding call.")
    svg = await asyncio.get_running_loop().run_in_executor(request.app[POOL], call_bars, c)
    return _svg(svg)


def _svg(svg: bytes) -> web.Response:
    return web.Response(body=svg, content_type="image/svg+xml",
                        headers={"Content-Security-Policy": SVG_CSP})


async def pitch_redirect(request: web.Request) -> web.Response:
    """A pitch lives on its call's page."""
    cid = _community(request)
    n = int(request.match_info["n"])
    call = await _read(request.app, board.call_of_pitch, cid, n)
    if call is None:
        raise Gone(404, f"B{n} does not exist — see the funding calls.")
    raise web.HTTPFound(f"/c/{cid}/F{call}#B{n}")


async def ledger_page(request: web.Request) -> tuple[str, dict[str, Any]]:
    """Totals per member and per skill, rewards over time, each entry with its need."""
    cid = _community(request)
    before = params.cursor("before", board.ledger_cursor).of(request)
    page = await _read(request.app, board.ledger, cid, before=before)
    return "ledger.html", {"page": page.__dict__, "title": "Ledger"}


async def ledger_chart(request: web.Request) -> web.Response:
    """Rewards per month as an SVG image."""
    from adapters.web.charts import ledger_bars

    cid = _community(request)
    page = await _read(request.app, board.ledger, cid, limit=1)
    svg = await asyncio.get_running_loop().run_in_executor(
        request.app[POOL], ledger_bars, page.extra["monthly"])
    return _svg(svg)


async def books_page(request: web.Request) -> tuple[str, dict[str, Any]]:
    """The foundation's books: each fund's balance over time and the flows of money."""
    cid = _community(request)
    books = await _read(request.app, store_books.books, cid,
                        request.app[SETTINGS].community(cid).policies.currency)
    return "books.html", {"books": books, "title": "Books"}


async def log_page(request: web.Request) -> tuple[str, dict[str, Any]]:
    """Every event in plain words, newest first, filterable by object, member and kind."""
    cid = _community(request)
    obj, member, kind = params.OBJECT.of(request), params.MEMBER.of(request), params.KIND.of(request)
    before = params.cursor("before", board.event_cursor).of(request)
    page = await _read(request.app, board.log, cid, obj=obj, member=member, kind=kind, before=before)
    return "log.html", {"page": page.__dict__, "filters": {"object": obj or "", "member": member or "",
                                                         "kind": kind or ""}, "title": "Log"}


async def feed(request: web.Request) -> web.Response:
    """The community's Atom feed, or one skill's.

    A feed is read elsewhere, so its links must be the board's public address: the
    configured `web.base_url`, never the request's Host header (anyone can send any). A
    board without one has no feeds and says so.
    """
    from adapters.web.feeds import atom

    cid = _community(request)
    skill = request.match_info.get("skill")
    if skill is not None and not params.SKILL_WORD.fullmatch(skill):
        raise Gone(404, "A skill is one word of letters, digits or '-', like python.")
    base = _base_url(request.app[SETTINGS])
    if base is None:
        raise Gone(404, NO_FEEDS)
    items = await _read(request.app, board.feed, cid, skill=skill)
    name = _name(request.app[SETTINGS], cid)
    page = f"{base}/c/{cid}/" + (f"?skill={skill}" if skill else "")
    body = atom(feed_id=f"{base}{request.path}", title=name + (f" · #{skill}" if skill else ""),
                page_url=page, self_url=f"{base}{request.path}", community=cid, base_url=base,
                items=items)
    return web.Response(body=body, content_type="application/atom+xml")


async def live(request: web.Request) -> web.StreamResponse:
    """Server-sent events: `change` with the newest event id whenever the log grows."""
    from aiohttp_sse import EventSourceResponse

    cid = _community(request)
    since = params.SINCE.of(request) or 0
    if request.transport is None:
        # The visitor left before the stream opened (opening it needs the socket).
        log.debug("a live page went away before its stream opened")
        return web.Response(status=204)
    resp = EventSourceResponse(headers={"Cache-Control": "no-cache"})
    w = request.app[WATCHER]
    q = w.subscribe(cid, since)
    try:
        await resp.prepare(request)
        async with resp:
            await relay(q, resp)
    except (ConnectionError, TimeoutError):
        log.debug("a live page went away as its stream opened")
    finally:
        w.unsubscribe(cid, q)
    return resp
