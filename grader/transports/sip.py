"""Grader-side SIP: one OPTIONS request to the candidate's IPBX, and its answer to *that* request.

Only the IPBX itself proves that it answers SIP: a ``pjsip.conf`` or ``kamailio.cfg`` that reads
well says nothing of a service that is down, bound to another address, or filtered. So the grader
sends, from its own network position, the request a phone or a trunk sends to check a server is
alive (RFC 3261 §11, OPTIONS outside a dialog), and times the round trip.

The network is shared with other candidates, so an answer counts only when it is an answer to us:
every run draws a fresh Call-ID, ``From`` tag and Via ``branch`` (RFC 3261 magic cookie
``z9hG4bK``), and a response is ours only when its Call-ID, top Via branch, CSeq (number and
method) and ``From`` tag are the ones we sent; a UDP socket *connected* to the server also makes the
kernel drop datagrams from any other address and port. Anything else that arrives is counted as
``ignored`` and never read as the server's answer.

No well-kept, small SIP message library exists on PyPI (the SIP stacks there carry RTP, dialogs and
sockets of their own), so the request and the response parser are written here, limited to what an
OPTIONS transaction needs: a status line, header fields (case-insensitive names, RFC 3261 §7.3.3
compact forms, folded lines), and ``Content-Length`` to frame a response on TCP.

The probe and its JSON record (the probe language) are :mod:`grader.probes.sip`.
"""

from __future__ import annotations

import json
import secrets
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from grader import __version__
from grader.model import Msg, Probe, ProbeResult
from grader.probes.sip import CHANNEL
from grader.transports.base import Channel, Collected, HostContext, probe_fields

MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7: a branch starting with it is unique per transaction
MAX_MESSAGE = 65535
#: RFC 3261 §7.3.3 compact header names, and RFC 3261 + 3841/3515 ones an answer may use.
COMPACT = {"v": "via", "i": "call-id", "f": "from", "t": "to", "m": "contact", "l": "content-length",
           "c": "content-type", "e": "content-encoding", "s": "subject", "k": "supported"}
USER_AGENT = f"tssr-grader/{__version__} (sonde OPTIONS du correcteur)"


# --- messages -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Transaction:
    """What identifies our request, drawn fresh for each probe."""

    call_id: str
    branch: str
    from_tag: str
    cseq: int

    @classmethod
    def fresh(cls) -> Transaction:
        return cls(call_id=secrets.token_hex(16), branch=MAGIC_COOKIE + secrets.token_hex(12),
                   from_tag=secrets.token_hex(8), cseq=secrets.randbelow(2**31 - 1) + 1)


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def options_request(tx: Transaction, *, target: str, port: int, local: str, local_port: int,
                    transport: str) -> str:
    """The OPTIONS request (RFC 3261 §11.1: Via, Max-Forwards, To, From, Call-ID, CSeq, Contact, Accept)."""
    uri = f"sip:{_host(target)}:{port}"
    proto = transport.upper()
    lines = [
        f"OPTIONS {uri} SIP/2.0",
        f"Via: SIP/2.0/{proto} {_host(local)}:{local_port};branch={tx.branch};rport",
        "Max-Forwards: 70",
        f"To: <{uri}>",
        f"From: <sip:grader@{_host(local)}>;tag={tx.from_tag}",
        f"Call-ID: {tx.call_id}",
        f"CSeq: {tx.cseq} OPTIONS",
        f"Contact: <sip:grader@{_host(local)}:{local_port};transport={transport}>",
        "Accept: application/sdp",
        f"User-Agent: {USER_AGENT}",
        "Content-Length: 0",
    ]
    return "\r\n".join(lines) + "\r\n\r\n"


