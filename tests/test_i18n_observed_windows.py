"""The Windows pack's ``observed`` and ``expected`` texts reach an English report in English, French unchanged.

As tests/test_i18n_observed.py does for the linux and network packs: verdicts judged on recorded
outputs (a Samba DC's OU DACLs and principals, an AD account, Get-SmbShare/Get-Acl, a weekly
scheduled task) go through the store; ``load_frames(..., lang="en")`` re-renders their texts from
the ``checks`` catalogue, and shows a text as stored when its reference no longer gives it back.
"""

from __future__ import annotations

from pathlib import Path

from checks.windows import ad
from checks.windows.delegation import OuDelegation
from checks.windows.shares import SmbShare
from checks.windows.tasks import ScheduledTask
from grader.check import evaluate
from grader.model import Status, Verdict
from grader.store import Store
from reports import aggregate
from tests.checks.test_ou_delegation import ASK
from tests.checks.test_ou_delegation import judge as judge_delegation
from tests.checks.test_windows_ad import judge as judge_ad
from tests.test_i18n_checks import _result, alter_store, session_with
from tests.winrm_standin.recordings import result as recording

SHARE = {"share": "Commun", "path": "D:\\Partages\\Commun\\", "group": "Comptabilité", "share_access": "change",
         "ntfs_access": "modify"}
USER = {"login": "alice", "ou": "Comptabilité", "given_name": "Alice", "surname": "Martin", "upn": "alice@tssr.lan",
        "must_change_password": True}
TASK = {"task": "Nettoyage"}


def _verdicts() -> dict[str, Verdict]:
    return {
        "delegation": judge_delegation(ASK),
        "user": judge_ad(ad.UserAccount, USER, user="c01_user_alice"),
        "share": evaluate(SmbShare(), SmbShare.Params(**SHARE),
                          {"share": recording("get_smbshare_commun"), "access": recording("get_smbshareaccess_commun"),
                           "ntfs": recording("get_acl_commun")}),
        "task": evaluate(ScheduledTask(), ScheduledTask.Params(**TASK),
                         {"task": recording("get_scheduledtask_weekly_disabled")}),
    }


def _store(tmp_path: Path) -> tuple[Store, str]:
    v = _verdicts()
    return session_with(tmp_path, [_result("delegation", OuDelegation, ASK, v["delegation"], "k1"),
                                   _result("user", ad.UserAccount, USER, v["user"], "k2"),
                                   _result("share", SmbShare, SHARE, v["share"], "k3"),
                                   _result("task", ScheduledTask, TASK, v["task"], "k4")])


def test_windows_verdicts_carry_references_for_their_observed_and_expected_texts() -> None:
    v = _verdicts()
    assert [v[k].status for k in ("delegation", "user", "share", "task")] == [
        Status.CONFORME, Status.CONFORME, Status.CONFORME, Status.NON_CONFORME]
    for verdict in v.values():
        assert verdict.observed_ref is not None and verdict.expected_ref is not None
        assert (verdict.observed_ref.render(), verdict.expected_ref.render()) == (verdict.observed, verdict.expected)


def test_english_report_shows_english_observed_and_expected_french_unchanged(tmp_path: Path) -> None:
    v = _verdicts()
    store, run_id = _store(tmp_path)
    fr = aggregate.load_frames(store, run_id).results.set_index("check_id")
    for check_id, verdict in v.items():  # French: exactly what the judge said
        assert (fr.loc[check_id, "observed"], fr.loc[check_id, "expected"]) == (verdict.observed, verdict.expected)
    assert "— ACE de GG_Compta (" in v["delegation"].observed
    assert "autoriser · droit étendu (Réinitialiser le mot de passe) · les objets Utilisateur descendants" in \
        v["delegation"].observed
    assert v["task"].observed.startswith("\\Nettoyage : Disabled, déclencheurs : hebdomadaire (lundi, vendredi) à 22:30")

    en = aggregate.load_frames(store, run_id, lang="en").results.set_index("check_id")
    observed = en.loc["delegation", "observed"]
    assert observed.startswith("OU=Comptabilité,DC=tssr,DC=lan — ACEs of GG_Compta (S-1-5-21-")
    assert "allow · extended right (Reset Password) · descendant User objects [mask 0x100, flags 0xa]" in observed
    assert "autoriser" not in observed and "descendants" not in observed
    assert en.loc["delegation", "expected"] == "Comptabilité: GG_Compta — reset user passwords"

    assert en.loc["user", "observed"] == (
        "CN=Alice Martin,OU=Comptabilité,DC=tssr,DC=lan; enabled; first name Alice; last name Martin; "
        "UPN alice@tssr.lan; must change the password; never expires")
    assert en.loc["user", "expected"] == ("account alice, in Comptabilité, enabled, first name Alice, last name Martin, "
                                          "UPN alice@tssr.lan, must change the password")

    assert en.loc["share", "observed"] == (
        "Commun → D:\\Partages\\Commun (Online); share: BUILTIN\\Administrateurs Allow Full, TSSR\\Comptabilité Allow "
        "Change, Tout le monde Allow Read; NTFS: TSSR\\Comptabilité Allow Modify (explicit)")
    assert en.loc["share", "expected"] == (
        "share Commun from D:\\Partages\\Commun\\, share: change for Comptabilité, NTFS: modify for Comptabilité")

    assert en.loc["task", "observed"] == ("\\Nettoyage: Disabled, triggers: weekly (Monday, Friday) at 22:30; "
                                          "actions: C:\\Windows\\System32\\cleanmgr.exe /sagerun:1")
    assert en.loc["task", "expected"] == "Nettoyage: enabled"


def test_a_stored_text_that_no_longer_matches_its_reference_is_shown_as_stored(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path)
    alter_store(store, "UPDATE results SET observed='autre chose' WHERE check_id='task'",
                "UPDATE results SET expected='partage Commun' WHERE check_id='share'")
    en = aggregate.load_frames(store, run_id, lang="en").results.set_index("check_id")
    # the evidence as stored, never another text; the other texts still match their references
    assert en.loc["task", "observed"] == "autre chose" and en.loc["task", "expected"] == "Nettoyage: enabled"
    assert en.loc["share", "expected"] == "partage Commun"
    assert en.loc["share", "observed"].startswith("Commun → D:\\Partages\\Commun (Online); share: ")
