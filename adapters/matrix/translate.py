"""Pure translation between Matrix events and the core's neutral types.

Nothing here does I/O or imports nio: every function takes the event's JSON (nio's
``event.source``; for a decrypted event, the decrypted payload with ``event_id`` and
``sender`` filled in) or an `Outbound`, and returns plain values. The adapter does the
lookups in between (which card a reaction is on, which proposal a poll shows), so the
tests feed recorded payloads from ``tests/matrix/data/`` straight in.

Event formats:

- Replies are ``m.notice`` (bots answer with notices so that other bots ignore them and
  push rules never notify for them) with a plain ``body``, an HTML ``formatted_body``
  rendered by markdown-it with raw HTML, entities, links and images off, a
  ``m.relates_to.m.in_reply_to`` and ``m.mentions`` limited to the people the message is
  about. An event with ``m.mentions`` is never matched by the legacy body rules, so an
  ``@room`` in user text notifies nobody.
- Polls follow MSC3381. Clients render the unstable ``org.matrix.msc3381.poll.start``
  event type today; the content carries both the unstable block and the stable ``m.poll``
  block, and every text fallback (``body``, ``org.matrix.msc1767.text``, ``m.text``), so
  a client reading either form, or none, shows the proposal.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.matrix.markup import to_html
from bot.chat.render import TRUNCATED, unescape
from bot.domain.ref import RefKind, is_ref
from bot.domain.rules import Tally
from bot.domain.vocabulary import POSITIONS, CardMessage, Position
from bot.ports import Choice, CommunityId, InboundMessage, Outbound, Platform

PLATFORM = Platform("matrix")

# The spec caps a whole event (envelope, signatures and hashes included) at 65,536
# bytes; the content gets what is left after a generous allowance for the envelope.
MAX_CONTENT_BYTES = 60_000

POLL_START_TYPES = ("org.matrix.msc3381.poll.start", "m.poll.start")
POLL_RESPONSE_TYPES = ("org.matrix.msc3381.poll.response", "m.poll.response")
POLL_END_TYPES = ("org.matrix.msc3381.poll.end", "m.poll.end")
UNSTABLE_TEXT = "org.matrix.msc1767.text"

# Poll answer ids are the vote positions themselves, so a response maps to a vote with no
# state kept anywhere.
POSITION_LABELS = {p: p.capitalize() for p in POSITIONS}

# Emoji presentation selector and skin tones: ✋️ and ✋🏽 are the same reaction as ✋.
_EMOJI_VARIANTS = re.compile("[\ufe0f\ufe0e\U0001f3fb-\U0001f3ff]")
# Clients without rich replies quote the parent as "> <@user> text" lines then a blank one.
_REPLY_FALLBACK = re.compile(r"\A(?:> .*\n)+\n", re.MULTILINE)


# --- what an event is --------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A text message that starts with the command prefix."""

    event_id: str
    sender: str
    text: str


@dataclass(frozen=True)
class Reaction:
    """An ``m.reaction`` (annotation) on a message."""

    event_id: str
    sender: str
    target: str
    key: str


@dataclass(frozen=True)
class PollResponse:
    """An answer to a poll, in either form."""

    event_id: str
    sender: str
    poll_id: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class TextReply:
    """A text message (not a command) that replies to another message."""

    event_id: str
    sender: str
    text: str
    in_reply_to: str


Incoming = Command | Reaction | PollResponse | TextReply


