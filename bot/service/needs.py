"""Needs and claims: offer, needs, task, claim, renew, release, submit, cancel, mine, watch,
unwatch, watching (reviewing submitted work is in `review`)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.chat.phrases import phrase
from bot.chat.render import clip, echo, esc, left, money, quote, when
from bot.domain.rules import RuleError, count, parse_money, parse_when
from bot.domain.vocabulary import PENDING, ClaimState, NeedState, Role
from bot.service import approvals, held, spam, ventures
from bot.service.context import CommandCtx, Ctx, Reply
from bot.service.handlers import handles
from bot.service.need_records import (
    claim_rows,
    create_need,
    need_row,
)
from bot.service.need_text import need_choices, need_line, notify_watchers, ref
from bot.service.paging import PAGE, page_number
from bot.store import sql
from bot.store.models import (
    Contribution,
    Watch,
)

MAX_SLOTS = 50


def _my_claim(ctx: CommandCtx, need, states: tuple[str, ...] = PENDING):  # type: ignore[no-untyped-def]
    """The acting member's claim on the need in one of `states`, as a row, or None."""
    return ctx.conn.execute(sql.CLAIM_OF_MEMBER, {"need": need.id, "m": ctx.member.id,
                                                  "states": list(states)}).first()


@handles("offer")
def offer(ctx: CommandCtx) -> Reply:
    """`!offer`: create an open need and announce it."""
    p = ctx.parsed
    title = p.rest.strip()
    if not title:
        raise ctx.refuse("a need needs a title")
    if len(title) > 200:
        raise ctx.refuse(f"the title is {len(title)} characters; keep it under 200 and put "
                         "details on the next lines")
    try:
        reward = parse_money(p.options["reward"]) if "reward" in p.options else None
        due_at = parse_when(p.options["due"], ctx.now) if "due" in p.options else None
    except RuleError as exc:
        raise ctx.refuse(esc(str(exc))) from None
    slots_text = p.options.get("slots", "1")
    slots = count(slots_text, 1, MAX_SLOTS)
    if slots is None:
        raise ctx.refuse(f"slots:{echo(slots_text, 10)} is not a number of people from 1 to {MAX_SLOTS}")
    payer = ventures.offer_payer(ctx, p.options.get("by"), reward is not None and reward.minor > 0)
    cond = held.condition(ctx, due_at, "due", "need")
    need = create_need(ctx, title=title, description=clip(p.description, 2000),
                       skills=p.skills, reward=(reward.minor, reward.currency) if reward else None,
                       slots=slots, due_at=due_at, offered_by=ctx.member.id,
                       state=NeedState.PROPOSED if cond else NeedState.OPEN,
                       if_proposal_id=cond.id if cond else None)
    ventures.record_payer(ctx, need.id, payer)
    by = ctx.name_of(ctx.member.id)
    if cond is not None:
        ctx.event("need.proposed", ref(need), title=title, skills=list(p.skills),
                  amount_minor=reward.minor if reward else None,
                  currency=reward.currency if reward else None, slots=need.slots,
                  due=due_at.isoformat() if due_at else None, offered_by=ctx.member.id,
                  paid_by=payer[2] if payer else None, held_by=f"P{cond.number}")
        ctx.announce(f"Proposed need {need_line(need)} — offered by {by}, {held.held_phrase(cond)}.",
                     ref=ref(need))
        ctx.updated(f"P{cond.number}")
        return Reply(f"{ref(need)} is proposed: {held.held_phrase(cond)}.", ref=ref(need))
    ctx.event("need.offered", ref(need), title=title, skills=list(p.skills),
              amount_minor=reward.minor if reward else None,
              currency=reward.currency if reward else None, slots=need.slots,
              due=due_at.isoformat() if due_at else None, offered_by=ctx.member.id,
              paid_by=payer[2] if payer else None)
    text = f"New need {need_line(need)} — offered by {by}. Claim it with `{ctx.cmd('claim ' + ref(need))}`"
    if need.description:
        text += "\n" + quote(need.description, 500)
    ctx.announce(text, ref=ref(need), choices=need_choices(ctx, need))
    notify_watchers(ctx, need, p.skills, {ctx.member.id})
    return Reply(f"{ref(need)} is offered and announced: {esc(title)}", ref=ref(need))


