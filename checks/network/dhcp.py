"""DHCP on the candidate's LAN, proved by the server's own OFFER to the grader.

The ``dhcp`` channel (:mod:`grader.probes.dhcp`) sends one DISCOVER on the grader's leg
on the candidate's LAN and brings back every OFFER for it; it never takes a lease. The judge
reads what a client of that LAN would be given: the address offered, the router (option 3),
the DNS servers (option 6), and when the rubric asks, the domain name (15) and the lease
time (51). Every server that answered is listed: a second server on the LAN (a forgotten
service, a rogue one) makes clients' configuration a matter of luck, so with ``exclusive``
(the default) it is non conforme, and it is always in the evidence.

The check targets the host that serves DHCP (the candidate's router): when that host is not
reached over its primary transport, the runner makes the check ``injoignable`` before any
DISCOVER is judged, so a router that is down is never "no DHCP server".
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from checks._common.text import commas
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.dhcp import READ_ONLY_NOTE, discover


def _ip(value: str) -> str:
    return str(ipaddress.IPv4Address(value.strip()))


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _describe(offer: Mapping[str, Any]) -> Msg:
    options = offer.get("options") or {}
    mac = f" ({offer['source_mac']})" if offer.get("source_mac") else ""
    parts: list[str | Msg] = [Msg("{address} proposée par {server}{mac}", address=str(offer.get("yiaddr", "?")),
                                  server=str(offer.get("server_id") or "?"), mac=mac)]
    parts.append(Msg("routeur {routers}", routers=", ".join(_as_list(options.get("router"))) or Msg("absent")))
    dns = ", ".join(_as_list(options.get("name_server")))
    parts.append(f"DNS {dns}" if dns else Msg("DNS absent"))
    if "domain" in options:
        parts.append(Msg("domaine {domain}", domain=str(options["domain"])))
    if "lease_time" in options:
        parts.append(Msg("bail {seconds} s", seconds=str(options["lease_time"])))
    return commas(parts)  # type: ignore[return-value]  # the first part is always words of ours: a Msg


class DhcpOffer(Check):
    """Le serveur DHCP du LAN propose une adresse entre {range_start} et {range_end}, avec la passerelle et les DNS attendus.

    Active probe (grader side): one DHCPDISCOVER on ``interface`` (the grader's leg on the
    candidate's LAN, a per-candidate value such as ``grd-c{{ candidat }}-lan``), from a random
    MAC address and xid, every OFFER collected for ``wait`` seconds; no REQUEST, no lease.
    Conforme when an OFFER arrives (from ``server`` when given), its address is within
    ``range_start``-``range_end``, its router option is ``router`` and its DNS option is
    exactly ``dns`` (order included), and ``domain`` and ``lease_time`` match when given.
    With ``exclusive``, an OFFER from any other server is non conforme.
    """

    id = "network.dhcp_offer"
    platform = "any"
    transport = "dhcp"

    class Params(CheckParams):
        interface: str = Field(min_length=1, max_length=15)
        range_start: str
        range_end: str
        router: str | None = None
        dns: list[str] | None = None
        server: str | None = None
        domain: str | None = None
        lease_time: int | None = Field(default=None, gt=0)
        exclusive: bool = True
        wait: float = Field(default=3.0, gt=0, le=30)

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"offre": discover(params.interface, params.wait)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        # Addresses are checked here, not in Params: the rubric's validation renders templates
        # with neutral values ("{{ reseau }}.80" -> "1.80") that are no addresses.
        try:
            params = params.model_copy(update={
                "range_start": _ip(params.range_start), "range_end": _ip(params.range_end),
                "router": None if params.router is None else _ip(params.router),
                "server": None if params.server is None else _ip(params.server),
                "dns": None if params.dns is None else [_ip(v) for v in params.dns]})
        except ValueError as exc:
            return Verdict.erreur(Msg("paramètre du barème invalide : {exc}", exc=exc))
        expected = self._expected(params)
        if ipaddress.IPv4Address(params.range_start) > ipaddress.IPv4Address(params.range_end):
            return Verdict.erreur(Msg("plage du barème inversée : {range_start} après {range_end}",
                                      range_start=params.range_start, range_end=params.range_end), expected=expected)
        try:
            record = json.loads(results["offre"].stdout)
            offers = record["offers"]
            if not isinstance(offers, list) or not all(isinstance(o, dict) for o in offers):
                raise TypeError("offers")
        except (ValueError, KeyError, TypeError):
            return Verdict.erreur(Msg("compte rendu de l'échange DHCP illisible"), expected=expected)
        where = Msg("sur {interface}", interface=str(record.get("interface", params.interface)))
        exchange = Msg("DHCPDISCOVER {where} (client {mac}, xid {xid}) ; {note}", where=where,
                       mac=str(record.get("client_mac", "?")), xid=str(record.get("xid", "?")), note=READ_ONLY_NOTE)
        if not offers:
            return Verdict.non_conforme(Msg("aucune offre DHCP en {wait} s {where} — {exchange}", wait=f"{params.wait:g}",
                                            where=where, exchange=exchange), expected,
                                        Msg("Aucun serveur DHCP ne répond sur le LAN du candidat."))
        servers = sorted({str(o.get("server_id")) for o in offers})
        observed = Msg("{offers} offre(s) de {servers} serveur(s) : {listed} — {exchange}", offers=len(offers),
                       servers=len(servers), listed=tuple(_describe(o) for o in offers), exchange=exchange)
        mine = [o for o in offers if params.server is None or o.get("server_id") == params.server]
        if not mine:
            return Verdict.non_conforme(observed, expected,
                                        Msg("Le serveur DHCP attendu {server} ne répond pas ; seul(s) {items} "
                                            "répond(ent) sur le LAN.", server=params.server, items=", ".join(servers)))
        strangers = sorted({str(o.get("server_id")) for o in offers} - {str(o.get("server_id")) for o in mine})
        if params.server is None and len(servers) > 1:
            strangers = servers
        if params.exclusive and strangers:
            return Verdict.non_conforme(observed, expected, Msg("Plusieurs serveurs DHCP répondent sur le LAN "
                                                                "({items}) : un client peut recevoir la configuration "
                                                                "de n'importe lequel.", items=", ".join(strangers)))
        faults = [f for o in mine for f in self._faults(params, o)]
        if faults:
            unique = list({str(f): f for f in faults}.values())  # one of each (a Msg is not hashable)
            return Verdict.non_conforme(observed, expected,
                                        Msg("L'offre DHCP n'est pas celle attendue : {faults}.", faults=unique))
        extra = Msg(" (autre serveur présent : {items})", items=", ".join(strangers)) if strangers else ""
        return Verdict.conforme(observed, expected, Msg("Le serveur DHCP du LAN propose une adresse de la plage, avec "
                                                        "la passerelle et les DNS attendus{extra}.", extra=extra))

    @staticmethod
    def _expected(params: Params) -> Msg:
        parts: list[str | Msg] = [Msg("une offre DHCP ({server}) dans {start}-{end}",
                                      server=params.server or Msg("tout serveur"), start=params.range_start,
                                      end=params.range_end)]
        if params.router is not None:
            parts.append(Msg("routeur {routers}", routers=params.router))
        if params.dns is not None:
            parts.append("DNS " + ", ".join(params.dns))
        if params.domain is not None:
            parts.append(Msg("domaine {domain}", domain=params.domain))
        if params.lease_time is not None:
            parts.append(Msg("bail {seconds} s", seconds=params.lease_time))
        if params.exclusive:
            parts.append(Msg("un seul serveur DHCP sur le LAN"))
        return commas(parts)  # type: ignore[return-value]

    @staticmethod
    def _faults(params: Params, offer: Mapping[str, Any]) -> list[Msg]:
        faults = []
        options = offer.get("options") or {}
        try:
            address = ipaddress.IPv4Address(str(offer.get("yiaddr")))
        except ValueError:
            address = None
        low, high = ipaddress.IPv4Address(params.range_start), ipaddress.IPv4Address(params.range_end)
        if address is None or not low <= address <= high:
            faults.append(Msg("adresse proposée {address} hors de la plage {range_start}-{range_end}",
                              address=offer.get("yiaddr"), range_start=params.range_start, range_end=params.range_end))
        if params.router is not None:
            routers = _as_list(options.get("router"))
            if not routers:
                faults.append(Msg("option routeur (3) absente"))
            elif routers[0] != params.router:
                faults.append(Msg("passerelle {found} au lieu de {router}", found=routers[0], router=params.router))
        if params.dns is not None:
            dns = _as_list(options.get("name_server"))
            if not dns:
                faults.append(Msg("option DNS (6) absente"))
            elif dns != params.dns:
                faults.append(Msg("DNS {found} au lieu de {wanted}", found=", ".join(dns),
                                  wanted=", ".join(params.dns)))
        if params.domain is not None:
            domain = str(options.get("domain") or "").strip().rstrip(".")
            if domain.lower() != params.domain.strip().rstrip(".").lower():
                faults.append(Msg("nom de domaine {found} au lieu de {domain}", found=domain or Msg("(absent)"),
                                  domain=params.domain))
        if params.lease_time is not None and options.get("lease_time") != params.lease_time:
            faults.append(Msg("bail de {found} s au lieu de {lease_time} s",
                              found=options.get("lease_time", Msg("(absent)")), lease_time=params.lease_time))
        return faults
