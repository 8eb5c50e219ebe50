"""The grader-side DNS channel against small DNS servers on loopback (real UDP packets).

The DC's real DNS (Samba's internal server) answers the same channel in tests/test_ad_lab.py.
"""

from __future__ import annotations

import json
import socket
import threading

import dns.message
import dns.rcode
import dns.rrset
import pytest

from grader.plugins import default_transports
from grader.probes.dns import DnsOptions, query
from grader.transports.base import HostContext
from grader.transports.dns import DnsChannel, ask


class _Server:
    """Answers A questions for intranet.tssr.lan. with 10.77.1.10, NXDOMAIN for anything else."""

    def __init__(self, answer: bool = True):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.answer = answer
        self.questions: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            request = dns.message.from_wire(data)
            self.questions.append(request.question[0].to_text())
            if not self.answer:
                continue
            response = dns.message.make_response(request)
            if request.question[0].name.to_text() == "intranet.tssr.lan.":
                response.answer.append(dns.rrset.from_text("intranet.tssr.lan.", 900, "IN", "A", "10.77.1.10"))
            else:
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), peer)

    def close(self):
        self.sock.close()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


def test_query_is_canonical():
    assert query("intranet.tssr.lan").command == '{"name":"intranet.tssr.lan.","type":"A"}'
    assert query("intranet.tssr.lan.", "a").key == query("intranet.tssr.lan").key
    with pytest.raises(ValueError):
        query("x.lan", "AXFR")


def test_answer_and_nxdomain(server):
    ok = ask(query("intranet.tssr.lan"), "127.0.0.1", server.port)
    assert ok.exit_code == 0 and ok.ok
    assert json.loads(ok.stdout) == {"rcode": "NOERROR", "authoritative": False, "answers": [
        {"name": "intranet.tssr.lan.", "type": "A", "ttl": 900, "value": "10.77.1.10"}]}
    missing = ask(query("absent.tssr.lan"), "127.0.0.1", server.port)
    assert missing.exit_code == 3 and json.loads(missing.stdout)["rcode"] == "NXDOMAIN"


def test_channel_asks_each_question_once_at_the_host_address(server):
    assert default_transports()["dns"] is DnsChannel and DnsChannel.grader_side
    ctx = HostContext(name="dc", address="127.0.0.1", platform="windows", port=None, credential=None, credentials={},
                      options=DnsOptions(port=server.port))
    probes = [query("intranet.tssr.lan"), query("absent.tssr.lan", "AAAA")]
    got = DnsChannel().collect(ctx, probes)
    assert {r.exit_code for r in got.results.values()} == {0, 3} and got.execs == 2
    assert sorted(server.questions) == ["absent.tssr.lan. IN AAAA", "intranet.tssr.lan. IN A"]


def test_silent_server_and_closed_port_are_timed_out_never_an_answer():
    silent = _Server(answer=False)
    try:
        r = ask(query("intranet.tssr.lan", timeout=0.3), "127.0.0.1", silent.port)
        assert r.timed_out and not r.ok
    finally:
        silent.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = ask(query("intranet.tssr.lan", timeout=0.3), "127.0.0.1", port)
    assert r.timed_out and r.exit_code is None