def classify(source: Mapping[str, Any], own_user_id: str, prefix: str) -> Incoming | None:
    """Say what a room event means to the bot, or None when it means nothing.

    Ignored: the bot's own events, notices (other bots), edits (an edited command must not
    run twice), state events, and anything malformed.

    Args:
        source: the event JSON.
        own_user_id: the bot's Matrix id.
        prefix: the command prefix (``!``).
    """
    sender = source.get("sender")
    event_id = source.get("event_id")
    content = source.get("content")
    etype = source.get("type")
    if (not isinstance(sender, str) or not isinstance(event_id, str) or sender == own_user_id
            or not isinstance(content, dict) or "state_key" in source):
        return None
    relates = content.get("m.relates_to") if isinstance(content.get("m.relates_to"), dict) else {}
    if etype == "m.room.message":
        body = content.get("body")
        if content.get("msgtype") != "m.text" or not isinstance(body, str):
            return None
        if relates.get("rel_type") == "m.replace":
            return None
        body = _REPLY_FALLBACK.sub("", body, count=1)
        if body.lstrip().startswith(prefix):
            return Command(event_id, sender, body.strip())
        parent = (relates.get("m.in_reply_to") or {}).get("event_id") \
            if isinstance(relates.get("m.in_reply_to"), dict) else None
        if isinstance(parent, str) and body.strip():
            return TextReply(event_id, sender, body.strip(), parent)
        return None
    if etype == "m.reaction":
        target, key = relates.get("event_id"), relates.get("key")
        if relates.get("rel_type") == "m.annotation" and isinstance(target, str) and isinstance(key, str):
            return Reaction(event_id, sender, target, key)
        return None
    if etype in POLL_RESPONSE_TYPES:
        poll_id = relates.get("event_id")
        if relates.get("rel_type") != "m.reference" or not isinstance(poll_id, str):
            return None
        block = content.get("org.matrix.msc3381.poll.response")
        answers = block.get("answers") if isinstance(block, dict) else content.get("m.selections")
        if not isinstance(answers, list):
            return None
        return PollResponse(event_id, sender, poll_id, tuple(a for a in answers if isinstance(a, str)))
    return None


def after_own_join(timeline: Sequence[Mapping[str, Any]], own_user_id: str) -> int | None:
    """Index of the first timeline event after the bot's own join, or None if it has none.

    A room the bot just joined arrives with some of its history; only what follows the
    join is meant for the bot. A display-name change is a member event too, but not a join.
    """
    found = None
    for i, ev in enumerate(timeline):
        if (ev.get("type") == "m.room.member" and ev.get("state_key") == own_user_id
                and (ev.get("content") or {}).get("membership") == "join"):
            prev = ((ev.get("unsigned") or {}).get("prev_content") or {}).get("membership")
            if prev != "join":
                found = i + 1
    return found


def is_direct_invite(invite_state: Iterable[Mapping[str, Any]], own_user_id: str) -> tuple[bool, str | None]:
    """Whether an invite is for a direct chat, and who sent it (from the stripped state)."""
    for ev in invite_state:
        if ev.get("type") == "m.room.member" and ev.get("state_key") == own_user_id:
            content = ev.get("content") or {}
            return bool(content.get("is_direct")), ev.get("sender")
    return False, None


# --- from Matrix to the core ---------------------------------------------------------


# Room versions before 12 give creators no special power; from 12 on (MSC4289) the creators
# hold a power level above any number and are no longer listed in m.room.power_levels.
_LEGACY_ROOM_VERSIONS = frozenset(str(v) for v in range(1, 12))
CREATOR_POWER = 2**53 - 1


def room_creators(create_event: Mapping[str, Any]) -> frozenset[str]:
    """The creators named by an ``m.room.create`` event: its sender and any additional ones."""
    content = create_event.get("content") or {}
    extra = content.get("additional_creators") or []
    sender = create_event.get("sender")
    named = {x for x in extra if isinstance(x, str)}
    return frozenset(named | ({sender} if isinstance(sender, str) else set()))


def power_of(user_id: str, listed_level: int, room_version: str, creators: frozenset[str]) -> int:
    """A user's effective power level, counting room creators in room version 12 and later."""
    if room_version not in _LEGACY_ROOM_VERSIONS and user_id in creators:
        return CREATOR_POWER
    return listed_level


def roles_from_power(level: int, thresholds: Mapping[str, int]) -> frozenset[str]:
    """Roles a power level grants, given thresholds like ``{"maintainer": 50}``."""
    return frozenset(role for role, need in thresholds.items() if level >= need)


def inbound(text: str, event_id: str, sender: str, *, community: str, room_id: str,
            sender_name: str, roles: frozenset[str] = frozenset(),
            direct: bool = False, private: bool = False) -> InboundMessage:
    """The neutral message for a command; the event id makes it exactly-once in the core.

    `private` when the room is a direct chat that only the sender and the bot are in.
    """
    return InboundMessage(community=CommunityId(community), platform=PLATFORM, space=room_id,
                          sender=sender, sender_name=sender_name or sender, text=text,
                          message_id=event_id, roles=roles, direct=direct, private=private)


