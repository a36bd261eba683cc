"""Looking up objects by the ids members type (`T12`, `12`, `P3`, `F1`, `B4`), and taking
the next number of a kind."""

from __future__ import annotations

from typing import TypeVar

from bot.chat.render import echo
from bot.domain.ref import Ref, RefKind
from bot.service.context import Ctx
from bot.store import sql
from bot.store.models import FundingCall, Pitch

# Each kind: the command that lists them.
_LISTED_BY = {RefKind.NEED: "needs", RefKind.PROPOSAL: "proposals", RefKind.CALL: "calls",
              RefKind.PITCH: "calls"}
# Calls and pitches are read as ORM objects (`load`); needs and proposals as rows (`load_row`).
_MODELS = {"F": FundingCall, "B": Pitch}
M = TypeVar("M", FundingCall, Pitch)


def parse_ref(ctx: Ctx, token: str | None, letter: str) -> int:
    """The number in `T12` / `12` for the expected kind, or a refusal saying how to write it."""
    what = RefKind(letter).noun
    if not token:
        raise ctx.refuse(f"which {what}? give its id like {letter}12")
    ref = Ref.parse(token, letter)
    if ref is None:
        raise ctx.refuse(f"'{echo(token, 20)}' is not a {what} id — write it like {letter}12")
    return ref.number


def load(ctx: Ctx, token: str | None, letter: str, *, lock: bool = False):  # type: ignore[no-untyped-def]
    """Load the object a ref names, locking its row when the command will change it.

    Locking the row (`SELECT … FOR UPDATE` on PostgreSQL; SQLite transactions already
    hold the write lock) serialises concurrent commands on the same object.
    """
    number = parse_ref(ctx, token, letter)
    stmt = sql.LOAD_BY_NUMBER[_MODELS[letter], lock]
    return _found(ctx, ctx.session.scalars(stmt, {"c": ctx.cid, "n": number}).first(), letter, number)


def load_row(ctx: Ctx, token: str | None, letter: str, stmt):  # type: ignore[no-untyped-def]
    """Like `load`, as a plain row through a prebuilt statement taking `c` and `n`."""
    number = parse_ref(ctx, token, letter)
    return _found(ctx, ctx.conn.execute(stmt, {"c": ctx.cid, "n": number}).first(), letter, number)


def _found(ctx: Ctx, obj, letter: str, number: int):  # type: ignore[no-untyped-def]
    if obj is None:
        raise ctx.refuse(f"{letter}{number} does not exist — see {ctx.cmd(_LISTED_BY[RefKind(letter)])}")
    return obj


def next_number(ctx: Ctx, counter: str) -> int:
    """Take the community's next number of a kind; numbers are never reused.

    The `UPDATE … RETURNING` locks the community's row until commit, so two offers at
    once never get the same number.
    """
    return ctx.conn.execute(sql.NEXT_NUMBER[counter], {"c": ctx.cid}).scalar_one() - 1
