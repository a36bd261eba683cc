"""Review of submitted work: approve (with the amount or equal share it credits), changes,
refuse."""

from __future__ import annotations

from datetime import timedelta

from bot.chat.render import clip, echo, esc, money, when
from bot.domain.rules import RuleError, parse_money
from bot.domain.vocabulary import HOLDING, PENDING, ClaimState, NeedState
from bot.service import approvals
from bot.service.context import CommandCtx, Reply
from bot.service.handlers import handles
from bot.service.need_records import claim_rows, need_row
from bot.service.need_text import ref
from bot.store import sql


def _review_target(ctx: CommandCtx, need, verb: str, submitted: list) -> tuple:  # type: ignore[no-untyped-def, type-arg]
    """The submitted claim a review names (`@member`) or the only one; the rest is the note."""
    p = ctx.parsed
    words = list(p.words[1:])
    r = ref(need)
    if words and words[0].startswith(("@", "<@")):
        who = ctx.find_member(words[0])
        if who is None:
            raise ctx.refuse(f"{echo(words[0], 40)} is not a member here — name them as they "
                             "appear in the room")
        words = words[1:]
        for c in submitted:
            if c.member_id == who.id:
                return c, words
        raise ctx.refuse(f"{esc(who.display_name)} has no submitted work on {r} to {verb}")
    if not submitted:
        raise ctx.refuse(f"{r} has no submitted work to {verb} — see {ctx.cmd('task ' + r)}")
    if len(submitted) > 1:
        names = ", ".join(ctx.name_of(c.member_id) for c in submitted)
        raise ctx.refuse(f"several claims on {r} are submitted ({names}) — name one, like "
                         f"{ctx.cmd(verb + ' ' + r + ' @name')}")
    return submitted[0], words


def _review_checks(ctx: CommandCtx, c, verb: str) -> None:  # type: ignore[no-untyped-def]
    if c.member_id == ctx.member.id and not ctx.policies.allow_self_approval:
        raise ctx.refuse(f"you cannot {verb} your own work — another maintainer reviews it")


def _review(ctx: CommandCtx, verb: str, text_needed: str) -> tuple:  # type: ignore[type-arg]
    """Load the need, find the submitted claim, check the reviewer; the note is required."""
    p = ctx.parsed
    need = need_row(ctx, p.words[0] if p.words else None, lock=True)
    c, words = _review_target(ctx, need, verb, claim_rows(ctx, need.id, (ClaimState.SUBMITTED,)))
    _review_checks(ctx, c, verb)
    text = " ".join(words).strip()
    if not text:
        raise ctx.refuse(text_needed)
    return need, ref(need), c, text


@handles("approve")
def approve(ctx: CommandCtx) -> Reply:
    """`!approve T12 [@member] [amount:20EUR] [note]`: accept the work; credit the ledger."""
    p = ctx.parsed
    need = need_row(ctx, p.words[0] if p.words else None, lock=True)
    r = ref(need)
    claims = claim_rows(ctx, need.id, HOLDING)
    c, words = _review_target(ctx, need, "approve", [x for x in claims if x.state == ClaimState.SUBMITTED])
    _review_checks(ctx, c, "approve")
    approvals.check_offerer(ctx, need)
    partial = approvals.record(ctx, need, c)
    if partial is not None:
        return partial
    amount, currency = _reward_of_approval(ctx, need, claims)
    note = " ".join(words).strip()
    ctx.conn.execute(sql.CLAIM_UPDATE, {"_id": c.id, "state": ClaimState.APPROVED,
                                        "reviewer_id": ctx.member.id,
                                        "review_note": note or None, "closed_at": ctx.now})
    ctx.conn.execute(sql.CONTRIBUTION_INSERT, dict(
        community=ctx.cid, member_id=c.member_id, need_id=need.id, reward_minor=amount,
        currency=currency if amount is not None else None, approved_by=ctx.member.id, at=ctx.now))
    approved = sum(1 for x in claims if x.state == ClaimState.APPROVED) + 1
    pending = sum(1 for x in claims if x.state in PENDING) - 1
    done = approved >= need.slots and pending == 0
    if done:
        ctx.conn.execute(sql.NEED_UPDATE, {"_id": need.id, "state": NeedState.DONE, "closed_at": ctx.now})
    reward_text = f" — {money(amount, currency)} enters the ledger" if amount is not None else ""
    ctx.event("claim.approved", r, member=c.member_id, amount_minor=amount,
              currency=currency if amount is not None else None, note=note or None)
    if done:
        ctx.event("need.done", r)
    who = ctx.name_of(c.member_id)
    text = f"{r} approved for {who} by {ctx.name_of(ctx.member.id)}{reward_text}."
    if done:
        text += f" {r} is done."
    if note:
        text += f" Review note: {esc(clip(note, 500))}"
    ctx.announce(text, ref=r, mentions=(c.member_id,))
    ctx.updated(r)
    return Reply(f"Approved {who}'s work on {r}{reward_text}.", ref=r)


