"""network.snmp_trunk: an 802.1Q trunk read in CISCO-VTP-MIB, through the real snmp channel and snmpsim.

The device is tests/fixtures/network/cisco_trunks.snmprec (written from the MIB's DESCRIPTION
clauses, origin at its top), served by snmpsim (tests/snmpsim_agent.py) to the community ``cisco-ro``.
"""

from __future__ import annotations

import pytest

from checks.network._trunk import ranges
from checks.network.snmp_trunk import SnmpTrunk, bitmap_bytes, vlans_of
from grader.check import evaluate
from grader.model import Status
from grader.probes.snmp import SnmpOptions, VarBind
from grader.rubric import Credential
from grader.transports.base import HostContext
from grader.transports.snmp import SnmpChannel
from tests import snmpsim_agent

snmpsim_switch = pytest.fixture(scope="module")(snmpsim_agent.serve)


def test_bitmaps_msb_first_from_vlan_zero():
    first = bytes([0x40, 0x00]) + bytes(126)  # bit 1 of octet 0: VLAN 1
    assert vlans_of([first]) == {1}
    assert vlans_of([bytes(1) + bytes([0x20]) + bytes(126)]) == {10}
    assert vlans_of([bytes(128), bytes([0x80]) + bytes(127)]) == {1024}
    assert vlans_of([bytes([0xFF]) * 128] * 4) == set(range(1, 4095))  # 0 and 4095 are not VLANs
    # a bitmap whose octets read as text ("@" = VLAN 1) comes back as a STRING with its NULs dropped
    assert vlans_of([bitmap_bytes(VarBind("x", "STRING", "@"))]) == {1}
    assert vlans_of([bitmap_bytes(VarBind("x", "Hex-STRING", "40 00"))]) == {1}
    assert ranges({1, 2, 3, 10, 20, 21}) == "1-3,10,20-21"


CASES = {
    "gi1": ({"interface": "Gi0/1", "allowed": [10, 20], "native": 99, "only": True}, Status.CONFORME),
    "gi1-long-name": ({"interface": "GigabitEthernet0/1", "allowed": [10]}, Status.CONFORME),
    "gi1-native": ({"interface": "Gi0/1", "native": 1}, Status.NON_CONFORME),
    "gi1-missing": ({"interface": "Gi0/1", "allowed": [10, 30]}, Status.NON_CONFORME),
    "gi2-defaults": ({"interface": "Gi0/2", "allowed": [10, 20], "native": 1}, Status.CONFORME),
    "gi2-only": ({"interface": "Gi0/2", "allowed": [10, 20], "only": True}, Status.NON_CONFORME),
    "gi3-access": ({"interface": "Gi0/3", "allowed": [10]}, Status.NON_CONFORME),
    "unknown-port": ({"interface": "Gi0/9", "allowed": [10]}, Status.ERREUR),
}


def test_trunks_through_the_snmp_channel(snmpsim_switch, monkeypatch):
    monkeypatch.setenv("SW_COMMUNITY", snmpsim_agent.CISCO_COMMUNITY)
    checks = {name: SnmpTrunk.Params(**params) for name, (params, _) in CASES.items()}
    [probe] = {p.key: p for params in checks.values() for p in SnmpTrunk().probes(params).values()}.values()
    host = HostContext("sw", "127.0.0.1", "network", None, Credential(username="ro", password_env="SW_COMMUNITY"), {},
                       SnmpOptions(port=snmpsim_switch.port, timeout=0.5, retries=0))
    got = SnmpChannel().collect(host, [probe])
    verdicts = {name: evaluate(SnmpTrunk(), params, {"trunks": got.results[probe.key]})
                for name, params in checks.items()}
    assert {n: v.status for n, v in verdicts.items()} == {n: status for n, (_, status) in CASES.items()}
    assert "VLAN natif 99, VLAN autorisés 10,20,99" in verdicts["gi1"].observed
    assert "1-4094" in verdicts["gi2-only"].observed and "1-9,11-19,21-4094" in verdicts["gi2-only"].message
    assert "pas en trunk" in verdicts["gi3-access"].observed


def test_an_agent_without_the_trunk_table_is_erreur(snmpsim_switch, monkeypatch):
    monkeypatch.setenv("SW_COMMUNITY", snmpsim_agent.COMMUNITY)  # the ProCurve: no CISCO-VTP-MIB
    params = SnmpTrunk.Params(interface="A1", allowed=[1])
    [probe] = SnmpTrunk().probes(params).values()
    host = HostContext("sw", "127.0.0.1", "network", None, Credential(username="ro", password_env="SW_COMMUNITY"), {},
                       SnmpOptions(port=snmpsim_switch.port, timeout=0.5, retries=0))
    got = SnmpChannel().collect(host, [probe])
    v = evaluate(SnmpTrunk(), params, {"trunks": got.results[probe.key]})
    assert v.status is Status.ERREUR
