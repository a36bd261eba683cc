"""The public record as members read it: `!ledger` (contributions and totals) and `!log`
(the event log in plain words)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.chat.phrases import HIDDEN, phrase
from bot.chat.render import echo, esc, money, when
from bot.domain.ref import ALL, Ref
from bot.service.context import CommandCtx, Ctx, Reply
from bot.service.handlers import handles
from bot.service.paging import PAGE, page_number
from bot.store import sql
from bot.store.models import (
    Event,
)


@handles("ledger")
def ledger(ctx: CommandCtx) -> Reply:
    """`!ledger [@member | #skill]`: contributions and totals per member."""
    pa = ctx.parsed
    scope, which = "", "all"
    params: dict[str, Any] = {"c": ctx.cid}
    if pa.skills:
        which, params["skills"] = "skills", list(pa.skills)
        scope = " for " + esc(" ".join("#" + s for s in pa.skills))
    elif pa.words:
        who = ctx.find_member(pa.words[0])
        if who is None:
            raise ctx.refuse(f"{echo(pa.words[0], 40)} is not a member here — name them as they "
                             "appear in the room, or give #skills")
        which, params["m"] = "member", who.id
        scope = " for " + esc(who.display_name)
    totals = ctx.conn.execute(sql.LEDGER_TOTALS[which], params).all()
    if not totals:
        return Reply(f"The ledger{scope} is empty — approved work appears here.")
    per: dict[int, list[str]] = {}
    counts: dict[int, int] = {}
    for mid, cur, total, n in totals:
        counts[mid] = counts.get(mid, 0) + n
        if cur:
            per.setdefault(mid, []).append(money(total, cur))
    lines = [f"Ledger{scope} — totals:"]
    for mid in sorted(counts, key=lambda m: (-counts[m], m)):
        amounts = ", ".join(per.get(mid, [])) or "no reward"
        lines.append(f"- {ctx.name_of(mid)} {amounts} ({counts[mid]} contribution"
                     f"{'s' if counts[mid] != 1 else ''})")
    recent = ctx.conn.execute(sql.LEDGER_RECENT[which], params).all()
    lines.append("Latest:")
    for c in recent:
        amount = money(c.reward_minor, c.currency) or "no reward"
        lines.append(f"- {when(c.at)} {ctx.name_of(c.member_id)} T{c.number} {esc(c.title)} — "
                     f"{amount}, approved by {ctx.name_of(c.approved_by)}")
    return Reply("\n".join(lines))


def say(ctx: Ctx, e) -> str:  # type: ignore[no-untyped-def]
    """An event in plain words, as the chat shows it (names and user text escaped)."""
    return phrase(e.kind, e.object, e.details, e.actor_id, ctx.name_of, esc)


@handles("log")
def log(ctx: CommandCtx) -> Reply:
    """`!log [T12 | P3 | F1] [page:N]`: the event log in plain words, newest first by the
    time each change happened, ties by insertion."""
    pa = ctx.parsed
    page = page_number(ctx, pa.options.get("page"))
    stmt = select(Event).where(Event.community == ctx.cid, Event.kind.not_in(HIDDEN))
    scope = ""
    if pa.words:
        ref = Ref.parse(pa.words[0], ALL)
        if ref is None:
            raise ctx.refuse(f"'{echo(pa.words[0], 20)}' is not an id — write T12, P3, F1, B4, "
                             "V2, R7 or S3")
        obj = str(ref)
        stmt = stmt.where(Event.object == obj)
        scope = f" of {obj}"
    # By the time each change happened (a deadline applied late sits at its own time).
    rows = ctx.conn.execute(stmt.order_by(Event.at.desc(), Event.id.desc()).limit(PAGE + 1)
                            .offset((page - 1) * PAGE)).all()
    if not rows:
        return Reply(f"No events{scope}{' on page ' + str(page) if page > 1 else ''}.")
    lines = [f"Log{scope}, newest first (page {page}):"]
    for e in rows[:PAGE]:
        lines.append(f"- {when(e.at)} [{e.platform}] {say(ctx, e)}")
    if len(rows) > PAGE:
        nxt = f"log {pa.words[0]} page:{page + 1}" if pa.words else f"log page:{page + 1}"
        lines.append(f"More: `{ctx.cmd(nxt)}`")
    return Reply("\n".join(lines))