def _reward_of_approval(ctx: CommandCtx, need, claims: list) -> tuple[int | None, str | None]:  # type: ignore[no-untyped-def, type-arg]
    """The amount an approval credits: `amount:` or the need's equal share, within what is left.

    An equal share is rounded down to the minor unit; the first approval of the need takes
    the remainder, so 100 EUR over 3 slots credits 33.34 + 33.33 + 33.33. Together the
    approvals of a need never credit more than its reward.
    """
    p = ctx.parsed
    r = ref(need)
    if need.reward_minor is None:
        if "amount" in p.options:
            raise ctx.refuse(f"{r} has no reward, so there is no amount to credit — approve "
                             "without amount:")
        return None, None
    currency = need.reward_currency
    credited = int(ctx.conn.execute(sql.CREDITED_TO_NEED, {"need": need.id}).scalar_one())
    rest = max(need.reward_minor - credited, 0)
    if "amount" in p.options:
        try:
            m = parse_money(p.options["amount"])
        except RuleError as exc:
            raise ctx.refuse(esc(str(exc))) from None
        if m.currency != currency:
            raise ctx.refuse(f"{r}'s reward is in {currency}; give the amount in {currency}")
        if m.minor > rest:
            raise ctx.refuse(f"{r}'s reward is {money(need.reward_minor, currency)} and "
                             f"{money(rest, currency)} of it is left — give at most "
                             f"amount:{money(rest, currency).replace(' ', '')}")
        return m.minor, currency
    share, remainder = divmod(need.reward_minor, need.slots)
    first = not any(x.state == ClaimState.APPROVED for x in claims)
    return min(share + (remainder if first else 0), rest), currency


@handles("changes")
def changes(ctx: CommandCtx) -> Reply:
    """`!changes T12 [@member] <note>`: send the work back; the claim is active again."""
    need, r, c, note = _review(ctx, "request changes on", "say what should change")
    review_note = clip(note, 1000)
    values = {"_id": c.id, "state": ClaimState.ACTIVE, "reviewer_id": ctx.member.id,
              "review_note": review_note}
    if need.call_id is None:
        values.update(expires_at=ctx.now + timedelta(days=ctx.policies.claim_days), reminded=False)
    else:
        # A funded pitch's need stays its pitcher's until they release it.
        values.update(expires_at=None)
    ctx.conn.execute(sql.CLAIM_UPDATE, values)
    ctx.event("claim.changes_requested", r, member=c.member_id, note=review_note)
    who = ctx.name_of(c.member_id)
    ctx.announce(f"{ctx.name_of(ctx.member.id)} asks {who} for changes on {r}: "
                 f"{esc(review_note)} — submit again with `{ctx.cmd('submit ' + r + ' <link>')}`",
                 ref=r, mentions=(c.member_id,))
    ctx.updated(r)
    expires_at = values["expires_at"]
    runs = f"runs until {when(expires_at)}" if expires_at else "stays theirs"
    return Reply(f"Sent {r} back to {who} with your note; their claim {runs}.", ref=r)


@handles("refuse")
def refuse(ctx: CommandCtx) -> Reply:
    """`!refuse T12 [@member] <reason>`: refuse the work; the slot frees."""
    need, r, c, reason = _review(ctx, "refuse", "a reason is required to refuse work")
    review_note = clip(reason, 1000)
    ctx.conn.execute(sql.CLAIM_UPDATE, {"_id": c.id, "state": ClaimState.REFUSED,
                                        "reviewer_id": ctx.member.id, "review_note": review_note,
                                        "closed_at": ctx.now})
    sql.recount_slots(ctx.conn, need.id)
    ctx.event("claim.refused", r, member=c.member_id, reason=review_note)
    who = ctx.name_of(c.member_id)
    ctx.announce(f"{ctx.name_of(ctx.member.id)} refused {who}'s work on {r}: {esc(review_note)}. "
                 f"The slot is free again.", ref=r, mentions=(c.member_id,))
    ctx.updated(r)
    return Reply(f"Refused {who}'s work on {r}; the slot is free.", ref=r)
