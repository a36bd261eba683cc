"""One plain-words phrase per event kind: the only place the log is put into words.

`!log`, a need's history (`!task`), the exports and the public board all call `phrase`,
so an event reads the same everywhere ("alice approved bob's work on T1 — 50 EUR").
Names and user text go through the caller's `name` and `text` functions: the chat escapes
them for Markdown, exports and the board (which escapes on its own) take them as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from string import Formatter
from typing import Any

from bot.chat.render import money, when
from bot.domain.ref import Ref
from bot.domain.rules import Money
from bot.domain.vocabulary import POSITIONS

# Bot bookkeeping that is not a change of the commons: kept in the record (and the
# exports), left out of `!log` and the histories people read.
BOOKKEEPING = frozenset({"digest.posted"})
# A member's own subscriptions are theirs: recorded, never shown in the public log.
PRIVATE = frozenset({"watch.added", "watch.removed"})
HIDDEN = BOOKKEEPING | PRIVATE

Name = Callable[[int | None], str]
Text = Callable[[str], str]


def _plain(s: str) -> str:
    return s


def _when(iso: str | None) -> str:
    return when(datetime.fromisoformat(iso)) if iso else ""


# Where events logged before amounts were recorded in minor units kept them as text.
_LEGACY = {"amount": ("amount_minor", "reward"), "budget": ("budget_minor", "budget"),
           "ask": ("ask_minor", "ask"), "unallocated": ("unallocated_minor", "unallocated")}


def amount_of(details: Mapping[str, Any], key: str = "amount") -> str:
    """`50 EUR` from `<key>_minor` and `currency`, or the older string form; '' if none."""
    minor_key, legacy = _LEGACY[key]
    minor = details.get(minor_key)
    currency = details.get("currency")
    if minor is not None and currency:
        return money(int(minor), currency)
    value = details.get(legacy)
    return value if isinstance(value, str) else ""


def _counts(counts: Mapping[str, int] | None) -> str:
    if not counts:
        return "no votes"
    parts = [f"{counts[k]} {k}" for k in POSITIONS if counts.get(k)]
    return ", ".join(parts) or "no votes"


def phrase(kind: str, obj: str, details: Mapping[str, Any] | None, actor_id: int | None,
           name: Name, text: Text = _plain) -> str:
    """The plain-words phrase of one event.

    Args:
        kind: the event kind (`claim.approved`).
        obj: the object it is about (`T1`, `P3`, `F1`, `B4`).
        details: what the event recorded.
        actor_id: the member who acted, or None for the bot's own deadline actions.
        name: a member's display name from their id (None → "the bot").
        text: how user text (titles, notes, reasons) is shown.

    Returns:
        One sentence, with " (late: was due …)" when the bot applied a deadline late.
    """
    d = details or {}
    actor = name(actor_id) if actor_id is not None else "the bot"
    m = d.get("member")
    member = actor if m is None or m == actor_id else name(m)
    said = _PHRASES.get(kind)
    line = said(obj, d, actor, member, name, text) if said else f"{actor}: {kind} on {obj}"
    if "late" in d and d["late"] and d.get("was_due"):
        line += f" (late: was due {_when(d['was_due'])})"
    return line


def _offered(o: str, d: Mapping[str, Any], actor: str, member: str, name: Name, text: Text) -> str:
    reward = amount_of(d)
    tail = f" — {reward}" if reward else ""
    if d.get("pitch"):
        return (f"{d.get('call')}'s funded pitch {d['pitch']} became need {o}: "
                f"{text(str(d.get('title', '')))}{tail}, offered by "
                f"{name(d.get('offered_by')) if d.get('offered_by') is not None else actor}")
    payer = f", paid by {d['paid_by']}" if d.get("paid_by") else ""
    return f"{actor} offered {o}: {text(str(d.get('title', '')))}{tail}{payer}"


def _claimed(o: str, d: Mapping[str, Any], actor: str, member: str, name: Name, text: Text) -> str:
    if d.get("pitch"):
        return f"{member} holds the claim on {o} as the pitcher of {d['pitch']}"
    return f"{member} claimed {o}"


def _approved(o: str, d: Mapping[str, Any], actor: str, member: str, name: Name, text: Text) -> str:
    reward = amount_of(d)
    line = f"{actor} approved {member}'s work on {o}" + (f" — {reward}" if reward else "")
    return line + (f": {text(str(d['note']))}" if d.get("note") else "")


def _backed(o: str, d: Mapping[str, Any], actor: str, member: str, name: Name, text: Text) -> str:
    if not d.get("points"):
        return f"{member} withdrew their points from {o}"
    return f"{member} backed {o} with {d['points']} points"


def _voted(o: str, d: Mapping[str, Any], actor: str, member: str, name: Name, text: Text) -> str:
    if d.get("sealed") == "secret":
        return f"{member} voted on {o} (secret ballot)"
    if d.get("sealed"):
        return f"{member} voted on {o} (hidden until it closes)"
    reason = f": {text(str(d['reason']))}" if d.get("reason") else ""
    return f"{member} voted {d.get('position')} on {o}{reason}"


def _opened(o: str, d: Mapping[str, Any], actor: str, member: str, name: Name, text: Text) -> str:
    kind = d.get("decision") or "consent"
    parts = [] if kind == "consent" else [f"{kind} decision"]
    parts += ["secret ballot"] if d.get("anonymous") else ["hidden vote"] if d.get("hidden") else []
    what = f" ({', '.join(parts)})" if parts else ""
    return f"{actor} proposed {o}{what}: {text(str(d.get('text', '')))}"


def _revealed(d: Mapping[str, Any], name: Name, text: Text) -> str:
    """A sealed proposal's votes as its closing event published them."""
    if d.get("votes"):
        return "; votes: " + ", ".join(f"{name(v.get('member'))} {v.get('position')}"
                                       for v in d["votes"])
    return ""


