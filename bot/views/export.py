"""Exports of the public record: events, ledger, needs, proposals and calls as CSV or JSON Lines.

Read models over the store, streamed in constant memory: rows come from the database in
batches (`yield_per` — a server-side cursor on PostgreSQL) and are written as they come.
Each event carries the same plain phrase `!log` shows (`bot.chat.phrases`). `write_export`
takes any text stream, so the command line writes a file or stdout and the public board
can serve the same bytes.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from datetime import datetime
from itertools import count
from typing import Any, TextIO

import orjson
from sqlalchemy import Connection, Engine, String, Text, bindparam, cast, func, select, type_coerce

from bot.chat.phrases import PRIVATE, Names, phrase
from bot.domain.rules import minor_digits
from bot.domain.vocabulary import POSITIONS, ProposalState
from bot.errors import CorruptRow
from bot.store.integrity import DATA_ERRORS, corrupt_rows_named, unfit
from bot.store.models import (
    Backing,
    Contribution,
    Event,
    FundingCall,
    Member,
    Need,
    Pitch,
    PoolEntry,
    Proposal,
    Venture,
    Vote,
)
from bot.store.reading import read_snapshot, stream_tuples

WHATS = ("events", "ledger", "needs", "proposals", "calls", "books")
FORMATS = ("csv", "json")
BATCH = 2000


def decimal(minor: int | None, currency: str | None) -> str | None:
    """An amount as a plain decimal string in its currency's unit (`83.33`), or None."""
    if minor is None or not currency:
        return None
    digits = minor_digits(currency)
    if digits == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**digits)
    return f"{sign}{whole}.{frac:0{digits}d}"


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


class _Names:
    """Display names by member id, loaded once per export (members are few; events many)."""

    def __init__(self, conn: Connection, community: str) -> None:
        self.names = Names(conn.execute(select(Member.id, Member.display_name)
                                        .where(Member.community == community)).all())

    def __call__(self, member: int | None) -> str:
        return "" if member is None else self.names[member]


def _stream(conn: Connection, stmt) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    return conn.execute(stmt.execution_options(stream_results=True, yield_per=BATCH))


# --- one generator of (columns, rows) per kind of export -----------------------------------

EVENT_COLUMNS = ("id", "at", "platform", "kind", "object", "actor_id", "actor", "phrase", "details")


def _sqlite_iso(text: str) -> str:
    """SQLAlchemy's SQLite datetime text (`2026-12-01 12:00:00.000000`) as `isoformat` has it."""
    if text.endswith(".000000"):
        return f"{text[:10]}T{text[11:19]}"
    return f"{text[:10]}T{text[11:]}"


def _events(conn: Connection, cid: str, since: datetime | None, names: _Names) -> Iterator[tuple]:  # type: ignore[type-arg]
    e = Event.__table__
    # SQLite keeps times as text: read as stored and reshaped, instead of parsed and printed.
    sqlite = conn.dialect.name == "sqlite"
    at_col = type_coerce(e.c.at, String) if sqlite else e.c.at
    # The details as the JSON text stored: parsed once for the phrase, written as stored.
    stmt = (select(e.c.id, at_col, e.c.platform, e.c.kind, e.c.object, e.c.actor_id,
                   cast(e.c.details, Text))
            .where(e.c.community == cid, e.c.kind.not_in(PRIVATE)).order_by(e.c.id))
    if since is not None:
        stmt = stmt.where(e.c.at >= since)
    loads, by_id = orjson.loads, names.names
    name = by_id.__getitem__
    iso = _sqlite_iso if sqlite else datetime.isoformat
    for eid, at, platform, kind, obj, actor, raw in stream_tuples(conn, stmt, BATCH):
        try:
            d = loads(raw) if raw else None
            if d is not None and type(d) is not dict:
                raise CorruptRow(f"events row {eid}: details is not a JSON object")
            said = phrase(kind, obj, d, actor, name)
        except orjson.JSONDecodeError:
            raise CorruptRow(f"events row {eid}: details is not JSON") from None
        except DATA_ERRORS as exc:
            raise CorruptRow(f"events row {eid}: {unfit(kind, exc)}") from None
        yield (eid, iso(at), platform, kind, obj, actor, by_id[actor] if actor is not None else "",
               said, raw or "{}")


LEDGER_COLUMNS = ("id", "at", "member_id", "member", "need", "title", "amount", "currency",
                  "approved_by_id", "approved_by")


def _ledger(conn: Connection, cid: str, since: datetime | None, names: _Names) -> Iterator[tuple]:  # type: ignore[type-arg]
    c, n = Contribution.__table__, Need.__table__
    stmt = (select(c.c.id, c.c.at, c.c.member_id, n.c.number, n.c.title, c.c.reward_minor,
                   c.c.currency, c.c.approved_by)
            .join(n, n.c.id == c.c.need_id).where(c.c.community == cid).order_by(c.c.id))
    if since is not None:
        stmt = stmt.where(c.c.at >= since)
    for cid_, at, member, number, title, minor, cur, by in _stream(conn, stmt):
        yield (cid_, _iso(at), member, names(member), f"T{number}", title, decimal(minor, cur),
               cur, by, names(by))


