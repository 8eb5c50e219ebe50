"""Cisco IOS checks (cli channel): judges on recorded outputs, then graded over the real channel.

Outputs: ntc-templates' recorded show commands and ciscoconfparse's sample_04 running-config
(tests/fixtures/network/cisco, origin on their first line), and an edge router's
running-config written for these tests (tests/cli_standin/recordings, origin on its first
line). The end-to-end tests plan a rubric and grade the stand-in device through the runner.
"""

from __future__ import annotations

import pytest

from checks.network.ios import (
    IosAclApplied,
    IosHelperAddress,
    IosInterfaceUp,
    IosLoggingHost,
    IosNatOverload,
    IosRoute,
    IosSnmpCommunity,
    IosTrunk,
    IosVlans,
)
from checks.network.ios_config import parse_router_config, short_name
from grader.model import ProbeResult, Status
from tests.cli_standin import FIXTURES, RECORDINGS, cisco_switch, recorded, running_config, show_vlan_brief


def out(text: str, exit_code: int = 0) -> ProbeResult:
    return ProbeResult(key="k", transport="cli", command="", stdout=text, exit_code=exit_code)


SWITCH_RUN = out(running_config(recorded(FIXTURES / "cisco" / "ciscoconfparse_sample_04.ios")))
ROUTER_RUN = out(running_config(recorded(RECORDINGS / "r1_running_config.ios")))
STICK_RUN = out(running_config(recorded(RECORDINGS / "r2_router_on_a_stick.ios")))
REFUSED = out("                  ^\n% Invalid input detected at '^' marker.\n\n", exit_code=1)


def test_short_names():
    assert short_name("GigabitEthernet0/1") == short_name("Gi0/1") == short_name("gi 0/1") == "gi0/1"
    assert short_name("FastEthernet0/10") == "fa0/10" and short_name("Port-channel1") == "po1"
    assert short_name("Vlan10") == "vlan10" and short_name("Ethernet0/0.11") == "et0/0.11"


def test_vlans_and_access_ports(judge):
    vlan = out(show_vlan_brief())
    v = judge(IosVlans, {"vlans": {50: "vlan50", 60: None}, "ports": {50: ["FastEthernet0/1", "Fa0/12"]}}, sortie=vlan)
    assert v.status is Status.CONFORME and "Fa0/12" in v.observed
    v = judge(IosVlans, {"vlans": {50: None}, "ports": {50: ["Fa0/13"]}}, sortie=vlan)
    assert v.status is Status.NON_CONFORME and "Fa0/13 (VLAN 50)" in v.message
    assert judge(IosVlans, {"vlans": {20: "Compta"}}, sortie=vlan).status is Status.NON_CONFORME
    assert judge(IosVlans, {"vlans": {10: None}}, sortie=REFUSED).status is Status.ERREUR


def test_interface_up(judge):
    brief = out(recorded(FIXTURES / "cisco" / "cisco_ios_show_ip_interface_brief.raw"))
    v = judge(IosInterfaceUp, {"interface": "Et0/1", "address": "1.1.1.1"}, sortie=brief)
    assert v.status is Status.CONFORME
    assert judge(IosInterfaceUp, {"interface": "Ethernet0/2"}, sortie=brief).status is Status.NON_CONFORME
    assert judge(IosInterfaceUp, {"interface": "Ethernet0/1", "address": "1.1.1.2"},
                 sortie=brief).status is Status.NON_CONFORME
    assert judge(IosInterfaceUp, {"interface": "Gi0/9"}, sortie=brief).status is Status.NON_CONFORME


def test_route(judge):
    route = out(recorded(FIXTURES / "cisco" / "cisco_ios_show_ip_route.raw"))
    assert judge(IosRoute, {"prefix": "10.0.5.64/26", "next_hop": "10.0.1.2", "protocol": "D"},
                 sortie=route).status is Status.CONFORME
    assert judge(IosRoute, {"prefix": "0.0.0.0/0", "next_hop": "194.0.0.2"}, sortie=route).status is Status.CONFORME
    assert judge(IosRoute, {"prefix": "10.99.0.0/16"}, sortie=route).status is Status.NON_CONFORME
    assert judge(IosRoute, {"prefix": "10.0.5.64/26", "protocol": "S"}, sortie=route).status is Status.NON_CONFORME