def _proposal_closed(o: str, d: Mapping[str, Any], actor: str, member: str, name: Name,
                     text: Text) -> str:
    by = f", closed early by {actor}" if d.get("early") else ""
    quorum = f"; quorum {d['quorum']}" if d.get("quorum") else ""
    kind = d.get("decision")
    kind = f" as a {kind} decision" if kind and kind != "consent" else ""
    return (f"{o} closed: {d.get('outcome')}{kind} ({_counts(d.get('counts'))}{quorum}){by}"
            + _revealed(d, name, text))


def _held(what: str) -> Callable[..., str]:
    def said(o: str, d: Mapping[str, Any], actor: str, member: str, name: Name, text: Text) -> str:
        amount = amount_of(d, "budget" if what == "funding call" else "amount")
        tail = f" — {amount}" if amount else ""
        return (f"{actor} proposed {what} {o}: {text(str(d.get('title', '')))}{tail}, held until "
                f"{d.get('held_by')} passes")
    return said


def _call_closed(o: str, d: Mapping[str, Any], actor: str, member: str, name: Name, text: Text) -> str:
    alloc = d.get("allocation") or {}
    funded = sorted((k for k, v in alloc.items() if v), key=lambda k: Ref.of(k).number)
    currency = d.get("currency")
    if currency:
        shares = ", ".join(f"{k} {Money(int(alloc[k]), currency)}" for k in funded)
    else:
        shares = ", ".join(funded)
    by = f" early by {actor}" if d.get("early") else ""
    what = f"funded {shares}" if funded else "no pitch funded"
    return f"{o} closed{by}: {what}; unallocated {amount_of(d, 'unallocated')}"


def _cancelled(o: str, d: Mapping[str, Any], actor: str, member: str, name: Name, text: Text) -> str:
    released = d.get("released") or []
    tail = (f"; the claims of {', '.join(name(m) for m in released)} are released"
            if released else "")
    return f"{actor} cancelled {o}: {text(str(d.get('reason', '')))}{tail}"


