"""The grader's syslog collector (``syslog`` channel) on 127.0.0.1: real sockets, lines sent here.

The lab test (tests/test_network_lab.py) proves the same path from candidates' rsyslog; these
tests pin the contract: listeners bound by ``start`` for the run's jobs (UDP and TCP, octet
counting or LF framing), ``collect`` waiting for the token (bounded), the source address
recorded, a port the grader cannot bind and a collector never started reported as erreur.
"""

from __future__ import annotations

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
from grader.transports.syslog import SyslogChannel, split_frames


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
