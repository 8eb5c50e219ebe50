"""The evidence bundle: written from a real run, verified file by file, loaded offline, re-judged.

The run is graded the way the runner grades: the rubric is loaded and planned with the
installed checks, every probe gets an output captured on a real Debian 12 host (see
``tests/checks/data``) or a documented one, and every check is judged by its own pure judge
through :func:`grader.check.evaluate`. Only the SSH round trip is replaced. Candidate 01 did
everything, candidate 02 made mistakes and one of its probes timed out, candidate 03's machine
never answered.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from grader import bundle
from grader.check import evaluate
from grader.cli import reports as reports_cli
from grader.cli.common import FrenchGroup
from grader.model import HostOutcome, ProbeResult, Status, Verdict
from grader.plugins import default_catalogue
from grader.roster import load_roster
from grader.rubric import load_rubric
from grader.runner import CheckResult, HostReport, plan
from grader.store import Store

DATA = Path(__file__).parent / "checks" / "data"
T0 = "2026-11-22T13:00:00.000+00:00"

RUBRIC = """\
rubric: ecf-preuves
title: "ECF TSSR — paquet de preuves"
version: "3"
variables:
  reseau: {description: "Trois premiers octets du réseau du candidat"}
credentials:
  jury: {username: grader, key_file: /var/lib/grader/lab/id_ed25519}
hosts:
  - {name: srv-lin, role: linux, platform: linux, address: "{{ reseau }}.10", credential: jury, sudo: true}
checks:
  - {id: pkg-apache, check: linux.package_installed, role: linux, params: {package: apache2}, criterion: CP9.1}
  - {id: svc-ssh, check: linux.service_active, role: linux, params: {service: ssh}, criterion: CP9.1, points: 2}
  - {id: user-alice, check: linux.user_in_groups, role: linux, params: {user: alice, groups: [adm]},
     criterion: CP9.1}
  - {id: sshd-root, check: linux.sshd_setting, role: linux, params: {setting: PermitRootLogin, expected: "no"},
     criterion: CP12.1, points: 2}
"""
ROSTER = "candidat;nom;reseau\n01;Camille Martin;10.77.1\n02;Yanis Benali;10.77.2\n03;Léa Dubois;10.77.3\n"
UNREACHABLE = "délai de connexion dépassé (3 s) vers 10.77.3.10:22"


def capture(name: str) -> tuple[str, int]:
    """(stdout, exit code) of a captured output of tests/checks/data."""
    text = (DATA / name).read_text(encoding="utf-8")
    head, _, rest = text.partition("# --- stdout\n")
    stdout, _, _ = rest.partition("\n# --- stderr\n")
    code = next(int(line.split(": ", 1)[1]) for line in head.splitlines() if line.startswith("# exit: "))
    return stdout, code


SYSTEMCTL_ACTIVE = ("LoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\nMainPID=412\n", 0)
SYSTEMCTL_DEAD = ("LoadState=loaded\nActiveState=inactive\nSubState=dead\nUnitFileState=disabled\nMainPID=0\n", 0)
# dpkg's answer for a package it knows but that is not installed (as the captured apache2-doc one)
DPKG_NOT_INSTALLED = (capture("dpkg_apache2_doc_un.txt")[0].replace("apache2-doc", "apache2"), 0)
# candidate -> (command prefix -> (stdout, exit code) or None for a probe that timed out)
OUTPUTS: dict[str, dict[str, tuple[str, int] | None]] = {
    "01": {"if [ -x /usr/bin/dpkg-query ]": capture("dpkg_apache2_ii.txt"),
           "/usr/bin/systemctl show": SYSTEMCTL_ACTIVE,
           "/usr/bin/getent passwd": capture("getent_passwd_alice.txt"), "/usr/bin/id -Gn": capture("id_alice.txt"),
           "/usr/sbin/sshd -T": capture("sshd_T_hardened.txt")},
    "02": {"if [ -x /usr/bin/dpkg-query ]": DPKG_NOT_INSTALLED,
           "/usr/bin/systemctl show": SYSTEMCTL_DEAD,
           "/usr/bin/getent passwd": capture("getent_passwd_nosuchuser.txt"),
           "/usr/bin/id -Gn": capture("id_nosuchuser.txt"),
           "/usr/sbin/sshd -T": None},
}


def _host_report(job, catalogue_outputs: dict[str, tuple[str, int] | None] | None) -> HostReport:
    """What the runner's grade_host produces for one job, with the outputs above instead of SSH."""
    if catalogue_outputs is None:
        outcome = HostOutcome(False, UNREACHABLE, status=Status.INJOIGNABLE)
        probes: dict[str, ProbeResult] = {}
    else:
        outcome = HostOutcome(True, host_key="ssh-ed25519 SHA256:q7bJ1Zc3mF0xUyqfP2vQzXJt1mJzq6c0Qw9kq4oHc9A",
                              execs=1, status=Status.CONFORME)
        probes = {}
        for probe in job.unique_probes():
            prefix = next(p for p in catalogue_outputs if probe.command.startswith(p))
            out = catalogue_outputs[prefix]
            if out is None:
                probes[probe.key] = ProbeResult(probe.key, "ssh", probe.command, started=T0, duration=10.0,
                                                timed_out=True)
            else:
                probes[probe.key] = ProbeResult(probe.key, "ssh", probe.command, stdout=out[0], exit_code=out[1],
                                                started=T0, duration=0.02)
    results = []
    for pc in job.checks:
        if not outcome.reached:
            verdict = Verdict(outcome.status, message=outcome.reason)
        else:
            verdict = evaluate(pc.cls(), pc.params, {name: probes.get(p.key) for name, p in pc.probes.items()})
        results.append(CheckResult(
            check_id=pc.entry.id, check_type=pc.cls.id, criterion=pc.entry.criterion, points=pc.entry.points,
            sentence=pc.sentence, params=pc.params.model_dump(), status=verdict.status, observed=verdict.observed,
            expected=verdict.expected, message=verdict.message, hint=pc.entry.hint,
            probe_keys={name: p.key for name, p in pc.probes.items()}, judged_at="2026-11-22T13:00:01.000+00:00"))
    return HostReport(job.candidate.id, job.host.name, job.address, "linux", "ssh", "grader (clé)", outcome, T0,
                      0.3, list(probes.values()), results)


