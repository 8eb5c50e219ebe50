"""Cisco IOS checks over the ``cli`` channel: show commands and running-config facts.

Each probe is one command typed in the device's interactive session (see
:mod:`grader.probes.cli`); the outputs are parsed by :mod:`checks.network.ios_show`
(show commands, TextFSM/ntc-templates) and :mod:`checks.network.ios_config` (running-config). A command the device
refused (``% Invalid input``: privileged command in user mode, unknown on this model) or an
output that does not parse is ``erreur``, never ``non_conforme``: we could not see the fact.
``show running-config`` needs privileged mode: give the host ``options: {cli:
{enable_credential: ...}}`` unless the account lands in it (privilege 15).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from checks._common.text import clip, limited, reason_of, said
from checks.network import ios_show
from checks.network._common import Address, Network
from checks.network._trunk import TrunkParams, expected_trunk, judge_trunk
from checks.network.ios_config import RouterConfig, acl_permits, parse_router_config, short_name
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.cli import cli

SHOW_VLAN = "show vlan brief"
SHOW_BRIEF = "show ip interface brief"
SHOW_ROUTE = "show ip route"
SHOW_RUN = "show running-config"
SHOW_SWITCHPORT = "show interfaces switchport"


def _refused(r: ProbeResult, what: str) -> Verdict | None:
    """erreur when the device refused the command or printed nothing."""
    if r.exit_code not in (0, None) or not r.stdout.strip():
        hint = Msg(" (mode privilégié requis : indiquez enable_credential)") if what == SHOW_RUN else ""
        return Verdict.erreur(Msg("l'équipement n'a pas exécuté « {what} »{hint}", what=what, hint=hint),
                              observed=clip(r.stdout.strip()))
    return None


class _IosCheck(Check):
    platform = "network"
    transport = "cli"
    dialect = "ios"  # what the host's options.cli.dialect must be: Cisco IOS commands (checked by load_rubric)
    command = ""

    def probes(self, params: CheckParams) -> Mapping[str, Probe]:
        return {"sortie": cli(self.command)}


class _RunningConfigCheck(_IosCheck):
    command = SHOW_RUN

    def judge(self, params: CheckParams, results: Mapping[str, ProbeResult]) -> Verdict:
        r = results["sortie"]
        refused = _refused(r, SHOW_RUN)
        if refused is not None:
            return refused
        try:
            cfg = parse_router_config(r.stdout)
        except ValueError as exc:
            return Verdict.erreur(Msg("configuration illisible : {exc}", exc=reason_of(exc)), observed=clip(r.stdout))
        return self.judge_config(params, cfg)

    def judge_config(self, params: Any, cfg: RouterConfig) -> Verdict:  # pragma: no cover - abstract
        raise NotImplementedError


def _parsed(r: ProbeResult, command: str, parse):
    refused = _refused(r, command)
    if refused is not None:
        return None, refused
    try:
        rows = parse(r.stdout)
    except ValueError as exc:
        return None, Verdict.erreur(reason_of(exc), observed=clip(r.stdout))
    if not rows:
        return None, Verdict.erreur(Msg("sortie de « {command} » non reconnue", command=command),
                                    observed=clip(r.stdout))
    return rows, None


class IosVlans(_IosCheck):
    """Les VLAN attendus existent sur le commutateur, avec leurs noms et leurs ports d'accès.

    From ``show vlan brief``: each VLAN of ``vlans`` exists (with that name, case ignored,
    when a name is given), and each port of ``ports`` (``{vlan: [Fa0/1, ...]}``, long or
    short interface names) is listed in that VLAN.
    """

    id = "network.ios_vlans"
    usually_serves = ("CP5.1",)
    example = "{vlans: {10: ADMIN, 20: UTILISATEURS}, ports: {10: [Gi0/1, Gi0/2]}}"
    command = SHOW_VLAN

    class Params(CheckParams):
        vlans: dict[int, str | None] = Field(min_length=1)
        ports: dict[int, list[str]] = Field(default_factory=dict)

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        vlans, problem = _parsed(results["sortie"], SHOW_VLAN, ios_show.parse_show_vlan)
        if problem is not None:
            return problem
        verdict = ios_show.judge_vlans(vlans, params.vlans)
        if verdict.status.value != "conforme" or not params.ports:
            return verdict
        table = {v.id: {short_name(p) for p in v.ports} for v in vlans}
        missing = [f"{port} (VLAN {vid})" for vid, ports in sorted(params.ports.items()) for port in ports
                   if short_name(port) not in table.get(vid, set())]
        wanted = [Msg("VLAN {vid} : {ports}", vid=vid, ports=", ".join(ports))
                  for vid, ports in sorted(params.ports.items())]
        expected = Msg("{vlans} ; ports : {ports}", vlans=verdict.expected,
                       ports=limited(wanted))
        observed = said(limited([Msg("VLAN {vid} : {ports}", vid=v.id, ports=", ".join(v.ports) or Msg("aucun port"))
                                 for v in vlans if v.id in params.ports or v.id in params.vlans]))
        if missing:
            return Verdict.non_conforme(observed, expected,
                                        Msg("Ports absents de leur VLAN : {ports}.", ports=", ".join(missing)))
        return Verdict.conforme(observed, expected, Msg("Les VLAN attendus existent avec leurs ports d'accès."))


class IosInterfaceUp(_IosCheck):
    """L'interface {interface} de l'équipement est active (up/up), avec l'adresse attendue.

    From ``show ip interface brief`` (interface names long or short: Gi0/1 = GigabitEthernet0/1).
    """

    id = "network.ios_interface_up"
    usually_serves = ("CP5.1",)
    example = "{interface: GigabitEthernet0/1, address: 192.168.10.254}"
    command = SHOW_BRIEF

    class Params(CheckParams):
        interface: str = Field(min_length=1)
        address: Address | None = None

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        rows, problem = _parsed(results["sortie"], SHOW_BRIEF, ios_show.parse_show_ip_interface_brief)
        if problem is not None:
            return problem
        row = next((r for r in rows if short_name(r.name) == short_name(params.interface)), None)
        return ios_show.judge_interface_up(rows, interface=row.name if row else params.interface,
                                           address=params.address)


class IosRoute(_IosCheck):
    """La table de routage contient une route vers {prefix}.

    From ``show ip route``: a route to exactly ``prefix`` (via ``next_hop``, learned by
    ``protocol`` — C, S, O, D, B... — when given).
    """

    id = "network.ios_route"
    usually_serves = ("CP5.1",)
    example = "{prefix: 0.0.0.0/0, next_hop: 203.0.113.1}"
    command = SHOW_ROUTE

    class Params(CheckParams):
        prefix: Network
        next_hop: str | None = None
        protocol: str | None = None

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        routes, problem = _parsed(results["sortie"], SHOW_ROUTE, ios_show.parse_show_ip_route)
        if problem is not None:
            return problem
        return ios_show.judge_route(routes, prefix=params.prefix, next_hop=params.next_hop, protocol=params.protocol)


class IosNatOverload(_RunningConfigCheck):
    """La traduction d'adresses du réseau interne (PAT, « overload ») sort par l'interface {outside}.

    From the running-config: ``ip nat inside source list ACL interface OUTSIDE overload``,
    OUTSIDE marked ``ip nat outside``, at least one interface (or ``inside``) marked ``ip nat
    inside``, and, with ``source``, the ACL permits that whole network (first match wins).
    """

    id = "network.ios_nat_overload"
    usually_serves = ("CP6.1",)
    example = "{outside: GigabitEthernet0/0, inside: GigabitEthernet0/1}"

    class Params(CheckParams):
        outside: str = Field(min_length=1)
        inside: str | None = None
        source: Network | None = None

    def judge_config(self, params: Params, cfg: RouterConfig) -> Verdict:
        expected: str | Msg = f"ip nat inside source list … interface {params.outside} overload"
        if params.source:
            expected = Msg("{rule}, ACL autorisant {source}", rule=expected, source=params.source)
        rules = [n for n in cfg.nat if n.overload and n.interface and short_name(n.interface) == short_name(params.outside)]
        sides = limited([f"{i.name} nat {i.nat}" for i in cfg.interfaces.values() if i.nat])
        observed = Msg("{shown} ; {output}",
                       shown=limited([n.describe() for n in cfg.nat]) or Msg("aucune règle ip nat inside source list"),
                       output=sides or Msg("aucune interface ip nat inside/outside"))
        if not rules:
            return Verdict.non_conforme(observed, expected,
                                        Msg("Aucune traduction PAT (overload) par {outside}.", outside=params.outside))
        outside = cfg.interface(params.outside)
        if outside is None or outside.nat != "outside":
            return Verdict.non_conforme(observed, expected, Msg("L'interface {outside} n'est pas « ip nat outside ».",
                                                                outside=params.outside))
        insides = [i for i in cfg.interfaces.values() if i.nat == "inside"]
        if params.inside is not None:
            inside = cfg.interface(params.inside)
            if inside is None or inside.nat != "inside":
                return Verdict.non_conforme(observed, expected, Msg("L'interface {inside} n'est pas « ip nat inside ».",
                                                                    inside=params.inside))
        elif not insides:
            return Verdict.non_conforme(observed, expected, Msg("Aucune interface n'est « ip nat inside »."))
        if params.source is not None:
            network = ipaddress.ip_network(params.source, strict=False)
            for rule in rules:
                entries = cfg.acls.get(rule.acl)
                if entries is None:
                    observed = Msg("{shown} ; {output}", shown=observed, output=Msg("ACL {acl} absente", acl=rule.acl))
                    continue
                permitted, entry = acl_permits(entries, network)  # type: ignore[arg-type]
                observed = Msg("{shown} ; {output}", shown=observed,
                               output=Msg("ACL {acl} : {entries}", acl=rule.acl,
                                          entries=limited([e.text for e in entries])))
                if permitted:
                    return Verdict.conforme(observed, expected,
                                            Msg("Le réseau {source} est traduit en sortie par {outside}.",
                                                source=params.source, outside=params.outside))
                if permitted is None:
                    return Verdict.erreur(Msg("l'entrée « {value} » de l'ACL {acl} n'est pas interprétée",
                                              value=entry.text if entry else "?", acl=rule.acl), observed=observed,
                                          expected=expected)
            return Verdict.non_conforme(observed, expected,
                                        Msg("L'ACL de la traduction n'autorise pas {source}.", source=params.source))
        return Verdict.conforme(observed, expected,
                                Msg("La traduction PAT sort par {outside}.", outside=params.outside))


class IosAclApplied(_RunningConfigCheck):
    """L'ACL {acl} existe et est appliquée en entrée ou sortie ({direction}) de l'interface {interface}."""

    id = "network.ios_acl_applied"
    usually_serves = ("CP6.1",)
    example = "{interface: GigabitEthernet0/1, acl: FILTRE-LAN, direction: in}"

    class Params(CheckParams):
        interface: str = Field(min_length=1)
        acl: str = Field(min_length=1)
        direction: Literal["in", "out"] = "in"

    def judge_config(self, params: Params, cfg: RouterConfig) -> Verdict:
        expected = Msg("ip access-group {acl} {direction} sur {interface}", acl=params.acl, direction=params.direction,
                       interface=params.interface)
        iface = cfg.interface(params.interface)
        if iface is None:
            return Verdict.non_conforme(said(limited(list(cfg.interfaces))), expected,
                                        Msg("L'interface {interface} n'existe pas.", interface=params.interface))
        applied = iface.acl_in if params.direction == "in" else iface.acl_out
        observed = Msg("{name} : entrée {acl_in}, sortie {acl_out}", name=iface.name,
                       acl_in=iface.acl_in or Msg("aucune ACL"), acl_out=iface.acl_out or Msg("aucune ACL"))
        if applied != params.acl:
            return Verdict.non_conforme(observed, expected,
                                        Msg("L'ACL {acl} n'est pas appliquée ({direction}) sur {interface}.",
                                            acl=params.acl, direction=params.direction, interface=params.interface))
        if params.acl not in cfg.acls:
            return Verdict.non_conforme(Msg("{shown} ; ACL {acl} non définie", shown=observed, acl=params.acl), expected,
                                        Msg("L'ACL {acl} est appliquée mais n'est pas définie (elle ne filtre rien).",
                                            acl=params.acl))
        observed = Msg("{shown} ; {output}", shown=observed,
                       output=Msg("{acl} : {entries}", acl=params.acl,
                                  entries=limited([e.text for e in cfg.acls[params.acl]])))
        return Verdict.conforme(observed, expected, Msg("L'ACL {acl} filtre {interface} ({direction}).", acl=params.acl,
                                                        interface=params.interface, direction=params.direction))


class IosLoggingHost(_RunningConfigCheck):
    """Le routeur envoie ses journaux au serveur syslog {host} (logging host)."""

    id = "network.ios_logging_host"
    usually_serves = ("CP13.3",)
    example = "{host: 192.168.10.5}"

    class Params(CheckParams):
        host: str = Field(min_length=1)

    def judge_config(self, params: Params, cfg: RouterConfig) -> Verdict:
        expected = f"logging host {params.host}"
        observed = ", ".join(cfg.logging_hosts) or Msg("aucun serveur de journaux")
        if params.host in cfg.logging_hosts:
            return Verdict.conforme(observed, expected, Msg("Les journaux sont envoyés à {host}.", host=params.host))
        return Verdict.non_conforme(observed, expected,
                                    Msg("{host} n'est pas un serveur de journaux du routeur.", host=params.host))


class IosSnmpCommunity(_RunningConfigCheck):
    """La communauté SNMP {community} est configurée en {access} sur l'équipement."""

    id = "network.ios_snmp_community"
    usually_serves = ("CP13.2",)
    example = "{community: tssr-ro, access: RO}"

    class Params(CheckParams):
        community: str = Field(min_length=1)
        access: Literal["RO", "RW"] = "RO"

    def judge_config(self, params: Params, cfg: RouterConfig) -> Verdict:
        expected = f"snmp-server community {params.community} {params.access}"
        observed = said(limited([f"{name} {access}" for name, access in cfg.communities.items()])) or \
            Msg("aucune communauté SNMP")
        access = cfg.communities.get(params.community)
        if access is None:
            return Verdict.non_conforme(observed, expected, Msg("La communauté {community} n'est pas configurée.",
                                                                community=params.community))
        if access != params.access:
            return Verdict.non_conforme(observed, expected, Msg("La communauté {community} est en {access}.",
                                                                community=params.community, access=access))
        return Verdict.conforme(observed, expected, Msg("La communauté {community} est configurée en {access}.",
                                                        community=params.community, access=access))


