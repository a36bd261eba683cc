"""A member's identities: `!whoami`, and linking them with `!link`, `!link <code>`,
`!link confirm|deny` and `!unlink <platform>`.

A link joins one person's identities on *different* platforms into one member, so limits
and allowances count the person once. A code proves control of the identity that asked
for it, and is accepted only where nobody else reads it (a direct chat with the bot,
Discord's /link): seen in a room, it dies at once. Sent from another platform, it asks to
join that account, and nothing joins until the issuing account confirms, told which
account asks: a code that leaked lets nobody in. Any code refused dies too, and its owner
hears of it.

Nothing recorded ever moves between members: only an identity with no history of its own
may join, and `!unlink` gives an identity a member of its own again while what it did
while linked stays where it was recorded. Only the account itself, or the member's first
account, detaches it; the first account never leaves. The member it gets remembers the
member it left (`split_from`): for what was open before the split, they count as one
(`relatives`).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, select

from bot.chat.render import esc
from bot.domain.vocabulary import ROLES
from bot.service.context import CommandCtx, Ctx, Reply
from bot.service.handlers import handles
from bot.store import sql
from bot.store.models import (
    Backing,
    FundingCall,
    Pitch,
    Proposal,
    Vote,
)

LINK_MINUTES = 15
# Failed `!link <code>` per identity within LINK_MINUTES; with 50-bit codes, guessing one
# in its lifetime is out of reach for any number of accounts an attacker could make.
MAX_ATTEMPTS = 5
# No 0/O, 1/I/L: codes are read on one screen and typed on another. (So no code is ever
# `confirm` or `deny`.)
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10

# What counts as a member's own history: anything recorded with the member's id.
# Needs, claims, contributions and events are read with `sql.HAS_HISTORY`, the others here.
_HISTORY = (
    (Vote, Vote.member_id), (Backing, Backing.member_id),
    (Proposal, Proposal.author_id), (FundingCall, FundingCall.posted_by),
    (Pitch, Pitch.pitched_by),
)
_PRIVATELY = "in a direct message with the bot (on Discord, the /link command)"


def code_hash(code: str) -> str:
    """What is stored of a code (the code itself is only ever in one private reply)."""
    return hashlib.sha256(code.strip().upper().replace("-", "").encode()).hexdigest()


@handles("link")
def link(ctx: CommandCtx) -> Reply:
    """`!link` gives a private code; `!link <code>` from another platform asks to join that
    account; `!link confirm` or `!link deny` from the account that issued the code answers."""
    pa = ctx.parsed
    if not pa.words:
        return _issue(ctx)
    word = pa.words[0].lower()
    if word in ("confirm", "deny"):
        return _answer(ctx, word == "confirm")
    return _redeem(ctx, pa.words[0])


def _identity(ctx: CommandCtx, lock: bool = False) -> Row[Any]:
    stmt = sql.IDENTITY_LOCKED if lock else sql.IDENTITY
    return ctx.conn.execute(stmt, {"c": ctx.cid, "p": ctx.msg.platform, "u": ctx.msg.sender}).one()


def _account(ident: Row[Any], the: str = "the") -> str:
    return f"{the} {ident.platform} account {esc(ident.display_name)} ({esc(ident.user_id)})"


def _issue(ctx: CommandCtx) -> Reply:
    me = _identity(ctx)
    # One live code per identity: asking again replaces the previous one.
    ctx.conn.execute(sql.LINK_CODES_DROP_OF_IDENTITY, {"i": me.id})
    code = "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))
    ctx.conn.execute(sql.LINK_CODE_INSERT, dict(
        code_hash=code_hash(code), member_id=ctx.member.id, identity_id=me.id,
        expires_at=ctx.now + timedelta(minutes=LINK_MINUTES), used=False, joiner_id=None))
    return Reply(f"Your link code is {code}. Within {LINK_MINUTES} minutes, send "
                 f"`{ctx.cmd('link ' + code)}` from your account on another platform, {_PRIVATELY}; "
                 f"then confirm it here with `{ctx.cmd('link confirm')}`. Keep it to yourself: "
                 "sent anywhere else, it stops working.", secret=True)


def _burn(ctx: CommandCtx, code: Row[Any], notice: str) -> None:
    """The code dies; its owner is told why, unless the owner sent it."""
    ctx.conn.execute(sql.LINK_CODE_USED, {"h": code.code_hash})
    if code.member_id != ctx.member.id:
        ctx.notice(code.member_id, notice)


def _redeem(ctx: CommandCtx, typed: str) -> Reply:
    msg = ctx.msg
    # Locked first: the wrong codes of this account are counted, tried and written one
    # command at a time (on PostgreSQL; SQLite's write lock serialises anyway).
    me = _identity(ctx, lock=True)
    row = ctx.conn.execute(sql.LINK_CODE_LOCKED, {"h": code_hash(typed)}).first()
    live = row is not None and not row.used and row.expires_at > ctx.now
    new_one = f"`{ctx.cmd('link')}`"
    refused = (f"Your link code was sent from {_account(me)} and refused, so it no longer works — "
               f"ask for a new one with {new_one} if you still want to join an account.")
    if not msg.private:
        # The same answer whether the code was live or not: a room is no place to guess.
        if live:
            _burn(ctx, row, f"Your link code was sent where others can read it (by {_account(me)}), "
                            "so it no longer works and nobody can join you with it. Ask for a new "
                            f"one with {new_one}, and send it only {_PRIVATELY}.")
        raise ctx.refuse(f"a link code works only {_PRIVATELY}: this one was sent where others can "
                         f"read it, so it no longer works — ask for a new one with {new_one}", keep=True)
    failed = ctx.conn.execute(sql.LINK_ATTEMPTS_SINCE, {
        "c": ctx.cid, "p": msg.platform, "u": msg.sender,
        "since": ctx.now - timedelta(minutes=LINK_MINUTES)}).scalar() or 0
    if failed >= MAX_ATTEMPTS:
        if live:
            _burn(ctx, row, refused)
        raise ctx.refuse(f"too many wrong codes from this account — wait {LINK_MINUTES} minutes, "
                         f"then get a new code with {ctx.cmd('link')} on your other platform", keep=True)
    if live and row.joiner_id == me.id:
        return _waiting(ctx, row)
    if not live or row.joiner_id is not None:
        ctx.conn.execute(sql.LINK_ATTEMPT_INSERT, dict(community=ctx.cid, platform=msg.platform,
                                                       user_id=msg.sender, at=ctx.now))
        if live:
            # A second account with a code another one waits on: the code leaked.
            joiner = ctx.conn.execute(sql.IDENTITY_BY_ID, {"_id": row.joiner_id}).one()
            _burn(ctx, row, f"{refused} The account that waited for your confirmation, "
                            f"{_account(joiner)}, is not joined either.")
        raise ctx.refuse(f"that code is unknown, used or expired — get a new one with "
                         f"{ctx.cmd('link')} on your other platform", keep=True)
    owner = ctx.conn.execute(sql.IDENTITY_BY_ID, {"_id": row.identity_id}).one()
    target = _owner_member(ctx, row, owner)
    why = (f"that code is no longer valid — get a new one with {ctx.cmd('link')}" if target is None
           else _why_not(ctx, target, owner, me, confirming=False))
    if why is not None:
        _burn(ctx, row, refused)
        raise ctx.refuse(why, keep=True)
    assert target is not None
    ctx.conn.execute(sql.LINK_CODE_WAIT, {"h": row.code_hash, "j": me.id,
                                          "until": ctx.now + timedelta(minutes=LINK_MINUTES)})
    ctx.notice(target.id, f"{_account(me, 'The')} sent your link code and asks to join you. If that "
                          f"account is yours, send `{ctx.cmd('link confirm')}` from your "
                          f"{owner.platform} account {esc(owner.user_id)} within {LINK_MINUTES} "
                          f"minutes; if not, send `{ctx.cmd('link deny')}`. Nothing is joined until "
                          "you confirm.")
    return _waiting(ctx, row)


def _waiting(ctx: CommandCtx, code: Row[Any]) -> Reply:
    """The answer to the account whose link waits for the issuing account's confirmation."""
    owner = ctx.conn.execute(sql.IDENTITY_BY_ID, {"_id": code.identity_id}).one()
    name = ctx.conn.execute(sql.MEMBER_NAME, {"m": code.member_id}).scalar() or ""
    return Reply(f"Almost linked: send `{ctx.cmd('link confirm')}` from your {owner.platform} account "
                 f"within {LINK_MINUTES} minutes to join this {ctx.msg.platform} account to "
                 f"{esc(name)}. Until then this account stays on its own.")


