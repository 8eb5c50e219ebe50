"""The channels' reasons for not grading a host, in the report's and the command line's language.

A channel raises ``Unreachable``/``TransportError``/``CredentialError`` with a :class:`Msg`: its
``str`` must stay the exact French text it was before (stores, logs and tests compare it), and the
runner keeps the reference so that an English report and the English live view say it in English.
The old French texts below are written out as the f-strings used to build them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from grader import i18n_checks
from grader.credentials import resolve_password, resolve_ssh
from grader.errors import CredentialError, HostKeyMismatch, TransportError, Unreachable
from grader.model import Msg
from grader.probes import snmp as snmp_probes
from grader.transports import kerberos, ldap, snmp, ssh
from grader.transports.ssh import SshTarget

ROOT = Path(__file__).resolve().parent.parent


def _closed_port() -> int:
    """A local TCP port nobody listens on (bound then released, never listened to)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _english(exc: Exception) -> str:
    ref = exc.message_ref
    assert isinstance(ref, Msg), exc
    return i18n_checks.say(ref, str(exc), "en")


# --- str() of a converted exception is the old French text ---------------------------------------


def test_ssh_refused_connection_says_the_old_french_text_and_english_by_reference() -> None:
    port = _closed_port()
    target = SshTarget("127.0.0.1", port, False, 2)
    with pytest.raises(Unreachable) as caught:
        ssh._connect(target)
    assert str(caught.value) == f"{target.address} refuse la connexion sur le port {target.port}"
    assert _english(caught.value) == f"127.0.0.1 refuses the connection on port {port}"


def test_credential_errors_keep_their_french_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRADER_TEST_ABSENT", raising=False)
    ref = SimpleNamespace(username="grader", password_env="GRADER_TEST_ABSENT", password_file=None)
    with pytest.raises(CredentialError) as caught:
        resolve_password(ref)
    assert str(caught.value) == f"la variable d'environnement {ref.password_env} n'est pas définie"
    assert _english(caught.value) == "the environment variable GRADER_TEST_ABSENT is not set"

    key = tmp_path / "id_ed25519"
    key.write_text("x", encoding="ascii")
    key.chmod(0o644)
    with pytest.raises(CredentialError) as caught:
        resolve_ssh(SimpleNamespace(username="grader", key_file=str(key)))
    what, path = "la clé privée", key
    assert str(caught.value) == (f"{what} {path} est lisible par d'autres comptes (mode {0o644:04o}) : "
                                 f"faites « chmod 600 {path} »")
    assert _english(caught.value) == (f"the private key {key} is readable by other accounts (mode 0644): "
                                      f'run "chmod 600 {key}"')


def test_ldap_and_kerberos_reasons_keep_their_french_text() -> None:
    where = "10.0.0.20:636"
    opened = ldap._open_failure(where, OSError("[Errno 111] Connection refused"))
    assert str(Unreachable(opened)) == f"{where} refuse la connexion"
    conn = SimpleNamespace(result={"result": 50, "description": "insufficientAccessRights", "message": ""})
    bound = ldap._bind_failure(where, "grader@tssr.lan", conn)
    assert str(Unreachable(bound)) == (f"liaison LDAP refusée par {where} pour grader@tssr.lan "
                                       "(insufficientAccessRights : sans message)")
    assert _english(Unreachable(bound)) == ("LDAP bind refused by 10.0.0.20:636 for grader@tssr.lan "
                                            "(insufficientAccessRights: no message)")
    why = kerberos.explain(Exception("Clock skew too great"), "alice@TSSR.LAN", "10.0.0.20")
    assert str(TransportError(why)) == ("horloges trop éloignées entre le correcteur et le KDC 10.0.0.20 — "
                                        "Clock skew too great")


