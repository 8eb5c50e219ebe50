"""Before and after the run (issue #14 §3): ``grader preflight`` / ``run --dry-run``, partial re-grading,
the session folder found by itself, whole lines when the output is not a terminal, ``--version``.

Run as a subprocess like tests/test_cli.py (real argv, a pipe for stdout: not a terminal). The hosts
are loopback sockets: a listener for an open port, a port nobody listens on for a closed one, and the
honest loopback SSH server of tests/hostile/ssh.py (it runs the probes with /bin/sh here) for a real
grading without the lab.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.roster import Candidate
from grader.runner import plan
from tests.hostile.ssh import HostileSsh

ROOT = Path(__file__).resolve().parent.parent


def grader(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 90):
    base = {k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "GRADER_LANG", "COLUMNS")}
    base["PYTHONPATH"] = str(ROOT) + os.pathsep + base.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "grader.cli", *args], check=False, capture_output=True, text=True,
                          env={**base, **(env or {})}, cwd=cwd, timeout=timeout)


def greeter(greeting: bytes | None) -> tuple[int, socket.socket]:
    """A loopback TCP port that accepts every connection and sends ``greeting`` (None: says nothing)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)

    def serve() -> None:
        kept = []  # a silent port keeps its connections open: the client must wait for a banner that never comes
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            if greeting is not None:
                conn.sendall(greeting)
            kept.append(conn)

    threading.Thread(target=serve, daemon=True).start()
    return sock.getsockname()[1], sock


