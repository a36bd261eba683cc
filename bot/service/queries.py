"""What adapters ask the core outside commands: cards, posted cards, identities,
autocomplete suggestions and small adapter state (`Queries`, a mixin of `Core`)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, String, cast, func, select

from bot.chat.text import clean_line, is_clean_id
from bot.clock import Clock
from bot.config import Settings
from bot.domain.rules import is_digits
from bot.service.cards import build_card
from bot.store import sql
from bot.store.models import (
    FundingCall,
    IdentityRow,
    Need,
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
    engine: Engine
    clock: Clock
    prefix: str

    unit: Callable[[], Tx]

    @retrying
    def card(self, community: str, ref: str) -> object:
        """The current card of `T1`, `P2` or `F1` (a `bot.ports.Card`), or None."""
        with self.unit() as tx:
            return build_card(tx, self.settings.community(community), self.prefix, ref,
                              self.clock.now())

    @retrying
    def identities(self, member: int, platform: str) -> list[str]:
        """The member's user ids on a platform (to send a notice or a mention)."""
        with self.unit() as tx:
            s = tx.session
            return list(s.scalars(select(IdentityRow.user_id).where(
                IdentityRow.member_id == member, IdentityRow.platform == platform)))

    @retrying
    def remember_card(self, platform: str, space: str, message_id: str, community: str, ref: str,
                      kind: str = "card") -> None:
        """Record that a platform message shows `ref` (for edits in place and reactions)."""
        with self.unit() as tx:
            s = tx.session
            if s.get(PostedCard, (platform, message_id)) is None:
                s.add(PostedCard(platform=platform, message_id=message_id, space=space,
                                 community=community, ref=ref, kind=kind, at=self.clock.now()))

    @retrying
    def cards_for(self, platform: str, community: str, ref: str) -> list[tuple[str, str, str]]:
        """(space, message id, kind) of every message on `platform` showing `ref`."""
        with self.unit() as tx:
            s = tx.session
            return [(c.space, c.message_id, c.kind) for c in s.scalars(select(PostedCard).where(
                PostedCard.platform == platform, PostedCard.community == community,
                PostedCard.ref == ref).order_by(PostedCard.at))]

    @retrying
    def card_of_message(self, platform: str, message_id: str) -> tuple[str, str, str] | None:
        """(community, ref, kind) of the card a platform message shows, or None."""
        if not is_clean_id(message_id):
            return None  # a reaction may name any id; one that cannot be stored shows no card
        with self.unit() as tx:
            s = tx.session
            c = s.get(PostedCard, (platform, message_id))
            return (c.community, c.ref, c.kind) if c else None

    @retrying
    def suggest(self, community: str, kinds: str, typed: str = "",
                limit: int = 25) -> list[tuple[str, str]]:
        """Open objects whose id or title matches what a member is typing (autocomplete).

        Args:
            community: the community.
            kinds: the id letters wanted, e.g. `T`, `P`, `FB` or `TPF`.
            typed: what was typed so far: `12`, `T1`, `login`; empty gives the newest.
            limit: at most this many results in all.

        Returns:
            (`T12`, title) pairs, newest first within each kind, in the order of `kinds`.
        """
        models = {"T": (Need, Need.title), "P": (Proposal, Proposal.text),
                  "F": (FundingCall, FundingCall.title), "B": (Pitch, Pitch.title),
                  "V": (Venture, Venture.name)}
        raw = clean_line(typed)[:100]
        letter = raw[:1].upper() if raw[:1].upper() in models and is_digits(raw[1:]) else ""
        digits = raw[1:] if letter else (raw if is_digits(raw) else "")
        out: list[tuple[str, str]] = []
        with self.unit() as tx:
            s = tx.session
            for kind in kinds:
                if kind not in models or (letter and letter != kind) or len(out) >= limit:
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
                out.extend((f"{kind}{n}", t) for n, t in rows)
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
