"""windows.scheduled_task: ``Get-ScheduledTask`` + ``Get-ScheduledTaskInfo`` outputs recorded in tests/winrm_standin/recordings."""

from __future__ import annotations

import json

import pydantic
import pytest

from checks.windows.tasks import ScheduledTask
from grader.model import Status
from tests.winrm_standin.recordings import result as rec

DAILY = "get_scheduledtask_sauvegarde_daily"


def test_daily_task_at_two_running_the_script(judge):
    params = {"task": "Sauvegarde Comptabilité", "path": "\\TSSR\\", "trigger": "daily", "at": "02:00",
              "command_contains": "sauvegarde.ps1", "run_as": "SYSTEM"}
    v = judge(ScheduledTask, params, task=rec(DAILY))
    assert v.status is Status.CONFORME
    assert "quotidien à 02:00" in v.observed and "dernière exécution 2026-11-28 02:00 UTC (résultat 0)" in v.observed


@pytest.mark.parametrize("params,why", [
    ({"trigger": "weekly"}, "déclencheur"),
    ({"at": "03:00"}, "déclencheur"),
    ({"command_contains": "robocopy"}, "robocopy"),
    ({"run_as": "TSSR\\adm-compta"}, "SYSTEM"),
    ({"enabled": False}, "activée"),
])
def test_each_criterion_can_fail(judge, params, why):
    v = judge(ScheduledTask, {"task": "Sauvegarde Comptabilité", **params}, task=rec(DAILY))
    assert v.status is Status.NON_CONFORME and why in v.message


def test_disabled_weekly_task_never_run(judge):
    v = judge(ScheduledTask, {"task": "Nettoyage"}, task=rec("get_scheduledtask_weekly_disabled"))
    assert v.status is Status.NON_CONFORME and "désactivée" in v.message
    assert "hebdomadaire (lundi, vendredi) à 22:30" in v.observed
    assert "dernière exécution" not in v.observed, "1999-11-30 means never run"
    v = judge(ScheduledTask, {"task": "Nettoyage", "enabled": False, "trigger": "weekly", "days": ["monday", "friday"],
                              "at": "22:30"}, task=rec("get_scheduledtask_weekly_disabled"))
    assert v.status is Status.CONFORME
    v = judge(ScheduledTask, {"task": "Nettoyage", "enabled": False, "days": ["tuesday"]},
              task=rec("get_scheduledtask_weekly_disabled"))
    assert v.status is Status.NON_CONFORME


def test_same_name_in_two_folders_any_matching_one_counts(judge):
    v = judge(ScheduledTask, {"task": "Sauvegarde", "trigger": "daily", "command_contains": "sauvegarde.ps1"},
              task=rec("get_scheduledtask_two_folders"))
    assert v.status is Status.CONFORME and "\\TSSR\\Sauvegarde" in v.observed


def test_a_disabled_trigger_does_not_count(judge):
    v = judge(ScheduledTask, {"task": "Sauvegarde", "trigger": "daily", "command_contains": "ancien.ps1"},
              task=rec("get_scheduledtask_two_folders"))
    assert v.status is Status.NON_CONFORME


def test_task_that_does_not_exist(judge):
    v = judge(ScheduledTask, {"task": "Sauvegarde Comptabilité"}, task=rec("get_scheduledtask_not_found"))
    assert v.status is Status.NON_CONFORME and "inexistante" in v.observed


@pytest.mark.parametrize("params", [{"task": "Sauve*"}, {"task": "x", "path": "TSSR"}, {"task": "x", "at": "2h00"},
                                    {"task": "x", "trigger": "monthly"}])
def test_parameters_are_validated(params):
    with pytest.raises(pydantic.ValidationError):
        ScheduledTask.Params(**params)


def test_probe_names_the_folder_only_when_given():
    assert "-TaskPath" not in ScheduledTask().probes(ScheduledTask.Params(task="x"))["task"].command
    assert "-TaskPath '\\TSSR\\'" in ScheduledTask().probes(ScheduledTask.Params(task="x", path="\\TSSR\\"))["task"].command


# The same task as an English and a French Windows name its account, and as its SID (issue #16).
DAILY_TWINS = [DAILY, "get_scheduledtask_sauvegarde_daily_fr", "get_scheduledtask_sauvegarde_daily_sid"]


@pytest.mark.parametrize("recording", DAILY_TWINS)
@pytest.mark.parametrize("account", ["SYSTEM", "Système", "système", "NT AUTHORITY\\SYSTEM", "AUTORITE NT\\Système",
                                     "S-1-5-18"])
