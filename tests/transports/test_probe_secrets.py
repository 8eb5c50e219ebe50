"""A probe's secret (a backup repository's password): given to that probe only, never in the evidence.

The password travels in the batch script on the exec's stdin (``k`` in the envelope), lives in that
probe's subshell as the unexported shell variable ``GRADER_SECRET``, and the recorded command shows
``"$GRADER_SECRET"``. Whatever the host sends back is masked before it is read, so a host that echoes
the password (a replaced ``restic``) cannot put it in the store or the reports. End to end: a real
``grader run`` over SSH (a loopback server running the batch with /bin/sh), then every file of the
session searched for the password.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.model import Probe
from grader.probes.ssh import SECRET, ssh
from grader.transports import envelope
from grader.transports.ssh import KnownHosts, SshTarget, redact, run_batch
from tests.hostile.ssh import HostileSsh

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Depot-S3cret!quote'and space"


def run_local(probes, passwords):
    env = envelope.build(probes, passwords=passwords)
    proc = subprocess.run(["/bin/sh", "-c", env.remote_command()], input=env.script.encode(), check=False,
                          capture_output=True, timeout=60)
    return env, envelope.parse(env, proc.stdout)


def test_the_probe_that_names_a_secret_reads_it_and_no_other_probe_does():
    reader = ssh(f"/usr/bin/printf '%s' {SECRET}", secret="depot")
    exported = ssh(f"/usr/bin/env; /usr/bin/printf 'via-env:%s' {SECRET}", secret="depot")
    other = ssh("/usr/bin/printf '[%s]' \"$GRADER_SECRET\"; /usr/bin/env")
    env, parsed = run_local([reader, exported, other], {"depot": PASSWORD})
    assert parsed.results[reader.key].stdout == PASSWORD
    assert "GRADER_SECRET" not in parsed.results[exported.key].stdout.split("via-env:")[0]  # not exported
    assert parsed.results[other.key].stdout.startswith("[]") and PASSWORD not in parsed.results[other.key].stdout
    assert envelope._sh_quote(PASSWORD) in env.script  # on stdin only: the recorded command keeps the placeholder
    assert all(PASSWORD not in r.command and (SECRET in r.command or "GRADER_SECRET" in r.command)
               for r in parsed.results.values())


def test_a_secret_changes_the_probes_identity_and_an_unknown_one_is_refused():
    assert Probe("ssh", "x", secret="a").key != Probe("ssh", "x").key != Probe("ssh", "x", secret="b").key
    assert Probe("ssh", "x").key == Probe("ssh", "x", secret=None).key  # stored evidence keeps its keys
    with pytest.raises(ValueError):
        envelope.build([ssh("x", secret="nope")], passwords={})


def test_redact_masks_every_password_long_enough():
    assert redact(f"a {PASSWORD} b".encode(), {"d": PASSWORD}) == b"a [secret masque] b"
    assert redact(b"abc abc", {"d": "abc"}) == b"abc abc"  # too short to mask without changing data


def test_a_host_that_echoes_the_password_gets_it_masked_in_every_field(key_file: Path, tmp_path: Path):
    server = HostileSsh("honest")
    try:
        import paramiko

        secret = __import__("grader.credentials", fromlist=["SshSecret"]).SshSecret(
            "grader", pkey=paramiko.PKey.from_path(str(key_file)))
        echo = ssh(f"/usr/bin/printf 'out:%s' {SECRET}; /usr/bin/printf 'err:%s' {SECRET} >&2", secret="depot")
        answer = run_batch(SshTarget("127.0.0.1", server.port), secret, [echo], KnownHosts(tmp_path / "kh"),
                           passwords={"depot": PASSWORD})
        r = answer.parsed.results[echo.key]
        assert r.stdout == "out:[secret masque]" and r.stderr == "err:[secret masque]"
        assert PASSWORD not in repr(answer)
    finally:
        server.close()


RUBRIC = """\
rubric: sauvegardes
title: Sauvegardes
credentials:
  correcteur: {{username: grader, key_file: "{key}"}}
  depot: {{username: restic, password_env: GRADER_TEST_DEPOT}}
hosts:
  - name: srv
    role: serveur
    platform: linux
    address: 127.0.0.1
    port: {port}
    credential: correcteur
    connect_timeout: 2
checks:
  - {{id: recente, check: backup.recent, role: serveur, criterion: CP9.1,
     params: {{tool: restic, repository: "{repo}", password_credential: depot, max_age_hours: 1}}}}
  - {{id: restaurable, check: backup.restorable, role: serveur, criterion: CP9.1,
     params: {{tool: restic, repository: "{repo}", password_credential: depot, file: "{file}"}}}}
"""


@pytest.mark.skipif(shutil.which("restic") is None, reason="restic n'est pas installé ici (apt-get install restic)")
def test_grader_run_never_writes_the_repository_password(key_file: Path, tmp_path: Path):
    repo, src = tmp_path / "depot", tmp_path / "partage"
    src.mkdir()
    (src / "compta.ods").write_text("bilan 2026\n", encoding="utf-8")
    tool_env = {"PATH": "/usr/bin:/bin", "RESTIC_PASSWORD": PASSWORD, "HOME": str(tmp_path)}
    for argv in (["restic", "-r", str(repo), "init"], ["restic", "-r", str(repo), "backup", str(src)]):
        subprocess.run(argv, env=tool_env, check=True, capture_output=True, timeout=120)
    server = HostileSsh("honest")
    try:
        rubric = tmp_path / "bareme.yaml"
        rubric.write_text(RUBRIC.format(key=key_file, port=server.port, repo=repo, file=src / "compta.ods"),
                          encoding="utf-8")
        roster = tmp_path / "candidats.csv"
        roster.write_text("candidat;nom\n01;Camille Martin\n", encoding="utf-8")
        session = tmp_path / "session"
        env = {**os.environ, "GRADER_TEST_DEPOT": PASSWORD, "COLUMNS": "200"}
        proc = subprocess.run([sys.executable, "-m", "grader.cli", "run", str(rubric), str(roster), "--session",
                               str(session)], check=False, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        subprocess.run([sys.executable, "-m", "grader.cli", "report", "--session", str(session)], cwd=ROOT, env=env,
                       capture_output=True, check=True, timeout=300)
        written = [p for p in session.rglob("*") if p.is_file()]
        assert any(p.suffix == ".html" for p in written) and any(p.suffix in (".sqlite", ".db") for p in written)
        for path in written:
            assert PASSWORD.encode() not in path.read_bytes(), path
        assert PASSWORD not in proc.stdout + proc.stderr
        assert "conforme" in proc.stdout.lower()
    finally:
        server.close()


def test_the_rubric_names_a_declared_credential_and_warns_that_every_host_receives_it(tmp_path: Path):
    from grader.errors import RubricError
    from grader.rubric import load_rubric

    text = RUBRIC.format(key="/nonexistent", port=22, repo="/srv/depot", file="/srv/f")
    path = tmp_path / "bareme.yaml"
    path.write_text(text.replace("password_credential: depot, file", "password_credential: inconnu, file"),
                    encoding="utf-8")
    with pytest.raises(RubricError) as caught:
        load_rubric(path)
    assert "bareme.yaml:18:" in str(caught.value) and "inconnu" in str(caught.value)
    path.write_text(text, encoding="utf-8")
    warnings = load_rubric(path).warnings
    assert len(warnings) == 1 and "depot" in warnings[0] and "srv" in warnings[0]
