"""Running commons-bot's Matrix adapter against the test Synapse, in-process or as a process.

`start_bot` wires a core (SQLite in the test's directory), a `Runtime` and a
`MatrixAdapter` on the test's event loop, exactly as ``commons-bot run`` does, so a test
can also move the core's clock. `BotProcess` runs the real ``commons-bot run`` in a
subprocess for the crash test. `room_with` and `Chat` are the human side.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from nio import InviteMemberEvent, MatrixRoom, RoomCreateResponse, RoomMemberEvent

from adapters.matrix import translate as tr
from adapters.matrix.adapter import MatrixAdapter
from bot.bootstrap import build_core
from bot.clock import Clock
from bot.config import Settings, parse_settings
from bot.runtime import Runtime
from bot.service.core import Core
from tests.matrix.clients import DEFAULT_WAIT, Person, unique_localpart
from tests.matrix.e2e import ENCRYPTION_STATE
from tests.matrix.synapse import SynapseServer

_env_ids = itertools.count(1)
REPO_ROOT = Path(__file__).resolve().parents[2]


def relates_to(event: Any) -> str | None:
    """The event id a message replies to (``m.in_reply_to``), or None."""
    content = (getattr(event, "source", None) or {}).get("content") or {}
    rel = content.get("m.relates_to") or {}
    return (rel.get("m.in_reply_to") or {}).get("event_id")


def content_of(event: Any) -> dict[str, Any]:
    """An event's (decrypted) content."""
    return (getattr(event, "source", None) or {}).get("content") or {}


@dataclass
class BotAccount:
    """The bot's Matrix account and the env variables its config points at."""

    user_id: str
    password: str
    env: dict[str, str]


async def register_bot(synapse: SynapseServer, prefix: str = "bot") -> BotAccount:
    """Register a bot user; its config reads homeserver, user and password from env vars."""
    password = "pw-" + unique_localpart("x")
    user = await synapse.register(unique_localpart(prefix), password)
    n = next(_env_ids)
    env = {f"CBT{n}_HOMESERVER": synapse.base_url, f"CBT{n}_USER_ID": user.user_id,
           f"CBT{n}_PASSWORD": password}
    return BotAccount(user.user_id, password, env)


def bot_config(account: BotAccount, db_url: str, store_path: Path, rooms: list[str], *,
               encryption: bool = False, maintainers: list[str] = (),  # type: ignore[assignment]
               foundation: list[str] = (), log_level: str = "INFO",  # type: ignore[assignment]
               **matrix: Any) -> dict[str, Any]:
    """The YAML-shaped config of a one-community Matrix bot."""
    names = list(account.env)
    return {
        "database_url": db_url,
        "log_level": log_level,
        "communities": [{
            "id": "demo", "name": "Demo commons",
            "roles": {"maintainer": [f"matrix:{m}" for m in maintainers],
                      "foundation": [f"matrix:{m}" for m in foundation]},
            "matrix": {"rooms": rooms, "power_levels": {"maintainer": 50}},
        }],
        "matrix": {
            "homeserver": "${" + names[0] + "}", "user_id": "${" + names[1] + "}",
            "password": "${" + names[2] + "}", "access_token": None,
            "store_path": str(store_path), "encryption": encryption, **matrix,
        },
    }


@dataclass
class RunningBot:
    """An in-process bot: core, runtime and adapter on the current event loop."""

    core: Core
    runtime: Runtime
    adapter: MatrixAdapter
    settings: Settings

    @property
    def user_id(self) -> str:
        """The bot's Matrix id."""
        return self.adapter.user_id

    async def aclose(self) -> None:
        """Stop the adapter and the runtime."""
        await self.adapter.stop()
        await self.runtime.close()
        self.core.engine.dispose()


async def start_bot(account: BotAccount, config: dict[str, Any], *, clock: Clock | None = None,
                    monkeypatch: Any) -> RunningBot:
    """Start the Matrix adapter in this process, as `commons-bot run` would."""
    for k, v in account.env.items():
        monkeypatch.setenv(k, v)
    settings = parse_settings(config, "test-config")
    core = await asyncio.to_thread(build_core, settings, clock)
    runtime = Runtime(core)
    adapter = MatrixAdapter(runtime, settings)
    await adapter.start()
    runtime.attach(adapter)
    return RunningBot(core, runtime, adapter, settings)


async def room_with(owner: Person, guests: list[Person], invite: list[str], *,
                    encrypted: bool = False, name: str = "commons") -> str:
    """Owner creates a room, invites guests (who join) and the bot ids in `invite`."""
    resp = await owner.client.room_create(
        name=name, invite=[g.user_id for g in guests] + invite,
        initial_state=[ENCRYPTION_STATE] if encrypted else [])
    assert isinstance(resp, RoomCreateResponse), resp
    room_id = resp.room_id
    for guest in guests:
        await guest.inbox.wait_for(
            lambda room, ev, g=guest: room.room_id == room_id and isinstance(ev, InviteMemberEvent)
            and ev.state_key == g.user_id, what=f"invite to {room_id}")
        joined = await guest.client.join(room_id)
        assert getattr(joined, "room_id", None) == room_id, joined
    for guest in guests:
        await wait_joined(owner, room_id, guest.user_id)
    return room_id


