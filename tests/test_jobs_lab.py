"""Jobs that ran, scripts that work (issue #12), on a booted lab host through the real SSH batch.

One Debian host of its own (not the demo room): a timer firing every ten seconds whose oneshot
service writes a tarball, and the script it runs. The grader reads them as in an exam: the
timer's calendar normalised by the host's systemd-analyze, its last trigger and its service's
exit measured on the host's clock, the cron CMD lines of the journal (through sudo), and the
script checked by bash -n on the host and by shellcheck on the grader (Check.analyse), whose
output is kept as evidence beside the probes'.
"""

from __future__ import annotations

import time

import pytest

from checks.linux import scripts
from grader.lab.hosts import HostSpec
from grader.model import Status
from grader.plugins import default_catalogue
from grader.roster import Candidate
from grader.rubric import load_rubric
from grader.runner import plan, run_jobs
from tests.conftest import lab_available, locked_lab

NAME, IP = "j12-srv", "10.77.250.12"
SCRIPT = """#!/bin/bash
# sauvegarde.sh : archive /etc dans /var/backups/etc.tar.gz
# Usage : sauvegarde.sh
set -eu
/usr/bin/tar -czf /var/backups/etc.tar.gz /etc 2>/dev/null
"""
UNITS = {
    "/etc/systemd/system/sauvegarde.service": "[Service]\nType=oneshot\nExecStart=/usr/local/bin/sauvegarde.sh\n",
    "/etc/systemd/system/sauvegarde.timer": "[Timer]\nOnCalendar=*:*:0/10\nAccuracySec=1s\n"
                                            "[Install]\nWantedBy=timers.target\n",
    "/etc/cron.d/inventaire": "* * * * * root /usr/bin/true inventaire\n",
}
RUBRIC = f"""\
rubric: jobs-lab
title: Tâches planifiées
credentials:
  correcteur: {{username: grader, key_file: /var/lib/grader/lab/id_ed25519}}
hosts:
  - {{name: srv, role: serveur, platform: linux, address: {IP}, credential: correcteur, sudo: true,
      connect_timeout: 3}}
checks:
  - {{id: minuteur, check: linux.timer, host: srv, criterion: CP11.2,
      params: {{timer: sauvegarde, calendar: "*:*:0/10", ran_within_hours: 1}}}}
  - {{id: service, check: linux.job_ran, host: srv, criterion: CP11.2, params: {{unit: sauvegarde, within_hours: 1}}}}
  - {{id: cron, check: linux.job_ran, host: srv, criterion: CP11.2,
      params: {{command: inventaire, user: root, within_hours: 1}}}}
  - {{id: script, check: script.bash, host: srv, criterion: CP11.4,
      params: {{path: /usr/local/bin/sauvegarde.sh, usage: true, artefact: /var/backups/etc.tar.gz,
               artefact_max_age_hours: 1}}}}
"""


def _plant(h) -> None:
    h.run("/bin/sh", "-c", "cat > /usr/local/bin/sauvegarde.sh && chmod 755 /usr/local/bin/sauvegarde.sh", input=SCRIPT)
    for path, text in UNITS.items():
        h.run("/bin/sh", "-c", f"cat > {path}", input=text)
    h.run("/bin/sh", "-c", "/usr/bin/systemctl daemon-reload && /usr/bin/systemctl enable --now sauvegarde.timer")


@pytest.mark.lab
@pytest.mark.own_lab  # boots its own host: after the demo room
def test_a_timer_that_ran_a_cron_job_and_a_script_checked_on_the_grader(tmp_path):
    if not lab_available():
        pytest.skip("le labo exige root et systemd-nspawn (apt-get install systemd-container)")
    if scripts.shellcheck_executable() is None:
        pytest.skip("shellcheck absent de cette machine (scripts/setup l'installe)")
    with locked_lab() as lab:
        try:
            lab.up([HostSpec(name=NAME, ip=IP, setup=_plant)], timeout=90)
            deadline = time.monotonic() + 90  # the timer within 10 s, cron at the next minute
            while time.monotonic() < deadline:
                seen = lab.nsenter(NAME, "/bin/sh", "-c", "/usr/bin/systemctl show -p ExecMainStatus --value "
                                   "sauvegarde.service; /usr/bin/journalctl -q _COMM=cron | /bin/grep -c ' CMD '")
                if seen.stdout.split()[-1:] not in (["0"], []) and "0" in seen.stdout.split()[:1]:
                    break
                time.sleep(3)
            path = tmp_path / "bareme.yaml"
            path.write_text(RUBRIC.replace("/var/lib/grader/lab/id_ed25519", str(lab.key_path)), encoding="utf-8")
            catalogue = default_catalogue()
            rubric = load_rubric(path, catalogue)
            [report] = run_jobs(plan(rubric, [Candidate("01")], catalogue), known_hosts_path=lab.known_hosts_path,
                                workers=1)
        finally:
            lab.down()
    results = {r.check_id: r for r in report.results}
    assert {k: r.status for k, r in results.items()} == dict.fromkeys(results, Status.CONFORME), \
        {k: (r.observed, r.message) for k, r in results.items()}
    assert "OnCalendar : *-*-* *:*:00/10" in results["minuteur"].observed
    assert "(root) /usr/bin/true inventaire" in results["cron"].observed
    assert "bash -n : aucune erreur" in results["script"].observed
    analysis = [p for p in report.probes if p.transport == "grader"]
    assert [p.key for p in analysis] == [results["script"].probe_keys["shellcheck"]]
    assert analysis[0].exit_code == 0 and '"comments":[]' in analysis[0].stdout
