"""REST channels' reason for a request that got no answer: the OS's words, never the URL or a header."""

from __future__ import annotations

import socket

import pytest
import requests

from grader.transports.rest import request_failure

SECRET = "jeton-tres-secret"


def _free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _failure(url: str, timeout: float | tuple[float, float]) -> str:
    with pytest.raises(requests.RequestException) as caught:
        requests.get(url, headers={"Authorization": f"Bearer {SECRET}"}, timeout=timeout)
    return request_failure(caught.value)


def test_a_closed_port_is_said_refused_without_the_url_or_the_token() -> None:
    reason = _failure(f"http://127.0.0.1:{_free_port()}/api?token={SECRET}", 2)
    assert reason == "Connection refused"
    assert SECRET not in reason and "127.0.0.1" not in reason


def test_a_silent_server_is_a_read_timeout() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts (the kernel does), never answers
    try:
        assert _failure(f"http://127.0.0.1:{silent.getsockname()[1]}/?token={SECRET}", (2, 0.3)) == "read timeout"
    finally:
        silent.close()


def test_an_error_with_no_socket_cause_is_named_by_its_kind() -> None:
    assert request_failure(requests.exceptions.InvalidURL(f"http://x/?token={SECRET}")) == "InvalidURL"
