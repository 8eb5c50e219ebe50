"""iptables on a Linux router, read from ``/usr/sbin/iptables-save`` (configuration evidence).

No well-kept parser of ``iptables-save`` exists on PyPI (the packages found either drive
libiptc, which reads the kernel's legacy tables only, or build rules rather than read
them), so this is a small one. The format is stable and simple: ``*table`` opens a table,
``:CHAIN POLICY [packets:bytes]`` declares a chain, ``-A CHAIN <options>`` appends a rule
(words quoted as a shell would, which :mod:`shlex` undoes), ``COMMIT`` closes the table.
Options are read into a small record; anything not understood is kept as ``others`` and
makes the judges cautious (a rule with a condition we do not interpret never proves a
fact, and an ACCEPT we cannot bound counts against "this port is blocked").

Facts judged: source NAT (MASQUERADE/SNAT reachable from nat/POSTROUTING), a port forward
(DNAT reachable from nat/PREROUTING), a port blocked (DROP/REJECT by the first matching rule
of a filter chain, or its policy). iptables-save lists only the tables that exist: an
absent table has no rule. With the nf_tables backend, rules left in the *legacy* tables are
not listed, only announced on stderr ("iptables-legacy tables present"): then an absent
rule proves nothing (``erreur``). ``iptables-save`` missing or refused (not root: the host
needs ``sudo: true``) is ``erreur`` too, never ``non_conforme``.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from checks._common.text import clip, limited, reason_of, said
from checks.network._common import IP_FORWARD, Address, Network, covered_by, forwarding_off
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.ssh import ssh

SAVE = "/usr/sbin/iptables-save"
LEGACY_WARNING = "iptables-legacy tables present"
#: What is observed when iptables-save lists no such table.
_NO_TABLE = {"nat": Msg("table nat absente (aucune règle de NAT iptables)"),
             "filter": Msg("table filter absente (tout est accepté)")}
#: Options that do not restrict which packets a rule applies to.
_NEUTRAL = {"-m", "--comment", "--to-source", "--to-destination", "--to-ports", "--random", "--fully-random",
            "--persistent", "--reject-with"}


@dataclass(frozen=True)
class Rule:
    table: str
    chain: str
    text: str
    target: str = ""
    protocol: str = ""
    sources: tuple[str, ...] = ()
    in_iface: str = ""
    out_iface: str = ""
    ports: str = ""  # as written: "22", "139,445", "1000:2000"
    to: str = ""  # --to-destination / --to-source
    states: tuple[str, ...] = ()  # --ctstate / --state values
    negated: bool = False  # some condition is negated ("!"): not interpreted
    others: tuple[str, ...] = ()  # options not interpreted

    def describe(self) -> str:
        return f"{self.table}/{self.text}"


@dataclass
class Saved:
    tables: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> chain -> policy ("-" = user chain)
    rules: list[Rule] = field(default_factory=list)

    def chain(self, table: str, chain: str) -> list[Rule]:
        return [r for r in self.rules if r.table == table and r.chain == chain]

    def reachable(self, table: str, chain: str) -> list[Rule]:
        """The rules of ``chain`` and of the user chains it jumps/goes to, transitively."""
        out, todo, seen = [], [chain], set()
        while todo:
            name = todo.pop(0)
            if name in seen:
                continue
            seen.add(name)
            for rule in self.chain(table, name):
                out.append(rule)
                if rule.target in self.tables.get(table, {}) and self.tables[table][rule.target] == "-":
                    todo.append(rule.target)
        return out


def _rule(table: str, words: list[str], text: str) -> Rule:
    values: dict[str, str] = {}
    others: list[str] = []
    negated = False
    i = 1  # words[0] is the chain
    while i < len(words):
        word = words[i]
        if word == "!":
            negated = True
            i += 1
            continue
        value = words[i + 1] if i + 1 < len(words) and not words[i + 1].startswith("-") else ""
        if word in ("-j", "-g"):
            values["target"] = value
        elif word in ("-p", "--protocol"):
            values["protocol"] = value.lower()
        elif word in ("-s", "--source"):
            values["sources"] = value
        elif word in ("-i", "--in-interface"):
            values["in"] = value
        elif word in ("-o", "--out-interface"):
            values["out"] = value
        elif word in ("--dport", "--dports", "--destination-port", "--destination-ports"):
            values["ports"] = value
        elif word in ("--to-destination", "--to-source"):
            values["to"] = value
        elif word in ("--ctstate", "--state"):
            values["states"] = value
        elif word not in _NEUTRAL:
            others.append(word)
        if word == "-m" and value in ("tcp", "udp", "multiport", "conntrack", "state", "comment"):
            pass  # the module's own options are read above
        elif word == "-m":
            others.append(f"-m {value}")
        i += 2 if value else 1
    return Rule(table, words[0], text, values.get("target", ""), values.get("protocol", ""),
                tuple(s for s in values.get("sources", "").split(",") if s), values.get("in", ""),
                values.get("out", ""), values.get("ports", ""), values.get("to", ""),
                tuple(s for s in values.get("states", "").split(",") if s), negated,
                tuple(o for o in others if o != "-m"))


def parse_save(text: str) -> Saved:
    """``iptables-save`` output -> tables, chains' policies, rules (ValueError when it is not that)."""
    saved = Saved()
    table = ""
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            table = line[1:]
            saved.tables[table] = {}
        elif line == "COMMIT":
            table = ""
        elif table and line.startswith(":"):
            name, _, rest = line[1:].partition(" ")
            saved.tables[table][name] = rest.split(" ")[0] if rest else "-"
        elif table and line.startswith("-A "):
            try:
                words = shlex.split(line[3:])
            except ValueError as exc:
                raise ValueError(Msg("ligne {number} illisible ({exc})", number=number, exc=str(exc))) from exc
            if words:
                saved.rules.append(_rule(table, words, line[3:]))
        else:
            raise ValueError(Msg("ligne {number} inattendue : {line}", number=number, line=repr(line[:80])))
    if table:
        raise ValueError(Msg("table {table} sans COMMIT (sortie tronquée ?)", table=table))
    return saved


