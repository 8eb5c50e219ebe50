"""Cisco IOS show commands parsed with well-kept parsers, and the judges the IOS checks build on.

``show vlan [brief]``, ``show ip interface brief``, ``show ip route`` and ``show interfaces switchport`` go through TextFSM
with networktocode's ntc-templates (the community's maintained templates, tested on real
outputs). Pure functions: the ``cli`` channel collects the outputs, :mod:`checks.network.ios`
holds the checks; the running-config has its own parser (:mod:`checks.network.ios_config`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checks._common.text import commas, limited, said
from checks.network._common import vlan_named
from checks.network._trunk import Trunk, parse_ranges
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


def parse_show_interfaces_switchport(text: str) -> list[Trunk]:
    """``show interfaces switchport``: each port's operational mode, native VLAN and allowed VLANs."""
    return [Trunk(r["interface"], r["mode"].strip().lower() == "trunk",
                  int(r["native_vlan"]) if r["native_vlan"].isdigit() else None, parse_ranges(r["trunking_vlans"]))
            for r in _textfsm("show interfaces switchport", text)]


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


# --- judges ----------------------------------------------------------------------------


def judge_vlans(vlans: Sequence[Vlan], expected: Mapping[int, str | None]) -> Verdict:
    """Every expected VLAN exists (and has the expected name, case ignored, when one is given)."""
    table = {v.id: v.name for v in vlans}
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
