"""Serving the view: loopback without a password, any other address behind a token.

Why the standard library's threaded WSGI server (through werkzeug's ``make_server``) and not
a production server: the view runs on the jury's or the proctor's own machine for a few
people at a time, reads a local SQLite file, and must start with one command and no
configuration. Each request runs in its own thread; the store serialises its own access.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler
from werkzeug.serving import make_server as wsgi_server

from grader.web.app import WebConfig, create_app

TOKEN_ENV = "GRADER_WEB_TOKEN"


def is_loopback(host: str) -> bool:
    """``127.0.0.0/8``, ``::1`` and ``localhost``: only this machine can connect."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def loopback_hosts(host: str, port: int) -> frozenset[str]:
    """The ``Host`` headers a browser on this machine sends for the bound port."""
    bare = host.strip("[]").lower()
    names = {"127.0.0.1", "localhost", "[::1]", f"[{bare}]" if ":" in bare else bare}
    return frozenset(f"{name}:{port}" for name in names)


def access_token(host: str, token: str | None = None) -> str | None:
    """None on loopback (no login there); elsewhere ``token``, else ``GRADER_WEB_TOKEN``, else a new random one."""
    if is_loopback(host):
        return None
    return token or os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(24)


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket; binding ourselves keeps a busy port an ``OSError`` (werkzeug would exit the process)."""
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET  # as werkzeug's select_address_family
    address = socket.getaddrinfo(bare or None, port, family, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)[0][4]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


class _QuietHandler(WSGIRequestHandler):
    """No line per request on the proctor's terminal (the token would be in the first one); errors still are."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class Served:
    """A bound server: ``server.serve_forever()`` runs it (``shutdown()`` from another thread stops it)."""

    server: BaseWSGIServer
    url: str
    token: str | None
    config: WebConfig

    def close(self) -> None:
        self.server.server_close()
        self.server.app.extensions["grader"]["stores"].close()  # type: ignore[attr-defined]


def make_server(root: Path, *, host: str = "127.0.0.1", port: int = 8765, lang: str = "fr",
                token: str | None = None) -> Served:
    """Bind the view of ``root`` (port 0: any free port). A token is required unless ``host`` is loopback.

    :param token: the access token for a non-loopback address (default: ``GRADER_WEB_TOKEN``,
        else a new random one); ignored on loopback.
    :raises OSError: the address or port cannot be bound (in use, not an address of this machine...).
    """
    loopback = is_loopback(host)
    token = access_token(host, token)
    config = WebConfig(root=Path(root), lang=lang, token=token)
    app = create_app(config)
    listening = _listen(host, port)
    try:
        server = wsgi_server(host, port, app, threaded=True, request_handler=_QuietHandler, fd=listening.fileno())
    finally:
        listening.close()  # the server works on its own duplicate of the descriptor
    bound = server.port
    if loopback:
        config.allowed_hosts = loopback_hosts(host, bound)
    shown = host
    if host in ("0.0.0.0", "::", ""):
        shown = socket.gethostname()
    elif ":" in host and not host.startswith("["):
        shown = f"[{host}]"
    url = f"http://{shown}:{bound}/" + (f"?token={token}" if token else "")
    return Served(server=server, url=url, token=token, config=config)
