"""backup.recent and backup.restorable (restic, borg) on outputs captured from the real tools.

The outputs below were captured on Debian 12 with restic 0.14.0 and borgbackup 1.2.4 (the versions of
the lab's hosts): a restic repository with one snapshot made with ``--time "2020-01-02 03:04:05"`` and
one made at 2026-12-06 16:17:07 UTC, a borg repository (``repokey``) with the archives ``old``
(``--timestamp 2020-01-02T03:04:05``) and ``new-2026-12-06T16:17:24``, read by the checks' own probes
(``restic --no-lock --no-cache … snapshots --json``, ``borg --bypass-lock list --json`` with ``TZ=UTC``).
"""

from __future__ import annotations

import pydantic
import pytest

from checks.linux.backup import BackupRecent, BackupRestorable
from grader.model import ProbeResult, Status
from grader.probes.ssh import SECRET

RESTIC_SNAPSHOTS = (
    '[{"time":"2020-01-02T03:04:05Z","tree":"76ecd07216b23f7670901525d4ea88a7c4db261e68165b0572be47fb8ac4fa12",'
    '"paths":["/srv/partage"],"hostname":"srv-lin","username":"root","id":"8fb07cbd992253c4566a5851e1f00d1c1430da46'
    '7325a4bf297166fac0420fd8","short_id":"8fb07cbd"},{"time":"2026-12-06T16:17:07.250496451Z","tree":"76ecd07216b'
    '23f7670901525d4ea88a7c4db261e68165b0572be47fb8ac4fa12","paths":["/srv/partage"],"hostname":"srv-lin",'
    '"username":"root","id":"da11245e7de2a476421f1c0fe740b0c497cd9f9180a6eda97cdb35421726fd4a",'
    '"short_id":"da11245e"}]\n')
BORG_LIST = """{
    "archives": [
        {
            "archive": "old",
            "barchive": "old",
            "id": "4a11dc60b7b34a2f1926ad39323a9edbf60f41586ca04de821fef178dd15c30e",
            "name": "old",
            "start": "2020-01-02T03:04:05.000000",
            "time": "2020-01-02T03:04:05.000000"
        },
        {
            "archive": "new-2026-12-06T16:17:24",
            "barchive": "new-2026-12-06T16:17:24",
            "id": "ebfe153f783a8b358e7d6d96218300cddada22df9b7a31e4b9079c18fadf3eaa",
            "name": "new-2026-12-06T16:17:24",
            "start": "2026-12-06T16:17:24.000000",
            "time": "2026-12-06T16:17:24.000000"
        }
    ],
    "encryption": {
        "mode": "repokey"
    },
    "repository": {
        "id": "f98bcfc0b305759e8b5e704df417c31647f65184bfd49ac0200b6c9e45276f42",
        "last_modified": "2026-12-06T16:17:25.000000",
        "location": "/srv/sauvegardes/borg"
    }
}
"""
SOON = "2026-12-06T18:00:00.000+00:00"  # the grader's clock: under 2 h after the recent backups
LATER = "2026-12-09T18:00:00.000+00:00"  # three days later
HASH = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
RESTIC = {"tool": "restic", "repository": "/srv/sauvegardes/restic", "path": "/srv/partage",
          "password_credential": "depot"}
BORG = {"tool": "borg", "repository": "/srv/sauvegardes/borg", "password_credential": "depot"}


def res(stdout: str = "", stderr: str = "", exit_code: int = 0, started: str = SOON) -> ProbeResult:
    return ProbeResult(key="k", transport="ssh", command="", stdout=stdout, stderr=stderr, exit_code=exit_code,
                       started=started)


