"""backup.recent and backup.restorable on a real lab host (Debian 12: restic 0.14, borgbackup 1.2).

One host is booted; its setup makes, as a candidate would, a restic and a borg repository each with a
recent backup of /srv/partage, and each with an old twin whose only backup carries a faked date
(restic ``backup --time``, borg ``create --timestamp``); after the backups, /srv/partage/compta.txt
is changed. Then the checks are graded through the real SSH batch (sudo, one exec):

* recent backups: conforme; the old twins: non conforme, with their 2020 date;
* stable.txt restored from the latest backup: conforme; compta.txt, changed since: non conforme;
* the same repositories read with a wrong password: erreur, with restic's / borg's own words.

Nothing is written on the host: no lock in the repositories, no restic cache, no borg state under
/root, no temporary directory left; and the repository password is nowhere in what came back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.lab.hosts import HostShell, HostSpec
from grader.model import Status
from grader.plugins import default_catalogue
from grader.roster import Candidate
from grader.rubric import load_rubric
from grader.runner import plan, run_jobs
from tests.conftest import lab_available, locked_lab

pytestmark = [pytest.mark.lab, pytest.mark.own_lab]  # boots its own hosts: after the demo room

IP = "10.77.41.10"
PASSWORD = "Depot-Sauvegarde-2026"
SETUP = f"""
set -e
export RESTIC_PASSWORD='{PASSWORD}' BORG_PASSPHRASE='{PASSWORD}' BORG_DISPLAY_PASSPHRASE=no HOME=/root
/bin/mkdir -p /srv/partage /srv/sauvegardes
/usr/bin/printf 'bilan 2026\\n' >/srv/partage/compta.txt
/usr/bin/printf 'ne change pas\\n' >/srv/partage/stable.txt
/usr/bin/restic -q -r /srv/sauvegardes/restic init
/usr/bin/restic -q -r /srv/sauvegardes/restic backup /srv/partage
/usr/bin/restic -q -r /srv/sauvegardes/restic-ancien init
/usr/bin/restic -q -r /srv/sauvegardes/restic-ancien backup --time '2020-01-02 03:04:05' /srv/partage
/usr/bin/borg init -e repokey /srv/sauvegardes/borg
/usr/bin/borg create /srv/sauvegardes/borg::partage-{{now}} /srv/partage
/usr/bin/borg init -e repokey /srv/sauvegardes/borg-ancien
/usr/bin/borg create --timestamp 2020-01-02T03:04:05 /srv/sauvegardes/borg-ancien::partage-ancien /srv/partage
/usr/bin/printf 'bilan 2026, corrigé après la sauvegarde\\n' >/srv/partage/compta.txt
/bin/rm -rf /root/.cache /root/.config/borg
"""

RUBRIC = """\
rubric: sauvegardes-labo
title: Sauvegardes restic et borg
credentials:
  correcteur: {{username: grader, key_file: "{key}"}}
  depot: {{username: depot, password_env: GRADER_TEST_BACKUP_PASSWORD}}
  mauvais: {{username: depot, password_env: GRADER_TEST_BACKUP_WRONG}}
hosts:
  - {{name: srv, role: serveur-linux, platform: linux, address: "{ip}", credential: correcteur, sudo: true,
     connect_timeout: 5, budget: 300}}
