"""A stand-in for a Proxmox VE API on loopback: it answers the recorded JSON and checks the API token.

``recorded.json`` holds one answer per ``"METHOD /path"`` (below ``/api2/json``); a test copies
:data:`RECORDED` and changes what it needs. A request without the expected
``Authorization: PVEAPIToken=...`` header is answered 401, as Proxmox does; a path not recorded
is 501 (as pveproxy says of a method it does not implement); an answer recorded as
``{"status": 500, "reason": ...}`` is sent as that error (a guest agent that does not run). A test may
give a function instead of an answer: called with the request's form fields and query (each name to
its list of values), it returns the answer (``agent/exec``, which starts a process and says its pid).
"""

from __future__ import annotations

import copy
import json
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.standin import running

RECORDED: dict[str, Any] = json.loads((Path(__file__).parent / "recorded.json").read_text(encoding="utf-8"))
PREFIX = "/api2/json"


class StandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, answers: dict[str, Any], token: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers, self.token = answers, token
        self.seen: list[tuple[str, str]] = []  # (request line, Authorization header)


class _Handler(BaseHTTPRequestHandler):
    server: StandIn

    def _answer(self, method: str) -> None:
        auth = self.headers.get("Authorization", "")
        self.server.seen.append((f"{method} {self.path}", auth))
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if auth != f"PVEAPIToken={self.server.token}":
            return self._send(401, "authentication failure", {"data": None})
        answer = self.server.answers.get(f"{method} {path[len(PREFIX):]}") if path.startswith(PREFIX) else None
        if callable(answer):
            answer = answer(urllib.parse.parse_qs(body), urllib.parse.parse_qs(query))
        if answer is None:
            return self._send(501, f"Method '{method} {path}' not implemented", {"data": None})
        if "status" in answer:
            return self._send(answer["status"], answer["reason"], {"data": None})
        return self._send(200, "OK", answer)

    def _send(self, status: int, reason: str, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status, reason)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def log_message(self, *args: Any) -> None:
        pass


def recorded() -> dict[str, Any]:
    """A copy of the recorded answers, for a test to change."""
    return copy.deepcopy({k: v for k, v in RECORDED.items() if not k.startswith("_")})


@contextmanager
def serving(answers: dict[str, Any] | None = None, token: str = "grader@pve!audit=secret") -> Iterator[StandIn]:
    with running(StandIn(recorded() if answers is None else answers, token)) as server:
        yield server
