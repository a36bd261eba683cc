"""Handling one event: a command, a reaction on a card, a poll answer or a reply to a question."""

from __future__ import annotations

import asyncio
import json
import logging

from adapters.matrix import translate as tr
from adapters.matrix.state import PLATFORM, AdapterState, Job, MatrixError
from bot.domain.vocabulary import CardMessage

log = logging.getLogger(__name__)


class Commands(AdapterState):
    """Per-room workers that run events through the core and send the replies."""

    async def _room_worker(self, queue: asyncio.Queue[tuple[Job, asyncio.Future[None]]]) -> None:
        while True:
            job, done = await queue.get()
            try:
                await self._handle(job)
            except asyncio.CancelledError:
                done.cancel()
                raise
            except Exception as exc:
                log.exception("matrix: handling %s failed", job.incoming)
                if not done.done():
                    done.set_exception(exc)
                continue
            if not done.done():
                done.set_result(None)

    async def _handle(self, job: Job) -> None:
        inc = job.incoming
        if isinstance(inc, tr.Command):
            await self._run(job, inc.text, inc.event_id, inc.sender, reply_to=inc.event_id)
        elif isinstance(inc, tr.Reaction):
            card = await self.runtime.call(self.core.card_of_message, PLATFORM, inc.target)
            if card is None or card.kind != CardMessage.CARD:
                return
            c = self.settings.community(card.community)
            claim = c.matrix.claim_reaction if c.matrix else "✋"
            text = tr.reaction_command(inc.key, card.ref, claim, self.prefix)
            if text:
                await self._run(job, text, inc.event_id, inc.sender, reply_to=inc.target)
        elif isinstance(inc, tr.PollResponse):
            card = await self.runtime.call(self.core.card_of_message, PLATFORM, inc.poll_id)
            if card is None or card.kind != CardMessage.POLL:
                return
            vote = tr.poll_vote(card.ref, inc.answers, self.prefix)
            if vote is None:
                return
            if vote.command:
                await self._run(job, vote.command, inc.event_id, inc.sender, reply_to=inc.poll_id)
            elif vote.ask:
                await self._ask(job, inc, vote.ask, card.ref)
        elif isinstance(inc, tr.TextReply):
            raw = await self.runtime.call(self.core.kv_get, f"matrix:ask:{inc.in_reply_to}")
            if not raw:
                return
            ask = json.loads(raw)
            if ask.get("sender") != inc.sender:
                return
            await self._run(job, f"{ask['command']} {inc.text}", inc.event_id, inc.sender,
                            reply_to=inc.event_id)

    async def _run(self, job: Job, text: str, event_id: str, sender: str, *, reply_to: str) -> None:
        """Run a command through the core and send its replies, exactly once per event id."""
        assert self.client is not None
        room = self.client.rooms.get(job.room_id)
        name = (room.user_name(sender) if room else None) or sender
        # A direct chat someone else was invited to is not private (a link code sent there
        # is seen by them).
        alone = room is not None and set(room.users) <= {sender, self.user_id}
        msg = tr.inbound(text, event_id, sender, community=job.community, room_id=job.room_id,
                         sender_name=name, roles=self._roles(job.community, job.room_id, sender),
                         direct=job.direct, private=job.direct and alone)
        replies = await self.runtime.handle(msg)
        for i, reply in enumerate(replies):
            if reply.private and not job.direct:
                await self._reply_privately(job, reply.text, event_id, sender, reply_to=reply_to, n=i)
                continue
            content = tr.notice_content(reply.text, reply_to=reply_to, mentions=[sender])
            await self._send(job.room_id, "m.room.message", content, tr.txn_id("reply", event_id, i))

    async def _reply_privately(self, job: Job, text: str, event_id: str, sender: str, *,
                               reply_to: str, n: int) -> None:
        """A private reply to a command in a community room: in the direct chat, never the room.

        The room gets a pointer with nothing of the reply in it (or, when no direct chat can
        be opened, a line saying so). Both sends have transaction ids derived from the event
        id, like any reply, so a replay after a crash posts neither twice.
        """
        pointer = tr.PRIVATE_POINTER
        try:
            dm = await self._dm_room(sender, job.community)
            content = tr.private_reply_content(text, room_id=job.room_id, reply_to=reply_to,
                                               mentions=[sender])
            await self._send(dm, "m.room.message", content, tr.txn_id("private", event_id, n))
        except MatrixError as exc:
            log.warning("matrix: no direct chat with %s for a private reply: %s", sender, exc)
            pointer = tr.PRIVATE_UNDELIVERED
        content = tr.notice_content(pointer, reply_to=reply_to, mentions=[sender])
        await self._send(job.room_id, "m.room.message", content, tr.txn_id("reply", event_id, n))

    async def _ask(self, job: Job, inc: tr.PollResponse, question: str, ref: str) -> None:
        """Ask a member who disagreed or blocked in a poll for the reason; their reply votes."""
        content = tr.notice_content(question, reply_to=inc.poll_id, mentions=[inc.sender])
        event_id = await self._send(job.room_id, "m.room.message", content, tr.txn_id("ask", inc.event_id))
        position = inc.answers[0]
        await self.runtime.call(self.core.kv_set, f"matrix:ask:{event_id}", json.dumps(
            {"sender": inc.sender, "command": f"{self.prefix}vote {ref} {position}"}))
