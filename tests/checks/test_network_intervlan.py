"""network.intervlan_routed's judge: the far VLAN's witness must see this host's own VLAN address.

Interfaces as ``ip -j addr show`` prints them (the shape of tests/checks/data/vpn_client_ip_addr_c01.txt,
reduced to the fields read); witness answers as the lab's witness writes them. The lab test
(tests/test_intervlan_lab.py) produces the same outputs on real hosts.
"""

from __future__ import annotations

import json

import pytest

from checks.network.intervlan import IntervlanRouted
from checks.network.reach import connect_probe
from grader.check import TOKEN, evaluate
from grader.model import ProbeResult, Status

TOK = "0123456789abcdef"
PARAMS = {"witness": "10.77.49.100", "source_network": "10.77.49.64/27", "vlan": "10", "server": "srv-20"}


def _addr(*links: tuple[str, str, int]) -> ProbeResult:
    data = [{"ifindex": i, "ifname": name, "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
             "link_type": "ether", "addr_info": [{"family": "inet", "local": ip, "prefixlen": plen}]}
            for i, (name, ip, plen) in enumerate(links, 2)]
    return ProbeResult("k", "ssh", "/usr/sbin/ip -j addr show", stdout=json.dumps(data), exit_code=0)


HOST = _addr(("eth0", "10.77.49.10", 16), ("eth1", "10.77.49.70", 27))


def _conn(stdout: str) -> ProbeResult:
    probe = connect_probe(PARAMS["witness"], 7777)
    return ProbeResult(probe.key, "ssh", probe.command.replace(TOKEN, TOK), stdout=stdout, exit_code=0)


def _judge(interfaces: ProbeResult, connexion: ProbeResult, **params):
    p = IntervlanRouted.Params(**{**PARAMS, **params})
    assert set(IntervlanRouted().probes(p)) == {"interfaces", "connexion"}
    return evaluate(IntervlanRouted(), p, {"interfaces": interfaces, "connexion": connexion})


def test_routed_the_witness_sees_the_hosts_vlan_address():
    v = _judge(HOST, _conn(f"@connecte\nTEMOIN srv-20 10.77.49.70 {TOK}\n@code 0\n"))
    assert v.status is Status.CONFORME and "10.77.49.70" in v.observed


def test_translated_by_the_router_is_non_conforme():
    v = _judge(HOST, _conn(f"@connecte\nTEMOIN srv-20 10.77.49.97 {TOK}\n@code 0\n"))
    assert v.status is Status.NON_CONFORME and "NAT" in v.message


def test_reached_through_another_interface_is_non_conforme():
    v = _judge(HOST, _conn(f"@connecte\nTEMOIN srv-20 10.77.49.10 {TOK}\n@code 0\n"))
    assert v.status is Status.NON_CONFORME and "autre interface" in v.message


def test_a_host_without_an_address_in_its_vlan():
    v = _judge(_addr(("eth0", "10.77.49.10", 16)), _conn(f"@connecte\nTEMOIN srv-20 10.77.49.10 {TOK}\n@code 0\n"))
    assert v.status is Status.NON_CONFORME and "pas d'adresse dans son VLAN" in v.message


@pytest.mark.parametrize(("stdout", "status"), [
    ("bash: connect: Connection refused\n@code 111\n", Status.NON_CONFORME),
    ("@code 124\n", Status.NON_CONFORME),
    ("@code 137\n", Status.ERREUR),
    ("@connecte\nTEMOIN srv-20 10.77.49.70 deadbeef\n@code 0\n", Status.ERREUR),  # another run's token
    ("@connecte\nSSH-2.0-OpenSSH_9.2\n@code 0\n", Status.ERREUR),  # not the witness
])
def test_failures(stdout, status):
    assert _judge(HOST, _conn(stdout)).status is status


def test_another_witness_and_unreadable_interfaces():
    v = _judge(HOST, _conn(f"@connecte\nTEMOIN srv-30 10.77.49.70 {TOK}\n@code 0\n"))
    assert v.status is Status.NON_CONFORME and "srv-30" in v.message
    broken = ProbeResult("k", "ssh", "/usr/sbin/ip -j addr show", stdout="", stderr="ip: not found", exit_code=127)
    assert _judge(broken, _conn(f"@connecte\nTEMOIN srv-20 10.77.49.70 {TOK}\n@code 0\n")).status is Status.ERREUR