def graded_session(tmp_path: Path) -> tuple[Store, str]:
    rubric_path = tmp_path / "bareme.yaml"
    roster_path = tmp_path / "candidats.csv"
    rubric_path.write_text(RUBRIC, encoding="utf-8")
    roster_path.write_text(ROSTER, encoding="utf-8")
    catalogue = default_catalogue()
    rubric = load_rubric(rubric_path, catalogue)
    candidates = load_roster(roster_path, rubric)
    store = Store(tmp_path / "session")
    run_id = store.new_run(run_id="20261122-130000-ab12", rubric=rubric, roster_text=ROSTER, candidates=candidates)
    for job in plan(rubric, candidates, catalogue):
        store.save_host(run_id, _host_report(job, OUTPUTS.get(job.candidate.id)))
    store.finish_run(run_id, "termine")
    return store, run_id


@pytest.fixture(autouse=True)
def no_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """PDFs have their own tests (tests/reports/test_pdf.py); here Chromium stays out of the way."""
    monkeypatch.setenv("GRADER_CHROMIUM", "")


@pytest.fixture()
def exported(tmp_path: Path) -> tuple[Store, str, Path]:
    store, run_id = graded_session(tmp_path)
    path = bundle.export(store, run_id, tmp_path / "preuves.zip")
    yield store, run_id, path
    store.close()


