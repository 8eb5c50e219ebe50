"""Cisco IOS outputs parsed with well-kept parsers, and the judges a TSSR jury needs from them.

``show vlan [brief]``, ``show ip interface brief`` and ``show ip route`` go through TextFSM
with networktocode's ntc-templates (the community's maintained templates, tested on real
outputs); the running-config goes through a TTP template (indentation-aware, one group per
``interface``/``vlan``/``line`` block). Pure functions: how the outputs are collected (an
interactive SSH CLI session, several commands, no shell) is the job of a future channel.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from checks._common.text import commas, limited, said
from checks.network._common import vlan_named
from grader.model import Msg, Verdict


def _textfsm(command: str, text: str) -> list[dict[str, Any]]:
    from ntc_templates.parse import parse_output

    try:
        rows = parse_output(platform="cisco_ios", command=command, data=text)
    except Exception as exc:  # textfsm raises its own error types on unparsable input
        raise ValueError(Msg("sortie « {command} » illisible : {exc}", command=command, exc=str(exc))) from exc
    return [{k.lower(): v for k, v in row.items()} for row in rows]


# --- show commands ---------------------------------------------------------------------


@dataclass(frozen=True)
class Vlan:
    id: int
    name: str
    status: str
    ports: tuple[str, ...]


def parse_show_vlan(text: str) -> list[Vlan]:
    """``show vlan`` or ``show vlan brief``."""
    return [Vlan(int(r["vlan_id"]), r["vlan_name"], r["status"], tuple(r["interfaces"]))
            for r in _textfsm("show vlan", text)]


@dataclass(frozen=True)
class InterfaceBrief:
    name: str
    address: str  # "unassigned" when none
    status: str  # up | down | administratively down | deleted
    protocol: str


def parse_show_ip_interface_brief(text: str) -> list[InterfaceBrief]:
    return [InterfaceBrief(r["interface"], r["ip_address"], r["status"], r["proto"])
            for r in _textfsm("show ip interface brief", text)]


@dataclass(frozen=True)
class Route:
    protocol: str  # C, S, O, D, B, L...
    type: str  # E2, IA...
    network: str
    prefix_length: int | None
    next_hop: str
    interface: str

    @property
    def prefix(self) -> str:
        return f"{self.network}/{self.prefix_length}" if self.prefix_length is not None else self.network


def parse_show_ip_route(text: str) -> list[Route]:
    out = []
    for r in _textfsm("show ip route", text):
        length = r.get("prefix_length") or ""
        out.append(Route(r.get("protocol", ""), r.get("type", ""), r["network"], int(length) if length else None,
                         r.get("nexthop_ip", ""), r.get("nexthop_if", "")))
    return out


# --- running-config --------------------------------------------------------------------

_TTP_TEMPLATE = """
<group name="hostname">
hostname {{ hostname }}
</group>
<group name="interfaces">
interface {{ name }}
 description {{ description | re(".+") }}
 switchport {{ switchport | set(True) }}
 switchport mode {{ mode }}
 switchport access vlan {{ access_vlan }}
 switchport trunk allowed vlan {{ trunk_vlans | joinmatches(",") }}
 switchport trunk allowed vlan add {{ trunk_vlans | joinmatches(",") }}
 ip address {{ address }} {{ mask }}
 shutdown {{ shutdown | set(True) }}
</group>
<group name="vlans">
vlan {{ ids }}
 name {{ name }}
</group>
<group name="routes">
ip route {{ network | IP }} {{ mask | IP }} {{ next_hop }}
</group>
<group name="logging">
logging host {{ host }}
</group>
<group name="logging">
logging {{ host | IP }}
</group>
<group name="communities">
snmp-server community {{ name }} {{ access | WORD }}
</group>
<group name="lines">
line vty {{ first }} {{ last }}
 transport input {{ transport | ORPHRASE }}
