"""Accounts: a user with its attributes, flags and place; a computer joined in an OU."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from pydantic import field_validator

from checks.windows._ad import (
    clip_list,
    near_miss,
    parse_path,
    read,
    same_name,
    visible,
)
from checks.windows.ad._directory import UF_ACCOUNTDISABLE, OuPath, SamName, in_location, location_of
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.ldap import NEVER, escape_filter_value, search

_COMPUTER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,14}$")




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
            ok, why = in_location(user.dn, found.base, params.ou)
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
        ok, why = in_location(pc.dn, found.base, params.ou)
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
                                                        name=params.name, place=location_of(pc.dn, found.base)))
