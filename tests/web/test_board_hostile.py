"""What a hostile visitor gets from the board: a 400 naming the parameter it got wrong, the
security headers on every answer (aiohttp's own included), feeds that link only to the
configured address, and a log it cannot flood."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from urllib.parse import quote

from adapters.web.params import CURSOR
from tests.http_probe import assert_secured, get, open_then_drop, raw
from tests.web.conftest import BASE, Served, build_core, tour

ATOM = "{http://www.w3.org/2005/Atom}"
MEMBER = "A member is named as on the board"
KIND = "A kind is an event kind like claim.approved"
SINCE = "the number of the newest event a page showed"

# (page, parameter, value, what the answer says the parameter takes)
BAD = [
    ("needs/done", "after", "²", CURSOR),  # isdigit() says yes, int() says no
    ("needs/free", "after", "20261201T120000.²", CURSOR),
    ("needs/free", "after", "٢٠٢٦1201T120000.1", CURSOR),
    ("ledger", "before", "²", CURSOR),
    ("log", "before", "²", CURSOR),
    ("proposals", "open", "²", CURSOR),
    ("proposals.json", "closed", "٣", CURSOR),
    ("calls", "after", "１", CURSOR),
    ("live", "since", "9" * 4400, SINCE),  # past int()'s 4,300 digits
    ("live", "since", "²", SINCE),
    # Twelve digits: past PostgreSQL's integer (needs, proposals and calls page on numbers).
    ("calls", "after", "999999999999", CURSOR),
    ("needs/done", "after", "999999999999", CURSOR),
    ("needs/free", "after", "20261201T120000.999999999999", CURSOR),
    ("proposals", "open", "999999999999", CURSOR),
    ("log", "before", str(2**63), CURSOR),  # past bigint (events page on ids)
    ("ledger", "before", "1" * 30, CURSOR),
    ("log", "member", "bob\x00", MEMBER),  # NUL: PostgreSQL refuses it in text
    ("log", "member", "b" * 201, MEMBER),
    ("log", "kind", "claim.\x00", KIND),
    ("log", "kind", "claim.\x1b[2J", KIND),
    ("log", "object", "T٣", "An object is an id like T12"),
    ("", "skill", "py\x00", "A skill is one word"),
]


def test_a_bad_parameter_is_a_400_saying_which_and_what_it_takes(site, board_log):
    for page, name, value, accepts in BAD:
        case = f"{page}?{name}={value[:40]!r}"
        status, headers, body = site.served.get(f"/c/demo/{page}?{name}={quote(value)}")
        assert status == 400, (case, body)
        assert f"Wrong {name}= in the address." in body and accepts in body, (case, body)
        assert headers["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" in headers
        assert value not in body, case  # never echoed
    assert board_log.problems() == []


def test_the_largest_cursors_a_column_holds_are_taken(site, board_log):
    """The bounds are the columns' own: PostgreSQL integer for numbers, bigint for ids."""
    for path in ("calls?after=2147483647", "proposals?open=2147483647&closed=0",
                 "needs/done?after=2147483647", "needs/free?after=99991231T235959.2147483647",
                 f"log?before={2**63 - 1}", f"ledger?before={2**63 - 1}",
                 "log?member=%40bob&kind=claim.&object=t1"):
        status, _, body = site.served.get(f"/c/demo/{path}")
        assert status == 200, (path, body)
    log = json.loads(site.served.get("/c/demo/log.json?member=@bob&kind=claim.&object=t1")[2])
    assert log["filters"] == {"object": "T1", "member": "@bob", "kind": "claim."}
    assert {e["kind"] for e in log["page"]["items"]} == {"claim.made", "claim.submitted"}
    assert board_log.problems() == []