def _port_in(spec: str, port: int) -> bool:
    for part in spec.split(","):
        low, sep, high = part.partition(":")
        try:
            if (int(low or 0) <= port <= int(high or 65535)) if sep else int(low) == port:
                return True
        except ValueError:
            continue
    return False


def _covers_source(rule: Rule, source: str | None) -> bool:
    """Does the rule's -s include the whole ``source`` network (no -s: every source)?"""
    if not rule.sources:
        return True
    return source is not None and covered_by(source, rule.sources)


# --- the probe and the shared reading -------------------------------------------------


class _IptablesCheck(Check):
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        forwarding: bool = True

    def probes(self, params: CheckParams) -> Mapping[str, Probe]:
        probes = {"save": ssh(SAVE)}
        if getattr(params, "forwarding", False):
            probes["forward"] = ssh(IP_FORWARD)
        return probes

    def read(self, r: ProbeResult, wanted: str | Msg, table: str,
             missing: str | Msg) -> tuple[Saved | None, Verdict | None]:
        """The saved rules, or the verdict when they cannot be read or ``table`` is absent (``missing`` says so)."""
        if r.exit_code == 127:
            return None, Verdict.erreur(Msg("{SAVE} est introuvable sur l'hôte : le jeu de règles iptables n'a pas pu "
                                            "être lu", SAVE=SAVE), observed=clip(r.stderr.strip()), expected=wanted)
        if r.exit_code != 0:
            why = Msg(" (droits root nécessaires : sudo: true sur l'hôte)") if "root" in r.stderr else ""
            return None, Verdict.erreur(Msg("lecture des règles iptables impossible (code {code}){why}",
                                            code=r.exit_code, why=why), observed=clip(r.stderr.strip() or r.stdout),
                                        expected=wanted)
        try:
            saved = parse_save(r.stdout)
        except ValueError as exc:
            return None, Verdict.erreur(Msg("sortie de iptables-save illisible : {exc}", exc=reason_of(exc)),
                                        observed=clip(r.stdout), expected=wanted)
        if table not in saved.tables:
            return None, self.absent(r, _NO_TABLE[table], wanted, missing)
        return saved, None

    @staticmethod
    def absent(r: ProbeResult, observed: str | Msg, wanted: str | Msg, message: str | Msg) -> Verdict:
        """Nothing matches: non_conforme, unless legacy tables hide rules from this listing."""
        if LEGACY_WARNING in r.stderr or LEGACY_WARNING in r.stdout:
            return Verdict.erreur(Msg("des tables iptables-legacy existent et ne sont pas listées par iptables-save "
                                      "(nf_tables) : l'absence de la règle n'est pas prouvée"), observed=observed,
                                  expected=wanted)
        return Verdict.non_conforme(observed, wanted, message)

    @staticmethod
    def forwarding(params: CheckParams, results: Mapping[str, ProbeResult], observed: str | Msg,
                   wanted: str | Msg) -> Verdict | None:
        """With ``forwarding`` asked, the verdict when IPv4 forwarding is off or unreadable, else None."""
        if not getattr(params, "forwarding", False):
            return None
        return forwarding_off(results["forward"], observed, wanted,
                              Msg("La règle est présente mais le routage IPv4 est désactivé (net.ipv4.ip_forward = 0) "
                                  ": rien ne traverse le routeur."))


