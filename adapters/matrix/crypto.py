"""Crypto housekeeping: keys uploaded, queried and claimed, room keys shared and forwarded."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from nio import LocalProtocolError, MegolmEvent, RoomKeyRequest, SyncResponse

from adapters.matrix import translate as tr
from adapters.matrix.state import KEY_WAIT_SECONDS, AdapterState, Job, checked

log = logging.getLogger(__name__)


class Crypto(AdapterState):
    """What nio's sync_forever would do between syncs, and what it leaves to the application."""

    async def _await_key(self, ev: MegolmEvent, room_id: str, community: str, direct: bool) -> None:
        """An encrypted event that arrived before its room key: wait for the key, then run it."""
        assert self.client is not None
        with contextlib.suppress(Exception):
            await self.client.request_room_key(ev)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + KEY_WAIT_SECONDS
        while loop.time() < deadline:
            decrypted = self.client.decrypt_event(ev) if self.client.olm else None
            if decrypted is not None and not isinstance(decrypted, MegolmEvent):
                incoming = tr.classify(getattr(decrypted, "source", {}), self.user_id, self.prefix)
                if incoming is not None:
                    await self._enqueue(Job(room_id, community, direct, incoming))
                return
            waiter = self._synced
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), max(0.1, deadline - loop.time()))
        log.warning("matrix: no room key for %s in %s after %.0f s; it stays unanswered",
                    ev.event_id, room_id, KEY_WAIT_SECONDS)

    def _crypto_housekeeping(self) -> None:
        """What sync_forever does between syncs: to-device messages and key upload/query/claim."""
        client = self.client
        if client is None or client.olm is None or self._crypto_busy:
            return
        # Almost every sync needs none of it: decide here rather than start a task per sync.
        if not (client.outgoing_to_device_messages or client.should_upload_keys
                or client.should_query_keys or client.should_claim_keys or self._key_requests):
            return
        self._crypto_busy = True

        async def run() -> None:
            try:
                if client.outgoing_to_device_messages:
                    await client.send_to_device_messages()
                if client.should_upload_keys:
                    await client.keys_upload()
                if client.should_query_keys:
                    await client.keys_query()
                if client.should_claim_keys:
                    await client.keys_claim(client.get_users_for_key_claiming())
                while self._key_requests:
                    await self._answer_key_request(self._key_requests.pop(0))
            except Exception:
                log.warning("matrix: key housekeeping failed; retrying after the next sync",
                            exc_info=True)
            finally:
                self._crypto_busy = False

        self._tasks.append(asyncio.create_task(run(), name="matrix-crypto"))
        self._tasks[:] = [t for t in self._tasks if not t.done()]

    def _note_key_requests(self, resp: SyncResponse) -> None:
        # nio answers requests from the bot's own other devices only, and hands none of the
        # others to callbacks: take them from the sync for `_answer_key_request`.
        if self.client is not None and self.client.olm is not None:
            self._key_requests.extend(ev for ev in resp.to_device_events
                                      if isinstance(ev, RoomKeyRequest) and ev.sender != self.user_id)

    async def _answer_key_request(self, event: RoomKeyRequest) -> None:
        """Forward a room key the bot made to a room member's device that asks for it.

        Answered only for a session this device created, in a room the requester is
        invited to or in, to a device whose keys the bot has seen (trusted on first use:
        nio keeps the first keys it saw for a device and never takes changed ones) and
        that is not blacklisted.
        """
        assert self.client is not None and self.client.olm is not None
        client, olm = self.client, self.client.olm
        room = client.rooms.get(event.room_id)
        if room is None or event.sender not in room.users \
                or event.sender_key != olm.account.identity_keys["curve25519"]:
            return
        group_session = olm.inbound_group_store.get(event.room_id, event.sender_key, event.session_id)
        if group_session is None:
            return
        device = self._device(event.sender, event.requesting_device_id)
        if device is None:
            olm.users_for_key_query.add(event.sender)
            await checked(client.keys_query(), "query device keys")
            device = self._device(event.sender, event.requesting_device_id)
        if device is None or device.deleted or olm.is_device_blacklisted(device):
            return
        if olm.session_store.get(device.curve25519) is None:
            await checked(client.keys_claim({device.user_id: [device.id]}), "claim a one-time key")
        session = olm.session_store.get(device.curve25519)
        if session is None:
            log.warning("matrix: no Olm session with %s's device %s; key request unanswered",
                        event.sender, event.requesting_device_id)
            return
        # nio has no public way to forward a key to another user's device; this is the
        # message it builds for the bot's own devices.
        message = olm._encrypt_forwarding_key(event.room_id, group_session, session, device)
        await checked(client.to_device(message), "forward a room key")
        log.info("matrix: forwarded the key of %s to %s's device %s", event.room_id,
                 event.sender, event.requesting_device_id)

    def _device(self, user_id: str, device_id: str) -> Any:
        assert self.client is not None and self.client.olm is not None
        store = self.client.olm.device_store
        return store[user_id].get(device_id) if user_id in store.users else None

    async def _know_devices(self, room_id: str) -> None:
        """Make sure nio knows every member's devices before it shares an encrypted room's key.

        nio shares a room's group session, at the first send, with the devices it knows of
        the room's members (invited ones included) and claims one-time keys for those it has
        no Olm session with. A member whose device list nio has not fetched yet (someone
        just invited to a new direct chat, or seen in the sync this send answers) would get
        no key, and the message would stay undecryptable for them: fetch those lists first.
        """
        assert self.client is not None and self.client.olm is not None
        room = self.client.rooms.get(room_id)
        if room is None or not room.encrypted:
            return
        olm = self.client.olm
        olm.update_tracked_users(room)  # members whose devices were never fetched
        if olm.users_for_key_query:
            with contextlib.suppress(LocalProtocolError):  # a concurrent query took them
                await checked(self.client.keys_query(), "query device keys")
