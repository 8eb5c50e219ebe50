"""Hostile endpoints on loopback, started by the tests: servers that answer nothing, slowly or falsely.

:class:`Listener` is what every endpoint shares (a loopback socket, its accepting thread, closing
everything at the end); :func:`within` bounds every wait of a test on the code under test, so that
a test fails, never hangs, when that code does not return.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any


class Listener:
    """A TCP listener on ``address``; each connection is handed to ``serve`` in the accepting thread."""

    def __init__(self, address: str, port: int, serve: Callable[[socket.socket], Any]) -> None:
        self.stop = threading.Event()
        self.connections = 0
        self.open: list[Any] = []  # what close() closes: connections, and whatever serve adds (transports...)
        self._serve = serve
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((address, port))
        self._sock.listen(16)
        self.port: int = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            self.open.append(conn)
            self._serve(conn)

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):  # wakes the accepting thread: a closed fd alone keeps listening
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        for thing in self.open:
            if isinstance(thing, socket.socket):
                with contextlib.suppress(OSError):
                    thing.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(Exception):  # closing what a test left open, whatever its state
                thing.close()


def within(seconds: float, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a daemon thread: its value (or its exception, raised here); a test failure past ``seconds``."""
    box: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            box.append((True, fn(*args)))
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            box.append((False, exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert box, f"still waiting after {seconds:g} s"
    ok, value = box[0]
    if not ok:
        raise value
    return value
