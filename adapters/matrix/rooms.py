"""Rooms: the configured ones (aliases resolved), invites, direct chats and roles."""

from __future__ import annotations

import json
import logging

from nio import JoinError, RoomResolveAliasResponse, SyncResponse

from adapters.matrix import translate as tr
from adapters.matrix.state import AdapterState

log = logging.getLogger(__name__)


class Rooms(AdapterState):
    """Which room belongs to which community, which are direct chats, and who holds what role."""

    async def _resolve_rooms(self) -> None:
        assert self.client is not None
        for c in self.communities:
            assert c.matrix is not None
            ids: list[str] = []
            for room in c.matrix.rooms:
                room_id = room
                if room.startswith("#"):
                    resp = await self.client.room_resolve_alias(room)
                    if not isinstance(resp, RoomResolveAliasResponse):
                        log.warning("matrix: cannot resolve %s (%s); skipping it", room,
                                    getattr(resp, "message", resp))
                        continue
                    room_id = resp.room_id
                ids.append(room_id)
                self._room_community[room_id] = c.id
            self._community_rooms[c.id] = ids

    def _load_dm_rooms(self) -> dict[str, str]:
        raw = self.core.kv_get(f"matrix:dm_rooms:{self.user_id}")
        return json.loads(raw) if raw else {}

    async def _remember_dm_room(self, room_id: str, community: str) -> None:
        self._dm_rooms[room_id] = community
        await self.runtime.call(self.core.kv_set, f"matrix:dm_rooms:{self.user_id}",
                                json.dumps(self._dm_rooms))

    async def _join(self, room_id: str, community: str) -> None:
        assert self.client is not None
        resp = await self.client.join(room_id)
        if isinstance(resp, JoinError):
            log.warning("matrix: cannot join %s of community %s yet (%s); invite the bot",
                        room_id, community, resp.message)
        else:
            log.info("matrix: joined %s (community %s)", room_id, community)

    async def _handle_invites(self, resp: SyncResponse) -> None:
        assert self.client is not None
        for room_id, info in resp.rooms.invite.items():
            if room_id in self._joined:
                continue
            # nio pops `content` out of stripped state events; the content is on the object.
            state = [{**getattr(ev, "source", {}), "content": getattr(ev, "content", {})}
                     for ev in info.invite_state]
            if room_id in self._room_community:
                await self._join(room_id, self._room_community[room_id])
                self._join_requested.add(room_id)
                continue
            direct, inviter = tr.is_direct_invite(state, self.user_id)
            community = self._community_of_member(inviter) if direct and inviter else None
            if self.ms.direct_messages and community:
                await self._join(room_id, community)
                await self._remember_dm_room(room_id, community)
                continue
            log.info("matrix: declining an invite to %s from %s (not a configured room)",
                     room_id, inviter)
            await self.client.room_leave(room_id)

    def _community_of_member(self, user_id: str | None) -> str | None:
        assert self.client is not None
        for room_id, community in self._room_community.items():
            room = self.client.rooms.get(room_id)
            if room is not None and user_id in room.users:
                return community
        return None

    def _roles(self, community: str, room_id: str, sender: str) -> frozenset[str]:
        """Roles from power levels: in the room itself, or in a DM the best of the community's."""
        assert self.client is not None
        c = self.settings.community(community)
        thresholds = dict(c.matrix.power_levels) if c.matrix else {}
        rooms = [room_id] if room_id in self._room_community else self._community_rooms.get(community, [])
        level = 0
        for rid in rooms:
            room = self.client.rooms.get(rid)
            if room is not None:
                level = max(level, tr.power_of(sender, room.power_levels.get_user_level(sender),
                                               room.room_version, self._creators.get(rid, frozenset())))
        return tr.roles_from_power(level, thresholds)