</group>
"""


@dataclass(frozen=True)
class IfConfig:
    name: str
    description: str = ""
    switchport: bool = False
    mode: str = ""  # access | trunk | "" (not set)
    access_vlan: int | None = None
    trunk_vlans: str = ""  # as written: "10,20,30-40" ("" = all)
    address: str = ""
    mask: str = ""
    shutdown: bool = False


@dataclass
class RunningConfig:
    hostname: str = ""
    interfaces: dict[str, IfConfig] = field(default_factory=dict)
    vlans: dict[int, str] = field(default_factory=dict)
    routes: list[tuple[str, str]] = field(default_factory=list)  # (network/prefix, next hop)
    logging_hosts: list[str] = field(default_factory=list)
    communities: list[tuple[str, str]] = field(default_factory=list)  # (name, RO|RW)
    vty_transport: list[str] = field(default_factory=list)


def _as_list(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def vlan_ids(spec: str) -> set[int]:
    """``10,20,30-32`` -> {10, 20, 30, 31, 32}."""
    out: set[int] = set()
    for part in spec.replace(" ", "").split(","):
        if not part:
            continue
        low, sep, high = part.partition("-")
        out.update(range(int(low), int(high) + 1) if sep else {int(low)})
    return out


def parse_running_config(text: str) -> RunningConfig:
    """The facts of an IOS running-config a TSSR exam asks about (ValueError when it is not one)."""
    from ttp import ttp

    if "interface " not in text and "hostname " not in text:
        raise ValueError(Msg("ce n'est pas une configuration IOS (ni hostname ni interface)"))
    parser = ttp(data=text, template=_TTP_TEMPLATE)
    parser.parse()
    result = parser.result()[0][0] if parser.result() and parser.result()[0] else {}
    cfg = RunningConfig()
    for h in _as_list(result.get("hostname")):
        cfg.hostname = h.get("hostname", cfg.hostname)
    for i in _as_list(result.get("interfaces")):
        if "name" not in i:
            continue
        access = i.get("access_vlan")
        cfg.interfaces[i["name"]] = IfConfig(
            i["name"], i.get("description", ""), bool(i.get("switchport")) or "mode" in i or access is not None,
            i.get("mode", ""), int(access) if access and str(access).isdigit() else None, i.get("trunk_vlans", ""),
            i.get("address", ""), i.get("mask", ""), bool(i.get("shutdown")))
    for v in _as_list(result.get("vlans")):
        try:
            ids = vlan_ids(str(v.get("ids", "")))
        except ValueError:
            continue
        for vid in ids:
            cfg.vlans[vid] = v.get("name", "")
    for r in _as_list(result.get("routes")):
        try:
            prefix = ipaddress.ip_network(f"{r['network']}/{r['mask']}", strict=False)
        except (KeyError, ValueError):
            continue
        cfg.routes.append((str(prefix), r.get("next_hop", "")))
    cfg.logging_hosts = [h["host"] for h in _as_list(result.get("logging")) if "host" in h]
    cfg.communities = [(c["name"], c.get("access", "").upper()) for c in _as_list(result.get("communities"))
                       if "name" in c]
    cfg.vty_transport = [t for line in _as_list(result.get("lines")) for t in str(line.get("transport", "")).split()]
    return cfg


# --- judges ----------------------------------------------------------------------------


def judge_vlans(vlans: Sequence[Vlan] | Mapping[int, str], expected: Mapping[int, str | None]) -> Verdict:
    """Every expected VLAN exists (and has the expected name, case ignored, when one is given)."""
    table = {v.id: v.name for v in vlans} if not isinstance(vlans, Mapping) else dict(vlans)
    wanted = commas([vlan_named(vid, name) if name else str(vid) for vid, name in sorted(expected.items())])
    observed = said(limited([vlan_named(vid, name) for vid, name in sorted(table.items())])) or Msg("aucun VLAN")
    missing = sorted(vid for vid in expected if vid not in table)
    renamed = [Msg("{vid} s'appelle « {name} »", vid=vid, name=table[vid]) for vid, name in sorted(expected.items())
               if name and vid in table and table[vid].casefold() != name.casefold()]
    if missing or renamed:
        parts = ([Msg("absents : {items}", items=", ".join(map(str, missing)))] if missing else []) + renamed
        return Verdict.non_conforme(observed, wanted, Msg("Les VLAN ne sont pas ceux attendus ({parts}).", parts=parts))
    return Verdict.conforme(observed, wanted, Msg("Les VLAN attendus existent."))


def judge_interface_up(rows: Sequence[InterfaceBrief], *, interface: str, address: str | None = None) -> Verdict:
    """``show ip interface brief``: the interface is up/up (and has ``address`` when given)."""
    expected = f"{interface} up/up" + (f", {address}" if address else "")
    row = next((r for r in rows if r.name.casefold() == interface.casefold()), None)
    if row is None:
        return Verdict.non_conforme(said(limited([r.name for r in rows])), expected,
                                    Msg("L'interface {interface} n'existe pas.", interface=interface))
    observed = f"{row.name} {row.address} {row.status}/{row.protocol}"
    if address and row.address != address:
        return Verdict.non_conforme(observed, expected, Msg("L'interface {interface} n'a pas l'adresse {address}.",
                                                            interface=interface, address=address))
    if row.status != "up" or row.protocol != "up":
        return Verdict.non_conforme(observed, expected,
                                    Msg("L'interface {interface} n'est pas active ({status}/{protocol}).",
                                        interface=interface, status=row.status, protocol=row.protocol))
    return Verdict.conforme(observed, expected, Msg("L'interface {interface} est active.", interface=interface))


def judge_route(routes: Sequence[Route], *, prefix: str, next_hop: str | None = None,
                protocol: str | None = None) -> Verdict:
    """``show ip route``: the route to ``prefix`` exists (via ``next_hop``, learned by ``protocol``)."""
    network = ipaddress.ip_network(prefix, strict=False)
    expected = f"route {network}" + (f" via {next_hop}" if next_hop else "") + (f" ({protocol})" if protocol else "")
    found = [r for r in routes if r.prefix_length is not None and
             ipaddress.ip_network(r.prefix, strict=False) == network]
    observed = said(limited([f"{r.protocol} {r.prefix} via {r.next_hop or r.interface}" for r in found])) or \
        Msg("aucune route vers {network}", network=str(network))
    if not found:
        return Verdict.non_conforme(observed, expected, Msg("Aucune route vers {network}.", network=network))
    good = [r for r in found if (next_hop is None or r.next_hop == next_hop) and (protocol is None or r.protocol == protocol)]
    if not good:
        return Verdict.non_conforme(observed, expected, Msg("La route vers {network} n'a pas le saut ou l'origine "
                                                            "attendus.", network=network))
    return Verdict.conforme(observed, expected,
                            Msg("La route vers {network} est dans la table de routage.", network=network))


def judge_access_port(cfg: RunningConfig, *, interface: str, vlan: int) -> Verdict:
    """running-config: ``interface`` is an access port of ``vlan`` and not shut down."""
    expected = Msg("{interface} en accès VLAN {vlan}, activée", interface=interface, vlan=vlan)
    i = cfg.interfaces.get(interface)
    if i is None:
        return Verdict.non_conforme(said(limited(list(cfg.interfaces))), expected,
                                    Msg("L'interface {interface} n'existe pas.", interface=interface))
    observed = Msg("{name} : switchport={switchport} mode={mode} vlan d'accès={vlan}{shutdown}", name=i.name,
                   switchport=Msg("oui") if i.switchport else Msg("non"), mode=i.mode or Msg("non précisé"),
                   vlan=i.access_vlan or 1, shutdown=" shutdown" if i.shutdown else "")
    if not i.switchport or i.mode == "trunk":
        return Verdict.non_conforme(observed, expected,
                                    Msg("L'interface {interface} n'est pas un port d'accès.", interface=interface))
    if (i.access_vlan or 1) != vlan:
        return Verdict.non_conforme(observed, expected, Msg("L'interface {interface} est dans le VLAN {value}.",
                                                            interface=interface, value=i.access_vlan or 1))
    if i.shutdown:
        return Verdict.non_conforme(observed, expected,
                                    Msg("L'interface {interface} est désactivée (shutdown).", interface=interface))
    return Verdict.conforme(observed, expected, Msg("L'interface {interface} est un port d'accès du VLAN {vlan}.",
                                                    interface=interface, vlan=vlan))


def judge_trunk(cfg: RunningConfig, *, interface: str, vlans: Sequence[int]) -> Verdict:
    """running-config: ``interface`` is a trunk carrying every VLAN of ``vlans``."""
    expected = Msg("{interface} en trunk, VLAN {vlans} autorisés", interface=interface, vlans=", ".join(map(str, vlans)))
    i = cfg.interfaces.get(interface)
    if i is None:
        return Verdict.non_conforme(said(limited(list(cfg.interfaces))), expected,
                                    Msg("L'interface {interface} n'existe pas.", interface=interface))
    observed = Msg("{name} : mode={mode} vlans autorisés={vlans}", name=i.name, mode=i.mode or Msg("non précisé"),
                   vlans=i.trunk_vlans or Msg("tous"))
    if i.mode != "trunk":
        return Verdict.non_conforme(observed, expected,
                                    Msg("L'interface {interface} n'est pas en mode trunk.", interface=interface))
    allowed = vlan_ids(i.trunk_vlans) if i.trunk_vlans and i.trunk_vlans != "all" else None
    missing = [v for v in vlans if allowed is not None and v not in allowed]
    if missing:
        return Verdict.non_conforme(observed, expected, Msg("Le trunk {interface} ne transporte pas les VLAN {items}.",
                                                            interface=interface, items=", ".join(map(str, missing))))
    return Verdict.conforme(observed, expected,
                            Msg("Le trunk {interface} transporte les VLAN attendus.", interface=interface))


def judge_default_route(cfg: RunningConfig, *, next_hop: str) -> Verdict:
    """running-config: ``ip route 0.0.0.0 0.0.0.0 <next_hop>``."""
    expected = Msg("route par défaut via {next_hop}", next_hop=next_hop)
    defaults = [hop for prefix, hop in cfg.routes if prefix == "0.0.0.0/0"]
    observed = ", ".join(f"via {h}" for h in defaults) or Msg("aucune route par défaut statique")
    if next_hop in defaults:
        return Verdict.conforme(observed, expected, Msg("La route par défaut passe par {next_hop}.", next_hop=next_hop))
    return Verdict.non_conforme(observed, expected,
                                Msg("Pas de route par défaut statique via {next_hop}.", next_hop=next_hop))


def judge_ssh_only(cfg: RunningConfig) -> Verdict:
    """running-config: the vty lines accept SSH only (``transport input ssh``)."""
    expected = Msg("transport input ssh sur les lignes vty")
    observed = ("transport input " + " ".join(cfg.vty_transport) if cfg.vty_transport else
                Msg("transport input non précisé (telnet permis selon la version)"))
    if cfg.vty_transport and set(cfg.vty_transport) == {"ssh"}:
        return Verdict.conforme(observed, expected, Msg("Les lignes vty n'acceptent que SSH."))
    return Verdict.non_conforme(observed, expected, Msg("Les lignes vty n'imposent pas SSH."))