def _owner_member(ctx: Ctx, code: Row[Any], owner: Row[Any]) -> Row[Any] | None:
    """The member a code joins to, or None when the code died with it (merged, or the
    issuing identity left it)."""
    target = ctx.conn.execute(sql.MEMBER_BY_ID, {"_id": code.member_id}).first()
    if (target is None or owner.member_id != target.id or target.merged_into is not None
            or target.community != ctx.cid):
        return None
    return target


def _why_not(ctx: CommandCtx, target: Row[Any], owner: Row[Any], joiner: Row[Any],
             confirming: bool) -> str | None:
    """Why `joiner` cannot join `target` (checked when the code is sent and again when it
    is confirmed), or None. Both members are locked."""
    p, alone = joiner.platform, joiner.member_id
    this = _account(joiner) if confirming else "this account"
    this_p = _account(joiner) if confirming else f"this {p} account"
    if target.id == alone:
        return f"{this} is already part of that member — nothing to link (see {ctx.cmd('whoami')})"
    if owner.platform == p:
        return (f"that code came from {p} too — a link joins accounts on different platforms: "
                "send it from your account on another platform")
    _lock_members(ctx, target.id, alone)
    if ctx.conn.execute(sql.IDENTITY_OF_MEMBER_ON, {"m": target.id, "p": p}).first():
        return (f"{esc(target.display_name)} already has a {p} account — one per platform; "
                f"unlink it first with {ctx.cmd('unlink ' + p)}")
    if len(ctx.conn.execute(sql.IDENTITIES_OF_MEMBER, {"m": alone}).all()) > 1:
        return f"{this} is linked to others already — unlink it first with {ctx.cmd('unlink ' + p)}"
    if _has_history(ctx, alone):
        return (f"{this_p} already has history of its own here (claims, votes, backings, offers or "
                "other events), and what is recorded never moves — " +
                ("it was not joined" if confirming else
                 f"link the other way round: send {ctx.cmd('link')} here and the code from your "
                 "other account"))
    left = ctx.conn.execute(sql.MEMBER_BY_ID, {"_id": alone}).one().split_from
    if left is not None and left != (target.split_from or target.id):
        # Its votes and allowances count once with the member it left: only that member's
        # chain keeps them together.
        return (f"{this_p} was unlinked from {ctx.name_of(left)} and counts as one with it for "
                f"what was open then — it can only be linked back to {ctx.name_of(left)}")
    return None


