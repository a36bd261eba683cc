"""A visitor's probes of our HTTP listeners by hand: raw requests over a real socket (an
oversized request line, garbage, a stream dropped mid-way) and the log they leave."""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

SECURITY = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


@dataclass
class Answer:
    """What came back on the socket."""

    status: int
    headers: dict[str, str]  # names as sent; a repeated header keeps its last value
    body: str


def _parse(data: bytes) -> Answer:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    return Answer(int(lines[0].split()[1]), headers, body.decode("utf-8", "replace"))


def raw(port: int, data: bytes) -> Answer:
    """Send `data` as it is and read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return _parse(b"".join(chunks))


def get(port: int, target: str, host: str = "127.0.0.1") -> Answer:
    """A plain GET of `target` (sent as it is, unencoded), the connection closed after."""
    return raw(port, f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())


def open_then_drop(port: int, target: str) -> Answer:
    """Open a stream, read its headers, then reset the connection as a closed tab does."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
        # Linger 0: the close is a reset, at once.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        s.close()
    return _parse(data)


def assert_secured(answer: Answer, what: str) -> None:
    """The security headers every answer of ours carries."""
    csp = answer.headers.get("Content-Security-Policy", "")
    assert "default-src 'none'" in csp and "script-src 'unsafe" not in csp, (what, answer.headers)
    for name, value in SECURITY.items():
        assert answer.headers.get(name) == value, (what, name, answer.headers)


class LogWatch(logging.Handler):
    """Every record logged while it is attached, from any thread, and a way to wait for some."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._changed:
            self.records.append(record)
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[list[logging.LogRecord]], bool], timeout: float = 10) -> bool:
        """Whether `predicate(records)` came true within `timeout` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self.records), timeout)

    def count(self, logger: str, text: str) -> int:
        """Records of `logger` (or its children) whose message holds `text`."""
        return sum(1 for r in list(self.records)
                   if (r.name == logger or r.name.startswith(logger + ".")) and text in r.getMessage())

    def problems(self) -> list[str]:
        """Records at WARNING or above, and any record carrying a traceback."""
        return [f"{r.levelname} {r.name}: {r.getMessage()[:200]}" for r in list(self.records)
                if r.levelno >= logging.WARNING or r.exc_info or r.exc_text]


@contextmanager
def watching_log(*loggers: str) -> Iterator[LogWatch]:
    """Record everything, down to DEBUG for `loggers`, while the block runs."""
    watch = LogWatch()
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in loggers}
    root.addHandler(watch)
    for name in loggers:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield watch
    finally:
        root.removeHandler(watch)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
