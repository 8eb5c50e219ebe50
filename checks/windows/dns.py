"""DNS server (Windows Server DNS role, ``DnsServer`` module): a record in a zone, as the server holds it."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Literal

from pydantic import field_validator

from checks._common.text import clip
from checks.windows._ps import clip_said, failure, no_wildcards, ps_quote, read_items
from checks.windows.services import service_missing, service_probe
from grader.check import Check, CheckParams, is_ip_address
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.winrm import winrm

# How each record type's data is read from its RecordData (DnsServerResourceRecord* CIM classes).
DATA = {
    "A": "$_.RecordData.IPv4Address.IPAddressToString",
    "AAAA": "$_.RecordData.IPv6Address.IPAddressToString",
    "CNAME": "$_.RecordData.HostNameAlias",
    "PTR": "$_.RecordData.PtrDomainName",
    "NS": "$_.RecordData.NameServer",
    "MX": "[string]$_.RecordData.Preference + ' ' + $_.RecordData.MailExchange",
    "SRV": ("[string]$_.RecordData.Priority + ' ' + [string]$_.RecordData.Weight + ' ' + "
            "[string]$_.RecordData.Port + ' ' + $_.RecordData.DomainName"),
    "TXT": "$_.RecordData.DescriptiveText",
}
_LABEL = re.compile(r"^(@|[A-Za-z0-9_*]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*)$")
_ZONE = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?$")
# Win32 errors the DnsServer cmdlets put in FullyQualifiedErrorId (winerror.h).
ZONE_MISSING = "WIN32 9601"  # DNS_ERROR_ZONE_DOES_NOT_EXIST
NAME_MISSING = "WIN32 9714"  # DNS_ERROR_NAME_DOES_NOT_EXIST


def normalize(rr_type: str, value: str) -> str:
    """Values compared as DNS does: names case-insensitive without the final dot, addresses canonical."""
    value = value.strip()
    if rr_type in ("A", "AAAA"):
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            return value
    if rr_type == "TXT":
        return value
    return " ".join(part.rstrip(".").casefold() for part in value.split())


def relative_name(host_name: object, zone: str) -> str:
    """A record's HostName as the rubric names it: relative to the zone, ``@`` for the zone itself, case folded.

    Windows writes ``@`` for the apex and names relative to the zone (``host.sub``); a fully
    qualified form (``host.sub.tssr.lan.``) is brought back to the same relative name.
    """
    name = str(host_name or "").strip().rstrip(".").casefold()
    apex = zone.rstrip(".").casefold()
    if name in ("@", apex):
        return "@"
    if name.endswith("." + apex):
        return name[:-len(apex) - 1]
    return name


def _without_module(service: ProbeResult, expected: str | Msg) -> Verdict:
    """The DnsServer cmdlets are missing: no DNS role at all (non conforme), or only its tools (erreur)."""
    if service_missing(service):
        return Verdict.non_conforme(Msg("rôle DNS absent (pas de service DNS)"), expected,
                                    Msg("Le rôle Serveur DNS n'est pas installé sur cet hôte."))
    return Verdict.erreur(Msg("le module PowerShell DnsServer est absent (outils de gestion DNS non installés)"),
                          expected=expected)


class DnsRecord(Check):
    """L'enregistrement DNS {name} de type {type} existe dans la zone {zone}.

    From ``Get-DnsServerResourceRecord`` on the Windows DNS server itself (what the zone
    holds, independently of any client's cache). ``name`` is relative to the zone (``intranet``,
    ``@`` for the zone's apex), asked with ``-Node``: without it Windows also returns the records
    of every name below (``host.sub`` for ``sub``, the whole zone for ``@``), and only the records
    whose ``HostName`` is the name asked count (case-insensitive) whatever the server answered.
    Conforme when a record of that type exists, and, when ``value``
    is given, one of them has that data (an IP address for A/AAAA, a host name for CNAME, NS,
    PTR — compared without case or final dot —, ``preference host`` for MX,
    ``priority weight port host`` for SRV). No zone or no record: non conforme.
    """

    id = "windows.dns_record"
    usually_serves = ("CP8.3",)
    example = "{zone: tssr.lan, name: intranet, type: A, value: 192.168.10.20}"
    platform = "windows"
    transport = "winrm"

    class Params(CheckParams):
        zone: str
        name: str
        type: Literal["A", "AAAA", "CNAME", "MX", "NS", "PTR", "SRV", "TXT"] = "A"
        value: str | None = None

        @field_validator("zone")
        @classmethod
        def _zone(cls, value: str) -> str:
            if not _ZONE.match(value):
                raise ValueError("nom de zone invalide (ex. tssr.lan ou 10.168.192.in-addr.arpa)")
            return value

        @field_validator("name")
        @classmethod
        def _name(cls, value: str) -> str:
            if not _LABEL.match(value) or "*" in value:
                raise ValueError("nom relatif à la zone attendu (ex. intranet, ou @ pour la zone elle-même)")
            return no_wildcards(value)

        @field_validator("type", mode="before")
        @classmethod
        def _upper(cls, value: object) -> object:
            return value.upper() if isinstance(value, str) else value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {
            "records": winrm(
                f"Get-DnsServerResourceRecord -ZoneName {ps_quote(params.zone)} -Name {ps_quote(params.name)} "
                f"-Node -RRType {params.type} -ErrorAction Stop | ForEach-Object -Process {{ [pscustomobject]@{{ "
                "HostName = $_.HostName; RecordType = [string]$_.RecordType; TimeToLive = [string]$_.TimeToLive; "
                f"Data = {DATA[params.type]} }} }} | ConvertTo-Json -Depth 4"),
            "service": service_probe("DNS"),
        }

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        fqdn = params.zone if params.name == "@" else f"{params.name}.{params.zone}"
        expected = f"{fqdn} {params.type}" + (f" {params.value}" if params.value else "")
        r = results["records"]
        f = failure(r)
        if f is not None and f.kind == "missing_command":
            return _without_module(results["service"], expected)
        if f is not None and (f.kind == "not_found" or f.error_id.startswith((ZONE_MISSING, NAME_MISSING))):
            if f.error_id.startswith(ZONE_MISSING):
                return Verdict.non_conforme(Msg("zone {zone} inexistante", zone=params.zone), expected,
                                            Msg("La zone {zone} n'existe pas sur ce serveur DNS.", zone=params.zone))
            return Verdict.non_conforme(Msg("aucun enregistrement {type} pour {fqdn}", type=params.type, fqdn=fqdn),
                                        expected, Msg("La zone {zone} n'a pas d'enregistrement {type} « {name} ».",
                                                      zone=params.zone, type=params.type, name=params.name))
        found = read_items(r, "Get-DnsServerResourceRecord", expected)
        if isinstance(found, Verdict):
            return found
        wanted = relative_name(params.name, params.zone)
        records = [x for x in found if str(x.get("RecordType", "")).upper() == params.type
                   and relative_name(x.get("HostName"), params.zone) == wanted]
        if not records:
            return Verdict.non_conforme(Msg("aucun enregistrement {type} pour {fqdn}", type=params.type, fqdn=fqdn),
                                        expected,
                                        Msg("La zone {zone} n'a pas d'enregistrement {type} « {name} ».",
                                            zone=params.zone, type=params.type, name=params.name))
        values = [str(x.get("Data") or "") for x in records]
        observed = clip(f"{fqdn} {params.type} " + ", ".join(values), 300, crlf=True)
        if params.value is None:
            return Verdict.conforme(observed, expected,
                                    Msg("L'enregistrement {type} {fqdn} existe.", type=params.type, fqdn=fqdn))
        want = normalize(params.type, params.value)
        if any(normalize(params.type, v) == want for v in values):
            return Verdict.conforme(observed, expected,
                                    Msg("{fqdn} pointe vers {value}.", fqdn=fqdn, value=params.value))
        return Verdict.non_conforme(observed, expected,
                                    Msg("{fqdn} ({type}) vaut {items}, {value} attendu.", fqdn=fqdn, type=params.type,
                                        items=", ".join(values), value=params.value))


ZONE_TYPES = ("Primary", "Secondary", "Stub", "Forwarder")
DYNAMIC_UPDATES = ("None", "NonsecureAndSecure", "Secure")


class DnsZone(Check):
    """La zone DNS {zone} existe sur le serveur DNS Windows.

    From ``Get-DnsServerZone`` on the Windows DNS server itself: the zone as the server holds it
    (type, Active Directory integration, dynamic updates, reverse lookup, masters of a secondary
    or forwarder zone). Each optional parameter the rubric gives is compared; a zone that exists
    with another type (a secondary where a primary integrated in AD was asked) is non conforme
    with what differs. No zone: non conforme. The DNS role absent: non conforme; its PowerShell
    module absent while the service runs: erreur (nothing could be read).
    """

    id = "windows.dns_zone"
    usually_serves = ("CP8.3",)
    example = "{zone: tssr.lan, type: Primary, ad_integrated: true}"
    platform = "windows"
    transport = "winrm"

    class Params(CheckParams):
        zone: str
        type: Literal["Primary", "Secondary", "Stub", "Forwarder"] | None = None
        ad_integrated: bool | None = None
        dynamic_update: Literal["None", "NonsecureAndSecure", "Secure"] | None = None
        reverse: bool | None = None
        masters: list[str] | None = None

        @field_validator("zone")
        @classmethod
        def _zone(cls, value: str) -> str:
            if not _ZONE.match(value):
                raise ValueError("nom de zone invalide (ex. tssr.lan ou 10.168.192.in-addr.arpa)")
            return value.rstrip(".")

        @field_validator("type", "dynamic_update", mode="before")
        @classmethod
        def _case(cls, value: object) -> object:
            if isinstance(value, str):
                for known in ZONE_TYPES + DYNAMIC_UPDATES:
                    if value.casefold() == known.casefold():
                        return known
            return value

        @field_validator("masters")
        @classmethod
        def _addresses(cls, value: list[str] | None) -> list[str] | None:
            if value is not None:
                for address in value:
                    ipaddress.ip_address(address)
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {
            "zone": winrm(
                f"Get-DnsServerZone -Name {ps_quote(params.zone)} -ErrorAction Stop | ForEach-Object -Process {{ "
                "[pscustomobject]@{ ZoneName = $_.ZoneName; ZoneType = [string]$_.ZoneType; "
                "IsDsIntegrated = $_.IsDsIntegrated; IsReverseLookupZone = $_.IsReverseLookupZone; "
                "DynamicUpdate = [string]$_.DynamicUpdate; ReplicationScope = [string]$_.ReplicationScope; "
                "MasterServers = @($_.MasterServers | ForEach-Object -Process { [string]$_ }) } } | "
                "ConvertTo-Json -Depth 4"),
            "service": service_probe("DNS"),
        }

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        kind = ", type " + params.type if params.type else ""
        expected = Msg(
            "zone {zone}{type}{ad_integrated}{dynamic_update}{reverse}{masters}", zone=params.zone, type=kind,
            ad_integrated="" if params.ad_integrated is None else Msg(", intégrée à AD") if params.ad_integrated
            else Msg(", non intégrée à AD"),
            dynamic_update=Msg(", mises à jour dynamiques {value}", value=params.dynamic_update)
            if params.dynamic_update else "",
            reverse="" if params.reverse is None else Msg(", recherche inversée") if params.reverse
            else Msg(", recherche directe"),
            masters=Msg(", maîtres {items}", items=", ".join(params.masters)) if params.masters else "")
        r = results["zone"]
        f = failure(r)
        if f is not None and f.kind == "missing_command":
            return _without_module(results["service"], expected)
        if f is not None and (f.kind == "not_found" or f.error_id.startswith(ZONE_MISSING)):
            return Verdict.non_conforme(Msg("zone {zone} inexistante", zone=params.zone), expected,
                                        Msg("La zone {zone} n'existe pas sur ce serveur DNS.", zone=params.zone))
        found = read_items(r, "Get-DnsServerZone", expected)
        if isinstance(found, Verdict):
            return found
        zones = [z for z in found if str(z.get("ZoneName", "")).rstrip(".").casefold() == params.zone.casefold()]
        if not zones:
            return Verdict.non_conforme(Msg("zone {zone} inexistante", zone=params.zone), expected,
                                        Msg("La zone {zone} n'existe pas sur ce serveur DNS.", zone=params.zone))
        zone = zones[0]
        masters = [str(m) for m in (zone.get("MasterServers") or []) if m]
        observed = clip_said(Msg(
            "zone {zone} : type {type}, IsDsIntegrated={ds} ({scope}), DynamicUpdate={dynamic}, "
            "IsReverseLookupZone={reverse}{masters}", zone=str(zone.get("ZoneName")), type=str(zone.get("ZoneType")),
            ds=str(zone.get("IsDsIntegrated")), scope=str(zone.get("ReplicationScope") or "") or Msg("fichier"),
            dynamic=str(zone.get("DynamicUpdate")), reverse=str(zone.get("IsReverseLookupZone")),
            masters=Msg(", maîtres {items}", items=", ".join(masters)) if masters else ""), 300)
        problems: list[str | Msg] = []
        if params.type and str(zone.get("ZoneType")) != params.type:
            problems.append(Msg("la zone est de type {found}, {type} attendu", found=zone.get("ZoneType"),
                                type=params.type))
        if params.ad_integrated is not None and zone.get("IsDsIntegrated") is not params.ad_integrated:
            problems.append(
                    Msg("la zone n'est pas intégrée à Active Directory") if params.ad_integrated
                    else Msg("la zone est intégrée à Active Directory"))
        if params.dynamic_update and str(zone.get("DynamicUpdate")) != params.dynamic_update:
            problems.append(Msg("mises à jour dynamiques {found}, {dynamic_update} attendu",
                                found=zone.get("DynamicUpdate"), dynamic_update=params.dynamic_update))
        if params.reverse is not None and zone.get("IsReverseLookupZone") is not params.reverse:
            problems.append(
                    Msg("la zone n'est pas une zone de recherche inversée") if params.reverse
                    else Msg("la zone est une zone de recherche inversée"))
        if params.masters:
            have = {str(ipaddress.ip_address(m)) for m in masters if is_ip_address(m)}
            missing = [m for m in params.masters if str(ipaddress.ip_address(m)) not in have]
            if missing:
                problems.append(Msg("serveur(s) maître(s) absent(s) : {items}", items=", ".join(missing)))
        if problems:
            return Verdict.non_conforme(observed, expected,
                                        Msg("Zone {zone} : {problems}.", zone=params.zone, problems=problems))
        return Verdict.conforme(observed, expected, Msg("La zone {zone} existe comme demandé.", zone=params.zone))

