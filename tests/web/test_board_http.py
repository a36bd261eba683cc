"""What the board answers over HTTP: headers, JSON, feeds, privacy, paging, nothing writable."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime

from sqlalchemy import func, select

from bot.store.models import Event
from tests.web.conftest import BASE, Served, build_core, tour

ATOM = "{http://www.w3.org/2005/Atom}"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def test_every_page_is_read_only_and_carries_the_safety_headers(site):
    pages = ["/", "/c/demo/", "/c/demo/T1", "/c/demo/P1", "/c/demo/F1", "/c/demo/ledger",
             "/c/demo/log", "/c/demo/proposals", "/c/demo/calls", "/c/demo/needs/done"]
    for path in pages:
        status, headers, body = site.served.get(path)
        assert status == 200, (path, body)
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert "<script>" not in body  # the only script is the external live.js
    with site.core.engine.connect() as c:
        before = c.execute(select(func.count()).select_from(Event)).scalar()
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, headers, body = site.served.get("/c/demo/T1", method=method)
        assert status == 405
        assert "change them from the chat" in body
        assert headers["X-Content-Type-Options"] == "nosniff"
    with site.core.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(Event)).scalar() == before


def test_each_page_has_its_json(site):
    status, headers, body = site.served.get("/c/demo/board.json")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    board = json.loads(body)
    assert [n["ref"] for n in board["groups"]["submitted"]["items"]] == ["T3"]
    call = json.loads(site.served.get("/c/demo/F2.json")[2])["call"]
    assert {p["ref"]: p["gets"] for p in call["pitches"]} == {"B2": "300 EUR", "B3": "600 EUR"}
    p1 = json.loads(site.served.get("/c/demo/P1.json")[2])["p"]
    assert p1["outcome"] == "not passed" and p1["tally"]["agree"] == 1
    ledger = json.loads(site.served.get("/c/demo/ledger.json")[2])["page"]
    assert ledger["extra"]["members"][0]["amounts"] == ["50 EUR"]
    assert ledger["extra"]["monthly"] == {"EUR": {"2026-12": 5000}}
    assert ledger["extra"]["monthly_rows"] == [["2026-12", ["50 EUR"]]]
    log = json.loads(site.served.get("/c/demo/log.json?object=T1")[2])["page"]
    assert {e["object"] for e in log["items"]} == {"T1"}
    need = json.loads(site.served.get("/c/demo/T1.json")[2])["need"]
    assert need["claims"][0]["member"] == "bob" and need["state"] == "done"


def _check_atom(body: str) -> ET.Element:
    """The RFC 4287 rules a reader relies on: ids, titles, updated times, links."""
    root = ET.fromstring(body.encode())
    assert root.tag == ATOM + "feed"
    for tag in ("id", "title", "updated"):
        assert len(root.findall(ATOM + tag)) == 1, tag
    assert RFC3339.match(root.find(ATOM + "updated").text)
    assert root.find(ATOM + "author/" + ATOM + "name").text
    assert any(link.get("rel") == "self" for link in root.findall(ATOM + "link"))
    ids = []
    for entry in root.findall(ATOM + "entry"):
        for tag in ("id", "title", "updated"):
            assert len(entry.findall(ATOM + tag)) == 1, tag
        assert RFC3339.match(entry.find(ATOM + "updated").text)
        assert entry.find(ATOM + "link").get("href").startswith("http")
        ids.append(entry.find(ATOM + "id").text)
    assert len(ids) == len(set(ids))
    return root


def test_the_feeds_are_valid_atom(site):
    site.chat.say("bob", "!offer <script>alert(1)</script> @everyone #web")
    status, headers, body = site.served.get("/c/demo/feed.atom")
    assert status == 200 and headers["Content-Type"].startswith("application/atom+xml")
    root = _check_atom(body)
    titles = [e.find(ATOM + "title").text for e in root.findall(ATOM + "entry")]
    assert titles[0] == "New need T4: <script>alert(1)</script> @everyone"
    assert "P1 decided: not passed" in titles and "Funding call F1: Translation sprint" in titles
    assert "<script>" not in body  # escaped in the XML
    root = _check_atom(site.served.get("/c/demo/skills/python/feed.atom")[2])
    assert [e.find(ATOM + "title").text for e in root.findall(ATOM + "entry")] == [
        "New need T1: Fix the login crash"]


def test_a_private_community_is_not_served(site):
    status, _, body = site.served.get("/")
    assert "Demo commons" in body and "Hidden" not in body
    for path in ("/c/hidden/", "/c/hidden/log", "/c/hidden/feed.atom", "/c/hidden/board.json"):
        status, _, body = site.served.get(path)
        assert status == 404, path
        assert "No community hidden is shown here" in body


def test_nothing_private_appears(site):
    """A link code and a member's notices are never shown, anywhere."""
    reply = site.chat.send("bob", "!link")[0]
    found = re.search(r"link code is (\w+)\.", reply.text)
    assert found and reply.private, reply.text
    code = found.group(1)
    site.chat.say("carol", "!watch #docs")
    site.chat.say("alice", "!offer Proofread the guide #docs")  # carol gets a notice
    notices = [o.text for o in site.core.take_outbox("console") if o.kind == "notice"]
    assert notices
    pages = ["/c/demo/", "/c/demo/log", "/c/demo/log.json", "/c/demo/feed.atom", "/c/demo/board.json",
             "/c/demo/T5", "/c/demo/T5.json", "/c/demo/ledger.json"]
    for path in pages:
        body = site.served.get(path)[2]
        assert code not in body, path
        for n in notices:
            assert n not in body, path


