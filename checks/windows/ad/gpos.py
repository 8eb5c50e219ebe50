"""Group policy objects: a GPO exists; it is linked where the rubric says, enabled, in order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator

from checks._common.text import commas
from checks.windows._ad import (
    Container,
    Search,
    clip_list,
    containers,
    describe_link,
    explain_missing,
    find_container,
    gpo_guid,
    gpo_missing,
    gpo_names,
    gpo_near_misses,
    gpos_named,
    parse_gplink,
    parse_path,
    read,
    validate_path,
)
from checks.windows.ad._directory import DOMAIN, GPOS, OUS, ou_search
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict


def _gpo_search(results: Mapping[str, ProbeResult]) -> Search | Verdict:
    return read(results["gpos"], Msg("stratégies de groupe"))


class GpoExists(Check):
    """La stratégie de groupe {name} existe.

    Found by its display name (as in the Group Policy Management console), case ignored.
    """

    id = "ad.gpo_exists"
    platform = "windows"
    transport = "ldap"

    class Params(CheckParams):
        name: str = Field(min_length=1)

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"gpos": GPOS}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        gpos = _gpo_search(results)
        if isinstance(gpos, Verdict):
            return gpos
        found = gpos_named(params.name, gpos)
        if found:
            return Verdict.conforme(", ".join(f"{e.first('displayName')} {gpo_guid(e)}" for e in found), params.name,
                                    Msg("La stratégie « {name} » existe.", name=params.name))
        close = gpo_near_misses(params.name, gpos)
        return Verdict.non_conforme(Msg("stratégies présentes : {names}", names=clip_list(gpo_names(gpos))), params.name,
                                    gpo_missing(params.name, close))


class GpoLink(Check):
    """La stratégie {gpo} est liée à {target} comme demandé.

    ``target``: an OU path (``Siège/Comptabilité``) or empty for the domain itself. The link,
    read from the target's ``gPLink``, must be enabled (``enabled: true``, default; ``false``
    asks for a disabled link); ``enforced`` (« Appliqué ») and ``order`` (link order, 1 = the
    highest precedence) are checked when given. A GPO that exists but is linked nowhere, or
    elsewhere, is reported as such.
    """

    id = "ad.gpo_link"
    platform = "windows"
    transport = "ldap"

    class Params(CheckParams):
        gpo: str = Field(min_length=1)
        target: str = ""
        enabled: bool = True
        enforced: bool | None = None
        order: int | None = Field(default=None, ge=1)

        @field_validator("target")
        @classmethod
        def _target(cls, value: str) -> str:
            return validate_path(value) if value.strip() else ""

    @classmethod
    def sentence_values(cls, params: object) -> dict[str, Any]:
        values = super().sentence_values(params)
        if not str(values.get("target") or "").strip():  # the domain itself, not an empty name
            values["target"] = Msg("la racine du domaine")
        return values

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"gpos": GPOS, "ous": OUS, "domain": DOMAIN}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        gpos = _gpo_search(results)
        if isinstance(gpos, Verdict):
            return gpos
        ous = ou_search(results)
        if isinstance(ous, Verdict):
            return ous
        target_path = parse_path(params.target)
        to_target_said = Msg("à {target}", target="/".join(target_path)) if target_path else Msg("au domaine")
        expected = self._expected(params, to_target_said)
        named = gpos_named(params.gpo, gpos)
        if not named:
            close = gpo_near_misses(params.gpo, gpos)
            return Verdict.non_conforme(Msg("stratégies présentes : {names}", names=clip_list(gpo_names(gpos))), expected,
                                        gpo_missing(params.gpo, close))
        guids = {gpo_guid(e) for e in named}
        domain = read(results["domain"], Msg("objet domaine"))
        if isinstance(domain, Verdict):
            return domain
        if not domain.entries:
            return Verdict.erreur(Msg("objet domaine introuvable"), expected=expected)
        root = Container(domain.entries[0].dn, (), domain.entries[0])
        every = [root, *containers(ous)]
        if target_path:
            target = find_container(target_path, ous)
            if target is None:
                return Verdict.non_conforme(Msg("UO cible absente"), expected, explain_missing(target_path, ous))
        else:
            target = root
        links = [link for link in parse_gplink(target.entry.first("gPLink")) if link.guid in guids]
        if not links:
            elsewhere = [c.shown if c.path else Msg("le domaine") for c in every
                         for link in parse_gplink(c.entry.first("gPLink")) if link.guid in guids]
            observed = Msg("gPLink de {dn} : {gplink}", dn=target.dn,
                           gplink=str(target.entry.first("gPLink") or "") or Msg("(vide)"))
            where_said = (Msg(" ; elle est liée à : {places}", places=commas(elsewhere)) if elsewhere
                          else Msg(" ; elle n'est liée nulle part"))
            return Verdict.non_conforme(observed, expected,
                                        Msg("La stratégie « {gpo} » existe mais n'est pas liée {target}{where}.",
                                            gpo=params.gpo, target=to_target_said, where=where_said))
        link = links[0]
        observed = Msg("{dn} : {link}", dn=target.dn, link=describe_link(link))
        problems: list[Msg] = []
        if link.enabled != params.enabled:
            problems.append(
                    Msg("le lien est désactivé (la stratégie ne s'applique pas)") if params.enabled
                    else Msg("le lien est activé"))
        if params.enforced is not None and link.enforced != params.enforced:
            problems.append(
                    Msg("le lien n'est pas appliqué (enforced)") if params.enforced
                    else Msg("le lien est appliqué (enforced)"))
        if params.order is not None and link.order != params.order:
            problems.append(Msg("ordre de liaison {order} au lieu de {wanted}", order=link.order, wanted=params.order))
        if problems:
            return Verdict.non_conforme(observed, expected,
                                        Msg("Stratégie « {gpo} » sur {target} : {items}.", gpo=params.gpo,
                                            items=problems, target="/".join(target_path) or Msg("le domaine")))
        return Verdict.conforme(observed, expected, Msg("La stratégie « {gpo} » est liée {target} ({link}).",
                                                        gpo=params.gpo, target=to_target_said,
                                                        link=describe_link(link)))

    @staticmethod
    def _expected(p: Params, target: Msg) -> Msg:
        return Msg("« {gpo} » liée {target}, {state}{enforced}{order}", gpo=p.gpo, target=target,
                   state=Msg("lien activé") if p.enabled else Msg("lien désactivé"),
                   enforced="" if p.enforced is None else Msg(", appliqué") if p.enforced else Msg(", non appliqué"),
                   order=Msg(", ordre {order}", order=p.order) if p.order is not None else "")
