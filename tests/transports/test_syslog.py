"""The grader's syslog collector (``syslog`` channel) on 127.0.0.1: real sockets, lines sent here.

The lab test (tests/test_network_lab.py) proves the same path from candidates' rsyslog; these
tests pin the contract: listeners bound by ``start`` for the run's jobs (UDP and TCP, octet
counting or LF framing), ``collect`` waiting for the token (bounded), the source address
recorded, a port the grader cannot bind and a collector never started reported as erreur; and a
hostile room: a flood from another sender leaves an honest host's verdict and the grader's memory
as they were, and a line the collector had to drop makes the verdict erreur, never non conforme.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field

import pytest

from checks.network.syslog import SyslogDelivered, parse_arrivals
from grader import i18n_checks
from grader.errors import TransportError
from grader.model import Probe, ProbeResult, Status
from grader.probes.syslog import SyslogOptions
from grader.transports.base import HostContext
from grader.transports.syslog import Limits, SyslogChannel, split_frames


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class FakeHost:
    options: dict = field(default_factory=dict)


@dataclass
class FakeJob:
    """What start() reads of a runner HostJob: its probes and its host's options (rendered for the candidate)."""

    host: FakeHost
    probes: list[Probe]
    address: str = "127.0.0.1"

    def unique_probes(self) -> list[Probe]:
        return self.probes

    def channel_options(self, channel: str) -> dict:
        return self.host.options.get(channel, {})


def context(options: SyslogOptions, address: str = "127.0.0.1") -> HostContext:
    return HostContext("srv", address, "linux", None, None, {}, options)


