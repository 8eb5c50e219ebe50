"""No hostile SSH endpoint holds the room (issue: a hostile exam room, part 1).

Real SSH servers on loopback (:mod:`tests.hostile.ssh`), the real channel and runner: an endpoint
that never sends its banner, one that opens the session and never answers the exec request, one
that answers a few bytes and stalls. Each host ends within its budget with a reason of its own
(« session ouverte mais muette »), never non conforme and never « sortie falsifiée »; a room of
three such endpoints ends in seconds, and Ctrl-C stops ``grader run`` at once with exit 130, no
traceback and the resume command.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from grader.model import Status
from grader.plugins import default_catalogue
from grader.roster import Candidate
from grader.rubric import load_rubric
from grader.runner import grade_host, plan, run_jobs
from tests.hostile import within
from tests.hostile.ssh import HostileSsh, room, rubric_file

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 4.0


@pytest.fixture
def endpoints() -> Iterator[dict[str, HostileSsh]]:
    servers = {b: HostileSsh(b) for b in ("no_banner", "silent_exec", "partial_stall", "honest")}
    yield servers
    for server in servers.values():
        server.close()


def _job(tmp_path: Path, key_file: Path, port: int):
    rubric = load_rubric(rubric_file(tmp_path, key_file, port=port, budget=BUDGET))
    return plan(rubric, [Candidate("01", "", {"n": "1"})], default_catalogue())[0]


@pytest.mark.parametrize("behaviour", ["silent_exec", "partial_stall"])
def test_a_session_that_opens_then_stays_silent_ends_within_its_budget_with_its_own_reason(
        tmp_path: Path, key_file: Path, endpoints: dict[str, HostileSsh], behaviour: str) -> None:
    job = _job(tmp_path, key_file, endpoints[behaviour].port)
    report = within(BUDGET + 30, grade_host, job, tmp_path / "known_hosts")  # how fast: bench/bench_hostile.py
    statuses = {r.status for r in report.results}
    assert statuses == {Status.ERREUR}
    for r in report.results:
        assert "falsifiée" not in r.message
    if behaviour == "silent_exec":  # nothing came: the host's reason is the silence
        assert report.outcome.reason.startswith("session ouverte mais muette après")
        assert all(r.message.startswith("session ouverte mais muette après") for r in report.results)
    else:  # the session spoke, then stalled: each probe says the deadline cut it
        assert all(p.error is not None and p.error.startswith("sonde coupée par l'échéance de l'hôte")
                   for p in report.probes)
        assert any("sortie partielle" in str(a) or "texte" in str(a) for a in report.outcome.anomalies)


def test_no_banner_is_bounded_and_never_non_conforme(tmp_path: Path, key_file: Path,
                                                     endpoints: dict[str, HostileSsh]) -> None:
    job = _job(tmp_path, key_file, endpoints["no_banner"].port)
    report = within(BUDGET + 30, grade_host, job, tmp_path / "known_hosts")
    assert {r.status for r in report.results} <= {Status.ERREUR, Status.INJOIGNABLE}
    assert report.outcome.reason.startswith("session ouverte mais muette après")


def test_an_honest_endpoint_under_the_same_budget_is_graded(tmp_path: Path, key_file: Path,
                                                            endpoints: dict[str, HostileSsh]) -> None:
    report = within(30, grade_host, _job(tmp_path, key_file, endpoints["honest"].port), tmp_path / "known_hosts")
    assert report.outcome.reached and all(p.ok for p in report.probes)
    assert {r.status for r in report.results} <= {Status.CONFORME, Status.NON_CONFORME} and report.results


def test_a_room_of_three_hostile_endpoints_ends_in_seconds(tmp_path: Path, key_file: Path) -> None:
    servers = room(("no_banner", "silent_exec", "partial_stall"))
    try:
        rubric = load_rubric(rubric_file(tmp_path, key_file, port=servers[0].port, budget=8.0,
                                     address="127.0.0.{{ n }}"))
        jobs = plan(rubric, [Candidate(f"0{i}", "", {"n": str(10 + i)}) for i in (1, 2, 3)], default_catalogue())
        reports = within(60, lambda: run_jobs(jobs, known_hosts_path=tmp_path / "known_hosts", workers=8))
        assert {r.status for rep in reports for r in rep.results} <= {Status.ERREUR, Status.INJOIGNABLE}
        assert len(reports) == 3
    finally:
        for server in servers:
            server.close()


def test_ctrl_c_stops_grader_run_at_once_with_130_and_the_resume_command(tmp_path: Path, key_file: Path) -> None:
    servers = room(("silent_exec",) * 3)
    try:
        rubric = rubric_file(tmp_path, key_file, port=servers[0].port, budget=60, address="127.0.0.{{ n }}")
        roster = tmp_path / "candidats.csv"
        roster.write_text("candidat;n\n01;11\n02;12\n03;13\n", encoding="utf-8")
        session = tmp_path / "session"
        proc = subprocess.Popen([sys.executable, "-m", "grader.cli", "run", str(rubric), str(roster), "--session",
                                 str(session)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "COLUMNS": "200"})
        assert proc.stdout is not None
        line = proc.stdout.readline()  # « Correction … » once the run has started (a loaded machine may take seconds)
        assert line.startswith("Correction"), line
        time.sleep(4)
        assert proc.poll() is None  # still waiting on three silent sessions
        proc.send_signal(signal.SIGINT)  # one Ctrl-C (how fast it stops: bench/bench_hostile.py)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130
        assert "Traceback" not in out + err
        assert "--resume" in out + err and sum(s.connections for s in servers) == 3
    finally:
        for server in servers:
            server.close()


def test_a_grader_side_shortage_of_file_descriptors_is_erreur_never_injoignable(
        tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import socket

    def exhausted(*args: object, **kwargs: object) -> socket.socket:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(socket, "create_connection", exhausted)
    report = within(30, grade_host, _job(tmp_path, key_file, 22), tmp_path / "known_hosts")
    assert {r.status for r in report.results} == {Status.ERREUR}
    assert "le correcteur manque de ressources" in report.outcome.reason


def test_the_open_files_limit_is_raised_to_the_hard_limit() -> None:
    import resource

    from grader.runner import raise_file_limit

    soft, hard = raise_file_limit()
    assert soft == hard or hard == resource.RLIM_INFINITY


def test_the_rooms_pinned_keys_refuse_a_machine_swapped_between_sessions(tmp_path: Path, key_file: Path) -> None:
    from grader.session import room_known_hosts

    room = room_known_hosts(tmp_path / "sessions" / "lundi")
    assert room == (tmp_path / "sessions" / "known_hosts").resolve()
    first = HostileSsh("honest", address="127.0.0.21")
    try:
        job = _job(tmp_path, key_file, first.port)
        job = job.__class__(**{**job.__dict__, "address": "127.0.0.21"})
        monday = within(30, grade_host, job, room)
        assert monday.outcome.reached
    finally:
        first.close()
    swapped = HostileSsh("honest", address="127.0.0.21", port=first.port, key=paramiko.RSAKey.generate(2048))
    try:
        tuesday = within(30, grade_host, job, room_known_hosts(tmp_path / "sessions" / "mardi"))
    finally:
        swapped.close()
    assert {r.status for r in tuesday.results} == {Status.ERREUR}
    assert "a changé depuis la première connexion" in tuesday.outcome.reason
    assert monday.outcome.host_key.split()[-1] in tuesday.outcome.reason  # both fingerprints are shown


def test_the_same_key_on_two_candidates_hosts_is_only_noted(tmp_path: Path, key_file: Path) -> None:
    template = paramiko.RSAKey.generate(2048)
    a = HostileSsh("honest", address="127.0.0.31", key=template)
    b = HostileSsh("honest", address="127.0.0.32", port=a.port, key=template)
    try:
        rubric = load_rubric(rubric_file(tmp_path, key_file, port=a.port, address="127.0.0.{{ n }}"))
        jobs = plan(rubric, [Candidate("01", "", {"n": "31"}), Candidate("02", "", {"n": "32"})], default_catalogue())
        reports = [within(30, grade_host, j, tmp_path / "known_hosts") for j in jobs]
    finally:
        a.close()
        b.close()
    assert all(r.outcome.reached for r in reports)
    notes = [str(x) for r in reports for x in r.outcome.anomalies if "identique" in str(x)]
    clone = "(machines clonées d'un même modèle : noté, accepté)"
    assert notes == [f"clé d'hôte identique à celle de [127.0.0.31]:{a.port} {clone}"]


def test_hosts_trust_pins_the_rooms_keys_and_refuses_a_changed_one(tmp_path: Path, key_file: Path) -> None:
    server = HostileSsh("honest", address="127.0.0.41")
    try:
        rubric = rubric_file(tmp_path, key_file, port=server.port, address="127.0.0.{{ n }}")
        roster = tmp_path / "candidats.csv"
        roster.write_text("candidat;n\n01;41\n", encoding="utf-8")
        room = tmp_path / "known_hosts"
        stale = paramiko.RSAKey.generate(2048)
        (tmp_path / "scan.txt").write_text(f"[127.0.0.41]:{server.port} ssh-rsa {stale.get_base64()}\n")

        def hosts(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "grader.cli", "hosts", *args, "--known-hosts", str(room)],
                                  cwd=ROOT, capture_output=True, text=True, check=False, timeout=60)

        seeded = hosts("trust", "--from", str(tmp_path / "scan.txt"))
        assert seeded.returncode == 0 and "1 clé(s) d'hôte épinglée(s)" in seeded.stdout
        scanned = hosts("trust", str(rubric), str(roster))
        assert scanned.returncode == 1 and "a changé" in scanned.stderr  # the machine answering is not the pinned one
        room.unlink()
        again = hosts("trust", str(rubric), str(roster))
        assert again.returncode == 0 and "épinglée : 127.0.0.41" in again.stdout
        assert str(server.port) in hosts("list").stdout
    finally:
        server.close()
