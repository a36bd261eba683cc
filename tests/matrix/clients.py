"""matrix-nio clients that act as the humans talking to the bot in tests.

`new_client` registers a fresh user on a `SynapseServer` and logs it in;
`Person` adds a background sync loop and an `Inbox` that a test waits on
(``await alice.inbox.wait_for(...)``) instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    Event,
    InviteEvent,
    LoginResponse,
    MatrixRoom,
    RoomSendResponse,
    SyncResponse,
)

from tests.matrix.e2e import prepare_to_send, upload_device_keys
from tests.matrix.synapse import SynapseServer

DEFAULT_WAIT = 15.0
"""Seconds a test waits for something to arrive before it fails."""

Predicate = Callable[[MatrixRoom, Any], bool]


def unique_localpart(prefix: str = "user") -> str:
    """Return a user name no other test has used, e.g. ``alice-3f9c2a1b``.

    Args:
        prefix: Readable start of the name (lower case, digits, ``-._=/``).
    """
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def client_config(*, encryption: bool) -> AsyncClientConfig:
    """The nio configuration used for test clients.

    Args:
        encryption: Whether the client does end-to-end encryption (needs a store).
    """
    return AsyncClientConfig(
        encryption_enabled=encryption,
        store_sync_tokens=True,
        # nio sleeps and retries on 429 forever by default; a test should see a
        # rate limit as an error, not as a mysteriously slow test.
        max_limit_exceeded=0,
    )


async def new_client(
    server: SynapseServer,
    prefix: str = "user",
    *,
    store_dir: Path | None = None,
) -> AsyncClient:
    """Register a fresh user and return a nio client logged in as that user.

    Args:
        server: The running homeserver.
        prefix: Start of the user name; a unique suffix is added.
        store_dir: Where nio keeps the device's encryption keys. Given: the
            client does end-to-end encryption and its keys are uploaded
            before this returns. None: no encryption.

    Returns:
        The logged-in client. The caller closes it with ``await client.close()``.

    Raises:
        RuntimeError: Registration or login failed.
    """
    localpart = unique_localpart(prefix)
    password = uuid.uuid4().hex
    user = await server.register(localpart, password)
    if store_dir is not None:
        await asyncio.to_thread(store_dir.mkdir, parents=True, exist_ok=True)
    client = AsyncClient(
        server.base_url,
        user.user_id,
        store_path=str(store_dir) if store_dir is not None else "",
        config=client_config(encryption=store_dir is not None),
    )
    # A password login, as a person or the bot would do it, rather than reusing
    # the registration's token: it exercises /login and its rate limiter.
    response = await client.login(password, device_name=prefix)
    if not isinstance(response, LoginResponse):
        await client.close()
        raise RuntimeError(f"login of {user.user_id} failed: {response}")
    if store_dir is not None:
        await upload_device_keys(client)
    return client


class Inbox:
    """Every room event (and invite) a client's sync delivers, for tests to wait on.

    Args:
        client: The client whose sync loop feeds the inbox.
    """

    def __init__(self, client: AsyncClient) -> None:
        self.received: list[tuple[MatrixRoom, Any]] = []
        self._waiters: list[tuple[Predicate, asyncio.Future[tuple[MatrixRoom, Any]]]] = []
        client.add_event_callback(self._on_event, (Event, InviteEvent))

    async def _on_event(self, room: MatrixRoom, event: Any) -> None:
        self.received.append((room, event))
        for predicate, future in self._waiters:
            if not future.done() and predicate(room, event):
                future.set_result((room, event))

    async def wait_for(
        self,
        predicate: Predicate,
        timeout: float = DEFAULT_WAIT,  # noqa: ASYNC109
        what: str = "a matching event",
    ) -> tuple[MatrixRoom, Any]:
        """Return the first received ``(room, event)`` that satisfies ``predicate``.

        Events that arrived before the call count too, so a test cannot miss
        one by asking late.

        Args:
            predicate: Called with ``(room, event)``.
            timeout: Seconds to wait.
            what: Description for the failure message.

        Raises:
            AssertionError: Nothing matching arrived in time; lists what did.
        """
        for room, event in self.received:
            if predicate(room, event):
                return room, event
        future: asyncio.Future[tuple[MatrixRoom, Any]] = asyncio.get_running_loop().create_future()
        waiter = (predicate, future)
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            seen = [f"{type(e).__name__} in {r.room_id}" for r, e in self.received[-10:]]
            raise AssertionError(f"no {what} within {timeout} s; last received: {seen}") from None
        finally:
            self._waiters.remove(waiter)

    async def wait_for_text(
        self,
        room_id: str,
        body: str,
        timeout: float = DEFAULT_WAIT,  # noqa: ASYNC109
    ) -> Any:
        """Wait for a text message with exactly ``body`` in ``room_id``.

        Returns:
            The ``RoomMessageText`` event (decrypted if the room is encrypted).
        """
        _, event = await self.wait_for(
            lambda room, event: room.room_id == room_id and getattr(event, "body", None) == body,
            timeout,
            what=f"message {body!r} in {room_id}",
        )
        return event


class Person:
    """A logged-in client with a running sync loop and an `Inbox`.

    Args:
        client: A logged-in client; `Person` takes ownership and closes it.
    """

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.inbox = Inbox(client)
        self.sync_task: asyncio.Task[None] | None = None

    @property
    def user_id(self) -> str:
        """The person's Matrix id."""
        return self.client.user_id

    async def start_syncing(self, timeout: float = DEFAULT_WAIT) -> None:  # noqa: ASYNC109
        """Run ``sync_forever`` in the background and wait for its first sync.

        Args:
            timeout: Seconds to wait for the first sync.
        """
        first_sync: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def on_sync(_response: SyncResponse) -> None:
            if not first_sync.done():
                first_sync.set_result(None)

        self.client.add_response_callback(on_sync, SyncResponse)
        self.sync_task = asyncio.create_task(
            self.client.sync_forever(timeout=30_000), name=f"sync {self.user_id}"
        )
        await asyncio.wait_for(first_sync, timeout)

    async def send_text(self, room_id: str, body: str) -> str:
        """Send a plain-text message, encrypted if the room is (see `tests.matrix.e2e`).

        Returns:
            The event id.

        Raises:
            RuntimeError: The homeserver refused the message.
        """
        await prepare_to_send(self.client, room_id)
        response = await self.client.room_send(
            room_id,
            "m.room.message",
            {"msgtype": "m.text", "body": body},
            ignore_unverified_devices=True,
        )
        if not isinstance(response, RoomSendResponse):
            raise RuntimeError(f"{self.user_id} could not send to {room_id}: {response}")
        return response.event_id

    async def aclose(self) -> None:
        """Stop the sync loop and close the client's HTTP session."""
        if self.sync_task is not None:
            self.sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.sync_task
        await self.client.close()


MakePerson = Callable[..., Awaitable[Person]]
"""Type of the ``make_person`` fixture: ``await make_person("alice", e2e=True)``."""
