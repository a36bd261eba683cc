"""A real Synapse homeserver on loopback, for tests and benchmarks.

`SynapseServer` writes a hand-written ``homeserver.yaml`` (`tests.matrix.synapse_config`)
into a temporary directory, starts ``python -m synapse.app.homeserver`` from the separate
Synapse virtualenv (``SYNAPSE_PYTHON``, else ``<repo>/.venv-synapse/bin/python``)
and talks to it only over ``http://127.0.0.1:<free port>``. It is plain
asyncio + ``subprocess`` with no pytest in it, so ``bench/matrix_latency.py``
can use it too::

    async with SynapseServer() as server:
        alice = await server.register("alice", "secret")

Facts learned while building it (Synapse 1.163.2, Python 3.11, 2 cores):

- Start-up to the first answered ``/_matrix/client/versions`` takes 1.5-2.3 s
  on this 2-core machine when it is otherwise idle and up to ~4 s while other
  work runs; a fresh SQLite database costs ~0.2-0.5 s more than a restart
  (others have measured ~1.1 s). SIGTERM stops it in ~0.05 s.
  `SynapseServer.last_startup_seconds` records the figure of the latest start.
- Synapse would generate a missing signing key itself on start (its default
  ``--generate-missing-and-run`` mode), but an ed25519 signing key is nothing
  but 32 random bytes, so we write ``localhost.signing.key`` directly instead
  of paying another ~1 s interpreter start for ``--generate-keys``.
- "Ready" needs two checks: an answer on the port, and that the answer comes
  from *our* process. A server left over from an earlier run could answer on
  the port while our new process dies on "Address already in use". So
  `start` refuses a port that already accepts connections, watches that the
  child is still alive while polling, and finally reads a per-start nonce
  back from ``/.well-known/matrix/client`` (``extra_well_known_client_content``).
- nio retries every request that hits a connection error, forever, with
  back-off 0, 0.2, 0.4, 0.8, 1.6, 3.2 s ... capped by
  ``AsyncClientConfig.max_timeout_retry_wait_time`` (60 s by default; its log
  says "sleeping for 0s" because it formats the float with ``%d``). A client
  syncing across `restart` comes back by itself, 0-2 s after the server is
  ready; after a long outage the default cap means up to a minute, so the
  bot should lower it. A long-poll ``/sync`` cut by the restart answers again
  only when something happens (or after its ``timeout``), so wait on an
  event, not on "the next sync".
- The signing key, database and media store live in `workdir`, so `restart`
  keeps users, rooms, access tokens and sync tokens.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import hmac
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import aiohttp

from tests.matrix.synapse_config import HOST, NONCE_KEY, SERVER_NAME, write_config

REPO_ROOT = Path(__file__).resolve().parents[2]

# Children still running when the interpreter exits (a crashed test run, Ctrl-C in
# a bench) would otherwise outlive us and hold their port.
_live_processes: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_live_processes):
        if proc.poll() is None:
            proc.kill()


class SynapseStartError(RuntimeError):
    """Synapse could not be started, or did not become ready in time."""


@dataclass(frozen=True)
class RegisteredUser:
    """A user created through the shared-secret admin API.

    Attributes:
        user_id: The full Matrix id, e.g. ``@alice:localhost``.
        access_token: A token for a device created by the registration.
        device_id: That device's id.
        password: The password the user can log in with.
    """

    user_id: str
    access_token: str
    device_id: str
    password: str


def default_synapse_python() -> Path:
    """Return the interpreter that has Synapse installed.

    Returns:
        ``$SYNAPSE_PYTHON`` if set, else ``<repo>/.venv-synapse/bin/python``
        (what ``make synapse`` creates).
    """
    configured = os.environ.get("SYNAPSE_PYTHON")
    if configured:
        return Path(configured)
    return REPO_ROOT / ".venv-synapse" / "bin" / "python"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _port_accepts_connections(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class SynapseServer:
    """One Synapse homeserver process with its data in a temporary directory.

    The server keeps its port and data across `stop`/`start`/`restart`, so a
    test can restart the homeserver under a connected client. All methods may
    be awaited from any event loop: the object holds no loop-bound resources
    between calls (the child is a plain `subprocess.Popen`).

    Args:
        python: Interpreter with ``matrix-synapse`` installed; defaults to
            `default_synapse_python`.
        startup_timeout: Seconds `start` waits for the server to answer.
        port: Loopback port for the client listener; a free one if not given.
        workdir: Directory for config, database, keys, media and logs. A fresh
            temporary directory (removed by `aclose`) if not given.
    """

    def __init__(
        self,
        python: str | os.PathLike[str] | None = None,
        *,
        startup_timeout: float = 60.0,
        port: int | None = None,
        workdir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.python = Path(python) if python is not None else default_synapse_python()
        self.startup_timeout = startup_timeout
        self._own_workdir = workdir is None
        self._workdir = Path(workdir) if workdir is not None else None
        self._port = port
        self._proc: subprocess.Popen[bytes] | None = None
        # Fixed for the object's life so that a restart keeps every secret (and
        # what was derived from it) the same.
        self._shared_secret = secrets.token_hex(32)
        self._macaroon_secret = secrets.token_hex(32)
        self._form_secret = secrets.token_hex(32)
        self._nonce = ""
        self.last_startup_seconds: float | None = None
        """How long the latest `start` took until the server answered, in seconds."""

    @property
    def server_name(self) -> str:
        """The homeserver's name, the part after ``:`` in user ids."""
        return SERVER_NAME

    @property
    def port(self) -> int:
        """The loopback port of the client listener (fixed at first `start`)."""
        if self._port is None:
            raise RuntimeError("the server has not been started yet")
        return self._port

    @property
    def base_url(self) -> str:
        """The homeserver URL for clients, e.g. ``http://127.0.0.1:41234``."""
        return f"http://{HOST}:{self.port}"

    @property
    def workdir(self) -> Path:
        """The directory holding config, database, signing key, media and logs."""
        if self._workdir is None:
            raise RuntimeError("the server has not been started yet")
        return self._workdir

    @property
    def log_path(self) -> Path:
        """Synapse's own log file (warnings and errors only)."""
        return self.workdir / "homeserver.log"

    @property
    def running(self) -> bool:
        """Whether the Synapse process is alive."""
        return self._proc is not None and self._proc.poll() is None

    async def start(self) -> None:
        """Start Synapse and wait until it answers on `base_url`.

        The first call creates the working directory, picks a free port and
        writes the configuration; later calls reuse all three.

        Raises:
            SynapseStartError: The interpreter is missing, the port is taken,
                the process exited, or it did not answer within
                ``startup_timeout`` seconds. The message carries the log tail.
        """
        if self.running:
            raise RuntimeError("Synapse is already running")
        if not self.python.exists():
            raise SynapseStartError(
                f"no Synapse interpreter at {self.python}: run `make synapse` or set SYNAPSE_PYTHON"
            )
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="synapse-"))
        if self._port is None:
            self._port = _free_port()
        if _port_accepts_connections(self._port):
            raise SynapseStartError(f"port {self._port} is already in use by another process")
        # A fresh nonce per start proves the answer comes from this very process.
        self._nonce = secrets.token_hex(16)
        config_path = self._write_config()

        started = time.monotonic()
        self._proc = self._spawn(config_path)
        try:
            await self._wait_until_ready(started + self.startup_timeout)
        except BaseException:
            await self.stop()
            raise
        self.last_startup_seconds = time.monotonic() - started

    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Stop Synapse: SIGTERM, then SIGKILL if it has not exited in time.

        Args:
            timeout: Seconds to wait after SIGTERM before sending SIGKILL.
        """
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            if not await self._wait_exit(proc, timeout):
                proc.kill()
                await self._wait_exit(proc, timeout)
        _live_processes.discard(proc)
        self._proc = None

    async def restart(self) -> None:
        """Stop and start Synapse again on the same port with the same data.

        Raises:
            SynapseStartError: As for `start`.
        """
        await self.stop()
        await self.start()

    async def aclose(self) -> None:
        """Stop Synapse and delete the working directory if this object created it."""
        await self.stop()
        if self._own_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def register(self, localpart: str, password: str, admin: bool = False) -> RegisteredUser:
        """Create a user through the shared-secret admin API.

        This is ``/_synapse/admin/v1/register``: fetch a nonce, then post the
        user with an HMAC-SHA1 over nonce, name, password and admin flag keyed
        by ``registration_shared_secret``. Open registration stays disabled.

        Args:
            localpart: The user name without ``@`` and server, e.g. ``alice``.
            password: The password to set.
            admin: Whether the user is a server admin.

        Returns:
            The new user's id, access token, device id and password.

        Raises:
            RuntimeError: Synapse refused the registration (e.g. the name is taken).
        """
        url = f"{self.base_url}/_synapse/admin/v1/register"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            async with http.get(url) as response:
                response.raise_for_status()
                nonce = (await response.json())["nonce"]
            mac = hmac.new(self._shared_secret.encode(), digestmod=hashlib.sha1)
            mac.update(
                b"\x00".join(
                    [
                        nonce.encode(),
                        localpart.encode(),
                        password.encode(),
                        b"admin" if admin else b"notadmin",
                    ]
                )
            )
            body = {
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            }
            async with http.post(url, json=body) as response:
                answer = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"registering {localpart!r} failed: {answer}")
        return RegisteredUser(
            user_id=answer["user_id"],
            access_token=answer["access_token"],
            device_id=answer["device_id"],
            password=password,
        )

    def _spawn(self, config_path: Path) -> subprocess.Popen[bytes]:
        # A plain Popen (fork+exec, a few ms) rather than
        # asyncio.create_subprocess_exec: an asyncio child is bound to the loop
        # that started it, but a session fixture starts the server on one loop
        # and a test restarts it from another.
        with open(self.workdir / "synapse.out", "ab") as output:
            proc = subprocess.Popen(
                [str(self.python), "-m", "synapse.app.homeserver", "-c", str(config_path)],
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        _live_processes.add(proc)
        return proc

    def _write_config(self) -> Path:
        return write_config(self.workdir, port=self.port, base_url=self.base_url,
                            log_path=self.log_path, shared_secret=self._shared_secret,
                            macaroon_secret=self._macaroon_secret, form_secret=self._form_secret,
                            nonce=self._nonce)

    async def _wait_until_ready(self, deadline: float) -> None:
        assert self._proc is not None
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while True:
                if self._proc.poll() is not None:
                    raise SynapseStartError(
                        f"Synapse exited with code {self._proc.returncode} during start-up\n{self._logs()}"
                    )
                if time.monotonic() > deadline:
                    raise SynapseStartError(
                        f"Synapse did not answer within {self.startup_timeout} s\n{self._logs()}"
                    )
                try:
                    async with http.get(f"{self.base_url}/_matrix/client/versions") as resp:
                        if resp.status == 200:
                            break
                except (aiohttp.ClientError, TimeoutError):
                    pass
                # Polling is the only readiness signal Synapse offers; 50 ms keeps
                # the overshoot small against a ~2 s start.
                await asyncio.sleep(0.05)

            async with http.get(f"{self.base_url}/.well-known/matrix/client") as resp:
                well_known = await resp.json() if resp.status == 200 else {}
        if well_known.get(NONCE_KEY) != self._nonce or self._proc.poll() is not None:
            raise SynapseStartError(
                f"something else answers on port {self.port}, not the Synapse just started\n{self._logs()}"
            )

    @staticmethod
    async def _wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> bool:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            if time.monotonic() > deadline:
                return False
            # Popen has no awaitable wait (see _spawn for why it is a Popen).
            await asyncio.sleep(0.02)
        return True

    def _logs(self) -> str:
        return (
            f"--- {self.workdir / 'synapse.out'} ---\n{_tail(self.workdir / 'synapse.out')}\n"
            f"--- {self.log_path} ---\n{_tail(self.log_path)}"
        )
