"""pfSense config.xml parsing and judges, on real configurations from pfsensible/core's test suite.

tests/fixtures/network/pfsense/pfsensible-nat-port-forward.xml (pfSense 18.9-era config: WAN
vmx0, LAN, opt1-opt3, advanced outbound NAT, three port forwards of wanip:22022, 52 filter rules
with aliases) and pfsensible-dhcp-server.xml (pfSense 23.3: DHCP on lan and opt1); their
origin is the XML comment on their first line. Where a fact is absent from both (remote
syslog), the test adds it as pfSense's GUI writes it and says so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.network import pfsense
from grader.model import Status

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "network" / "pfsense"


@pytest.fixture(scope="module")
def nat_config() -> str:
    return (FIXTURES / "pfsensible-nat-port-forward.xml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def cfg(nat_config) -> pfsense.PfConfig:
    return pfsense.parse_config(nat_config)


def test_parse_counts_and_interfaces(cfg):
    assert cfg.version == "18.9"
    assert pfsense.summary(cfg) == {"interfaces": 5, "port_forwards": 3, "outbound_rules": 3, "filter_rules": 52,
                                    "dhcp_ranges": 1, "syslog_servers": 0}
    wan = cfg.interfaces["wan"]
    assert (wan.device, wan.ipaddr, wan.subnet, wan.enabled) == ("vmx0", "192.168.240.137", "24", True)
    assert cfg.interfaces["opt2"].enabled is False and cfg.interfaces["opt3"].device == "vmx1.1100"
    assert cfg.resolve("port_ssh") == ["22"] and cfg.outbound_mode == "advanced"


def test_port_forward(cfg):
    v = pfsense.judge_port_forward(cfg, port=22022, target="10.255.1.20", local_port=22)
    assert v.status is Status.CONFORME and "wan tcp wanip port 22022 → 10.255.1.20:22" in v.observed
    assert pfsense.judge_port_forward(cfg, port=22022, target="10.255.1.21").status is Status.NON_CONFORME
    assert pfsense.judge_port_forward(cfg, port=443, target="10.255.1.20").status is Status.NON_CONFORME
    assert pfsense.judge_port_forward(cfg, port=22022, target="10.255.1.20", protocol="udp").status is Status.NON_CONFORME


def test_disabled_port_forward(nat_config):
    text = nat_config.replace("<target>10.255.1.20</target>", "<target>10.255.1.20</target><disabled/>")
    v = pfsense.judge_port_forward(pfsense.parse_config(text), port=22022, target="10.255.1.20")
    assert v.status is Status.NON_CONFORME and "désactivée" in v.message


def test_outbound_nat(cfg, nat_config):
    # advanced mode, rules from any source out of wan: every LAN is translated
    assert pfsense.judge_outbound_nat(cfg, source="192.168.1.0/24").status is Status.CONFORME
    assert pfsense.judge_outbound_nat(cfg, source="192.168.1.0/24", interface="opt1").status is Status.NON_CONFORME
    disabled = pfsense.parse_config(nat_config.replace("<mode>advanced</mode>", "<mode>disabled</mode>"))
    assert pfsense.judge_outbound_nat(disabled, source="192.168.1.0/24").status is Status.NON_CONFORME
    # automatic mode without manual rules: the local interfaces' networks are translated
    dhcp = pfsense.parse_config((FIXTURES / "pfsensible-dhcp-server.xml").read_text(encoding="utf-8"))
    assert dhcp.outbound_mode == "automatic"
    assert pfsense.judge_outbound_nat(dhcp, source="192.168.1.0/24").status is Status.CONFORME
    assert pfsense.judge_outbound_nat(dhcp, source="172.31.0.0/24").status is Status.NON_CONFORME


def test_filter_first_match_with_aliases(cfg):
    # lan: "antilock_out_1" passes tcp to port_ssh (alias 22) from anywhere
    v = pfsense.judge_filter(cfg, interface="lan", protocol="tcp", port=22, allowed=True)
    assert v.status is Status.CONFORME and "antilock_out_1" in v.observed
    # opt3's first rule is disabled: the next one decides
    assert "test_lan_100_2" in pfsense.judge_filter(cfg, interface="opt3", protocol="tcp", port=8080, allowed=True).observed
    # nothing on lan lets udp/53 through: blocked by default
    v = pfsense.judge_filter(cfg, interface="lan", protocol="udp", port=53, allowed=False)
    assert v.status is Status.CONFORME and "blocage par défaut" in v.observed
    v = pfsense.judge_filter(cfg, interface="lan", protocol="udp", port=53, allowed=True)
    assert v.status is Status.NON_CONFORME
    # a rule on an alias of hosts: ad_poc3 (192.168.3.3) may query ad_poc2's LDAP over udp
    rule = pfsense.first_matching_rule(cfg, interface="lan", protocol="udp", port=389, source="192.168.3.3",
                                       destination="192.168.2.3")
    assert rule is not None and rule.descr == "ads_to_ads_udp_1_2"
    assert pfsense.first_matching_rule(cfg, interface="lan", protocol="udp", port=389, source="192.168.3.4",
                                       destination="192.168.2.3") is None


def floating(descr: str, kind: str, protocol: str, port: str, interface: str, *, quick: bool = False,
             direction: str = "any", disabled: bool = False) -> str:
    """A floating rule as pfSense's Firewall > Rules > Floating page writes it (the fixture's
    test_rule_floating has the same elements; « Quick » adds <quick>yes</quick>)."""
    return (f"<rule><type>{kind}</type><interface>{interface}</interface><ipprotocol>inet</ipprotocol>"
            f"<protocol>{protocol}</protocol><source><any></any></source>"
            f"<destination><any></any><port>{port}</port></destination><descr>{descr}</descr>"
            + ("<quick>yes</quick>" if quick else "") + ("<disabled></disabled>" if disabled else "")
            + f"<direction>{direction}</direction><floating>yes</floating></rule>")


def with_floating(nat_config: str, *rules: str) -> pfsense.PfConfig:
    """Derived: the NAT fixture with floating rules added in <filter>, in this order."""
    return pfsense.parse_config(nat_config.replace("<filter>", "<filter>" + "".join(rules), 1))


def test_the_fixture_floating_rule_is_read(cfg):
    rule = next(r for r in cfg.filter_rules if r.floating)
    assert (rule.descr, rule.interface, rule.quick, rule.direction) == ("test_rule_floating", "wan", False, "any")


def test_a_quick_floating_rule_decides_before_the_interface_rules(nat_config):
    # lan's antilock_out_1 passes tcp/22, but a quick floating block on lan comes first
    cfg = with_floating(nat_config, floating("bloquer_ssh", "block", "tcp", "22", "lan", quick=True))
    v = pfsense.judge_filter(cfg, interface="lan", protocol="tcp", port=22, allowed=True)
    assert v.status is Status.NON_CONFORME and "bloquer_ssh" in v.observed and "flottante" in v.observed
    assert pfsense.judge_filter(cfg, interface="lan", protocol="tcp", port=22, allowed=False).status is Status.CONFORME
    # on several interfaces, direction in
    cfg = with_floating(nat_config, floating("dns_in", "pass", "udp", "53", "opt1,lan", quick=True, direction="in"))
    assert pfsense.judge_filter(cfg, interface="lan", protocol="udp", port=53, allowed=True).status is Status.CONFORME


def test_a_floating_rule_without_quick_yields_to_the_interface_rules(nat_config):
    cfg = with_floating(nat_config, floating("bloquer_ssh", "block", "tcp", "22", "lan"))
    v = pfsense.judge_filter(cfg, interface="lan", protocol="tcp", port=22, allowed=True)
    assert v.status is Status.CONFORME and "antilock_out_1" in v.observed
    # no interface rule matches udp/53 on lan: the last floating rule that matches decides, not the default block
    cfg = with_floating(nat_config, floating("dns_partout", "pass", "udp", "53", ""))
    v = pfsense.judge_filter(cfg, interface="lan", protocol="udp", port=53, allowed=False)
    assert v.status is Status.NON_CONFORME and "dns_partout" in v.observed
    assert pfsense.judge_filter(cfg, interface="lan", protocol="udp", port=53, allowed=True).status is Status.CONFORME


def test_floating_rules_that_do_not_apply(nat_config):
    for rule in (floating("sortie_lan", "block", "tcp", "22", "lan", quick=True, direction="out"),
                 floating("marquage", "match", "tcp", "22", "lan", quick=True),
                 floating("coupee", "block", "tcp", "22", "lan", quick=True, disabled=True),
                 floating("autre_port", "block", "tcp", "23", "lan", quick=True),
                 floating("ailleurs", "block", "tcp", "22", "opt1", quick=True, direction="in")):
        cfg = with_floating(nat_config, rule)
        v = pfsense.judge_filter(cfg, interface="lan", protocol="tcp", port=22, allowed=True)
        assert v.status is Status.CONFORME and "antilock_out_1" in v.observed, rule


def test_a_floating_rule_on_the_way_out_cannot_be_placed(nat_config):
    # it blocks tcp/22 leaving by wan: whether the lan's traffic leaves by wan depends on routing
    for direction in ("out", "any"):
        cfg = with_floating(nat_config, floating("pas_de_ssh_sortant", "block", "tcp", "22", "wan", quick=True,
                                                 direction=direction))
        v = pfsense.judge_filter(cfg, interface="lan", protocol="tcp", port=22, allowed=True)
        assert v.status is Status.ERREUR and "pas_de_ssh_sortant" in v.message, direction
        # traffic the lan blocks is blocked whatever happens on the way out
        v = pfsense.judge_filter(cfg, interface="lan", protocol="udp", port=53, allowed=False)
        assert v.status is Status.CONFORME


def test_a_floating_rule_of_an_unknown_type_cannot_be_judged(nat_config):
    cfg = with_floating(nat_config, floating("bizarre", "divert", "tcp", "22", "lan", quick=True))
    v = pfsense.judge_filter(cfg, interface="lan", protocol="tcp", port=22, allowed=True)
    assert v.status is Status.ERREUR and "bizarre" in v.message


def test_interface_and_dhcp():
    cfg = pfsense.parse_config((FIXTURES / "pfsensible-dhcp-server.xml").read_text(encoding="utf-8"))
    assert pfsense.judge_dhcp_range(cfg, interface="opt1", start="10.0.0.100", end="10.0.0.199").status is Status.CONFORME
    v = pfsense.judge_dhcp_range(cfg, interface="lan", start="192.168.1.10", end="192.168.1.199")
    assert v.status is Status.NON_CONFORME and "192.168.1.100 - 192.168.1.199" in v.observed
    assert pfsense.judge_interface(cfg, name="lan", address="192.168.1.1", prefix=24).status is Status.CONFORME


def test_dhcp_range_of_a_disabled_server(cfg):
    # the NAT fixture's lan range has no <enable/>: defined but not served
    v = pfsense.judge_dhcp_range(cfg, interface="lan", start="192.168.1.100", end="192.168.1.199")
    assert v.status is Status.NON_CONFORME and "désactivé" in v.message


def test_syslog_remote(cfg, nat_config):
    assert pfsense.judge_syslog_remote(cfg, server="10.0.0.5").status is Status.NON_CONFORME
    # Added as pfSense's Status > System Logs > Settings page writes it (see pfsensible's
    # pfsense_log_settings: enable, remoteserver, logall).
    text = nat_config.replace("<ipproto>ipv4</ipproto>",
                              "<ipproto>ipv4</ipproto><enable/><remoteserver>10.0.0.5</remoteserver><logall/>")
    remote = pfsense.parse_config(text)
    assert pfsense.judge_syslog_remote(remote, server="10.0.0.5").status is Status.CONFORME
    assert pfsense.judge_syslog_remote(remote, server="10.0.0.5", port=5514).status is Status.NON_CONFORME
    off = pfsense.parse_config(text.replace("<enable/><remoteserver>", "<remoteserver>"))
    v = pfsense.judge_syslog_remote(off, server="10.0.0.5")
    assert v.status is Status.NON_CONFORME and "désactivé" in v.message


def test_hostile_or_foreign_xml_is_refused():
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><pfsense>&b;</pfsense>'
    with pytest.raises(ValueError):
        pfsense.parse_config(bomb)
    with pytest.raises(ValueError):
        pfsense.parse_config("<opnsense><version>1</version></opnsense>")
    with pytest.raises(ValueError):
        pfsense.parse_config("pas du XML")