checks:
{checks}
"""

CASES = {  # id -> (check, params, expected status)
    "restic-recente": ("backup.recent", "tool: restic, repository: /srv/sauvegardes/restic, path: /srv/partage",
                       Status.CONFORME),
    "restic-ancienne": ("backup.recent", "tool: restic, repository: /srv/sauvegardes/restic-ancien",
                        Status.NON_CONFORME),
    "restic-stable": ("backup.restorable", ("tool: restic, repository: /srv/sauvegardes/restic, "
                      "file: /srv/partage/stable.txt"), Status.CONFORME),
    "restic-modifie": ("backup.restorable", ("tool: restic, repository: /srv/sauvegardes/restic, "
                       "file: /srv/partage/compta.txt"), Status.NON_CONFORME),
    "restic-mauvais": ("backup.recent", ("tool: restic, repository: /srv/sauvegardes/restic, "
                       "password_credential: mauvais"), Status.ERREUR),
    "borg-recente": ("backup.recent", "tool: borg, repository: /srv/sauvegardes/borg, archives: 'partage-*'",
                     Status.CONFORME),
    "borg-ancienne": ("backup.recent", "tool: borg, repository: /srv/sauvegardes/borg-ancien", Status.NON_CONFORME),
    "borg-stable": ("backup.restorable", ("tool: borg, repository: /srv/sauvegardes/borg, "
                    "file: /srv/partage/stable.txt"), Status.CONFORME),
    "borg-modifie": ("backup.restorable", ("tool: borg, repository: /srv/sauvegardes/borg, "
                     "file: /srv/partage/compta.txt"), Status.NON_CONFORME),
    "borg-mauvais": ("backup.restorable", ("tool: borg, repository: /srv/sauvegardes/borg, "
                     "file: /srv/partage/stable.txt, password_credential: mauvais"), Status.ERREUR),
}


def _checks() -> str:
    lines = []
    for check_id, (check, params, _) in CASES.items():
        credential = "" if "password_credential" in params else ", password_credential: depot"
        lines.append(f"  - {{id: {check_id}, check: {check}, role: serveur-linux, criterion: CP9.1, "
                     f"params: {{{params}{credential}, max_age_hours: 24}}}}"
                     if check == "backup.recent" else
                     f"  - {{id: {check_id}, check: {check}, role: serveur-linux, criterion: CP9.1, "
                     f"params: {{{params}{credential}}}}}")
    return "\n".join(lines)


def _setup(shell: HostShell) -> None:
    done = shell.run("/bin/sh", "-c", SETUP, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_restic_and_borg_backups_graded_through_the_real_ssh_batch(tmp_path: Path, monkeypatch):
    if not lab_available():
        pytest.skip("le labo exige root et systemd-nspawn (apt-get install systemd-container)")
    monkeypatch.setenv("GRADER_TEST_BACKUP_PASSWORD", PASSWORD)
    monkeypatch.setenv("GRADER_TEST_BACKUP_WRONG", "pas-le-bon-mot-de-passe")
    with locked_lab() as lab:
        monkeypatch.setenv("GRADER_LAB_LOCK_HELD", "1")  # restored after the test: the room may still hold the lock
        try:
            lab.up([HostSpec(name="bk-srv-lin", ip=IP, hostname="srv-lin", setup=_setup)], timeout=120)
            path = tmp_path / "bareme.yaml"
            path.write_text(RUBRIC.format(key=lab.key_path, ip=IP, checks=_checks()), encoding="utf-8")
            jobs = plan(load_rubric(path), [Candidate("01")], default_catalogue())
            [report] = run_jobs(jobs, known_hosts_path=tmp_path / "known_hosts", workers=1)
            assert report.outcome.reached and report.outcome.execs == 1
            got = {c.check_id: c for c in report.results}
            for check_id, (_, _, status) in CASES.items():
                assert got[check_id].status is status, (check_id, got[check_id].message, got[check_id].observed)
            assert "2020-01-02 03:04 UTC" in got["restic-ancienne"].message
            assert "2020-01-02 03:04 UTC" in got["borg-ancienne"].message
            assert "wrong password" in got["restic-mauvais"].message
            assert "passphrase" in got["borg-mauvais"].message and "incorrect" in got["borg-mauvais"].message
            assert "diffère du fichier en place" in got["borg-modifie"].message
            for probe in report.probes:  # the password never came back, the commands hold the placeholder
                text = f"{probe.command}{probe.stdout}{probe.stderr}{probe.error}"
                assert PASSWORD not in text and "pas-le-bon" not in text
            # nothing written on the host: no lock, no cache, no borg state, no temporary directory left
            left = lab.nsenter("bk-srv-lin", "/bin/sh", "-c",
                               "/bin/ls -d /root/.cache /root/.config/borg /tmp/grader-borg.* 2>/dev/null; "
                               "/usr/bin/find /srv/sauvegardes/restic/locks /srv/sauvegardes/restic-ancien/locks "
                               "-type f; "
                               "/bin/ls -d /srv/sauvegardes/borg/lock* /srv/sauvegardes/borg-ancien/lock* 2>/dev/null; "
                               "true")
            assert left.stdout.strip() == "", left.stdout
        finally:
            lab.down()
