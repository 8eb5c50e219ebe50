"""systemd services: running now, and started at boot."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import field_validator

from checks._common.text import clip
from checks.linux._parse import cannot_run, text_lines
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.ssh import quote, ssh

_UNIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:_.@\\-]*$")
_SUFFIXES = (".service", ".socket", ".timer", ".target", ".mount", ".path", ".automount", ".swap", ".slice",
             ".scope", ".device")
PROPERTIES = ("LoadState", "ActiveState", "SubState", "UnitFileState", "MainPID")

# UnitFileState values that mean "started at boot" (or "pulled in by something that is").
BOOT_OK = {"enabled", "enabled-runtime", "alias", "static", "indirect"}
# "generated": a unit made by a generator (SysV script...): whether it starts at boot is not
# visible here, so we cannot tell.
BOOT_UNKNOWN = {"generated"}


def unit_name(service: str) -> str:
    """``apache2`` -> ``apache2.service``; names with a unit suffix are kept (as systemctl does)."""
    return service if service.endswith(_SUFFIXES) else service + ".service"


class ServiceActive(Check):
    """Le service {service} est actif.

    From ``systemctl show``: conforme only when the unit is loaded (``LoadState=loaded``) and
    active (``ActiveState=active``), and, when ``enabled`` is true, when its unit file state
    starts it at boot (enabled, enabled-runtime, alias, static or indirect). A masked unit is
    not conforme even if it still runs (it would not start again); a unit that does not exist
    (``LoadState=not-found``) is not conforme. ``apache2`` and ``apache2.service`` are the same.
    """

    id = "linux.service_active"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        service: str
        enabled: bool = True

        @field_validator("service")
        @classmethod
        def _unit(cls, value: str) -> str:
            if not _UNIT.match(value):
                raise ValueError("nom de service invalide (ex. : apache2 ou apache2.service)")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        unit = quote(unit_name(params.service))
        return {"unit": ssh(f"/usr/bin/systemctl show -p {','.join(PROPERTIES)} -- {unit}")}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        r = results["unit"]
        unit = unit_name(params.service)
        expected: str | Msg = "LoadState=loaded, ActiveState=active"
        if params.enabled:
            expected = Msg("LoadState=loaded, ActiveState=active, UnitFileState=enabled (ou static, indirect, alias)")
        reason = cannot_run(r)
        if reason:
            return Verdict.erreur(Msg("systemctl n'a pas pu être exécuté : {reason}", reason=reason), expected=expected)
        if r.exit_code != 0:
            return Verdict.erreur(Msg("systemctl a échoué (code {code}) : {detail}",
                                      code=r.exit_code, detail=clip(r.stderr.strip(), 160)),
                                  observed=clip(r.stdout), expected=expected)
        props: dict[str, str] = {}
        for line in text_lines(r.stdout):
            key, sep, value = line.partition("=")
            if not sep or key not in PROPERTIES or key in props:
                return Verdict.erreur(Msg("sortie de systemctl illisible"), observed=clip(r.stdout), expected=expected)
            props[key] = value
        if any(k not in props for k in ("LoadState", "ActiveState", "SubState", "UnitFileState")):
            return Verdict.erreur(Msg("sortie de systemctl incomplète"), observed=clip(r.stdout) or Msg("(vide)"),
                                  expected=expected)
        load, active, sub, file_state = (props["LoadState"], props["ActiveState"], props["SubState"],
                                         props["UnitFileState"])
        pid = f", MainPID={props['MainPID']}" if props.get("MainPID", "0") not in ("", "0") else ""
        observed: str | Msg = f"LoadState={load}, ActiveState={active} ({sub}), UnitFileState={file_state}{pid}"
        if not file_state:  # the only word of ours in it
            observed = Msg("LoadState={load}, ActiveState={active} ({sub}), UnitFileState=(vide){pid}", load=load,
                           active=active, sub=sub, pid=pid)
        if load == "not-found":
            return Verdict.non_conforme(Msg("service inexistant (LoadState=not-found)"), expected,
                                        Msg("L'unité {unit} n'existe pas sur cet hôte.", unit=unit))
        if load == "masked":
            return Verdict.non_conforme(observed, expected,
                                        Msg("L'unité {unit} est masquée : elle ne peut pas être démarrée.", unit=unit))
        if load != "loaded":
            return Verdict.non_conforme(observed, expected, Msg("L'unité {unit} n'a pas pu être chargée ({load}).",
                                                                unit=unit, load=load))
        if active != "active":
            return Verdict.non_conforme(observed, expected, Msg("Le service {unit} n'est pas actif ({active}, {sub}).",
                                                                unit=unit, active=active, sub=sub))
        if params.enabled:
            if file_state in BOOT_UNKNOWN:
                return Verdict.erreur(
                    Msg("le service est actif mais son démarrage automatique n'est pas vérifiable ({file_state})",
                        file_state=file_state),
                    observed=observed, expected=expected)
            if file_state not in BOOT_OK:
                return Verdict.non_conforme(observed, expected,
                                            Msg("Le service {unit} est actif mais pas activé au démarrage ({state}).",
                                                unit=unit, state=file_state or Msg("état vide")))
            return Verdict.conforme(observed, expected, Msg("Le service {unit} est actif et activé au démarrage.",
                                                            unit=unit))
        return Verdict.conforme(observed, expected, Msg("Le service {unit} est actif.", unit=unit))