@handles("needs")
def needs(ctx: CommandCtx) -> Reply:
    """`!needs`: open needs, free slots first, most urgent first, 10 a page."""
    p = ctx.parsed
    page = page_number(ctx, p.options.get("page"))
    params = {"c": ctx.cid, "lim": PAGE + 1, "off": (page - 1) * PAGE}
    if p.skills:
        rows = ctx.conn.execute(sql.OPEN_NEEDS_WITH_SKILLS_PAGE, {**params, "skills": list(p.skills)}).all()
    else:
        rows = ctx.conn.execute(sql.OPEN_NEEDS_PAGE, params).all()
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    tags = " ".join("#" + s for s in p.skills)
    if not rows:
        if page > 1:
            return Reply(f"No open needs on page {page} — see `{ctx.cmd('needs')}`")
        hint = f"`{ctx.cmd('watch ' + tags)}` to be told of new ones" if tags else \
            f"offer one with `{ctx.cmd('offer <title>')}`"
        return Reply(f"No open needs{' with ' + esc(tags) if tags else ''} — {hint}")
    head = f"Open needs{' with ' + esc(tags) if tags else ''} (page {page}):"
    lines = [head, *("- " + need_line(n) for n in rows)]
    if more:
        lines.append(f"More: `{ctx.cmd('needs ' + (tags + ' ' if tags else '') + f'page:{page + 1}')}`")
    return Reply("\n".join(lines))


@handles("task")
def task(ctx: CommandCtx) -> Reply:
    """`!task T12`: the need with its claims, reviews and history."""
    p = ctx.parsed
    need = need_row(ctx, p.words[0] if p.words else None, lock=False)
    lines = [need_line(need), f"Offered by {ctx.name_of(need.offered_by)} on {when(need.created_at)}"]
    if need.state == NeedState.CANCELLED and need.close_reason:
        lines.append(f"Cancelled: {esc(need.close_reason)}")
    if need.description:
        lines.extend([quote(need.description, 1500), ""])
    claims = ctx.conn.execute(sql.CLAIMS_OF_NEED_ALL, {"need": need.id}).all()
    if claims:
        lines.append("Claims:")
        for c in claims[-10:]:
            line = f"- {ctx.name_of(c.member_id)}: {c.state}"
            if c.state == ClaimState.ACTIVE and c.expires_at:
                line += f" (expires {when(c.expires_at)})"
            if c.submission:
                line += f" — submitted: {esc(clip(c.submission, 300))}"
            if c.review_note:
                line += f" — review by {ctx.name_of(c.reviewer_id)}: {esc(clip(c.review_note, 300))}"
            approval = approvals.status(ctx, need, c)
            if approval:
                line += f" — {approval}"
            lines.append(line)
    history = ctx.conn.execute(sql.LATEST_EVENTS_OF, {"c": ctx.cid, "o": ref(need), "lim": 5}).all()
    if history:
        lines.append("History:")
        lines.extend(f"- {when(e.at)} {phrase(e.kind, e.object, e.details, e.actor_id, ctx.name_of, esc)}"
                     for e in history)
    if need.state == NeedState.OPEN and not need.is_full:
        lines.append(f"Claim it with `{ctx.cmd('claim ' + ref(need))}`")
    return Reply("\n".join(lines), choices=need_choices(ctx, need), ref=ref(need))


