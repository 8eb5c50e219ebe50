"""Syslog collector: the grader listens, a candidate's host sends, the evidence says what arrived.

Grader-side channel (``syslog``): at the start of a run, :meth:`SyslogChannel.start` binds the
listeners the run's jobs need (UDP and/or TCP, address and port from each host's
``options.syslog``) and a background thread records every line received, with its source
address. The candidate's host is made to log a line carrying a token it could not know in
advance (an active SSH probe runs ``logger`` with :data:`grader.check.TOKEN`; the SSH batch
runs before this channel by design of the runner); :meth:`SyslogChannel.collect` then waits,
bounded by ``wait`` seconds, for a line containing the token and returns what arrived.

The probe (the token awaited) and its output (``jeton`` and ``autre`` lines) are the probe language,
:mod:`grader.probes.syslog`. Line framing over TCP: octet counting (RFC 6587) or one message per line.
"""

from __future__ import annotations

import re
import selectors
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from grader.errors import TransportError
from grader.model import Msg, Probe, ProbeResult
from grader.probes.syslog import CHANNEL, SyslogOptions
from grader.transports.base import Channel, Collected, HostContext

_MAX_RECORDS = 200_000
_MAX_LINE = 8192
_OTHERS = 5
_OCTET_COUNT = re.compile(rb"^(\d{1,5}) ")


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic()
    when: str  # ISO 8601 UTC
    source: str
    source_port: int
    protocol: str
    local_port: int
    text: str

    def said(self, kind: str) -> Msg:
        """The line of the probe's output: ``jeton`` (the probe's own line) or ``autre``, words of the report's language."""
        record = f"{self.when} {self.source}:{self.source_port} {self.protocol}/{self.local_port} {self.text}"
        return Msg("jeton {record}", record=record) if kind == "jeton" else Msg("autre {record}", record=record)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _clean(data: bytes) -> str:
    text = data[:_MAX_LINE].decode("utf-8", "replace").rstrip("\r\n\0")
    return text.replace("\r", "\\r").replace("\n", "\\n")


