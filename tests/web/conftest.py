"""The board over a database filled by the README's tour, served on loopback from a
thread, and headless Chromium (Debian's) to look at it as a visitor."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.config import parse_settings
from bot.service.core import Core
from bot.store.db import make_engine, upgrade
from tests.conftest import IN_CI, START, TEST_CONFIG, Chat
from tests.http_probe import LogWatch, watching_log

CHROMIUM = os.environ.get("COMMONS_CHROMIUM", "/usr/bin/chromium")
# The board's public address in tests (its feeds link there).
BASE = "https://board.example.org"
SHOTS = Path(__file__).with_name("screenshots")


def web_settings(db_url: str, **web: Any):  # type: ignore[no-untyped-def]
    """Test settings with the board on a free loopback port, plus a hidden community."""
    cfg = {**TEST_CONFIG, "database_url": db_url,
           "web": {"listen": "127.0.0.1:0", **web}}
    cfg["communities"] = [dict(TEST_CONFIG["communities"][0]),
                          {"id": "hidden", "name": "Hidden", "web": {"public": False},
                           "console": {"members": {"zed": []}}}]
    return parse_settings(cfg, "test-config")


def tour(chat: Chat) -> None:
    """The README's tour, plus a need waiting for review and an open call."""
    from bot.clock import ManualClock

    say = chat.say
    say("alice", "!offer Fix the login crash #python #web reward:50EUR")
    say("bob", "!claim T1")
    say("bob", "!submit T1 https://example.org/pr/12")
    say("alice", "!approve T1 thanks!")
    say("alice", "!propose Adopt a code of conduct closes:2d quorum:2")
    say("bob", "!vote P1 agree")
    say("carol", "!vote P1 disagree too strict for us")
    clock: ManualClock = chat.clock  # type: ignore[assignment]
    chat.core.advance_to(clock.now() + timedelta(days=3), clock.set)
    say("fundco", "!fund Translation sprint budget:1000EUR closes:7d", roles=("foundation",))
    say("carol", "!pitch F1 Spanish docs ask:600EUR")
    say("bob", "!back B1 60")
    say("fundco", "!closecall F1", roles=("foundation",))
    say("alice", "!offer Write the user guide #docs reward:30EUR slots:2")
    say("dave", "!claim T3")
    say("dave", "!submit T3 https://example.org/guide")
    say("fundco", "!fund Design sprint budget:900EUR closes:7d", roles=("foundation",))
    say("carol", "!pitch F2 New logo ask:300EUR")
    say("dave", "!pitch F2 Icon set ask:800EUR")
    say("bob", "!back B2 50")
    say("carol", "!back B3 50")
    say("alice", "!propose Meet monthly closes:5d quorum:3")


class Served:
    """A board running on loopback in its own thread and event loop."""

    def __init__(self, settings, core: Core | None) -> None:  # type: ignore[no-untyped-def]
        from adapters.web.server import WebBoard

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def make() -> Any:
            board = WebBoard(SimpleNamespace(core=core) if core else None, settings)
            await board.start()
            return board

        self.board = asyncio.run_coroutine_threadsafe(make(), self.loop).result(30)
        self.url = f"http://127.0.0.1:{self.board.port}"

    def get(self, path: str, method: str = "GET",
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        """Status, headers and body of a request to the board."""
        req = urllib.request.Request(self.url + path, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.board.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def build_core(db_url: str, **web: Any) -> tuple[Core, Chat]:
    """A core on a migrated database with the board's settings and a manual clock."""
    from bot.clock import ManualClock

    engine = make_engine(db_url)
    upgrade(engine)
    clock = ManualClock(START)
    core = Core(web_settings(db_url, **web), engine, clock)
    return core, Chat(core, clock)


@pytest.fixture
def site(db_url) -> Iterator[SimpleNamespace]:  # type: ignore[no-untyped-def]
    """The tour's community on a live board at BASE (the board hears the core's change hooks)."""
    core, chat = build_core(db_url, base_url=BASE)
    tour(chat)
    served = Served(core.settings, core)
    try:
        yield SimpleNamespace(core=core, chat=chat, served=served, url=served.url, db_url=db_url)
    finally:
        served.close()
        core.engine.dispose()


@pytest.fixture
def board_log() -> Iterator[LogWatch]:
    """Everything the board and aiohttp log during the test, down to DEBUG."""
    with watching_log("adapters", "aiohttp") as watch:
        yield watch


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian chromium through Playwright (never a downloaded browser).

    Module-scoped: Playwright's sync API keeps an event loop running in this thread while it
    is open, and tests of other modules call `asyncio.run`.
    """
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        msg = f"no browser at {CHROMIUM} — `make browser` installs Debian's chromium"
        if IN_CI:
            pytest.fail(msg + " (CI=true: browser tests must run)")
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, request) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """A fresh page that fails the test on any script dialog or page error."""
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = ctx.new_page()
    problems: list[str] = []
    pg.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.problems = problems  # type: ignore[attr-defined]
    yield pg
    ctx.close()
    assert not problems, problems


def shot(page, name: str, request) -> Path:  # type: ignore[no-untyped-def]
    """Save a full-page screenshot under tests/web/screenshots/ (git-ignored)."""
    SHOTS.mkdir(exist_ok=True)
    param = getattr(request.node, "callspec", None)
    suffix = f"-{param.id}" if param else ""
    path = SHOTS / f"{name}{suffix}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
