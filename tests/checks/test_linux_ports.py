"""linux.port_listening: ``ss -Hlnpt`` / ``ss -Hlnpu`` captured on Debian 12 (iproute2 6.1.0)."""

from __future__ import annotations

import pydantic
import pytest

from checks.linux.ports import PortListening, parse_ss
from grader.model import Status


def tcp(judge, capture, **params):
    return judge(PortListening, params, ss=capture("ss_tcp.txt"))


def udp(judge, capture, **params):
    return judge(PortListening, {"protocol": "udp", **params}, ss=capture("ss_udp.txt"))


def test_listening_on_all_addresses(judge, capture):
    v = tcp(judge, capture, port=18080, process="apache2")
    assert v.status is Status.CONFORME
    assert "0.0.0.0:18080 (apache2)" in v.observed and "[::]:18080" in v.observed
    assert "local" not in v.observed


def test_loopback_only_is_listening_but_said_so(judge, capture):
    v = tcp(judge, capture, port=13306)
    assert v.status is Status.CONFORME
    assert "127.0.0.1:13306" in v.observed and "[::1]:13306" in v.observed
    assert "uniquement en local" in v.observed and "boucle locale" in v.message


def test_interface_bound_forms(judge, capture):
    v = tcp(judge, capture, port=10053)
    assert "127.0.0.53%lo:10053" in v.observed and "uniquement en local" in v.observed
    v = tcp(judge, capture, port=10022)
    assert v.status is Status.CONFORME and "[fe80::fc:ff:fe00:1]%eth0:10022" in v.observed
    assert "uniquement en local" not in v.observed


def test_dual_stack_wildcard(judge, capture):
    v = tcp(judge, capture, port=18443)
    assert v.status is Status.CONFORME and "*:18443" in v.observed and "local" not in v.observed


def test_nothing_on_port_is_non_conforme(judge, capture):
    v = tcp(judge, capture, port=80)
    assert v.status is Status.NON_CONFORME


def test_other_process_on_port_is_non_conforme(judge, capture):
    v = tcp(judge, capture, port=18080, process="nginx")
    assert v.status is Status.NON_CONFORME and "apache2" in v.observed


def test_process_not_visible_cannot_be_judged(judge, capture):
    # 0.0.0.0:2024 belongs to a process ss cannot name: we cannot tell who listens.
    v = tcp(judge, capture, port=2024, process="sshd")
    assert v.status is Status.ERREUR
    assert tcp(judge, capture, port=2024).status is Status.CONFORME


def test_tcp_port_is_not_udp_port(judge, capture):
    assert udp(judge, capture, port=18080).status is Status.NON_CONFORME
    assert tcp(judge, capture, port=10161).status is Status.NON_CONFORME


def test_udp_forms(judge, capture):
    assert udp(judge, capture, port=10161, process="apache2").status is Status.CONFORME
    v = udp(judge, capture, port=10514)
    assert v.status is Status.CONFORME and "uniquement en local" in v.observed
    assert "[::]:10162" in udp(judge, capture, port=10162).observed
    assert "*:10163" in udp(judge, capture, port=10163).observed


def test_truncated_process_name(judge, result):
    # The kernel keeps 15 characters of a process name: systemd-resolved shows as systemd-resolve.
    out = 'UNCONN 0      0      127.0.0.53%lo:53        0.0.0.0:*    users:(("systemd-resolve",pid=412,fd=13))\n'
    v = judge(PortListening, {"port": 53, "protocol": "udp", "process": "systemd-resolved"}, ss=result(out))
    assert v.status is Status.CONFORME
    v = judge(PortListening, {"port": 53, "protocol": "udp", "process": "systemd"}, ss=result(out))
    assert v.status is Status.NON_CONFORME


def test_header_line_is_tolerated():
    # iproute2 before 4.15 has no -H: the header (glued "PortProcess" as printed) is skipped.
    out = ("State  Recv-Q Send-Q Local Address:Port Peer Address:PortProcess\n"
           "LISTEN 0      128          0.0.0.0:22        0.0.0.0:*    users:((\"sshd\",pid=601,fd=3))\n")
    [sock] = parse_ss(out)
    assert (sock.address, sock.port, sock.processes) == ("0.0.0.0", 22, ("sshd",))


def test_ipv4_mapped_loopback_is_local():
    [sock] = parse_ss("LISTEN 0 50 [::ffff:127.0.0.1]:8080 *:* users:((\"java\",pid=9,fd=40))\n")
    assert sock.loopback_only


@pytest.mark.parametrize("stdout,stderr,code", [
    ("Bienvenue sur le serveur\n", "", 0),
    ("LISTEN 0 128 0.0.0.0:http 0.0.0.0:*\n", "", 0),  # not numeric (-n missing): not our probe
    ("", "ss introuvable\n", 127),
    ("", "Cannot open netlink socket: Permission denied\n", 1),
])
def test_garbage_and_failures_are_erreur(judge, result, stdout, stderr, code):
    v = judge(PortListening, {"port": 80}, ss=result(stdout, stderr, code))
    assert v.status is Status.ERREUR


def test_empty_list_is_never_conforme(judge, result):
    assert judge(PortListening, {"port": 80}, ss=result("")).status is Status.NON_CONFORME


def test_truncated_output_without_the_port_is_erreur(judge, capture, result):
    r = capture("ss_tcp.txt")
    v = judge(PortListening, {"port": 80}, ss=result(r.stdout, truncated=True))
    assert v.status is Status.ERREUR


def test_probe_is_shared_per_protocol_and_finds_ss():
    a = PortListening().probes(PortListening.Params(port=80))["ss"]
    b = PortListening().probes(PortListening.Params(port=443, process="nginx"))["ss"]
    c = PortListening().probes(PortListening.Params(port=161, protocol="udp"))["ss"]
    assert a.key == b.key != c.key
    for path in ("/usr/bin/ss", "/usr/sbin/ss", "/bin/ss", "/sbin/ss"):
        assert f"if [ -x {path} ]; then exec {path} -Hlnpt; fi" in a.command
    assert "-Hlnpu" in c.command


@pytest.mark.parametrize("params", [{"port": 0}, {"port": 70000}, {"port": 80, "protocol": "sctp"},
                                    {"port": 80, "process": ""}])
def test_params_are_validated(params):
    with pytest.raises(pydantic.ValidationError):
        PortListening.Params(**params)
