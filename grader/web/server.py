"""Serving the view: a secret per serve, always; HTTPS required off loopback.

Every serve has its access token (given, else ``GRADER_WEB_TOKEN``, else a new random one),
loopback included: the printed address carries it once (``?token=…``), a cookie afterwards, so
another user of the proctor's machine reaches nothing without it. On loopback the ``Host``
header is checked as well (DNS rebinding). Any other address is refused unless a certificate
and its key are given (``tls_cert``/``tls_key``): the view is then served over HTTPS only,
so neither the token nor the jury's annotations cross the room's network in clear.

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
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler
from werkzeug.serving import make_server as wsgi_server

from grader.errors import UsageError
from grader.i18n import t
from grader.web.app import WebConfig, create_app, jury_names

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


def access_token(token: str | None = None) -> str:
    """The secret of one serve, on any address: ``token``, else ``GRADER_WEB_TOKEN``, else a new random one."""
    return token or os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(24)


class _LazyHandshakeContext(ssl.SSLContext):
    """Accepted connections do their TLS handshake in their request thread, not in ``accept()``.

    werkzeug wraps the listening socket; with the default ``do_handshake_on_connect`` a client
    that connects and never speaks would hold the serving loop, and with it every other client.
    """

    def wrap_socket(self, sock: socket.socket, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        kwargs["do_handshake_on_connect"] = False
        return super().wrap_socket(sock, *args, **kwargs)


def tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """A server TLS context from a PEM certificate (chain) and its key; None when neither is given.

    :raises UsageError: only one of the two is given, or they cannot be loaded (unreadable,
        not PEM, key not matching the certificate).
    """
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise UsageError(t("jury.msg.tls_pair"))
    context = _LazyHandshakeContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(t("jury.msg.tls_unusable", certfile=cert, keyfile=key,
                           reason=getattr(exc, "strerror", None) or exc)) from exc
    return context


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
    token: str
    config: WebConfig

    def close(self) -> None:
        self.server.server_close()
        self.server.app.extensions["grader"]["stores"].close()  # type: ignore[attr-defined]


def make_server(root: Path, *, host: str = "127.0.0.1", port: int = 8765, lang: str = "fr",
                token: str | None = None, jury: Iterable[str] = (), tls_cert: Path | None = None,
                tls_key: Path | None = None) -> Served:
    """Bind the view of ``root`` (port 0: any free port), always behind a token.

    :param token: the access token (default: ``GRADER_WEB_TOKEN``, else a new random one).
    :param jury: the names annotations may be signed with; none: a read-only view.
    :param tls_cert: PEM certificate (chain) to serve HTTPS with, and ``tls_key`` its key;
        required together for any address other than loopback.
    :raises UsageError: a non-loopback ``host`` without certificate and key, a certificate
        that cannot be loaded, a jury name too long.
    :raises OSError: the address or port cannot be bound (in use, not an address of this machine...).
    """
    loopback = is_loopback(host)
    context = tls_context(tls_cert, tls_key)
    if not loopback and context is None:
        raise UsageError(t("jury.msg.tls_required", host=host))
    token = access_token(token)
    config = WebConfig(root=Path(root), lang=lang, token=token, jury=jury_names(jury))
    app = create_app(config)
    listening = _listen(host, port)
    try:
        server = wsgi_server(host, port, app, threaded=True, request_handler=_QuietHandler, fd=listening.fileno(),
                             ssl_context=context)
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
    url = f"{'https' if context else 'http'}://{shown}:{bound}/?token={token}"
    return Served(server=server, url=url, token=token, config=config)