class _Fields(dict):  # type: ignore[type-arg]
    """Fields of a phrase; one an older event lacks reads as empty."""

    def __missing__(self, key: str) -> str:
        return ""


_COMPUTED: dict[str, Callable[[Mapping[str, Any], Text], str]] = {
    "expires": lambda d, text: _when(d.get("expires")),
    "due_on": lambda d, text: _when(d.get("due")),
    "skills": lambda d, text: " ".join("#" + text(x) for x in d.get("skills", [])),
}


def _sub(s: str) -> Callable[..., str]:
    """A phrase that only fills names and fields into `s` (the fields it names are found once:
    an export phrases a million events)."""
    keys = [f for _, f, _, _ in Formatter().parse(s) if f and f not in ("o", "actor", "member")]

    def said(o: str, d: Mapping[str, Any], actor: str, member: str, name: Name, text: Text) -> str:
        fields = _Fields(o=o, actor=actor, member=member)
        for k in keys:
            if k in _COMPUTED:
                fields[k] = _COMPUTED[k](d, text)
            elif (v := d.get(k)) is not None:
                fields[k] = text(str(v))
        return s.format_map(fields)
    return said


def _minor(d: Mapping[str, Any], key: str) -> str:
    """`1200 EUR` from `<key>_minor` and the event's currency."""
    value, currency = d.get(f"{key}_minor"), d.get("currency")
    return str(Money(int(value), currency)) if value is not None and currency else ""


def _received(o: str, d: Mapping[str, Any], actor: str, member: str, name: Name, text: Text) -> str:
    giver = d.get("venture") or member
    note = f" ({text(str(d['note']))})" if d.get("note") else ""
    return (f"{actor} recorded receipt {o}: {amount_of(d)} from {giver}{note} — "
            f"{_minor(d, 'operations')} to operations, {_minor(d, 'commons')} to the commons fund")


def _settled(o: str, d: Mapping[str, Any], actor: str, member: str, name: Name, text: Text) -> str:
    returned = Money(int(d["amount_minor"]) - int(d["allocated_minor"]), d["currency"]) \
        if d.get("currency") and d.get("amount_minor") is not None else ""
    return (f"{o} took {_minor(d, 'allocated')} from the commons fund; {returned} of its "
            f"reservation is available again")


# The generative loop (docs/behaviour.md, The books): ventures and the foundation's books.
_BOOKS: dict[str, Callable[..., str]] = {
    "venture.registered": _sub("{actor} registered venture {o}: {name}, pledging {pledge}"),
    "venture.joined": _sub("{actor} added {member} to venture {o}"),
    "venture.member_left": _sub("{member} left venture {o}"),
    "venture.left": _sub("venture {o} has left: its last member left"),
    "revenue.declared": lambda o, d, actor, m, n, t: (
        f"{actor} declared {amount_of(d)} of revenue of {o} for {d.get('period')}; "
        f"{_minor(d, 'due')} due by its pledge"),
    "receipt.recorded": _received,
    "receipt.reversed": _sub("{actor} reversed receipt {o} ({amount}): {reason}"),
    "spend.recorded": lambda o, d, actor, m, n, t: (
        f"{actor} recorded spend {o}: {amount_of(d)} from the operations fund for "
        f"{t(str(d.get('purpose', '')))}"),
    "spend.reversed": _sub("{actor} reversed spend {o} ({amount}): {reason}"),
    "pool.reserved": lambda o, d, actor, m, n, t: (
        f"{o} reserved {amount_of(d)} of the commons fund until it closes"),
    "pool.settled": _settled,
    "payable.paid": lambda o, d, actor, m, n, t: (
        f"{actor} recorded that {d.get('payer')} paid {m} {amount_of(d)} for {o}"),
}


