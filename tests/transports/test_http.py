"""The http channel against a real HTTP server on loopback: redirects are answers, followed only as asked.

A candidate's web server that only redirects (to a neighbour's intranet, or to the grader's own
``grader serve``) must never pass for the page asked: by default no redirect is followed and the
evidence names its target; ``same_host`` and ``any`` follow, each hop in the evidence, never to
the grader machine's own loopback. A page naming a charset nobody knows is read as UTF-8, alone.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from checks.linux.web import HttpAnswers
from grader.check import evaluate
from grader.model import Status
from grader.probes.http import HttpOptions
from grader.probes.http import http as get
from grader.transports.http import run

ROUTES: dict[str, tuple[int, dict[str, str], bytes]] = {}


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, headers, body = ROUTES.get(self.path, (404, {}, b"absent"))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """A server on 127.0.0.2 (the "candidate's" address: loopback, as every address of this machine is)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.2:{server.server_address[1]}"
    ROUTES.update({
        "/": (200, {"Content-Type": "text/html; charset=utf-8"}, b"<h1>Intranet</h1>"),
        "/moved": (302, {"Location": "/"}, b""),
        "/elsewhere": (301, {"Location": "http://intranet.example.invalid/"}, b""),
        "/grader": (302, {"Location": "http://localhost:8750/s/session"}, b""),
        "/odd": (200, {"Content-Type": "text/html; charset=x-nobody-knows"}, "<p>Intranet é</p>".encode()),
    })
    yield base
    server.shutdown()


def _verdict(url: str, options: HttpOptions | None = None, **params: object):  # type: ignore[no-untyped-def]
    check = HttpAnswers()
    p = HttpAnswers.Params(url=url, **params)
    return evaluate(check, p, {"page": run(get(url, timeout=5), options)}), p


def test_a_redirect_is_not_followed_by_default_and_the_evidence_names_its_target(site: str) -> None:
    verdict, _ = _verdict(f"{site}/moved", contains="Intranet")
    assert verdict.status is Status.NON_CONFORME
    assert "302" in verdict.observed and "vers /" in verdict.observed


def test_same_host_follows_a_redirect_on_the_same_host_and_says_so(site: str) -> None:
    result = run(get(f"{site}/moved"), HttpOptions(redirects="same_host"))
    assert result.exit_code == 200 and "Intranet" in result.stdout
    assert f"↪ 302 {site}/moved → {site}/" in result.stderr
    verdict, _ = _verdict(f"{site}/moved", HttpOptions(redirects="same_host"), contains="Intranet")
    assert verdict.status is Status.CONFORME


def test_same_host_refuses_another_host(site: str) -> None:
    result = run(get(f"{site}/elsewhere"), HttpOptions(redirects="same_host"))
    assert result.exit_code == 301 and "redirection non suivie vers http://intranet.example.invalid/" in result.stderr
    assert result.stderr_ref is not None  # said in the report's language


def test_any_never_fetches_the_grader_machines_own_loopback(site: str) -> None:
    result = run(get(f"{site}/grader"), HttpOptions(redirects="any"))
    assert result.exit_code == 302
    assert "adresse de la machine du correcteur" in result.stderr and result.stdout == ""


def test_an_unknown_charset_reads_that_page_as_utf8(site: str) -> None:
    result = run(get(f"{site}/odd"))
    assert result.ok and result.exit_code == 200 and "Intranet é" in result.stdout