@pytest.mark.parametrize("params,listing", [(RESTIC, RESTIC_SNAPSHOTS), (BORG, BORG_LIST)])
def test_a_recent_backup_is_conforme_and_an_old_one_non_conforme_with_its_date(judge, params, listing):
    v = judge(BackupRecent, params, list=res(listing))
    assert v.status is Status.CONFORME and "2026-12-06 16:17 UTC" in v.observed and "2 en tout" in v.observed
    v = judge(BackupRecent, params, list=res(listing, started=LATER))
    assert v.status is Status.NON_CONFORME and "date du 2026-12-06 16:17 UTC" in v.message
    assert "plus de 24 h" in v.message
    v = judge(BackupRecent, {**params, "max_age_hours": 96}, list=res(listing, started=LATER))
    assert v.status is Status.CONFORME


def test_only_the_selected_archives_count(judge):
    only_old = BORG_LIST.replace('"new-2026-12-06T16:17:24"', '"x"').split('        {\n            "archive": "x"')[0]
    only_old = only_old.rstrip().rstrip(",") + "\n    ]\n}\n"
    v = judge(BackupRecent, {**BORG, "archives": "old*"}, list=res(only_old))
    assert v.status is Status.NON_CONFORME and "2020-01-02 03:04 UTC" in v.message


@pytest.mark.parametrize("params,listing", [(RESTIC, "[]\n"), (BORG, '{"archives": [], "repository": {}}\n')])
def test_no_backup_is_non_conforme(judge, params, listing):
    v = judge(BackupRecent, params, list=res(listing))
    assert v.status is Status.NON_CONFORME and "Aucune sauvegarde" in v.message


@pytest.mark.parametrize("params,stderr,code", [
    (RESTIC, "Fatal: wrong password or no key found\n", 1),
    (BORG, "passphrase supplied in BORG_PASSPHRASE, by BORG_PASSCOMMAND or via BORG_PASSPHRASE_FD is incorrect.\n", 2),
])
def test_a_wrong_password_is_erreur_with_the_tools_words(judge, params, stderr, code):
    for check, probes in ((BackupRecent, {"list": res("", stderr, code)}),
                          (BackupRestorable, {"list": res("", stderr, code), "restore": res("", stderr, 0)})):
        extra = {"file": "/srv/partage/compta.ods"} if check is BackupRestorable else {}
        v = judge(check, {**params, **extra}, **probes)
        assert v.status is Status.ERREUR and stderr.strip() in v.message


@pytest.mark.parametrize("params,stderr", [
    (RESTIC, ("Fatal: unable to open config file: stat /srv/sauvegardes/restic/config: no such file or directory\n"
              "Is there a repository at the following location?\n/srv/sauvegardes/restic\n")),
    (BORG, "Repository /srv/sauvegardes/borg does not exist.\n"),
])
def test_no_repository_where_the_rubric_says_is_non_conforme(judge, params, stderr):
    v = judge(BackupRecent, params, list=res("", stderr, 1))
    assert v.status is Status.NON_CONFORME and "Aucun dépôt" in v.message


def test_a_backup_dated_in_the_future_is_shown_not_counted(judge):
    future = RESTIC_SNAPSHOTS.replace("2026-12-06T16:17:07.250496451Z", "2027-06-01T00:00:00Z")
    v = judge(BackupRecent, RESTIC, list=res(future))
    assert v.status is Status.NON_CONFORME and "dans le futur" in v.observed


def restore_output(restored: str = HASH, live: str = HASH, rc: str = "0", live_rc: str = "0",
                   archive: str | None = None) -> str:
    head = f"## archive {archive}\n" if archive is not None else ""
    live_line = f"{live}  /srv/partage/compta.ods\n" if live_rc == "0" else ""
    return (f"{head}## restore\n## restore-rc {rc}\n{restored}  -\n## live\n{live_line}## live-rc {live_rc}\n")


@pytest.mark.parametrize("params,listing,archive", [(RESTIC, RESTIC_SNAPSHOTS, None),
                                                    (BORG, BORG_LIST, "new-2026-12-06T16:17:24")])
