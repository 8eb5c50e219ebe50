"""What the channels say about a host and a probe, in the report's language.

How the grader logged in ("grader (clé)"), how the host proved who it is (a Kerberos host key),
what a host printed outside the framing (anomalies),
why a host could not be graded and why a probe has no usable result are built as :class:`Msg`
by the channels. The store keeps the French text as before, plus the references
(``hosts.text_ref``, ``evidence.text_ref``); an English report re-renders them only when the
reference gives back exactly the stored French text, like the verdicts' texts.

The anomaly comes from the real SSH envelope run by /bin/sh with a login banner before it, the
probe error from the real PowerShell envelope parser given an interrupted output.
"""

from __future__ import annotations

import sqlite3
import textwrap
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

from grader.credentials import PasswordSecret, SshSecret
from grader.errors import Unreachable
from grader.model import HostOutcome, Msg, Probe, ProbeResult, Status
from grader.roster import Candidate
from grader.rubric import load_rubric
from grader.runner import HostReport, grade_host, plan
from grader.store import Store, probe_result_from_row
from grader.transports import psenvelope
from grader.transports.base import Channel, ChannelOptions, Collected, HostContext
from reports import aggregate
from tests.test_channels import CATALOGUE
from tests.test_i18n_checks import alter_store
from tests.transports.test_envelope import run_local

RUBRIC = """\
rubric: langues
title: Langues
credentials:
  lecteur: {username: lecteur, password_env: GRADER_TEST_SECRET}
hosts:
  - name: sw
    role: switch
    platform: network
    address: 10.0.0.{{ candidat }}
    transport: fake
    credential: lecteur
checks:
  - {id: un, check: test.echo, host: sw, params: {value: un}, criterion: CP1.1}
  - {id: deux, check: test.echo, host: sw, params: {value: deux}, criterion: CP1.1}
"""


def _channel() -> type[Channel]:
    """A channel answering "un" for real, whose login and anomalies are said as the real channels say them."""
    banner_probe = Probe("ssh", "/usr/bin/printf un")
    _, parsed = run_local([banner_probe], prefix=b"Bienvenue sur sw !\n")  # the real envelope, a login banner
    lost = psenvelope.parse(psenvelope.build([Probe("winrm", "Get-Date")]), b"")  # an interrupted batch

    class Fake(Channel):
        name = "fake"
        Options = ChannelOptions

        def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
            results = {}
            for p in probes:
                if p.command.endswith("un"):
                    results[p.key] = ProbeResult(p.key, p.transport, p.command, stdout="un", exit_code=0)
                else:  # the PowerShell parser's error for a result that never came, on this probe
                    error = next(iter(lost.results.values())).error_ref
                    results[p.key] = ProbeResult(p.key, p.transport, p.command, error=error)
            return Collected(results, login=SshSecret("lecteur", password="x").describe(),
                             host_key=Msg("Kerberos ldap/{service_host}@{realm} (authentification mutuelle)",
                                          service_host="sw.tssr.lan", realm="TSSR.LAN"),
                             anomalies=list(parsed.anomalies), execs=1)

    return Fake


def _graded(tmp_path: Path) -> tuple[Store, str, HostReport]:
    path = tmp_path / "langues.yaml"
    path.write_text(RUBRIC, encoding="utf-8")
    rubric = load_rubric(path, CATALOGUE, {"CP1.1"}, {"fake": _channel()})
    [job] = plan(rubric, [Candidate("7")], CATALOGUE)
    report = grade_host(job, None, {"fake": _channel()()})
    store = Store(tmp_path / "session")
    run_id = store.new_run(run_id="run-1", rubric=rubric, roster_text="id\n7\n", candidates=[Candidate("7")])
    store.save_host(run_id, report)
    return store, run_id, report


def test_login_and_anomalies_given_as_msg_keep_the_french_text_and_their_reference() -> None:
    got = Collected({}, login=PasswordSecret("grader", "s3cret").describe(), anomalies=[Msg("cadre G inattendu"), "x"])
    assert got.login == "grader (mot de passe)" and got.login_ref == Msg("{username} (mot de passe)", username="grader")
    assert got.anomalies == ["cadre G inattendu", "x"] and got.said_anomalies() == [Msg("cadre G inattendu"), "x"]
    outcome = HostOutcome(True, anomalies=tuple(got.said_anomalies()))
    assert outcome.anomalies == ("cadre G inattendu", "x") and outcome.anomaly_refs == (Msg("cadre G inattendu"), None)
    probe = ProbeResult("k", "ssh", "c", error=Msg("sonde syslog sans jeton"))
    assert probe.error == "sonde syslog sans jeton" and probe.error_ref == Msg("sonde syslog sans jeton")
    assert probe == ProbeResult("k", "ssh", "c", error="sonde syslog sans jeton")  # the reference is not compared


def test_english_report_says_the_login_anomaly_and_probe_error_in_english_french_unchanged(tmp_path: Path) -> None:
    store, run_id, report = _graded(tmp_path)
    assert report.login == "lecteur (mot de passe)"
    [banner] = report.outcome.anomalies
    assert banner == "texte avant l'enveloppe : 'Bienvenue sur sw !\\n'"

    fr = aggregate.load_frames(store, run_id)
    [host] = fr.hosts.to_dict("records")
    assert (host["login"], host["anomalies"]) == ("lecteur (mot de passe)", [banner])
    assert host["host_key"] == "Kerberos ldap/sw.tssr.lan@TSSR.LAN (authentification mutuelle)"
    results = fr.results.set_index("check_id")
    assert results.loc["un", "status"] == "conforme" and results.loc["deux", "status"] == "erreur"
    french_error = "résultat absent du lot PowerShell (sortie interrompue ou falsifiée)"
    assert results.loc["deux", "message"] == f"la sonde « echo » n'a pas de résultat exploitable : {french_error}"
    assert set(fr.evidence["error"].dropna()) == {french_error}

    en = aggregate.load_frames(store, run_id, lang="en")
    [host] = en.hosts.to_dict("records")
    assert host["login"] == "lecteur (password)"
    assert host["host_key"] == "Kerberos ldap/sw.tssr.lan@TSSR.LAN (mutual authentication)"
    assert host["anomalies"] == ["text before the envelope: 'Bienvenue sur sw !\\n'"]  # the host's own words kept
    english_error = "result missing from the PowerShell batch (output interrupted or forged)"
    assert set(en.evidence["error"].dropna()) == {english_error}
    message = en.results.set_index("check_id").loc["deux", "message"]
    assert message == f"the probe “echo” has no usable result: {english_error}"
    assert "lot" not in message and "sortie" not in message