def normalise_reaction(key: str) -> str:
    """A reaction key without emoji variation selectors and skin tones."""
    return _EMOJI_VARIANTS.sub("", key).strip()


def reaction_command(key: str, ref: str, claim_reaction: str, prefix: str) -> str | None:
    """The command a reaction on a card stands for: the claim reaction on a need claims it."""
    if is_ref(ref, RefKind.NEED) and normalise_reaction(key) == normalise_reaction(claim_reaction):
        return f"{prefix}claim {ref}"
    return None


@dataclass(frozen=True)
class PollVote:
    """What a poll response asks for: a vote to record now, or a reason to ask for first."""

    command: str | None
    ask: str | None = None


def poll_vote(ref: str, answers: Sequence[str], prefix: str) -> PollVote | None:
    """Map a poll response on proposal `ref` to a vote.

    ``agree`` and ``abstain`` vote at once. ``disagree`` and ``block`` need a reason
    (docs/behaviour.md, Proposals and votes), which a poll cannot carry: the bot asks for
    it. An empty or unknown selection (MSC3381's "unvote") is None: consent votes are replaced, not withdrawn.
    """
    if len(answers) != 1 or answers[0] not in POSITIONS:
        return None
    position = answers[0]
    if position in (Position.AGREE, Position.ABSTAIN):
        return PollVote(f"{prefix}vote {ref} {position}")
    verb = "disagree with" if position == Position.DISAGREE else "block"
    return PollVote(None, f"Why do you {verb} {ref}? Reply to this message with your reason, or "
                          f"write `{prefix}vote {ref} {position} <your reason>` — your vote counts "
                          f"once the reason is given.")


# --- from the core to Matrix ---------------------------------------------------------


def choices_hint(choices: Sequence[Choice], claim_reaction: str) -> str | None:
    """The line a card shows for its Matrix-native actions."""
    if any(c.key == "claim" for c in choices):
        return f"React with {claim_reaction} to claim it."
    return None


def content_size(content: Mapping[str, Any]) -> int:
    """Bytes the content takes in the event (UTF-8 JSON, as homeservers measure it)."""
    return len(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode())


def notice_content(markdown: str, *, reply_to: str | None = None,
                   mentions: Sequence[str] = (), limit: int = MAX_CONTENT_BYTES) -> dict[str, Any]:
    """An ``m.notice`` with plain and HTML bodies, cut to fit in one event.

    Args:
        markdown: the core's text (user text escaped).
        reply_to: the event it answers, as a rich reply (no fallback quote: Matrix 1.13
            dropped those).
        mentions: user ids the message is about; nobody else is notified, ``@room`` never.
        limit: the byte budget of the content.
    """
    def build(text: str) -> dict[str, Any]:
        content: dict[str, Any] = {
            "msgtype": "m.notice",
            "body": unescape(text),
            "format": "org.matrix.custom.html",
            "formatted_body": to_html(text),
            "m.mentions": {"user_ids": sorted(set(mentions))} if mentions else {},
        }
        if reply_to:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        return content

    return _fit(markdown, build, limit)


PRIVATE_POINTER = "I sent you a direct message."
"""What a room sees of a private reply (a link code, `!whoami`, a refusal): nothing of it."""
PRIVATE_UNDELIVERED = ("✗ that answer is private and I could not open a direct chat with you — "
                       "invite me to one and send the command there")
"""What a room sees of a private reply that could not reach the member's direct chat."""
PRIVATE_REPLY_KEY = "org.commonsbot.in_reply_to"
"""Content key of a private reply naming the command it answers (a reply cannot cross rooms)."""


def private_reply_content(markdown: str, *, room_id: str, reply_to: str,
                          mentions: Sequence[str] = ()) -> dict[str, Any]:
    """A private reply for the direct chat, naming the room and event of the command."""
    content = notice_content(markdown, mentions=mentions, limit=MAX_CONTENT_BYTES - 512)
    content[PRIVATE_REPLY_KEY] = {"room_id": room_id, "event_id": reply_to}
    return content