def _answer(ctx: CommandCtx, confirm: bool) -> Reply:
    """`!link confirm` / `!link deny` from the account that issued the waiting code."""
    me = _identity(ctx)
    row = ctx.conn.execute(sql.LINK_CODE_OF_ISSUER_LOCKED, {"i": me.id}).first()
    if row is None or row.joiner_id is None or row.expires_at <= ctx.now:
        raise ctx.refuse(f"no account is waiting to join you — send {ctx.cmd('link')} from this "
                         "account for a code, then the code from your other account")
    joiner = ctx.conn.execute(sql.IDENTITY_BY_ID, {"_id": row.joiner_id}).one()
    ctx.conn.execute(sql.LINK_CODE_USED, {"h": row.code_hash})
    if not confirm:
        return Reply(f"Denied: {_account(joiner)} was not linked, and your code no longer works.",
                     private=True)
    target = _owner_member(ctx, row, me)
    why = ("your code no longer holds — get a new one" if target is None
           else _why_not(ctx, target, me, joiner, confirming=True))
    if why is not None:
        raise ctx.refuse(why, keep=True)
    assert target is not None
    alone = joiner.member_id
    ctx.conn.execute(sql.IDENTITY_MOVE, {"_id": joiner.id, "m": target.id, "linked_at": ctx.now})
    # The member that account had is left with nothing: no identity, no history, no codes.
    ctx.conn.execute(sql.MEMBER_MERGE, {"_id": alone, "into": target.id})
    ctx.conn.execute(sql.LINK_CODES_DROP_OF_MEMBER, {"m": alone})
    ctx.event("member.linked", f"@{target.id}", platform=joiner.platform)
    return Reply(f"Linked: your {joiner.platform} account {esc(joiner.display_name)} "
                 f"({esc(joiner.user_id)}) is now part of you, {esc(target.display_name)}; claims, "
                 "votes and allowances count you once. Undo it with "
                 f"`{ctx.cmd('unlink ' + joiner.platform)}`.")


def _lock_members(ctx: Ctx, *ids: int) -> None:
    """Both members' rows, in id order (no deadlock with another link or a claim)."""
    for mid in sorted(ids):
        ctx.conn.execute(sql.MEMBER_LOCK, {"m": mid})


def _has_history(ctx: Ctx, member_id: int) -> bool:
    if ctx.conn.execute(sql.HAS_HISTORY, {"m": member_id}).scalar():
        return True
    for model, col in _HISTORY:
        if ctx.session.scalar(select(func.count()).select_from(model).where(col == member_id)):
            return True
    return False