_PHRASES: dict[str, Callable[..., str]] = {
    "need.offered": _offered,
    "need.done": _sub("{o} is done: every slot is approved"),
    "need.cancelled": _cancelled,
    "need.due_soon": _sub("{o} is due on {due_on}; its offerer and claimants were reminded"),
    "claim.made": _claimed,
    "claim.renewed": _sub("{member} renewed their claim on {o} until {expires}"),
    "claim.released": lambda o, d, actor, m, n, t: (
        f"{m}'s claim on {o} was released after {d['idle_days']} days without activity; the slot "
        "is free" if d.get("idle_days") else f"{m} released {o}; the slot is free"),
    "claim.idle_reminded": _sub("{member} was reminded that their claim on {o} has been quiet for "
                                "{days} days"),
    "claim.pinned": _sub("{actor} pinned {member}'s claim on {o}: it does not expire"),
    "claim.unpinned": _sub("{actor} unpinned {member}'s claim on {o}"),
    "claim.expired": _sub("{member}'s claim on {o} expired; the slot is free"),
    "claim.reminded": _sub("{member} was reminded that their claim on {o} expires on {expires}"),
    "claim.submitted": _sub("{member} submitted work on {o}: {submission}"),
    "claim.approved": _approved,
    "claim.changes_requested": _sub("{actor} asked {member} for changes on {o}: {note}"),
    "claim.refused": _sub("{actor} refused {member}'s work on {o}: {reason}; the slot is free"),
    "proposal.opened": _opened,
    "proposal.advised": lambda o, d, actor, m, n, t: (
        f"{o}'s advice period ended ({_counts(d.get('counts'))}){_revealed(d, n, t)}; its decision "
        "makers decide"),
    "proposal.decided": lambda o, d, actor, m, n, t: (
        f"{actor} decided {o}: {d.get('outcome')} — {t(str(d.get('statement', '')))}"),
    "proposal.outcome": lambda o, d, actor, m, n, t: (
        f"{actor} stated the outcome of {o}: {t(str(d.get('statement', '')))}"
        + (f" (review on {_when(d.get('review'))})" if d.get("review") else "")),
    "proposal.review_due": _sub("the community was reminded to review the outcome of {o}"),
    "need.proposed": _held("need"),
    "call.proposed": _held("funding call"),
    "call.cancelled": _cancelled,
    "claim.approval": lambda o, d, actor, m, n, t: (
        f"{actor} approved {m}'s work on {o} ({d.get('given')} of {d.get('needed')} approvals)"),
    "proposal.nudged": _sub("the members who had not voted on {o} were reminded it closes soon"),
    "proposal.closed": _proposal_closed,
    "vote.cast": _voted,
    "call.opened": lambda o, d, actor, m, n, t: (
        f"{actor} opened funding call {o}: {t(str(d.get('title', '')))} — budget "
        f"{amount_of(d, 'budget')}"),
    "call.closed": _call_closed,
    "pitch.added": lambda o, d, actor, m, n, t: (
        f"{actor} pitched {o} to {d.get('call')}: {t(str(d.get('title', '')))} — asks "
        f"{amount_of(d, 'ask')}"),
    "pitch.backed": _backed,
    "member.linked": _sub("{actor} linked their {platform} identity"),
    "member.unlinked": _sub("{actor} unlinked their {platform} identity"),
    "watch.added": _sub("{actor} watches {skills}"),
    "watch.removed": _sub("{actor} stopped watching {skills}"),
    "digest.posted": _sub("the bot posted the digest of open needs, proposals and calls"),
    **_BOOKS,
}


class Names(dict):  # type: ignore[type-arg]
    """Display names by member id; an unknown id reads `member 12`."""

    def __missing__(self, member: int) -> str:
        return f"member {member}"


def event_phrase(row: Any, names: Mapping[int, str]) -> str:
    """The phrase of an event row (anything with `kind`, `object`, `details`, `actor_id`),
    with display names from `names` — the call the board and exports make for each row."""
    lookup = names if isinstance(names, Names) else Names(names)
    return phrase(row.kind, row.object, row.details, row.actor_id, lookup.__getitem__)
