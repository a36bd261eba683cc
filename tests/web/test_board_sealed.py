"""The board never shows a hidden vote's positions before close, nor a secret ballot's names
(docs/behaviour.md, Hidden votes and secret ballots); it states each decision type's rule."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.web.conftest import BASE, Served, build_core


def _pages(served: Served, refs: list[str]) -> str:
    paths = ["/c/demo/", "/c/demo/board.json", "/c/demo/proposals", "/c/demo/proposals.json",
             "/c/demo/log", "/c/demo/log.json", "/c/demo/feed.atom"]
    for r in refs:
        paths += [f"/c/demo/{r}", f"/c/demo/{r}.json"]
    bodies = []
    for path in paths:
        status, _headers, body = served.get(path)
        assert status == 200, path
        bodies.append(body)
    return "\n".join(bodies)


def test_hidden_and_secret_votes_on_the_board(db_url):
    core, chat = build_core(db_url, base_url=BASE)  # the feed is one of the pages
    chat.say("alice", "!propose Hidden choice hidden:yes closes:2d")
    chat.say("alice", "!propose Secret choice anonymous:yes closes:2d")
    chat.say("alice", "!propose Big move type:significant closes:2d")
    chat.say("bob", "!vote P1 disagree bridgesbreak")
    chat.say("carol", "!vote P2 block conflictofinterest")
    chat.say("dave", "!vote P2 agree")
    chat.say("bob", "!vote P3 agree")
    served = Served(core.settings, core)
    try:
        seen = _pages(served, ["P1", "P2", "P3"])
        for leak in ("bridgesbreak", "conflictofinterest", '"disagree": 1', '"block": 1'):
            assert leak not in seen, leak
        assert "counts hidden until it closes" in served.get("/c/demo/P1")[2]
        assert "significant passes when more than half of the votes agree" in served.get("/c/demo/P3")[2]
        chat.clock.advance(timedelta(days=2))
        core.process_due()
        p1 = served.get("/c/demo/P1")[2]
        assert "bridgesbreak" in p1 and "bob" in p1  # a hidden vote is shown once closed
        p2 = json.loads(served.get("/c/demo/P2.json")[2])["p"]
        # Who voted is public (the log says so); how each voted, never.
        assert p2["votes"] == [{"member": "(secret)", "position": "agree", "reason": "", "at": None},
                               {"member": "(secret)", "position": "block",
                                "reason": "conflictofinterest", "at": None}]
    finally:
        served.close()
        core.engine.dispose()