ENTRY_COLUMNS = ("record", "kind", "at", "amount", "currency", "operations", "commons", "source",
                 "note", "state", "reversed_at", "reverse_reason")


def entries(conn: Connection, community: str, since: datetime | None = None):  # type: ignore[no-untyped-def]
    """Every receipt and spend (from `since` on), oldest first, as export rows (ENTRY_COLUMNS)."""
    e = PoolEntry.__table__.c
    stmt = (select(e.kind, e.number, e.at, e.amount_minor, e.currency, e.operations_minor,
                   e.commons_minor, Venture.number, Member.display_name, e.note, e.state,
                   e.reversed_at, e.reverse_reason)
            .outerjoin(Venture, Venture.id == e.venture_id)
            .outerjoin(Member, Member.id == e.from_member)
            .where(e.community == community).order_by(e.at, e.id))
    if since is not None:
        stmt = stmt.where(e.at >= since)
    for (kind, number, at, amount, cur, ops, commons, venture, member, note, state, rev_at,
         reason) in conn.execute(stmt):
        yield (f"{'R' if kind == 'receipt' else 'S'}{number}", kind, at.isoformat(),
               decimal(amount, cur), cur, decimal(ops, cur), decimal(commons, cur),
               f"V{venture}" if venture is not None else (member or ""), note, state,
               rev_at.isoformat() if rev_at else None, reason)


NEED_COLUMNS = ("need", "title", "state", "skills", "reward", "currency", "slots", "taken",
                "offered_by_id", "offered_by", "due_at", "created_at", "closed_at", "call")


def _needs(conn: Connection, cid: str, since: datetime | None, names: _Names) -> Iterator[tuple]:  # type: ignore[type-arg]
    n, f = Need.__table__, FundingCall.__table__
    stmt = (select(n.c.number, n.c.title, n.c.state, n.c.skills, n.c.reward_minor, n.c.reward_currency,
                   n.c.slots, n.c.taken, n.c.offered_by, n.c.due_at, n.c.created_at, n.c.closed_at,
                   f.c.number.label("call"))
            .outerjoin(f, f.c.id == n.c.call_id).where(n.c.community == cid).order_by(n.c.number))
    if since is not None:
        stmt = stmt.where(n.c.created_at >= since)
    for r in _stream(conn, stmt):
        yield (f"T{r.number}", r.title, r.state, r.skills, decimal(r.reward_minor, r.reward_currency),
               r.reward_currency, r.slots, r.taken, r.offered_by, names(r.offered_by),
               _iso(r.due_at), _iso(r.created_at), _iso(r.closed_at),
               f"F{r.call}" if r.call is not None else None)


PROPOSAL_COLUMNS = ("proposal", "text", "author_id", "author", "state", "outcome", "quorum",
                    "agree", "abstain", "disagree", "block", "created_at", "closes_at", "closed_at")


def _proposals(conn: Connection, cid: str, since: datetime | None, names: _Names) -> Iterator[tuple]:  # type: ignore[type-arg]
    p, v = Proposal.__table__, Vote.__table__

    def count(position: str):  # type: ignore[no-untyped-def]
        return (select(func.count()).where(v.c.proposal_id == p.c.id, v.c.position == position)
                .scalar_subquery())

    stmt = (select(p.c.number, p.c.text, p.c.author_id, p.c.state, p.c.outcome, p.c.quorum,
                   *(count(position) for position in POSITIONS),
                   p.c.created_at, p.c.closes_at, p.c.closed_at,
                   (p.c.hidden | p.c.anonymous) & (p.c.state == ProposalState.OPEN))
            .where(p.c.community == cid).order_by(p.c.number))
    if since is not None:
        stmt = stmt.where(p.c.created_at >= since)
    for r in _stream(conn, stmt):
        # A hidden vote or secret ballot still open shows no counts (docs/behaviour.md,
        # Hidden votes and secret ballots).
        counts = (None, None, None, None) if r[13] else (r[6], r[7], r[8], r[9])
        yield (f"P{r[0]}", r[1], r[2], names(r[2]), r[3], r[4], r[5], *counts,
               _iso(r[10]), _iso(r[11]), _iso(r[12]))


CALL_COLUMNS = ("call", "pitch", "title", "by_id", "by", "currency", "budget", "allowance", "ask",
                "points", "state", "funded", "unallocated", "need", "created_at", "closes_at",
                "closed_at")


