"""Serving a stand-in (a ``socketserver`` answering a real protocol) on its own thread, for a ``with`` block.

Shared by the demo room's GLPI (:mod:`grader.lab.glpi`) and the tests' REST stand-ins: the socket is
always closed when the block ends, so nothing is left listening.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import BaseServer
from typing import TypeVar

Server = TypeVar("Server", bound=BaseServer)


@contextmanager
def running(server: Server) -> Iterator[Server]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
