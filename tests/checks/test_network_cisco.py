"""Cisco IOS parsers (TextFSM + ntc-templates, TTP) and judges, on real outputs.

tests/fixtures/network/cisco/: three outputs from ntc-templates' own test suite (show vlan,
show ip interface brief, show ip route; their first line, stripped here, says so) and a
Catalyst 6500 running-config from ciscoconfparse's fixtures (origin in its first ``!`` line).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.network import cisco
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


def test_running_config():
    cfg = cisco.parse_running_config(raw("ciscoconfparse_sample_04.ios"))
    assert cfg.hostname == "Foo" and len(cfg.interfaces) == 38
    assert cfg.routes == [("0.0.0.0/0", "172.24.8.1")] and cfg.logging_hosts == ["172.28.26.15"]
    assert ("private1", "RW") in cfg.communities
    assert cisco.judge_access_port(cfg, interface="GigabitEthernet3/5", vlan=101).status is Status.CONFORME
    v = cisco.judge_access_port(cfg, interface="GigabitEthernet3/3", vlan=100)
    assert v.status is Status.NON_CONFORME and "shutdown" in v.message
    assert cisco.judge_access_port(cfg, interface="GigabitEthernet3/5", vlan=100).status is Status.NON_CONFORME
    assert cisco.judge_access_port(cfg, interface="Vlan1", vlan=1).status is Status.NON_CONFORME  # an SVI
    assert cisco.judge_default_route(cfg, next_hop="172.24.8.1").status is Status.CONFORME
    assert cfg.interfaces["Vlan1"].address == "172.24.8.2"
    v = cisco.judge_ssh_only(cfg)
    assert v.status is Status.NON_CONFORME and "non précisé" in v.observed


def test_running_config_vlans_trunks_and_vty():
    # Lines as IOS 15 writes them in a running-config (vlan blocks, trunk allowed lists, vty).
    text = ("hostname SW-B12\n!\nvlan 10\n name SERVEURS\n!\nvlan 20,30\n!\ninterface GigabitEthernet0/1\n"
            " switchport trunk allowed vlan 10,20\n switchport trunk allowed vlan add 30\n switchport mode trunk\n!\n"
            "line vty 0 4\n transport input ssh\n!\nend\n")
    cfg = cisco.parse_running_config(text)
    assert cfg.vlans == {10: "SERVEURS", 20: "", 30: ""}
    assert cisco.judge_trunk(cfg, interface="GigabitEthernet0/1", vlans=[10, 30]).status is Status.CONFORME
    v = cisco.judge_trunk(cfg, interface="GigabitEthernet0/1", vlans=[10, 40])
    assert v.status is Status.NON_CONFORME and "40" in v.message
    assert cisco.judge_vlans(cfg.vlans, {10: "serveurs"}).status is Status.CONFORME
    assert cisco.judge_ssh_only(cfg).status is Status.CONFORME
    assert cisco.vlan_ids("1-3,7") == {1, 2, 3, 7}


def test_not_a_config():
    with pytest.raises(ValueError):
        cisco.parse_running_config("Bienvenue sur le serveur du candidat !\n")