def test_pages_follow_keyset_cursors_and_refuse_forged_ones(db_url):
    core, chat = build_core(db_url)
    for i in range(25):
        chat.say("alice", f"!offer Need number {i} #bulk due:{i + 1}d")
    served = Served(core.settings, core)
    try:
        first = json.loads(served.get("/c/demo/needs/free.json")[2])["page"]
        assert len(first["items"]) == 20 and first["next"]
        second = json.loads(served.get(f"/c/demo/needs/free.json?after={first['next']}")[2])["page"]
        refs = [n["ref"] for n in first["items"] + second["items"]]
        assert refs == [f"T{i}" for i in range(1, 26)]  # most urgent first, none twice
        assert second["next"] is None
        log1 = json.loads(served.get("/c/demo/log.json")[2])["page"]
        log2 = json.loads(served.get(f"/c/demo/log.json?before={log1['next']}")[2])["page"]
        ids = [e["id"] for e in log1["items"] + log2["items"]]
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == 25
        status, _, body = served.get("/c/demo/needs/free?after=1;DROP")
        assert status == 400 and "That page link is not one of ours" in body
        status, _, body = served.get("/c/demo/log?object=<b>")
        assert status == 400 and "An object is an id like T12" in body and "<b>" not in body
        status, _, body = served.get("/c/demo/T999")
        assert status == 404 and "T999 does not exist" in body
    finally:
        served.close()
        core.engine.dispose()


def test_chat_links_to_pages_when_the_board_has_an_address(db_url):
    core, chat = build_core(db_url, base_url="https://board.example.org/")
    try:
        reply = chat.say("alice", "!offer Fix the login crash #python")
        assert reply.endswith("\nhttps://board.example.org/c/demo/T1")
        announced = chat.announcements()
        assert announced[0].endswith("\nhttps://board.example.org/c/demo/T1")
        assert "https://" not in chat.say("alice", "!claim T99")  # refusals link nowhere
    finally:
        core.engine.dispose()
    plain, chat = build_core(db_url.replace("commons.sqlite3", "plain.sqlite3")
                             if db_url.startswith("sqlite") else db_url)
    try:
        assert "https://" not in chat.say("alice", "!offer Another one")
    finally:
        plain.engine.dispose()


def test_the_board_survives_an_empty_database(db_url):
    core, _chat = build_core(db_url, base_url=BASE)
    served = Served(core.settings, None)
    try:
        for path in ("/c/demo/", "/c/demo/ledger", "/c/demo/log", "/c/demo/proposals", "/c/demo/calls"):
            status = served.get(path)[0]
            assert status == 200, path
        assert "The ledger is empty" in served.get("/c/demo/ledger")[2]
        _check_atom(served.get("/c/demo/feed.atom")[2])
    finally:
        served.close()
        core.engine.dispose()


def test_tour_helper_fills_every_kind_of_object(db_url):
    core, chat = build_core(db_url)
    try:
        tour(chat)
        with core.engine.connect() as c:
            kinds = set(c.execute(select(Event.kind).distinct()).scalars())
        assert {"need.offered", "claim.approved", "proposal.closed", "call.closed",
                "pitch.backed"} <= kinds
        assert isinstance(chat.clock.now(), datetime)
    finally:
        core.engine.dispose()


def test_the_ledger_and_the_log_download_as_the_exports_write_them(site):
    """CSV and JSON Lines downloads: the same rows and phrases as `commons-bot export`."""
    status, headers, body = site.served.get("/c/demo/ledger.csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert headers["X-Content-Type-Options"] == "nosniff" and "attachment" in headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(body)))
    assert any(r["member"] == "bob" and r["need"] == "T1" and r["amount"] == "50.00" for r in rows), rows
    status, headers, body = site.served.get("/c/demo/log.jsonl")
    assert status == 200 and headers["Content-Type"].startswith("application/x-ndjson")
    events = [json.loads(line) for line in body.splitlines()]
    assert any(e["phrase"] == "alice offered T1: Fix the login crash — 50 EUR" for e in events), events[:3]
    assert not any(e["kind"].startswith("watch.") for e in events)
    assert site.served.get("/c/hidden/log.csv")[0] == 404


def test_a_pitch_link_leads_to_its_call(site):
    import urllib.request

    with urllib.request.urlopen(site.served.url + "/c/demo/B1", timeout=10) as r:
        assert r.status == 200
        assert re.search(r"/c/demo/F\d+#B1$", r.url), r.url
        assert 'id="B1"' in r.read().decode()
    status, _headers, body = site.served.get("/c/demo/B99")
    assert status == 404 and "B99 does not exist" in body