def _calls(conn: Connection, cid: str, since: datetime | None, names: _Names) -> Iterator[tuple]:  # type: ignore[type-arg]
    """One row per call (its budget and remainder), followed by one row per pitch of it."""
    f, pi, b, n = FundingCall.__table__, Pitch.__table__, Backing.__table__, Need.__table__
    stmt = select(f).where(f.c.community == cid).order_by(f.c.number)
    if since is not None:
        stmt = stmt.where(f.c.created_at >= since)
    pts = (select(func.coalesce(func.sum(b.c.points), 0)).where(b.c.pitch_id == pi.c.id)
           .scalar_subquery())
    pitches = (select(pi.c.number, pi.c.title, pi.c.pitched_by, pi.c.ask_minor, pts, pi.c.state,
                      pi.c.funded_minor, n.c.number.label("need"), pi.c.created_at)
               .outerjoin(n, n.c.id == pi.c.need_id)
               .where(pi.c.call_id == bindparam("call_id")).order_by(pi.c.number))
    # Calls are few; reading them first leaves the connection free for each call's pitches.
    for c in conn.execute(stmt).all():
        cur = c.currency
        yield (f"F{c.number}", None, c.title, c.posted_by, names(c.posted_by), cur,
               decimal(c.budget_minor, cur), c.points, None, None, c.state, None,
               decimal(c.unallocated_minor, cur), None, _iso(c.created_at), _iso(c.closes_at),
               _iso(c.closed_at))
        for p in conn.execute(pitches, {"call_id": c.id}):
            yield (f"F{c.number}", f"B{p.number}", p.title, p.pitched_by, names(p.pitched_by), cur,
                   None, None, decimal(p.ask_minor, cur), int(p[4]), p.state,
                   decimal(p.funded_minor, cur),
                   None, f"T{p.need}" if p.need is not None else None, _iso(p.created_at), None, None)


_EXPORTS: dict[str, tuple[tuple[str, ...], Callable[..., Iterator[tuple]]]] = {  # type: ignore[type-arg]
    "events": (EVENT_COLUMNS, _events),
    "ledger": (LEDGER_COLUMNS, _ledger),
    "needs": (NEED_COLUMNS, _needs),
    "proposals": (PROPOSAL_COLUMNS, _proposals),
    "calls": (CALL_COLUMNS, _calls),
    # The foundation's receipts and spends (docs/behaviour.md, The books), with their reversals.
    "books": (ENTRY_COLUMNS, lambda conn, cid, since, names: entries(conn, cid, since)),
}
# The tables each export reads, searched for a corrupt row when reading one failed.
_READS: dict[str, tuple[type, ...]] = {
    "events": (Member, Event),
    "ledger": (Member, Need, Contribution),
    "needs": (Member, FundingCall, Need),
    "proposals": (Member, Proposal, Vote),
    "calls": (Member, FundingCall, Need, Pitch, Backing),
    "books": (Member, Venture, PoolEntry),
}


def write_export(engine: Engine, community: str, what: str, fmt: str, out: TextIO,
                 since: datetime | None = None) -> int:
    """Write one export of a community's record to `out`, row by row.

    Args:
        engine: an engine on the database (`bot.store.reading.reading_engine` for long reads).
        community: the community id.
        what: `events`, `ledger`, `needs`, `proposals` or `calls`.
        fmt: `csv` (a header row, then one row per record) or `json` (JSON Lines: one
            object per line).
        out: a text stream (a file, stdout, a web response's writer).
        since: only records from this time on (UTC).

    Returns:
        How many records were written.

    Raises:
        ValueError: an unknown `what` or `fmt`.
        CorruptRow: a row commons-bot could not have written, named by table and key (what
            was written before it stays written).
    """
    if what not in _EXPORTS:
        raise ValueError(f"--what must be one of {', '.join(WHATS)}")
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}")
    columns, rows = _EXPORTS[what]
    n = 0
    tables = [model.__table__ for model in _READS[what]]  # type: ignore[attr-defined]
    with read_snapshot(engine) as conn, corrupt_rows_named(conn, tables):
        names = _Names(conn, community)
        if fmt == "csv":
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(columns)
            # The rows are counted as the writer's own loop pulls them.
            counter = count()
            writer.writerows(row for row, _ in zip(rows(conn, community, since, names), counter,
                                                   strict=False))
            n = next(counter)
        else:
            dumps, write = orjson.dumps, out.write
            if "details" in columns:
                # The details are JSON text already: spliced in as the object they are.
                head = columns[:-1]
                for row in rows(conn, community, since, names):
                    record = dumps(dict(zip(head, row, strict=False))).decode()
                    write(record[:-1] + ',"details":' + row[-1] + "}\n")
                    n += 1
            else:
                for row in rows(conn, community, since, names):
                    write(dumps(dict(zip(columns, row, strict=True))).decode() + "\n")
                    n += 1
    return n
