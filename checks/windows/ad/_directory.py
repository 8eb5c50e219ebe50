"""What the AD checks share: the searches every DC answers once, and how a DN is placed in the tree."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator, Field

from checks.windows._ad import (
    Search,
    parent_path,
    parse_path,
    path_near_miss,
    read,
    same_path,
    show_path,
    validate_path,
)
from grader.model import Msg, ProbeResult, Verdict
from grader.probes.ldap import search

#: An OU written from the domain root ("Siège/Comptabilité") or as a DN, validated in one place.
OuPath = Annotated[str, Field(min_length=1), AfterValidator(validate_path)]


OUS = search("(objectClass=organizationalUnit)", ["ou", "name", "gPLink", "gPOptions", "description"])

DOMAIN = search("(objectClass=*)", ["gPLink", "gPOptions", "minPwdLength", "pwdHistoryLength", "maxPwdAge",
                                    "minPwdAge", "pwdProperties", "lockoutThreshold", "lockoutDuration",
                                    "lockOutObservationWindow"], scope="base")


GPOS = search("(objectClass=groupPolicyContainer)", ["cn", "displayName", "flags", "versionNumber",
                                                      "gPCFileSysPath"], base="CN=Policies,CN=System", scope="one")

PRINCIPALS = search("(|(objectClass=group)(objectClass=user))",
                    ["sAMAccountName", "objectClass", "groupType", "member", "objectSid", "primaryGroupID"])


UF_ACCOUNTDISABLE = 0x2

SAM_PATTERN = re.compile(r'^[^"/\\\[\]:;|=,+*?<>@]{1,20}$')


def sam_name(value: str) -> str:
    if value != value.strip() or not SAM_PATTERN.match(value):
        raise ValueError("nom de connexion invalide (20 caractères au plus, sans \" / \\ [ ] : ; | = , + * ? < > @)")
    return value


#: A sAMAccountName (a user's login, a group's name), checked when the rubric loads.
SamName = Annotated[str, AfterValidator(sam_name)]


def ou_search(results: Mapping[str, ProbeResult]) -> Search | Verdict:
    return read(results["ous"], Msg("unités d'organisation"))


def location_of(dn: str, base: str) -> str | Msg:
    path = parent_path(dn, base)
    return show_path(path) if path is not None else dn


def in_location(dn: str, base: str, expected: str) -> tuple[bool, Msg | str]:
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


#: AD intervals and dates count 100 ns ticks.
TICKS_PER_DAY = 864_000_000_000