@pytest.fixture
def listener() -> Iterator[int]:
    """An open TCP port on loopback that greets like an SSH server (and does nothing more)."""
    port, sock = greeter(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
    yield port
    sock.close()


def closed_port() -> int:
    """A loopback port nobody listens on (bound then released)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def write_rubric(directory: Path, *, credentials: str, hosts: list[tuple[str, str, int, str]],
                 checks: list[str] | None = None) -> Path:
    """A rubric with ``credentials`` (YAML lines) and (name, address, port, credential) SSH hosts."""
    lines = ["rubric: essai", 'title: "Essai"', "variables:", '  n: {description: "poste"}', "credentials:",
             credentials, "hosts:"]
    for name, address, port, cred in hosts:
        lines += [f"  - name: {name}", f"    role: {name}", "    platform: linux", f'    address: "{address}"',
                  f"    port: {port}", f"    credential: {cred}", "    connect_timeout: 2"]
    lines.append("checks:")
    for name, *_ in hosts:
        lines.append(f"  - {{id: nom-{name}, check: linux.file_exists, role: {name}, params: {{path: /etc/hostname}},"
                     " criterion: CP9.1}")
    lines += checks or []
    path = directory / "bareme.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_roster(directory: Path, rows: str = "01;Alice;1\n02;Bob;2\n") -> Path:
    path = directory / "candidats.csv"
    path.write_text("candidat;nom;n\n" + rows, encoding="utf-8")
    return path


# --- preflight -------------------------------------------------------------------------------------


def test_preflight_says_every_credential_and_port_problem_in_one_table(tmp_path: Path, key_file: Path,
                                                                       listener: int) -> None:
    """Per candidate × host: address, port, credential name, and why it would fail; exit 1."""
    open_mode = tmp_path / "mdp-ouvert"
    open_mode.write_text("secret\n", encoding="utf-8")
    open_mode.chmod(0o644)
    not_a_key = tmp_path / "pas-une-cle"
    not_a_key.write_text("ceci n'est pas une clé\n", encoding="utf-8")
    not_a_key.chmod(0o600)
    credentials = "\n".join([
        f'  bonne: {{username: grader, key_file: "{key_file}"}}',
        f'  absente: {{username: grader, key_file: "{tmp_path}/cle-{{{{ candidat }}}}"}}',  # per candidate
        f'  ouverte: {{username: grader, password_file: "{open_mode}", allow_password: true}}',
        "  variable: {username: grader, password_env: GRADER_TEST_ABSENTE, allow_password: true}",
        f'  illisible: {{username: grader, key_file: "{not_a_key}"}}',
    ])
    closed = closed_port()
    silent, silent_sock = greeter(None)  # accepts and says nothing: a firewall or a proxy, not sshd
    web, web_sock = greeter(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    rubric = write_rubric(tmp_path, credentials=credentials, hosts=[
        ("ok", "127.0.0.1", listener, "bonne"), ("ferme", "127.0.0.1", closed, "bonne"),
        ("muet", "127.0.0.1", silent, "bonne"), ("web", "127.0.0.1", web, "bonne"),
        ("absente", "127.0.0.1", listener, "absente"), ("ouverte", "127.0.0.1", listener, "ouverte"),
        ("variable", "127.0.0.1", listener, "variable"), ("illisible", "127.0.0.1", listener, "illisible")])
    roster = write_roster(tmp_path, "01;Alice;1\n")
    result = grader("preflight", str(rubric), str(roster), env={"COLUMNS": "80"})
    assert result.returncode == 1, result.stdout + result.stderr
    rows = {line.split("│")[2].strip(): [c.strip() for c in line.split("│")[1:-1]]
            for line in result.stdout.splitlines() if line.startswith("│")}
    assert rows["ok"] == ["01", "ok", "127.0.0.1", str(listener), "bonne", "ok"]
    silent_sock.close()
    web_sock.close()
    assert rows["ferme"][5] == "port fermé"
    assert rows["muet"][5].startswith("port ouvert mais muet : pas de bannière SSH"), rows["muet"]
    assert rows["web"][5] == "port ouvert mais ce n'est pas un serveur SSH (il répond « HTTP/1.1 400 Bad Request »)"
    assert rows["absente"][5] == f"absente : fichier absent ({tmp_path}/cle-01)"
    assert rows["ouverte"][5] == f"ouverte : droits trop ouverts (0644) : chmod 600 {open_mode}"
    assert rows["variable"][5] == "variable : variable non définie (GRADER_TEST_ABSENTE)"
    assert rows["illisible"][5] == f"illisible : clé illisible ({not_a_key})"
    assert "7 hôte(s) sur 8 échoueraient" in result.stdout
    assert "secret" not in result.stdout  # the password file's content is never shown
    assert not (tmp_path / "grader-sessions").exists()  # nothing written
    dry = grader("run", "--dry-run", str(rubric), str(roster), "--lang", "en", cwd=tmp_path)
    assert dry.returncode == 1 and "port closed" in dry.stdout and "would fail" in dry.stdout
    assert not (tmp_path / "grader-sessions").exists()  # a dry run grades nothing, opens no session


def test_preflight_all_ok_exits_0_one_connect_per_address(tmp_path: Path, key_file: Path) -> None:
    """Every host ready: exit 0; 3 candidates on one address:port make one connection, never an SSH login."""
    server = HostileSsh("honest")
    try:
        rubric = write_rubric(tmp_path, credentials=f'  bonne: {{username: grader, key_file: "{key_file}"}}',
                              hosts=[("srv", "127.0.0.1", server.port, "bonne")])
        roster = write_roster(tmp_path, "01;A;1\n02;B;2\n03;C;3\n")
        result = grader("preflight", str(rubric), str(roster))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Les 3 hôte(s) sont prêts." in result.stdout
        assert server.connections == 1
    finally:
        server.close()


def test_a_connect_that_does_not_return_is_said_timed_out() -> None:
    """A name resolution or a connect that hangs holds nothing: « délai dépassé » past the deadline."""
    import threading

    from grader.preflight import _connect_all

    release = threading.Event()

    def hangs(address: str, port: int, timeout: float) -> str | None:
        release.wait(30)
        return None

    try:
        answers = _connect_all({("192.0.2.1", 22): 0.2}, 4, hangs)
    finally:
        release.set()
    assert answers == {("192.0.2.1", 22): "délai dépassé (0.2 s)"}


def test_preflight_bad_input_exits_2(tmp_path: Path, key_file: Path, listener: int) -> None:
    rubric = write_rubric(tmp_path, credentials=f'  bonne: {{username: grader, key_file: "{key_file}"}}',
                          hosts=[("srv", "127.0.0.1", listener, "bonne")])
    roster = write_roster(tmp_path)
    unknown = grader("preflight", str(rubric), str(roster), "--candidate", "99")
    assert unknown.returncode == 2 and "99" in unknown.stderr and "01, 02" in unknown.stderr
    assert grader("preflight", str(tmp_path / "absent.yaml"), str(roster)).returncode == 2


def test_needed_credentials_follow_the_channels_options(tmp_path: Path, key_file: Path) -> None:
    """A cli host with an enable secret needs its login key and the enable password; http needs none."""
    from grader.plugins import default_catalogue
    from grader.preflight import needed_credentials
    from grader.rubric import load_rubric

    rubric = write_rubric(tmp_path, credentials="\n".join([
        f'  bonne: {{username: grader, key_file: "{key_file}"}}',
        "  enable: {username: enable, password_env: GRADER_TEST_ENABLE}"]),
        hosts=[("srv", "127.0.0.1", 22, "bonne")])
    text = rubric.read_text(encoding="utf-8").replace(
        "    credential: bonne\n", "    credential: bonne\n    options: {ssh: {}, cli: {enable_credential: enable}}\n")
    rubric.write_text(text, encoding="utf-8")
    job = plan(load_rubric(rubric), [Candidate("01", "", {"n": "1"})], default_catalogue())[0]
    assert [(n, k) for n, _, k in needed_credentials(job)] == [("bonne", "ssh")]  # no cli probe: cli not asked


# --- partial re-grading -------------------------------------------------------------------------------


def _results(session: Path) -> dict[tuple[str, str], str]:
    db = sqlite3.connect(session / "grader.sqlite")
    try:
        return {(c, k): s for c, k, s in db.execute("SELECT candidate, check_id, status FROM results")}
    finally:
        db.close()


def test_candidate_and_check_regrade_only_part_of_the_room_in_the_same_run(tmp_path: Path, key_file: Path) -> None:
    server = HostileSsh("honest")
    try:
        flags = tmp_path / "drapeaux"
        flags.mkdir()
        rubric = write_rubric(tmp_path, credentials=f'  bonne: {{username: grader, key_file: "{key_file}"}}',
                              hosts=[("srv", "127.0.0.1", server.port, "bonne")], checks=[
            f'  - {{id: {name}, check: linux.file_exists, role: srv, params: {{path: "{flags}/{prefix}-{{{{ candidat }}}}"}}, '
            "criterion: CP9.1}" for name, prefix in (("drapeau", "a"), ("autre", "b"))])
        roster = write_roster(tmp_path)
        first = grader("run", str(rubric), str(roster), cwd=tmp_path)
        assert first.returncode == 0, first.stdout + first.stderr
        session = tmp_path / "grader-sessions" / "bareme"
        before = _results(session)
        assert before[("01", "drapeau")] == before[("02", "autre")] == "non_conforme"
        for name in ("a-01", "b-01", "a-02", "b-02"):
            (flags / name).touch()

        again = grader("run", str(rubric), str(roster), "--candidate", "01", "--check", "drapeau", cwd=tmp_path)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "Nouvelle correction partielle" in again.stdout and "1 hôte(s), 1 vérification(s)" in again.stdout
        after = _results(session)
        assert after[("01", "drapeau")] == "conforme"  # re-graded
        assert after[("01", "autre")] == after[("02", "drapeau")] == after[("02", "autre")] == "non_conforme"  # kept
        assert after[("01", "nom-srv")] == "conforme" and len(after) == len(before)
        db = sqlite3.connect(session / "grader.sqlite")
        runs = db.execute("SELECT id, state, resumes FROM runs").fetchall()
        cited = {k for (keys,) in db.execute("SELECT probe_keys FROM results WHERE candidate='01'")
                 for k in json.loads(keys).values()}
        stored = {k for (k,) in db.execute("SELECT probe_key FROM evidence WHERE candidate='01'")}
        db.close()
        assert len(runs) == 1 and runs[0][1:] == ("termine", 1)  # the same run, re-opened once
        assert cited <= stored  # the kept results still have the evidence they cite
        page = (session / "rapports" / runs[0][0] / "candidat-02.html").read_text(encoding="utf-8")
        assert "non conforme" in page  # the reports show the merged state

        whole = grader("run", str(rubric), str(roster), "--candidate", "02", "--candidate", "01", cwd=tmp_path)
        assert whole.returncode == 0
        assert set(_results(session).values()) == {"conforme"}
        bad = grader("run", str(rubric), str(roster), "--check", "nulle", cwd=tmp_path)
        assert bad.returncode == 2 and "nulle" in bad.stderr and "drapeau" in bad.stderr
    finally:
        server.close()


def test_regrade_without_an_earlier_run_is_a_usage_error(tmp_path: Path, key_file: Path, listener: int) -> None:
    rubric = write_rubric(tmp_path, credentials=f'  bonne: {{username: grader, key_file: "{key_file}"}}',
                          hosts=[("srv", "127.0.0.1", listener, "bonne")])
    result = grader("run", str(rubric), str(write_roster(tmp_path)), "--candidate", "01", cwd=tmp_path)
    assert result.returncode == 2 and "aucune correction à compléter" in result.stderr


# --- the session found by itself, whole lines, no markup ---------------------------------------------


def test_reading_commands_default_to_the_last_runs_session(tmp_path: Path, key_file: Path) -> None:
    port = closed_port()
    rubric = write_rubric(tmp_path, credentials=f'  bonne: {{username: grader, key_file: "{key_file}"}}',
                          hosts=[("srv", "127.0.0.1", port, "bonne")])
    roster = write_roster(tmp_path, "01;Alice Avec Un Nom Très Long Pour Voir Si La Ligne Est Coupée À Quatre Vingts;1\n")
    run = grader("run", str(rubric), str(roster), "--no-report", cwd=tmp_path, env={"COLUMNS": "80"})
    assert run.returncode == 1, run.stdout + run.stderr
    assert (tmp_path / "grader-sessions" / ".last").read_text().strip() == str(tmp_path / "grader-sessions" / "bareme")
    # Not a terminal: the long name and the long reason are whole on their line, whatever COLUMNS says.
    assert any("Alice Avec Un Nom Très Long Pour Voir Si La Ligne Est Coupée À Quatre Vingts" in line
               for line in run.stdout.splitlines())
    assert f"refuse la connexion sur le port {port}" in run.stdout
    report = grader("report", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "grader-sessions/bareme/rapports" in report.stdout
    (tmp_path / "grader-sessions" / ".last").unlink()  # no pointer: the newest session
    assert grader("history", "01", cwd=tmp_path).returncode == 0
    assert grader("jury", "list", "--rubric", str(rubric), cwd=tmp_path).returncode == 0
    assert grader("run", str(rubric), str(roster), "--no-report", cwd=tmp_path).returncode == 1
    db = sqlite3.connect(tmp_path / "grader-sessions" / "bareme" / "grader.sqlite")
    ids = [r for (r,) in db.execute("SELECT id FROM runs ORDER BY started, id")]
    with db:  # a change between the two runs, for diff's coloured cells
        db.execute("UPDATE results SET status='conforme' WHERE run_id=?", (ids[0],))
    db.close()
    diff = grader("diff", ids[0], ids[1], cwd=tmp_path)
    assert diff.returncode == 0, diff.stderr
    for out in (run.stdout, report.stdout, diff.stdout):
        assert "[green]" not in out and "[/" not in out and "[red]" not in out
    assert "injoignable" in diff.stdout


def test_nothing_found_names_the_sessions_that_exist(tmp_path: Path) -> None:
    from grader.store import Store

    nothing = grader("report", cwd=tmp_path)
    assert nothing.returncode == 2 and "Aucune session dans grader-sessions" in nothing.stderr
    Store(tmp_path / "grader-sessions" / "lundi").close()
    (tmp_path / "grader-sessions" / "vide").mkdir()
    wrong = grader("export", "x", "--session", "grader-sessions/mardi", cwd=tmp_path)
    assert wrong.returncode == 2
    assert "Aucune correction dans grader-sessions/mardi" in wrong.stderr
    assert "Sessions existantes : grader-sessions/lundi." in wrong.stderr
    by_rubric = grader("jury", "list", "--rubric", "mardi.yaml", cwd=tmp_path)
    assert by_rubric.returncode == 2 and "grader-sessions/lundi" in by_rubric.stderr


def test_version_and_completion() -> None:
    from grader import __version__

    version = grader("--version")
    assert version.returncode == 0 and version.stdout == f"grader {__version__}\n"
    helped = grader("--help")
    assert "--install-completion" in helped.stdout and "Installer la complétion" in helped.stdout
    assert "preflight" in helped.stdout
    shown = grader("--show-completion", "bash", env={"SHELL": "/bin/bash"})
    assert shown.returncode == 0 and "complete" in shown.stdout
