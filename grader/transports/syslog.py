"""Syslog collector: the grader listens, a candidate's host sends, the evidence says what arrived.

Grader-side channel (``syslog``): at the start of a run, :meth:`SyslogChannel.start` binds the
listeners the run's jobs need (UDP and/or TCP, address and port from each host's
``options.syslog``), registers the tokens the run awaits (each host's syslog probe carries its
own, with the host's address) and a background thread reads every line received, with its source
address. The candidate's host is made to log a line carrying a token it could not know in
advance (an active SSH probe runs ``logger`` with :data:`grader.check.TOKEN`; the SSH batch
runs before this channel by design of the runner); :meth:`SyslogChannel.collect` then waits,
bounded by ``wait`` seconds, for a line containing the token and returns what arrived.

Everyone on the exam network can send here, so the collector keeps only what a verdict needs,
within :class:`Limits`: the lines carrying an awaited token (found by the token's shape and looked
up in an index, never by rescanning what arrived), a few per token and per source, the host's own
ones always; and per sender its latest lines only (the « autre » lines), in lines and bytes, so
that one sender evicts nobody's lines but its own; everything under one memory bound. What it
could not keep (a cap hit), what the kernel dropped unread (receive buffer full) and the TCP
connections it refused are counted; when some of it may have been the line a host's verdict
waits for, the probe's output says so (« saturé » line) and the judge says ``erreur``, never
``non_conforme``.

The probe (the token awaited) and its output (``jeton``, ``autre`` and ``saturé`` lines) are the probe
language, :mod:`grader.probes.syslog`. Line framing over TCP: octet counting (RFC 6587) or one message per line.
"""

from __future__ import annotations

import os
import re
import selectors
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from grader.errors import TransportError
from grader.model import Msg, Probe, ProbeResult
from grader.probes.syslog import CHANNEL, SyslogOptions
from grader.transports.base import Channel, Collected, HostContext

_OTHERS = 5
_OCTET_COUNT = re.compile(rb"^(\d{1,5}) ")
#: The run's tokens (:func:`grader.runner.plan`: ``secrets.token_hex(8)``): 16 lowercase hex digits.
_TOKEN = re.compile(r"[0-9a-f]{16}")
#: Every byte that is not a lowercase hex digit becomes a space: what remains, split, are a line's
#: candidate tokens (one C-level pass, whatever the line holds).
_HEX_ONLY = bytes(c if c in b"0123456789abcdef" else 0x20 for c in range(256))
#: What a kept line costs beyond its text (the record, its numbers and source, its slots), in bytes.
_COST = 320
_READS_PER_ROUND = 256  # datagrams read before the other sockets get their turn
_SAMPLE_EVERY = 0.2  # seconds between two readings of the kernel's drop counters


@dataclass(frozen=True)
class Limits:
    """What the collector keeps, whatever the room sends.

    Worst case held: ``total_bytes`` (24 MiB), plus the run's hosts' own token lines (``token_lines`` per
    host), plus ``tcp_connections`` unfinished frames of ``tcp_pending`` bytes (8 MiB), plus one batch of
    datagrams being read (256 x ``line_bytes``: 2 MiB) and the counters (a few hundred bytes per sender).
    """

    line_bytes: int = 8192  # a longer message is cut
    recent_lines: int = 8  # per sender: its latest lines (the « autre » lines shown), the oldest go first
    recent_bytes: int = 16 * 1024  # per sender, likewise
    senders: int = 1024  # senders followed besides the run's hosts (a spoofing room is not followed further)
    token_lines: int = 3  # lines kept per awaited token and per source (the first ones)
    token_sources: int = 8  # sources kept per awaited token, besides the host's own address
    total_bytes: int = 24 * 1024 * 1024  # everything kept, but the hosts' own token lines
    tcp_connections: int = 256  # open at once; more are refused (and counted)
    tcp_per_source: int = 16
    tcp_pending: int = 4 * 8192  # an unfinished frame longer than this is taken as one message


