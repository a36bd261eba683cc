"""What adapters ask the core outside commands: cards, posted cards, identities,
autocomplete suggestions, small adapter state, the deadlines of changed objects and the
figures of the metrics endpoint (`Queries`, a mixin of `Core`; see `bot.ports.CorePort`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, func, select, text

from bot.chat.text import clean_line, is_clean_id
from bot.clock import Clock
from bot.config import Settings
from bot.domain.ref import Ref
from bot.domain.rules import is_digits
from bot.domain.vocabulary import CallState, CardMessage, ProposalState
from bot.ports import Card, CardRef, Due, Figures, ObjectDeadlines, Suggestion
from bot.service import deadlines
from bot.service.cards import build_card
from bot.store import sql
from bot.store.models import (
    FundingCall,
    Pitch,
    PostedCard,
    Proposal,
    Venture,
)
from bot.store.retry import retrying
from bot.store.tx import Tx


class Queries:
    """Read-mostly methods adapters call; `Core` sets the attributes they use."""

    settings: Settings
    clock: Clock
    prefix: str

    unit: Callable[[], Tx]

    @retrying
    def card(self, community: str, ref: str) -> Card | None:
        """The current card of `T1`, `P2` or `F1`, or None."""
        with self.unit() as tx:
            return build_card(tx, self.settings.community(community), self.prefix, ref,
                              self.clock.now())

    @retrying
    def identities(self, member: int, platform: str) -> list[str]:
        """The member's user ids on a platform (to send a notice or a mention)."""
        with self.unit() as tx:
            return list(tx.execute(sql.USER_IDS_OF_MEMBER_ON, {"m": member, "p": platform}).scalars())

    @retrying
    def remember_card(self, platform: str, space: str, message_id: str, community: str, ref: str,
                      kind: CardMessage = CardMessage.CARD) -> None:
        """Record that a platform message shows `ref` (for edits in place and reactions)."""
        with self.unit() as tx:
            s = tx.session
            if s.get(PostedCard, (platform, message_id)) is None:
                s.add(PostedCard(platform=platform, message_id=message_id, space=space,
                                 community=community, ref=ref, kind=kind, at=self.clock.now()))

    @retrying
    def cards_for(self, platform: str, community: str, ref: str) -> list[CardRef]:
        """Every message on `platform` showing `ref`, oldest first."""
        with self.unit() as tx:
            s = tx.session
            return [_card_ref(c) for c in s.scalars(select(PostedCard).where(
                PostedCard.platform == platform, PostedCard.community == community,
                PostedCard.ref == ref).order_by(PostedCard.at))]

    @retrying
    def card_of_message(self, platform: str, message_id: str) -> CardRef | None:
        """The card a platform message shows, or None."""
        if not is_clean_id(message_id):
            return None  # a reaction may name any id; one that cannot be stored shows no card
        with self.unit() as tx:
            s = tx.session
            c = s.get(PostedCard, (platform, message_id))
            return _card_ref(c) if c else None

    @retrying
    def suggest(self, community: str, kinds: str, typed: str = "",
                limit: int = 25) -> list[Suggestion]:
        """Open objects whose id or title matches what a member is typing (autocomplete).

        Args:
            community: the community.
            kinds: the id letters wanted, e.g. `T`, `P`, `FB` or `TPF`.
            typed: what was typed so far: `12`, `T1`, `login`; empty gives the newest.
            limit: at most this many results in all.

        Returns:
            The matches, newest first within each kind, in the order of `kinds`.
        """
        models = {"P": (Proposal, Proposal.text),
                  "F": (FundingCall, FundingCall.title), "B": (Pitch, Pitch.title),
                  "V": (Venture, Venture.name)}
        raw = clean_line(typed)[:100]
        ref = Ref.parse(raw, "T" + "".join(models))
        letter = ref.kind if ref else ""
        digits = str(ref.number) if ref else (raw if is_digits(raw) else "")
        out: list[Suggestion] = []
        with self.unit() as tx:
            s = tx.session
            for kind in kinds:
                if kind not in {"T", *models} or (letter and letter != kind) or len(out) >= limit:
                    continue
                if kind == "T":
                    out.extend(Suggestion(f"T{n}", t) for n, t in _suggest_needs(tx, community, digits, raw,
                                                                                 limit - len(out)))
                    continue
                model, title = models[kind]
                # A venture is "active" where the other objects are "open".
                live = "active" if kind == "V" else "open"
                stmt = select(model.number, title).where(model.community == community,
                                                         model.state == live)
                if digits:
                    stmt = stmt.where(cast(model.number, String).like(f"{digits}%"))
                elif raw:
                    stmt = stmt.where(func.lower(title).contains(raw.lower(), autoescape=True))
                rows = s.execute(stmt.order_by(model.number.desc()).limit(limit - len(out))).all()
                out.extend(Suggestion(f"{kind}{n}", t) for n, t in rows)
        return out

    @retrying
    def kv_get(self, key: str) -> str | None:
        """Read a small piece of adapter state."""
        with self.unit() as tx:
            return tx.execute(sql.KV_GET, {"k": key}).scalar()

    @retrying
    def kv_set(self, key: str, value: str) -> None:
        """Store a small piece of adapter state."""
        # Adapters store their sync position here after every batch: prebuilt statements.
        with self.unit() as tx:
            if tx.execute(sql.KV_UPDATE, {"k": key, "v": value}).rowcount == 0:
                tx.execute(sql.KV_INSERT, {"key": key, "value": value})

    @retrying
    def current_deadline(self, community: str, kind: str, obj_id: int) -> Due | None:
        """One deadline as the database has it now (its time may have moved), or None when
        it is no longer pending (see `deadlines.current`)."""
        with self.unit() as tx:
            return deadlines.current(tx, self.settings.community(community), kind, obj_id,
                                     self.clock.now())

    @retrying
    def deadlines_of(self, community: str, refs: frozenset[str], until: datetime) -> ObjectDeadlines:
        """The deadlines of some objects up to `until`, for re-arming after they changed
        (see `deadlines.for_refs`)."""
        with self.unit() as tx:
            return deadlines.for_refs(tx, self.settings.community(community), refs,
                                      self.clock.now(), until)

    def ping(self) -> None:
        """Reach the database once (health checks); raises when it cannot be used."""
        with self.unit() as tx:
            tx.execute(text("SELECT 1"))

    def figures(self, platforms: list[str]) -> Figures:
        """The outbox backlog of `platforms` and the commons' open objects, per community."""
        statements = {"open_needs": sql.OPEN_NEEDS_PER_COMMUNITY,
                      "active_claims": sql.PENDING_CLAIMS_PER_COMMUNITY}
        counts = {
            "open_proposals": select(Proposal.community, func.count())
            .where(Proposal.state == ProposalState.OPEN)
            .group_by(Proposal.community),
            "open_funding_calls": select(FundingCall.community, func.count())
            .where(FundingCall.state == CallState.OPEN).group_by(FundingCall.community),
        }
        backlog: dict[str, int] = {}
        with self.unit() as tx:
            s = tx.session
            for platform in platforms:
                cursor = tx.execute(sql.KV_GET, {"k": f"outbox:{platform}"}).scalar()
                low = int(cursor) if cursor else 0
                backlog[platform] = tx.execute(sql.OUTBOX_BACKLOG, {"low": low, "p": platform}).scalar() or 0
            got = {name: {c: n for c, n in tx.execute(stmt)} for name, stmt in statements.items()}
            got.update({name: {c: n for c, n in s.execute(stmt)} for name, stmt in counts.items()})
        return Figures(backlog=backlog, counts=got)


def _suggest_needs(tx: Tx, community: str, digits: str, raw: str, limit: int) -> list[Any]:
    """Open needs for `suggest`: by the number's first digits, by title, or the newest."""
    params: dict[str, Any] = {"c": community, "lim": limit}
    if digits:
        return tx.execute(sql.SUGGEST_NEEDS_BY_NUMBER, {**params, "prefix": digits + "%"}).all()
    if raw:
        words = sql.like_escaped(raw.lower())
        return tx.execute(sql.SUGGEST_NEEDS_BY_TITLE, {**params, "words": words}).all()
    return tx.execute(sql.SUGGEST_NEEDS, params).all()


def _card_ref(c: PostedCard) -> CardRef:
    return CardRef(community=c.community, ref=c.ref, space=c.space, message_id=c.message_id,
                   kind=CardMessage(c.kind))
