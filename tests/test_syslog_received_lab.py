"""network.syslog_received for real: a line logged on srv-a, searched in the files of the candidate's log servers.

Three lab hosts run real rsyslog. srv-a forwards everything (``*.* @…:514``) to both srv-log and
srv-log2. srv-log listens on UDP 514 and writes every remote line to /var/log/distants/<host>.log;
srv-log2 has the very same configuration, except that its imudp input is bound to 127.0.0.1:
both machines' configurations read as « forwarding to a collector that listens on 514 », only
srv-log ever writes the line. Graded through the runner (srv-a's batch runs ``logger``, then the
``ssh_peer`` channel reads the collectors):

* srv-log, through sudo: conforme, the line quoted with its file;
* srv-log2: non conforme (configured, never arriving);
* srv-log without sudo: the per-host file rsyslog made is readable, the line is found: conforme;
  srv-log2 without sudo: nothing found, but some files under /var/log are not readable by the
  grader's account: erreur (nothing can be concluded);
* a collector address where nothing answers: injoignable (erreur, saying so, when the host's other
  collectors answered: the channel's verdict is all or nothing); srv-a as its own collector: erreur.
"""

from __future__ import annotations

import time
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

A, LOG, LOG2, SILENT = "10.77.13.10", "10.77.13.11", "10.77.13.12", "10.77.13.13"

SENDER = f"*.* @{LOG}:514\n*.* @{LOG2}:514\n"
COLLECTOR = """\
module(load="imudp")
input(type="imudp" port="514" {bind}ruleset="distants")
template(name="ParHote" type="string" string="/var/log/distants/%HOSTNAME%.log")
ruleset(name="distants") {{ action(type="omfile" dynaFile="ParHote") }}
"""

RUBRIC = """\
rubric: journaux-centraux
title: Journaux envoyés au serveur du candidat
credentials:
  correcteur: {{username: grader, key_file: "{key}"}}
hosts:
  - {{name: srv-a, role: serveur-linux, platform: linux, address: "{a}", credential: correcteur, sudo: true,
     connect_timeout: 3}}
  - {{name: srv-a-seul, role: autre, platform: linux, address: "{a}", credential: correcteur, sudo: true,
     connect_timeout: 3}}
checks:
{checks}
"""

CASES = {  # id -> (params, expected status), on srv-a (srv-a-seul: its only check)
    "recu-srv-log": (f"collector: {LOG}, collector_sudo: true, paths: [/var/log/distants], wait: 10",
                     Status.CONFORME),
    "recu-srv-log2": (f"collector: {LOG2}, collector_sudo: true, paths: [/var/log/distants], wait: 4",
                      Status.NON_CONFORME),
    "recu-sans-sudo": (f"collector: {LOG}, paths: [/var/log/distants], wait: 10", Status.CONFORME),
    "non-recu-sans-sudo": (f"collector: {LOG2}, wait: 3", Status.ERREUR),
    "recu-muet": (f"collector: {SILENT}, collector_sudo: true, wait: 3", Status.INJOIGNABLE),
    "recu-muet-parmi-d-autres": (f"collector: {SILENT}, collector_sudo: true, wait: 2", Status.ERREUR),
    "recu-soi-meme": (f"collector: {A}, collector_sudo: true, wait: 3", Status.ERREUR),
}


def _checks() -> str:
    def host(cid: str) -> str:
        return "srv-a-seul" if cid == "recu-muet" else "srv-a"

    return "\n".join(f"  - {{id: {cid}, check: network.syslog_received, host: {host(cid)}, criterion: CP13.3, "
                     f"params: {{{params}}}}}" for cid, (params, _) in CASES.items())


def _rsyslog(conf: str):
    def setup(shell: HostShell) -> None:
        script = ("set -e; /usr/bin/mkdir -p /var/log/distants; "
                  "/usr/bin/cat > /etc/rsyslog.d/examen.conf; /usr/bin/systemctl restart rsyslog")
        done = shell.run("/bin/sh", "-c", script, input=conf, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
    return setup


def test_a_line_must_be_written_by_the_candidates_own_collector(tmp_path: Path, monkeypatch):
    if not lab_available():
        pytest.skip("le labo exige root et systemd-nspawn (apt-get install systemd-container)")
    with locked_lab() as lab:
        monkeypatch.setenv("GRADER_LAB_LOCK_HELD", "1")
        try:
            lab.up([HostSpec(name="us-log", ip=LOG, hostname="srv-log", setup=_rsyslog(COLLECTOR.format(bind=""))),
                    HostSpec(name="us-log2", ip=LOG2, hostname="srv-log2",
                             setup=_rsyslog(COLLECTOR.format(bind='address="127.0.0.1" '))),
                    HostSpec(name="us-a", ip=A, hostname="srv-a", setup=_rsyslog(SENDER))], timeout=120)
            path = tmp_path / "bareme.yaml"
            path.write_text(RUBRIC.format(key=lab.key_path, a=A, checks=_checks()), encoding="utf-8")
            jobs = plan(load_rubric(path), [Candidate("01")], default_catalogue())
            t0 = time.perf_counter()
            reports = run_jobs(jobs, known_hosts_path=lab.known_hosts_path, workers=1)
            print(f"graded in {time.perf_counter() - t0:.1f} s")
            got = {c.check_id: c for r in reports for c in r.results}
            for check_id, (_, status) in CASES.items():
                assert got[check_id].status is status, (check_id, got[check_id].message, got[check_id].observed)
            assert "/var/log/distants/srv-a.log:" in got["recu-srv-log"].observed
            assert "grader-probe" in got["recu-srv-log"].observed
            assert "illisibles" in got["non-recu-sans-sudo"].observed
            assert SILENT in got["recu-muet"].message
            assert f"témoin {SILENT} injoignable" in got["recu-muet-parmi-d-autres"].message
            assert "propre témoin" in got["recu-soi-meme"].message
            # srv-log2 is configured like srv-log: it did not write srv-a's line, but it runs and listens
            listening = lab.nsenter("us-log2", "/usr/bin/ss", "-uln").stdout
            assert "127.0.0.1:514" in listening
        finally:
            lab.down()
