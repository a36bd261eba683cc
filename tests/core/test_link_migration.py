"""The migration of issue 20 on a database with linked accounts: each member keeps its first
account, and the accounts that joined it by `!link` are marked as linked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, text

from bot.store.db import make_engine, upgrade
from bot.store.models import IdentityRow, Member

BEFORE = "0003_gov"
AT = datetime(2026, 11, 1, 9, 0)
LINKED_AT = datetime(2026, 11, 2, 10, 30)


def _linked_member(conn) -> None:  # type: ignore[no-untyped-def]
    """bob (console) with bob-d (discord) joined by a link; carol alone on matrix."""
    conn.execute(text("INSERT INTO communities (id, name, next_need, next_proposal, next_call, "
                      "next_pitch) VALUES ('demo', 'Demo', 1, 1, 1, 1)"))
    for mid, name, merged in ((1, "bob", None), (2, "bob-d", 1), (3, "carol", None)):
        conn.execute(text("INSERT INTO members (id, community, display_name, created_at, merged_into) "
                          "VALUES (:i, 'demo', :n, :at, :m)"), {"i": mid, "n": name, "at": AT, "m": merged})
    # bob-d's identity is older than bob's: the first account is not the lowest id.
    for iid, platform, user, mid in ((1, "discord", "bob-d", 1), (2, "console", "bob", 1),
                                     (3, "matrix", "@carol:x", 3)):
        conn.execute(text("INSERT INTO identities (id, community, platform, user_id, display_name, "
                          "member_id) VALUES (:i, 'demo', :p, :u, :u, :m)"),
                     {"i": iid, "p": platform, "u": user, "m": mid})
    conn.execute(text("INSERT INTO events (community, at, actor_id, platform, kind, object, details) "
                      "VALUES ('demo', :at, 1, 'discord', 'member.linked', '@1', :d)"),
                 {"at": LINKED_AT, "d": '{"platform": "discord"}'})


def test_linked_accounts_are_marked_and_each_member_keeps_its_first(empty_db_url):
    engine = make_engine(empty_db_url)
    upgrade(engine, BEFORE)
    with engine.begin() as conn:
        _linked_member(conn)
    upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(select(IdentityRow.user_id, IdentityRow.linked_at)
                            .order_by(IdentityRow.id)).all()
        lineage = conn.execute(select(Member.split_from).order_by(Member.id)).scalars().all()
    assert [tuple(r) for r in rows] == [("bob-d", LINKED_AT), ("bob", None), ("@carol:x", None)]
    assert lineage == [None, None, None]
    engine.dispose()
