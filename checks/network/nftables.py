"""nftables on a Linux router: the NAT rules read from ``nft -j list ruleset`` (configuration evidence).

The JSON form (libnftables' schema, ``{"nftables": [{"table": ...}, {"chain": ...},
{"rule": ...}]}``) is parsed, never the text form. A source-NAT rule counts when it sits in
a base chain of type ``nat`` hooked at ``postrouting``, or in a regular chain such a chain
jumps to (``jump``/``goto``, followed transitively).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from checks._common.text import clip, limited, reason_of, said
from checks.network._common import IP_FORWARD, Network, covered_by, forwarding_off
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.ssh import ssh


@dataclass(frozen=True)
class NatRule:
    family: str
    table: str
    chain: str
    handle: int | None
    action: str  # masquerade | snat
    to: str  # snat address, "" for masquerade
    oifnames: tuple[str, ...]  # () when the rule does not match on the output interface
    saddrs: tuple[str, ...]  # prefixes/addresses matched on ip saddr, () when none
    negated: bool = False  # a != on oifname or saddr: not interpreted

    def describe(self) -> str | Msg:
        conditions = []
        if self.saddrs:
            conditions.append("ip saddr " + ",".join(self.saddrs))
        if self.oifnames:
            conditions.append("oifname " + ",".join(self.oifnames))
        where = f"{self.family} {self.table}/{self.chain}"
        matched = " ".join(conditions) + " " if conditions else ""
        if self.to:
            return Msg("{where} : {conditions}{action} vers {to}", where=where, conditions=matched, action=self.action,
                       to=self.to)
        return f"{where} : {matched}{self.action}"


@dataclass
class Ruleset:
    chains: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    rules: list[dict[str, Any]] = field(default_factory=list)


def parse_ruleset(text: str) -> Ruleset:
    """``nft -j list ruleset`` output -> chains and rules (ValueError when it is not that JSON)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(Msg("JSON invalide ({error}, ligne {line})", error=exc.msg, line=exc.lineno)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("nftables"), list):
        raise ValueError(Msg("objet « nftables » absent"))  # noqa: TRY004 - bad input, not a bad call
    ruleset = Ruleset()
    for item in data["nftables"]:
        if not isinstance(item, dict):
            continue
        if "chain" in item:
            c = item["chain"]
            ruleset.chains[(c.get("family", ""), c.get("table", ""), c.get("name", ""))] = c
        elif "rule" in item:
            ruleset.rules.append(item["rule"])
    return ruleset


def _values(right: Any) -> tuple[str, ...]:
    """The right-hand side of a match as strings (a value, a set, a prefix)."""
    if isinstance(right, dict) and "set" in right:
        return tuple(v for x in right["set"] for v in _values(x))
    if isinstance(right, dict) and "prefix" in right:
        p = right["prefix"]
        return (f"{p.get('addr')}/{p.get('len')}",)
    if isinstance(right, dict) and "range" in right:
        low, high = right["range"]
        return (f"{low}-{high}",)
    if isinstance(right, list):
        return tuple(v for x in right for v in _values(x))
    return (str(right),)


def _rule_of(rule: Mapping[str, Any]) -> NatRule | None:
    action, to = "", ""
    oifnames: tuple[str, ...] = ()
    saddrs: tuple[str, ...] = ()
    negated = False
    for expr in rule.get("expr", []):
        if not isinstance(expr, dict):
            continue
        if "masquerade" in expr:
            action = "masquerade"
        elif "snat" in expr:
            action = "snat"
            snat = expr["snat"] or {}
            to = ",".join(_values(snat.get("addr", ""))) if isinstance(snat, dict) else ""
        elif "match" in expr:
            m = expr["match"]
            left = m.get("left", {})
            op = m.get("op", "==")
            if isinstance(left, dict) and left.get("meta", {}).get("key") == "oifname":
                oifnames, negated = _values(m.get("right")), negated or op == "!="
            elif isinstance(left, dict) and left.get("payload", {}).get("field") == "saddr" and \
                    left.get("payload", {}).get("protocol") == "ip":
                saddrs, negated = _values(m.get("right")), negated or op == "!="
    if not action:
        return None
    return NatRule(rule.get("family", ""), rule.get("table", ""), rule.get("chain", ""), rule.get("handle"), action, to,
                   oifnames, saddrs, negated)