async def wait_joined(person: Person, room_id: str, user_id: str, timeout: float = DEFAULT_WAIT) -> None:  # noqa: ASYNC109
    """Wait until `person` has seen `user_id` join `room_id`."""
    await person.inbox.wait_for(
        lambda room, ev: room.room_id == room_id and isinstance(ev, RoomMemberEvent)
        and ev.state_key == user_id and ev.membership == "join",
        timeout, what=f"{user_id} joining {room_id}")


class Chat:
    """A person talking to the bot in one room: send a command, get the reply back."""

    def __init__(self, person: Person, room_id: str, bot_id: str) -> None:
        self.person = person
        self.room_id = room_id
        self.bot_id = bot_id

    def replies_to(self, event_id: str) -> Callable[[MatrixRoom, Any], bool]:
        """Predicate: the bot's reply to `event_id` in this room."""
        return lambda room, ev: (room.room_id == self.room_id and getattr(ev, "sender", None) == self.bot_id
                                 and relates_to(ev) == event_id)

    async def say(self, text: str, timeout: float = DEFAULT_WAIT) -> Any:  # noqa: ASYNC109
        """Send `text`; return the bot's reply event as the sender reads it.

        A private reply (a link code, `!whoami`, a refusal) to a command in a community room
        reaches the room only as `PRIVATE_POINTER`; the reply itself is then read from the
        sender's direct chat with the bot (joined if need be).
        """
        event_id = await self.person.send_text(self.room_id, text)
        _, reply = await self.person.inbox.wait_for(self.replies_to(event_id), timeout,
                                                    what=f"the bot's reply to {text!r}")
        if getattr(reply, "body", None) == tr.PRIVATE_POINTER:
            return await self.private_reply(event_id, timeout)
        return reply

    async def direct_chat(self, timeout: float = DEFAULT_WAIT) -> str:  # noqa: ASYNC109
        """Join the bot's direct chat with this person (once it invited them); its room id."""
        room, _ = await self.person.inbox.wait_for(
            lambda r, ev: isinstance(ev, InviteMemberEvent) and ev.sender == self.bot_id
            and ev.state_key == self.person.user_id, timeout, what="the bot's direct-chat invite")
        # Joining a room one is in already changes nothing.
        joined = await self.person.client.join(room.room_id)
        assert getattr(joined, "room_id", None) == room.room_id, joined
        return room.room_id

    async def private_reply(self, event_id: str, timeout: float = DEFAULT_WAIT) -> Any:  # noqa: ASYNC109
        """The bot's private reply, in the direct chat, to the command `event_id` in this room."""
        dm = await self.direct_chat(timeout)
        _, reply = await self.person.inbox.wait_for(
            lambda r, ev: r.room_id == dm and getattr(ev, "sender", None) == self.bot_id
            and content_of(ev).get(tr.PRIVATE_REPLY_KEY) == {"room_id": self.room_id, "event_id": event_id},
            timeout, what=f"the private reply to {event_id} in the direct chat")
        return reply

    async def ask(self, text: str, timeout: float = DEFAULT_WAIT) -> str:  # noqa: ASYNC109
        """Send `text`; return the body of the bot's reply."""
        return (await self.say(text, timeout)).body

    async def wait_bot(self, predicate: Callable[[Any], bool], what: str,
                       timeout: float = DEFAULT_WAIT) -> Any:  # noqa: ASYNC109
        """Wait for an event from the bot in this room that satisfies `predicate`."""
        _, ev = await self.person.inbox.wait_for(
            lambda room, ev: room.room_id == self.room_id and getattr(ev, "sender", None) == self.bot_id
            and predicate(ev), timeout, what=what)
        return ev


class BotProcess:
    """``commons-bot run --config FILE`` as a child process (for the crash test)."""

    def __init__(self, config_path: Path, env: dict[str, str], log_path: Path) -> None:
        self.config_path = config_path
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the bot process."""
        exe = Path(sys.executable).with_name("commons-bot")
        env = {**os.environ, **self.env}
        env.pop("COMMONS_DATABASE_URL", None)
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen([str(exe), "run", "--config", str(self.config_path)],
                                         stdout=out, stderr=subprocess.STDOUT, env=env,
                                         cwd=self.config_path.parent)

    def kill(self) -> None:
        """SIGKILL: no clean-up, no flush, as a crash."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> None:
        """Stop it cleanly if it still runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    @property
    def alive(self) -> bool:
        """Whether the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        """The process's output so far (for failure messages)."""
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""


def write_config(path: Path, config: dict[str, Any]) -> Path:
    """Write a config dict as YAML."""
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return path
