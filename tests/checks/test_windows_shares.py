"""windows.smb_share: ``Get-SmbShare``, ``Get-SmbShareAccess`` and ``Get-Acl`` outputs recorded in tests/winrm_standin/recordings."""

from __future__ import annotations

import pydantic
import pytest

from checks.windows.shares import SmbShare, effective_mask, rights_name
from grader.model import Status
from tests.winrm_standin.recordings import result as rec

FULL = {"share": "Commun", "path": "D:\\Partages\\Commun\\", "group": "Comptabilité", "share_access": "change",
        "ntfs_access": "modify"}


def test_share_and_ntfs_permissions_for_the_group(judge):
    v = judge(SmbShare, FULL, share=rec("get_smbshare_commun"), access=rec("get_smbshareaccess_commun"),
              ntfs=rec("get_acl_commun"))
    assert v.status is Status.CONFORME
    assert "TSSR\\Comptabilité Allow Change" in v.observed and "TSSR\\Comptabilité Allow Modify (explicite)" in v.observed


def test_the_group_with_its_domain_and_another_case(judge):
    v = judge(SmbShare, {**FULL, "group": "tssr\\COMPTABILITÉ"}, share=rec("get_smbshare_commun"),
              access=rec("get_smbshareaccess_commun"), ntfs=rec("get_acl_commun"))
    assert v.status is Status.CONFORME


def test_change_is_not_full(judge):
    v = judge(SmbShare, {**FULL, "share_access": "full"}, share=rec("get_smbshare_commun"),
              access=rec("get_smbshareaccess_commun"), ntfs=rec("get_acl_commun"))
    assert v.status is Status.NON_CONFORME and "droit de partage full" in v.message


def test_a_deny_entry_wins_over_everyone_full(judge):
    v = judge(SmbShare, {"share": "Commun", "group": "Comptabilité", "share_access": "read"},
              share=rec("get_smbshare_commun"), access=rec("get_smbshareaccess_deny"))
    assert v.status is Status.NON_CONFORME and "Refuser" in v.message


def test_accents_are_exact_and_a_single_entry_is_not_wrapped(judge):
    v = judge(SmbShare, {"share": "Commun", "group": "Comptabilité", "share_access": "read"},
              share=rec("get_smbshare_commun"), access=rec("get_smbshareaccess_read_only"))
    assert v.status is Status.NON_CONFORME and "TSSR\\Comptabilite Allow Read" in v.observed
    v = judge(SmbShare, {"share": "Commun", "group": "Comptabilite", "share_access": "read"},
              share=rec("get_smbshare_commun"), access=rec("get_smbshareaccess_read_only"))
    assert v.status is Status.CONFORME


def test_generic_rights_and_inherit_only_entries(judge):
    params = {"share": "Commun", "group": "Comptabilité", "ntfs_access": "modify"}
    v = judge(SmbShare, params, share=rec("get_smbshare_commun"), ntfs=rec("get_acl_generic_read"))
    assert v.status is Status.NON_CONFORME, "GENERIC_READ|GENERIC_EXECUTE is not modify; inherit-only does not apply"
    assert "sous-dossiers seulement" in v.observed
    v = judge(SmbShare, {**params, "ntfs_access": "read_execute"}, share=rec("get_smbshare_commun"),
              ntfs=rec("get_acl_generic_read"))
    assert v.status is Status.CONFORME


def test_ntfs_deny_wins(judge):
    v = judge(SmbShare, {"share": "Commun", "group": "Comptabilité", "ntfs_access": "modify"},
              share=rec("get_smbshare_commun"), ntfs=rec("get_acl_deny_write"))
    assert v.status is Status.NON_CONFORME and "refusés" in v.message
    v = judge(SmbShare, {"share": "Commun", "group": "Comptabilité", "ntfs_access": "read"},
              share=rec("get_smbshare_commun"), ntfs=rec("get_acl_deny_write"))
    assert v.status is Status.CONFORME, "a denied write does not remove read"


def test_wrong_path_and_missing_share(judge):
    v = judge(SmbShare, {"share": "Commun", "path": "C:\\Commun"}, share=rec("get_smbshare_commun"))
    assert v.status is Status.NON_CONFORME and "D:\\Partages\\Commun" in v.message
    v = judge(SmbShare, FULL, share=rec("get_smbshare_not_found"), access=rec("get_smbshare_not_found"),
              ntfs=rec("get_smbshare_not_found"))
    assert v.status is Status.NON_CONFORME and v.observed == "partage inexistant"


def test_rights_arithmetic():
    assert rights_name(1245631) == "Modify" and rights_name(2032127) == "FullControl"
    assert rights_name(1179817) == "ReadAndExecute" and rights_name(268435456) == "FullControl"
    assert effective_mask(-1610612736) & 0x200A9 == 0x200A9 and effective_mask(-1610612736) & 0x10000 == 0


def test_rights_need_a_group():
    with pytest.raises(pydantic.ValidationError):
        SmbShare.Params(share="Commun", ntfs_access="read")


def test_only_the_probes_needed_are_declared():
    assert set(SmbShare().probes(SmbShare.Params(share="Commun"))) == {"share"}
    assert set(SmbShare().probes(SmbShare.Params(**FULL))) == {"share", "access", "ntfs"}


