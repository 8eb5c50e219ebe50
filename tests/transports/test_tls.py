"""The grader-side ``tls`` channel against real TLS servers on loopback (Python's ssl, OpenSSL underneath).

The server sends a leaf and an intermediate issued by a CA made here; the channel must bring the
chain back as sent (SNI included), without verifying it, and tell a refused port, a service that
does not speak TLS and a silent one apart. Apache with mod_ssl answers the same channel in
tests/test_proxy_pki_lab.py.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading

import pytest
from cryptography.hazmat.primitives import serialization

from checks.network.pki import HttpsIssuedByCa
from grader import i18n_checks
from grader.check import evaluate
from grader.model import Status
from grader.plugins import default_transports
from grader.probes.tls import handshake
from grader.transports.base import HostContext
from grader.transports.tls import TlsChannel
from tests.checks.test_network_pki import CA, NAME, _pem, make_ca, make_leaf


def _host(address: str = "127.0.0.1") -> HostContext:
    return HostContext(name="srv-lin", address=address, platform="linux", port=None, credential=None, credentials={},
                       options=None)


class _Server:
    """Accepts connections on loopback; ``mode``: tls (with a chain), plain (an HTTP answer), silent."""

    def __init__(self, tmp_path, mode: str = "tls"):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.mode, self.sni = mode, []
        self.inter = make_ca("TSSR Sub CA", issuer=CA)
        key, self.leaf = make_leaf(self.inter)
        (tmp_path / "chain.pem").write_text(_pem(self.leaf) + _pem(self.inter[1]))
        (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(tmp_path / "chain.pem", tmp_path / "key.pem")
        self.ctx.sni_callback = lambda s, name, c: self.sni.append(name)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                if self.mode == "tls":
                    with self.ctx.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(1)
                elif self.mode == "plain":
                    conn.recv(1024)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                    conn.close()
                else:
                    threading.Event().wait(3)
                    conn.close()
            except (OSError, ssl.SSLError):
                conn.close()

    def close(self):
        self.sock.close()


@pytest.fixture
def server(tmp_path, request):
    s = _Server(tmp_path, getattr(request, "param", "tls"))
    yield s
    s.close()


def test_the_channel_is_registered_and_grader_side():
    assert default_transports()["tls"] is TlsChannel and TlsChannel.grader_side


def test_handshake_brings_the_chain_back_as_sent_with_sni(server):
    probe = handshake(NAME, server.port)
    got = TlsChannel().collect(_host(), [probe])
    r = got.results[probe.key]
    assert r.exit_code == 0 and got.execs == 1 and r.started
    doc = json.loads(r.stdout)
    assert doc["peer"] == f"127.0.0.1:{server.port}" and doc["version"].startswith("TLSv1")
    assert doc["chain"] == [_pem(server.leaf), _pem(server.inter[1])]
    assert server.sni == [NAME]
    # the check judges it: the intermediate sent by the server leads to the candidate's CA
    params = HttpsIssuedByCa.Params(name=NAME, port=server.port)
    ac = HttpsIssuedByCa().probes(params)["ac"]
    from grader.model import ProbeResult

    verdict = evaluate(HttpsIssuedByCa(), params, {"ac": ProbeResult(ac.key, "ssh", ac.command, stdout=_pem(CA[1]),
                                                                     exit_code=0), "tls": r})
    assert verdict.status is Status.CONFORME, verdict.message


def test_another_address_than_the_hosts(server):
    probe = handshake(NAME, server.port, address="127.0.0.1")
    r = TlsChannel().collect(_host("192.0.2.1"), [probe]).results[probe.key]
    assert r.exit_code == 0


def test_refused_port_is_an_observation():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    probe = handshake(NAME, port)
    r = TlsChannel().collect(_host(), [probe]).results[probe.key]
    assert r.exit_code == -1 and not r.timed_out and "refused" in r.stderr.lower()


@pytest.mark.parametrize("server", ["plain"], indirect=True)
def test_a_service_that_does_not_speak_tls(server):
    probe = handshake(NAME, server.port)
    r = TlsChannel().collect(_host(), [probe]).results[probe.key]
    assert r.exit_code == 1 and "négociation TLS" in r.stderr
    # the channel's own words, by reference: said in English in an English report (the library's error as data)
    assert r.stderr_ref is not None and r.stderr_ref.render() == r.stderr
    english = i18n_checks.say(r.stderr_ref, r.stderr, "en")
    assert english.startswith(f"127.0.0.1:{server.port}: TLS handshake failed: ") and "négociation" not in english


@pytest.mark.parametrize("server", ["silent"], indirect=True)
def test_a_silent_service_is_timed_out(server):
    probe = handshake(NAME, server.port, timeout=0.5)
    r = TlsChannel().collect(_host(), [probe]).results[probe.key]
    assert r.timed_out and r.exit_code is None


def test_an_invalid_probe_is_an_error_not_a_verdict():
    from grader.model import Probe

    probe = Probe("tls", "not json", 1.0, active=True)
    assert TlsChannel().collect(_host(), [probe]).results[probe.key].error


def test_self_signed_is_shown_not_refused(tmp_path):
    """The grader records what the server shows even when no one would trust it."""
    s = _Server(tmp_path)
    own = make_ca(NAME)
    leaf_key = own[0]
    (tmp_path / "own.pem").write_text(_pem(own[1]))
    (tmp_path / "own.key").write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM,
                                                               serialization.PrivateFormat.PKCS8,
                                                               serialization.NoEncryption()))
    s.ctx.load_cert_chain(tmp_path / "own.pem", tmp_path / "own.key")
    try:
        probe = handshake(NAME, s.port)
        r = TlsChannel().collect(_host(), [probe]).results[probe.key]
        assert r.exit_code == 0 and json.loads(r.stdout)["chain"] == [_pem(own[1])]
    finally:
        s.close()
