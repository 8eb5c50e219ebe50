"""network.nft_masquerade: ``nft -j list ruleset`` outputs recorded on Debian 12 (nftables 1.0.6).

Each data/nft_json_*.txt file was produced by loading a ruleset (written in its origin line)
in a private network namespace and listing it as JSON; nft_json_not_root.txt is the same
command run without CAP_NET_ADMIN.
"""

from __future__ import annotations

import pytest

from checks.network.nftables import NftMasquerade, parse_ruleset, source_nat_rules
from grader.model import Status


def forward(result, value: str = "1\n"):
    return result(value)


def test_masquerade_rule_for_the_lan_on_the_wan(judge, capture, result):
    r = capture("nft_json_masquerade.txt")
    v = judge(NftMasquerade, {"oifname": "eth2", "source": "192.168.10.0/24"}, ruleset=r, forward=forward(result))
    assert v.status is Status.CONFORME
    assert "ip nat/postrouting : ip saddr 192.168.10.0/24 oifname eth2 masquerade" in v.observed
    assert "net.ipv4.ip_forward = 1" in v.observed


def test_rule_present_but_forwarding_off(judge, capture, result):
    v = judge(NftMasquerade, {"oifname": "eth2"}, ruleset=capture("nft_json_masquerade.txt"),
              forward=forward(result, "0\n"))
    assert v.status is Status.NON_CONFORME and "ip_forward = 0" in v.message


def test_wrong_interface_or_network(judge, capture, result):
    r = capture("nft_json_masquerade.txt")
    v = judge(NftMasquerade, {"oifname": "eth1"}, ruleset=r, forward=forward(result))
    assert v.status is Status.NON_CONFORME and "ne correspond" in v.message
    v = judge(NftMasquerade, {"source": "192.168.20.0/24"}, ruleset=r, forward=forward(result))
    assert v.status is Status.NON_CONFORME
    assert judge(NftMasquerade, {"source": "192.168.10.128/25"}, ruleset=r,
                 forward=forward(result)).status is Status.CONFORME  # a part of the translated LAN


def test_snat_in_a_chain_reached_by_jump_inet_family(judge, capture, result):
    r = capture("nft_json_inet_snat_jump.txt")
    [rule] = source_nat_rules(parse_ruleset(r.stdout))
    assert rule.action == "snat" and rule.to == "203.0.113.7" and rule.oifnames == ("wan0", "ppp0")
    assert rule.chain == "sortie_nat"
    v = judge(NftMasquerade, {"oifname": "ppp0", "source": "10.10.4.0/24"}, ruleset=r, forward=forward(result))
    assert v.status is Status.CONFORME and "snat vers 203.0.113.7" in v.observed


def test_no_nat_rule(judge, capture, result):
    for name in ("nft_json_no_nat.txt", "nft_json_empty.txt"):
        v = judge(NftMasquerade, {}, ruleset=capture(name), forward=forward(result))
        assert v.status is Status.NON_CONFORME and "n'est configurée" in v.message


def test_dnat_only_is_not_source_nat(capture):
    rules = source_nat_rules(parse_ruleset(capture("nft_json_masquerade.txt").stdout))
    assert [r.action for r in rules] == ["masquerade"]  # the prerouting dnat is not counted


def test_not_root_is_erreur_and_missing_nft_non_conforme(judge, capture, result):
    v = judge(NftMasquerade, {}, ruleset=capture("nft_json_not_root.txt"), forward=forward(result))
    assert v.status is Status.ERREUR and "Operation not permitted" in v.observed
    v = judge(NftMasquerade, {}, ruleset=result("", "sh: 1: /usr/sbin/nft: not found\n", 127), forward=forward(result))
    assert v.status is Status.NON_CONFORME and "pas installé" in v.message


def test_without_forwarding_probe():
    probes = NftMasquerade().probes(NftMasquerade.Params(forwarding=False))
    assert list(probes) == ["ruleset"]


def test_params_validate_the_network():
    import pydantic

    with pytest.raises(pydantic.ValidationError):
        NftMasquerade.Params(source="192.168.10")