@handles("claim")
def claim(ctx: CommandCtx) -> Reply:
    """`!claim T12`: take a free slot."""
    p = ctx.parsed
    need = need_row(ctx, p.words[0] if p.words else None, lock=True)
    r = ref(need)
    if need.state != NeedState.OPEN:
        raise ctx.refuse(f"{r} is {need.state} and cannot be claimed — see {ctx.cmd('needs')}")
    me = ctx.member.id
    if _my_claim(ctx, need):
        raise ctx.refuse(f"you already hold a claim on {r} — see {ctx.cmd('mine')}")
    if need.is_full:
        raise ctx.refuse(f"{r} is full ({need.taken} of {need.slots} slots taken) — see "
                         f"{ctx.cmd('needs')} for needs with free slots")
    limit = ctx.policies.max_active_claims
    ctx.lock_member()
    if ctx.conn.execute(sql.ACTIVE_CLAIMS_OF_MEMBER, {"m": me}).scalar_one() >= limit:
        raise ctx.refuse(f"you already have {limit} active claims — submit or release one first "
                         f"(see {ctx.cmd('mine')})")
    spam.check_claim(ctx)
    expires = ctx.now + timedelta(days=ctx.policies.claim_days)
    ctx.conn.execute(sql.CLAIM_INSERT, dict(need_id=need.id, member_id=me, state=ClaimState.ACTIVE,
                                            claimed_at=ctx.now, expires_at=expires, reminded=False))
    taken = sql.recount_slots(ctx.conn, need.id)
    ctx.event("claim.made", r, member=me, expires=expires.isoformat())
    ctx.announce(f"{ctx.name_of(me)} claimed {r} ({taken} of {need.slots} "
                 f"slots taken): {esc(need.title)}", ref=r, mentions=(me,))
    ctx.updated(r)
    return Reply(f"You claimed {r}. Your claim expires on {when(expires)}: renew it with "
                 f"`{ctx.cmd('renew ' + r)}`, hand in with `{ctx.cmd('submit ' + r + ' <link>')}`, "
                 f"or give it back with `{ctx.cmd('release ' + r)}`.", ref=r)


@handles("renew")
def renew(ctx: CommandCtx) -> Reply:
    """`!renew T12`: restart the claim's clock."""
    p = ctx.parsed
    need = need_row(ctx, p.words[0] if p.words else None, lock=True)
    r = ref(need)
    c = _my_claim(ctx, need)
    if c is None:
        raise ctx.refuse(f"you have no claim on {r} to renew — claim it with {ctx.cmd('claim ' + r)}")
    if c.state == ClaimState.SUBMITTED:
        raise ctx.refuse(f"your work on {r} is submitted and does not expire while it waits "
                         "for review — nothing to renew")
    if c.expires_at is None:
        raise ctx.refuse(f"your claim on {r} does not expire — it is yours until you release it")
    _refuse_expired(ctx, r, c)
    expires = ctx.now + timedelta(days=ctx.policies.claim_days)
    ctx.conn.execute(sql.CLAIM_UPDATE, {"_id": c.id, "expires_at": expires, "reminded": False})
    ctx.event("claim.renewed", r, member=ctx.member.id, expires=expires.isoformat())
    ctx.updated(r)
    return Reply(f"Your claim on {r} now expires on {when(expires)}.", ref=r)


def _refuse_expired(ctx: Ctx, r: str, c) -> None:  # type: ignore[no-untyped-def]
    """An active claim past its expiry is expired, whether or not the expiry has fired yet."""
    if c.state == ClaimState.ACTIVE and c.expires_at is not None and c.expires_at <= ctx.now:
        raise ctx.refuse(f"your claim on {r} expired on {when(c.expires_at)} — claim it again "
                         f"with {ctx.cmd('claim ' + r)} once the slot is free")


@handles("release")
def release(ctx: CommandCtx) -> Reply:
    """`!release T12`: give the slot back."""
    p = ctx.parsed
    need = need_row(ctx, p.words[0] if p.words else None, lock=True)
    r = ref(need)
    c = _my_claim(ctx, need)
    if c is None:
        raise ctx.refuse(f"you have no claim on {r} to release — see {ctx.cmd('mine')}")
    ctx.conn.execute(sql.CLAIM_UPDATE, {"_id": c.id, "state": ClaimState.RELEASED, "closed_at": ctx.now})
    sql.recount_slots(ctx.conn, need.id)
    ctx.event("claim.released", r, member=ctx.member.id)
    ctx.announce(f"{ctx.name_of(ctx.member.id)} released {r}; a slot is free: {esc(need.title)} — "
                 f"claim it with `{ctx.cmd('claim ' + r)}`", ref=r)
    ctx.updated(r)
    return Reply(f"You released {r}. Thanks for saying so.", ref=r)