def test_every_answer_carries_the_security_headers(site, board_log):
    port = site.served.board.port
    answers = {p: get(port, p) for p in (
        "/", "/c/demo/", "/c/demo/T1.json", "/c/demo/ledger.csv", "/c/demo/F1/chart.svg",
        "/c/demo/nothing-here", "/c/hidden/", "/c/demo/log?object=%3Cb%3E", "/c/demo/feed.atom")}
    answers["the stylesheet"] = get(port, "/static/board.css")
    answers["a redirect"] = get(port, "/c/demo/B1")
    answers["POST"] = raw(port, b"POST /c/demo/T1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                                b"Connection: close\r\n\r\n")
    # aiohttp answers these itself, before any route sees them.
    answers["an 8 KB URL"] = get(port, "/c/demo/" + "a" * 8200)
    answers["a long header"] = raw(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n")
    answers["garbage"] = raw(port, b"\x16\x03\x01 not HTTP at all\r\n\r\n")
    answers["the live stream"] = open_then_drop(port, "/c/demo/live?since=1")
    statuses = {what: a.status for what, a in answers.items()}
    assert statuses == {"/": 200, "/c/demo/": 200, "/c/demo/T1.json": 200, "/c/demo/ledger.csv": 200,
                        "/c/demo/F1/chart.svg": 200, "/c/demo/nothing-here": 404, "/c/hidden/": 404,
                        "/c/demo/log?object=%3Cb%3E": 400, "/c/demo/feed.atom": 200,
                        "the stylesheet": 200, "a redirect": 302, "POST": 405, "an 8 KB URL": 400,
                        "a long header": 400, "garbage": 400, "the live stream": 200}
    for what, answer in answers.items():
        assert_secured(answer, what)
    assert answers["a redirect"].headers["Location"] == "/c/demo/F1#B1"
    assert answers["the live stream"].headers["Content-Type"] == "text/event-stream"
    assert answers["/c/demo/F1/chart.svg"].headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert board_log.problems() == []


def test_a_visitor_cannot_flood_the_log(site, board_log):
    """Dropped live streams and oversized URLs: one DEBUG line each, never a traceback."""
    port, n = site.served.board.port, 20
    for _ in range(n):
        assert open_then_drop(port, "/c/demo/live?since=1").status == 200
        assert get(port, "/c/demo/log?member=" + "m" * 8200).status == 400
        assert get(port, "/c/demo/" + "a" * 8100).status == 404  # just under aiohttp's limit
    # The board writes to the dropped streams at the next change and notices they are gone.
    for attempt in range(3):
        site.chat.say("alice", f"!offer Noticed {attempt}")
        if board_log.wait_for(lambda _: board_log.count("adapters.web.live", "went away") >= n, 5):
            break
    assert board_log.problems() == []
    assert board_log.count("adapters.web.live", "a live page went away") == n
    assert board_log.count("aiohttp.server", "Got more than 8190 bytes") == n
    ours = [r for r in board_log.records if r.name.startswith(("aiohttp", "adapters"))]
    assert {r.levelname for r in ours} == {"DEBUG"}


def test_feeds_link_only_to_the_configured_address(db_url, board_log):
    """Without web.base_url a board has no feeds (and shows no link to them); with it, the
    Host header a visitor sends never reaches a link."""
    evil = {"Host": "evil.example"}
    plain, chat = build_core(db_url)
    tour(chat)
    served = Served(plain.settings, None)
    try:
        for path in ("/c/demo/feed.atom", "/c/demo/skills/python/feed.atom"):
            status, headers, body = served.get(path, headers=evil)
            assert status == 404 and "the admin sets as web.base_url in the config" in body, body
            assert "evil.example" not in body and headers["X-Content-Type-Options"] == "nosniff"
        for path in ("/c/demo/", "/c/demo/?skill=python", "/c/demo/log"):
            assert "feed.atom" not in served.get(path)[2], path
    finally:
        served.close()
        plain.engine.dispose()
    configured, _chat = build_core(db_url, base_url=BASE)
    served = Served(configured.settings, None)
    try:
        assert '/c/demo/feed.atom">Feed</a>' in served.get("/c/demo/")[2]
        for path in ("/c/demo/feed.atom", "/c/demo/skills/python/feed.atom"):
            status, _, body = served.get(path, headers=evil)
            assert status == 200 and "evil.example" not in body
            root = ET.fromstring(body.encode())
            iris = ([e.text for e in root.iter(ATOM + "id")]
                    + [a.get("href") for a in root.iter(ATOM + "link")])
            assert iris and all(i.startswith(BASE + "/c/demo/") for i in iris), iris
        assert len(list(root.iter(ATOM + "entry"))) == 1  # T1, the one #python need
    finally:
        served.close()
        configured.engine.dispose()
    assert board_log.problems() == []