class IosHelperAddress(_RunningConfigCheck):
    """L'interface {interface} relaie les requêtes DHCP de son réseau vers le serveur {server} (ip helper-address).

    From the running-config: the interface (or router-on-a-stick subinterface, ``Gi0/0.10``)
    exists, is not shut down and has ``ip helper-address server``. What it proves is the
    configuration only; the functional proof is ``network.dhcp_offer`` from a client of that
    VLAN (the OFFER comes back from the server through the relay).
    """

    id = "network.ios_helper_address"
    usually_serves = ("CP5.1",)
    example = "{interface: GigabitEthernet0/0.10, server: 192.168.20.5}"

    class Params(CheckParams):
        interface: str = Field(min_length=1)
        server: Address

    def judge_config(self, params: Params, cfg: RouterConfig) -> Verdict:
        expected = f"interface {params.interface} : ip helper-address {params.server}"
        facts = cfg.interface(params.interface)
        relaying = said(limited([f"{i.name} -> {', '.join(i.helpers)}" for i in cfg.interfaces.values() if i.helpers]))
        if facts is None:
            return Verdict.non_conforme(Msg("interface {interface} absente ; relais : {relays}",
                                            interface=params.interface, relays=relaying or Msg("aucun")),
                                        expected, Msg("L'interface {interface} n'existe pas.",
                                                      interface=params.interface))
        vlan = f" (VLAN {facts.dot1q})" if facts.dot1q is not None else ""  # the same words in every language
        observed = Msg("{interface}{vlan} : {helpers}", interface=facts.name, vlan=vlan,
                       helpers=", ".join(f"ip helper-address {h}" for h in facts.helpers) or Msg("aucun relais DHCP"))
        if params.server not in facts.helpers:
            return Verdict.non_conforme(observed, expected, Msg("{interface} ne relaie pas le DHCP vers {server}.",
                                                                interface=facts.name, server=params.server))
        if facts.shutdown:
            return Verdict.non_conforme(Msg("{shown} ; shutdown", shown=observed), expected,
                                        Msg("{interface} est désactivée (shutdown).", interface=facts.name))
        return Verdict.conforme(observed, expected, Msg("{interface} relaie le DHCP vers {server}.",
                                                        interface=facts.name, server=params.server))