class IptablesMasquerade(_IptablesCheck):
    """La traduction d'adresses sortante (MASQUERADE ou SNAT) est configurée dans iptables.

    From ``iptables-save`` (root: ``sudo: true``). A MASQUERADE or SNAT rule reachable from
    nat/POSTROUTING must apply to ``oifname`` (a rule without ``-o`` applies to all) and to
    the ``source`` network (a rule without ``-s`` applies to every source); a rule with other
    conditions (protocol, ports, negations, other matches) does not count. With
    ``forwarding`` (default), IPv4 forwarding must be on.
    """

    id = "network.iptables_masquerade"
    usually_serves = ("CP6.1",)
    example = "{oifname: eth0, source: 192.168.10.0/24}"

    class Params(CheckParams):
        oifname: str | None = None
        source: Network | None = None
        forwarding: bool = True

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        wanted = Msg("MASQUERADE ou SNAT en nat/POSTROUTING{output}{source}{forwarding}",
                     output=Msg(", sortie {name}", name=params.oifname) if params.oifname else "",
                     source=f", source {params.source}" if params.source else "",
                     forwarding=Msg(", routage IPv4 actif") if params.forwarding else "")
        r = results["save"]
        saved, problem = self.read(r, wanted, "nat",
                                   Msg("Aucune table nat dans iptables : la traduction sortante n'est pas configurée "
                                       "(une configuration nftables native ne figure pas ici)."))
        if saved is None:
            return problem  # type: ignore[return-value]
        rules = [x for x in saved.reachable("nat", "POSTROUTING") if x.target in ("MASQUERADE", "SNAT")]
        observed = (said(limited([x.describe() for x in rules]))
                    or Msg("aucune règle MASQUERADE/SNAT en nat/POSTROUTING"))
        matching = [x for x in rules if not x.negated and not x.others and not x.protocol and not x.ports
                    and (params.oifname is None or not x.out_iface or x.out_iface == params.oifname)
                    and (params.source is None or _covers_source(x, params.source))]
        if not matching:
            return self.absent(r, observed, wanted, (
                    Msg("Aucune règle de traduction sortante ne correspond à la sortie et au réseau attendus.") if rules
                    else Msg("Aucune règle de traduction sortante n'est configurée.")))
        off = self.forwarding(params, results, observed, wanted)
        if off is not None:
            return off
        return Verdict.conforme(observed, wanted,
                                Msg("La traduction d'adresses sortante est configurée dans iptables."))


class IptablesPortForward(_IptablesCheck):
    """La redirection du port {port}/{protocol} vers {target} est configurée dans iptables (DNAT).

    A DNAT rule reachable from nat/PREROUTING for ``protocol``/``port`` (arriving on
    ``iifname`` when given; a rule without ``-i`` applies to all) to ``target`` (and
    ``target_port`` when given; without a port in --to-destination the port is kept).
    """

    id = "network.iptables_port_forward"
    usually_serves = ("CP6.2",)
    example = "{port: 8080, target: 192.168.10.20, target_port: 80, iifname: eth0}"

    class Params(CheckParams):
        port: int = Field(ge=1, le=65535)
        target: Address
        target_port: int | None = Field(default=None, ge=1, le=65535)
        protocol: Literal["tcp", "udp"] = "tcp"
        iifname: str | None = None
        forwarding: bool = True

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        wanted: str | Msg = f"DNAT {params.protocol}/{params.port} → {params.target}" + (
            f":{params.target_port}" if params.target_port else "")
        if params.iifname:
            wanted = Msg("{rule} sur {interface}", rule=wanted, interface=params.iifname)
        r = results["save"]
        saved, problem = self.read(r, wanted, "nat",
                                   Msg("Aucune table nat dans iptables : aucune redirection de port n'est configurée."))
        if saved is None:
            return problem  # type: ignore[return-value]
        rules = [x for x in saved.reachable("nat", "PREROUTING") if x.target == "DNAT"]
        observed = said(limited([x.describe() for x in rules])) or Msg("aucune règle DNAT en nat/PREROUTING")
        for x in rules:
            if x.negated or x.others or x.protocol != params.protocol or not _port_in(x.ports, params.port):
                continue
            if params.iifname is not None and x.in_iface and x.in_iface != params.iifname:
                continue
            host, _, port = x.to.partition(":")
            if host != params.target:
                continue
            effective = int(port.split("-")[0]) if port else params.port
            if params.target_port is not None and effective != params.target_port:
                continue
            off = self.forwarding(params, results, observed, wanted)
            if off is not None:
                return off
            return Verdict.conforme(x.describe(), wanted,
                                    Msg("Le port {port}/{protocol} est redirigé vers {target}.", port=params.port,
                                        protocol=params.protocol, target=params.target))
        return self.absent(r, observed, wanted, Msg("Aucune redirection du port {port}/{protocol} vers {target}.",
                                                    port=params.port, protocol=params.protocol, target=params.target))