@handles("submit")
def submit(ctx: CommandCtx) -> Reply:
    """`!submit T12 <link or note>`: hand in the work for review."""
    p = ctx.parsed
    need = need_row(ctx, p.words[0] if p.words else None, lock=True)
    r = ref(need)
    note = " ".join(p.words[1:]).strip()
    c = _my_claim(ctx, need)
    if c is None:
        raise ctx.refuse(f"you have no claim on {r} — claim it first with {ctx.cmd('claim ' + r)}")
    if not note:
        raise ctx.refuse("say where the work is: a link or a short note")
    spam.check_submission(ctx, note)
    if c.state == ClaimState.SUBMITTED:
        raise ctx.refuse(f"your work on {r} is already submitted and waits for review")
    _refuse_expired(ctx, r, c)
    submission = clip(note, 1000)
    ctx.conn.execute(sql.CLAIM_UPDATE, {"_id": c.id, "state": ClaimState.SUBMITTED, "submitted_at": ctx.now,
                                        "submission": submission})
    ctx.event("claim.submitted", r, member=ctx.member.id, submission=submission)
    who = ctx.name_of(ctx.member.id)
    ctx.announce(
        f"{who} submitted {r} ({esc(need.title)}): {esc(submission)} — maintainers: "
        f"`{ctx.cmd('approve ' + r)}`, `{ctx.cmd('changes ' + r + ' <note>')}` or "
        f"`{ctx.cmd('refuse ' + r + ' <reason>')}`", ref=r,
        choices=tuple(ch for ch in need_choices(ctx, need) if ch.role == Role.MAINTAINER))
    ctx.updated(r)
    return Reply(f"Your work on {r} is submitted; the maintainers are told.", ref=r)


@handles("cancel")
def cancel(ctx: CommandCtx) -> Reply:
    """`!cancel T12 <reason>`: the offerer or a maintainer cancels the need."""
    p = ctx.parsed
    need = need_row(ctx, p.words[0] if p.words else None, lock=True)
    r = ref(need)
    if need.offered_by != ctx.member.id and Role.MAINTAINER not in ctx.roles:
        raise ctx.refuse(f"only the offerer of {r} or a maintainer can cancel it")
    if need.state not in (NeedState.OPEN, NeedState.PROPOSED):
        raise ctx.refuse(f"{r} is already {need.state}")
    reason = " ".join(p.words[1:]).strip()
    if not reason:
        raise ctx.refuse("a reason is required to cancel a need")
    close_reason = clip(reason, 1000)
    ctx.conn.execute(sql.NEED_UPDATE, {"_id": need.id, "state": NeedState.CANCELLED, "closed_at": ctx.now,
                                       "close_reason": close_reason})
    released = []
    for c in claim_rows(ctx, need.id, PENDING):
        ctx.conn.execute(sql.CLAIM_UPDATE, {"_id": c.id, "state": ClaimState.RELEASED, "closed_at": ctx.now})
        released.append(c.member_id)
        ctx.notice(c.member_id, f"{r} ({esc(need.title)}) was cancelled by "
                                f"{ctx.name_of(ctx.member.id)}: {esc(close_reason)}. "
                                "Your claim on it is released.", ref=r)
    sql.recount_slots(ctx.conn, need.id)
    ctx.event("need.cancelled", r, reason=close_reason, released=released)
    ctx.announce(f"{r} ({esc(need.title)}) is cancelled by {ctx.name_of(ctx.member.id)}: "
                 f"{esc(close_reason)}", ref=r)
    ctx.updated(r)
    return Reply(f"{r} is cancelled.", ref=r)


