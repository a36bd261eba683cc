"""The unit of work's `execute` gives what SQLAlchemy's own execution gives, on both databases.

Prebuilt statements run through `bot.store.tx.Tx.execute`. These tests hold it to
`Connection.execute`: the same rows and types (datetimes, booleans, JSON), the same column
defaults, `IN` lists of any length, many rows at once, SQLAlchemy's exceptions, and ORM
writes of the same unit seen by its statements without a flush by hand.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from bot.store import sql
from bot.store.db import make_engine, upgrade
from bot.store.models import CommunityRow, Event, Member, OutboxEntry
from bot.store.tx import Tx

AT = datetime(2026, 12, 1, 12, 30, 15, 123456)
EVENTS = Event.__table__
EVENTS_OF_KINDS = select(EVENTS).where(EVENTS.c.kind.in_(bindparam("kinds", expanding=True))).order_by(
    EVENTS.c.id)


@pytest.fixture
def engine(db_url):  # type: ignore[no-untyped-def]
    eng = make_engine(db_url)
    upgrade(eng)
    with Tx(eng) as tx:
        tx.session.add(CommunityRow(id="demo", name="Demo"))
        tx.session.add(Member(id=1, community="demo", display_name="Ada", created_at=AT))
    yield eng
    eng.dispose()


def _need(number: int, **over):  # type: ignore[no-untyped-def]
    values = dict(community="demo", number=number, title=f"Need {number}", description="", skills="",
                  reward_minor=None, reward_currency=None, slots=1, taken=0, is_full=False,
                  due_at=AT, sort_due=AT, due_reminded=False, offered_by=1, call_id=None,
                  state="open", created_at=AT, closed_at=None, close_reason=None)
    values.update(over)
    return values


def test_rows_and_types_match_sqlalchemy(engine) -> None:  # type: ignore[no-untyped-def]
    with Tx(engine) as tx:
        new_id = tx.execute(sql.NEED_INSERT, _need(1, is_full=True, title="<b>x</b>")).scalar_one()
        ours = tx.execute(sql.NEED_BY_NUMBER, {"c": "demo", "n": 1}).one()
        theirs = tx.connection.execute(sql.NEED_BY_NUMBER, {"c": "demo", "n": 1}).one()
    assert tuple(ours) == tuple(theirs)
    assert ours.id == new_id and ours.title == "<b>x</b>"
    assert ours.is_full is True and ours.due_reminded is False
    assert ours.due_at == AT and isinstance(ours.created_at, datetime)


def test_json_and_column_defaults_round_trip(engine) -> None:  # type: ignore[no-untyped-def]
    with Tx(engine) as tx:
        # `details` and `payload` are left out: their Python defaults ({}) are filled in.
        tx.execute(insert(EVENTS), [dict(community="demo", at=AT, actor_id=1, platform="console",
                                             kind="need.offered", object="T1")])
        oid = tx.execute(insert(OutboxEntry.__table__).returning(OutboxEntry.__table__.c.id),
                              dict(community="demo", at=AT, kind="announce", text="hi",
                                   payload={"choices": [{"key": "claim"}], "mentions": [1]})).scalar()
    with engine.connect() as conn:
        event = conn.execute(select(EVENTS)).one()
        entry = conn.execute(select(OutboxEntry.__table__).where(OutboxEntry.__table__.c.id == oid)).one()
    assert event.details == {}
    assert entry.payload == {"choices": [{"key": "claim"}], "mentions": [1]} and entry.late is False


@pytest.mark.parametrize("kinds", [["a"], ["a", "c"], ["a", "b", "c"], []])
def test_in_lists_of_any_length(engine, kinds) -> None:  # type: ignore[no-untyped-def]
    rows = [dict(community="demo", at=AT, actor_id=1, platform="console", kind=k, object="T1",
                 details={"n": i}) for i, k in enumerate("abcab")]
    with Tx(engine) as tx:
        tx.execute(insert(EVENTS), rows)
        ours = [(r.kind, r.details) for r in tx.execute(EVENTS_OF_KINDS, {"kinds": kinds})]
        theirs = [(r.kind, r.details) for r in tx.connection.execute(EVENTS_OF_KINDS,
                                                                {"kinds": kinds})]
    assert ours == theirs
    assert [k for k, _ in ours] == [k for k in "abcab" if k in kinds]


def test_literal_in_lists_and_literal_values(engine) -> None:  # type: ignore[no-untyped-def]
    stmt = select(EVENTS.c.kind).where(EVENTS.c.kind.in_(["b", "c"]), EVENTS.c.object == "T1",
                                       EVENTS.c.actor_id == bindparam("a")).order_by(EVENTS.c.id)
    rows = [dict(community="demo", at=AT, actor_id=1, platform="console", kind=k, object=o, details={})
            for k, o in (("a", "T1"), ("b", "T1"), ("c", "T2"), ("c", "T1"))]
    with Tx(engine) as tx:
        tx.execute(insert(EVENTS), rows)
        ours = tx.execute(stmt, {"a": 1}).scalars().all()
        theirs = tx.connection.execute(stmt, {"a": 1}).scalars().all()
    assert ours == theirs == ["b", "c"]


def test_duplicate_key_raises_sqlalchemy_integrity_error_and_rolls_back(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IntegrityError), Tx(engine) as tx:
        tx.execute(sql.NEED_INSERT, _need(7))
        tx.execute(sql.NEED_INSERT, _need(7))  # (community, number) is unique
    with Tx(engine) as tx:
        assert tx.execute(sql.NEED_BY_NUMBER, {"c": "demo", "n": 7}).first() is None


def test_orm_and_prebuilt_statements_share_one_transaction(engine) -> None:  # type: ignore[no-untyped-def]
    tx = Tx(engine)
    tx.session.add(Member(id=2, community="demo", display_name="Grace", created_at=AT))
    assert tx.execute(sql.MEMBER_NAME, {"m": 2}).scalar() == "Grace"
    tx.rollback()
    tx.begin()
    assert tx.execute(sql.MEMBER_NAME, {"m": 2}).scalar() is None
    tx.session.add(Member(id=3, community="demo", display_name="Linus", created_at=AT))
    tx.execute(sql.NEXT_NUMBER["next_need"], {"c": "demo"})
    tx.commit()
    tx.close()
    with engine.connect() as conn:
        assert conn.execute(sql.MEMBER_NAME, {"m": 3}).scalar() == "Linus"
        assert conn.execute(select(CommunityRow.next_need)).scalar() == 2
