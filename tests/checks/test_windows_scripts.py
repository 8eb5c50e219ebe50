"""windows.ps_script_documented: the script read by PowerShell's parser, and the tasks that run it (recordings)."""

from __future__ import annotations

import pydantic
import pytest

from checks.windows.scripts import PsScriptDocumented
from grader.model import Status
from tests.winrm_standin.recordings import result as rec

PATH = "C:\\Scripts\\sauvegarde.ps1"


def test_documented_and_scheduled(judge):
    v = judge(PsScriptDocumented, {"path": PATH}, script=rec("script_documented"), tasks=rec("tasks_running_script"))
    assert v.status is Status.CONFORME
    assert ".SYNOPSIS : Sauvegarde les dossiers de la Comptabilité sur le NAS." in v.observed
    assert "\\TSSR\\Sauvegarde Comptabilité (active, quotidien à 02:00)" in v.observed
    v = judge(PsScriptDocumented, {"path": "c:\\scripts\\SAUVEGARDE.ps1", "task": "sauvegarde comptabilité"},
              script=rec("script_documented"), tasks=rec("tasks_running_script"))
    assert v.status is Status.CONFORME, "Windows paths and task names are compared without case"


def test_without_comment_based_help(judge):
    v = judge(PsScriptDocumented, {"path": PATH}, script=rec("script_without_help"), tasks=rec("tasks_running_script"))
    assert v.status is Status.NON_CONFORME and ".SYNOPSIS ni de .DESCRIPTION" in v.message


def test_synopsis_only_and_a_syntax_error(judge):
    v = judge(PsScriptDocumented, {"path": PATH, "scheduled": False}, script=rec("script_synopsis_only"))
    assert v.status is Status.NON_CONFORME
    assert "erreur(s) de syntaxe" in v.message and ".DESCRIPTION" in v.message


def test_a_disabled_task_running_another_copy_is_not_scheduling(judge):
    v = judge(PsScriptDocumented, {"path": PATH}, script=rec("script_documented"), tasks=rec("tasks_running_other_copy"))
    assert v.status is Status.NON_CONFORME and "aucune ne lance ce script" in v.observed


def test_expected_task_name(judge):
    v = judge(PsScriptDocumented, {"path": PATH, "task": "Autre"}, script=rec("script_documented"),
              tasks=rec("tasks_running_script"))
    assert v.status is Status.NON_CONFORME and "la tâche Autre" in v.message


def test_missing_file(judge):
    v = judge(PsScriptDocumented, {"path": PATH}, script=rec("script_not_found"), tasks=rec("tasks_running_script"))
    assert v.status is Status.NON_CONFORME and v.observed == "fichier absent"


@pytest.mark.parametrize("path", ["sauvegarde.ps1", "C:\\Scripts\\sauvegarde.txt", "C:\\Scripts\\*.ps1", "/tmp/a.ps1"])
def test_path_is_validated(path):
    with pytest.raises(pydantic.ValidationError):
        PsScriptDocumented.Params(path=path)


def test_the_script_is_parsed_never_run():
    command = PsScriptDocumented().probes(PsScriptDocumented.Params(path=PATH))["script"].command
    assert "Parser]::ParseFile" in command and "GetHelpContent()" in command
    assert "& " not in command and "Invoke-Expression" not in command and ". $" not in command


# -- the artefact the script produces (issue #12), against the host's clock -------------------------------

ART = {"path": PATH, "scheduled": False, "artefact": "D:\\Sauvegardes\\compta.zip"}


def test_artefact_present_and_fresh(judge):
    v = judge(PsScriptDocumented, {**ART, "artefact_max_age_hours": 12}, script=rec("script_documented"),
              artefact=rec("get_item_artefact_fresh"))
    assert v.status is Status.CONFORME
    assert "D:\\Sauvegardes\\compta.zip : 5242880 octets, écrit le 2026-11-28 02:05 UTC (il y a 8.9 h)" in v.observed
    v = judge(PsScriptDocumented, {**ART, "artefact_max_age_hours": 8}, script=rec("script_documented"),
              artefact=rec("get_item_artefact_fresh"))
    assert v.status is Status.NON_CONFORME and "plus de 8 h" in v.message


def test_artefact_absent(judge):
    v = judge(PsScriptDocumented, ART, script=rec("script_documented"), artefact=rec("get_item_artefact_absent"))
    assert v.status is Status.NON_CONFORME and "n'existe pas" in v.message


def test_artefact_param_is_a_full_windows_path():
    with pytest.raises(pydantic.ValidationError):
        PsScriptDocumented.Params(path=PATH, artefact="compta.zip")
    probe = PsScriptDocumented().probes(PsScriptDocumented.Params(**ART))["artefact"]
    assert "Get-Item -LiteralPath 'D:\\Sauvegardes\\compta.zip'" in probe.command and "ToUnixTimeSeconds()" in probe.command
