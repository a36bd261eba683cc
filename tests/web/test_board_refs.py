"""The board reads an object's id in its address and in `object=` as the chat does."""

from __future__ import annotations

import json
from urllib.parse import quote


def test_an_object_page_takes_ascii_digits_only(site, board_log):
    assert site.served.get("/c/demo/T1")[0] == 200
    assert site.served.get("/c/demo/T01")[0] == 200
    # `int("٣")` is 3: the route once served T3's page for it.
    for path in ("T٣", "P٣", "F٣", "B٣", "T²"):
        status, _, body = site.served.get("/c/demo/" + quote(path))
        assert status == 404, (path, body)
    assert board_log.problems() == []


def test_the_log_filter_writes_the_id_back_the_one_way(site):
    for typed in ("t1", "T01", quote("T#1")):
        log = json.loads(site.served.get(f"/c/demo/log.json?object={typed}")[2])
        assert log["filters"]["object"] == "T1", typed