def rewrite(src: Path, dst: Path, change: dict[str, bytes | None], add: dict[str, bytes] | None = None) -> Path:
    """A copy of a ZIP with some members replaced (bytes) or dropped (None), and some added."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = change.get(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info.filename, data)
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return dst


def test_the_run_has_every_kind_of_status(exported) -> None:
    store, run_id, _ = exported
    got = {(r["candidate"], r["check_id"]): r["status"] for r in store.results(run_id)}
    assert got[("01", "pkg-apache")] == got[("01", "svc-ssh")] == got[("01", "sshd-root")] == "conforme"
    assert got[("01", "user-alice")] == "conforme"  # alice is in adm
    assert got[("02", "pkg-apache")] == got[("02", "svc-ssh")] == got[("02", "user-alice")] == "non_conforme"
    assert got[("02", "sshd-root")] == "erreur"  # the probe timed out
    assert {got[("03", c)] for c in ("pkg-apache", "svc-ssh", "user-alice", "sshd-root")} == {"injoignable"}


# --- export ---------------------------------------------------------------------------------------


def test_bundle_holds_rubric_roster_evidence_reports_and_hashes(exported) -> None:
    store, run_id, path = exported
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        assert zf.read("rubric.yaml").decode() == RUBRIC
        assert zf.read("roster.csv").decode() == ROSTER
        evidence = json.loads(zf.read("evidence.json"))
        import hashlib

        for name in names - {"manifest.json"}:
            assert manifest["files"][name]["sha256"] == hashlib.sha256(zf.read(name)).hexdigest()
    assert set(manifest["files"]) == names - {"manifest.json"}
    assert {"rapports/session.html", "rapports/candidat-01.html", "rapports/resultats.csv", "rapports/resultats.json",
            "rapports/resultats.xlsx", "rapports/resultats-junit.xml", "rapports/notes-moodle.csv"} <= names
    assert manifest["run_id"] == run_id and manifest["rubric"] == {"id": "ecf-preuves", "version": "3",
                                                                    "title": "ECF TSSR — paquet de preuves"}
    from grader import __version__

    assert manifest["grader_version"] == __version__ and manifest["format"] == "grader-bundle/1"
    assert len(evidence["hosts"]) == 3 and len(evidence["results"]) == 12
    assert len(evidence["evidence"]) == len(store.evidence(run_id)) == 10  # 5 probes x 2 reached hosts
    assert evidence["results"] == store.results(run_id) and evidence["hosts"] == store.hosts(run_id)
    assert "rubric_text" not in evidence["run"]


def test_export_refuses_a_roster_with_a_secret_column(tmp_path: Path) -> None:
    store, run_id = graded_session(tmp_path)
    store._write([("UPDATE runs SET roster_text=? WHERE id=?",  # a roster that slipped past validation
                   ("candidat;nom;reseau;mot_de_passe\n01;Camille;10.77.1;hunter2\n", run_id))])
    with pytest.raises(bundle.BundleError) as err:
        bundle.export(store, run_id, tmp_path / "x.zip")
    assert "mot_de_passe" in str(err.value) and not (tmp_path / "x.zip").exists()
    store.close()


def test_secret_problems_look_at_rubric_keys_and_variables() -> None:
    run = {"roster_text": "candidat,nom,reseau\n", "rubric_text": "credentials:\n  jury: {username: a, password: x}\n"}
    found = bundle.secret_problems(run, [{"variables": json.dumps({"reseau": "10", "api_token": "x"})}])
    assert any("password" in p for p in found) and any("api_token" in p for p in found)
    assert bundle.secret_problems({"roster_text": ROSTER, "rubric_text": RUBRIC}, [{"variables": "{}"}]) == []


# --- verify ---------------------------------------------------------------------------------------


def test_an_intact_bundle_verifies(exported) -> None:
    assert bundle.verify(exported[2]) == []


@pytest.mark.parametrize("name", ["rubric.yaml", "evidence.json", "rapports/candidat-02.html", "rapports/resultats.xlsx"])
def test_one_modified_byte_names_the_file(exported, tmp_path: Path, name: str) -> None:
    with zipfile.ZipFile(exported[2]) as zf:
        data = bytearray(zf.read(name))
    data[len(data) // 2] ^= 0x01
    altered = rewrite(exported[2], tmp_path / "altere.zip", {name: bytes(data)})
    problems = bundle.verify(altered)
    assert len(problems) == 1 and problems[0].startswith(f"{name} : fichier modifié")


def test_a_flipped_byte_in_the_archive_itself_names_the_file(exported, tmp_path: Path) -> None:
    raw = bytearray(exported[2].read_bytes())
    with zipfile.ZipFile(exported[2]) as zf:
        info = zf.getinfo("roster.csv")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + info.compress_size // 2] ^= 0xFF
    (tmp_path / "abime.zip").write_bytes(bytes(raw))
    problems = bundle.verify(tmp_path / "abime.zip")
    assert problems and all(p.startswith("roster.csv : ") for p in problems)


def test_missing_and_extra_files_are_named(exported, tmp_path: Path) -> None:
    altered = rewrite(exported[2], tmp_path / "b.zip", {"rapports/candidat-01.html": None},
                      {"rapports/ajout.txt": b"ajout"})
    problems = bundle.verify(altered)
    assert sorted(problems) == ["rapports/ajout.txt : fichier en trop (absent du manifeste)",
                                "rapports/candidat-01.html : fichier manquant"]
    no_manifest = rewrite(exported[2], tmp_path / "c.zip", {"manifest.json": None})
    assert bundle.verify(no_manifest) == ["manifest.json absent : ce n'est pas un paquet de preuves grader"]
    (tmp_path / "d.zip").write_bytes(b"pas un zip")
    assert "archive ZIP illisible" in bundle.verify(tmp_path / "d.zip")[0]
    assert bundle.verify(tmp_path / "absent.zip") == [f"{tmp_path / 'absent.zip'} : paquet de preuves introuvable"]


def test_a_wrong_hash_in_the_manifest_names_the_file(exported, tmp_path: Path) -> None:
    with zipfile.ZipFile(exported[2]) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    manifest["files"]["roster.csv"]["sha256"] = "0" * 64
    altered = rewrite(exported[2], tmp_path / "m.zip", {"manifest.json": json.dumps(manifest).encode()})
    assert [p.split(" : ")[0] for p in bundle.verify(altered)] == ["roster.csv"]


# --- load and rejudge -----------------------------------------------------------------------------


def test_load_gives_back_the_same_rows_and_reports_render_offline(exported, tmp_path: Path) -> None:
    store, run_id, path = exported
    with bundle.load(path) as loaded:
        assert loaded.run_id == run_id
        assert loaded.run(run_id) == store.run(run_id)
        for table in ("candidates", "hosts", "results", "evidence"):
            assert getattr(loaded, table)(run_id) == getattr(store, table)(run_id)
        where = loaded.session_dir
        assert where.exists()
    assert not where.exists()  # the temporary store is gone once closed
    written = bundle.render_reports(path, tmp_path / "hors-ligne")
    page = (tmp_path / "hors-ligne" / "candidat-02.html").read_text(encoding="utf-8")
    assert "Yanis Benali" in page and "non conforme" in page and len(written) >= 6


def test_load_refuses_an_altered_bundle(exported, tmp_path: Path) -> None:
    altered = rewrite(exported[2], tmp_path / "a.zip", {"evidence.json": b"{}"})
    with pytest.raises(bundle.BundleError) as err:
        bundle.load(altered)
    assert "evidence.json : fichier modifié" in str(err.value)


def test_rejudge_reproduces_the_run_exactly(exported) -> None:
    store, run_id, path = exported
    rows = bundle.rejudge(path)
    stored = {(r["candidate"], r["host"], r["check_id"]): r for r in store.results(run_id)}
    assert {(r.candidate, r.host, r.check_id): r.status for r in rows} == {k: v["status"] for k, v in stored.items()}
    judged = [r for r in rows if r.rejudged]
    assert len(judged) == 8  # candidates 01 and 02; 03's host was never reached
    for r in judged:  # the judge's own words come back too, not only the status
        s = stored[(r.candidate, r.host, r.check_id)]
        assert (r.observed, r.expected, r.message) == (s["observed"], s["expected"], s["message"])
    kept = [r for r in rows if not r.rejudged]
    assert {r.candidate for r in kept} == {"03"} and all("non jointe" in r.reason for r in kept)


def test_rejudge_really_calls_the_installed_judges(exported, monkeypatch: pytest.MonkeyPatch) -> None:
    catalogue = dict(default_catalogue())
    strict = catalogue["linux.sshd_setting"]

    class Stricter(strict):  # a judge changed since the run: now nothing passes
        def judge(self, params, results):
            return Verdict.non_conforme("changé", "changé", "juge modifié")

    catalogue["linux.sshd_setting"] = Stricter
    rows = bundle.rejudge(exported[2], catalogue)
    changed = [(r.candidate, r.check_id, r.stored, r.status) for r in rows if r.changed]
    assert changed == [("01", "sshd-root", "conforme", "non_conforme")]  # 02's probe timed out: still erreur


def test_rejudge_with_an_evidence_row_changed_inside_a_rebuilt_bundle(exported, tmp_path: Path) -> None:
    """Evidence edited and the manifest rehashed: verify() alone cannot tell, the judges then disagree."""
    with zipfile.ZipFile(exported[2]) as zf:
        doc = json.loads(zf.read("evidence.json"))
        manifest = json.loads(zf.read("manifest.json"))
    for row in doc["evidence"]:
        if row["candidate"] == "02" and row["command"].startswith("/usr/bin/systemctl"):
            row["stdout"] = SYSTEMCTL_ACTIVE[0]
    data = json.dumps(doc).encode()
    import hashlib

    manifest["files"]["evidence.json"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    forged = rewrite(exported[2], tmp_path / "f.zip", {"evidence.json": data,
                                                        "manifest.json": json.dumps(manifest).encode()})
    assert bundle.verify(forged) == []
    rows = bundle.rejudge(forged)
    assert [(r.candidate, r.check_id, r.status) for r in rows if r.changed] == [("02", "svc-ssh", "conforme")]


def test_rejudge_keeps_what_no_judge_decided(tmp_path: Path) -> None:
    store, run_id = graded_session(tmp_path)
    rows = bundle.rejudge_store(store, run_id, {})  # no check installed at all
    assert not any(r.changed for r in rows) and not any(r.rejudged for r in rows)
    assert any("absente des greffons installés" in r.reason for r in rows)
    store.close()


def test_rejudged_changed_property() -> None:
    r = bundle.Rejudged("01", "h", "c", "t", stored="conforme", status="conforme")
    assert not r.changed and replace(r, status="erreur").changed


# --- command line ---------------------------------------------------------------------------------


@pytest.fixture()
def cli() -> typer.Typer:
    app = typer.Typer(rich_markup_mode=None, cls=FrenchGroup)  # as grader.cli builds its app
    reports_cli.register(app)
    return app


def test_cli_export_verify_rejudge(cli, tmp_path: Path) -> None:
    store, run_id = graded_session(tmp_path)
    store.close()
    runner = CliRunner()
    session = tmp_path / "session"
    done = runner.invoke(cli, ["export", run_id, "--session", str(session)])
    assert done.exit_code == 0, done.output
    path = session / f"preuves-{run_id}.zip"
    assert path.is_file() and "Paquet de preuves" in done.output and "SHA-256" in done.output

    ok = runner.invoke(cli, ["verify", str(path)])
    assert ok.exit_code == 0 and "Paquet intact" in ok.output and run_id in ok.output

    same = runner.invoke(cli, ["rejudge", "--from", str(path), "--all"])
    assert same.exit_code == 0, same.output
    assert "12 résultat(s) : 8 rejugé(s), dont 0 différent(s) ; 4 repris" in same.output
    assert "redonnent exactement les statuts" in same.output
    assert "03/srv-lin pkg-apache : injoignable (repris sans juge" in same.output

    with zipfile.ZipFile(path) as zf:
        data = bytearray(zf.read("rapports/resultats.csv"))
    data[-3] ^= 0x01
    altered = rewrite(path, tmp_path / "altere.zip", {"rapports/resultats.csv": bytes(data)})
    bad = runner.invoke(cli, ["verify", str(altered)])
    assert bad.exit_code == 1 and "rapports/resultats.csv : fichier modifié" in bad.output
    moodle = runner.invoke(cli, ["moodle", "--from", str(path), "--out", str(tmp_path / "notes.csv")])
    assert moodle.exit_code == 0, moodle.output
    assert (tmp_path / "notes.csv").read_text(encoding="utf-8").splitlines()[1].startswith("01,Camille Martin,")
    both = runner.invoke(cli, ["junit", "--from", str(path), "--run", run_id])
    assert "s'excluent" in str(both.exception)
    refused = runner.invoke(cli, ["rejudge", "--from", str(altered)])
    assert isinstance(refused.exception, bundle.BundleError)


def test_cli_english_and_unknown_run(cli, tmp_path: Path) -> None:
    store, run_id = graded_session(tmp_path)
    store.close()
    runner = CliRunner()
    try:
        done = runner.invoke(cli, ["export", run_id, "--session", str(tmp_path / "session"), "--lang", "en",
                                   "--out", str(tmp_path / "b.zip")])
        assert done.exit_code == 0 and "Evidence bundle" in done.output
        ok = runner.invoke(cli, ["verify", str(tmp_path / "b.zip"), "--lang", "en"])
        assert "Bundle intact" in ok.output
    finally:
        from grader import i18n

        i18n.set_lang("fr")
    unknown = runner.invoke(cli, ["export", "nope", "--session", str(tmp_path / "session")])
    assert unknown.exit_code != 0 and "introuvable" in str(unknown.exception)


def test_cli_help_is_french(cli) -> None:
    for command in ("export", "verify", "rejudge", "junit", "moodle"):
        result = CliRunner().invoke(cli, [command, "--help"])
        assert result.exit_code == 0 and "Utilisation :" in result.output and "Usage:" not in result.output
