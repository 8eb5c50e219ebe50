"""End to end on real hosts: the demo rubric graded over SSH against the lab's sshd/systemd hosts.

These tests are the acceptance of the spine: statuses equal the planted truth (candidate 02's
tricks do not fool the probes, candidate 03 is ``injoignable`` and never ``non_conforme``),
one SSH exec per host, the evidence carries the host key and the rc-file noise, a changed
host key and a refused login are reported as such, and ``kill -9`` of ``grader run`` loses
nothing: ``--resume`` completes the same run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import paramiko
import pytest

import rubrics
from grader import session as sess
from grader.lab import demo, glpi
from grader.rubric import load_rubric
from grader.store import Store

pytestmark = pytest.mark.lab

RUBRIC, ROSTER = rubrics.demo_rubric(), rubrics.demo_roster()


def _grade(tmp_path: Path, known_hosts: Path, rubric: Path = RUBRIC):
    prepared = sess.prepare(rubric, ROSTER, tmp_path / "session")
    outcome = sess.grade(prepared, known_hosts=known_hosts, workers=8)
    return prepared, outcome


def test_demo_room_graded_as_planted(room, tmp_path):
    lab, _ = room
    prepared, outcome = _grade(tmp_path, lab.known_hosts_path)
    store = prepared.store
    got: dict[str, dict[str, str]] = {}
    for r in store.results(prepared.run_id):
        got.setdefault(r["candidate"], {})[r["check_id"]] = r["status"]
    assert got == demo.PLANTED_TRUTH
    # 03's machines are down: only the shared hypervisor, up, can say « non conforme » (its VM shut off)
    assert {k for k, v in got["03"].items() if v == "non_conforme"} <= set(demo.HYPERVISOR_CHECK_IDS)
    everything = {(h["candidate"], h["host"]): h for h in store.hosts(prepared.run_id)}
    hosts = {c: h for (c, name), h in everything.items() if name == "srv-lin"}
    # One SSH exec per reached host, carrying every probe of its ten checks.
    assert hosts["01"]["execs"] == hosts["02"]["execs"] == 1
    assert hosts["03"]["execs"] == 0 and "10.77.3.10" in hosts["03"]["reason"]
    # One LDAPS session per reached DC; 03's DC is down.
    assert everything[("01", "dc")]["execs"] == everything[("02", "dc")]["execs"] == 1
    assert everything[("03", "dc")]["execs"] == 0 and "10.77.3.20" in everything[("03", "dc")]["reason"]
    # The shared hypervisor is read in one SSH exec for the three candidates; each sees only their own VM.
    assert sorted(everything[(c, "hyperviseur")]["execs"] for c in ("01", "02", "03")) == [0, 0, 1]
    for e in store.evidence(prepared.run_id):
        if e["host"] == "hyperviseur" and e["command"].startswith("if [ ! -x /usr/bin/virsh ]"):
            others = {f"c{c}-web" for c in ("01", "02", "03")} - {f"c{e['candidate']}-web"}
            assert f"<name>c{e['candidate']}-web</name>" in e["stdout"]
            assert not any(f"<name>{o}</name>" in e["stdout"] for o in others), e["candidate"]
    # The candidates' VMs have no network: 01's and 02's are graded through the guest agent (the evidence says
    # so), 03's is shut off, and its injoignable evidence says what the hypervisor sees.
    for cand in ("01", "02"):
        vm = everything[(cand, "vm-web")]
        assert "agent invité" in vm["login"] and f"c{cand}-web" in vm["login"], vm
        assert any("guest" in a for a in json.loads(vm["anomalies"])), vm["anomalies"]
    assert "VM arrêtée" in everything[("03", "vm-web")]["reason"], everything[("03", "vm-web")]
    report01 = next(r for r in outcome.reports if r.candidate == "01" and r.host == "srv-lin")
    assert len([p for p in report01.probes if p.transport == "ssh"]) >= 9
    # The host key fingerprint is in the evidence, and it is the key the lab recorded at boot.
    known = paramiko.HostKeys(str(lab.known_hosts_path))
    for cand, ip in (("01", "10.77.1.10"), ("02", "10.77.2.10")):
        key = known.lookup(ip)[hosts[cand]["host_key"].split()[0]]
        assert hosts[cand]["host_key"].endswith(_sha256(key))
    # Candidate 02's .bashrc banner was seen, recorded as an anomaly, and changed nothing.
    assert any("Bienvenue sur srv-lin" in a for a in json.loads(hosts["02"]["anomalies"]))
    assert json.loads(hosts["01"]["anomalies"]) == []
    assert store.run(prepared.run_id)["state"] == "termine"


def _sha256(key: paramiko.PKey) -> str:
    import base64
    import hashlib

    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def test_evidence_shows_what_ran_with_absolute_paths(room, tmp_path):
    lab, _ = room
    prepared, _ = _grade(tmp_path, lab.known_hosts_path)
    evidence = [e for e in prepared.store.evidence(prepared.run_id) if e["candidate"] == "02"]
    ssh = [e for e in evidence if e["transport"] == "ssh"]
    assert ssh and all(e["started"] and e["duration"] is not None for e in ssh)
    # The names candidate 02 planted fakes for never appear bare: only absolute system paths.
    bare = re.compile(r"(?<![/\w.-])(systemctl|ss|dpkg-query|sshd|crontab|getent|id)(?![\w.-])")
    for e in ssh:
        unquoted = re.sub(r"'[^']*'", "''", e["command"])  # words in messages are not commands
        assert not bare.search(unquoted), e["command"]
    # The fake systemctl in ~/bin and /usr/local/bin said "active"; the evidence shows the real answer.
    svc = next(e for e in ssh if "systemctl" in e["command"] and "apache2" in e["command"])
    assert "inactive" in svc["stdout"]


def test_changed_host_key_is_reported_not_accepted(room, tmp_path):
    _lab, _ = room
    forged = tmp_path / "known_hosts"
    other = paramiko.Ed25519Key.generate() if hasattr(paramiko.Ed25519Key, "generate") else None
    if other is None:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp_path / "k"], check=True)
        line = (tmp_path / "k.pub").read_text().split()
        forged.write_text(f"10.77.1.10 {line[0]} {line[1]}\n")
    else:
        forged.write_text(f"10.77.1.10 {other.get_name()} {other.get_base64()}\n")
    prepared, _ = _grade(tmp_path, forged)
    results = [r for r in prepared.store.results(prepared.run_id) if r["candidate"] == "01" and r["host"] == "srv-lin"]
    assert {r["status"] for r in results} == {"erreur"}
    host = next(h for h in prepared.store.hosts(prepared.run_id) if h["candidate"] == "01" and h["host"] == "srv-lin")
    assert "clé" in host["reason"]
    # Candidate 02 (unknown key, first use) is still graded.
    assert any(r["status"] == "conforme" for r in prepared.store.results(prepared.run_id) if r["candidate"] == "02")


def test_refused_login_is_injoignable_not_non_conforme(room, tmp_path):
    lab, _ = room
    wrong_key = tmp_path / "wrong_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", wrong_key], check=True)
    os.chmod(wrong_key, 0o600)
    wrong_password = tmp_path / "wrong_password"  # and the DC's reader account gets a wrong password
    wrong_password.write_text("not-the-password\n")
    os.chmod(wrong_password, 0o600)
    wrong_token = tmp_path / "wrong_token"  # and the Zabbix servers get a token they do not know
    wrong_token.write_text("0" * 64 + "\n")
    os.chmod(wrong_token, 0o600)
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(RUBRIC.read_text(encoding="utf-8").replace(str(lab.key_path), str(wrong_key))
                      .replace(str(lab.state_dir / "ad-lecteur.password"), str(wrong_password))
                      .replace(str(lab.state_dir / "zabbix-token"), str(wrong_token))
                      .replace(str(glpi.USER_TOKEN_FILE), str(wrong_password))  # GLPI refuses the tokens too
                      .replace(str(glpi.APP_TOKEN_FILE), str(wrong_password)), encoding="utf-8")
    prepared, _ = _grade(tmp_path, lab.known_hosts_path, rubric)
    results = prepared.store.results(prepared.run_id)
    # The grader's own SIP OPTIONS need no login: the IPBXs that are up still answer them.
    statuses = {r["status"] for r in results if r["check_id"] != "sip-ipbx" and r["host"] not in ("zabbix", "glpi")}
    assert statuses == {"injoignable"}
    # A token the Zabbix API (or GLPI) refuses is « erreur » (the server answered, with its words), never non
    # conforme; 03's Zabbix server and GLPI are down.
    for api in ("zabbix", "glpi"):
        got = {(r["candidate"], r["status"]) for r in results if r["host"] == api}
        assert got == {("01", "erreur"), ("02", "erreur"), ("03", "injoignable")}, api


def _stored_hosts(db: Path) -> list[tuple[str, str]]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT candidate, host FROM hosts").fetchall()
    except sqlite3.Error:
        return []


def test_kill_9_midway_then_resume_completes_the_same_run(room, tmp_path):
    """One worker grades 01's and 02's hosts, then waits 3 s on 03's (down): kill -9 there, then --resume."""
    lab, _ = room
    session = tmp_path / "session"
    session.mkdir()
    (session / "known_hosts").write_text(lab.known_hosts_path.read_text())
    cmd = [sys.executable, "-m", "grader.cli", "run", str(RUBRIC), str(ROSTER), "--session", str(session),
           "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = session / Store.FILENAME
    deadline = time.monotonic() + 60
    per_host = len(load_rubric(RUBRIC).hosts)  # hosts per candidate
    # The shared hypervisor is collected once, at 01's turn, for all three: 03's comes with it.
    while len(_stored_hosts(db)) < 2 * per_host + 1 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "grader run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = Store(session)
    run_id = store.latest_run()
    assert run_id is not None
    kept = {(r["candidate"], r["check_id"]): r["judged_at"] for r in store.results(run_id)}
    per_candidate = len(demo.CHECK_IDS)
    hv_checks = len(demo.HYPERVISOR_CHECK_IDS)
    assert {c for c, _ in kept} == {"01", "02", "03"} and len(kept) == 2 * per_candidate + hv_checks
    assert {k for c, k in kept if c == "03"} == set(demo.HYPERVISOR_CHECK_IDS)
    assert store.run(run_id)["state"] == "en_cours"  # killed: nobody could mark it
    store.close()

    done = subprocess.run(cmd + ["--resume", run_id], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr  # 03 is injoignable: finished, not all conclusive
    assert f"{per_host - 1} hôte(s) à recorriger, {2 * per_host + 1} conservé(s)" in done.stdout
    store = Store(session)
    row = store.run(run_id)
    assert row["state"] == "termine" and row["resumes"] == 1
    results = store.results(run_id)
    assert len(results) == 3 * per_candidate
    for r in results:  # the kept hosts were not graded again
        if (r["candidate"], r["check_id"]) in kept:
            assert r["judged_at"] == kept[(r["candidate"], r["check_id"])]
    got = {(r["candidate"], r["check_id"]): r["status"] for r in results}
    assert got == {(c, k): s for c, checks in demo.PLANTED_TRUTH.items() for k, s in checks.items()}
    report = session / "rapports" / run_id / "session.html"
    assert report.exists() and "injoignable" in report.read_text(encoding="utf-8")
    store.close()