def test_router_config_parsed():
    cfg = parse_router_config(ROUTER_RUN.stdout)
    assert cfg.interface("Gi0/0").nat == "outside" and cfg.interface("Gi0/0").acl_in == "FILTRE-WAN"
    assert [n.describe() for n in cfg.nat] == ["ip nat inside source list NAT-LAN interface GigabitEthernet0/0 overload"]
    assert [e.action for e in cfg.acls["FILTRE-WAN"]] == ["permit", "deny", "permit"]
    assert cfg.logging_hosts == ["192.168.10.50"] and cfg.communities == {"tssr-ro": "RO"}
    switch = parse_router_config(SWITCH_RUN.stdout)
    assert switch.logging_hosts == ["172.28.26.15"] and switch.communities["private1"] == "RW" and not switch.nat


def test_nat_overload(judge):
    params = {"outside": "GigabitEthernet0/0", "inside": "Gi0/1", "source": "192.168.10.0/24"}
    v = judge(IosNatOverload, params, sortie=ROUTER_RUN)
    assert v.status is Status.CONFORME and "overload" in v.observed
    assert judge(IosNatOverload, {**params, "source": "192.168.20.0/24"}, sortie=ROUTER_RUN).status is Status.NON_CONFORME
    assert judge(IosNatOverload, {**params, "inside": "Gi0/2"}, sortie=ROUTER_RUN).status is Status.NON_CONFORME
    assert judge(IosNatOverload, {"outside": "Gi0/1"}, sortie=ROUTER_RUN).status is Status.NON_CONFORME
    no_overload = out(ROUTER_RUN.stdout.replace("GigabitEthernet0/0 overload", "GigabitEthernet0/0"))
    assert judge(IosNatOverload, {"outside": "Gi0/0"}, sortie=no_overload).status is Status.NON_CONFORME
    not_outside = out(ROUTER_RUN.stdout.replace(" ip nat outside\n", ""))
    v = judge(IosNatOverload, {"outside": "Gi0/0"}, sortie=not_outside)
    assert v.status is Status.NON_CONFORME and "ip nat outside" in v.message
    assert judge(IosNatOverload, {"outside": "Gi0/0"}, sortie=SWITCH_RUN).status is Status.NON_CONFORME
    assert judge(IosNatOverload, {"outside": "Gi0/0"}, sortie=REFUSED).status is Status.ERREUR


def test_nat_numbered_extended_acl(judge):
    text = ROUTER_RUN.stdout.replace("source list NAT-LAN", "source list 101") + \
        "access-list 101 deny ip host 192.168.10.9 any\naccess-list 101 permit ip 192.168.0.0 0.0.255.255 any\n"
    v = judge(IosNatOverload, {"outside": "Gi0/0", "source": "192.168.10.0/24"}, sortie=out(text))
    assert v.status is Status.NON_CONFORME  # a host of the LAN is excluded first
    text = text.replace("access-list 101 deny ip host 192.168.10.9 any\n", "")
    assert judge(IosNatOverload, {"outside": "Gi0/0", "source": "192.168.10.0/24"},
                 sortie=out(text)).status is Status.CONFORME


def test_acl_applied(judge):
    assert judge(IosAclApplied, {"interface": "Gi0/0", "acl": "FILTRE-WAN"}, sortie=ROUTER_RUN).status is Status.CONFORME
    assert judge(IosAclApplied, {"interface": "Gi0/0", "acl": "FILTRE-WAN", "direction": "out"},
                 sortie=ROUTER_RUN).status is Status.NON_CONFORME
    assert judge(IosAclApplied, {"interface": "Gi0/1", "acl": "FILTRE-WAN"}, sortie=ROUTER_RUN).status is \
        Status.NON_CONFORME
    undefined = out(ROUTER_RUN.stdout.replace("ip access-list extended FILTRE-WAN", "ip access-list extended AUTRE"))
    v = judge(IosAclApplied, {"interface": "Gi0/0", "acl": "FILTRE-WAN"}, sortie=undefined)
    assert v.status is Status.NON_CONFORME and "pas définie" in v.message


