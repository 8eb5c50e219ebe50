"""linux.http_answers: real requests through grader's own HTTP transport to a local test server.

The server listens on 127.0.0.1 (an ephemeral port) for the duration of the module; the
refused connection is a real one too (a port that was bound, then closed).
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pydantic
import pytest

from checks.linux.web import HttpAnswers
from grader.model import Status
from grader.probes.http import HttpOptions
from grader.transports import http as http_transport

PAGE = "<html><head><title>Intranet TSSR</title></head><body><h1>Bienvenue sur l'intranet</h1></body></html>"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes = {"/": (200, PAGE), "/admin": (403, "Forbidden"), "/vide": (200, "")}
        if self.path == "/ancien":
            self.send_response(301)
            self.send_header("Location", "/")
            self.end_headers()
            return
        status, body = routes.get(self.path, (404, "Not Found"))
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def fetch(judge, url, options=None, **params):
    check = HttpAnswers()
    p = HttpAnswers.Params(url=url, **params)
    probe = check.probes(p)["page"]
    return judge(HttpAnswers, {"url": url, **params}, page=http_transport.run(probe, options))


def test_site_answers(judge, site):
    v = fetch(judge, site + "/")
    assert v.status is Status.CONFORME and v.observed == "HTTP 200 OK"
    v = fetch(judge, site + "/", contains="Bienvenue sur l'intranet")
    assert v.status is Status.CONFORME


def test_a_redirect_is_observed_not_followed_unless_the_rubric_says_so(judge, site):
    moved = fetch(judge, site + "/ancien", contains="Intranet TSSR")
    assert moved.status is Status.NON_CONFORME and "301" in moved.observed and "vers /" in moved.observed
    followed = fetch(judge, site + "/ancien", HttpOptions(redirects="same_host"), contains="Intranet TSSR")
    assert followed.status is Status.CONFORME


def test_status_mismatch(judge, site):
    v = fetch(judge, site + "/admin")
    assert v.status is Status.NON_CONFORME and "403" in v.observed
    assert fetch(judge, site + "/admin", status=403).status is Status.CONFORME
    assert fetch(judge, site + "/absent").status is Status.NON_CONFORME


def test_text_missing_from_the_page(judge, site):
    v = fetch(judge, site + "/", contains="Apache2 Debian Default Page")
    assert v.status is Status.NON_CONFORME and "Intranet TSSR" in v.observed
    v = fetch(judge, site + "/vide", contains="Bienvenue")
    assert v.status is Status.NON_CONFORME and "corps vide" in v.observed


def test_refused_connection_is_non_conforme(judge):
    with socket.socket() as s:  # a port that was free a moment ago, now closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    v = fetch(judge, f"http://127.0.0.1:{port}/")
    assert v.status is Status.NON_CONFORME
    assert "ConnectionRefusedError" in v.observed and "ne répond pas" in v.message


@pytest.mark.parametrize("error", [
    "gaierror: [Errno -2] Name or service not known",
    ("SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate "
     "(_ssl.c:1006)"),
])
def test_grader_side_failures_are_erreur(judge, result, error):
    # http.run reports URLError causes as "<type>: <text>" with exit code -1.
    v = judge(HttpAnswers, {"url": "https://intranet.tssr.lan/"}, page=result("", error, -1, transport="http"))
    assert v.status is Status.ERREUR


@pytest.mark.parametrize("error", [
    "OSError: [Errno 113] No route to host",
    "SSLError: [SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)",  # https on a plain-http port
    "RemoteDisconnected: Remote end closed connection without response",
])
def test_site_side_failures_are_non_conforme(judge, result, error):
    v = judge(HttpAnswers, {"url": "https://192.168.10.80/"}, page=result("", error, -1, transport="http"))
    assert v.status is Status.NON_CONFORME


def test_truncated_body_without_the_text_is_erreur(judge, result):
    r = result("x" * 100, "HTTP 200 OK\nContent-Type: text/html\n", 200, truncated=True, transport="http")
    v = judge(HttpAnswers, {"url": "http://srv-web/", "contains": "Bienvenue"}, page=r)
    assert v.status is Status.ERREUR


@pytest.mark.parametrize("code", [None, 0, 42, 1000])
def test_no_usable_status_is_erreur(judge, result, code):
    v = judge(HttpAnswers, {"url": "http://srv-web/"}, page=result("", "", code, transport="http"))
    assert v.status is Status.ERREUR


@pytest.mark.parametrize("params", [{"url": "srv-web"}, {"url": "ftp://srv-web/"}, {"url": "http://srv web/"},
                                    {"url": "http://srv-web/", "status": 99}, {"url": "http://srv-web/", "contains": ""}])
def test_params_are_validated(params):
    with pytest.raises(pydantic.ValidationError):
        HttpAnswers.Params(**params)


def test_probe_is_an_active_http_request():
    probe = HttpAnswers().probes(HttpAnswers.Params(url="https://intranet.tssr.lan/"))["page"]
    assert probe.transport == "http" and probe.active and probe.command == "https://intranet.tssr.lan/"
