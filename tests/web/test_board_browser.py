"""The board as a visitor sees it in headless Chromium, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.web.conftest import shot

LIVE_MS = 1000


def test_a_visitor_sees_the_tour(site, page, request):
    page.goto(site.url + "/")
    page.get_by_role("link", name="Demo commons").click()
    # Needs by state: T3 waits for review, T1 is done, T2 (the funded pitch) is full.
    submitted = page.locator("section[data-group=submitted]")
    assert "T3" in submitted.inner_text() and "Write the user guide" in submitted.inner_text()
    assert "T2" in page.locator("section[data-group=full]").inner_text()
    assert "T1" not in page.locator("main .columns").inner_text()
    shot(page, "board", request)
    page.get_by_role("link", name="done").click()
    assert "Fix the login crash" in page.locator("main").inner_text()

    page.goto(site.url + "/c/demo/T1")
    main = page.locator("main").inner_text()
    assert "done" in page.locator("dd.state").inner_text()
    assert "https://example.org/pr/12" in main and "alice: thanks!" in main
    assert "alice approved bob's work on T1 — 50 EUR" in main
    shot(page, "need", request)

    page.goto(site.url + "/c/demo/P1")
    assert page.locator("dd.outcome").inner_text() == "not passed"
    assert "agree (1) is not more than disagree (1)" in page.locator("dd.rule").inner_text()
    assert "too strict for us" in page.locator("main").inner_text()
    assert page.locator("meter[aria-label='votes against the quorum']").get_attribute("value") == "2"
    shot(page, "proposal", request)
    page.goto(site.url + "/c/demo/proposals")
    assert "P2" in page.locator("#h-open + ul").inner_text()
    assert "not passed" in page.locator("#P1").inner_text()
    shot(page, "proposals", request)

    # The open call's bars: B2 (50 points) is capped at its ask 300, B3 gets the rest 600.
    page.goto(site.url + "/c/demo/F2")
    rows = {r.get_attribute("id"): r for r in page.locator("tr.pitch").all()}
    assert rows["B2"].locator("td.gets").inner_text() == "300 EUR"
    assert rows["B3"].locator("td.gets").inner_text() == "600 EUR"
    assert rows["B3"].locator("meter").get_attribute("value") == "60000"
    chart = page.locator("img.chart")
    assert chart.evaluate("img => img.complete && img.naturalWidth > 0")
    assert "Round 2" in page.locator("ol.steps").inner_text()
    shot(page, "call", request)
    page.goto(site.url + "/c/demo/F1")
    assert "600 EUR" in page.locator("#B1 td.gets").inner_text()
    assert page.locator("#B1 a").inner_text() == "T2"

    page.goto(site.url + "/c/demo/ledger")
    totals = page.locator("table.totals").first.inner_text()
    assert "bob" in totals and "50 EUR" in totals
    assert "#python" in page.locator("table.totals").nth(1).inner_text()
    assert page.locator("img.chart").evaluate("img => img.complete && img.naturalWidth > 0")
    shot(page, "ledger", request)
    page.get_by_role("link", name="T1 Fix the login crash").click()
    assert page.url.endswith("/c/demo/T1")

    page.goto(site.url + "/c/demo/log")
    log = page.locator("ol.log").inner_text()
    assert "carol voted disagree on P1" in log and "closed early by fundco" in log
    page.get_by_label("Object").fill("P1")
    page.get_by_role("button", name="Filter").click()
    assert all("P1" in li for li in page.locator("ol.log li").all_inner_texts())
    shot(page, "log", request)


def test_a_change_appears_on_an_open_page_within_a_second(site, page, request):
    page.goto(site.url + "/c/demo/")
    page.wait_for_selector(".live-status:has-text('Live')", timeout=5000)
    site.chat.say("erin", "!offer Translate the FAQ #docs")
    page.wait_for_selector("section[data-group=free] >> text=Translate the FAQ", timeout=LIVE_MS)

    page.goto(site.url + "/c/demo/P2")
    page.wait_for_selector(".live-status:has-text('Live')", timeout=5000)
    site.chat.say("bob", "!vote P2 block not yet")
    page.wait_for_selector("td:has-text('not yet')", timeout=LIVE_MS)
    assert "blocked" in page.locator("dd.outcome").inner_text()


def test_a_change_from_another_process_appears_too(site, page):
    """A second core on the same database (another bot process) has no hook into the
    board: the board notices by polling the newest event."""
    from bot.clock import ManualClock
    from bot.service.core import Core
    from bot.store.db import make_engine
    from tests.conftest import Chat

    other = Core(site.core.settings, make_engine(site.db_url), ManualClock(site.chat.clock.now()))
    try:
        page.goto(site.url + "/c/demo/ledger")
        page.wait_for_selector(".live-status:has-text('Live')", timeout=5000)
        chat = Chat(other, other.clock)  # type: ignore[arg-type]
        chat.say("erin", "!approve T3 @dave looks good")
        page.wait_for_selector("table.totals >> text=dave", timeout=LIVE_MS)
    finally:
        other.engine.dispose()


def test_a_hostile_title_shows_as_text_and_runs_nothing(site, page, request):
    title = "<script>alert(1)</script> @everyone"
    site.chat.say("bob", f"!offer {title} #web")
    for path in ("/c/demo/", "/c/demo/T4", "/c/demo/needs/free", "/c/demo/?skill=web"):
        page.goto(site.url + path)
        assert title in page.locator("main").inner_text()
        assert page.locator("main script").count() == 0
    page.goto(site.url + "/c/demo/T4")
    assert page.locator("h1").inner_text() == f"T4 {title}"
    shot(page, "hostile-title", request)
    # The page fixture fails the test if any dialog opened or script error happened.


def test_the_board_reads_on_a_phone_and_without_javascript(site, browser, request):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
    page = ctx.new_page()
    try:
        page.goto(site.url + "/c/demo/")
        boxes = [page.locator(f"section[data-group={g}]").bounding_box()
                 for g in ("submitted", "free", "full")]
        assert len({round(b["x"]) for b in boxes}) == 1, boxes  # one column
        assert all(b["width"] <= 390 for b in boxes)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert "Write the user guide" in page.locator("main").inner_text()
        shot(page, "board-phone", request)
        page.goto(site.url + "/c/demo/F2")
        assert page.locator("#B3 td.gets").inner_text() == "600 EUR"
        shot(page, "call-phone", request)
    finally:
        ctx.close()
