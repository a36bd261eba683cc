"""Record the event payloads that ``test_matrix_translate.py`` replays.

Run ``.venv/bin/python -m tests.matrix.data.record_payloads`` (needs ``.venv-synapse``):
it starts a throwaway Synapse, has two users exchange the events the adapter
understands, and writes each event as received over ``/sync`` (nio's ``event.source``)
to ``tests/matrix/data/<name>.json``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from nio import InviteMemberEvent

from tests.matrix.clients import Person, new_client
from tests.matrix.synapse import SynapseServer

HERE = Path(__file__).parent


async def main() -> None:
    """Start Synapse, produce the events, write them out."""
    async with SynapseServer() as server:
        alice = Person(await new_client(server, "alice"))
        bob = Person(await new_client(server, "bob"))
        await alice.start_syncing()
        await bob.start_syncing()
        created = await alice.client.room_create(name="record", invite=[bob.user_id], is_direct=True)
        room = created.room_id
        _, invite = await bob.inbox.wait_for(lambda r, e: isinstance(e, InviteMemberEvent)
                                             and e.state_key == bob.user_id)
        await bob.client.join(room)
        _, join = await alice.inbox.wait_for(lambda r, e: getattr(e, "state_key", "") == bob.user_id
                                             and getattr(e, "membership", "") == "join")
        # nio pops `content` out of an invite's stripped state event; put it back as sent.
        out: dict[str, Any] = {"invite_member": {**invite.source, "content": invite.content},
                               "member_join": join.source}

        async def bob_sends(name: str, event_type: str, content: dict[str, Any]) -> str:
            resp = await bob.client.room_send(room, event_type, content)
            _, ev = await alice.inbox.wait_for(lambda r, e: getattr(e, "event_id", "") == resp.event_id)
            out[name] = ev.source
            return resp.event_id

        cmd = await bob_sends("command", "m.room.message", {"msgtype": "m.text", "body": "!claim T1"})
        await bob_sends("reaction", "m.reaction", {"m.relates_to": {
            "rel_type": "m.annotation", "event_id": cmd, "key": "✋️"}})
        await bob_sends("poll_response_unstable", "org.matrix.msc3381.poll.response", {
            "m.relates_to": {"rel_type": "m.reference", "event_id": cmd},
            "org.matrix.msc3381.poll.response": {"answers": ["block"]}})
        await bob_sends("poll_response_stable", "m.poll.response", {
            "m.relates_to": {"rel_type": "m.reference", "event_id": cmd}, "m.selections": ["agree"]})
        await bob_sends("text_reply", "m.room.message", {
            "msgtype": "m.text", "body": "because it is too strict",
            "m.relates_to": {"m.in_reply_to": {"event_id": cmd}}})
        await bob_sends("edit", "m.room.message", {
            "msgtype": "m.text", "body": "* !claim T2",
            "m.new_content": {"msgtype": "m.text", "body": "!claim T2"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": cmd}})
        await bob_sends("notice", "m.room.message", {"msgtype": "m.notice", "body": "!claim T1"})
        state = await alice.client.room_get_state(room)
        out["create"] = next(e for e in state.events if e["type"] == "m.room.create")
        for name, payload in out.items():
            (HERE / f"{name}.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        await alice.aclose()
        await bob.aclose()


if __name__ == "__main__":
    asyncio.run(main())
