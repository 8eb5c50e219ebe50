"""WSUS for clients: the Windows Update policy values a GPO (or local policy) wrote in the registry."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import field_validator

from checks.windows._ps import read_items, sentences
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.winrm import winrm

KEY = "HKLM:\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate"
# AUOptions of "Configure Automatic Updates" (Microsoft: "Configure Automatic Updates" policy, 2 to 5, 7).
#: AUOptions values as people name them (a Msg: its ``str`` is the French name, a report says it in its language).
AU_OPTIONS = {2: Msg("notifier avant téléchargement"),
              3: Msg("téléchargement automatique, notification d'installation"),
              4: Msg("téléchargement et installation planifiée"), 5: Msg("l'administrateur local choisit"),
              7: Msg("téléchargement automatique, redémarrage notifié")}


def _url(value: Any) -> str:
    return str(value or "").strip().rstrip("/").casefold()


class WsusClientPolicy(Check):
    """Le poste est configuré pour prendre ses mises à jour sur le serveur WSUS {server}.

    Reads ``HKLM:\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate`` and its ``AU`` subkey,
    where the "Specify intranet Microsoft update service location" and "Configure Automatic
    Updates" policies write. Conforme when ``WUServer`` and ``WUStatusServer`` are the server's
    URL (``http://srv-wsus:8530``; case and final ``/`` ignored), ``AU\\UseWUServer`` is 1, and
    when given ``AU\\AUOptions`` is ``au_options`` and client-side targeting
    (``TargetGroupEnabled`` = 1) names ``target_group``. No policy key: non conforme (no GPO
    applied, or not yet: ``gpupdate /force`` on the client).
    """

    id = "windows.wsus_client_policy"
    usually_serves = ("CP10.2", "CP8.2")
    example = "{server: http://srv-wsus:8530, au_options: 4}"
    platform = "windows"
    transport = "winrm"

    class Params(CheckParams):
        server: str
        au_options: Literal[2, 3, 4, 5, 7] | None = None
        target_group: str | None = None

        @field_validator("server")
        @classmethod
        def _server(cls, value: str) -> str:
            if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?/?", value):
                raise ValueError("URL du serveur WSUS attendue (ex. http://srv-wsus:8530)")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"policy": winrm(
            f"$base = '{KEY}'; $result = [ordered]@{{}}; "
            "foreach ($name in @('WindowsUpdate', 'AU')) { "
            "$path = $(if ($name -eq 'AU') { $base + '\\AU' } else { $base }); $values = $null; "
            "if (Test-Path -LiteralPath $path) { $key = Get-Item -LiteralPath $path -ErrorAction Stop; "
            "$values = [ordered]@{}; foreach ($value in $key.GetValueNames()) { $values[$value] = $key.GetValue($value) } }; "
            "$result[$name] = $values }; ConvertTo-Json -InputObject $result -Depth 4")}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = f"WUServer = WUStatusServer = {params.server}, AU\\UseWUServer = 1"
        if params.au_options:
            expected += f", AU\\AUOptions = {params.au_options}"
        if params.target_group:
            expected += f", TargetGroup = {params.target_group}"
        found = read_items(results["policy"], Msg("lecture du registre"), expected)
        if isinstance(found, Verdict):
            return found
        if len(found) != 1 or "WindowsUpdate" not in found[0]:
            return Verdict.erreur(Msg("réponse inattendue à la lecture du registre"), expected=expected)
        wu, au = found[0].get("WindowsUpdate"), found[0].get("AU")
        if not isinstance(wu, dict):
            return Verdict.non_conforme(Msg("clé de stratégie WindowsUpdate absente"), expected,
                                        Msg("Aucune stratégie Windows Update n'est appliquée sur ce poste."))
        au = au if isinstance(au, dict) else {}
        observed: str | Msg = (f"WUServer={wu.get('WUServer')}, WUStatusServer={wu.get('WUStatusServer')}, "
                               f"UseWUServer={au.get('UseWUServer')}, AUOptions={au.get('AUOptions')}")
        if "TargetGroup" in wu or params.target_group:
            observed = Msg("{values}, TargetGroup={group} (activé={enabled})", values=observed,
                           group=str(wu.get("TargetGroup")), enabled=str(wu.get("TargetGroupEnabled")))
        problems: list[str | Msg] = []
        if _url(wu.get("WUServer")) != _url(params.server):
            problems.append(Msg("WUServer vaut {value}.", value=wu.get("WUServer") or Msg("(absent)")))
        if _url(wu.get("WUStatusServer")) != _url(params.server):
            problems.append(Msg("WUStatusServer vaut {value}.", value=wu.get("WUStatusServer") or Msg("(absent)")))
        if au.get("UseWUServer") != 1:
            problems.append(Msg("AU\\UseWUServer n'est pas à 1 : le poste n'utilise pas le serveur WSUS."))
        if params.au_options and au.get("AUOptions") != params.au_options:
            problems.append(Msg("AUOptions vaut {found}, {au_options} ({meaning}) attendu.", found=au.get("AUOptions"),
                                au_options=params.au_options, meaning=AU_OPTIONS[params.au_options]))
        if params.target_group:
            if wu.get("TargetGroupEnabled") != 1:
                problems.append(Msg("Le ciblage côté client n'est pas activé (TargetGroupEnabled)."))
            elif str(wu.get("TargetGroup") or "").casefold() != params.target_group.casefold():
                problems.append(Msg("Le groupe cible est {found}, {target_group} attendu.", found=wu.get("TargetGroup"),
                                    target_group=params.target_group))
        if problems:
            return Verdict.non_conforme(observed, expected, sentences(problems))
        return Verdict.conforme(observed, expected,
                                Msg("Le poste prend ses mises à jour sur {server}.", server=params.server))
