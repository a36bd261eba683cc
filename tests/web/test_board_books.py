"""The board's books page: balances now and over time, and the flows, as a visitor reads them."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.web.conftest import Served, build_core


def test_the_books_page_shows_balances_over_time_and_flows(db_url):
    core, chat = build_core(db_url)
    served = Served(core.settings, core)
    try:
        status, _, body = served.get("/c/demo/books")
        assert status == 200 and "Nothing recorded yet" in body
        chat.say("bob", "!venture Acme <Coop> pledge:10%")
        chat.say("fundco", "!receive 300EUR from:V1", roles=("foundation",))
        chat.clock.advance(timedelta(days=1))
        chat.say("fundco", "!spend 50EUR hosting", roles=("foundation",))
        status, _, body = served.get("/c/demo/books")
        assert status == 200
        assert '<th scope="row">Operations fund</th><td class="amount">100 EUR</td>' in body
        assert '<th scope="row">Commons fund</th><td class="amount">150 EUR</td>' in body
        assert ('<tr><th scope="row">2026-12-01</th><td class="n">150 EUR</td><td class="n">150 EUR'
                '</td>') in body
        assert '<tr><th scope="row">2026-12-02</th><td class="n">100 EUR</td>' in body
        assert "<td>V1</td><td>the pool</td><td class=\"amount\">300 EUR</td>" in body
        assert "<td>the operations fund</td><td>operations</td><td class=\"amount\">50 EUR</td>" in body
        data = json.loads(served.get("/c/demo/books.json")[2])["books"]
        assert data["balances"]["available"] == "150 EUR"
        assert [d["day"] for d in data["over_time"]] == ["2026-12-01", "2026-12-02"]
    finally:
        served.close()
        core.engine.dispose()