def send_udp(port: int, text: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(text.encode(), ("127.0.0.1", port))


def started(options: SyslogOptions, token: str = "tok") -> SyslogChannel:
    channel = SyslogChannel()
    channel.start([FakeJob(FakeHost({"syslog": options.model_dump()}), [Probe("syslog", token)]),
                   FakeJob(FakeHost({}), [Probe("ssh", "/bin/true")])])  # a job without syslog probe: ignored
    return channel


def test_split_frames_octet_counting_and_lf():
    assert split_frames(b"12 <13>hello") == ([], b"12 <13>hello")  # 9 bytes of 12: wait for the rest
    assert split_frames(b"9 <13>hello<14>next\nrest") == ([b"<13>hello", b"<14>next"], b"rest")
    assert split_frames(b"<13>a\n<13>b\n") == ([b"<13>a", b"<13>b"], b"")


def test_udp_line_with_token_arrives_and_is_judged_conforme():
    port = free_port(socket.SOCK_DGRAM)
    options = SyslogOptions(listen="127.0.0.1", port=port, wait=3)
    channel = started(options)
    try:
        send_udp(port, "<13>Nov 22 10:00:00 srv-lin systemd[1]: Started foo.")
        token = "grader-3f2a9c0d11aa"
        threading.Timer(0.2, send_udp, (port, f"<13>Nov 22 10:00:01 srv-lin grader-probe: {token}")).start()
        got = channel.collect(context(options), [Probe("syslog", token)])
    finally:
        channel.stop()
    [r] = got.results.values()
    assert r.exit_code == 0 and got.execs == 0
    report = parse_arrivals(r.stdout)
    assert report.source == "127.0.0.1" and report.listen == f"udp 127.0.0.1:{port}"
    assert [a.kind for a in report.lines] == ["jeton", "autre"] and report.lines[0].channel == f"udp/{port}"
    # the collector's own words, by reference: an English report shows them in English, the hosts' lines as read
    assert r.stdout_ref is not None and r.stdout_ref.render() == r.stdout
    english = i18n_checks.say(r.stdout_ref, r.stdout, "en").splitlines()
    assert english[0] == f"listening on udp 127.0.0.1:{port}; expected source 127.0.0.1; wait 3 s"
    assert english[1].startswith("token ") and english[1].endswith(f"grader-probe: {token}")
    assert english[2].startswith("other ") and english[2].endswith("systemd[1]: Started foo.")
    logger = ProbeResult("k", "ssh", f"/usr/bin/logger -t grader-probe {token}", exit_code=0)
    verdict = SyslogDelivered().judge(SyslogDelivered.Params(), {"logger": logger, "arrival": r})
    assert verdict.status is Status.CONFORME and "127.0.0.1" in verdict.observed


def test_nothing_arrives_within_wait_is_non_conforme_with_what_did_arrive():
    port = free_port(socket.SOCK_DGRAM)
    options = SyslogOptions(listen="127.0.0.1", port=port, wait=0.4)
    channel = started(options)
    try:
        send_udp(port, "<30>Nov 22 10:00:00 srv-lin cron[42]: (root) CMD (true)")
        time.sleep(0.1)
        got = channel.collect(context(options), [Probe("syslog", "grader-neverarrives")])
    finally:
        channel.stop()
    [r] = got.results.values()
    assert r.exit_code == 1
    logger = ProbeResult("k", "ssh", "/usr/bin/logger -t grader-probe grader-neverarrives", exit_code=0)
    verdict = SyslogDelivered().judge(SyslogDelivered.Params(), {"logger": logger, "arrival": r})
    assert verdict.status is Status.NON_CONFORME and "n'arrive jamais" in verdict.message
    assert "cron[42]" in verdict.observed  # the jury sees that the host does send other lines


def test_tcp_octet_counted_and_lf_framed():
    port = free_port(socket.SOCK_STREAM)
    options = SyslogOptions(listen="127.0.0.1", port=port, protocol="tcp", wait=3)
    channel = started(options)
    try:
        with socket.create_connection(("127.0.0.1", port)) as s:
            msg = b"<13>Nov 22 10:00:00 srv-lin grader-probe: tok-oc"
            s.sendall(str(len(msg)).encode() + b" " + msg + b"<13>Nov 22 10:00:00 srv-lin grader-probe: tok-lf\n")
            got = channel.collect(context(options), [Probe("syslog", "tok-oc"), Probe("syslog", "tok-lf")])
    finally:
        channel.stop()
    assert {r.command: r.exit_code for r in got.results.values()} == {"tok-oc": 0, "tok-lf": 0}
    assert all(f"tcp/{port}" in r.stdout for r in got.results.values())


def test_line_from_another_source_is_not_the_hosts():
    port = free_port(socket.SOCK_DGRAM)
    options = SyslogOptions(listen="127.0.0.1", port=port, wait=0.3)
    channel = started(options)
    try:
        send_udp(port, "<13>Nov 22 10:00:00 relais grader-probe: tok-relay")
        got = channel.collect(context(options, address="10.77.9.9"), [Probe("syslog", "tok-relay")])
    finally:
        channel.stop()
    [r] = got.results.values()
    assert r.exit_code == 1  # arrived, but not from 10.77.9.9
    logger = ProbeResult("k", "ssh", "/usr/bin/logger -t grader-probe tok-relay", exit_code=0)
    v = SyslogDelivered().judge(SyslogDelivered.Params(), {"logger": logger, "arrival": r})
    assert v.status is Status.NON_CONFORME and "depuis 127.0.0.1 au lieu de 10.77.9.9" in v.message
    relay = SyslogDelivered().judge(SyslogDelivered.Params(source="127.0.0.1"), {"logger": logger, "arrival": r})
    assert relay.status is Status.CONFORME  # the rubric names the relay the lines come through


def test_port_the_grader_cannot_bind_is_erreur_for_its_hosts_only():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        options = SyslogOptions(listen="127.0.0.1", port=port)
        channel = SyslogChannel()
        channel.start([FakeJob(FakeHost({"syslog": {"listen": "127.0.0.1", "port": port}}), [Probe("syslog", "t")])])
        try:
            with pytest.raises(TransportError) as info:
                channel.collect(context(options), [Probe("syslog", "t")])
        finally:
            channel.stop()
    assert "n'a pas pu écouter" in str(info.value) and str(port) in str(info.value)


def test_collector_not_started_is_erreur_not_non_conforme():
    with pytest.raises(TransportError) as info:
        SyslogChannel().collect(context(SyslogOptions()), [Probe("syslog", "t")])
    assert "pas démarré" in str(info.value)


def test_stop_releases_the_port_and_can_be_repeated():
    port = free_port(socket.SOCK_DGRAM)
    channel = started(SyslogOptions(listen="127.0.0.1", port=port, protocol="both"))
    channel.stop()
    channel.stop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", port))  # free again


# -- a hostile room ---------------------------------------------------------------------------------
# Two candidates' hosts are two source addresses on loopback (every 127.x address is local: a socket
# bound to 127.0.0.2 sends from 127.0.0.2). The "flood from another namespace" is exactly that
# for the collector, which only sees a datagram's source address; distinct loopback addresses make it
# deterministic and need no privilege (no ip netns).


def judged(r: ProbeResult, token: str, **params: str):
    logger = ProbeResult("k", "ssh", f"/usr/bin/logger -t grader-probe {token}", exit_code=0)
    return SyslogDelivered().judge(SyslogDelivered.Params(**params), {"logger": logger, "arrival": r})


def free_port_both() -> int:
    """A port free in UDP and TCP alike (``protocol: both`` listens on one port number)."""
    for _ in range(50):
        port = free_port(socket.SOCK_DGRAM)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise AssertionError("no port free in both UDP and TCP")


def send_from(source: str, port: int, lines: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        for line in lines:
            s.sendto(line, ("127.0.0.1", port))


def resident() -> int:
    """The process's resident size, in bytes (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def eventually(condition, seconds: float = 5.0) -> None:
    limit = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < limit, "the collector never got there"
        time.sleep(0.02)


def test_a_flood_from_another_sender_leaves_the_honest_verdict_and_memory_as_they_were():
    """200,000 lines from 127.0.0.2 as fast as Python sends them (junk up to 8 KiB, tokens of the run's
    shape that nobody awaits); the honest host 127.0.0.3 sends one line before, then its test line in
    the middle of the flood. Its verdict stays conforme, its own « autre » line is still there (a sender
    evicts nobody's lines but its own), and the grader's memory stays bounded: the process's resident
    size, read every 20 ms during the flood, grows by less than 50 MiB (the collector before this bound
    kept every line: 2.2 GiB for 200,000 lines of 8 KiB), and what the collector holds stays < 1 MiB.

    UDP on loopback drops datagrams by itself under such a flood (the kernel's receive buffer): that
    is not what is tested, so the honest test line is sent again every 50 ms until the collector has
    it (ack-free; a real host sends it once, and a line the kernel dropped makes its verdict erreur,
    see below)."""
    port = free_port(socket.SOCK_DGRAM)
    options = SyslogOptions(listen="127.0.0.1", port=port, wait=30)
    honest, flooder = secrets.token_hex(8), secrets.token_hex(8)
    channel = SyslogChannel()
    try:
        channel.start([FakeJob(FakeHost({"syslog": options.model_dump()}), [Probe("syslog", honest)], "127.0.0.3"),
                       FakeJob(FakeHost({"syslog": options.model_dump()}), [Probe("syslog", flooder)], "127.0.0.2")])
        collector = channel.collector
        assert collector is not None
        send_from("127.0.0.3", port, [b"<30>Nov 22 10:00:00 srv-lin systemd[1]: Started foo."])
        eventually(lambda: collector.from_source("127.0.0.3", 1) != [])
        base = peak = resident()
        middle, flooded, done = threading.Event(), threading.Event(), threading.Event()
        junk = [b"<13>Nov 22 10:00:00 evil cron[%d]: " % n + b"x" * n for n in (0, 60, 300, 1500, 8000)]

        def flood() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.2", 0))
                for i in range(200_000):
                    line = junk[i % 5] if i % 2 else b"<13>Nov 22 10:00:00 evil grader-probe: " + os.urandom(8).hex().encode()
                    s.sendto(line, ("127.0.0.1", port))
                    if i == 100_000:
                        middle.set()
            flooded.set()

        def candidate() -> None:
            middle.wait(60)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.3", 0))
                while not done.is_set():
                    s.sendto(f"<13>Nov 22 10:00:01 srv-lin grader-probe: {honest}".encode(), ("127.0.0.1", port))
                    done.wait(0.05)

        def watch() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, resident())
                done.wait(0.02)

        threads = [threading.Thread(target=t) for t in (flood, candidate, watch)]
        for t in threads:
            t.start()
        middle.wait(60)
        got = channel.collect(context(options, "127.0.0.3"), [Probe("syslog", honest)])
        flooded.wait(120)
        done.set()
        for t in threads:
            t.join(10)
        time.sleep(0.3)  # the collector reads what the kernel still holds
        peak = max(peak, resident())
        kept = collector.stored + collector.reserved
        flooder_lines = collector.from_source("127.0.0.2", 100)
        lost = channel.collect(context(SyslogOptions(listen="127.0.0.1", port=port, wait=0.2), "127.0.0.2"),
                               [Probe("syslog", flooder)])
    finally:
        channel.stop()
    [r] = got.results.values()
    assert r.exit_code == 0
    verdict = judged(r, honest)
    assert verdict.status is Status.CONFORME and "reçue de 127.0.0.3" in verdict.observed
    assert "systemd[1]: Started foo." in r.stdout  # the flood evicted none of the honest host's lines
    assert 0 < len(flooder_lines) <= Limits().recent_lines  # the flooder keeps its latest lines, no more
    assert kept < 1024 * 1024 and peak - base < 50 * 1024 * 1024, (kept, peak - base)
    [f] = lost.results.values()
    assert judged(f, flooder).status is not Status.CONFORME  # its own token never came


def test_a_test_line_lost_to_a_full_collector_is_erreur_with_why_not_non_conforme():
    """The collector's memory bound (here 64 KiB) filled by 20 senders (127.0.0.20-39, each within its own
    caps: a spoofing room) until a 1.5 KiB line finds no room; then the relay 127.0.0.4 forwards host
    127.0.0.9's test line (2 KiB) over TCP: it carries an awaited token, but there is no room left for
    a relay's line (only the host's own lines are always kept). The host's verdict is erreur, saying what was lost, not non conforme."""
    port = free_port_both()
    options = SyslogOptions(listen="127.0.0.1", port=port, protocol="both", wait=0.3)
    token = secrets.token_hex(8)
    channel = SyslogChannel(Limits(total_bytes=64 * 1024))
    channel.start([FakeJob(FakeHost({"syslog": options.model_dump()}), [Probe("syslog", token)], "127.0.0.9")])
    try:
        collector = channel.collector
        assert collector is not None
        for n in range(20, 40):
            send_from(f"127.0.0.{n}", port, [b"<13>Nov 22 10:00:00 spoof noise: " + b"y" * 1500] * 8)
        eventually(lambda: collector.ignored > 0)
        with socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.4", 0)) as relay:
            relay.sendall(f"<13>Nov 22 10:00:01 srv-lin grader-probe: {token} {'z' * 2000}\n".encode())
        eventually(lambda: collector.losses(token, "127.0.0.9", 0.0).token == 1)
        got = channel.collect(context(options, "127.0.0.9"), [Probe("syslog", token)])
    finally:
        channel.stop()
    [r] = got.results.values()
    assert r.exit_code == 1 and parse_arrivals(r.stdout).saturation is not None
    verdict = judged(r, token, source="127.0.0.4")
    assert verdict.status is Status.ERREUR, verdict
    assert "collecteur syslog saturé" in verdict.message and "1 portant son jeton" in verdict.message
    assert "la ligne de test a pu en faire partie" in verdict.message
    english = i18n_checks.say(verdict.message_ref, verdict.message, "en")
    assert english.startswith("syslog collector overloaded: ") and "1 carrying its token" in english


def test_lines_the_kernel_dropped_while_the_host_was_graded_make_a_missing_line_erreur():
    """Datagrams the kernel dropped unread (receive buffer full: read from /proc/net/udp) cannot be
    attributed: any could have been the test line. Counted since the host's grading began (its
    deadline): before, they are another host's business. Simulated here on the collector's tally
    (a real kernel drop depends on the machine's speed)."""
    port = free_port(socket.SOCK_DGRAM)
    options = SyslogOptions(listen="127.0.0.1", port=port, wait=0.2)
    channel = started(options)
    try:
        collector = channel.collector
        assert collector is not None
        collector.unread.reach(500, time.monotonic())  # dropped before this host's grading
        time.sleep(0.01)
        host = context(options)
        before = channel.collect(host, [Probe("syslog", "0123456789abcdef")])
        collector.unread.reach(740, time.monotonic())  # dropped while it is graded
        during = channel.collect(host, [Probe("syslog", "0123456789abcdef")])
    finally:
        channel.stop()
    [r] = before.results.values()
    assert "saturé" not in r.stdout and judged(r, "0123456789abcdef").status is Status.NON_CONFORME
    [r] = during.results.values()
    report = parse_arrivals(r.stdout)
    assert report.saturation is not None and report.saturation.unread == 240
    verdict = judged(r, "0123456789abcdef")
    assert verdict.status is Status.ERREUR and "240 non lues" in verdict.message
    assert "aucune ligne reçue de 127.0.0.1" in verdict.observed  # what did arrive, as for non conforme


def test_tcp_connections_beyond_the_caps_are_refused_and_counted():
    port = free_port(socket.SOCK_STREAM)
    options = SyslogOptions(listen="127.0.0.1", port=port, protocol="tcp", wait=0.2)
    channel = SyslogChannel(Limits(tcp_per_source=2))
    channel.start([FakeJob(FakeHost({"syslog": options.model_dump()}), [Probe("syslog", "tok")])])
    try:
        collector = channel.collector
        assert collector is not None
        opened = [socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.5", 0)) for _ in range(3)]
        eventually(lambda: collector.refused.total == 1)
        other = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.6", 0))
        other.sendall(b"<13>Nov 22 10:00:00 srv-lin grader-probe: tok-6\n")
        got = channel.collect(context(options, "127.0.0.6"), [Probe("syslog", "tok-6")])
        for s in [*opened, other]:
            s.close()
    finally:
        channel.stop()
    [r] = got.results.values()
    assert r.exit_code == 0 and judged(r, "tok-6").status is Status.CONFORME  # another source still gets in


def test_the_runs_tokens_are_found_by_their_shape():
    """A token of the runner's shape (16 lowercase hex digits) is found wherever it is not part of a
    longer run of hex digits; the lines carrying no awaited token are the sender's « autre » lines."""
    port = free_port(socket.SOCK_DGRAM)
    options = SyslogOptions(listen="127.0.0.1", port=port, wait=1)
    glued, buried = secrets.token_hex(8), secrets.token_hex(8)
    channel = SyslogChannel()
    channel.start([FakeJob(FakeHost({"syslog": options.model_dump()}), [Probe("syslog", glued), Probe("syslog", buried)])])
    try:
        send_udp(port, f"<13>Nov 22 10:00:00 srv-lin grader-probe:{buried}ff")
        send_udp(port, f"<13>Nov 22 10:00:00 srv-lin grader-probe:{glued}.")
        got = channel.collect(context(options), [Probe("syslog", glued)])
    finally:
        channel.stop()
    [r] = got.results.values()
    kinds = [(a.kind, a.text.split(":")[-1]) for a in parse_arrivals(r.stdout).lines]
    assert ("jeton", f"{glued}.") in kinds and ("autre", f"{buried}ff") in kinds
