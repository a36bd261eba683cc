"""Sending: one event with its transaction id, the outbox (announcements, polls, notices), direct chats."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from nio import RoomCreateResponse, RoomPreset, RoomSendResponse

from adapters.matrix import translate as tr
from adapters.matrix.state import PLATFORM, SEND_GIVE_UP_SECONDS, AdapterState, MatrixError
from bot.chat.render import unescape
from bot.domain.ref import RefKind, is_ref
from bot.domain.vocabulary import CardMessage
from bot.ports import Card, Outbound

log = logging.getLogger(__name__)


class Sending(AdapterState):
    """Events out: retried with the same transaction id, so nothing shows twice."""

    async def _send(self, room_id: str, event_type: str, content: dict[str, Any], tx_id: str) -> str:
        """Send one event; the transaction id makes a repeat after a crash a no-op.

        Raises:
            MatrixError: the homeserver refused it (after a few tries for server errors).
        """
        assert self.client is not None
        if self.client.olm is not None:
            await self._await_room(room_id)
            await self._know_devices(room_id)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + SEND_GIVE_UP_SECONDS
        attempt = 0
        while True:
            resp = await self.client.room_send(room_id, event_type, content, tx_id=tx_id,
                                               ignore_unverified_devices=True)
            if isinstance(resp, RoomSendResponse):
                return resp.event_id
            code = str(getattr(resp, "status_code", "") or "")
            # A refusal (forbidden, too large, unknown room) will not change by asking again;
            # anything else (a homeserver restarting, overloaded) is retried with the same
            # transaction id, so a send that did land is not duplicated.
            if (code.startswith("M_") and code not in ("M_UNKNOWN", "M_LIMIT_EXCEEDED")) \
                    or loop.time() > give_up:
                break
            attempt += 1
            await asyncio.sleep(min(self.ms.retry_max_seconds, 0.25 * 2 ** min(attempt, 10)))
        raise MatrixError(f"could not send to {room_id}: {getattr(resp, 'message', resp)}")

    async def _await_member(self, room_id: str, user_id: str, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Wait (bounded) until this client's sync shows `user_id` invited to or in a room."""
        assert self.client is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            room = self.client.rooms.get(room_id)
            if room is not None and user_id in room.users:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._synced.wait(), deadline - loop.time())
        log.warning("matrix: %s does not show %s yet; sending anyway", room_id, user_id)

    async def _await_room(self, room_id: str, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """nio encrypts only for rooms it has synced; wait for a room the bot just created."""
        assert self.client is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while room_id not in self.client.rooms and loop.time() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._synced.wait(), deadline - loop.time())

    async def send(self, message: Outbound) -> None:
        """Deliver an announcement to every room of its community, or a notice by DM.

        A need's announcement is remembered as its card (a claim reaction on it claims the
        need); a proposal's is followed by a poll, and the announcement of its close by the
        poll's end. Every event's transaction id is derived from ``message.outbox_id``, so
        delivering the same entry again (the runtime retries what raised) shows nothing
        twice: the homeserver answers a repeated transaction id with the first event.

        Raises:
            MatrixError: the homeserver did not accept some part of it (the other rooms
                were still tried), or the adapter is not started.
        """
        if self.client is None:
            raise MatrixError("the matrix adapter is not started")
        if message.kind == "announce":
            await self._announce(message)
        elif message.kind == "notice":
            await self._notice(message)

    async def _mentions(self, message: Outbound) -> list[str]:
        ids: list[str] = []
        for member in message.mentions:
            ids.extend(await self.runtime.call(self.core.identities, member, PLATFORM))
        return ids

    async def _announce(self, o: Outbound) -> None:
        card_kind, ref = tr.announcement_parts(o)
        c = self.settings.community(o.community)
        text = o.text
        hint = tr.choices_hint(o.choices, c.matrix.claim_reaction if c.matrix else "✋")
        if hint and card_kind == CardMessage.CARD:
            text += "\n" + hint
        content = tr.notice_content(text, mentions=await self._mentions(o))
        card: Card | None = None
        failed: list[str] = []
        if is_ref(ref, RefKind.PROPOSAL):
            card = await self.runtime.call(self.core.card, o.community, ref)
        for room_id in self._community_rooms.get(o.community, []):
            try:
                event_id = await self._send(room_id, "m.room.message", content,
                                            tr.txn_id("out", o.outbox_id, room_id))
                if card_kind == CardMessage.CARD and ref:
                    await self.runtime.call(self.core.remember_card, PLATFORM, room_id, event_id,
                                            o.community, ref, CardMessage.CARD)
                elif card_kind == CardMessage.POLL and ref and card is not None:
                    poll = tr.poll_start_content(ref, card.subject, o.text)
                    poll_id = await self._send(room_id, self.ms.poll_event_type, poll,
                                               tr.txn_id("poll", o.outbox_id, room_id))
                    await self.runtime.call(self.core.remember_card, PLATFORM, room_id, poll_id,
                                            o.community, ref, CardMessage.POLL)
            except MatrixError as exc:
                failed.append(f"{room_id}: {exc}")
        if ref and card is not None and card.closed:
            failed += await self._end_polls(o, ref, card)
        if failed:
            raise MatrixError(f"announcement {o.outbox_id} not delivered to " + "; ".join(failed))

    async def _end_polls(self, o: Outbound, ref: str, card: Card) -> list[str]:
        """End the polls of a closed proposal; returns the rooms where that failed."""
        failed: list[str] = []
        posted = await self.runtime.call(self.core.cards_for, PLATFORM, o.community, ref)
        ended = {p.space for p in posted if p.kind == CardMessage.POLL_END}
        end_type = tr.POLL_END_TYPES[tr.POLL_START_TYPES.index(self.ms.poll_event_type)]
        results = tr.poll_results(card.tally)
        text = unescape(o.text.split("\n", 1)[0])
        for p in posted:
            if p.kind != CardMessage.POLL or p.space in ended:
                continue
            try:
                end_id = await self._send(p.space, end_type,
                                          tr.poll_end_content(p.message_id, text, results),
                                          tr.txn_id("pollend", p.message_id))
                await self.runtime.call(self.core.remember_card, PLATFORM, p.space, end_id,
                                        o.community, ref, CardMessage.POLL_END)
            except MatrixError as exc:
                failed.append(f"{p.space} (poll end): {exc}")
        return failed

    async def _notice(self, o: Outbound) -> None:
        if o.member is None:
            return
        failed: list[str] = []
        for user_id in await self.runtime.call(self.core.identities, o.member, PLATFORM):
            try:
                room_id = await self._dm_room(user_id, o.community)
                await self._send(room_id, "m.room.message",
                                 tr.notice_content(o.text, mentions=[user_id]),
                                 tr.txn_id("notice", o.outbox_id, user_id))
            except MatrixError as exc:
                failed.append(f"{user_id}: {exc}")
        if failed:
            raise MatrixError(f"notice {o.outbox_id} not delivered to " + "; ".join(failed))

    async def _dm_room(self, user_id: str, community: str) -> str:
        """The bot's direct-message room with a member: reused if it has one, else created."""
        assert self.client is not None
        async with self._dm_lock:
            for room_id, room in self.client.rooms.items():
                if room_id in self._dm_rooms and user_id in room.users and len(room.users) <= 2:
                    return room_id
            initial = [{"type": "m.room.encryption", "state_key": "",
                        "content": {"algorithm": "m.megolm.v1.aes-sha2"}}] if self.ms.encryption else []
            resp = await self.client.room_create(is_direct=True, invite=[user_id],
                                                 preset=RoomPreset.trusted_private_chat,
                                                 initial_state=initial)
            if not isinstance(resp, RoomCreateResponse):
                raise MatrixError(f"could not open a direct chat with {user_id}: "
                                  f"{getattr(resp, 'message', resp)}")
            await self._remember_dm_room(resp.room_id, community)
            await self._await_room(resp.room_id)
            # The first message goes out before the member joins: it is encrypted for the
            # invited member's devices (see `_know_devices`), so the invite must be seen.
            await self._await_member(resp.room_id, user_id)
            return resp.room_id
