"""Cisco IOS show-command parsers (TextFSM + ntc-templates) and judges, on real outputs.

tests/fixtures/network/cisco/: three outputs from ntc-templates' own test suite (show vlan,
show ip interface brief, show ip route; their first line, stripped here, says so).
"""

from __future__ import annotations

from pathlib import Path

from checks.network import ios_show as cisco
from grader.model import Status

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "network" / "cisco"


def raw(name: str) -> str:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    assert text.startswith(("# origin: ", "! origin: ")), f"{name}: every sample states its origin"
    return "".join(line for line in text.splitlines(True) if not line.startswith("# origin: "))


def test_show_vlan():
    vlans = cisco.parse_show_vlan(raw("cisco_ios_show_vlan.raw"))
    assert [v.id for v in vlans] == [1, 10, 50, 60, 1002, 1003, 1004, 1005]
    assert vlans[2].name == "VLan50" and vlans[2].ports[-1] == "Fa0/12" and len(vlans[2].ports) == 12
    assert cisco.judge_vlans(vlans, {10: "MANAGEMENT", 50: None}).status is Status.CONFORME
    v = cisco.judge_vlans(vlans, {10: "Serveurs", 20: None})
    assert v.status is Status.NON_CONFORME and "absents : 20" in v.message and "10 s'appelle « Management »" in v.message


def test_show_ip_interface_brief():
    rows = cisco.parse_show_ip_interface_brief(raw("cisco_ios_show_ip_interface_brief.raw"))
    assert len(rows) == 7
    assert cisco.judge_interface_up(rows, interface="Ethernet0/0.11", address="10.0.1.38").status is Status.CONFORME
    v = cisco.judge_interface_up(rows, interface="Ethernet0/2")
    assert v.status is Status.NON_CONFORME and "administratively down/down" in v.message
    assert cisco.judge_interface_up(rows, interface="Ethernet0/1", address="1.1.1.2").status is Status.NON_CONFORME
    assert cisco.judge_interface_up(rows, interface="Vlan10").status is Status.NON_CONFORME


def test_show_ip_route():
    routes = cisco.parse_show_ip_route(raw("cisco_ios_show_ip_route.raw"))
    assert len(routes) == 35
    assert cisco.judge_route(routes, prefix="10.0.1.0/24", protocol="C").status is Status.CONFORME
    # two equal-cost static next hops for 1.1.1.1/32
    assert cisco.judge_route(routes, prefix="1.1.1.1/32", next_hop="192.168.0.1").status is Status.CONFORME
    v = cisco.judge_route(routes, prefix="10.0.5.0/26", next_hop="10.0.1.3")
    assert v.status is Status.NON_CONFORME and "via 10.0.1.2" in v.observed
    assert cisco.judge_route(routes, prefix="192.168.99.0/24").status is Status.NON_CONFORME