def test_restored_file_equal_to_the_live_one_is_conforme_different_is_non_conforme(judge, params, listing, archive):
    p = {**params, "file": "/srv/partage/compta.ods"}
    v = judge(BackupRestorable, p, list=res(listing), restore=res(restore_output(archive=archive)))
    assert v.status is Status.CONFORME and "identique" in v.message and HASH[:16] in v.observed
    v = judge(BackupRestorable, p, list=res(listing), restore=res(restore_output(live="0" * 64, archive=archive)))
    assert v.status is Status.NON_CONFORME and "diffère du fichier en place" in v.message


def test_a_file_missing_from_the_backup_is_non_conforme(judge):
    p = {**RESTIC, "file": "/srv/partage/zz.txt"}
    stderr = 'cannot dump file: path "/srv/partage/zz.txt" not found in snapshot\n'
    v = judge(BackupRestorable, p, list=res(RESTIC_SNAPSHOTS), restore=res(restore_output(EMPTY, rc="2"), stderr))
    assert v.status is Status.NON_CONFORME and "n'est pas dans la dernière sauvegarde" in v.message
    stderr = "Include pattern 'srv/partage/zz.txt' never matched.\n"
    v = judge(BackupRestorable, {**BORG, "file": "/srv/partage/zz.txt"}, list=res(BORG_LIST),
              restore=res(restore_output(EMPTY, rc="1", archive="new-2026-12-06T16:17:24"), stderr))
    assert v.status is Status.NON_CONFORME


def test_an_unreadable_live_file_is_erreur_and_no_archive_non_conforme(judge):
    p = {**BORG, "file": "/srv/partage/compta.ods"}
    stderr = "/usr/bin/sha256sum: /srv/partage/compta.ods: Permission denied\n"
    v = judge(BackupRestorable, p, list=res(BORG_LIST), restore=res(restore_output(live_rc="1", archive="a"), stderr))
    assert v.status is Status.ERREUR and "Permission denied" in v.message
    v = judge(BackupRestorable, p, list=res('{"archives": []}'),
              restore=res("## archive \n## restore\n## restore-rc none\n## live\n## live-rc 1\n"))
    assert v.status is Status.NON_CONFORME and "Aucune sauvegarde" in v.message


def test_probes_are_read_only_and_carry_the_password_by_name_only():
    restic = BackupRestorable().probes(BackupRestorable.Params(**RESTIC, file="/srv/partage/compta.ods"))
    borg = BackupRestorable().probes(BackupRestorable.Params(**BORG, file="/srv/partage/compta.ods"))
    for probe in [*restic.values(), *borg.values()]:
        assert probe.secret == "depot" and SECRET in probe.command
    assert all("--no-lock --no-cache" in p.command for p in restic.values())
    assert all("--bypass-lock" in p.command and 'BORG_BASE_DIR="$t"' in p.command and "/bin/rm -rf" in p.command
               for p in borg.values())
    assert "restic --no-lock --no-cache -r /srv/sauvegardes/restic dump --path /srv/partage latest " \
           "/srv/partage/compta.ods" in restic["restore"].command
    assert "srv/partage/compta.ods" in borg["restore"].command and " /srv/partage/compta.ods" in borg["restore"].command
    # the same listing probe for both checks of a repository: one execution
    assert BackupRecent().probes(BackupRecent.Params(**RESTIC))["list"].key == restic["list"].key
    without = BackupRecent().probes(BackupRecent.Params(tool="restic", repository="/srv/r"))["list"]
    assert without.secret is None and SECRET not in without.command


@pytest.mark.parametrize("params", [
    {**RESTIC, "archives": "x-*"}, {**BORG, "path": "/srv"}, {**BORG, "repository": "--remote-path=x"},
    {**RESTIC, "path": "srv"}, {**RESTIC, "max_age_hours": 0},
])
def test_parameters_are_validated(params):
    with pytest.raises(pydantic.ValidationError):
        BackupRecent.Params(**params)
    with pytest.raises(pydantic.ValidationError):
        BackupRestorable.Params(**RESTIC, file="relatif.txt")
