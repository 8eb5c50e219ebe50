"""Windows services: running (or stopped) now, and how they start at boot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import field_validator

from checks.windows._ps import ExactName, enum_name, enum_said, failure, ps_quote, read_items, same_name
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.winrm import winrm

# System.ServiceProcess.ServiceControllerStatus and ServiceStartMode (.NET), as ConvertTo-Json writes them.
STATUS = {1: "Stopped", 2: "StartPending", 3: "StopPending", 4: "Running", 5: "ContinuePending", 6: "PausePending",
          7: "Paused"}
START_MODE = {0: "Boot", 1: "System", 2: "Automatic", 3: "Manual", 4: "Disabled"}
#: Start types as the messages say them (in the report's language).
SAID_MODE = {"Automatic": Msg("automatique"), "Manual": Msg("manuel"), "Disabled": Msg("désactivé"),
             "Boot": Msg("démarrage"), "System": Msg("système")}


def service_probe(name: str) -> Probe:
    """``Get-Service`` for one service; shared with checks that need to know whether a role's service exists."""
    return winrm(f"Get-Service -Name {ps_quote(name)} -ErrorAction Stop | "
                 "Select-Object -Property 'Name', 'DisplayName', 'Status', 'StartType' | ConvertTo-Json -Depth 4")


def service_missing(result: ProbeResult) -> bool:
    """True when ``service_probe`` proved that the service does not exist on the host."""
    f = failure(result)
    return f is not None and f.kind == "not_found" and "NoServiceFoundForGivenName" in f.error_id


class ServiceRunning(Check):
    """Le service Windows {service} a l'état et le type de démarrage attendus.

    From ``Get-Service``: conforme when the service exists, its status is Running (or Stopped
    when ``running`` is false) and, when ``start_mode`` is given, its start type is that one
    (a delayed automatic start counts as automatic). The name is the service's short name
    (``Spooler``) or its display name, compared without regard to case. A service that does
    not exist is non conforme; a ``Get-Service`` that fails otherwise is erreur.
    """

    id = "windows.service_running"
    usually_serves = ("CP8.3",)
    example = "{service: DHCPServer, start_mode: automatic}"
    platform = "windows"
    transport = "winrm"

    class Params(CheckParams):
        service: ExactName
        running: bool = True
        start_mode: Literal["automatic", "manual", "disabled"] | None = "automatic"

        @field_validator("start_mode", mode="before")
        @classmethod
        def _lower(cls, value: object) -> object:
            return value.lower() if isinstance(value, str) else value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"service": service_probe(params.service)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        r = results["service"]
        want_status = "Running" if params.running else "Stopped"
        expected = f"Status={want_status}" + (f", StartType={params.start_mode.capitalize()}" if params.start_mode else "")
        if service_missing(r):
            return Verdict.non_conforme(Msg("service inexistant"), expected,
                                        Msg("Aucun service nommé « {service} » sur cet hôte.", service=params.service))
        found = read_items(r, "Get-Service", expected)
        if isinstance(found, Verdict):
            return found
        matching = [s for s in found if same_name(s.get("Name"), params.service)
                    or same_name(s.get("DisplayName"), params.service)]
        if len(matching) != 1:
            return Verdict.erreur(Msg("Get-Service a renvoyé {count} service(s), dont {count2} de ce nom",
                                      count=len(found), count2=len(matching)), expected=expected)
        svc = matching[0]
        status = enum_name(svc.get("Status"), STATUS)
        mode = enum_name(svc.get("StartType"), START_MODE) if svc.get("StartType") is not None else None
        shown_status = enum_said(svc.get("Status"), STATUS)
        observed: str | Msg = f"{svc.get('Name')} ({svc.get('DisplayName')}) : Status={status}, StartType={mode}"
        if not mode or isinstance(shown_status, Msg):
            observed = Msg("{name} ({display}) : Status={status}, StartType={mode}", name=str(svc.get("Name")),
                           display=str(svc.get("DisplayName")), status=shown_status, mode=mode or Msg("(inconnu)"))
        if status != want_status:
            name = svc.get("Name")
            return Verdict.non_conforme(observed, expected, Msg(
                "Le service {name} n'est pas démarré ({status}).", name=name, status=shown_status) if params.running
                else Msg("Le service {name} n'est pas arrêté ({status}).", name=name, status=shown_status))
        if params.start_mode:
            if mode is None:
                return Verdict.erreur(Msg("le type de démarrage n'est pas lisible avec ce PowerShell (StartType "
                                          "absent)"), observed=observed, expected=expected)
            if mode.lower() != params.start_mode:
                return Verdict.non_conforme(observed, expected,
                                            Msg("Le service {name} est en démarrage {mode}, {wanted} attendu.",
                                                name=svc.get("Name"), mode=SAID_MODE.get(mode, mode),
                                                wanted=SAID_MODE[params.start_mode.capitalize()]))
        if params.start_mode:
            wanted = SAID_MODE[params.start_mode.capitalize()]
            return Verdict.conforme(observed, expected, Msg(
                "Le service {name} est démarré, démarrage {mode}.", name=svc.get("Name"), mode=wanted) if params.running
                else Msg("Le service {name} est arrêté, démarrage {mode}.", name=svc.get("Name"), mode=wanted))
        return Verdict.conforme(observed, expected, Msg("Le service {name} est démarré.", name=svc.get("Name"))
                                if params.running else Msg("Le service {name} est arrêté.", name=svc.get("Name")))