class IptablesPortBlocked(_IptablesCheck):
    """Le port {port}/{protocol} est bloqué (DROP ou REJECT) dans la chaîne {chain} d'iptables.

    First match wins in filter/``chain``, following jumps to user chains, then the chain's
    policy. Connections considered: new ones (rules for RELATED/ESTABLISHED only, or on
    ``lo``, do not apply), from ``source`` when given. An ACCEPT that applies to only part of
    that traffic (another source, another interface, a condition not interpreted) before the
    blocking rule means the port is open to some: ``non_conforme``, with the rule.
    """

    id = "network.iptables_port_blocked"
    usually_serves = ("CP6.1",)
    example = "{port: 22, chain: INPUT, iifname: eth0}"

    class Params(CheckParams):
        port: int = Field(ge=1, le=65535)
        protocol: Literal["tcp", "udp"] = "tcp"
        chain: Literal["INPUT", "FORWARD"] = "INPUT"
        source: Network | None = None
        iifname: str | None = None

    def probes(self, params: CheckParams) -> Mapping[str, Probe]:
        return {"save": ssh(SAVE)}

    def _applies(self, p: Params, x: Rule) -> bool | None:
        """True: applies to all the traffic asked about; False: to none of it; None: to part of it."""
        if x.protocol not in ("", "all", p.protocol) or (x.ports and not _port_in(x.ports, p.port)):
            return False
        if x.in_iface == "lo" or (x.states and "NEW" not in x.states):
            return False
        if p.iifname is not None and x.in_iface and x.in_iface != p.iifname:
            return False
        if x.negated or x.others or x.out_iface or (x.in_iface and p.iifname is None):
            return None
        if x.sources:
            if p.source is None:
                return None
            return True if _covers_source(x, p.source) else (
                False if not any(_overlap(s, p.source) for s in x.sources) else None)
        return True

    def _walk(self, p: Params, saved: Saved, chain: str, partial: list[Rule], depth: int = 0) -> Rule | None:
        for x in saved.chain("filter", chain):
            applies = self._applies(p, x)
            if applies is False:
                continue
            user = saved.tables["filter"].get(x.target) == "-"
            if user and depth < 8:
                decided = self._walk(p, saved, x.target, partial, depth + 1)
                if decided is not None and applies:
                    return decided
                continue
            if x.target == "RETURN" and depth and applies:
                return None
            if applies is None:
                if x.target == "ACCEPT":
                    partial.append(x)
                continue
            if x.target in ("ACCEPT", "DROP", "REJECT"):
                return x
        return None

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        wanted = Msg("{port}{source}{interface} rejeté ou ignoré (DROP/REJECT) en filter/{chain}",
                     port=f"{params.protocol}/{params.port}",
                     source=Msg(" depuis {source}", source=params.source) if params.source else "",
                     interface=Msg(" sur {interface}", interface=params.iifname) if params.iifname else "",
                     chain=params.chain)
        r = results["save"]
        saved, problem = self.read(r, wanted, "filter", Msg("Aucune règle de filtrage iptables : le port {port} n'est "
                                                            "pas bloqué.", port=params.port))
        if saved is None:
            return problem  # type: ignore[return-value]
        partial: list[Rule] = []
        decided = self._walk(params, saved, params.chain, partial)
        policy = saved.tables["filter"].get(params.chain, "ACCEPT")
        observed: str | Msg = (decided.describe() if decided else
                               Msg("aucune règle ne correspond : politique {policy}", policy=policy))
        if partial:
            observed = Msg("ACCEPT partiel : {rules} ; puis {rest}", rules=limited([x.describe() for x in partial]),
                           rest=observed)
        blocked = decided.target in ("DROP", "REJECT") if decided else policy == "DROP"
        if blocked and not partial:
            return Verdict.conforme(observed, wanted, Msg("Le port {port}/{protocol} est bloqué.", port=params.port,
                                                          protocol=params.protocol))
        if blocked:
            return Verdict.non_conforme(observed, wanted, Msg("Le port {port}/{protocol} est bloqué, sauf pour le "
                                                              "trafic qu'une règle ACCEPT antérieure laisse passer.",
                                                              port=params.port, protocol=params.protocol))
        return self.absent(r, observed, wanted, Msg("Le port {port}/{protocol} n'est pas bloqué.", port=params.port,
                                                    protocol=params.protocol))


def _overlap(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_network(a, strict=False).overlaps(ipaddress.ip_network(b, strict=False))
    except (ValueError, TypeError):
        return True


CHECKS: tuple[type[Check], ...] = (IptablesMasquerade, IptablesPortForward, IptablesPortBlocked)
