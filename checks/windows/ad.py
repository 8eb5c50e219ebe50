"""Active Directory checks read over LDAP (entry point ``windows_ad``): OUs, accounts, groups, GPOs.

They work alike against a Windows DC and a Samba AD DC: one bind with a reader account and a
few searches per DC (the ``ldap`` channel). Searches are shared: every check that needs the
list of OUs asks for the same one, so ten OU checks cost one search. Names are compared as
AD compares them: without regard to case, but accents and spaces count — « Comptabilite »
is not « Comptabilité », and the verdict says so.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from checks._common.text import commas
from checks.windows._ad import (
    Container,
    Entry,
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
    near_miss,
    parent_path,
    parse_gplink,
    parse_path,
    path_near_miss,
    read,
    same_name,
    same_path,
    show_path,
    split_dn,
    validate_path,
    visible,
)
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.plugins import hookimpl
from grader.probes.dns import query as dns_query
from grader.probes.ldap import NEVER, escape_filter_value, search

#: An OU written from the domain root ("Siège/Comptabilité") or as a DN, validated in one place.
OuPath = Annotated[str, Field(min_length=1), AfterValidator(validate_path)]

# --- shared searches (equal searches run once per DC) -------------------------------------------

OUS = search("(objectClass=organizationalUnit)", ["ou", "name", "gPLink", "gPOptions", "description"])
DOMAIN = search("(objectClass=*)", ["gPLink", "gPOptions", "minPwdLength", "pwdHistoryLength", "maxPwdAge",
                                    "minPwdAge", "pwdProperties", "lockoutThreshold", "lockoutDuration",
                                    "lockOutObservationWindow"], scope="base")
GPOS = search("(objectClass=groupPolicyContainer)", ["cn", "displayName", "flags", "versionNumber",
                                                      "gPCFileSysPath"], base="CN=Policies,CN=System", scope="one")
PRINCIPALS = search("(|(objectClass=group)(objectClass=user))",
                    ["sAMAccountName", "objectClass", "groupType", "member", "objectSid", "primaryGroupID"])

UF_ACCOUNTDISABLE = 0x2
_SAM = re.compile(r'^[^"/\\\[\]:;|=,+*?<>@]{1,20}$')
_COMPUTER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,14}$")
_TICKS_PER_DAY = 864_000_000_000
_TICKS_PER_MINUTE = 600_000_000
_FOREVER = -0x8000000000000000  # "never" in interval attributes (maxPwdAge, lockoutDuration)


def _sam(value: str) -> str:
    if value != value.strip() or not _SAM.match(value):
        raise ValueError("nom de connexion invalide (20 caractères au plus, sans \" / \\ [ ] : ; | = , + * ? < > @)")
    return value


#: A sAMAccountName (a user's login, a group's name), checked when the rubric loads.
SamName = Annotated[str, AfterValidator(_sam)]


def _ou_search(results: Mapping[str, ProbeResult]) -> Search | Verdict:
    return read(results["ous"], Msg("unités d'organisation"))


def _location(dn: str, base: str) -> str | Msg:
    path = parent_path(dn, base)
    return show_path(path) if path is not None else dn


def _in_location(dn: str, base: str, expected: str) -> tuple[bool, Msg | str]:
    """Whether ``dn`` sits directly in the OU/container ``expected``; (ok, reason when not)."""
    path = parent_path(dn, base) or []
    wanted = parse_path(expected)
    if same_path(wanted, path):
        return True, ""
    why = path_near_miss(wanted, path)
    where = show_path(path)
    shown = "/".join(wanted) or Msg("(racine du domaine)")
    if why:
        return False, Msg("placé dans « {where} » au lieu de « {wanted} » ({why})", where=where, wanted=shown, why=why)
    return False, Msg("placé dans « {where} » au lieu de « {wanted} »", where=where, wanted=shown)


# --- OUs --------------------------------------------------------------------------------------


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
        ous = _ou_search(results)
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
        ous = _ou_search(results)
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


# --- accounts ---------------------------------------------------------------------------------

USER_ATTRS = ["sAMAccountName", "userPrincipalName", "givenName", "sn", "displayName", "userAccountControl",
              "pwdLastSet", "accountExpires"]


def _parse_expiry(value: str) -> date | None:
    if value.lower() in ("jamais", "never"):
        return None
    return date.fromisoformat(value)


def _expiry_instant(value: object) -> datetime | None:
    """accountExpires as a UTC instant; None for "never" (0 or the maximum)."""
    if value in (None, 0, NEVER):
        return None
    if isinstance(value, int):
        return None if value <= 0 or value >= NEVER else datetime(1601, 1, 1, tzinfo=UTC) + timedelta(
            microseconds=value // 10)
    return datetime.fromisoformat(str(value))


def _expiry_matches(instant: datetime, last_day: date) -> bool:
    """ADUC's « Fin de : 31/12 » stores the start of 01/01 (local time); PowerShell's -DateTime 31/12 the start
    of 31/12. Both mean "valid through that day" to a trainer: accept any instant from the start of the day to
    the start of the next, give or take the time zone (UTC-12 .. UTC+14)."""
    start = datetime(last_day.year, last_day.month, last_day.day, tzinfo=UTC) - timedelta(hours=14)
    end = start + timedelta(days=1, hours=26)
    return start <= instant <= end


class UserAccount(Check):
    """Le compte {login} existe dans l'annuaire avec les propriétés attendues.

    Only the properties given are checked: ``ou`` (the OU holding the account, path from the
    domain root), ``enabled`` (from userAccountControl, true by default), ``given_name``,
    ``surname``, ``upn``, ``must_change_password`` (« L'utilisateur doit changer le mot de passe
    à la prochaine ouverture de session » = pwdLastSet 0), ``expires`` (``jamais`` or the last
    valid day ``2026-12-31``, as the console's « Fin de : » shows it).
    """

    id = "ad.user"
    platform = "windows"
    transport = "ldap"

    class Params(CheckParams):
        login: SamName
        ou: OuPath | None = None
        enabled: bool | None = True
        given_name: str | None = None
        surname: str | None = None
        upn: str | None = None
        must_change_password: bool | None = None
        expires: str | None = None

        @field_validator("expires")
        @classmethod
        def _expires(cls, value: str | None) -> str | None:
            if value is not None:
                try:
                    _parse_expiry(value)
                except ValueError as exc:
                    raise ValueError("« jamais » ou une date AAAA-MM-JJ est attendu") from exc
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        flt = f"(&(objectClass=user)(!(objectClass=computer))(sAMAccountName={escape_filter_value(params.login)}))"
        return {"user": search(flt, USER_ATTRS)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        found = read(results["user"], Msg("compte"))
        if isinstance(found, Verdict):
            return found
        expected = self._expected(params)
        if not found.entries:
            return Verdict.non_conforme(Msg("compte introuvable"), expected,
                                        Msg("Le compte {login} n'existe pas.", login=params.login))
        if len(found.entries) > 1:
            return Verdict.erreur(Msg("plusieurs comptes portent ce nom"),
                                  observed=clip_list(e.dn for e in found.entries))
        user = found.entries[0]
        problems: list[str | Msg] = []
        uac = user.first("userAccountControl")
        enabled = isinstance(uac, int) and not uac & UF_ACCOUNTDISABLE
        pwd_last_set = user.first("pwdLastSet")
        expiry = _expiry_instant(user.first("accountExpires"))
        observed = Msg("{dn}; {state}; prénom {given_name}; nom {surname}; UPN {upn}; {password}; {expiry}",
                       dn=user.dn, state=Msg("activé") if enabled else Msg("désactivé"),
                       given_name=str(user.first("givenName") or "") or Msg("(vide)"),
                       surname=str(user.first("sn") or "") or Msg("(vide)"),
                       upn=str(user.first("userPrincipalName") or "") or Msg("(vide)"),
                       password=Msg("doit changer son mot de passe") if pwd_last_set == 0 else
                       Msg("mot de passe défini {value}", value=str(pwd_last_set)),
                       expiry=Msg("expire {date}", date=expiry.isoformat()) if expiry else Msg("n'expire jamais"))
        if params.ou is not None:
            ok, why = _in_location(user.dn, found.base, params.ou)
            if not ok:
                problems.append(why)
        if params.enabled is not None and enabled != params.enabled:
            problems.append(Msg("compte désactivé") if params.enabled else Msg("compte activé"))
        for label, attr, want in ((Msg("prénom"), "givenName", params.given_name), (Msg("nom"), "sn", params.surname),
                                  ("UPN", "userPrincipalName", params.upn)):
            if want is None:
                continue
            have = str(user.first(attr) or "")
            if not same_name(have, want):
                miss = near_miss(want, have)
                shown = visible(have) or Msg("(vide)")
                problems.append(Msg("{label} « {have} » au lieu de « {want} » ({why})", label=label, have=shown,
                                    want=want, why=miss) if miss else
                                Msg("{label} « {have} » au lieu de « {want} »", label=label, have=shown, want=want))
        if params.must_change_password is not None and (pwd_last_set == 0) != params.must_change_password:
            problems.append(Msg("ne doit pas changer son mot de passe à la prochaine ouverture de session")
                            if params.must_change_password else Msg("doit changer son mot de passe (pwdLastSet = 0)"))
        if params.expires is not None:
            want_day = _parse_expiry(params.expires)
            if want_day is None and expiry is not None:
                problems.append(Msg("le compte expire le {date} au lieu de jamais", date=expiry.date().isoformat()))
            elif want_day is not None and (expiry is None or not _expiry_matches(expiry, want_day)):
                problems.append(Msg("expiration {found} au lieu de la fin du {date}",
                                    found=expiry.isoformat() if expiry else Msg("jamais"), date=want_day.isoformat()))
        if problems:
            return Verdict.non_conforme(observed, expected,
                                        Msg("Le compte {login} : {problems}.", login=params.login, problems=problems))
        return Verdict.conforme(observed, expected,
                                Msg("Le compte {login} existe avec les propriétés attendues.", login=params.login))

    @staticmethod
    def _expected(p: Params) -> Msg:
        return Msg("compte {login}{ou}{enabled}{given_name}{surname}{upn}{password}{expires}", login=p.login,
                   ou=Msg(", dans {path}", path="/".join(parse_path(p.ou)) or Msg("(racine du domaine)"))
                   if p.ou is not None else "",
                   enabled="" if p.enabled is None else Msg(", activé") if p.enabled else Msg(", désactivé"),
                   given_name=Msg(", prénom {value}", value=p.given_name) if p.given_name else "",
                   surname=Msg(", nom {value}", value=p.surname) if p.surname else "",
                   upn=f", UPN {p.upn}" if p.upn else "",
                   password="" if p.must_change_password is None else Msg(", doit changer son mot de passe")
                   if p.must_change_password else Msg(", mot de passe définitif"),
                   expires=Msg(", expire : {value}", value=p.expires) if p.expires is not None else "")


class ComputerInOu(Check):
    """L'ordinateur {name} est joint au domaine et placé dans l'UO {ou}.

    The computer account (``NAME$``) must sit in the OU and carry what a joined machine writes
    itself (``dNSHostName``, ``operatingSystem``, a logon time): a pre-created account that no
    machine ever used is reported, not accepted. ``enabled`` (true by default) checks that the
    account is not disabled.
    """

    id = "ad.computer_in_ou"
    platform = "windows"
    transport = "ldap"

    class Params(CheckParams):
        name: str
        ou: OuPath
        enabled: bool = True

        @field_validator("name")
        @classmethod
        def _name(cls, value: str) -> str:
            if not _COMPUTER.match(value.removesuffix("$")):
                raise ValueError("nom d'ordinateur NetBIOS invalide (15 caractères : lettres, chiffres, tirets)")
            return value.removesuffix("$")


    def probes(self, params: Params) -> Mapping[str, Probe]:
        flt = f"(&(objectClass=computer)(sAMAccountName={escape_filter_value(params.name)}$))"
        return {"computer": search(flt, ["sAMAccountName", "dNSHostName", "operatingSystem",
                                         "operatingSystemVersion", "userAccountControl", "lastLogonTimestamp"])}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        found = read(results["computer"], Msg("ordinateur"))
        if isinstance(found, Verdict):
            return found
        expected = Msg("ordinateur {name} joint, dans {path}", name=params.name, path="/".join(parse_path(params.ou)))
        if not found.entries:
            return Verdict.non_conforme(Msg("aucun compte d'ordinateur"), expected,
                                        Msg("L'ordinateur {name} n'est pas joint au domaine (aucun compte {name}$).",
                                            name=params.name))
        pc = found.entries[0]
        uac = pc.first("userAccountControl")
        enabled = isinstance(uac, int) and not uac & UF_ACCOUNTDISABLE
        joined = [f"{a} {pc.first(a)}" for a in ("dNSHostName", "operatingSystem", "lastLogonTimestamp") if pc.first(a)]
        observed = Msg("{dn} ; {state} ; {seen}", dn=pc.dn, state=Msg("activé") if enabled else Msg("désactivé"),
                       seen=", ".join(joined) or Msg("jamais utilisé"))
        problems: list[str | Msg] = []
        ok, why = _in_location(pc.dn, found.base, params.ou)
        if not ok:
            problems.append(why)
        if params.enabled and not enabled:
            problems.append(Msg("compte d'ordinateur désactivé"))
        if not joined:
            problems.append(Msg("compte pré-créé mais aucune machine ne l'a utilisé (ni dNSHostName, ni système, ni "
                                "ouverture de session)"))
        if problems:
            return Verdict.non_conforme(observed, expected,
                                        Msg("L'ordinateur {name} : {items}.", name=params.name, items=problems))
        return Verdict.conforme(observed, expected, Msg("L'ordinateur {name} est joint et placé dans « {place} ».",
                                                        name=params.name, place=_location(pc.dn, found.base)))


# --- groups -----------------------------------------------------------------------------------

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
            ok, why = _in_location(group.dn, found.base, params.ou)
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


# --- GPOs -------------------------------------------------------------------------------------


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
        ous = _ou_search(results)
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


# --- domain password policy -------------------------------------------------------------------


class PasswordPolicy(Check):
    """La stratégie de mot de passe et de verrouillage du domaine a les valeurs attendues.

    Read on the domain object, where the DC applies the Default Domain Policy (on Windows a
    change made in the GPO reaches it at the DC's next policy refresh, within minutes). Only
    the values given are compared, exactly: ``min_length``, ``history``, ``max_age_days`` (0 =
    never expires), ``min_age_days``, ``complexity``, ``lockout_threshold`` (0 = never locked),
    ``lockout_duration_minutes`` (0 = until an administrator unlocks), ``lockout_window_minutes``.
    """

    id = "ad.password_policy"
    platform = "windows"
    transport = "ldap"

    class Params(CheckParams):
        min_length: int | None = Field(default=None, ge=0, le=255)
        history: int | None = Field(default=None, ge=0, le=24)
        max_age_days: int | None = Field(default=None, ge=0)
        min_age_days: int | None = Field(default=None, ge=0)
        complexity: bool | None = None
        lockout_threshold: int | None = Field(default=None, ge=0)
        lockout_duration_minutes: int | None = Field(default=None, ge=0)
        lockout_window_minutes: int | None = Field(default=None, ge=0)

        @model_validator(mode="after")
        def _something(self) -> PasswordPolicy.Params:
            if all(v is None for v in self.model_dump().values()):
                raise ValueError("indiquez au moins une valeur à vérifier (ex. min_length: 12)")
            return self

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"domain": DOMAIN}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        domain = read(results["domain"], Msg("objet domaine"))
        if isinstance(domain, Verdict):
            return domain
        if not domain.entries:
            return Verdict.erreur(Msg("objet domaine introuvable"))
        d = domain.entries[0]

        def days(attr: str) -> int | None:
            v = d.first(attr)
            return None if v is None else 0 if v in (_FOREVER, 0) else round(-int(v) / _TICKS_PER_DAY)

        def minutes(attr: str) -> int | None:
            v = d.first(attr)
            return None if v is None else 0 if v in (_FOREVER, 0) else round(-int(v) / _TICKS_PER_MINUTE)

        props = d.first("pwdProperties")
        actual = {
            "min_length": d.first("minPwdLength"), "history": d.first("pwdHistoryLength"),
            "max_age_days": days("maxPwdAge"), "min_age_days": days("minPwdAge"),
            "complexity": None if props is None else bool(int(props) & 1),
            "lockout_threshold": d.first("lockoutThreshold"),
            "lockout_duration_minutes": minutes("lockoutDuration"),
            "lockout_window_minutes": minutes("lockOutObservationWindow"),
        }
        wanted = {k: v for k, v in params.model_dump().items() if v is not None}
        said = {"min_length": Msg("longueur minimale"), "history": Msg("historique"),
                "max_age_days": Msg("durée de vie maximale (j)"), "min_age_days": Msg("durée de vie minimale (j)"),
                "complexity": Msg("complexité"), "lockout_threshold": Msg("seuil de verrouillage"),
                "lockout_duration_minutes": Msg("durée de verrouillage (min)"),
                "lockout_window_minutes": Msg("réinitialisation du compteur (min)")}  # labels, in the report's language

        def say(v: Any) -> Any:
            return (Msg("oui") if v else Msg("non")) if isinstance(v, bool) else Msg("(absent)") if v is None else v

        observed = commas([Msg("{label} {value}", label=said[k], value=say(actual[k]))
                           for k in said if actual[k] is not None])
        expected = commas([Msg("{label} {value}", label=said[k], value=say(v)) for k, v in wanted.items()])

        diffs = [Msg("{label} {found} au lieu de {wanted}", label=said[k], found=say(actual[k]), wanted=say(v))
                 for k, v in wanted.items() if actual[k] != v]
        if diffs:
            return Verdict.non_conforme(observed, expected,
                                        Msg("Stratégie de mot de passe du domaine : {items}.", items=diffs))
        return Verdict.conforme(observed, expected,
                                Msg("La stratégie de mot de passe du domaine a les valeurs attendues."))


# --- DNS, asked to the DC itself -------------------------------------------------------------

_FQDN = re.compile(r"^(?=.{1,253}\.?$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)+[A-Za-z0-9_-]{1,63}\.?$")


def _same_value(rdtype: str, expected: str, actual: str) -> bool:
    if rdtype in ("A", "AAAA"):
        try:
            return ipaddress.ip_address(expected) == ipaddress.ip_address(actual)
        except ValueError:
            return False
    if rdtype == "TXT":
        return actual.strip('"') == expected.strip('"')
    return actual.rstrip(".").lower() == expected.rstrip(".").lower() or \
        actual.lower().split()[-1].rstrip(".") == expected.rstrip(".").lower()


class DnsRecord(Check):
    """Le serveur DNS du domaine résout {name} ({type}).

    The question is sent by the grader to the DC's own DNS server (the host's address), as a
    client of the domain would ask it. With ``value``, one of the answers must be it (an
    address, or a target name for CNAME/MX/SRV/NS/PTR, compared without case or final dot).
    """

    id = "ad.dns_record"
    platform = "windows"
    transport = "dns"

    class Params(CheckParams):
        name: str
        type: Literal["A", "AAAA", "CNAME", "MX", "NS", "PTR", "SRV", "TXT"] = "A"
        value: str | None = None

        @field_validator("name")
        @classmethod
        def check_name(cls, value: str) -> str:
            if not _FQDN.match(value):
                raise ValueError("nom DNS complet attendu (ex. intranet.tssr.lan)")
            return value

        @field_validator("type", mode="before")
        @classmethod
        def upper(cls, value: object) -> object:
            return value.upper() if isinstance(value, str) else value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"dns": dns_query(params.name, params.type)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        r = results["dns"]
        expected = f"{params.name} {params.type}" + (f" {params.value}" if params.value else "")
        if r.exit_code == -1:
            return Verdict.non_conforme(r.stderr.strip(), expected, Msg("Le serveur DNS du domaine ne répond pas."))
        try:
            data = json.loads(r.stdout)
            answers = [a for a in data["answers"] if a["type"] == params.type]
            rcode = str(data["rcode"])
        except (ValueError, KeyError, TypeError):
            return Verdict.erreur(Msg("réponse DNS illisible"), observed=r.stdout[:300], expected=expected)
        shown = ", ".join(f"{a['name']} {a['type']} {a['value']}" for a in data["answers"])
        observed = f"{rcode} : {shown}" if shown else Msg("{rcode} : aucune réponse", rcode=rcode)
        if rcode == "NXDOMAIN":
            return Verdict.non_conforme(observed, expected,
                                        Msg("Le nom {name} n'existe pas dans le DNS du domaine.", name=params.name))
        if rcode in ("SERVFAIL", "FORMERR", "NOTIMP"):
            return Verdict.erreur(Msg("le serveur DNS a répondu {rcode}", rcode=rcode), observed=observed,
                                  expected=expected)
        if rcode != "NOERROR":
            return Verdict.non_conforme(observed, expected,
                                        Msg("Le serveur DNS refuse la question ({rcode}).", rcode=rcode))
        if not answers:
            return Verdict.non_conforme(observed, expected, Msg("Aucun enregistrement {type} pour {name}.",
                                                                type=params.type, name=params.name))
        if params.value and not any(_same_value(params.type, params.value, str(a["value"])) for a in answers):
            return Verdict.non_conforme(observed, expected, Msg("{name} ({type}) ne pointe pas vers {value}.",
                                                                name=params.name, type=params.type, value=params.value))
        return Verdict.conforme(observed, expected,
                                Msg("Le DNS du domaine résout {name} ({type}).", name=params.name, type=params.type))


CHECKS: tuple[type[Check], ...] = (OuExists, UserAccount, GroupMembers, GpoExists, GpoLink, InheritanceBlocked,
                                   PasswordPolicy, ComputerInOu, DnsRecord)


@hookimpl
def grader_register_checks() -> list[type[Check]]:
    """The Active Directory checks read over LDAP."""
    return list(CHECKS)