@dataclass(frozen=True)
class Response:
    """A SIP response as read: status line, and header fields by lowercase full name (in order)."""

    status: int
    reason: str
    headers: dict[str, list[str]] = field(default_factory=dict)

    def first(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None


def _param(value: str, name: str) -> str | None:
    """A ``;name=value`` parameter of a header field value (outside any ``<...>``)."""
    tail = value.rsplit(">", 1)[-1] if ">" in value else value
    for part in tail.split(";")[1:]:
        key, _, val = part.strip().partition("=")
        if key.strip().lower() == name:
            return val.strip()
    return None


def _split_commas(value: str) -> list[str]:
    """A header field value holding several comma-separated values (``Via: a, b``), quotes and <> kept whole."""
    out, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(value):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and not quoted and depth == 0:
            out.append(value[start:i].strip())
            start = i + 1
    out.append(value[start:].strip())
    return [v for v in out if v]


def parse_response(data: bytes) -> tuple[Response, int]:
    """A response from the start of ``data``, and how many bytes it used (head + body).

    ValueError when ``data`` is not a SIP response (a request, garbage) or its head is incomplete.
    """
    head_end = data.find(b"\r\n\r\n")
    sep = 4
    if head_end < 0:
        head_end, sep = data.find(b"\n\n"), 2
    if head_end < 0:
        raise ValueError("en-tête SIP incomplet")
    text = data[:head_end].decode("utf-8", "replace")
    lines = text.replace("\r\n", "\n").split("\n")
    start = lines[0].split(" ", 2)
    if len(start) < 2 or start[0].upper() != "SIP/2.0" or not start[1].isdigit() or len(start[1]) != 3:
        raise ValueError(f"ligne d'état SIP invalide : {lines[0][:80]!r}")
    headers: dict[str, list[str]] = {}
    last: str | None = None
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and last is not None:  # a folded line continues the previous field
            headers[last][-1] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ValueError(f"champ d'en-tête SIP invalide : {line[:80]!r}")
        key = name.strip().lower()
        key = COMPACT.get(key, key)
        headers.setdefault(key, []).append(value.strip())
        last = key
    if "via" in headers:  # several Via values may share one field: one entry each
        headers["via"] = [v for field_value in headers["via"] for v in _split_commas(field_value)]
    length_text = (headers.get("content-length") or ["0"])[0]
    if not length_text.isdigit():
        raise ValueError(f"Content-Length invalide : {length_text[:20]!r}")
    used = head_end + sep + int(length_text)
    return Response(int(start[1]), start[2].strip() if len(start) > 2 else "", headers), used


def answers(response: Response, tx: Transaction) -> bool:
    """True when ``response`` answers our transaction (RFC 3261 §17.1.3: top Via branch and CSeq method)

    — plus the Call-ID, the CSeq number and our From tag, all drawn at random for this probe.
    """
    via = response.first("via") or ""
    cseq = (response.first("cseq") or "").split()
    return (_param(via, "branch") == tx.branch and response.first("call-id") == tx.call_id
            and cseq == [str(tx.cseq), "OPTIONS"] and _param(response.first("from") or "", "tag") == tx.from_tag)


# --- the exchange ---------------------------------------------------------------------------------

@dataclass
class Exchange:
    """What the probe records: the request's identifiers, then what came back for it."""

    tx: Transaction
    request_line: str
    local: str = ""
    sent_at: str = ""
    final: Response | None = None
    rtt_ms: float | None = None
    provisional: list[str] = field(default_factory=list)
    ignored: int = 0
    unreadable: int = 0

    def record(self, peer: str, transport: str) -> dict[str, object]:
        out: dict[str, object] = {
            "peer": peer, "transport": transport, "request": self.request_line, "call_id": self.tx.call_id,
            "branch": self.tx.branch, "from_tag": self.tx.from_tag, "cseq": self.tx.cseq, "local": self.local,
            "sent_at": self.sent_at, "provisional": self.provisional, "ignored": self.ignored,
            "unreadable": self.unreadable, "active": "une requête OPTIONS hors dialogue : aucun appel, aucun "
                                                     "enregistrement, la configuration de l'IPBX n'est pas modifiée"}
        if self.final is not None:
            r = self.final
            out.update(status=r.status, reason=r.reason, server=r.first("server"), user_agent=r.first("user-agent"),
                       allow=", ".join(r.headers.get("allow", [])) or None, rtt_ms=self.rtt_ms)
        return out

    def take(self, data: bytes, t0: float) -> bytes:
        """Read the responses at the start of ``data``; return what is left (an incomplete TCP message)."""
        while data:
            try:
                response, used = parse_response(data)
            except ValueError:
                if b"\r\n\r\n" in data or b"\n\n" in data or len(data) > MAX_MESSAGE:
                    self.unreadable += 1
                    return b""
                return data  # the rest of the head is still to come (TCP)
            if used > len(data):
                return data  # the body is still to come (TCP)
            data = data[used:]
            if not answers(response, self.tx):
                self.ignored += 1
            elif response.status < 200:
                self.provisional.append(f"{response.status} {response.reason}".strip())
            elif self.final is None:
                self.final = response
                self.rtt_ms = round((time.perf_counter() - t0) * 1000, 2)
        return b""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def exchange(address: str, port: int, transport: str, timeout: float) -> Exchange:
    """Send one OPTIONS and wait up to ``timeout`` seconds for its final answer.

    Raises ConnectionRefusedError (nothing listens: ICMP port unreachable on UDP, a reset on TCP),
    TimeoutError (TCP connection not made in time) or OSError (no route).
    """
    tx = Transaction.fresh()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    deadline = time.monotonic() + timeout
    with socket.socket(family, kind) as sock:
        sock.settimeout(timeout)
        sock.connect((address, port))  # UDP: the kernel now drops datagrams from anyone else
        local, local_port = sock.getsockname()[:2]
        request = options_request(tx, target=address, port=port, local=local, local_port=local_port,
                                  transport=transport)
        ex = Exchange(tx, request.split("\r\n", 1)[0], local=f"{_host(local)}:{local_port}", sent_at=_now())
        t0 = time.perf_counter()
        sock.sendall(request.encode())
        pending = b""
        while ex.final is None and (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            try:
                data = sock.recv(MAX_MESSAGE)
            except TimeoutError:
                break
            if not data:  # TCP: the server closed the connection
                break
            pending = ex.take(data if transport == "udp" else pending + data, t0)
    return ex


def send_options(probe: Probe, default_address: str, budget: float | None = None) -> ProbeResult:
    """Run one probe; ``budget`` (the host's remaining time) caps its wait."""
    base, t0 = probe_fields(probe), time.perf_counter()
    wait = probe.timeout if budget is None else max(0.1, min(probe.timeout, budget))
    try:
        spec = json.loads(probe.command)
        port, transport = int(spec["port"]), str(spec["transport"])
        address = str(spec.get("address") or default_address)
        if transport not in ("udp", "tcp"):
            raise ValueError(transport)
    except (ValueError, KeyError, TypeError) as exc:
        return ProbeResult(**base, error=Msg("sonde SIP invalide : {error}", error=str(exc)))
    peer = f"{_host(address)}:{port}"
    try:
        ex = exchange(address, port, transport, wait)
    except ConnectionRefusedError as exc:
        return ProbeResult(**base, stderr=Msg("{peer} ({transport}) : refusé ({error}) : aucun service SIP n'écoute",
                                              peer=peer, transport=transport, error=exc.strerror or str(exc)),
                           exit_code=-1, duration=time.perf_counter() - t0)
    except TimeoutError as exc:
        return ProbeResult(**base, stderr=Msg("{peer} : délai dépassé ({error})", peer=peer, error=str(exc)),
                           timed_out=True, duration=time.perf_counter() - t0)
    except OSError as exc:
        return ProbeResult(**base, stderr=f"{peer} : {exc.strerror or exc}", exit_code=-1,
                           duration=time.perf_counter() - t0)
    stdout = json.dumps(ex.record(peer, transport), ensure_ascii=False, sort_keys=True)
    if ex.final is None:
        return ProbeResult(**base, stdout=stdout, timed_out=True, duration=time.perf_counter() - t0,
                           stderr=Msg("{peer} ({transport}) : aucune réponse à notre requête en {timeout} s",
                                      peer=peer, transport=transport, timeout=f"{wait:g}"))
    return ProbeResult(**base, stdout=stdout, exit_code=0, duration=time.perf_counter() - t0)


class SipChannel(Channel):
    """The ``sip`` channel: one OPTIONS per distinct (address, port, transport), sent by the grader itself."""

    spec = CHANNEL

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        results = {p.key: send_options(p, host.address, host.deadline.remaining()) for p in probes}
        return Collected(results, execs=len(results))
