"""End-to-end encryption with matrix-nio 0.26 (vodozemac): the recipe.

Proven against the real Synapse in ``test_synapse_harness.py``. The bot's
Matrix adapter needs exactly the same steps:

1. **Crypto backend.** ``matrix-nio[e2e]`` 0.26 uses vodozemac (a Rust wheel,
   no libolm to compile). ``nio.crypto.ENCRYPTION_ENABLED`` is True when it
   imports; without it ``AsyncClientConfig(encryption_enabled=True)`` raises
   ``ImportWarning``.
2. **A store per device, or no encryption at all.** Gotcha: nio's default
   config has ``encryption_enabled=True``, but a client built *without*
   ``store_path`` silently gets no Olm machine (``client.olm is None``) and
   ``room_send`` then posts **plaintext** ``m.room.message`` into encrypted
   rooms (checked against this Synapse). Check ``client.olm`` after login
   (`require_encryption`). With a store: ``AsyncClient(..., store_path=DIR,
   config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True))``.
   ``DIR`` must exist; nio opens ``DIR/<user_id>_<device_id>.db`` (SQLite) at
   ``login()``/``restore_login()``. That file holds the device's Olm identity:
   a process that logs in again with a password gets a *new* device that every
   peer must discover and the old keys are useless. A bot must persist
   ``device_id`` + ``access_token`` and call ``restore_login()`` with the same
   store on every start.
3. **Upload keys right after login.** ``if client.should_upload_keys: await
   client.keys_upload()`` (`upload_device_keys`). ``sync_forever`` would do it
   too, but only after its first sync; until the keys are on the server
   nobody can encrypt to the device and messages sent meanwhile stay
   undecryptable for it.
4. **Keep ``sync_forever()`` running.** After every sync it sends queued
   to-device messages, uploads fresh one-time keys, queries changed device
   lists and claims one-time keys. A hand-written ``sync()`` loop must do the
   same (see ``AsyncClient.sync_forever``).
5. **Send with ``ignore_unverified_devices=True``.** Without it
   ``room_send`` raises ``OlmUnverifiedDeviceError`` at the first device that
   is not verified, and a bot cannot verify interactively. The flag marks the
   devices *ignored* (trust on first use): they get the room key, they are not
   "verified". Before sending, ``if client.should_query_keys: await
   client.keys_query()`` (`prepare_to_send`): ``sync_forever`` queries the
   devices of people who just appeared in a background task *after* the sync
   that showed them, so a reply sent right then could be shared with no device
   of theirs. (In our runs that task always won the race, so this step closes
   a window rather than fixing an observed failure.) The room must already
   be in ``client.rooms`` (synced), else ``room_send`` raises
   ``LocalProtocolError``.
6. **Receiving.** Decrypted messages arrive as ordinary ``RoomMessageText``
   with ``event.decrypted`` True. Undecryptable ones arrive as ``MegolmEvent``.
   Expected case: someone who joins sees the room's earlier history as
   ``MegolmEvent`` (they had no keys then); an adapter should log and skip
   them, never treat them as commands.
7. **Reactions are not encrypted.** nio sends ``m.reaction`` in clear text
   even in an encrypted room (``room_send`` skips encryption for it), so a
   reaction-based choice leaks who chose what to the homeserver.
"""

from __future__ import annotations

from typing import Any

from nio import AsyncClient, KeysUploadResponse

MEGOLM_ALGORITHM = "m.megolm.v1.aes-sha2"

ENCRYPTION_STATE: dict[str, Any] = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": MEGOLM_ALGORITHM},
}
"""Pass in ``room_create(initial_state=[ENCRYPTION_STATE])`` to create an encrypted room."""


def require_encryption(client: AsyncClient) -> None:
    """Fail loudly if nio would send plaintext into encrypted rooms (recipe step 2).

    Args:
        client: A logged-in client.

    Raises:
        RuntimeError: The client has no Olm machine (no store or no vodozemac).
    """
    if client.olm is None:
        raise RuntimeError(
            f"{client.user_id} has no end-to-end encryption: give AsyncClient a "
            "store_path and install matrix-nio[e2e]"
        )


async def upload_device_keys(client: AsyncClient) -> None:
    """Publish the device's identity and one-time keys (recipe step 3).

    Args:
        client: A logged-in client with ``encryption_enabled`` and a store.

    Raises:
        RuntimeError: The client cannot encrypt, or the homeserver refused the upload.
    """
    require_encryption(client)
    if client.should_upload_keys:
        response = await client.keys_upload()
        if not isinstance(response, KeysUploadResponse):
            raise RuntimeError(f"keys_upload failed: {response}")


async def prepare_to_send(client: AsyncClient, room_id: str) -> None:
    """Make sure every member's devices are known before encrypting (recipe step 5).

    Does nothing for a room that is not encrypted.

    Args:
        client: A logged-in, syncing client.
        room_id: The room about to be sent to.
    """
    room = client.rooms.get(room_id)
    if room is not None and room.encrypted and client.should_query_keys:
        await client.keys_query()
