"""Windows Server roles and features (Server Manager's ``Get-WindowsFeature``)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import field_validator

from checks.windows._ps import ps_quote, read_items, same_name
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.winrm import winrm

_FEATURE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
# Microsoft.Windows.ServerManager.Commands.InstallState: 0 and 1 are the values seen in recorded
# outputs (InSpec's windows_feature resource); other values are shown as their number.
INSTALL_STATE = {0: "Available", 1: "Installed"}


class FeatureInstalled(Check):
    """Le rôle ou la fonctionnalité Windows {feature} est installé.

    From ``Get-WindowsFeature -Name``: conforme when the feature's ``Installed`` is true. The
    name is the feature's short name (``DHCP``, ``AD-Domain-Services``, ``RDS-RD-Server``,
    ``UpdateServices``), as ``Get-WindowsFeature`` lists it. A name unknown to the server (no
    object returned) is erreur: it is a mistake in the rubric, not the candidate's. On a
    client Windows, ``Get-WindowsFeature`` does not exist: erreur.
    """

    id = "windows.feature_installed"
    usually_serves = ("CP8.3",)
    example = "{feature: DHCP}"
    platform = "windows"
    transport = "winrm"

    class Params(CheckParams):
        feature: str

        @field_validator("feature")
        @classmethod
        def _name(cls, value: str) -> str:
            if not _FEATURE.match(value):
                raise ValueError("nom de fonctionnalité invalide (ex. : DHCP, AD-Domain-Services)")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"feature": winrm(
            f"Get-WindowsFeature -Name {ps_quote(params.feature)} -ErrorAction Stop | "
            "Select-Object -Property 'Name', 'DisplayName', 'Installed', 'InstallState', 'FeatureType', 'Path' | "
            "ConvertTo-Json -Depth 4", timeout=60)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = f"{params.feature} : Installed=True"
        found = read_items(results["feature"], "Get-WindowsFeature", expected)
        if isinstance(found, Verdict):
            return found
        matching = [f for f in found if same_name(f.get("Name"), params.feature)]
        if not matching:
            return Verdict.erreur(Msg("aucune fonctionnalité nommée « {feature} » sur ce serveur (nom inexact dans le "
                                      "barème ? voir Get-WindowsFeature)", feature=params.feature), expected=expected)
        feature = matching[0]
        state = feature.get("InstallState")
        state_text = INSTALL_STATE.get(state, str(state)) if isinstance(state, int) else str(state)
        observed = (f"{feature.get('Name')} ({feature.get('DisplayName')}) : Installed={feature.get('Installed')}, "
                    f"InstallState={state_text}")
        if feature.get("Installed") is True:
            return Verdict.conforme(observed, expected,
                                    Msg("{value} est installé.", value=feature.get("DisplayName") or params.feature))
        if feature.get("Installed") is False:
            return Verdict.non_conforme(observed, expected, Msg("{value} n'est pas installé.",
                                                                value=feature.get("DisplayName") or params.feature))
        return Verdict.erreur(Msg("réponse de Get-WindowsFeature sans la propriété Installed"), observed=observed,
                              expected=expected)
