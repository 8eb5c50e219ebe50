"""Groups: scope, type and members, nested groups resolved."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field, field_validator

from checks.windows._ad import (
    Entry,
    clip_list,
    near_miss,
    parse_path,
    read,
    same_name,
    split_dn,
)
from checks.windows.ad._directory import PRINCIPALS, OuPath, SamName, in_location
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict

_SCOPES = {"globale": 0x2, "domaine_local": 0x4, "universelle": 0x8}

_SCOPE_ALIASES = {"global": "globale", "domain_local": "domaine_local", "domainlocal": "domaine_local",
                  "local": "domaine_local", "universal": "universelle", "domaine local": "domaine_local"}


_TYPE_ALIASES = {"security": "securite", "sécurité": "securite", "distribution": "distribution"}

GROUP_SECURITY = 0x80000000


#: Scopes that are not one of the rubric's words, as the evidence says them (in the report's language).
_SCOPE_SAID = {"locale intégrée": Msg("locale intégrée"), "inconnue": Msg("inconnue")}


def _scope_of(group_type: int) -> str:
    for name, bit in _SCOPES.items():
        if group_type & bit:
            return name
    return "locale intégrée" if group_type & 0x1 else "inconnue"


class GroupMembers(Check):
    """Le groupe {name} existe avec l'étendue, le type et les membres attendus.

    ``scope``: globale, domaine_local or universelle; ``type``: securite or distribution (both
    from groupType). ``members`` are logon names (sAMAccountName) of users, groups or computers
    (``PC01$``); with ``nested: true`` (default) a member of a member group counts, as it does
    for permissions (AGDLP). ``exact: true`` also refuses members that are not listed.
    """

    id = "ad.group"
    platform = "windows"
    transport = "ldap"

    class Params(CheckParams):
        name: SamName
        ou: OuPath | None = None
        scope: Literal["globale", "domaine_local", "universelle"] | None = None
        type: Literal["securite", "distribution"] | None = None
        members: list[str] = Field(default_factory=list)
        nested: bool = True
        exact: bool = False

        @field_validator("scope", mode="before")
        @classmethod
        def _scope(cls, value: object) -> object:
            return _SCOPE_ALIASES.get(value.lower(), value.lower()) if isinstance(value, str) else value

        @field_validator("type", mode="before")
        @classmethod
        def _type(cls, value: object) -> object:
            return _TYPE_ALIASES.get(value.lower(), value.lower()) if isinstance(value, str) else value


    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"principals": PRINCIPALS}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        found = read(results["principals"], Msg("groupes et comptes"))
        if isinstance(found, Verdict):
            return found
        if found.truncated:
            return Verdict.erreur(Msg("liste des comptes tronquée : impossible de conclure"))
        by_dn = {e.dn.lower(): e for e in found.entries}
        groups = [e for e in found.entries if "group" in [str(c).lower() for c in e.all("objectClass")]]
        expected = self._expected(params)
        group = next((g for g in groups if same_name(str(g.first("sAMAccountName") or ""), params.name)), None)
        if group is None:
            close = [str(g.first("sAMAccountName")) for g in groups
                     if near_miss(params.name, str(g.first("sAMAccountName") or ""))]
            hint = Msg(" ; proche : {names}", names=", ".join(close)) if close else ""
            return Verdict.non_conforme(Msg("groupe introuvable"), expected,
                                        Msg("Le groupe {name} n'existe pas{hint}.", name=params.name, hint=hint))
        group_type = int(group.first("groupType") or 0) & 0xFFFFFFFF
        scope = _scope_of(group_type)
        kind = "securite" if group_type & GROUP_SECURITY else "distribution"
        direct = self._direct(group, by_dn, found.entries)
        members = self._nested(group, by_dn, found.entries) if params.nested else direct
        nested = (Msg(" ; membres (imbrication comprise) : {names}", names=clip_list(sorted(members, key=str.lower)))
                  if params.nested and members != direct else "")
        observed = Msg("{dn} ; étendue {scope}, {kind} ; membres directs : {names}{nested}", dn=group.dn,
                       scope=_SCOPE_SAID.get(scope, scope),
                       kind=Msg("sécurité") if kind == "securite" else "distribution",
                       names=clip_list(sorted(direct, key=str.lower)), nested=nested)
        problems: list[str | Msg] = []
        if params.ou is not None:
            ok, why = in_location(group.dn, found.base, params.ou)
            if not ok:
                problems.append(why)
        if params.scope and scope != params.scope:
            problems.append(Msg("étendue {scope} au lieu de {wanted}", scope=_SCOPE_SAID.get(scope, scope),
                                wanted=params.scope))
        if params.type and kind != params.type:
            problems.append(Msg("groupe de {kind} au lieu de {wanted}",
                                kind=Msg("sécurité") if kind == "securite" else "distribution",
                                wanted=Msg("sécurité") if params.type == "securite" else "distribution"))
        have = {m.lower() for m in members}
        missing = [m for m in params.members if m.lower() not in have]
        if missing:
            problems.append(Msg("membres absents : {items}", items=", ".join(missing)))
        if params.exact:
            extra = sorted((m for m in direct if m.lower() not in {x.lower() for x in params.members}), key=str.lower)
            if extra:
                problems.append(Msg("membres en trop : {items}", items=", ".join(extra)))
        if problems:
            return Verdict.non_conforme(observed, expected,
                                        Msg("Le groupe {name} : {items}.", name=params.name, items=problems))
        return Verdict.conforme(observed, expected, Msg("Le groupe {name} est conforme.", name=params.name))

    @staticmethod
    def _name_of(dn: str, by_dn: Mapping[str, Entry]) -> str:
        entry = by_dn.get(dn.lower())
        if entry is not None and entry.first("sAMAccountName"):
            return str(entry.first("sAMAccountName"))
        return split_dn(dn)[0][1] if dn else dn

    def _direct(self, group: Entry, by_dn: Mapping[str, Entry], entries: list[Entry]) -> set[str]:
        names = {self._name_of(str(dn), by_dn) for dn in group.all("member")}
        # Members through their primary group (Domain Users...) are not in "member".
        sid = str(group.first("objectSid") or "")
        rid = sid.rsplit("-", 1)[-1] if sid.startswith("S-") else None
        if rid:
            names |= {str(e.first("sAMAccountName")) for e in entries if str(e.first("primaryGroupID", "")) == rid}
        return names

    def _nested(self, group: Entry, by_dn: Mapping[str, Entry], entries: list[Entry]) -> set[str]:
        seen_groups = {group.dn.lower()}
        todo = [group]
        names: set[str] = set()
        while todo:
            current = todo.pop()
            names |= self._direct(current, by_dn, entries)
            for dn in current.all("member"):
                member = by_dn.get(str(dn).lower())
                if member is not None and "group" in [str(c).lower() for c in member.all("objectClass")] \
                        and member.dn.lower() not in seen_groups:
                    seen_groups.add(member.dn.lower())
                    todo.append(member)
        return names

    @staticmethod
    def _expected(p: Params) -> Msg:
        members = ""
        if p.members:
            members = (Msg(", membres {names} (exactement)", names=", ".join(p.members)) if p.exact
                       else Msg(", membres {names}", names=", ".join(p.members)))
        return Msg("groupe {name}{ou}{scope}{type}{members}", name=p.name,
                   ou=Msg(", dans {path}", path="/".join(parse_path(p.ou))) if p.ou is not None else "",
                   scope=Msg(", étendue {scope}", scope=p.scope) if p.scope else "",
                   type="" if not p.type else Msg(", sécurité") if p.type == "securite" else ", distribution",
                   members=members)
