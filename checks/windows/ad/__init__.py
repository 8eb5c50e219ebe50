"""Active Directory checks read over LDAP (entry point ``windows_ad``): OUs, accounts, groups, GPOs; and what a user
of the domain can do, proved by doing it: log on (``logon``, the KDC), open a share (``share_access``).

One module per family of directory objects (``ous``, ``accounts``, ``groups``, ``gpos``,
``policy``, ``dns``); what they share (the searches, placing a DN in the tree) is ``_directory``.

They work alike against a Windows DC and a Samba AD DC: one bind with a reader account and a
few searches per DC (the ``ldap`` channel). Searches are shared: every check that needs the
list of OUs asks for the same one, so ten OU checks cost one search. Names are compared as
AD compares them: without regard to case, but accents and spaces count — « Comptabilite »
is not « Comptabilité », and the verdict says so.
"""

from __future__ import annotations

from checks.windows.ad._directory import DOMAIN, GPOS, OUS, PRINCIPALS, OuPath
from checks.windows.ad.accounts import ComputerInOu, UserAccount
from checks.windows.ad.dns import DnsRecord
from checks.windows.ad.gpos import GpoExists, GpoLink
from checks.windows.ad.groups import GroupMembers
from checks.windows.ad.logon import UserCanLogon
from checks.windows.ad.ous import InheritanceBlocked, OuExists
from checks.windows.ad.policy import PasswordPolicy
from checks.windows.ad.share_access import ShareAccessAs
from grader.check import Check
from grader.plugins import hookimpl

__all__ = ["CHECKS", "DOMAIN", "GPOS", "OUS", "PRINCIPALS", "ComputerInOu", "DnsRecord", "GpoExists", "GpoLink",
           "GroupMembers", "InheritanceBlocked", "OuExists", "OuPath", "PasswordPolicy", "ShareAccessAs", "UserAccount",
           "UserCanLogon"]

CHECKS: tuple[type[Check], ...] = (OuExists, UserAccount, GroupMembers, GpoExists, GpoLink, InheritanceBlocked,
                                   PasswordPolicy, ComputerInOu, DnsRecord, UserCanLogon,
                                   ShareAccessAs)


@hookimpl
def grader_register_checks() -> list[type[Check]]:
    """The Active Directory checks read over LDAP."""
    return list(CHECKS)
