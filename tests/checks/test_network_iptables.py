"""iptables-save parsing and judges, on outputs captured from the real iptables-save.

data/iptables_save_*.txt: iptables 1.8.9 (nf_tables backend, Debian 12) run in fresh network
namespaces with the rules each file's origin line lists, plus the two failures a grader
meets: the program missing (exit 127 from the batch envelope's shell) and an account
without root (exit 4).
"""

from __future__ import annotations

import pytest

from checks.network import iptables
from checks.network.iptables import IptablesMasquerade, IptablesPortBlocked, IptablesPortForward
from grader.model import Status


@pytest.fixture
def forward_on(result):
    return result("1\n")


def test_parse_tables_policies_and_rules(capture):
    saved = iptables.parse_save(capture("iptables_save_complete.txt").stdout)
    assert set(saved.tables) == {"filter", "nat"}
    assert saved.tables["filter"]["INPUT"] == "DROP" and saved.tables["nat"]["POSTROUTING"] == "ACCEPT"
    telnet = next(r for r in saved.rules if r.ports == "23")
    assert (telnet.target, telnet.protocol, telnet.others) == ("DROP", "tcp", ())  # the quoted comment is neutral
    dnat = next(r for r in saved.rules if r.target == "DNAT")
    assert (dnat.in_iface, dnat.ports, dnat.to) == ("eth1", "8080", "192.168.10.20:80")
    assert next(r for r in saved.rules if r.ports == "139,445").target == "REJECT"
    chain = iptables.parse_save(capture("iptables_save_chain.txt").stdout)
    assert chain.tables["nat"]["NAT-LAN"] == "-"
    assert [r.target for r in chain.reachable("nat", "POSTROUTING")] == ["NAT-LAN", "SNAT"]


def test_not_iptables_save_output():
    with pytest.raises(ValueError):
        iptables.parse_save("Bienvenue sur le routeur\n")
    with pytest.raises(ValueError, match="COMMIT"):
        iptables.parse_save("*nat\n:PREROUTING ACCEPT [0:0]\n")


def test_masquerade(capture, judge, forward_on, result):
    save = capture("iptables_save_complete.txt")
    v = judge(IptablesMasquerade, {"oifname": "eth1", "source": "192.168.10.0/24"}, save=save, forward=forward_on)
    assert v.status is Status.CONFORME and "-o eth1 -j MASQUERADE" in v.observed
    v = judge(IptablesMasquerade, {"oifname": "eth0"}, save=save, forward=forward_on)
    assert v.status is Status.NON_CONFORME
    v = judge(IptablesMasquerade, {"source": "192.168.20.0/24"}, save=save, forward=forward_on)
    assert v.status is Status.NON_CONFORME
    v = judge(IptablesMasquerade, {"oifname": "eth1"}, save=save, forward=result("0\n"))
    assert v.status is Status.NON_CONFORME and "ip_forward = 0" in v.message


def test_snat_through_a_user_chain(capture, judge):
    save = capture("iptables_save_chain.txt")
    v = judge(IptablesMasquerade, {"oifname": "ens4", "source": "192.168.20.0/24", "forwarding": False}, save=save)
    assert v.status is Status.CONFORME and "SNAT --to-source 203.0.113.2" in v.observed


def test_table_absent_is_non_conforme(capture, judge, forward_on):
    save = capture("iptables_save_filteronly.txt")
    v = judge(IptablesMasquerade, {}, save=save, forward=forward_on)
    assert v.status is Status.NON_CONFORME and "table nat absente" in v.observed
    v = judge(IptablesPortForward, {"port": 8080, "target": "192.168.10.20"}, save=save, forward=forward_on)
    assert v.status is Status.NON_CONFORME


def test_legacy_tables_hide_rules_erreur(capture, judge, forward_on):
    # The MASQUERADE rule is in the legacy nat table: iptables-nft-save does not list it.
    save = capture("iptables_save_legacy.txt")
    v = judge(IptablesMasquerade, {"oifname": "eth1"}, save=save, forward=forward_on)
    assert v.status is Status.ERREUR and "iptables-legacy" in v.message
    # a fact that is visible is still judged
    assert judge(IptablesPortBlocked, {"port": 23}, save=save).status is Status.CONFORME


