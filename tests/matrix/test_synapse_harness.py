"""The Synapse harness works: real users exchange real messages through it."""

from __future__ import annotations

import aiohttp
import pytest
from nio import InviteMemberEvent, RoomCreateResponse, RoomMemberEvent, RoomMessageText

from tests.matrix.clients import MakePerson, Person, unique_localpart
from tests.matrix.e2e import ENCRYPTION_STATE, MEGOLM_ALGORITHM
from tests.matrix.synapse import SynapseServer, SynapseStartError

pytestmark = pytest.mark.synapse


async def _room_with(owner: Person, guest: Person, *, encrypted: bool = False) -> str:
    """Owner creates a room and invites guest; guest accepts once the invite arrives."""
    response = await owner.client.room_create(
        name="harness",
        invite=[guest.user_id],
        initial_state=[ENCRYPTION_STATE] if encrypted else [],
    )
    assert isinstance(response, RoomCreateResponse), response
    room_id = response.room_id

    await guest.inbox.wait_for(
        lambda room, event: (
            room.room_id == room_id
            and isinstance(event, InviteMemberEvent)
            and event.state_key == guest.user_id
            and event.membership == "invite"
        ),
        what=f"invite to {room_id}",
    )
    joined = await guest.client.join(room_id)
    assert getattr(joined, "room_id", None) == room_id, joined
    # The owner must have seen the join before sending, or (in an encrypted
    # room) it would not share the room key with the guest.
    await owner.inbox.wait_for(
        lambda room, event: (
            room.room_id == room_id
            and isinstance(event, RoomMemberEvent)
            and event.state_key == guest.user_id
            and event.membership == "join"
        ),
        what=f"{guest.user_id} joining {room_id}",
    )
    return room_id


async def test_invited_user_joins_and_receives_a_message(make_person: MakePerson) -> None:
    alice = await make_person("alice")
    bob = await make_person("bob")

    room_id = await _room_with(alice, bob)
    event_id = await alice.send_text(room_id, "hello bob")

    message = await bob.inbox.wait_for_text(room_id, "hello bob")
    assert isinstance(message, RoomMessageText)
    assert message.sender == alice.user_id
    assert message.event_id == event_id
    room = bob.client.rooms[room_id]
    assert room.name == "harness"
    assert set(room.users) == {alice.user_id, bob.user_id}


async def test_a_burst_of_messages_is_not_rate_limited(make_person: MakePerson) -> None:
    """Synapse's default rc_message allows 10 messages in a burst; the harness raises it."""
    alice = await make_person("alice")
    bob = await make_person("bob")
    room_id = await _room_with(alice, bob)

    # Test clients turn a 429 into an error (max_limit_exceeded=0), so any
    # limit left in place fails here instead of slowing down.
    for n in range(25):
        await alice.send_text(room_id, f"burst {n}")

    await bob.inbox.wait_for_text(room_id, "burst 24")
    bodies = [
        event.body
        for room, event in bob.inbox.received
        if room.room_id == room_id and isinstance(event, RoomMessageText)
    ]
    assert bodies == [f"burst {n}" for n in range(25)]


async def test_encrypted_room_carries_messages_both_ways(
    make_person: MakePerson, synapse: SynapseServer
) -> None:
    alice = await make_person("alice", e2e=True)
    bob = await make_person("bob", e2e=True)

    room_id = await _room_with(alice, bob, encrypted=True)
    assert alice.client.rooms[room_id].encrypted
    await alice.send_text(room_id, "secret for bob")
    to_bob = await bob.inbox.wait_for_text(room_id, "secret for bob")
    assert to_bob.decrypted
    assert to_bob.sender == alice.user_id

    await bob.send_text(room_id, "secret for alice")
    to_alice = await alice.inbox.wait_for_text(room_id, "secret for alice")
    assert to_alice.decrypted
    assert to_alice.sender == bob.user_id

    # What the homeserver stored: ciphertext only.
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{synapse.base_url}/_matrix/client/v3/rooms/{room_id}/messages",
            params={"dir": "b", "limit": "50"},
            headers={"Authorization": f"Bearer {bob.client.access_token}"},
        ) as response,
    ):
        assert response.status == 200
        stored = (await response.json())["chunk"]
    messages = [e for e in stored if e["type"] in ("m.room.message", "m.room.encrypted")]
    assert len(messages) == 2
    assert all(e["type"] == "m.room.encrypted" for e in messages)
    assert all(e["content"]["algorithm"] == MEGOLM_ALGORITHM for e in messages)
    assert "secret" not in str(stored)


async def test_client_keeps_syncing_across_a_homeserver_restart(
    make_person: MakePerson, synapse: SynapseServer
) -> None:
    alice = await make_person("alice")
    bob = await make_person("bob")
    room_id = await _room_with(alice, bob)
    await alice.send_text(room_id, "before restart")
    await bob.inbox.wait_for_text(room_id, "before restart")
    base_url = synapse.base_url

    await synapse.restart()

    assert synapse.base_url == base_url
    # Same data: alice's access token and room survive; bob's sync loop
    # reconnects by itself.
    await alice.send_text(room_id, "after restart")
    message = await bob.inbox.wait_for_text(room_id, "after restart")
    assert message.sender == alice.user_id
    assert bob.sync_task is not None and not bob.sync_task.done()


async def test_a_second_server_refuses_the_port_of_a_running_one(synapse: SynapseServer) -> None:
    """The readiness check must never mistake another server's answer for its own."""
    second = SynapseServer(port=synapse.port)
    with pytest.raises(SynapseStartError, match=f"port {synapse.port} is already in use"):
        await second.start()
    await second.aclose()

    name = unique_localpart("still-there")
    user = await synapse.register(name, "password")
    assert user.user_id == f"@{name}:localhost"
