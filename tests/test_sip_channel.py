"""The ``sip`` channel: one OPTIONS, and only the answer to *our* transaction counts.

The responder below answers on real loopback sockets as RFC 3261 §8.2.6.2 says a server must
(Via, From, Call-ID and CSeq copied, a tag added to To); a real registrar (Kamailio) answers the
same probe in tests/test_voip_lab.py.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from grader.probes.sip import options
from grader.transports.sip import Transaction, answers, options_request, parse_response, send_options


def _reply(request: bytes, status: str = "200 OK", *, call_id: str | None = None, extra: str = "") -> bytes:
    head = request.decode().split("\r\n\r\n", 1)[0].split("\r\n")
    fields = {line.split(":", 1)[0].lower(): line for line in head[1:]}
    call = f"Call-ID: {call_id}" if call_id else fields["call-id"]
    lines = [f"SIP/2.0 {status}", fields["via"] + ";received=127.0.0.1", fields["from"], fields["to"] + ";tag=abc",
             call, fields["cseq"], "Server: kamailio (5.6.3 (x86_64/linux))", extra, "Content-Length: 0"]
    return ("\r\n".join(line for line in lines if line) + "\r\n\r\n").encode()


@pytest.fixture
def udp_server() -> Iterator[Callable[[Callable[[bytes], list[bytes]]], int]]:
    socks: list[socket.socket] = []

    def start(behaviour: Callable[[bytes], list[bytes]]) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        socks.append(sock)

        def serve() -> None:
            try:
                data, peer = sock.recvfrom(65535)
            except OSError:
                return
            for answer in behaviour(data):
                sock.sendto(answer, peer)
        threading.Thread(target=serve, daemon=True).start()
        return sock.getsockname()[1]
    yield start
    for s in socks:
        s.close()


def _run(port: int, transport: str = "udp", timeout: float = 2.0) -> tuple[dict, object]:
    result = send_options(options(port, transport, timeout=timeout), "127.0.0.1")
    return (json.loads(result.stdout) if result.stdout else {}), result


def test_answer_to_our_request_is_recorded_with_server_and_rtt(udp_server) -> None:
    port = udp_server(lambda req: [_reply(req, extra="Allow: INVITE, ACK, OPTIONS")])
    record, result = _run(port)
    assert result.exit_code == 0 and not result.timed_out
    assert record["status"] == 200 and record["reason"] == "OK"
    assert record["server"] == "kamailio (5.6.3 (x86_64/linux))"
    assert record["allow"] == "INVITE, ACK, OPTIONS"
    assert 0 <= record["rtt_ms"] < 2000
    assert record["request"] == f"OPTIONS sip:127.0.0.1:{port} SIP/2.0"
    assert record["ignored"] == 0 and record["branch"].startswith("z9hG4bK")


def test_forged_answer_with_another_call_id_is_ignored(udp_server) -> None:
    """A neighbour's (or a replayed) 200 OK arrives first: only the answer echoing our Call-ID counts."""
    port = udp_server(lambda req: [_reply(req, "200 OK", call_id="forged@elsewhere"), _reply(req, "404 Not Here")])
    record, _result = _run(port)
    assert record["ignored"] == 1
    assert record["status"] == 404


def test_only_forged_answers_is_no_answer(udp_server) -> None:
    port = udp_server(lambda req: [_reply(req, call_id="forged@elsewhere")])
    record, result = _run(port, timeout=0.5)
    assert result.timed_out and record["ignored"] == 1 and "status" not in record


def test_provisional_then_final(udp_server) -> None:
    port = udp_server(lambda req: [_reply(req, "100 Trying"), _reply(req, "200 OK")])
    record, _ = _run(port)
    assert record["provisional"] == ["100 Trying"] and record["status"] == 200


def test_closed_udp_port_is_refused_not_silence() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    _, result = _run(port, timeout=1.0)
    assert result.exit_code == -1 and not result.timed_out
    assert "aucun service SIP" in str(result.stderr)


def test_tcp_answer_split_across_segments() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            answer = _reply(data, extra="Content-Type: text/plain").replace(b"Content-Length: 0", b"Content-Length: 5")
            answer += b"hello"
            conn.sendall(answer[:20])
            conn.sendall(answer[20:])
    threading.Thread(target=serve, daemon=True).start()
    record, result = _run(server.getsockname()[1], "tcp")
    server.close()
    assert result.exit_code == 0 and record["status"] == 200 and record["transport"] == "tcp"


def test_parser_compact_forms_folding_and_multi_via() -> None:
    tx = Transaction("cid1", "z9hG4bKabc", "ft1", 7)
    raw = (b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKz\r\n"
           b"f: <sip:grader@10.0.0.1>;tag=ft1\r\ni: cid1\r\nCSeq: 7\r\n OPTIONS\r\nUser-Agent: FPBX-16.0.40(18.9.0)\r\n"
           b"l: 0\r\n\r\n")
    response, used = parse_response(raw)
    assert used == len(raw)
    assert response.headers["via"][1].endswith("branch=z9hG4bKz")
    assert response.first("cseq") == "7 OPTIONS"
    assert answers(response, tx)
    assert not answers(response, Transaction("cid1", "z9hG4bKabc", "ft1", 8))
    assert not answers(response, Transaction("cid1", "z9hG4bKother", "ft1", 7))
    with pytest.raises(ValueError):
        parse_response(b"OPTIONS sip:x SIP/2.0\r\n\r\n")


def test_request_carries_fresh_identifiers() -> None:
    a, b = Transaction.fresh(), Transaction.fresh()
    assert a.call_id != b.call_id and a.branch != b.branch and a.from_tag != b.from_tag
    text = options_request(a, target="10.77.1.20", port=5060, local="10.77.0.1", local_port=40000, transport="udp")
    assert text.startswith("OPTIONS sip:10.77.1.20:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.77.0.1:40000;branch=z9hG4bK")
    assert f"Call-ID: {a.call_id}\r\n" in text and text.endswith("Content-Length: 0\r\n\r\n")


def test_perfect_forgery_from_another_port_never_reaches_us() -> None:
    """Even a neighbour who saw our request (same Call-ID, branch, tag) is dropped: the socket is connected."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    forger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    forger.bind(("127.0.0.1", 0))

    def serve() -> None:
        data, peer = server.recvfrom(65535)
        forger.sendto(_reply(data, "200 OK"), peer)  # a perfect answer, from the wrong port
        server.sendto(_reply(data, "486 Busy Here"), peer)
    threading.Thread(target=serve, daemon=True).start()
    try:
        record, result = _run(server.getsockname()[1])
    finally:
        server.close()
        forger.close()
    assert result.exit_code == 0 and record["status"] == 486 and record["ignored"] == 0
