"""The jury's reports, written from a real session store holding a small but nasty run.

Three candidates, two Linux hosts each. Candidate 01 has a non conforme check whose evidence
holds ``<script>alert(1)</script>`` and a 10,000-line output; candidate 02 has a probe that
timed out (erreur); candidate 03's srv-lin never answered (injoignable) and its srv-web printed
a banner from a shell rc file (an anomaly).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from grader.model import HostOutcome, ProbeResult, Status
from grader.plugins import get_plugin_manager
from grader.referential import load_referential
from grader.roster import Candidate
from grader.runner import CheckResult, HostReport
from grader.store import Store
from reports import aggregate, plugin
from reports.html import candidate_filename, trim_output, write_reports
from reports.labels import text

RUBRIC_TEXT = """\
rubric: tssr-ecf-linux
title: "ECF TSSR — serveurs Linux"
version: "2"
hosts:
  - {name: srv-lin, role: linux, platform: linux, address: "10.0.{{ candidat }}.10", credential: jury}
  - {name: srv-web, role: web, platform: linux, address: "10.0.{{ candidat }}.20", credential: jury}
checks:
  - {id: ssh-actif, check: linux.service_active, host: srv-lin, params: {service: ssh}, criterion: CP9.1}
  - {id: sauvegarde, check: linux.file_exists, host: srv-lin, params: {path: /usr/local/bin/sauvegarde.sh},
     criterion: CP11.3, points: 2}
  - {id: syslog-distant, check: linux.rsyslog_forward, host: srv-lin, params: {target: 10.0.0.5}, criterion: CP13.3}
  - {id: apache-actif, check: linux.service_active, host: srv-web, params: {service: apache2}, criterion: CP9.1}
  - {id: journal-apache, check: linux.file_contains, host: srv-web, params: {path: /var/log/apache2/access.log},
     criterion: CP13.3, hint: "Vérifier que le candidat a consulté le journal pendant l'épreuve."}
