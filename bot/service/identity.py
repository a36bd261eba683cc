"""A member's identities: `!whoami`, and linking them with `!link`, `!link <code>` and
`!unlink <platform>`.

A link joins one person's identities on *different* platforms into one member, so limits
and allowances count the person once. A code proves control of the identity that asked
for it; sending it from another platform proves control of that one. Nothing recorded
ever moves between members: only an identity with no history of its own as another
member may join, and `!unlink` gives an identity a member of its own again while what it
did while linked stays where it was recorded.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, func, select

from bot.chat.render import esc
from bot.domain.vocabulary import ROLES
from bot.service.context import Actor, CommandCtx, Ctx, Reply
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
# No 0/O, 1/I/L: codes are read on one screen and typed on another.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10

# What counts as a member's own history: anything recorded with the member's id.
# Needs, claims, contributions and events are read with `sql.HAS_HISTORY`, the others here.
_HISTORY = (
    (Vote, Vote.member_id), (Backing, Backing.member_id),
    (Proposal, Proposal.author_id), (FundingCall, FundingCall.posted_by),
    (Pitch, Pitch.pitched_by),
)


def code_hash(code: str) -> str:
    """What is stored of a code (the code itself is only ever in one private reply)."""
    return hashlib.sha256(code.strip().upper().replace("-", "").encode()).hexdigest()


@handles("link")
def link(ctx: CommandCtx) -> Reply:
    """`!link` gives a private code; `!link <code>` from another platform joins the identities."""
    pa = ctx.parsed
    if not pa.words:
        return _issue(ctx)
    return _redeem(ctx, pa.words[0])


def _identity(ctx: CommandCtx) -> Row[Any]:
    return ctx.conn.execute(sql.IDENTITY, {"c": ctx.cid, "p": ctx.msg.platform, "u": ctx.msg.sender}).one()


def _issue(ctx: CommandCtx) -> Reply:
    me = _identity(ctx)
    # One live code per identity: asking again replaces the previous one.
    ctx.conn.execute(sql.LINK_CODES_DROP_OF_IDENTITY, {"i": me.id})
    code = "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))
    ctx.conn.execute(sql.LINK_CODE_INSERT, dict(
        code_hash=code_hash(code), member_id=ctx.member.id, identity_id=me.id,
        expires_at=ctx.now + timedelta(minutes=LINK_MINUTES), used=False))
    return Reply(f"Your link code is {code}. Within {LINK_MINUTES} minutes, send "
                 f"`{ctx.cmd('link ' + code)}` from your account on another platform (it works "
                 "once; keep it to yourself: whoever sends it joins that account to you).",
                 secret=True)


def _redeem(ctx: CommandCtx, typed: str) -> Reply:
    msg = ctx.msg
    since = ctx.now - timedelta(minutes=LINK_MINUTES)
    who = dict(community=ctx.cid, platform=msg.platform, user_id=msg.sender)
    failed = ctx.conn.execute(sql.LINK_ATTEMPTS_SINCE, {"c": ctx.cid, "p": msg.platform, "u": msg.sender,
                                                         "since": since}).scalar() or 0
    if failed >= MAX_ATTEMPTS:
        raise ctx.refuse(f"too many wrong codes from this account — wait {LINK_MINUTES} minutes, "
                         f"then get a new code with {ctx.cmd('link')} on your other platform")
    row = ctx.conn.execute(sql.LINK_CODE_LOCKED, {"h": code_hash(typed)}).first()
    if row is None or row.used or row.expires_at <= ctx.now:
        # Kept although the refusal undoes everything else: it is what limits guessing.
        ctx.keep(sql.LINK_ATTEMPT_INSERT, {**who, "at": ctx.now})
        raise ctx.refuse(f"that code is unknown, used or expired — get a new one with "
                         f"{ctx.cmd('link')} on your other platform")
    owner = ctx.conn.execute(sql.IDENTITY_BY_ID, {"_id": row.identity_id}).first()
    target = ctx.conn.execute(sql.MEMBER_BY_ID, {"_id": row.member_id}).first()
    # A code dies with its member, and with its identity leaving that member.
    if (target is None or owner is None or owner.member_id != target.id
            or target.merged_into is not None or target.community != ctx.cid):
        raise ctx.refuse(f"that code is no longer valid — get a new one with {ctx.cmd('link')}")
    me = _identity(ctx)
    if target.id == ctx.member.id:
        raise ctx.refuse("this account is already part of that member — nothing to link "
                         f"(see {ctx.cmd('whoami')})")
    if owner.platform == msg.platform:
        raise ctx.refuse(f"that code came from {msg.platform} too — a link joins accounts on "
                         f"different platforms: send it from your account on another platform")
    _lock_members(ctx, target.id, ctx.member.id)
    if ctx.conn.execute(sql.IDENTITY_OF_MEMBER_ON, {"m": target.id, "p": msg.platform}).first():
        raise ctx.refuse(f"{esc(target.display_name)} already has a {msg.platform} account — one "
                         f"per platform; unlink it first with {ctx.cmd('unlink ' + msg.platform)}")
    if len(ctx.conn.execute(sql.IDENTITIES_OF_MEMBER, {"m": ctx.member.id}).all()) > 1:
        raise ctx.refuse("this account is linked to others already — unlink it first with "
                         f"{ctx.cmd('unlink ' + msg.platform)}")
    if _has_history(ctx, ctx.member.id):
        raise ctx.refuse(f"this {msg.platform} account already has history of its own here "
                         "(claims, votes, backings, offers or other events), and what is recorded "
                         "never moves — link the other way round: send "
                         f"{ctx.cmd('link')} here and the code from your other account")
    ctx.conn.execute(sql.LINK_CODE_USED, {"h": row.code_hash})
    alone = ctx.member.id
    ctx.conn.execute(sql.IDENTITY_MOVE, {"_id": me.id, "m": target.id})
    # The member this account had is left with nothing: no identity, no history, no codes.
    ctx.conn.execute(sql.MEMBER_MERGE, {"_id": alone, "into": target.id})
    ctx.conn.execute(sql.LINK_CODES_DROP_OF_MEMBER, {"m": alone})
    ctx.member = Actor(target.id, target.display_name)
    ctx.event("member.linked", f"@{target.id}", platform=msg.platform)
    return Reply(f"Linked: this {msg.platform} identity is now {esc(target.display_name)}; claims, "
                 "votes and allowances count you once. Undo it with "
                 f"`{ctx.cmd('unlink ' + msg.platform)}`.")


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


@handles("unlink")
def unlink(ctx: CommandCtx) -> Reply:
    """`!unlink <platform>`: that account becomes a member of its own again."""
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
    ident = leaving[0]
    new_id = ctx.conn.execute(sql.MEMBER_INSERT, dict(
        community=ctx.cid, display_name=ident.display_name, created_at=ctx.now)).scalar_one()
    ctx.conn.execute(sql.IDENTITY_MOVE, {"_id": ident.id, "m": new_id})
    ctx.conn.execute(sql.LINK_CODES_DROP_OF_IDENTITY, {"i": ident.id})
    ctx.event("member.unlinked", f"@{ctx.member.id}", platform=platform)
    return Reply(f"Unlinked: your {esc(platform)} account {esc(ident.user_id)} is a member of its "
                 f"own again. What it did while linked stays with {esc(ctx.member.display_name)}.")


@handles("whoami")
def whoami(ctx: CommandCtx) -> Reply:
    """`!whoami`: your member, linked identities and roles."""
    ids = ctx.conn.execute(sql.IDENTITIES_OF_MEMBER, {"m": ctx.member.id}).all()
    roles = ", ".join(r for r in ROLES if r in ctx.roles)
    lines = [f"You are {esc(ctx.member.display_name)} (member #{ctx.member.id}) in "
             f"{esc(ctx.community.name or ctx.cid)}", f"Roles: {roles}", "Identities:"]
    lines.extend(f"- {i.platform}: {esc(i.user_id)}" for i in ids)
    if len(ids) == 1:
        lines.append(f"Link another platform with `{ctx.cmd('link')}`")
    return Reply("\n".join(lines))