def test_an_offline_share_serves_nobody(judge):
    v = judge(SmbShare, {"share": "Commun", "path": "D:\\Partages\\Commun"}, share=rec("get_smbshare_offline"))
    assert v.status is Status.NON_CONFORME and "(Offline)" in v.observed and "hors ligne" in v.message
    # whatever the rights say: nobody reaches them
    v = judge(SmbShare, FULL, share=rec("get_smbshare_offline"), access=rec("get_smbshareaccess_commun"),
              ntfs=rec("get_acl_commun"))
    assert v.status is Status.NON_CONFORME and "hors ligne" in v.message


def test_a_share_in_a_transitional_state_cannot_be_judged(judge):
    v = judge(SmbShare, {"share": "Commun"}, share=rec("get_smbshare_pending"))
    assert v.status is Status.ERREUR and "Pending" in v.message


def test_custom_share_rights_cannot_be_judged(judge):
    v = judge(SmbShare, {"share": "Commun", "group": "Comptabilité", "share_access": "read"},
              share=rec("get_smbshare_commun"), access=rec("get_smbshareaccess_custom"))
    assert v.status is Status.ERREUR and "Custom" in v.message and "TSSR\\Comptabilité Allow Custom" in v.observed
    # a Custom entry next to one that grants enough: the right is there
    v = judge(SmbShare, {"share": "Commun", "group": "Tout le monde", "share_access": "read"},
              share=rec("get_smbshare_commun"), access=rec("get_smbshareaccess_custom"))
    assert v.status is Status.CONFORME


def test_every_entry_of_the_group_counts_wherever_it_stands(judge):
    # the group's explicit Modify comes after another account's entry and before its own inherited
    # ReadAndExecute: the rights add up, the weaker later entry takes nothing away
    v = judge(SmbShare, {"share": "Commun", "group": "Comptabilité", "ntfs_access": "modify"},
              share=rec("get_smbshare_commun"), ntfs=rec("get_acl_explicit_and_inherited"))
    assert v.status is Status.CONFORME
    assert "TSSR\\Comptabilité Allow Modify (explicite)" in v.observed
    assert "TSSR\\Comptabilité Allow ReadAndExecute (héritée)" in v.observed


# The same share on a French and an English Windows (issue #16): built-in accounts by SID, whatever the language.
LANGUAGES = [("get_smbshareaccess_commun", "get_acl_commun"), ("get_smbshareaccess_commun_en", "get_acl_commun_en")]


@pytest.mark.parametrize("access,ntfs", LANGUAGES)
@pytest.mark.parametrize("group,share_access,ntfs_access,status", [
    ("Comptabilité", "change", "modify", Status.CONFORME),
    ("Tout le monde", "read", None, Status.CONFORME),
    ("Everyone", "read", None, Status.CONFORME),
    ("S-1-1-0", "read", None, Status.CONFORME),
    ("Tout le monde", "change", None, Status.NON_CONFORME),
    ("BUILTIN\\Administrateurs", "full", "full_control", Status.CONFORME),
    ("Administrators", "full", "full_control", Status.CONFORME),
    ("Système", None, "full_control", Status.CONFORME),
    ("NT AUTHORITY\\SYSTEM", None, "full_control", Status.CONFORME),
    ("Utilisateurs du domaine", None, "read_execute", Status.CONFORME),
    ("TSSR\\Domain Users", None, "read_execute", Status.CONFORME),
    ("Domain Users", None, "modify", Status.NON_CONFORME),
    ("Users", None, "read_execute", Status.CONFORME),
    ("Utilisateurs", None, "modify", Status.NON_CONFORME),
    ("Invités", "read", "read", Status.NON_CONFORME),
    ("Guests", "read", "read", Status.NON_CONFORME),
])
def test_same_verdict_on_a_french_and_an_english_server(judge, access, ntfs, group, share_access, ntfs_access, status):
    params = {"share": "Commun", "group": group, "share_access": share_access, "ntfs_access": ntfs_access}
    recordings = {"share": rec("get_smbshare_commun")}
    if share_access:
        recordings["access"] = rec(access)
    if ntfs_access:
        recordings["ntfs"] = rec(ntfs)
    v = judge(SmbShare, {k: x for k, x in params.items() if x is not None}, **recordings)
    assert v.status is status, v.message


def test_built_in_names_match_across_languages_without_sids(judge):
    """Entries read without their SID (older probe, or a name that did not translate): the tables still apply."""
    v = judge(SmbShare, {"share": "Commun", "group": "Everyone", "share_access": "full"},
              share=rec("get_smbshare_commun"), access=rec("get_smbshareaccess_deny"))
    assert v.status is Status.CONFORME, v.message


def test_the_probes_read_sids():
    probes = SmbShare().probes(SmbShare.Params(share="Commun", group="x", share_access="read", ntfs_access="read"))
    assert "AccountSid" in probes["access"].command and "IdentitySid" in probes["ntfs"].command
    assert "[System.Security.Principal.SecurityIdentifier]" in probes["ntfs"].command
