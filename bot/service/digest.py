"""The digest: the pool's balances and what moved since the last digest, open needs (free
slots first, by skill, most urgent first), open proposals and open funding calls, posted
to every room so that needs do not sink in the chat scroll.

It is built from a bounded number of rows (the rooms only ever see 4,000 characters of
it) and ends with a visible marker and the command to see the rest when cut.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, select

from bot.chat.render import MAX_REPLY, TRUNCATED, clip, esc, left, money, when
from bot.domain.vocabulary import CallState
from bot.service import books
from bot.service.context import Ctx, Pending
from bot.service.need_text import need_line
from bot.service.need_text import ref as need_ref
from bot.service.proposals import counts_shown
from bot.store import sql
from bot.store.models import Event, FundingCall, Pitch

REF = "digest"
# More rows than fit in MAX_REPLY characters; reading more would only be cut away.
ROWS = 120
NO_SKILL = "other needs"


class _Budget:
    """Lines that stop before the text would pass the limit, keeping room for a footer."""

    def __init__(self, limit: int) -> None:
        self.lines: list[str] = []
        self.size = 0
        self.limit = limit
        self.full = False

    def add(self, line: str) -> bool:
        if self.full or self.size + len(line) + 1 > self.limit:
            self.full = True
            return False
        self.lines.append(line)
        self.size += len(line) + 1
        return True


def build(ctx: Ctx) -> str:
    """The digest text for the community as it is at `ctx.now` (under 4,000 characters)."""
    s, cid, now = ctx.session, ctx.cid, ctx.now
    footer_room = 200
    out = _Budget(MAX_REPLY - footer_room)
    title = esc(ctx.community.name or cid)
    out.add(f"**Digest of {title}** — {now:%Y-%m-%d}")
    last = ctx.conn.execute(select(func.max(Event.at)).where(
        Event.community == cid, Event.kind == "digest.posted")).scalar()
    for line in books.digest_lines(ctx, last or now - timedelta(days=7)):
        out.add(line)

    n_free = ctx.conn.execute(sql.OPEN_NEEDS_COUNT, {"c": cid, "full": False}).scalar() or 0
    n_full = ctx.conn.execute(sql.OPEN_NEEDS_COUNT, {"c": cid, "full": True}).scalar() or 0
    n_props = ctx.conn.execute(sql.OPEN_PROPOSALS_COUNT, {"c": cid}).scalar() or 0
    n_calls = s.scalar(select(func.count()).select_from(FundingCall).where(
        FundingCall.community == cid, FundingCall.state == CallState.OPEN)) or 0
    if not (n_free or n_full or n_props or n_calls):
        out.add(f"Nothing is open right now — offer a need with `{ctx.cmd('offer <title> #skill')}` "
                f"or start a proposal with `{ctx.cmd('propose <text>')}`.")
        return "\n".join(out.lines)

    shown = 0
    if n_free:
        free = ctx.conn.execute(sql.OPEN_NEEDS_BY_DUE, {"c": cid, "full": False, "lim": ROWS}).all()
        groups: dict[str, list[Row[Any]]] = {}
        for n in free:
            skill = n.skills.split()[0] if n.skills else ""
            groups.setdefault(skill, []).append(n)
        out.add(f"**Open needs with free slots** ({n_free}) — claim one with `{ctx.cmd('claim T…')}`")
        for skill in sorted(groups, key=lambda k: (k == "", k)):
            if not out.add(esc("#" + skill) if skill else NO_SKILL):
                break
            for n in groups[skill]:
                if not out.add("- " + need_line(n)):
                    break
                shown += 1
    if n_full and not out.full:
        full = ctx.conn.execute(sql.OPEN_NEEDS_BY_DUE, {"c": cid, "full": True, "lim": 30}).all()
        refs = ", ".join(need_ref(n) for n in full) + (" …" if n_full > len(full) else "")
        out.add(f"**Being worked on** ({n_full}, no free slot): {refs}")
    if n_props and not out.full:
        out.add(f"**Open proposals** ({n_props}) — vote with `{ctx.cmd('vote P… agree')}`")
        for p in ctx.conn.execute(sql.OPEN_PROPOSALS, {"c": cid, "lim": ROWS // 4, "off": 0}):
            if not out.add(f"- **P{p.number}** {esc(p.text)} — {counts_shown(ctx, p)} — "
                           f"{left(p.closes_at, now)}"):
                break
    if n_calls and not out.full:
        out.add(f"**Open funding calls** ({n_calls}) — pitch with `{ctx.cmd('pitch F… <title> ask:…')}`")
        pitches = (select(Pitch.call_id, func.count().label("n")).group_by(Pitch.call_id).subquery())
        rows = s.execute(select(FundingCall, func.coalesce(pitches.c.n, 0))
                         .outerjoin(pitches, pitches.c.call_id == FundingCall.id)
                         .where(FundingCall.community == cid, FundingCall.state == CallState.OPEN)
                         .order_by(FundingCall.closes_at, FundingCall.number).limit(ROWS // 4)).all()
        for c, n in rows:
            if not out.add(f"- **F{c.number}** {esc(c.title)} — budget "
                           f"{money(c.budget_minor, c.currency)}, {n} pitch{'es' if n != 1 else ''} "
                           f"— closes {when(c.closes_at)}"):
                break
    lines = out.lines
    if out.full:
        more = max(n_free - shown, 0)
        hint = f"{more} more open needs — " if more else ""
        lines.append(f"{TRUNCATED} {hint}see `{ctx.cmd('needs')}`, `{ctx.cmd('proposals')}` "
                     f"and `{ctx.cmd('calls')}`")
    else:
        lines.append(f"All open needs: `{ctx.cmd('needs')}` · watch a skill: `{ctx.cmd('watch #skill')}`")
    return clip("\n".join(lines), MAX_REPLY)


def post(ctx: Ctx, *, at: datetime | None = None, late: bool = False) -> Pending:
    """Announce the digest in every room of the community (inside the caller's transaction).

    Args:
        ctx: the unit of work.
        at: the cron instant it stands for (None for one asked for by hand).
        late: it is posted well after its instant (the bot was down at the time).
    """
    text = build(ctx)
    if late and at is not None:
        text = clip(f"(late: was due {when(at)}) {text}", MAX_REPLY)
    ctx.event("digest.posted", REF, at=at.isoformat() if at else None, late=late)
    ctx.announce(text, ref=None, late=late)
    return ctx.announced[-1]