def test_logging_and_snmp(judge):
    assert judge(IosLoggingHost, {"host": "192.168.10.50"}, sortie=ROUTER_RUN).status is Status.CONFORME
    assert judge(IosLoggingHost, {"host": "172.28.26.15"}, sortie=SWITCH_RUN).status is Status.CONFORME
    assert judge(IosLoggingHost, {"host": "192.168.10.51"}, sortie=ROUTER_RUN).status is Status.NON_CONFORME
    assert judge(IosSnmpCommunity, {"community": "tssr-ro"}, sortie=ROUTER_RUN).status is Status.CONFORME
    assert judge(IosSnmpCommunity, {"community": "private1", "access": "RO"}, sortie=SWITCH_RUN).status is \
        Status.NON_CONFORME
    assert judge(IosSnmpCommunity, {"community": "public"}, sortie=ROUTER_RUN).status is Status.NON_CONFORME
    v = judge(IosLoggingHost, {"host": "192.168.10.50"}, sortie=REFUSED)
    assert v.status is Status.ERREUR and "enable_credential" in v.message


# --- end to end: rubric -> plan -> runner -> cli channel -> stand-in -> judges --------------


RUBRIC = """
rubric: test-cli
title: Équipements réseau
credentials:
  lecteur: {username: grader, password_env: GRADER_TEST_CLI}
  enable: {username: enable, password_env: GRADER_TEST_ENABLE}
hosts:
  - name: sw1
    role: commutateur
    platform: network
    address: 127.0.0.1
    port: PORT
    transport: cli
    credential: lecteur
    options: {cli: {enable_credential: enable}}
checks:
  - {id: vlans, check: network.ios_vlans, host: sw1, criterion: CP5.1, params: {vlans: {50: VLan50, 60: VLan60}}}
  - {id: vlan-absent, check: network.ios_vlans, host: sw1, criterion: CP5.1, params: {vlans: {20: Compta}}}
  - {id: interface, check: network.ios_interface_up, host: sw1, criterion: CP5.1, params: {interface: Loopback0}}
  - {id: route, check: network.ios_route, host: sw1, criterion: CP5.1, params: {prefix: 0.0.0.0/0}}
  - {id: logging, check: network.ios_logging_host, host: sw1, criterion: CP5.1, params: {host: 172.28.26.15}}
  - {id: snmp, check: network.ios_snmp_community, host: sw1, criterion: CP5.1, params: {community: public1}}
  - {id: trunk, check: network.ios_trunk, host: sw1, criterion: CP5.1, params: {interface: Gi0/1, allowed: [10, 20]}}
"""


@pytest.fixture
def graded(monkeypatch, tmp_path):
    from grader.plugins import default_catalogue
    from grader.roster import Candidate
    from grader.rubric import load_rubric
    from grader.runner import grade_host, plan
    from tests.cli_standin import Standin

    monkeypatch.setenv("GRADER_TEST_CLI", "Lecture-1")
    monkeypatch.setenv("GRADER_TEST_ENABLE", "Enable-1")

    def run(device):
        with Standin(device) as standin:
            path = tmp_path / "rubric.yaml"
            path.write_text(RUBRIC.replace("PORT", str(standin.port)), encoding="utf-8")
            rubric = load_rubric(path)
            jobs = plan(rubric, [Candidate(id="01", name="Camille", variables={})], default_catalogue())
            report = grade_host(jobs[0], tmp_path / "known_hosts")
            return report, standin
    return run


def test_graded_through_the_runner(graded):
    report, standin = graded(cisco_switch())
    statuses = {r.check_id: r.status for r in report.results}
    assert statuses == {"vlans": Status.CONFORME, "vlan-absent": Status.NON_CONFORME, "interface": Status.CONFORME,
                        "route": Status.CONFORME, "logging": Status.CONFORME, "snmp": Status.CONFORME,
                        "trunk": Status.CONFORME}
    assert report.outcome.reached and report.outcome.execs == 1 and report.transport == "cli"
    assert report.login.endswith("1 connexion SSH, 1 session interactive, 5 commande(s)")
    assert standin.counts["connections"] == 1 and standin.counts["shells"] == 1
    assert len(report.probes) == 5  # show vlan brief once for two checks, running-config once for two


def test_graded_a_command_that_hangs_is_erreur_for_its_checks_only(graded, monkeypatch):
    from checks.network import ios
    from grader.probes.cli import cli

    monkeypatch.setattr(ios, "cli", lambda command: cli(command, timeout=1.0))  # not 20 s of waiting in a test
    report, _ = graded(cisco_switch(hangs={"show ip route"}))
    statuses = {r.check_id: r.status for r in report.results}
    assert statuses["route"] is Status.ERREUR
    assert statuses["vlans"] is Status.CONFORME and statuses["logging"] is Status.CONFORME