def _fit(markdown: str, build: Any, limit: int) -> dict[str, Any]:
    """Build content from `markdown`, cutting the text (with a visible marker) until it fits.

    HTML escaping can multiply a text's size (``<`` is four bytes as ``&lt;``), so the cut
    is found by measuring the built content, not by counting characters.
    """
    content = build(markdown)
    if content_size(content) <= limit:
        return content
    lo, hi = 0, len(markdown)
    best = build(TRUNCATED)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        candidate = build(_cut(markdown, mid))
        if content_size(candidate) <= limit:
            lo, best = mid, candidate
        else:
            hi = mid - 1
    return best


def _cut(markdown: str, n: int) -> str:
    text = markdown[:n]
    # Never leave a dangling backslash: it would escape the marker.
    if (len(text) - len(text.rstrip("\\"))) % 2:
        text = text[:-1]
    return text + TRUNCATED


def poll_start_content(ref: str, question: str, fallback_markdown: str) -> dict[str, Any]:
    """MSC3381 poll start for proposal `ref`, with the four positions as answers.

    Args:
        ref: ``P3``.
        question: the proposal's text, plain (already unescaped).
        fallback_markdown: what clients without polls show (the announcement).
    """
    q = f"{ref}: {question}"[:500]
    answers = [(pos, POSITION_LABELS[pos]) for pos in POSITIONS]
    numbered = "\n".join(f"{i}. {label}" for i, (_, label) in enumerate(answers, 1))
    fallback = f"{q}\n{numbered}"
    return {
        "msgtype": "m.text",
        "body": fallback,
        UNSTABLE_TEXT: fallback,
        "m.text": [{"mimetype": "text/plain", "body": fallback},
                   {"mimetype": "text/html", "body": to_html(fallback_markdown)}],
        "org.matrix.msc3381.poll.start": {
            "kind": "org.matrix.msc3381.poll.disclosed",
            "max_selections": 1,
            "question": {UNSTABLE_TEXT: q, "body": q, "msgtype": "m.text"},
            "answers": [{"id": aid, UNSTABLE_TEXT: label} for aid, label in answers],
        },
        "m.poll": {
            "kind": "m.disclosed",
            "max_selections": 1,
            "question": {"m.text": [{"body": q}]},
            "answers": [{"m.id": aid, "m.text": [{"body": label}]} for aid, label in answers],
        },
        "m.mentions": {},
    }


def poll_end_content(poll_id: str, text: str, results: Mapping[str, int]) -> dict[str, Any]:
    """MSC3381 poll end with the outcome, in both forms.

    Args:
        poll_id: the poll start event.
        text: the outcome as plain text (the fallback).
        results: votes per answer id.
    """
    return {
        "m.relates_to": {"rel_type": "m.reference", "event_id": poll_id},
        "body": text,
        "msgtype": "m.text",
        UNSTABLE_TEXT: text,
        "org.matrix.msc3381.poll.end": {},
        "m.text": [{"body": text}],
        "m.poll.results": {k: int(v) for k, v in results.items() if k in POSITIONS},
        "m.mentions": {},
    }


def poll_results(tally: Tally | None) -> dict[str, int]:
    """Votes per position from a proposal card's tally (none while the votes are sealed)."""
    if tally is None:
        return {}
    return {pos: getattr(tally, pos) for pos in POSITIONS}


def txn_id(*parts: object) -> str:
    """A transaction id derived from what the event answers.

    The homeserver deduplicates sends per device and transaction id, so the same reply
    sent again after a crash (same command event, same device) is not posted twice.
    """
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:40]
    return f"cb{digest}"


def announcement_parts(o: Outbound) -> tuple[str, str | None]:
    """(kind of card, ref) an announcement makes: a need's card, a proposal's poll, or none."""
    if o.kind != "announce" or not o.ref:
        return "", o.ref
    keys = {c.key for c in o.choices}
    if is_ref(o.ref, RefKind.NEED) and "claim" in keys:
        return CardMessage.CARD, o.ref
    if is_ref(o.ref, RefKind.PROPOSAL) and {Position.AGREE, Position.BLOCK} <= keys:
        return CardMessage.POLL, o.ref
    return "", o.ref
