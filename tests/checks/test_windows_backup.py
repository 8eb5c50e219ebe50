"""backup.windows_recent: ``Get-WBBackupSet`` outputs in tests/winrm_standin/recordings (documentation-derived)."""

from __future__ import annotations

from dataclasses import replace

import pydantic
import pytest

from checks.windows.backup import WindowsBackupRecent
from grader.model import Status
from tests.winrm_standin.recordings import result as rec


def at(name: str, started: str):
    return replace(rec(name), started=started)


def test_the_last_backup_is_recent_then_too_old(judge):
    v = judge(WindowsBackupRecent, {}, sets=at("get_wbbackupset_two_versions", "2026-12-07T08:00:00+00:00"))
    assert v.status is Status.CONFORME and "12/06/2026-21:00 du 2026-12-06 21:00 UTC (C:)" in v.observed
    v = judge(WindowsBackupRecent, {}, sets=at("get_wbbackupset_two_versions", "2026-12-09T08:00:00+00:00"))
    assert v.status is Status.NON_CONFORME and "date du 2026-12-06 21:00 UTC" in v.message


def test_only_backups_holding_the_volume_count(judge):
    v = judge(WindowsBackupRecent, {"volume": "D:", "max_age_hours": 12},
              sets=at("get_wbbackupset_two_versions", "2026-12-07T08:00:00+00:00"))
    assert v.status is Status.NON_CONFORME and "2026-12-05 21:00 UTC" in v.message and "volume D:" in v.message


def test_no_backup_is_non_conforme_and_no_module_erreur(judge):
    v = judge(WindowsBackupRecent, {}, sets=at("get_wbbackupset_none", "2026-12-07T08:00:00+00:00"))
    assert v.status is Status.NON_CONFORME and "Aucune sauvegarde" in v.message
    v = judge(WindowsBackupRecent, {}, sets=at("get_wbbackupset_not_installed", "2026-12-07T08:00:00+00:00"))
    assert v.status is Status.ERREUR and "n'existe pas" in v.message


def test_parameters_are_validated():
    with pytest.raises(pydantic.ValidationError):
        WindowsBackupRecent.Params(volume=" ")


def test_without_the_time_of_the_reading_the_age_is_not_guessed(judge):
    v = judge(WindowsBackupRecent, {}, sets=at("get_wbbackupset_two_versions", ""))
    assert v.status is Status.ERREUR and "heure de la lecture inconnue" in v.message