class IosTrunk(_IosCheck):
    """Le port {interface} du commutateur est un trunk 802.1Q qui laisse passer les VLAN attendus.

    From ``show interfaces switchport`` (ntc-templates; ntc-templates has no template for ``show
    interfaces trunk`` on IOS): the port's *operational* mode is trunk, its native VLAN is
    ``native`` (when given), every VLAN of ``allowed`` is in « Trunking VLANs Enabled »; with
    ``only``, no other VLAN is. The same judgement as ``network.snmp_trunk`` (CISCO-VTP-MIB).
    """

    id = "network.ios_trunk"
    usually_serves = ("CP5.1",)
    example = "{interface: Gi0/1, allowed: [10, 20, 99], native: 99, only: true}"
    command = SHOW_SWITCHPORT

    class Params(TrunkParams):
        pass

    def judge(self, params: TrunkParams, results: Mapping[str, ProbeResult]) -> Verdict:
        ports, problem = _parsed(results["sortie"], SHOW_SWITCHPORT, ios_show.parse_show_interfaces_switchport)
        if problem is not None:
            return problem
        wanted = short_name(params.interface)
        port = next((p for p in ports if short_name(p.interface) == wanted), None)
        if port is None:
            return Verdict.non_conforme(Msg("ports : {ports}", ports=", ".join(p.interface for p in ports)),
                                        expected_trunk(params), Msg("Le port {interface} n'existe pas sur "
                                                                    "l'équipement.", interface=params.interface))
        return judge_trunk(port, params)


CHECKS: tuple[type[Check], ...] = (IosVlans, IosInterfaceUp, IosRoute, IosNatOverload, IosAclApplied, IosLoggingHost,
                                   IosSnmpCommunity, IosHelperAddress, IosTrunk)