def test_snmp_and_host_key_reasons_keep_their_french_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADER_TEST_SNMP", "court")
    host = SimpleNamespace(name="sw", credential=SimpleNamespace(username="admin", password_env="GRADER_TEST_SNMP",
                                                                  password_file=None), credentials={})
    options = snmp_probes.SnmpOptions(version="v3")
    with pytest.raises(CredentialError) as caught:
        snmp._secret(host, options)
    what = "d'authentification"
    assert str(caught.value) == (f"la phrase secrète SNMPv3 {what} de « admin » fait moins de 8 caractères "
                                 "(refusée par les agents, RFC 3414)")
    assert _english(caught.value) == ('the SNMPv3 authentication passphrase of "admin" is shorter than 8 characters '
                                      "(refused by agents, RFC 3414)")
    name, received, expected = "[10.0.0.1]:2222", "SHA256:aaa", "SHA256:bbb"
    mismatch = HostKeyMismatch(Msg("la clé d'hôte SSH de {name} a changé depuis la première connexion "
                                   "(reçue : {received}, attendue : {expected}) ; connexion refusée",
                                   name=name, received=received, expected=expected))
    assert str(mismatch) == (f"la clé d'hôte SSH de {name} a changé depuis la première connexion "
                             f"(reçue : {received}, attendue : {expected}) ; connexion refusée")


def test_a_plain_text_reason_has_no_reference() -> None:
    assert Unreachable("texte libre").message_ref is None and str(Unreachable("texte libre")) == "texte libre"


# --- a run against an unreachable host: English reason in English, French unchanged ---------------

RUBRIC = """\
rubric: injoignable
title: Hôte injoignable
credentials:
  correcteur: {{username: grader, key_file: {key}}}
hosts:
  - name: srv
    role: serveur-linux
    platform: linux
    address: "127.0.0.1"
    port: {port}
    credential: correcteur
    connect_timeout: 2
checks:
  - {{id: pkg, check: linux.package_installed, role: serveur-linux, params: {{package: apache2}}, criterion: CP9.1}}
"""


def _grader(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "GRADER_LANG", "LANGUAGE")}
    env["COLUMNS"] = "400"
    return subprocess.run([sys.executable, "-m", "grader.cli", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300, check=False)


def test_an_unreachable_host_is_said_in_english_in_an_english_run_and_report(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    port = _closed_port()
    rubric = tmp_path / "bareme.yaml"
    rubric.write_text(RUBRIC.format(key=key, port=port), encoding="utf-8")
    roster = tmp_path / "candidats.csv"
    roster.write_text("candidat;nom\n07;Test\n", encoding="utf-8")
    french_reason = f"127.0.0.1 refuse la connexion sur le port {port}"
    english_reason = f"127.0.0.1 refuses the connection on port {port}"

    fr = _grader("run", str(rubric), str(roster), "--session", str(tmp_path / "fr"))
    assert fr.returncode == 1, fr.stdout + fr.stderr  # finished, not conclusive
    assert f"l'hôte srv du candidat 07 (127.0.0.1) : {french_reason}" in fr.stdout
    assert english_reason not in fr.stdout

    en = _grader("--lang", "en", "run", str(rubric), str(roster), "--session", str(tmp_path / "en"))
    assert en.returncode == 1, en.stdout + en.stderr
    assert english_reason in en.stdout and french_reason not in en.stdout  # the live view, in English

    from grader.store import Store
    from reports import aggregate

    for session in ("fr", "en"):  # the store keeps the French text whatever the language of the run
        store = Store(tmp_path / session)
        run = store.latest_run()
        rows = store.results(run)
        assert [r["message"] for r in rows] == [french_reason] and [r["status"] for r in rows] == ["injoignable"]
        assert aggregate.load_frames(store, run).results["message"].tolist() == [french_reason]
        assert aggregate.load_frames(store, run, lang="en").results["message"].tolist() == [english_reason]
        store.close()

    report_en = _grader("--lang", "en", "report", "--session", str(tmp_path / "fr"), "--out", str(tmp_path / "out-en"))
    report_fr = _grader("report", "--session", str(tmp_path / "fr"), "--out", str(tmp_path / "out-fr"))
    assert report_en.returncode == report_fr.returncode == 0, report_en.stderr + report_fr.stderr
    page_en = (tmp_path / "out-en" / "candidat-07.html").read_text(encoding="utf-8")
    page_fr = (tmp_path / "out-fr" / "candidat-07.html").read_text(encoding="utf-8")
    assert english_reason in page_en and french_reason not in page_en
    assert french_reason in page_fr and english_reason not in page_fr