def source_nat_rules(ruleset: Ruleset) -> list[NatRule]:
    """masquerade/snat rules reachable from a nat/postrouting base chain."""
    reachable: set[tuple[str, str, str]] = {key for key, c in ruleset.chains.items()
                                            if c.get("type") == "nat" and c.get("hook") == "postrouting"}
    changed = True
    while changed:
        changed = False
        for rule in ruleset.rules:
            key = (rule.get("family", ""), rule.get("table", ""), rule.get("chain", ""))
            if key not in reachable:
                continue
            for expr in rule.get("expr", []):
                for verb in ("jump", "goto"):
                    if isinstance(expr, dict) and isinstance(expr.get(verb), dict):
                        target = (key[0], key[1], expr[verb].get("target", ""))
                        if target in ruleset.chains and target not in reachable:
                            reachable.add(target)
                            changed = True
    out = []
    for rule in ruleset.rules:
        if (rule.get("family", ""), rule.get("table", ""), rule.get("chain", "")) in reachable:
            nat = _rule_of(rule)
            if nat is not None:
                out.append(nat)
    return out


def covers(rule: NatRule, oifname: str | None, source: str | None) -> bool:
    """Does this rule translate traffic from ``source`` leaving by ``oifname``?"""
    if rule.negated:
        return False
    if oifname is not None and rule.oifnames and oifname not in rule.oifnames:
        return False
    if source is not None and rule.saddrs:
        return covered_by(source, rule.saddrs)
    return True


class NftMasquerade(Check):
    """La traduction d'adresses sortante (masquerade ou SNAT) est configurée dans nftables.

    From ``nft -j list ruleset`` (root: the host needs ``sudo: true`` for a non-root account).
    A ``masquerade`` or ``snat`` rule must be reachable from a chain of type nat hooked at
    postrouting; with ``oifname`` it must apply to that output interface (a rule without
    interface condition applies to all), with ``source`` to that LAN (a rule without
    ``ip saddr`` applies to every source). Negated conditions are not interpreted. With
    ``forwarding`` (the default), IPv4 forwarding must also be on (/proc/sys/net/ipv4/ip_forward
    = 1): a NAT rule on a router that does not route translates nothing.
    """

    id = "network.nft_masquerade"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        oifname: str | None = None
        source: Network | None = None
        forwarding: bool = True

    def probes(self, params: Params) -> Mapping[str, Probe]:
        probes = {"ruleset": ssh("/usr/sbin/nft -j list ruleset")}
        if params.forwarding:
            probes["forward"] = ssh(IP_FORWARD)
        return probes

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        wanted = Msg("masquerade ou snat en postrouting{output}{source}{forwarding}",
                     output=Msg(", sortie {name}", name=params.oifname) if params.oifname else "",
                     source=f", source {params.source}" if params.source else "",
                     forwarding=Msg(", routage IPv4 actif") if params.forwarding else "")
        r = results["ruleset"]
        if r.exit_code == 127:
            return Verdict.non_conforme(Msg("nft introuvable (/usr/sbin/nft)"), wanted,
                                        Msg("nftables n'est pas installé sur l'hôte."))
        if r.exit_code != 0:
            return Verdict.erreur(Msg("lecture du jeu de règles impossible (nft, code {code})", code=r.exit_code),
                                  observed=clip(r.stderr.strip() or r.stdout), expected=wanted)
        try:
            ruleset = parse_ruleset(r.stdout)
        except ValueError as exc:
            return Verdict.erreur(Msg("sortie de « nft -j » illisible : {exc}", exc=reason_of(exc)),
                                  observed=clip(r.stdout),
                                  expected=wanted)
        rules = source_nat_rules(ruleset)
        observed = (said(limited([x.describe() for x in rules])) if rules else
                    Msg("aucune règle masquerade/snat en postrouting"))
        matching = [x for x in rules if covers(x, params.oifname, params.source)]
        if not matching:
            message = (
                    Msg("Aucune règle de traduction d'adresses sortante ne correspond à la sortie et au réseau "
                        "attendus.")
                       if rules else Msg("Aucune règle de traduction d'adresses sortante n'est configurée."))
            return Verdict.non_conforme(observed, wanted, message)
        if params.forwarding:
            off = forwarding_off(results["forward"], observed, wanted,
                                 Msg("La règle de NAT est présente mais le routage IPv4 est désactivé "
                                     "(net.ipv4.ip_forward = 0) : rien n'est traduit."))
            if off is not None:
                return off
            observed = Msg("{shown} ; net.ipv4.ip_forward = 1", shown=observed)
        return Verdict.conforme(observed, wanted,
                                Msg("La traduction d'adresses sortante est configurée dans nftables."))