"""

T0 = "2026-11-22T13:00:00+00:00"
LONG = "".join(f"ligne {i:05d} du journal apache\n" for i in range(10_000))
SCRIPT = "<script>alert(1)</script>"
CHECKS = {  # check id -> (host, check type, criterion, points, sentence, probe name, command, hint)
    "ssh-actif": ("srv-lin", "linux.service_active", "CP9.1", 1.0, "Le service ssh est actif.", "unit",
                  "/usr/bin/systemctl show -p LoadState,ActiveState -- ssh.service", ""),
    "sauvegarde": ("srv-lin", "linux.file_exists", "CP11.3", 2.0, "Le script /usr/local/bin/sauvegarde.sh existe.",
                   "stat", "/usr/bin/stat -c %a -- /usr/local/bin/sauvegarde.sh", ""),
    "syslog-distant": ("srv-lin", "linux.rsyslog_forward", "CP13.3", 1.0,
                       "Les journaux sont envoyés à 10.0.0.5.", "conf", "/bin/cat /etc/rsyslog.conf", ""),
    "apache-actif": ("srv-web", "linux.service_active", "CP9.1", 1.0, "Le service apache2 est actif.", "unit",
                     "/usr/bin/systemctl show -p LoadState,ActiveState -- apache2.service", ""),
    "journal-apache": ("srv-web", "linux.file_contains", "CP13.3", 1.0,
                       "Le journal /var/log/apache2/access.log est alimenté.", "log",
                       "/bin/cat /var/log/apache2/access.log",
                       "Vérifier que le candidat a consulté le journal pendant l'épreuve."),
}
# candidate -> check id -> (status, observed, expected, message, stdout, exit, timed_out)
PLAN: dict[str, dict[str, tuple[str, str, str, str, str, int | None, bool]]] = {
    "01": {
        "ssh-actif": ("conforme", "active", "active", "", "LoadState=loaded\nActiveState=active\n", 0, False),
        "sauvegarde": ("conforme", "présent (755)", "présent", "", "755\n", 0, False),
        "syslog-distant": ("non_conforme", "aucune règle de renvoi", "*.* @@10.0.0.5:514",
                           "aucune ligne de renvoi vers 10.0.0.5", f"# rsyslog\n{SCRIPT}\n*.* /var/log/all\n", 0, False),
        "apache-actif": ("conforme", "active", "active", "", "LoadState=loaded\nActiveState=active\n", 0, False),
        "journal-apache": ("conforme", "10000 lignes", "au moins une ligne", "", LONG, 0, False),
    },
    "02": {
        "ssh-actif": ("conforme", "active", "active", "", "LoadState=loaded\nActiveState=active\n", 0, False),
        "sauvegarde": ("erreur", "", "présent", "la sonde a dépassé son délai (10 s)", "", None, True),
        "syslog-distant": ("conforme", "*.* @@10.0.0.5:514", "*.* @@10.0.0.5:514", "", "*.* @@10.0.0.5:514\n", 0, False),
        "apache-actif": ("non_conforme", "inactive", "active", "apache2 est arrêté",
                         "LoadState=loaded\nActiveState=inactive\n", 0, False),
        "journal-apache": ("conforme", "3 lignes", "au moins une ligne", "", "a\nb\nc\n", 0, False),
    },
    "03": {  # srv-lin unreachable: its three checks are injoignable, never non conforme
        "apache-actif": ("conforme", "active", "active", "", "LoadState=loaded\nActiveState=active\n", 0, False),
        "journal-apache": ("non_conforme", "0 ligne", "au moins une ligne", "journal vide", "", 0, False),
    },
}
UNREACHABLE_REASON = "délai de connexion dépassé (5 s) vers 10.0.3.10:22"
N_RESULTS = 15


def _host_report(cand: str, host: str, *, unreachable: bool = False, anomalies: tuple[str, ...] = ()) -> HostReport:
    address = f"10.0.{int(cand)}.{10 if host == 'srv-lin' else 20}"
    probes: list[ProbeResult] = []
    results: list[CheckResult] = []
    for check_id, (h, ctype, crit, pts, sentence, pname, command, hint) in CHECKS.items():
        if h != host:
            continue
        key = f"ssh-{abs(hash((host, command))) % 10**12:012d}"
        if unreachable:
            status, observed, expected, message = "injoignable", "", "", UNREACHABLE_REASON
        else:
            status, observed, expected, message, stdout, exit_code, timed_out = PLAN[cand][check_id]
            probes.append(ProbeResult(key=key, transport="ssh", command=command, stdout=stdout,
                                      stderr="stat: avertissement\n" if check_id == "sauvegarde" else "",
                                      exit_code=exit_code, started=T0, duration=0.012, timed_out=timed_out))
        results.append(CheckResult(
            check_id=check_id, check_type=ctype, criterion=crit, points=pts, sentence=sentence, params={"x": 1},
            status=Status(status), observed=observed, expected=expected, message=message, hint=hint,
            probe_keys={pname: key}, judged_at="2026-11-22T13:00:02.500+00:00"))
    if unreachable:
        outcome = HostOutcome(False, UNREACHABLE_REASON, status=Status.INJOIGNABLE)
    else:
        outcome = HostOutcome(True, host_key="ssh-ed25519 SHA256:q7bJ1Zc3mF0xUyqfP2vQzXJt1mJzq6c0Qw9kq4oHc9A",
                              anomalies=anomalies, execs=1, status=Status.CONFORME)
    return HostReport(cand, host, address, "linux", "ssh", "jury (clé)", outcome, T0, 1.25 if not unreachable else 5.0,
                      probes, results)


def build_store(tmp_path: Path, *, interrupted: bool = False) -> tuple[Store, str]:
    store = Store(tmp_path / "session")
    rubric = SimpleNamespace(rubric="tssr-ecf-linux", title="ECF TSSR — serveurs Linux", version="2",
                             source=Path("rubrics/tssr-ecf-linux.yaml"), text=RUBRIC_TEXT)
    candidates = [Candidate("01", "Alice Martin", {"salle": "B12"}), Candidate("02", "Bruno Petit"),
                  Candidate("03", "Chloé Durand")]
    run_id = store.new_run(run_id="2026-11-22-1300", rubric=rubric, roster_text="id;nom\n", candidates=candidates)
    store.save_host(run_id, _host_report("01", "srv-lin"))
    store.save_host(run_id, _host_report("01", "srv-web"))
    store.save_host(run_id, _host_report("02", "srv-lin"))
    if not interrupted:
        store.save_host(run_id, _host_report("02", "srv-web"))
    store.save_host(run_id, _host_report("03", "srv-lin", unreachable=True))
    store.save_host(run_id, _host_report("03", "srv-web", anomalies=("Bienvenue sur srv-web ! <b>rc</b>",)))
    store.finish_run(run_id, "interrompu" if interrupted else "termine")
    return store, run_id


@pytest.fixture()
def session(tmp_path: Path) -> tuple[Store, str, Path, list[Path]]:
    store, run_id = build_store(tmp_path)
    out = tmp_path / "rapports"
    written = write_reports(store, run_id, out)
    return store, run_id, out, written


def _articles(html: str) -> list[tuple[dict[str, str], str]]:
    """(attributes, inner html) of every check article."""
    found = []
    for m in re.finditer(r'<article class="check[^"]*" data-check="([^"]*)" data-host="([^"]*)" data-status="([^"]*)">'
                         r"(.*?)</article>", html, re.DOTALL):
        found.append(({"check": m[1], "host": m[2], "status": m[3]}, m[4]))
    return found


def _criterion(html: str, crit_id: str) -> str:
    m = re.search(rf'<div class="criterion" id="{re.escape(crit_id)}">(.*?)<div class="observations">', html, re.DOTALL)
    assert m, f"criterion {crit_id} missing"
    return m[1]


# --- files --------------------------------------------------------------------------------------


def test_every_file_is_written(session) -> None:
    _, _, out, written = session
    names = sorted(p.name for p in written)
    assert names == sorted(["session.html", "candidat-01.html", "candidat-02.html", "candidat-03.html",
                            "resultats.csv", "resultats.json"])
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)
    for page in out.glob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "<style>" in html and "http://" not in html and "https://" not in html  # self-contained
        assert "<script" not in html.replace("&lt;script", "")  # no script of our own either
        assert "@media print" in html and "details > *:not(summary)" in html


def test_candidate_filename_is_safe() -> None:
    assert candidate_filename("01") == "candidat-01.html"
    assert candidate_filename("../x y") == "candidat-.._x_y.html"


# --- candidate page -----------------------------------------------------------------------------


def test_candidate_page_lists_every_criterion_of_touched_competences(session) -> None:
    _, _, out, _ = session
    html = (out / "candidat-01.html").read_text(encoding="utf-8")
    ref = load_referential()
    for code in ("CP9", "CP11", "CP13"):
        for crit in ref.competence(code).criteria:
            body = _criterion(html, crit.id)
            assert crit.text.replace("'", "&#39;") in html
            if crit.id not in ("CP9.1", "CP11.3", "CP13.3"):
                assert "Non évaluable automatiquement — évalué par le jury" in body
                assert "entretien technique" in body  # the competence's own modalities
            else:
                assert "Non évaluable automatiquement" not in body
    assert "CP12" not in html and "CP10.1" not in html  # untouched competences are not listed
    assert html.count('class="observations"') == 3 + 4 + 3  # one jury box per criterion
    # header: candidate, rubric, run, collection window, grader version
    assert "Alice Martin" in html and "ECF TSSR — serveurs Linux" in html and "2026-11-22-1300" in html
    assert "Collecte" in html and "Version de grader" in html
    # host table: fingerprint and number of SSH execs
    assert "SHA256:q7bJ1Zc3mF0xUyqfP2vQzXJt1mJzq6c0Qw9kq4oHc9A" in html


def test_statuses_are_french_labels(session) -> None:
    _, _, out, _ = session
    html = (out / "candidat-02.html").read_text(encoding="utf-8")
    labels = {a["status"]: inner for a, inner in _articles(html)}
    assert set(labels) == {"conforme", "non_conforme", "erreur"}
    assert '<span class="badge b-erreur">' in labels["erreur"] and "erreur</span>" in labels["erreur"]
    assert "non conforme</span>" in labels["non_conforme"]
    assert "la sonde a dépassé son délai" in html and "délai dépassé" in html
    assert "code de retour 0 ·" in html and "code de retour 0.0" not in html and "pas de code de retour" in html
    assert "stat: avertissement" in html  # stderr shown too
    hint = "Vérifier que le candidat a consulté le journal pendant l&#39;épreuve."
    assert hint in html and "Note du formateur" in html


def test_unreachable_is_never_labelled_non_conforme(session) -> None:
    _, _, out, _ = session
    html = (out / "candidat-03.html").read_text(encoding="utf-8")
    on_lin = [(a, inner) for a, inner in _articles(html) if a["host"] == "srv-lin"]
    assert len(on_lin) == 3
    for attrs, inner in on_lin:
        assert attrs["status"] == "injoignable"
        assert "injoignable</span>" in inner and "non conforme" not in inner
        assert "Aucune sortie collectée" in inner
    assert "srv-lin injoignable : 3 vérifications non évaluées" in html and UNREACHABLE_REASON in html
    assert "Bienvenue sur srv-web ! &lt;b&gt;rc&lt;/b&gt;" in html  # the rc-file banner, as text
    # points: what was not evaluated is shown apart, not counted as failed
    pts = aggregate.points(aggregate.load_frames(*session[:2]))
    assert pts.loc["03"].to_dict() == {"obtained": 1.0, "non_conforme": 1.0, "unsure": 4.0, "possible": 6.0}
    assert "4 point(s) non évalué(s)" in html


def test_candidate_output_is_escaped(session) -> None:
    _, _, out, _ = session
    html = (out / "candidat-01.html").read_text(encoding="utf-8")
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_long_output_is_trimmed(session) -> None:
    _, _, out, _ = session
    html = (out / "candidat-01.html").read_text(encoding="utf-8")
    assert "ligne 00000 du journal" in html and "ligne 09999 du journal" in html  # head and tail kept
    assert "ligne 05000 du journal" not in html
    assert "(tronqué)" in html
    assert len(html.encode()) < 120_000


def test_trim_output_limits() -> None:
    small = trim_output("a\nb\n")
    assert small == {"head": "a\nb\n", "marker": "", "tail": "", "trimmed": False, "empty": False}
    big = trim_output(LONG)
    assert big["trimmed"] and big["head"].count("\n") + big["tail"].count("\n") <= 40
    assert len((big["head"] + big["tail"]).encode()) <= 4096 + 1
    one_line = trim_output("x" * 50_000)
    assert one_line["trimmed"] and len((one_line["head"] + one_line["tail"]).encode()) <= 4096 + 1
    accents = trim_output("é" * 5000)  # never cut a UTF-8 character in two
    assert set(accents["head"].strip() + accents["tail"]) == {"é"}


# --- session page -------------------------------------------------------------------------------


def test_session_matrix_has_one_row_per_candidate(session) -> None:
    store, run_id, out, _ = session
    html = (out / "session.html").read_text(encoding="utf-8")
    assert html.count('<tr class="cand-row"') == 3
    for cand in ("01", "02", "03"):
        assert f'href="candidat-{cand}.html"' in html
    assert "le serveur srv-lin du candidat 03 (10.0.3.10) ne répond pas" in html.lower()
    frames = aggregate.load_frames(store, run_id)
    matrix = aggregate.competence_matrix(frames)
    assert list(matrix.index) == ["01", "02", "03"] and list(matrix.columns) == ["CP9", "CP11", "CP13"]
    assert matrix.loc["01", "CP13"] == "1/2 conformes · 1 non conforme(s)"
    assert matrix.loc["03", "CP9"] == "1/2 conformes · 1 non concluante(s)"
    assert matrix.loc["03", "CP11"] == "0/1 conformes · 1 non concluante(s)"


def test_aggregations(session) -> None:
    store, run_id, _, _ = session
    frames = aggregate.load_frames(store, run_id)
    assert len(frames.results) == N_RESULTS and frames.missing.empty
    assert {"address", "host_status", "host_reason", "host_key", "execs", "anomalies"} <= set(frames.results.columns)
    counts = aggregate.status_counts(frames)
    assert counts.loc["03"].to_dict() == {"conforme": 1, "non_conforme": 1, "erreur": 0, "injoignable": 3,
                                          "non_evalue": 0, "total": 5}
    assert counts.loc["02", "erreur"] == 1
    table = aggregate.criteria_table(frames, "01")
    assert list(dict.fromkeys(table["competence"])) == ["CP9", "CP11", "CP13"]
    jury = table[table["kind"] == "jury"]
    assert sorted(jury["criterion"]) == ["CP11.1", "CP11.2", "CP11.4", "CP13.1", "CP13.2", "CP9.2", "CP9.3"]
    assert (table[table["criterion"] == "CP9.1"]["check_id"].tolist() == ["ssh-actif", "apache-actif"])  # rubric order
    notes = aggregate.host_notes(frames)
    assert notes["line"].tolist() == [f"srv-lin injoignable : 3 vérification(s) non évaluable(s) — {UNREACHABLE_REASON}"]


def test_interrupted_run_shows_missing_checks_as_not_evaluated(tmp_path: Path) -> None:
    store, run_id = build_store(tmp_path, interrupted=True)
    out = tmp_path / "rapports"
    write_reports(store, run_id, out)
    frames = aggregate.load_frames(store, run_id)
    assert len(frames.missing) == 2 and set(frames.missing["status"]) == {"non_evalue"}
    pts = aggregate.points(frames)
    assert pts.loc["02", "possible"] == pts.loc["01", "possible"] == 6.0
    html = (out / "candidat-02.html").read_text(encoding="utf-8")
    assert "srv-web non corrigé : 2 vérifications non évaluées" in html
    assert "interrompue" in html
    assert len(pd.read_csv(out / "resultats.csv", sep=";", encoding="utf-8-sig")) == N_RESULTS - 2


# --- exports ------------------------------------------------------------------------------------


def test_csv_opens_in_french_excel(session) -> None:
    _, _, out, _ = session
    raw = (out / "resultats.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(out / "resultats.csv", sep=";", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert len(table) == N_RESULTS
    for col in ("candidat", "machine", "verification", "critere", "competence", "statut", "constate", "attendu",
                "explication", "adresse", "juge_le"):
        assert col in table.columns
    row = table[(table["candidat"] == "03") & (table["verification"] == "ssh-actif")].iloc[0]
    assert row["statut"] == "injoignable" and row["adresse"] == "10.0.3.10" and row["competence"] == "CP9"
    assert set(table["statut"]) == {"conforme", "non conforme", "erreur", "injoignable"}
    assert table[table["verification"] == "sauvegarde"]["points"].tolist() == ["2"] * 3


def test_json_counts_match(session) -> None:
    _, run_id, out, _ = session
    doc = json.loads((out / "resultats.json").read_text(encoding="utf-8"))
    assert doc["run"]["id"] == run_id and doc["run"]["rubric_version"] == "2"
    assert len(doc["results"]) == N_RESULTS
    assert sum(doc["counts"][c]["total"] for c in doc["counts"]) == N_RESULTS
    by_status: dict[str, int] = {}
    for r in doc["results"]:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    assert by_status == {"conforme": 8, "non_conforme": 3, "erreur": 1, "injoignable": 3}
    journal = next(r for r in doc["results"] if r["candidate"] == "01" and r["check_id"] == "journal-apache")
    assert journal["evidence"][0]["stdout"] == LONG  # the complete text stays in the export
    unreachable = [r for r in doc["results"] if r["host_status"] == "injoignable"]
    assert all(not e["collected"] for r in unreachable for e in r["evidence"])


# --- language and plugin ------------------------------------------------------------------------


def test_english_labels(tmp_path: Path) -> None:
    store, run_id = build_store(tmp_path)
    out = tmp_path / "en"
    write_reports(store, run_id, out, lang="en")
    html = (out / "candidat-03.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in html
    assert "unreachable</span>" in html and "compliant</span>" in html and "not compliant</span>" in html
    assert "Not assessable automatically — assessed by the jury" in html
    assert "Jury&#39;s observations" in html and "non conforme" not in html
    table = pd.read_csv(out / "resultats.csv", sep=";", encoding="utf-8-sig")
    assert "status" in table.columns and "unreachable" in set(table["status"])


def test_labels_come_from_the_catalogue_in_both_languages() -> None:
    # Completeness of both languages is tests/test_i18n.py's; here, the reports' lookup itself.
    assert (text("fr", "h.legend"), text("en", "h.legend")) == ("Légende", "Legend")
    with pytest.raises(KeyError):
        text("fr", "no.such.label")


def test_reporter_is_registered_through_pluggy(tmp_path: Path) -> None:
    pm = get_plugin_manager(load_entrypoints=False, extra=(plugin,))
    reporters = [r for batch in pm.hook.grader_register_reporters() for r in batch]
    assert [r.name for r in reporters] == ["html"]
    store, run_id = build_store(tmp_path)
    written = reporters[0].write(store, run_id, tmp_path / "out", "fr")
    assert (tmp_path / "out" / "session.html") in written


def test_empty_run_and_unknown_criterion(tmp_path: Path) -> None:
    store = Store(tmp_path / "session")
    rubric = SimpleNamespace(rubric="vide", title="Vide", version="1", source=None, text="")
    run_id = store.new_run(run_id="r1", rubric=rubric, roster_text="", candidates=[Candidate("01"), Candidate("02")])
    written = write_reports(store, run_id, tmp_path / "empty")  # nothing collected yet (run en cours)
    assert len(written) == 5  # session, 2 candidates, CSV, JSON
    assert "en cours" in (tmp_path / "empty" / "session.html").read_text(encoding="utf-8")
    assert len(pd.read_csv(tmp_path / "empty" / "resultats.csv", sep=";", encoding="utf-8-sig")) == 0

    report = _host_report("01", "srv-web")
    report.results[0].criterion = "CP99.1"  # a criterion the referential does not know: shown, not dropped
    store.save_host(run_id, report)
    write_reports(store, run_id, tmp_path / "outside")
    html = (tmp_path / "outside" / "candidat-01.html").read_text(encoding="utf-8")
    assert "Critères hors référentiel" in html and "apache-actif" in html
    assert "srv-web non corrigé" in (tmp_path / "outside" / "candidat-02.html").read_text(encoding="utf-8")
