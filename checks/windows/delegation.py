"""Delegation of control on an OU, read from its DACL over LDAP (entry point ``windows_delegation``).

The « Délégation de contrôle » wizard writes ACEs into the OU's ``nTSecurityDescriptor``.
The ``ldap`` channel reads every OU's descriptor in one search, with the LDAP_SERVER_SD_FLAGS
control asking for the DACL only: an ordinary authenticated account may read an OU's DACL
(``READ_CONTROL`` is part of the default read access) but not its SACL, and without the control
AD returns no descriptor at all to such an account. The group's SID comes from the principal
search the other ``ad.*`` checks share; the ACEs are matched on that SID, never on a name.

A right is delegated when an *allow* ACE for the group's SID grants it where the wizard puts
it (e.g. « réinitialiser les mots de passe »: the extended right 00299570-… inherited by user
objects, ``CIIO``) — a broader ACE (full control on every descendant) counts too. A *deny*
ACE for the same SID that takes the right away is reported and judged ``non_conforme``
(unless it is inherited while the allow is explicit: the explicit allow then wins, as in the
access check). ACEs for other groups do not count, even if the group is their member.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from checks._common.text import commas
from checks.windows._ad import (
    Entry,
    Search,
    containers,
    explain_missing,
    find_container,
    parse_path,
    read,
    same_name,
)
from checks.windows._ps import bars
from checks.windows._sd import (
    CONTAINER_INHERIT,
    CONTROL_ACCESS,
    CREATE_CHILD,
    DELETE_CHILD,
    FULL_CONTROL,
    INHERIT_ONLY,
    OBJECT_INHERIT,
    READ_PROP,
    WRITE_PROP,
    Ace,
    parse_descriptor,
)
from checks.windows.ad._directory import PRINCIPALS, OuPath
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.plugins import hookimpl
from grader.probes.ldap import search

OU_ACLS = search("(objectClass=organizationalUnit)", ["ou", "name", "nTSecurityDescriptor"], sd_flags=0x4)
USER_CLASS = "bf967aba-0de6-11d0-a285-00aa003049e2"
GROUP_CLASS = "bf967a9c-0de6-11d0-a285-00aa003049e2"
OU_CLASS = "bf967aa5-0de6-11d0-a285-00aa003049e2"
RESET_PASSWORD = "00299570-246d-11d0-a768-00aa006e0529"
MEMBER_ATTR = "bf9679c0-0de6-11d0-a285-00aa003049e2"


@dataclass(frozen=True)
class Grant:
    """One right the delegation must give: a mask, limited to ``object`` (class/attribute/extended right),
    on the OU itself (``on=None``) or inherited by its descendants of class ``on``."""

    mask: int
    object: str | None
    on: str | None
    label: Msg  # what the right is, as the messages say it


#: What each delegation of the wizard's list must give (MS « Delegation of Control » common tasks).
TASKS: dict[str, tuple[str, tuple[Grant, ...]]] = {
    "reset_password": ("réinitialiser les mots de passe des utilisateurs", (
        Grant(CONTROL_ACCESS, RESET_PASSWORD, USER_CLASS, Msg("droit étendu Réinitialiser le mot de passe sur les "
                                                          "objets Utilisateur descendants")),)),
    "create_delete_users": ("créer et supprimer des comptes d'utilisateur", (
        Grant(CREATE_CHILD | DELETE_CHILD, USER_CLASS, None,
                Msg("créer/supprimer des objets Utilisateur dans l'UO")),)),
    "manage_users": ("créer, supprimer et gérer les comptes d'utilisateur", (
        Grant(CREATE_CHILD | DELETE_CHILD, USER_CLASS, None, Msg("créer/supprimer des objets Utilisateur dans l'UO")),
        Grant(FULL_CONTROL, None, USER_CLASS, Msg("contrôle total sur les objets Utilisateur descendants")))),
    "group_membership": ("modifier l'appartenance d'un groupe", (
        Grant(READ_PROP | WRITE_PROP, MEMBER_ATTR, GROUP_CLASS, Msg("lire/écrire l'attribut member des objets Groupe "
                                                                "descendants")),)),
    "full_control": ("contrôle total", (
        Grant(FULL_CONTROL, None, None, Msg("contrôle total sur l'UO")),
        Grant(FULL_CONTROL, None, USER_CLASS, Msg("contrôle total hérité par les objets descendants")))),
}
#: The tasks as the messages say them (the labels of TASKS, in the report's language).
TASK_SAID = {"reset_password": Msg("réinitialiser les mots de passe des utilisateurs"),
             "create_delete_users": Msg("créer et supprimer des comptes d'utilisateur"),
             "manage_users": Msg("créer, supprimer et gérer les comptes d'utilisateur"),
             "group_membership": Msg("modifier l'appartenance d'un groupe"),
             "full_control": Msg("contrôle total")}
Task = Literal["reset_password", "create_delete_users", "manage_users", "group_membership", "full_control"]


def applies(ace: Ace, grant: Grant) -> bool:
    """Whether ``ace`` (found on the OU) reaches the objects ``grant`` is about."""
    if grant.on is None:  # the OU itself
        return not ace.flags & INHERIT_ONLY and ace.inherited_object_type in (None, OU_CLASS)
    if not ace.flags & (CONTAINER_INHERIT | OBJECT_INHERIT):
        return False
    return ace.inherited_object_type in (None, grant.on)


def limited_to(ace: Ace, grant: Grant) -> bool:
    """Whether the ACE's object type leaves the grant's right in: none (everything) or exactly the one asked."""
    return ace.object_type is None or (grant.object is not None and ace.object_type == grant.object)


def covers(ace: Ace, grant: Grant) -> bool:
    return ace.allow and applies(ace, grant) and limited_to(ace, grant) and \
        ace.effective_mask & grant.mask == grant.mask


def takes_away(ace: Ace, grant: Grant) -> bool:
    return ace.deny and applies(ace, grant) and limited_to(ace, grant) and bool(ace.effective_mask & grant.mask)


def judge_grants(aces: list[Ace], sid: str, grants: tuple[Grant, ...]) -> list[Msg]:
    """What is missing (one message per grant not given); empty when every grant is given."""
    mine = [a for a in aces if a.sid == sid]
    missing = []
    for grant in grants:
        allows = [a for a in mine if covers(a, grant)]
        denies = [a for a in mine if takes_away(a, grant)]
        if not allows:
            missing.append(Msg("{label} : aucune autorisation", label=grant.label))
            continue
        blocking = [d for d in denies if not (d.inherited and any(not a.inherited for a in allows))]
        if blocking:
            missing.append(Msg("{label} : refusé explicitement ({shown})", label=grant.label,
                               shown=blocking[0].said()))
    return missing


class OuDelegation(Check):
    """Le contrôle de l'UO {ou} est délégué à {group} ({task}).

    ``task``: ``reset_password`` (réinitialiser les mots de passe des utilisateurs),
    ``create_delete_users``, ``manage_users`` (créer, supprimer et gérer les comptes),
    ``group_membership`` (modifier l'appartenance des groupes) or ``full_control``. ``group`` is
    the group's logon name (sAMAccountName). The evidence lists every ACE found for the group.
    """

    id = "ad.ou_delegation"
    platform = "windows"
    transport = "ldap"

    class Params(CheckParams):
        ou: OuPath
        group: str = Field(min_length=1)
        task: Task = "reset_password"

    @classmethod
    def sentence_values(cls, params: object) -> dict[str, Any]:
        values = super().sentence_values(params)
        values["task"] = TASK_SAID.get(str(values.get("task")), values.get("task"))
        return values

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"acls": OU_ACLS, "principals": PRINCIPALS}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        acls = read(results["acls"], Msg("descripteurs de sécurité des UO"))
        if isinstance(acls, Verdict):
            return acls
        principals = read(results["principals"], Msg("comptes et groupes"))
        if isinstance(principals, Verdict):
            return principals
        _, grants = TASKS[params.task]
        expected = Msg("{ou} : {group} — {label}", ou=params.ou, group=params.group, label=TASK_SAID[params.task])
        path = parse_path(params.ou)
        ou = find_container(path, acls)
        if ou is None:
            if acls.truncated:
                return Verdict.erreur(Msg("liste des UO tronquée : impossible de conclure"), expected=expected)
            return Verdict.non_conforme(commas([c.shown for c in containers(acls)]) or Msg("(aucune UO)"), expected,
                                        explain_missing(path, acls))
        group = _group(params.group, principals)
        if group is None:
            if principals.truncated:
                return Verdict.erreur(Msg("liste des groupes tronquée : impossible de conclure"), expected=expected)
            return Verdict.non_conforme(Msg("aucun groupe {group}", group=params.group), expected,
                                        Msg("Le groupe « {group} » n'existe pas : rien ne peut lui être délégué.",
                                            group=params.group))
        sid = str(group.first("objectSid") or "")
        if not sid.startswith("S-"):
            return Verdict.erreur(Msg("SID du groupe {group} illisible : {sid}", group=params.group, sid=repr(sid)),
                                  expected=expected)
        raw = ou.entry.first("nTSecurityDescriptor")
        if not isinstance(raw, dict) or "base64" not in raw:
            return Verdict.erreur(Msg("le descripteur de sécurité de l'UO « {shown} » n'a pas été renvoyé (le compte "
                                      "de lecture peut-il lire sa DACL ?)", shown=ou.shown), observed=ou.dn,
                                  expected=expected)
        try:
            aces = parse_descriptor(base64.b64decode(raw["base64"]))
        except ValueError as exc:
            return Verdict.erreur(Msg("descripteur de sécurité de l'UO « {shown} » illisible : {exc}", shown=ou.shown,
                                      exc=exc), observed=ou.dn, expected=expected)
        if aces is None:
            return Verdict.non_conforme(Msg("{dn} : pas de DACL", dn=ou.dn), expected,
                                        Msg("L'UO « {shown} » n'a pas de DACL (tout est permis à tous) : ce n'est pas "
                                            "une délégation.", shown=ou.shown))
        mine = [a for a in aces if a.sid == sid]
        observed = Msg("{dn} — ACE de {group} ({sid}) : {aces}", dn=ou.dn, group=params.group, sid=sid,
                       aces=bars([a.said() for a in mine]) if mine else Msg("aucune"))
        missing = judge_grants(aces, sid, grants)
        if missing:
            return Verdict.non_conforme(observed, expected,
                                        Msg("Le contrôle de l'UO « {shown} » n'est pas délégué à {group} ({label}) : "
                                            "{items}.", shown=ou.shown, group=params.group,
                                            label=TASK_SAID[params.task], items=missing))
        return Verdict.conforme(observed, expected,
                                Msg("Le contrôle de l'UO « {shown} » est délégué à {group} ({label}).", shown=ou.shown,
                                    group=params.group, label=TASK_SAID[params.task]))


def _group(name: str, principals: Search) -> Entry | None:
    for e in principals.entries:
        classes = [str(c).lower() for c in e.all("objectClass")]
        if "group" in classes and same_name(str(e.first("sAMAccountName") or ""), name):
            return e
    return None


CHECKS: tuple[type[Check], ...] = (OuDelegation,)


@hookimpl
def grader_register_checks() -> list[type[Check]]:
    """The OU delegation check (DACL read over LDAP)."""
    return list(CHECKS)
