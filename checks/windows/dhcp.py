"""DHCP server (Windows Server DHCP role, ``DhcpServer`` module): scope, range, options, reservations."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from checks.windows._ps import as_list, enum_name, failure, ps_quote, read_items, settle
from checks.windows.services import SAID_MODE, START_MODE, STATUS, service_missing, service_probe
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.winrm import winrm

# The DHCP server's own errors, as the DhcpServer cmdlets write them in FullyQualifiedErrorId
# ("DHCP <code>,<cmdlet>"; dhcpsapi.h error codes).
SCOPE_MISSING = "DHCP 20005"  # ERROR_DHCP_SUBNET_NOT_PRESENT
OPTION_MISSING = "DHCP 20010"  # ERROR_DHCP_OPTION_NOT_PRESENT: no option set at that level
# Service states (ServiceControllerStatus) in which the DHCP server answers nobody.
DOWN = ("Stopped", "StopPending", "Paused", "PausePending")
_IP = "@{{Name='{0}'; Expression={{$_.{0}.IPAddressToString}}}}"


def _ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value.strip()))
    except ValueError as exc:
        raise ValueError(f"adresse IPv4 invalide : {value!r}") from exc


def _service_down(result: ProbeResult) -> Msg | None:
    """« service DHCPServer : Stopped » when ``service_probe`` read the DHCP service in a state that serves nobody."""
    found = read_items(result, "Get-Service", "")
    if isinstance(found, Verdict) or len(found) != 1:
        return None
    status = enum_name(found[0].get("Status"), STATUS)
    if status not in DOWN:
        return None
    mode = enum_name(found[0].get("StartType"), START_MODE)
    return Msg("service {service} : {status} (démarrage {mode})", service=str(found[0].get("Name") or "DHCPServer"),
               status=status, mode=SAID_MODE.get(mode, mode))


def normalize_mac(value: str) -> str:
    """``00-15-5D-01-02-03``, ``00:15:5d:01:02:03`` and ``00155d010203`` are the same client id."""
    digits = re.sub(r"[^0-9A-Fa-f]", "", value)
    return digits.lower()


class Reservation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ip: str
    mac: str

    @field_validator("ip")
    @classmethod
    def _ip(cls, value: str) -> str:
        return _ipv4(value)

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str) -> str:
        if len(normalize_mac(value)) != 12 or re.search(r"[^0-9A-Fa-f:.-]", value):
            raise ValueError("adresse MAC attendue (ex. 00-15-5D-01-02-03)")
        return value


class DhcpScope(Check):
    """L'étendue DHCP {scope} est configurée comme attendu.

    From ``Get-DhcpServerv4Scope``, ``Get-DhcpServerv4OptionValue`` (scope and server level:
    an option set on the server applies to the scope unless the scope overrides it) and
    ``Get-DhcpServerv4Reservation``. Conforme when the scope exists, is active (when
    ``active``), and each given parameter matches: ``start``/``end`` of its range, ``mask``,
    ``router`` (option 3 contains it), ``dns_servers`` (option 6 contains each, any order),
    ``reservations`` (each IP reserved for that MAC address). An option set nowhere (``DHCP
    20010``) reads as « aucune option ». No scope (``DHCP 20005``): non conforme; no DHCP
    Server service at all: non conforme (the role is not installed); the service stopped
    (the cmdlets then fail): non conforme, with its state as evidence; the DhcpServer module
    missing while the service exists: erreur (management tools not installed).
    """

    id = "windows.dhcp_scope"
    usually_serves = ("CP8.3",)
    example = "{scope: 192.168.10.0, start: 192.168.10.100, end: 192.168.10.199, router: 192.168.10.254}"
    platform = "windows"
    transport = "winrm"

    class Params(CheckParams):
        scope: str
        start: str | None = None
        end: str | None = None
        mask: str | None = None
        router: str | None = None
        dns_servers: list[str] | None = None
        reservations: list[Reservation] | None = None
        active: bool = True

        @field_validator("scope", "start", "end", "mask", "router")
        @classmethod
        def _ip(cls, value: str | None) -> str | None:
            return None if value is None else _ipv4(value)

        @field_validator("dns_servers")
        @classmethod
        def _ips(cls, value: list[str] | None) -> list[str] | None:
            return None if value is None else [_ipv4(v) for v in value]

    def probes(self, params: Params) -> Mapping[str, Probe]:
        scope = ps_quote(params.scope)
        probes = {
            "scope": winrm(f"Get-DhcpServerv4Scope -ScopeId {scope} -ErrorAction Stop | Select-Object -Property "
                           f"{_IP.format('ScopeId')}, {_IP.format('SubnetMask')}, 'Name', "
                           "@{Name='State'; Expression={[string]$_.State}}, "
                           f"{_IP.format('StartRange')}, {_IP.format('EndRange')}, "
                           "@{Name='LeaseDuration'; Expression={[string]$_.LeaseDuration}} | ConvertTo-Json -Depth 4"),
            "service": service_probe("DHCPServer"),
        }
        if params.router or params.dns_servers:
            # Each level read on its own: a level without any option (DHCP 20010) is empty, not a failure.
            probes["options"] = winrm(
                "$rows = @(); foreach ($level in @('Scope', 'Server')) { try { if ($level -eq 'Scope') { "
                f"$found = @(Get-DhcpServerv4OptionValue -ScopeId {scope} -ErrorAction Stop) }} else {{ "
                "$found = @(Get-DhcpServerv4OptionValue -ErrorAction Stop) } } catch { "
                f"if ([string]$_.FullyQualifiedErrorId -like '{OPTION_MISSING},*') {{ $found = @() }} else {{ throw }} }}; "
                "foreach ($option in $found) { $rows += [pscustomobject]@{ Level = $level; OptionId = $option.OptionId; "
                "Name = $option.Name; Value = @($option.Value) } } }; "
                "ConvertTo-Json -InputObject @($rows) -Depth 4")
        if params.reservations:
            probes["reservations"] = winrm(
                f"Get-DhcpServerv4Reservation -ScopeId {scope} -ErrorAction Stop | Select-Object -Property "
                f"{_IP.format('IPAddress')}, 'ClientId', 'Name', 'Description' | ConvertTo-Json -Depth 4")
        return probes

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = self._expected(params)
        r = results["scope"]
        f = failure(r)
        down = _service_down(results["service"])
        if f is not None and f.kind != "missing_command" and down is not None:
            return Verdict.non_conforme(down, expected, Msg("Le service Serveur DHCP (DHCPServer) n'est pas démarré : "
                                                            "il ne distribue aucune adresse."))
        if f is not None and f.kind == "missing_command":
            if service_missing(results["service"]):
                return Verdict.non_conforme(Msg("rôle DHCP absent (pas de service DHCPServer)"), expected,
                                            Msg("Le rôle Serveur DHCP n'est pas installé sur cet hôte."))
            return Verdict.erreur(Msg("le module PowerShell DhcpServer est absent alors que le rôle est peut-être "
                                      "installé (Install-WindowsFeature DHCP -IncludeManagementTools)"),
                                  expected=expected)
        if f is not None and (f.kind == "not_found" or f.error_id.startswith(SCOPE_MISSING)):
            return Verdict.non_conforme(Msg("étendue inexistante"), expected,
                                        Msg("Aucune étendue DHCP {scope} sur ce serveur.", scope=params.scope))
        found = read_items(r, "Get-DhcpServerv4Scope", expected)
        if isinstance(found, Verdict):
            return found
        scopes = [s for s in found if s.get("ScopeId") == params.scope]
        if len(scopes) != 1:
            return Verdict.non_conforme(Msg("étendue inexistante"), expected,
                                        Msg("Aucune étendue DHCP {scope} sur ce serveur.", scope=params.scope))
        scope = scopes[0]
        observed: list[str | Msg] = [Msg("étendue {scope} « {name} » {state}, {start} – {end} / {mask}",
                                         scope=str(scope.get("ScopeId")), name=str(scope.get("Name")),
                                         state=str(scope.get("State")), start=str(scope.get("StartRange")),
                                         end=str(scope.get("EndRange")), mask=str(scope.get("SubnetMask")))]
        problems: list[str | Msg] = []
        if down is not None:
            observed.append(down)
            problems.append(Msg("Le service Serveur DHCP (DHCPServer) n'est pas démarré : il ne distribue aucune "
                                "adresse."))
        if params.active and scope.get("State") != "Active":
            problems.append(Msg("L'étendue n'est pas active ({found}).", found=scope.get("State")))
        for name, key, label in (("start", "StartRange",
                Msg("début de plage")), ("end", "EndRange", Msg("fin de plage")),
                                 ("mask", "SubnetMask", Msg("masque"))):
            want = getattr(params, name)
            if want and scope.get(key) != want:
                problems.append(Msg("Le {label} est {found}, {want} attendu.", label=label, found=scope.get(key),
                                    want=want))
        if params.router or params.dns_servers:
            verdict = self._options(params, results["options"], observed, problems, expected)
            if verdict is not None:
                return verdict
        if params.reservations:
            verdict = self._reservations(params, results["reservations"], observed, problems, expected)
            if verdict is not None:
                return verdict
        return settle(observed, problems, expected,
                      Msg("L'étendue {scope} est configurée comme attendu.", scope=params.scope))

    def _expected(self, p: Params) -> Msg:
        parts = {
            "range": Msg(", plage {start} – {end}", start=p.start or "?", end=p.end or "?") if p.start or p.end else "",
            "mask": Msg(", masque {mask}", mask=p.mask) if p.mask else "",
            "router": Msg(", routeur (option 3) {router}", router=p.router) if p.router else "",
            "dns": f", DNS (option 6) {', '.join(p.dns_servers)}" if p.dns_servers else "",
            "reservations": Msg(", réservations {items}", items=", ".join(f"{x.ip} → {x.mac}" for x in p.reservations))
            if p.reservations else ""}
        if p.active:
            return Msg("étendue {scope} active{range}{mask}{router}{dns}{reservations}", scope=p.scope, **parts)
        return Msg("étendue {scope}{range}{mask}{router}{dns}{reservations}", scope=p.scope, **parts)

    def _options(self, p: Params, r: ProbeResult, observed: list[str | Msg], problems: list[str | Msg],
                 expected: str | Msg) -> Verdict | None:
        f = failure(r)
        if f is not None and (f.kind == "not_found" or f.error_id.startswith(OPTION_MISSING)):  # not caught on the host
            rows: list[dict[str, Any]] | Verdict = []
        else:
            rows = read_items(r, "Get-DhcpServerv4OptionValue", expected)
        if isinstance(rows, Verdict):
            return rows
        if not rows:
            observed.append(Msg("options : aucune option"))
        effective: dict[int, tuple[str, list[str]]] = {}
        for level in ("Server", "Scope"):  # the scope's value overrides the server's
            for row in rows:
                if row.get("Level") == level and isinstance(row.get("OptionId"), int):
                    effective[row["OptionId"]] = (level, [str(v) for v in as_list(row.get("Value"))])
        for option in (3, 6):
            if option in effective:
                level, values = effective[option]
                where = Msg("étendue") if level == "Scope" else Msg("serveur")
                observed.append(Msg("option {option} (routeur, {where}) : {values}", option=option, where=where,
                                    values=", ".join(values)) if option == 3 else
                                Msg("option {option} (DNS, {where}) : {values}", option=option, where=where,
                                    values=", ".join(values)))
        if p.router:
            values = effective.get(3, ("", []))[1]
            if p.router not in values:
                problems.append(Msg("L'option routeur (3) ne contient pas {router} ({value}).", router=p.router,
                                    value=", ".join(values) or Msg("absente")))
        if p.dns_servers:
            values = effective.get(6, ("", []))[1]
            missing = [d for d in p.dns_servers if d not in values]
            if missing:
                problems.append(Msg("L'option DNS (6) ne contient pas {items} ({value}).", items=", ".join(missing),
                                    value=", ".join(values) or Msg("absente")))
        return None

    def _reservations(self, p: Params, r: ProbeResult, observed: list[str | Msg], problems: list[str | Msg],
                      expected: str | Msg) -> Verdict | None:
        rows = read_items(r, "Get-DhcpServerv4Reservation", expected)
        if isinstance(rows, Verdict):
            return rows
        by_ip: dict[str, Any] = {str(row.get("IPAddress")): row for row in rows}
        observed.append(Msg("réservations : {items}", items=", ".join(f"{row.get('IPAddress')} → {row.get('ClientId')}"
                                                                     f" ({row.get('Name')})" for row in rows)
                            or Msg("aucune")))
        for wanted in p.reservations or []:
            row = by_ip.get(wanted.ip)
            if row is None:
                problems.append(Msg("Aucune réservation pour {ip}.", ip=wanted.ip))
            elif normalize_mac(str(row.get("ClientId"))) != normalize_mac(wanted.mac):
                problems.append(Msg("{ip} est réservée pour {found}, {mac} attendue.", ip=wanted.ip,
                                    found=row.get("ClientId"), mac=wanted.mac))
        return None