@pytest.mark.parametrize("check,params", [
    (IptablesMasquerade, {}),
    (IptablesPortForward, {"port": 8080, "target": "192.168.10.20"}),
    (IptablesPortBlocked, {"port": 23}),
])
@pytest.mark.parametrize("name", ["iptables_save_missing.txt", "iptables_save_nonroot.txt"])
def test_iptables_save_missing_or_refused_is_erreur(capture, judge, forward_on, check, params, name):
    save = capture(name)
    results = {"save": save} | ({"forward": forward_on} if "forward" in check().probes(check.Params(**params)) else {})
    v = judge(check, params, **results)
    assert v.status is Status.ERREUR
    assert ("introuvable" in v.message) if name.endswith("missing.txt") else ("root" in v.message)


def test_port_forward(capture, judge, forward_on):
    save = capture("iptables_save_complete.txt")
    v = judge(IptablesPortForward, {"port": 8080, "target": "192.168.10.20", "target_port": 80, "iifname": "eth1"},
              save=save, forward=forward_on)
    assert v.status is Status.CONFORME and "--to-destination 192.168.10.20:80" in v.observed
    assert judge(IptablesPortForward, {"port": 8080, "target": "192.168.10.20", "target_port": 8080}, save=save,
                 forward=forward_on).status is Status.NON_CONFORME
    assert judge(IptablesPortForward, {"port": 8080, "target": "192.168.10.21"}, save=save,
                 forward=forward_on).status is Status.NON_CONFORME
    assert judge(IptablesPortForward, {"port": 8080, "target": "192.168.10.20", "protocol": "udp"}, save=save,
                 forward=forward_on).status is Status.NON_CONFORME
    chain = capture("iptables_save_chain.txt")
    v = judge(IptablesPortForward, {"port": 1194, "target": "192.168.20.5", "protocol": "udp", "target_port": 1194,
                                    "forwarding": False}, save=chain)
    assert v.status is Status.CONFORME


def test_port_blocked_first_match_and_policy(capture, judge):
    save = capture("iptables_save_complete.txt")
    v = judge(IptablesPortBlocked, {"port": 23}, save=save)
    assert v.status is Status.CONFORME and "telnet interdit" in v.observed
    # 80: no rule, INPUT policy DROP (RELATED,ESTABLISHED and lo rules do not apply to new connections)
    v = judge(IptablesPortBlocked, {"port": 80}, save=save)
    assert v.status is Status.CONFORME and "politique DROP" in v.observed
    # 22 is accepted from the LAN, then dropped by the policy: open to some, so not "blocked"
    v = judge(IptablesPortBlocked, {"port": 22}, save=save)
    assert v.status is Status.NON_CONFORME and "ACCEPT partiel" in v.observed
    assert judge(IptablesPortBlocked, {"port": 22, "source": "203.0.113.0/24"}, save=save).status is Status.CONFORME
    assert judge(IptablesPortBlocked, {"port": 22, "source": "192.168.10.0/24"},
                 save=save).status is Status.NON_CONFORME
    # FORWARD: REJECT on multiport 139,445
    assert judge(IptablesPortBlocked, {"port": 445, "chain": "FORWARD"}, save=save).status is Status.CONFORME
    assert judge(IptablesPortBlocked, {"port": 80, "chain": "FORWARD"}, save=save).status is Status.NON_CONFORME


def test_accept_before_drop_wins(capture, judge):
    v = judge(IptablesPortBlocked, {"port": 8080}, save=capture("iptables_save_chain.txt"))
    assert v.status is Status.NON_CONFORME and "--dport 8080 -j ACCEPT" in v.observed


def test_filter_table_absent(judge, result):
    v = judge(IptablesPortBlocked, {"port": 23}, save=result("", exit_code=0))
    assert v.status is Status.NON_CONFORME and "table filter absente" in v.observed


def test_check_ids():
    assert [c.id for c in iptables.CHECKS] == ["network.iptables_masquerade", "network.iptables_port_forward",
                                               "network.iptables_port_blocked"]
    # one absolute program, run in the ssh batch envelope
    for check, params in ((IptablesMasquerade, {}), (IptablesPortForward, {"port": 80, "target": "10.0.0.1"}),
                          (IptablesPortBlocked, {"port": 23})):
        probes = check().probes(check.Params(**params))
        assert probes["save"].command == "/usr/sbin/iptables-save" and probes["save"].transport == "ssh"