def test_rejudge_reads_the_probe_error_back_with_its_reference(tmp_path: Path) -> None:
    store, run_id, _ = _graded(tmp_path)
    [row] = [e for e in store.evidence(run_id) if e["error"]]
    probe = probe_result_from_row(row)
    assert probe.error_ref == Msg("résultat absent du lot PowerShell (sortie interrompue ou falsifiée)")


def test_unreachable_host_reason_is_stored_with_its_reference(tmp_path: Path) -> None:
    class Down(_channel()):  # type: ignore[misc, valid-type]
        def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
            raise Unreachable(Msg("{address} refuse la connexion sur le port {port}", address=host.address, port=22))

    path = tmp_path / "langues.yaml"
    path.write_text(RUBRIC, encoding="utf-8")
    rubric = load_rubric(path, CATALOGUE, {"CP1.1"}, {"fake": Down})
    [job] = plan(rubric, [Candidate("7")], CATALOGUE)
    report = grade_host(job, None, {"fake": Down()})
    store = Store(tmp_path / "session")
    run_id = store.new_run(run_id="run-1", rubric=rubric, roster_text="id\n7\n", candidates=[Candidate("7")])
    store.save_host(run_id, report)
    [fr] = aggregate.load_frames(store, run_id).hosts.to_dict("records")
    [en] = aggregate.load_frames(store, run_id, lang="en").hosts.to_dict("records")
    assert fr["status"] == Status.INJOIGNABLE.value
    assert fr["reason"] == "10.0.0.7 refuse la connexion sur le port 22"
    assert en["reason"] == "10.0.0.7 refuses the connection on port 22"


def test_texts_stored_without_reference_or_changed_since_are_shown_as_stored(tmp_path: Path) -> None:
    store, run_id, _ = _graded(tmp_path)
    # a store written before the columns existed reads NULL; a changed text no longer matches
    alter_store(store, "UPDATE hosts SET login='autre compte'", "UPDATE evidence SET text_ref=NULL")
    en = aggregate.load_frames(store, run_id, lang="en")
    [host] = en.hosts.to_dict("records")
    assert host["login"] == "autre compte"
    assert host["anomalies"] == ["text before the envelope: 'Bienvenue sur sw !\\n'"]
    assert set(en.evidence["error"].dropna()) == {"résultat absent du lot PowerShell (sortie interrompue ou falsifiée)"}


def test_an_old_store_gains_the_columns_and_its_hosts_read_as_stored(tmp_path: Path) -> None:
    session = tmp_path / "old"
    session.mkdir()
    db = sqlite3.connect(session / Store.FILENAME)
    db.executescript(textwrap.dedent("""\
        CREATE TABLE hosts (run_id TEXT NOT NULL, candidate TEXT NOT NULL, host TEXT NOT NULL, address TEXT NOT NULL,
            platform TEXT NOT NULL, transport TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
            host_key TEXT NOT NULL DEFAULT '', login TEXT NOT NULL DEFAULT '', anomalies TEXT NOT NULL DEFAULT '[]',
            execs INTEGER NOT NULL DEFAULT 0, started TEXT NOT NULL, duration REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (run_id, candidate, host));
        """))
    db.close()
    Store(session).close()
    db = sqlite3.connect(session / Store.FILENAME)
    try:
        assert "text_ref" in {row[1] for row in db.execute("PRAGMA table_info(hosts)")}
        assert "text_ref" in {row[1] for row in db.execute("PRAGMA table_info(evidence)")}
    finally:
        db.close()


def test_a_grader_side_channels_stderr_is_stored_by_reference_and_said_in_english(tmp_path: Path) -> None:
    said = Msg("{peer} : échec de la négociation TLS : {error}", peer="10.0.0.7:443", error="wrong version number")
    probe = ProbeResult("k", "tls", "{}", stderr=said, exit_code=1)
    assert probe.stderr == "10.0.0.7:443 : échec de la négociation TLS : wrong version number"
    store = Store(tmp_path / "session")
    rubric = SimpleNamespace(rubric="r", title="t", version="1", source=None, text="checks: []\n")
    run_id = store.new_run(run_id="run-1", rubric=rubric, roster_text="id\n", candidates=[Candidate("7")])
    store.save_host(run_id, HostReport("7", "sw", "10.0.0.7", "network", "ssh", "grader", HostOutcome(True),
                                       "2026-11-29T07:00:00+00:00", 1.0, [probe], []))
    [row] = store.evidence(run_id)
    assert probe_result_from_row(row).stderr_ref == said  # a rejudge sees it as the judge did
    fr = aggregate.load_frames(store, run_id).evidence
    en = aggregate.load_frames(store, run_id, lang="en").evidence
    assert list(fr["stderr"]) == [probe.stderr]
    assert list(en["stderr"]) == ["10.0.0.7:443: TLS handshake failed: wrong version number"]

