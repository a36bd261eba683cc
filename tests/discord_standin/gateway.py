"""The gateway: sockets, HELLO/IDENTIFY/RESUME, heartbeats, dispatch and replay."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import WSMsgType, web

from .model import (
    APP_FLAG_GATEWAY_GUILD_MEMBERS,
    APP_FLAG_GATEWAY_MESSAGE_CONTENT,
    APP_FLAG_GATEWAY_PRESENCE,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_PRESENCES,
    INTENT_MESSAGE_CONTENT,
    PRIVILEGED_INTENTS,
    Guild,
)
from .protocol import (
    CLOSE_ALREADY_AUTHENTICATED,
    CLOSE_AUTHENTICATION_FAILED,
    CLOSE_DECODE_ERROR,
    CLOSE_DISALLOWED_INTENTS,
    CLOSE_INVALID_INTENTS,
    CLOSE_UNKNOWN_OPCODE,
    OP_HEARTBEAT,
    OP_HEARTBEAT_ACK,
    OP_HELLO,
    OP_IDENTIFY,
    OP_INVALID_SESSION,
    OP_PRESENCE_UPDATE,
    OP_RECONNECT,
    OP_REQUEST_GUILD_MEMBERS,
    OP_RESUME,
    OP_VOICE_STATE_UPDATE,
    _as_int,
    _dumps,
)
from .records import (
    Delivery,
    GatewayFrame,
    GatewaySession,
    InteractionHandle,
    ResumeRecord,
    _Connection,
)

_log = logging.getLogger("tests.discord_standin.server")


class GatewayMixin:
    """Part of :class:`.server.DiscordStandIn`."""

    # ------------------------------------------------------------------ gateway control

    def hold_connections(self) -> None:
        """Make new gateway connections wait before HELLO (to inject while the bot is away)."""
        self._gate.clear()

    def release_connections(self) -> None:
        """Let held gateway connections proceed."""
        self._gate.set()

    async def disconnect_all(self, code: int = 4000, *, invalidate: bool = False) -> None:
        """Close every gateway socket with ``code``.

        Sessions stay resumable (what Discord does on most disconnects), so the client
        RESUMEs and gets what it missed replayed. With ``invalidate=True`` sessions are
        dropped and RESUME is answered with INVALID_SESSION, forcing a new IDENTIFY.
        """
        if invalidate:
            for session in self.sessions:
                session.closed = True
        for conn in list(self._live):
            conn.closed_by_server = True
            # Detach first: nothing queued from now on may go to a socket being closed.
            self._detach(conn)
            await self._close_ws(conn.ws, code, b"stand-in disconnect")

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT on every socket (the client closes and RESUMEs)."""
        for conn in list(self._live):
            if conn.session is not None:
                await conn.send(_dumps({"op": OP_RECONNECT, "d": None, "s": None, "t": None}))

    @property
    def live_sessions(self) -> list[GatewaySession]:
        """Sessions that still receive events (connected or resumable)."""
        return [s for s in self.sessions if not s.closed]

    async def _close_ws(self, ws: web.WebSocketResponse, code: int, message: bytes) -> None:
        try:
            await ws.close(code=code, message=message)
        except (ConnectionError, RuntimeError):  # already gone: nothing left to close
            pass

    def _dispatch(
        self,
        event: str,
        data: Any,
        *,
        intent: int = 0,
        sessions: Iterable[GatewaySession] | None = None,
        handle: InteractionHandle | None = None,
        transform: Callable[[GatewaySession], Any] | None = None,
    ) -> int:
        count = 0
        for session in list(sessions if sessions is not None else self.sessions):
            if session.closed or (intent and not session.intents & intent):
                continue
            payload = transform(session) if transform is not None else data
            if payload is None:
                continue
            session.push(event, payload, handle)
            count += 1
        return count

    # ------------------------------------------------------------------ gateway socket

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0, timeout=2.0)
        await ws.prepare(request)
        conn = _Connection(next(self._conn_ids), ws, request.path, dict(request.query), time.perf_counter())
        if conn.query.get("compress") == "zlib-stream":
            conn.zlib = zlib.compressobj()
        self.connections.append(conn)
        self._live.add(conn)
        try:
            await self._gate.wait()
            if ws.closed:
                return ws
            await conn.send(
                _dumps(
                    {
                        "op": OP_HELLO,
                        "d": {
                            "heartbeat_interval": self.heartbeat_interval_ms,
                            "_trace": ["discord-standin"],
                        },
                        "s": None,
                        "t": None,
                    }
                )
            )
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    try:
                        frame = json.loads(msg.data)
                    except ValueError:
                        await self._close_ws(ws, CLOSE_DECODE_ERROR, b"Error while decoding payload.")
                        break
                    await self._on_frame(conn, frame)
                elif msg.type is WSMsgType.BINARY:
                    # Only JSON text frames are spoken here; ETF or compressed sends are a client bug.
                    await self._close_ws(ws, CLOSE_DECODE_ERROR, b"Error while decoding payload.")
                    break
        except (ConnectionError, RuntimeError):
            pass
        finally:
            self._live.discard(conn)
            conn.close_code = ws.close_code
            session = conn.session
            # A client closing with 1000/1001 ends its session, as on Discord; any other
            # way of losing the socket leaves it resumable.
            if session is not None and not conn.closed_by_server and ws.close_code in (1000, 1001):
                session.closed = True
            self._detach(conn)
            self._notify()
        return ws

    def _attach(self, conn: _Connection, session: GatewaySession, cursor: int) -> None:
        previous = session.connection
        if previous is not None and previous is not conn:
            # A RESUME while an old socket still carries the session: the old one is a zombie.
            previous.closed_by_server = True
            self._detach(previous)
            asyncio.get_running_loop().create_task(
                self._close_ws(previous.ws, 4000, b"session resumed elsewhere")
            )
        conn.session = session
        conn.cursor = cursor
        session.connection = conn
        conn.writer = asyncio.get_running_loop().create_task(self._writer(conn, session))

    def _detach(self, conn: _Connection) -> None:
        session = conn.session
        if session is not None and session.connection is conn:
            session.connection = None
        conn.session = None
        conn.wakeup.set()

    async def _writer(self, conn: _Connection, session: GatewaySession) -> None:
        # One writer per socket drains the session's frames in sequence order; a
        # cursor (not a queue) lets RESUME restart from any sequence number.
        ws = conn.ws
        try:
            while conn.session is session and not ws.closed:
                if conn.cursor < len(session.frames):
                    frame = session.frames[conn.cursor]
                    conn.cursor += 1
                    handle = frame.handle
                    if handle is not None:
                        now = time.perf_counter()
                        if handle.sent_at is None:
                            handle.sent_at = now
                        handle.deliveries.append(Delivery(session.id, frame.seq, conn.id, now))
                    await conn.send(frame.text)
                    if handle is not None:
                        self._notify()
                    continue
                conn.wakeup.clear()
                await conn.wakeup.wait()
        except (ConnectionError, RuntimeError):
            pass  # the socket went away; a RESUME will replay from the client's sequence

    async def _on_frame(self, conn: _Connection, frame: Any) -> None:
        op = frame.get("op") if isinstance(frame, dict) else None
        data = frame.get("d") if isinstance(frame, dict) else None
        self.gateway_received.append(GatewayFrame(op, data, time.perf_counter(), conn.id))
        if op == OP_HEARTBEAT:
            if self.ack_heartbeats:
                await conn.send(_dumps({"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None}))
        elif op == OP_IDENTIFY:
            await self._identify(conn, data or {})
        elif op == OP_RESUME:
            await self._resume(conn, data or {})
        elif op == OP_REQUEST_GUILD_MEMBERS:
            self._request_members(conn, data or {})
        elif op in (OP_PRESENCE_UPDATE, OP_VOICE_STATE_UPDATE):
            pass  # recorded above; nothing in the stand-in depends on them
        else:
            await self._close_ws(conn.ws, CLOSE_UNKNOWN_OPCODE, b"Unknown opcode.")
        self._notify()

    async def _identify(self, conn: _Connection, data: dict[str, Any]) -> None:
        if conn.session is not None:
            await self._close_ws(conn.ws, CLOSE_ALREADY_AUTHENTICATED, b"Already authenticated.")
            return
        if data.get("token") != self.token:
            await self._close_ws(conn.ws, CLOSE_AUTHENTICATION_FAILED, b"Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int):
            await self._close_ws(conn.ws, CLOSE_INVALID_INTENTS, b"Invalid intent(s).")
            return
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents:
            await self._close_ws(conn.ws, CLOSE_DISALLOWED_INTENTS, b"Disallowed intent(s).")
            return
        shard = data.get("shard") or [0, 1]
        session = GatewaySession(uuid.uuid4().hex, intents, data, (int(shard[0]), int(shard[1])))
        self.sessions.append(session)
        self.identifies.append(data)
        guilds = [g for g in self.guilds.values() if self._in_shard(g.id, session)]
        session.push(
            "READY",
            {
                "v": 10,
                "user": {**self.bot_user.payload(), "verified": True, "mfa_enabled": False, "email": None},
                "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
                "session_id": session.id,
                "session_type": "normal",
                "resume_gateway_url": self.resume_gateway_url,
                "shard": list(session.shard),
                "application": {"id": str(self.application_id), "flags": self._application_flags()},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "user_settings": {},
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "_trace": ["discord-standin"],
            },
        )
        for guild in guilds:
            session.push("GUILD_CREATE", self._guild_create_payload(guild, session))
        self._attach(conn, session, 0)

    async def _resume(self, conn: _Connection, data: dict[str, Any]) -> None:
        sid = data.get("session_id")
        seq = data.get("seq") or 0
        session = next((s for s in self.sessions if s.id == sid), None)
        if (
            conn.session is not None
            or session is None
            or session.closed
            or data.get("token") != self.token
            or not 0 <= seq <= session.seq
        ):
            self.resumes.append(ResumeRecord(sid, seq, False, 0, time.perf_counter()))
            # d=false: the session cannot be resumed, the client must IDENTIFY again.
            await conn.send(_dumps({"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None}))
            return
        replayed = session.seq - seq
        # Missed events come first, then RESUMED, then anything new: Discord's order.
        session.push("RESUMED", {"_trace": ["discord-standin"]})
        self._attach(conn, session, seq)
        self.resumes.append(ResumeRecord(sid, seq, True, replayed, time.perf_counter()))

    def _request_members(self, conn: _Connection, data: dict[str, Any]) -> None:
        session = conn.session
        guild = self.guilds.get(_as_int(data.get("guild_id")) or 0)
        if session is None or guild is None:
            return
        members = list(guild.members.values())
        not_found: list[str] = []
        if data.get("user_ids"):
            wanted = [int(u) for u in data["user_ids"]]
            not_found = [str(u) for u in wanted if u not in guild.members]
            members = [m for m in members if m.user_id in wanted]
        elif data.get("query"):
            query = str(data["query"]).lower()
            members = [
                m
                for m in members
                if self.users[m.user_id].name.lower().startswith(query)
                or (m.nick or "").lower().startswith(query)
            ]
        limit = data.get("limit") or 0
        if limit:
            members = members[:limit]
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": [m.payload(self.users[m.user_id]) for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if not_found:
            chunk["not_found"] = not_found
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        session.push("GUILD_MEMBERS_CHUNK", chunk)

    @staticmethod
    def _in_shard(guild_id: int, session: GatewaySession) -> bool:
        shard_id, count = session.shard
        return (guild_id >> 22) % max(count, 1) == shard_id

    def _application_flags(self) -> int:
        flags = 0
        if self.privileged_intents & INTENT_GUILD_PRESENCES:
            flags |= APP_FLAG_GATEWAY_PRESENCE
        if self.privileged_intents & INTENT_GUILD_MEMBERS:
            flags |= APP_FLAG_GATEWAY_GUILD_MEMBERS
        if self.privileged_intents & INTENT_MESSAGE_CONTENT:
            flags |= APP_FLAG_GATEWAY_MESSAGE_CONTENT
        return flags

    def _guild_payload(self, guild: Guild) -> dict[str, Any]:
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "roles": [r.payload() for r in guild.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "max_members": 500000,
            "max_video_channel_users": 25,
        }

    def _guild_create_payload(self, guild: Guild, session: GatewaySession) -> dict[str, Any]:
        data = self._guild_payload(guild)
        # Discord's rule: without GUILD_PRESENCES the member list holds only the bot
        # (and voice users); the rest come from member chunking or REST.
        if session.intents & INTENT_GUILD_PRESENCES:
            members = list(guild.members.values())
        else:
            members = [guild.members[self.bot_user.id]]
        data.update(
            joined_at=guild.joined_at,
            large=False,
            unavailable=False,
            member_count=len(guild.members),
            channels=[c.payload(include_guild_id=False) for c in guild.channels.values()],
            threads=[],
            members=[m.payload(self.users[m.user_id]) for m in members],
            voice_states=[],
            presences=[],
            stage_instances=[],
            guild_scheduled_events=[],
            soundboard_sounds=[],
        )
        return data
