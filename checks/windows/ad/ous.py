"""Organisational units: an OU exists where the rubric says; inheritance is blocked on it."""

from __future__ import annotations

from collections.abc import Mapping

from checks.windows._ad import (
    clip_list,
    containers,
    explain_missing,
    find_container,
    parse_path,
)
from checks.windows.ad._directory import OUS, OuPath, ou_search
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict


class OuExists(Check):
    """L'unité d'organisation {path} existe dans l'annuaire.

    ``path`` is written from the domain root, top first (``Siège/Comptabilité``), or as a DN
    (``OU=Comptabilité,OU=Siège``). Case does not matter (AD ignores it); accents and spaces
    do: an OU « Comptabilite » or « Comptabilité␣ » is reported as such, not accepted.
    """

    id = "ad.ou_exists"
    platform = "windows"
    transport = "ldap"

    class Params(CheckParams):
        path: OuPath

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"ous": OUS}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        ous = ou_search(results)
        if isinstance(ous, Verdict):
            return ous
        expected = parse_path(params.path)
        wanted = "/".join(expected)
        found = find_container(expected, ous)
        if found is not None:
            note = "" if [v for _, v in found.path] == expected else Msg(" (casse différente, indifférente pour AD)")
            return Verdict.conforme(found.dn, wanted,
                                    Msg("L'UO « {shown} » existe{note}.", shown=found.shown, note=note))
        observed = clip_list(sorted((str(c.shown) for c in containers(ous)), key=str.lower))
        if ous.truncated:
            return Verdict.erreur(Msg("liste des UO tronquée : impossible de conclure"), observed=observed,
                                  expected=wanted)
        return Verdict.non_conforme(Msg("UO présentes : {names}", names=observed), wanted,
                                    explain_missing(expected, ous))


class InheritanceBlocked(Check):
    """L'héritage des stratégies de groupe est bloqué sur l'UO {path}.

    Read from the OU's ``gPOptions`` (1 = « Bloquer l'héritage »). With ``blocked: false`` the
    check asks for inheritance *not* to be blocked.
    """

    id = "ad.inheritance_blocked"
    platform = "windows"
    transport = "ldap"

    class Params(CheckParams):
        path: OuPath
        blocked: bool = True

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"ous": OUS}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        ous = ou_search(results)
        if isinstance(ous, Verdict):
            return ous
        expected = parse_path(params.path)
        want = Msg("héritage bloqué") if params.blocked else Msg("héritage non bloqué")
        ou = find_container(expected, ous)
        if ou is None:
            return Verdict.non_conforme(Msg("UO absente"), Msg("{path} : {want}", path="/".join(expected), want=want),
                                        explain_missing(expected, ous))
        options = ou.entry.first("gPOptions", 0)
        try:
            blocked = int(options) & 1 == 1
        except (TypeError, ValueError):
            return Verdict.erreur(Msg("gPOptions illisible : {options}", options=repr(options)), expected=want)
        observed = Msg("{dn} : gPOptions={options} ({state})", dn=ou.dn, options=str(options),
                       state=Msg("héritage bloqué") if blocked else Msg("héritage non bloqué"))
        said = want
        if blocked == params.blocked:
            return Verdict.conforme(observed, want, Msg("L'UO « {shown} » a l'{want}.", shown=ou.shown, want=said))
        return Verdict.non_conforme(observed, want,
                                    Msg("L'UO « {shown} » n'a pas l'{want}.", shown=ou.shown, want=said))
