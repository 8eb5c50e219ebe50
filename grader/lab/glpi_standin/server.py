"""A stand-in for GLPI's REST API (``apirest.php``) on loopback, seeded from ``seed.json``.

GLPI is not packaged in Debian: the demo room's GLPI is this stand-in (:mod:`grader.lab.glpi`), and the
tests play the real exchanges against it (``tests/test_helpdesk_glpi.py``).

It answers the exchanges of apirest.md as GLPI does: ``initSession`` checks the ``App-Token`` header
(missing: 400 ``ERROR_APP_TOKEN_PARAMETERS_MISSING``; wrong: 400 ``ERROR_WRONG_APP_TOKEN_PARAMETER``, as
GLPI's ``API::initSession`` answers) and ``Authorization: user_token ...`` (wrong: 401
``ERROR_GLPI_LOGIN_USER_TOKEN``) and hands out a session token; every other endpoint wants a known
``Session-Token`` (missing: 400 ``ERROR_SESSION_TOKEN_MISSING``; unknown or expired: 401
``ERROR_SESSION_TOKEN_INVALID``); ``killSession`` forgets it. ``search/:itemtype`` filters the seeded
items with its ``criteria`` (``contains`` on search options 1 and 21) and answers
``{"totalcount", "count", "data": [{"1": ..., "2": ...}]}`` (200, 206 when the range cuts);
``:itemtype/:id`` and ``:itemtype/:id/:sub_itemtype`` answer the seeded rows (404
``ERROR_ITEM_NOT_FOUND``; 403 ``ERROR_RIGHT_MISSING`` for an itemtype listed in ``_denied``).
Errors are GLPI's JSON arrays ``["ERROR_CODE", "message"]``.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from grader.lab.standin import running

SEED: dict[str, Any] = json.loads((Path(__file__).parent / "seed.json").read_text(encoding="utf-8"))
PATH = "/apirest.php"
#: The foreign key by which a sub-itemtype points to its parent (else ``itemtype``/``items_id``).
PARENT_KEY = {"Ticket": "tickets_id", "KnowbaseItem": "knowbaseitems_id", "Computer": "computers_id"}
#: Search options the stand-in filters on: 1 the name, 21 a ticket's description.
FIELDS = {"1": "name", "21": "content"}


def seed() -> dict[str, Any]:
    """A copy of the seeded GLPI, for a test to change."""
    return copy.deepcopy(SEED)


class StandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, data: dict[str, Any], address: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        super().__init__(address, _Handler)
        self.data = data
        self.sessions: set[str] = set()
        self.killed: list[str] = []
        self.seen: list[tuple[str, dict[str, str]]] = []  # (request line, headers)
        #: After this many requests in a session, GLPI forgets it (an expired session); None: never.
        self.expire_after: int | None = None
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    server: StandIn

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.seen.append((f"GET {self.path}", dict(self.headers.items())))
            status, body = self._answer()
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self) -> tuple[int, Any]:
        data = self.server.data
        url = urllib.parse.urlsplit(self.path)
        if not url.path.startswith(PATH + "/"):
            return 404, ["ERROR_RESOURCE_NOT_FOUND_NOR_COMMONDBTM", "resource not found"]
        parts = [p for p in url.path[len(PATH) + 1:].split("/") if p]
        query = dict(urllib.parse.parse_qsl(url.query))
        app = self.headers.get("App-Token")
        if data.get("_app_token"):
            if app is None:
                return 400, ["ERROR_APP_TOKEN_PARAMETERS_MISSING", "missing parameter app_token"]
            if app != data["_app_token"]:
                return 400, ["ERROR_WRONG_APP_TOKEN_PARAMETER", "parameter app_token seems wrong"]
        if parts == ["initSession"]:
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("user_token "):
                return 400, ["ERROR_LOGIN_PARAMETERS_MISSING", "parameter(s) login, password or user_token are missing"]
            if auth[len("user_token "):] != data["_user_token"]:
                return 401, ["ERROR_GLPI_LOGIN_USER_TOKEN", "parameter user_token seems invalid"]
            token = secrets.token_hex(20)
            self.server.sessions.add(token)
            return 200, {"session_token": token}
        token = self.headers.get("Session-Token") or ""
        if not token:
            return 400, ["ERROR_SESSION_TOKEN_MISSING", "parameter session_token is missing or empty"]
        in_session = sum(1 for line, h in self.server.seen if h.get("Session-Token") == token)
        if self.server.expire_after is not None and in_session > self.server.expire_after:
            self.server.sessions.discard(token)
        if token not in self.server.sessions:
            return 401, ["ERROR_SESSION_TOKEN_INVALID", "session_token seems invalid"]
        if parts == ["killSession"]:
            self.server.sessions.discard(token)
            self.server.killed.append(token)
            return 200, True
        if parts == ["getFullSession"]:
            sign = -1 if data["_timezone"].startswith("-") else 1
            hours, minutes = data["_timezone"][1:].split(":")
            local = datetime.now(UTC) + sign * timedelta(hours=int(hours), minutes=int(minutes))
            return 200, {"session": {"glpi_currenttime": local.strftime("%Y-%m-%d %H:%M:%S"),
                                     "glpiname": data["_login"], "glpiactiveprofile": {"name": "Lecture API"}}}
        if len(parts) == 2 and parts[0] == "search":
            return self._search(parts[1], query)
        if parts and parts[0] in data.get("_denied", ()):
            return 403, ["ERROR_RIGHT_MISSING", "You don't have permission to perform this action."]
        if len(parts) == 2:
            item = (data.get(parts[0]) or {}).get(parts[1]) if isinstance(data.get(parts[0]), dict) else None
            if item is None:
                return 404, ["ERROR_ITEM_NOT_FOUND", "Item not found"]
            return 200, item
        if len(parts) == 3:
            parent, ident, sub = parts[0], int(parts[1]), parts[2]
            if sub in data.get("_denied", ()):
                return 403, ["ERROR_RIGHT_MISSING", "You don't have permission to perform this action."]
            if str(ident) not in (data.get(parent) or {}):
                return 404, ["ERROR_ITEM_NOT_FOUND", "Item not found"]
            rows = data.get(sub)
            if not isinstance(rows, list):
                return 400, ["ERROR_ITEMTYPE_NOT_FOUND_NOR_COMMONDBTM", f"{sub} is not a sub itemtype"]
            key = PARENT_KEY.get(parent)
            return 200, [r for r in rows if (key and r.get(key) == ident)
                         or (r.get("itemtype") == parent and r.get("items_id") == ident)]
        return 400, ["ERROR_ITEMTYPE_NOT_FOUND_NOR_COMMONDBTM", "resource not found"]

    def _search(self, itemtype: str, query: dict[str, str]) -> tuple[int, Any]:
        items = self.server.data.get(itemtype)
        if not isinstance(items, dict):
            return 400, ["ERROR_ITEMTYPE_NOT_FOUND_NOR_COMMONDBTM", "resource not found"]
        rows = [i for i in items.values() if not i.get("is_deleted")]
        n = 0
        while f"criteria[{n}][field]" in query:
            field = FIELDS.get(query[f"criteria[{n}][field]"])
            value = query.get(f"criteria[{n}][value]", "").casefold()
            if field is None or query.get(f"criteria[{n}][searchtype]") != "contains":
                return 400, ["ERROR_BAD_ARRAY", "the stand-in searches option 1 and 21 with contains only"]
            rows = [r for r in rows if value in str(r.get(field, "")).casefold()]
            n += 1
        start, _, end = query.get("range", "0-49").partition("-")
        shown = rows[int(start):int(end) + 1]
        if not rows:
            return 200, {"totalcount": 0, "count": 0, "sort": 1, "order": "ASC"}
        return (206 if len(shown) < len(rows) else 200), {
            "totalcount": len(rows), "count": len(shown), "sort": 1, "order": "ASC",
            "data": [{"1": r.get("name"), "2": r["id"], "80": "Entité racine"} for r in shown]}


@contextmanager
def serving(data: dict[str, Any] | None = None) -> Iterator[StandIn]:
    with running(StandIn(seed() if data is None else data)) as server:
        yield server