@dataclass(frozen=True, slots=True)
class Received:
    at: float  # time.monotonic()
    wall: float  # time.time()
    source: str
    source_port: int
    protocol: str
    local_port: int
    text: str

    @property
    def when(self) -> str:
        """ISO 8601 UTC, milliseconds."""
        return datetime.fromtimestamp(self.wall, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    @property
    def cost(self) -> int:
        return sys.getsizeof(self.text) + _COST

    def said(self, kind: str) -> Msg:
        """The line of the probe's output: ``jeton`` (the probe's own line) or ``autre``, words of the report's language."""
        record = f"{self.when} {self.source}:{self.source_port} {self.protocol}/{self.local_port} {self.text}"
        return Msg("jeton {record}", record=record) if kind == "jeton" else Msg("autre {record}", record=record)


@dataclass(frozen=True)
class Losses:
    """What a host's verdict may have missed: lines the collector could not keep or never read."""

    token: int  # lines carrying the host's token, not kept (a cap hit)
    host: int  # lines from the host's address kept nowhere
    unread: int  # lines the kernel dropped unread (receive buffer full) since the host's grading began
    refused: int  # TCP connections refused (caps) since the host's grading began

    @property
    def lost(self) -> int:
        return self.token + self.host + self.unread + self.refused

    def said(self, source: str) -> Msg:
        """The ``saturé`` line of the probe's output."""
        return Msg("saturé {lost} lignes perdues : {token} portant le jeton, {host} de {source}, {unread} non lues "
                   "(tampon du noyau plein), {refused} connexions refusées", lost=self.lost, token=self.token,
                   host=self.host, source=source, unread=self.unread, refused=self.refused)


class _Sender:
    """One source address: its latest lines, what they cost, what of it was kept nowhere."""

    __slots__ = ("bytes", "dropped", "recent")

    def __init__(self) -> None:
        self.recent: deque[Received] = deque()
        self.bytes = 0
        self.dropped = 0


class _Awaited:
    """One awaited token: its lines per source (the first ones), what carried it and was not kept."""

    __slots__ = ("dropped", "lines", "source")

    def __init__(self, source: str | None) -> None:
        self.source = source  # the host's address: its lines are always kept
        self.lines: dict[str, list[Received]] = {}
        self.dropped = 0


class _Tally:
    """A count of losses nobody can attribute (the kernel's drops, refused connections), and when it grew."""

    def __init__(self, keep: int = 4096) -> None:
        self.total = 0
        self._marks: deque[tuple[float, int]] = deque(maxlen=keep)

    def reach(self, total: int, at: float) -> None:
        if total > self.total:
            self.total = total
            self._marks.append((at, total))

    def since(self, t0: float) -> int:
        """Grown since ``t0`` (or a little before: a growth is dated when it was seen; all, when marks were forgotten)."""
        before = 0
        for at, total in reversed(self._marks):
            if at <= t0:
                before = total
                break
        return self.total - before


@dataclass
class _Conn:
    buffer: bytes
    source: str
    source_port: int
    local_port: int


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _clean(data: bytes) -> str:
    text = data.decode("utf-8", "replace").rstrip("\r\n\0")
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _udp_drops(inodes: set[int]) -> int | None:
    """Datagrams the kernel dropped on these UDP sockets (receive buffer full), from /proc (None elsewhere)."""
    if not inodes:
        return 0
    total = 0
    try:
        with open("/proc/net/udp", encoding="ascii") as table:
            next(table, None)
            for line in table:
                fields = line.split()
                if len(fields) > 12 and fields[9].isdigit() and int(fields[9]) in inodes:
                    total += int(fields[-1])
    except (OSError, ValueError):
        return None
    return total


class Collector:
    """Listeners plus one thread reading what they receive, within :class:`Limits`. Readers wait on a condition."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.bound: dict[tuple[str, str, int], tuple[str, int]] = {}  # wanted endpoint -> real (addr, port)
        self.failed: dict[tuple[str, str, int], str] = {}
        self.stored = 0  # bytes kept under limits.total_bytes
        self.reserved = 0  # bytes of the hosts' own token lines
        self.ignored = 0  # lines kept nowhere
        self.unread = _Tally()  # datagrams the kernel dropped
        self.refused = _Tally()  # TCP connections refused
        self._cond = threading.Condition()
        self._selector = selectors.DefaultSelector()
        self._conns: dict[socket.socket, _Conn] = {}
        self._conns_from: dict[str, int] = {}  # TCP connections open, per source
        self._senders: dict[str, _Sender] = {}
        self._hosts: set[str] = set()  # the run's hosts' addresses: always followed
        self._awaited: dict[str, _Awaited] = {}
        self._by_hex: dict[bytes, _Awaited] = {}  # the awaited tokens of the run's shape
        self._odd: list[str] = []  # awaited tokens of another shape: looked for as substrings
        self._udp_inodes: set[int] = set()
        self._sampled = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def dropped(self) -> int:
        """Every line lost: kept nowhere, dropped unread by the kernel; and every refused connection."""
        return self.ignored + self.unread.total + self.refused.total

    # -- set-up ---------------------------------------------------------------------

    def expect(self, token: str, source: str | None) -> None:
        """Await ``token`` from ``source`` (the host's address): the lines carrying it are kept from now on.

        Registered at the start of the run for every host; a token registered late (a channel used
        outside a run) is also looked for in the senders' latest lines.
        """
        with self._cond:
            if source:
                self._hosts.add(source)
                self._senders.setdefault(source, _Sender())
            awaited = self._awaited.get(token)
            if awaited is not None:
                awaited.source = awaited.source or source
                return
            awaited = self._awaited[token] = _Awaited(source)
            if _TOKEN.fullmatch(token):
                self._by_hex[token.encode()] = awaited
            else:
                self._odd.append(token)
            for sender in self._senders.values():
                for r in sender.recent:
                    if token in r.text:
                        self._index(awaited, r)

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
            if proto == "udp":
                self._udp_inodes.add(os.fstat(sock.fileno()).st_ino)
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
                        self._accept(sock, local_port)
                    else:
                        self._read_tcp(sock)
                except OSError:
                    continue
            if time.monotonic() - self._sampled >= _SAMPLE_EVERY:
                self.sample()

    def sample(self) -> None:
        """Read the kernel's count of datagrams dropped unread on the listeners."""
        self._sampled = time.monotonic()
        drops = _udp_drops(self._udp_inodes)
        if drops is not None:
            with self._cond:
                self.unread.reach(drops, self._sampled)

    def _read_udp(self, sock: socket.socket, local_port: int) -> None:
        got: list[tuple[str, int, bytes]] = []
        for _ in range(_READS_PER_ROUND):
            try:
                data, peer = sock.recvfrom(self.limits.line_bytes)  # a longer datagram is cut: it would be anyway
            except BlockingIOError:
                break
            got.append((peer[0], peer[1], data))
        if got:
            self._record(got, "udp", local_port)

    def _accept(self, listener: socket.socket, local_port: int) -> None:
        conn, peer = listener.accept()
        limits = self.limits
        if len(self._conns) >= limits.tcp_connections or self._conns_from.get(peer[0], 0) >= limits.tcp_per_source:
            conn.close()
            with self._cond:
                self.refused.reach(self.refused.total + 1, time.monotonic())
            return
        self._conns_from[peer[0]] = self._conns_from.get(peer[0], 0) + 1
        conn.setblocking(False)
        self._conns[conn] = _Conn(b"", peer[0], peer[1], local_port)
        self._selector.register(conn, selectors.EVENT_READ, ("tcp", local_port))

    def _read_tcp(self, conn: socket.socket) -> None:
        state = self._conns[conn]
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            if state.buffer.strip():
                self._record([(state.source, state.source_port, state.buffer)], "tcp", state.local_port)
            self._selector.unregister(conn)
            conn.close()
            del self._conns[conn]
            left = self._conns_from.pop(state.source, 1) - 1
            if left:
                self._conns_from[state.source] = left
            return
        messages, rest = split_frames(state.buffer + data)
        if len(rest) > self.limits.tcp_pending:  # a sender that never ends its frame: keep what we have
            messages, rest = messages + [rest], b""
        state.buffer = rest
        if messages:
            self._record([(state.source, state.source_port, m) for m in messages], "tcp", state.local_port)

    # -- keeping --------------------------------------------------------------------

    def _record(self, messages: Iterable[tuple[str, int, bytes]], protocol: str, local_port: int) -> None:
        limits = self.limits
        at, wall = time.monotonic(), time.time()
        arrived = False
        with self._cond:
            for source, source_port, raw in messages:
                raw = raw[:limits.line_bytes]
                text = _clean(raw)
                if not text:
                    continue
                r = Received(at, wall, source, source_port, protocol, local_port, text)
                kept = False
                for awaited in self._tokens_in(raw, text):
                    if self._index(awaited, r):
                        kept = arrived = True
                sender = self._senders.get(source)
                if sender is None and len(self._senders) - len(self._hosts) < limits.senders:
                    sender = self._senders[source] = _Sender()
                if sender is not None and self._keep_recent(sender, r):
                    kept = True
                if not kept:
                    self.ignored += 1
                    if sender is not None:
                        sender.dropped += 1
            if arrived:
                self._cond.notify_all()

    def _tokens_in(self, raw: bytes, text: str) -> list[_Awaited]:
        """The awaited tokens a line carries: its words of the tokens' shape looked up, the odd ones searched."""
        found: list[_Awaited] = []
        if self._by_hex:
            found = [self._by_hex[w] for w in self._by_hex.keys() & set(raw.translate(_HEX_ONLY).split())]
        for token in self._odd:
            if token in text and self._awaited[token] not in found:
                found.append(self._awaited[token])
        return found

    def _index(self, awaited: _Awaited, r: Received) -> bool:
        """Keep ``r`` under its token (False when a cap refused it: counted against the token)."""
        limits = self.limits
        bucket = awaited.lines.get(r.source)
        if bucket is not None and len(bucket) >= limits.token_lines:
            return True  # the first lines of this source with this token are kept: a repeat loses nothing
        if r.source == awaited.source:  # the host's own line: always room (run's hosts x token_lines)
            self.reserved += r.cost
        else:
            others = len(awaited.lines) - (awaited.source in awaited.lines)
            if (bucket is None and others >= limits.token_sources) or self.stored + r.cost > limits.total_bytes:
                awaited.dropped += 1
                return False
            self.stored += r.cost
        awaited.lines.setdefault(r.source, []).append(r)
        return True

    def _keep_recent(self, sender: _Sender, r: Received) -> bool:
        """Keep ``r`` among its sender's latest lines, evicting only that sender's oldest (False: no room left)."""
        limits = self.limits
        recent, cost = sender.recent, r.cost
        freed = gone = 0
        while gone < len(recent) and (len(recent) - gone >= limits.recent_lines
                                      or sender.bytes - freed + cost > limits.recent_bytes):
            freed += recent[gone].cost
            gone += 1
        if self.stored - freed + cost > limits.total_bytes:
            return False
        for _ in range(gone):
            recent.popleft()
        recent.append(r)
        sender.bytes += cost - freed
        self.stored += cost - freed
        return True

    # -- readers --------------------------------------------------------------------

    def wait_for(self, token: str, source: str, deadline: float) -> list[Received]:
        """Lines containing ``token`` (awaited: see :meth:`expect`); returns as soon as one came from ``source``
        (or at the deadline)."""
        with self._cond:
            awaited = self._awaited.get(token)
            while awaited is not None and source not in awaited.lines:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(timeout=min(remaining, 0.2))
            found = [r for lines in awaited.lines.values() for r in lines] if awaited is not None else []
        return sorted(found, key=lambda r: r.at)

    def from_source(self, source: str, limit: int) -> list[Received]:
        with self._cond:
            sender = self._senders.get(source)
            mine = list(sender.recent) if sender is not None else []
        return mine[-limit:]

    def losses(self, token: str, source: str, since: float) -> Losses:
        """What may have carried ``token`` and was lost; the unattributable losses counted from ``since``."""
        self.sample()
        with self._cond:
            awaited, sender = self._awaited.get(token), self._senders.get(source)
            return Losses(awaited.dropped if awaited is not None else 0, sender.dropped if sender is not None else 0,
                          self.unread.since(since), self.refused.since(since))


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

    def __init__(self, limits: Limits | None = None) -> None:
        self.collector: Collector | None = None
        self.limits = limits

    def start(self, jobs: Sequence[Any]) -> None:
        endpoints: list[tuple[str, str, int]] = []
        collector = Collector(self.limits)
        for job in jobs:
            probes = [p for p in job.unique_probes() if p.transport == self.name]
            if not probes:
                continue
            for probe in probes:  # the tokens the run awaits, each from its host's address
                if probe.command.strip():
                    collector.expect(probe.command.strip(), getattr(job, "address", None))
            try:
                options = SyslogOptions.model_validate(job.channel_options(self.name))
            except ValidationError:
                continue  # reported by the rubric validation; this host's collect says so too
            endpoints += options.endpoints()
        self.collector = collector
        collector.listen(endpoints)

    def stop(self) -> None:
        if self.collector is not None:
            self.collector.close()
            self.collector = None

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        since = time.monotonic() - host.deadline.elapsed()  # the host's grading began: its line was sent since
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
            collector.expect(token, host.address)  # already awaited in a run: the channel started with its hosts
            deadline = time.monotonic() + min(options.wait, host.deadline.remaining())
            found = collector.wait_for(token, host.address, deadline)
            others = [r for r in collector.from_source(host.address, _OTHERS + len(found)) if token not in r.text]
            losses = collector.losses(token, host.address, since)
            said: Msg = Msg("écoute {listening} ; source attendue {source} ; attente {wait:g} s\n",
                            listening=listening, source=host.address, wait=options.wait)
            lines = [r.said("jeton") for r in found] + [r.said("autre") for r in others[-_OTHERS:]]
            if losses.lost:
                lines.append(losses.said(host.address))
            for line in lines:
                said = Msg("{previous}{line}\n", previous=said, line=line)  # the output, line by line, by reference
            arrived = any(r.source == host.address for r in found)
            results[probe.key] = ProbeResult(probe.key, probe.transport, probe.command, stdout=said,
                                             exit_code=0 if arrived else 1, started=started,
                                             duration=time.perf_counter() - t0)
        anomalies: list[str | Msg] = ([Msg("collecteur syslog saturé : {dropped} lignes ignorées",
                                           dropped=collector.dropped)] if collector.dropped else [])
        return Collected(results, login="", anomalies=anomalies, execs=0)