@handles("mine")
def mine(ctx: CommandCtx) -> Reply:
    """`!mine`: your claims, submissions, offers and votes still to cast."""
    me = ctx.member.id
    lines: list[str] = []
    rows = ctx.conn.execute(sql.MY_PENDING_CLAIMS, {"m": me}).all()
    if rows:
        lines.append("Your claims:")
        for c in rows:
            if c.state == ClaimState.SUBMITTED:
                state = "submitted, waiting for review"
            elif c.expires_at is None:
                state = "yours until you release it"
            else:
                state = f"expires {when(c.expires_at)} ({left(c.expires_at, ctx.now)})"
            lines.append(f"- **{ref(c)}** {esc(c.title)} — {state}")
    offers = ctx.conn.execute(sql.MY_OPEN_OFFERS, {"c": ctx.cid, "m": me}).all()
    if offers:
        lines.append("Your open offers:")
        lines.extend("- " + need_line(n) for n in offers)
    todo = ctx.conn.execute(sql.PROPOSALS_TO_VOTE, {"c": ctx.cid, "m": me}).all()
    if todo:
        lines.append("Proposals waiting for your vote:")
        lines.extend(f"- **P{pr.number}** {esc(pr.text)} ({left(pr.closes_at, ctx.now)}) — "
                     f"`{ctx.cmd(f'vote P{pr.number} agree')}`" for pr in todo)
    earned = ctx.conn.execute(select(Contribution.currency, func.sum(Contribution.reward_minor),
                                     func.count()).where(Contribution.member_id == me)
                              .group_by(Contribution.currency)).all()
    if earned:
        parts = [money(total, cur) if cur else f"{n} without reward" for cur, total, n in earned]
        lines.append("Your ledger: " + ", ".join(parts))
    if not lines:
        return Reply(f"Nothing on your plate — see `{ctx.cmd('needs')}` for open needs.")
    return Reply("\n".join(lines))


@handles("watch")
def watch(ctx: CommandCtx) -> Reply:
    """`!watch #skill…`."""
    p = ctx.parsed
    if not p.skills:
        raise ctx.refuse("name the skills to watch, like #python")
    have = set(ctx.session.scalars(select(Watch.skill).where(Watch.member_id == ctx.member.id)))
    if len(have | set(p.skills)) > 50:
        raise ctx.refuse("you can watch 50 skills at most — unwatch some first")
    for s in p.skills:
        if s not in have:
            ctx.session.add(Watch(member_id=ctx.member.id, skill=s))
    ctx.event("watch.added", f"@{ctx.member.id}", skills=list(p.skills))
    return Reply("You will be told of new needs with " + esc(" ".join("#" + s for s in p.skills)))


@handles("unwatch")
def unwatch(ctx: CommandCtx) -> Reply:
    """`!unwatch #skill…`."""
    p = ctx.parsed
    if not p.skills:
        raise ctx.refuse("name the skills to stop watching, like #python")
    rows = ctx.session.scalars(select(Watch).where(Watch.member_id == ctx.member.id,
                                                   Watch.skill.in_(p.skills))).all()
    if not rows:
        raise ctx.refuse(f"you do not watch {esc(' '.join('#' + s for s in p.skills))} — see "
                         f"{ctx.cmd('watching')}")
    for w in rows:
        ctx.session.delete(w)
    ctx.event("watch.removed", f"@{ctx.member.id}", skills=[w.skill for w in rows])
    return Reply("You no longer watch " + esc(" ".join("#" + w.skill for w in rows)))


@handles("watching")
def watching(ctx: CommandCtx) -> Reply:
    """`!watching`."""
    skills = ctx.session.scalars(select(Watch.skill).where(Watch.member_id == ctx.member.id)
                                 .order_by(Watch.skill)).all()
    if not skills:
        return Reply(f"You watch no skills — try `{ctx.cmd('watch #python')}`")
    return Reply("You watch " + esc(" ".join("#" + s for s in skills)))