class Collector:
    """Listeners plus one thread recording what they receive. Thread-safe readers via a condition."""

    def __init__(self) -> None:
        self.records: list[Received] = []
        self.dropped = 0
        self.bound: dict[tuple[str, str, int], tuple[str, int]] = {}  # wanted endpoint -> real (addr, port)
        self.failed: dict[tuple[str, str, int], str] = {}
        self._cond = threading.Condition()
        self._selector = selectors.DefaultSelector()
        self._buffers: dict[socket.socket, tuple[bytes, str, int, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- set-up ---------------------------------------------------------------------

    def listen(self, endpoints: Sequence[tuple[str, str, int]]) -> None:
        wanted = sorted(set(endpoints), key=lambda e: (e[1] not in ("0.0.0.0", ""), e))  # wildcards first
        for proto, addr, port in wanted:
            wildcard = (proto, "0.0.0.0", port) if (proto, "0.0.0.0", port) in wanted else (proto, "", port)
            if addr not in ("0.0.0.0", "") and wildcard in wanted:  # served by the wildcard listener
                if wildcard in self.failed:
                    self.failed[(proto, addr, port)] = self.failed[wildcard]
                else:
                    self.bound[(proto, addr, port)] = self.bound[wildcard]
                continue
            try:
                sock = self._open(proto, addr, port)
            except OSError as exc:
                self.failed[(proto, addr, port)] = exc.strerror or str(exc)
                continue
            real = sock.getsockname()[:2]
            self.bound[(proto, addr, port)] = (real[0], real[1])
            self._selector.register(sock, selectors.EVENT_READ, ("udp" if proto == "udp" else "accept", real[1]))
        self._thread = threading.Thread(target=self._loop, name="grader-syslog", daemon=True)
        self._thread.start()

    @staticmethod
    def _open(proto: str, addr: str, port: int) -> socket.socket:
        kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
        sock = socket.socket(socket.AF_INET, kind)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if proto == "udp":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            sock.bind((addr or "0.0.0.0", port))
            if proto == "tcp":
                sock.listen(64)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for key in list(self._selector.get_map().values()):
            self._selector.unregister(key.fileobj)
            key.fileobj.close()  # type: ignore[union-attr]
        self._selector.close()

    # -- the loop -------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.1):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                kind, local_port = key.data
                try:
                    if kind == "udp":
                        self._read_udp(sock, local_port)
                    elif kind == "accept":
                        conn, peer = sock.accept()
                        conn.setblocking(False)
                        self._buffers[conn] = (b"", peer[0], peer[1], local_port)
                        self._selector.register(conn, selectors.EVENT_READ, ("tcp", local_port))
                    else:
                        self._read_tcp(sock)
                except OSError:
                    continue

    def _read_udp(self, sock: socket.socket, local_port: int) -> None:
        while True:
            try:
                data, peer = sock.recvfrom(65535)
            except BlockingIOError:
                return
            self._record(peer[0], peer[1], "udp", local_port, [data])

    def _read_tcp(self, conn: socket.socket) -> None:
        buffer, source, source_port, local_port = self._buffers[conn]
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            if buffer.strip():
                self._record(source, source_port, "tcp", local_port, [buffer])
            self._selector.unregister(conn)
            conn.close()
            del self._buffers[conn]
            return
        messages, rest = split_frames(buffer + data)
        if len(rest) > 4 * _MAX_LINE:  # a sender that never ends its frame: keep what we have
            messages, rest = messages + [rest], b""
        self._buffers[conn] = (rest, source, source_port, local_port)
        self._record(source, source_port, "tcp", local_port, messages)

    def _record(self, source: str, source_port: int, protocol: str, local_port: int, messages: list[bytes]) -> None:
        with self._cond:
            for raw in messages:
                text = _clean(raw)
                if not text:
                    continue
                if len(self.records) >= _MAX_RECORDS:
                    self.dropped += 1
                    continue
                self.records.append(Received(time.monotonic(), _now(), source, source_port, protocol, local_port, text))
            self._cond.notify_all()

    # -- readers --------------------------------------------------------------------

    def wait_for(self, token: str, source: str, deadline: float) -> list[Received]:
        """Lines containing ``token``; returns as soon as one came from ``source`` (or at the deadline)."""
        with self._cond:
            while True:
                found = [r for r in self.records if token in r.text]
                if any(r.source == source for r in found):
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return found
                self._cond.wait(timeout=min(remaining, 0.2))

    def from_source(self, source: str, limit: int) -> list[Received]:
        with self._cond:
            mine = [r for r in self.records if r.source == source]
        return mine[-limit:]


def split_frames(data: bytes) -> tuple[list[bytes], bytes]:
    """Complete syslog-over-TCP frames in ``data`` (octet counting or LF-terminated), and the rest."""
    messages: list[bytes] = []
    while data:
        match = _OCTET_COUNT.match(data)
        if match:
            size = int(match.group(1))
            start = match.end()
            if len(data) - start < size:
                break
            messages.append(data[start:start + size])
            data = data[start + size:]
            continue
        line, sep, rest = data.partition(b"\n")
        if not sep:
            break
        messages.append(line)
        data = rest
    return messages, data


class SyslogChannel(Channel):
    """The ``syslog`` channel: the grader's own collector (grader-side, no login on the host)."""

    spec = CHANNEL

    def __init__(self) -> None:
        self.collector: Collector | None = None

    def start(self, jobs: Sequence[Any]) -> None:
        endpoints: list[tuple[str, str, int]] = []
        for job in jobs:
            if not any(p.transport == self.name for p in job.unique_probes()):
                continue
            try:
                options = SyslogOptions.model_validate(job.channel_options(self.name))
            except ValidationError:
                continue  # reported by the rubric validation; this host's collect says so too
            endpoints += options.endpoints()
        self.collector = Collector()
        self.collector.listen(endpoints)

    def stop(self) -> None:
        if self.collector is not None:
            self.collector.close()
            self.collector = None

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        options = host.options if isinstance(host.options, SyslogOptions) else SyslogOptions.model_validate(
            host.options or {})
        collector = self.collector
        if collector is None:
            raise TransportError(Msg("le collecteur syslog du correcteur n'était pas démarré avant l'envoi de la "
                                     "ligne de test (il démarre avec la correction, avant tout hôte)"))
        endpoints = options.endpoints()
        for endpoint in endpoints:
            if endpoint in collector.failed:
                proto, addr, port = endpoint
                raise TransportError(Msg("le correcteur n'a pas pu écouter en {proto} sur {addr}:{port} : {error}",
                                         proto=proto, addr=addr, port=port, error=str(collector.failed[endpoint])))
            if endpoint not in collector.bound:
                raise TransportError(Msg("le collecteur syslog n'écoute pas en {proto} sur {addr}:{port} (hôte "
                                         "absent au démarrage de la correction)", proto=endpoint[0],
                                         addr=endpoint[1], port=endpoint[2]))
        listening = " et ".join(f"{proto} {collector.bound[(proto, addr, port)][0]}:"
                                f"{collector.bound[(proto, addr, port)][1]}" for proto, addr, port in endpoints)
        results: dict[str, ProbeResult] = {}
        for probe in probes:
            started, t0 = _now(), time.perf_counter()
            token = probe.command.strip()
            if not token:
                results[probe.key] = ProbeResult(probe.key, probe.transport, probe.command, started=started,
                                                 error=Msg("sonde syslog sans jeton"))
                continue
            deadline = time.monotonic() + options.wait
            found = collector.wait_for(token, host.address, deadline)
            others = [r for r in collector.from_source(host.address, _OTHERS + len(found)) if token not in r.text]
            said: Msg = Msg("écoute {listening} ; source attendue {source} ; attente {wait:g} s\n",
                            listening=listening, source=host.address, wait=options.wait)
            for line in [r.said("jeton") for r in found] + [r.said("autre") for r in others[-_OTHERS:]]:
                said = Msg("{previous}{line}\n", previous=said, line=line)  # the output, line by line, by reference
            arrived = any(r.source == host.address for r in found)
            results[probe.key] = ProbeResult(probe.key, probe.transport, probe.command, stdout=said,
                                             exit_code=0 if arrived else 1, started=started,
                                             duration=time.perf_counter() - t0)
        anomalies: list[str | Msg] = ([Msg("collecteur syslog saturé : {dropped} lignes ignorées",
                                           dropped=collector.dropped)] if collector.dropped else [])
        return Collected(results, login="", anomalies=anomalies, execs=0)