def _first(ids: list[Row[Any]]) -> Row[Any]:
    """The member's first account: the one it began with (or was given by `!unlink`)."""
    return next((i for i in ids if i.linked_at is None), ids[0])


@handles("unlink")
def unlink(ctx: CommandCtx) -> Reply:
    """`!unlink <platform>`: that account becomes a member of its own again. Sent from that
    account, or from the member's first account; the first account itself never leaves."""
    pa = ctx.parsed
    if not pa.words:
        raise ctx.refuse("say which platform to unlink, like "
                         f"{ctx.cmd('unlink ' + ctx.msg.platform)}")
    platform = pa.words[0].lower()[:16]
    ctx.lock_member()
    ids = ctx.conn.execute(sql.IDENTITIES_OF_MEMBER, {"m": ctx.member.id}).all()
    leaving = [i for i in ids if i.platform == platform]
    if not leaving:
        have = ", ".join(sorted({i.platform for i in ids}))
        raise ctx.refuse(f"you have no {esc(platform)} account linked (yours: {esc(have)}) — "
                         f"see {ctx.cmd('whoami')}")
    if len(ids) == 1:
        raise ctx.refuse(f"your {esc(platform)} account is your only one — nothing to unlink")
    ident, first = leaving[0], _first(ids)
    if ident.id == first.id:
        other = next(i.platform for i in ids if i.id != first.id)
        raise ctx.refuse(f"your {esc(platform)} account is the first of this member: its record and "
                         "name stay with it, so it is never unlinked — unlink the others from it, "
                         f"like {ctx.cmd('unlink ' + other)}")
    sender = (ctx.msg.platform, ctx.msg.sender)
    if sender != (ident.platform, ident.user_id) and sender != (first.platform, first.user_id):
        raise ctx.refuse(f"an account unlinks only itself, or from the member's first account "
                         f"({first.platform}) — send {ctx.cmd('unlink ' + platform)} from that "
                         f"{esc(platform)} account, or from your {first.platform} account")
    mine = ctx.conn.execute(sql.MEMBER_BY_ID, {"_id": ctx.member.id}).one()
    new_id = ctx.conn.execute(sql.MEMBER_INSERT, dict(
        community=ctx.cid, display_name=ident.display_name, created_at=ctx.now,
        split_from=mine.split_from or mine.id)).scalar_one()
    ctx.conn.execute(sql.IDENTITY_MOVE, {"_id": ident.id, "m": new_id, "linked_at": None})
    ctx.conn.execute(sql.LINK_CODES_DROP_OF_IDENTITY, {"i": ident.id})
    ctx.event("member.unlinked", f"@{ctx.member.id}", platform=platform)
    return Reply(f"Unlinked: your {esc(platform)} account {esc(ident.user_id)} is a member of its "
                 f"own again. What it did while linked stays with {esc(ctx.member.display_name)}, "
                 "and counts once with it for what is open now.")


def relatives(ctx: CommandCtx, opened: datetime) -> list[int]:
    """Members that were one member with the acting one when something opened at `opened`
    (a proposal, a funding call) and were split by `!unlink` since: a vote or a points
    allowance there counts once among them. Empty for nearly everyone (one query)."""
    rows = ctx.conn.execute(sql.LINEAGE, {"m": ctx.member.id}).all()
    if len(rows) < 2:
        return []
    me = next(r for r in rows if r.id == ctx.member.id)
    # A tie counts as before the split: of two readings, the one that gives one vote.
    if me.split_from is not None and me.created_at < opened:
        return []
    return [r.id for r in rows if r.id != me.id and (r.split_from is None or r.created_at >= opened)]


@handles("whoami")
def whoami(ctx: CommandCtx) -> Reply:
    """`!whoami`: your member, linked identities and roles."""
    ids = ctx.conn.execute(sql.IDENTITIES_OF_MEMBER, {"m": ctx.member.id}).all()
    roles = ", ".join(r for r in ROLES if r in ctx.roles)
    lines = [f"You are {esc(ctx.member.display_name)} (member #{ctx.member.id}) in "
             f"{esc(ctx.community.name or ctx.cid)}", f"Roles: {roles}", "Identities:"]
    first = _first(ids)
    lines.extend(f"- {i.platform}: {esc(i.user_id)}"
                 + (" (first account)" if len(ids) > 1 and i.id == first.id else "") for i in ids)
    if len(ids) == 1:
        lines.append(f"Link another platform with `{ctx.cmd('link')}`")
    return Reply("\n".join(lines))