def test_graded_wrong_password_is_erreur_not_non_conforme(graded):
    report, _ = graded(cisco_switch(password="autre"))
    assert not report.outcome.reached
    assert {r.status for r in report.results} == {Status.ERREUR}


def test_check_ids():
    from checks.network.ios import CHECKS

    assert [c.id for c in CHECKS] == ["network.ios_vlans", "network.ios_interface_up", "network.ios_route",
                                      "network.ios_nat_overload", "network.ios_acl_applied",
                                      "network.ios_logging_host", "network.ios_snmp_community", "network.ios_helper_address",
                                      "network.ios_trunk"]
    assert {c.transport for c in CHECKS} == {"cli"}


def test_router_on_a_stick_subinterfaces_and_dhcp_relay(judge):
    cfg = parse_router_config(STICK_RUN.stdout)
    assert cfg.interface("Gi0/0.10").dot1q == 10 and cfg.interface("Gi0/0.10").helpers == ["192.168.20.5"]
    assert cfg.interface("GigabitEthernet0/0.99").dot1q == 99 and cfg.interface("Gi0/0").dot1q is None
    v = judge(IosHelperAddress, {"interface": "Gi0/0.10", "server": "192.168.20.5"}, sortie=STICK_RUN)
    assert v.status is Status.CONFORME and "(VLAN 10)" in v.observed
    v = judge(IosHelperAddress, {"interface": "GigabitEthernet0/0.20", "server": "192.168.20.5"}, sortie=STICK_RUN)
    assert v.status is Status.NON_CONFORME and "aucun relais DHCP" in v.observed
    v = judge(IosHelperAddress, {"interface": "Gi0/0.30", "server": "192.168.20.5"}, sortie=STICK_RUN)
    assert v.status is Status.NON_CONFORME and "shutdown" in v.message
    v = judge(IosHelperAddress, {"interface": "Gi0/0.10", "server": "192.168.20.6"}, sortie=STICK_RUN)
    assert v.status is Status.NON_CONFORME
    v = judge(IosHelperAddress, {"interface": "Gi0/0.40", "server": "192.168.20.5"}, sortie=STICK_RUN)
    assert v.status is Status.NON_CONFORME and "GigabitEthernet0/0.10 -> 192.168.20.5" in v.observed
    assert judge(IosHelperAddress, {"interface": "Gi0/0.10", "server": "192.168.20.5"},
                 sortie=REFUSED).status is Status.ERREUR


def test_trunks_from_show_interfaces_switchport(judge):
    ntc = out(recorded(FIXTURES / "cisco" / "cisco_ios_show_interfaces_switchport.raw"))
    own = out(recorded(RECORDINGS / "sw1_show_interfaces_switchport.txt"))
    v = judge(IosTrunk, {"interface": "Gi0/1", "allowed": [10, 20], "native": 1}, sortie=ntc)
    assert v.status is Status.CONFORME and "VLAN autorisés 1-4094" in v.observed
    v = judge(IosTrunk, {"interface": "Gi0/1", "allowed": [10, 20], "only": True}, sortie=ntc)
    assert v.status is Status.NON_CONFORME and "laisse aussi passer" in v.message  # left at ALL
    v = judge(IosTrunk, {"interface": "GigabitEthernet0/2", "allowed": [100]}, sortie=ntc)
    assert v.status is Status.NON_CONFORME and "pas en trunk" in v.observed  # an access port
    v = judge(IosTrunk, {"interface": "Gi0/1", "allowed": [10, 20], "native": 99, "only": True}, sortie=own)
    assert v.status is Status.CONFORME and "VLAN natif 99, VLAN autorisés 10,20,99" in v.observed
    assert judge(IosTrunk, {"interface": "Gi0/1", "native": 1}, sortie=own).status is Status.NON_CONFORME
    assert judge(IosTrunk, {"interface": "Gi0/1", "allowed": [30]}, sortie=own).status is Status.NON_CONFORME
    v = judge(IosTrunk, {"interface": "Gi0/2", "allowed": [10]}, sortie=own)  # configured trunk, operationally down
    assert v.status is Status.NON_CONFORME
    assert judge(IosTrunk, {"interface": "Gi0/9"}, sortie=own).status is Status.NON_CONFORME
    assert judge(IosTrunk, {"interface": "Gi0/1"}, sortie=REFUSED).status is Status.ERREUR
