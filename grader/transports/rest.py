"""What a REST channel says when its HTTP request fails before any answer (``pve``, ``glpi``, ``zabbix``).

``requests`` wraps the socket's error in two or three layers whose text holds the URL, and a library may
one day put a header there: the evidence must never carry a token. So the reason is built from the
exception's kind and the operating system's own words for the innermost socket error (« Connection
refused », « No route to host », as the SSH channels show them), never from ``str(exc)``.
"""

from __future__ import annotations

import requests


def request_failure(exc: requests.RequestException) -> str:
    """Why no answer came, in words a proctor reads (« Connection refused », « connect timeout »), secret-free."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "read timeout"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed"
    os_error = _innermost_os_error(exc)
    if os_error is not None and os_error.strerror:
        return os_error.strerror
    return type(exc).__name__


def _innermost_os_error(exc: BaseException) -> OSError | None:
    """The socket error under requests' and urllib3's wrappers (their ``args``, ``reason``, causes)."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    found: OSError | None = None
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            found = current
        todo.extend((*current.args, getattr(current, "reason", None), current.__cause__, current.__context__))
    return found
