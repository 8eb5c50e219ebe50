"""Group policy objects: a GPO exists; it is linked where the rubric says, enabled, in order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field, field_validator

from checks._common.text import commas
from checks.windows._ad import (
    Container,
    Entry,
    Link,
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
from checks.windows._gpo import as_int
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


#: The GPO's ``flags`` (attribute of its groupPolicyContainer, GPMC's « État GPO »): 1 its user
#: part is disabled, 2 its computer part; 3 all its settings.
GPO_USER_DISABLED, GPO_MACHINE_DISABLED = 1, 2


class GpoLink(Check):
    """La stratégie {gpo} est liée à {target} comme demandé.

    ``target``: an OU path (``Siège/Comptabilité``) or empty for the domain itself. The link,
    read from the target's ``gPLink``, must be enabled (``enabled: true``, default; ``false``
    asks for a disabled link); ``enforced`` (« Appliqué ») and ``order`` (link order, 1 = the
    highest precedence) are checked when given. A GPO that exists but is linked nowhere, or
    elsewhere, is reported as such. A GPO linked more than once to the target (GPMC refuses
    it; ADSI Edit or a script can write it) is reported with every link: it applies when one
    of its links is enabled, and ``enforced``/``order`` are met when one enabled link meets them.

    The GPO's own ``flags`` say whether its settings apply at all: with all of them disabled
    (flags 3) a linked GPO does nothing (non conforme); a disabled user (1) or computer (2) part
    is said in the evidence. ``settings`` asks for a part: ``any`` (default: one part enabled is
    enough, so that disabling the unused part, a common good practice, is not a fault), ``user``,
    ``computer`` or ``both``.
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
        #: which part of the GPO must be enabled (its flags): any (one part, default), user, computer, both
        settings: Literal["any", "user", "computer", "both"] = "any"

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
        link, problems = self._link(params, links)
        gpo = next(e for e in named if gpo_guid(e) == link.guid)
        gpo_flags = _flags(gpo)
        if gpo_flags is None:
            return Verdict.erreur(Msg("attribut flags illisible pour la stratégie {gpo} : {value}", gpo=params.gpo,
                                      value=str(gpo.first("flags"))), expected=expected)
        shown: str | Msg = (describe_link(link) if len(links) == 1 else
                            Msg("liée {count} fois : {links}", count=len(links), links=[describe_link(k) for k in links]))
        state = _settings_state(gpo_flags)
        observed = (Msg("{dn} : {link} ; {state}", dn=target.dn, link=shown, state=state) if state else
                    Msg("{dn} : {link}", dn=target.dn, link=shown))
        problems += _settings_problems(gpo_flags, params.settings)
        if problems:
            return Verdict.non_conforme(observed, expected,
                                        Msg("Stratégie « {gpo} » sur {target} : {items}.", gpo=params.gpo,
                                            items=problems, target="/".join(target_path) or Msg("le domaine")))
        if len(links) > 1:
            return Verdict.conforme(observed, expected,
                                    Msg("La stratégie « {gpo} » est liée {target} ({link}) ; elle y est liée {count} "
                                        "fois.", gpo=params.gpo, target=to_target_said, link=describe_link(link),
                                        count=len(links)))
        return Verdict.conforme(observed, expected, Msg("La stratégie « {gpo} » est liée {target} ({link}).",
                                                        gpo=params.gpo, target=to_target_said,
                                                        link=describe_link(link)))

    @staticmethod
    def _link(p: Params, links: Sequence[Link]) -> tuple[Link, list[Msg]]:
        """The link that decides (one meeting the rubric if any, else the one of highest precedence
        among those that apply the GPO) and what is wrong with it. Several links to one target are
        possible: the GPO applies when one of them is enabled."""
        problems: list[Msg] = []
        enabled = [k for k in links if k.enabled]
        if p.enabled and not enabled:
            problems.append(Msg("le lien est désactivé (la stratégie ne s'applique pas)"))
        elif not p.enabled and enabled:
            problems.append(Msg("le lien est activé"))
        candidates = sorted(enabled if p.enabled and enabled else links, key=lambda k: k.order)
        for k in candidates:
            if (p.enforced is None or k.enforced == p.enforced) and (p.order is None or k.order == p.order):
                return k, problems
        link = candidates[0]
        if p.enforced is not None and link.enforced != p.enforced:
            problems.append(
                    Msg("le lien n'est pas appliqué (enforced)") if p.enforced
                    else Msg("le lien est appliqué (enforced)"))
        if p.order is not None and link.order != p.order:
            problems.append(Msg("ordre de liaison {order} au lieu de {wanted}", order=link.order, wanted=p.order))
        return link, problems

    @staticmethod
    def _expected(p: Params, target: Msg) -> Msg:
        return Msg("« {gpo} » liée {target}, {state}{enforced}{order}{settings}", gpo=p.gpo, target=target,
                   state=Msg("lien activé") if p.enabled else Msg("lien désactivé"),
                   enforced="" if p.enforced is None else Msg(", appliqué") if p.enforced else Msg(", non appliqué"),
                   order=Msg(", ordre {order}", order=p.order) if p.order is not None else "",
                   settings=SETTINGS_WANTED.get(p.settings, ""))


#: What the rubric asks of the GPO's parts, said in the expected text (nothing for « any »).
SETTINGS_WANTED = {"user": Msg(", partie Utilisateur activée"), "computer": Msg(", partie Ordinateur activée"),
                   "both": Msg(", parties Utilisateur et Ordinateur activées")}


def _flags(entry: Entry) -> int | None:
    """The GPO's ``flags`` (absent: 0, every part enabled, as GPMC creates it); None when unreadable."""
    raw = entry.first("flags")
    if raw is None:
        return 0
    value = as_int(raw)
    return value if value is not None and value >= 0 else None


def _settings_state(flags: int) -> Msg | None:
    """The evidence of a GPO with a part disabled (None when every part is enabled)."""
    disabled = flags & (GPO_USER_DISABLED | GPO_MACHINE_DISABLED)
    if disabled == GPO_USER_DISABLED | GPO_MACHINE_DISABLED:
        return Msg("tous les paramètres désactivés (flags={flags})", flags=flags)
    if disabled == GPO_USER_DISABLED:
        return Msg("partie Utilisateur désactivée (flags={flags})", flags=flags)
    if disabled == GPO_MACHINE_DISABLED:
        return Msg("partie Ordinateur désactivée (flags={flags})", flags=flags)
    return None


def _settings_problems(flags: int, wanted: str) -> list[Msg]:
    user_off, machine_off = bool(flags & GPO_USER_DISABLED), bool(flags & GPO_MACHINE_DISABLED)
    if user_off and machine_off:
        return [Msg("tous ses paramètres sont désactivés (flags={flags}) : elle ne s'applique pas", flags=flags)]
    problems = []
    if user_off and wanted in ("user", "both"):
        problems.append(Msg("sa partie Utilisateur est désactivée (flags={flags})", flags=flags))
    if machine_off and wanted in ("computer", "both"):
        problems.append(Msg("sa partie Ordinateur est désactivée (flags={flags})", flags=flags))
    return problems