def test_run_as_system_whatever_the_language(judge, recording, account):
    v = judge(ScheduledTask, {"task": "Sauvegarde Comptabilité", "run_as": account}, task=rec(recording))
    assert v.status is Status.CONFORME, v.message


@pytest.mark.parametrize("recording", DAILY_TWINS)
@pytest.mark.parametrize("account", ["TSSR\\adm-compta", "Administrateurs", "Administrators", "S-1-5-19",
                                     "SERVICE LOCAL"])
def test_run_as_another_account_whatever_the_language(judge, recording, account):
    v = judge(ScheduledTask, {"task": "Sauvegarde Comptabilité", "run_as": account}, task=rec(recording))
    assert v.status is Status.NON_CONFORME


def test_run_as_without_a_sid_compares_well_known_names_in_both_languages(judge):
    """A task read without its SID (UserSid null or absent): well-known names still match across languages."""
    v = judge(ScheduledTask, {"task": "Sauvegarde", "trigger": "daily", "run_as": "Système"},
              task=rec("get_scheduledtask_two_folders"))
    assert v.status is Status.CONFORME
    v = judge(ScheduledTask, {"task": "Sauvegarde", "trigger": "daily", "run_as": "TSSR\\adm-compta"},
              task=rec("get_scheduledtask_two_folders"))
    assert v.status is Status.NON_CONFORME


def test_the_probe_reads_the_principal_as_a_sid():
    command = ScheduledTask().probes(ScheduledTask.Params(task="x"))["task"].command
    assert "UserSid" in command and "[System.Security.Principal.SecurityIdentifier]" in command


# -- ran within N hours with result 0 (issue #12): LastRunTime / LastTaskResult against the host's clock ----

RAN = {"task": "Sauvegarde Comptabilité", "ran_within_hours": 12}


@pytest.mark.parametrize("name", [DAILY, "get_scheduledtask_sauvegarde_daily_fr", "get_scheduledtask_sauvegarde_daily_ps7"])
def test_ran_within_the_window_with_result_zero(judge, name):
    v = judge(ScheduledTask, RAN, task=rec(name), clock=rec("clock_utc_unix"))
    assert v.status is Status.CONFORME, v.message
    assert "dernière exécution 2026-11-28 02:00 UTC (résultat 0)" in v.observed  # ISO with +01:00 read as 02:00 UTC
    v = judge(ScheduledTask, {**RAN, "ran_within_hours": 8}, task=rec(name), clock=rec("clock_utc_unix"))
    assert v.status is Status.NON_CONFORME and "depuis 8 h" in v.message and "il y a 9.0 h" in v.observed


def test_last_run_failed_on_a_french_server(judge):
    v = judge(ScheduledTask, RAN, task=rec("get_scheduledtask_sauvegarde_failed_fr"), clock=rec("clock_utc_unix"))
    assert v.status is Status.NON_CONFORME and "a échoué (résultat 0x80070002)" in v.message
    v = judge(ScheduledTask, {"task": "Sauvegarde Comptabilité"}, task=rec("get_scheduledtask_sauvegarde_failed_fr"))
    assert v.status is Status.CONFORME  # without ran_within_hours the last result is evidence only


def test_never_ran_and_running(judge, result):
    v = judge(ScheduledTask, {"task": "Nettoyage", "enabled": False, "ran_within_hours": 24},
              task=rec("get_scheduledtask_weekly_disabled"), clock=rec("clock_utc_unix"))
    assert v.status is Status.NON_CONFORME and "jamais exécutée" in v.message
    running = json.loads(rec("get_scheduledtask_two_folders").stdout)[1]  # \\TSSR\\Sauvegarde, LastTaskResult 267009
    v = judge(ScheduledTask, {"task": "Sauvegarde", "path": "\\TSSR\\", "ran_within_hours": 24},
              task=result(json.dumps(running), transport="winrm"), clock=rec("clock_utc_unix"))
    assert v.status is Status.NON_CONFORME and "en cours" in v.message


def test_unreadable_clock_is_erreur(judge, result):
    v = judge(ScheduledTask, RAN, task=rec(DAILY), clock=result('{\r\n    "Now":  "bientôt"\r\n}', transport="winrm"))
    assert v.status is Status.ERREUR and "horloge" in v.message


def test_clock_probe_only_when_asked():
    assert set(ScheduledTask().probes(ScheduledTask.Params(task="x"))) == {"task"}
    probes = ScheduledTask().probes(ScheduledTask.Params(task="x", ran_within_hours=24))
    assert probes["clock"].command.startswith("[pscustomobject]@{ Now = [DateTimeOffset]::UtcNow.ToUnixTimeSeconds()")
