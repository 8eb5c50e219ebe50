"""The grid shows the referential as the RC writes it (issue #14 §5).

A rubric naming its certificate session (``session: ccp1``) gets that session's own modalities
on the candidate page, the session page and the workbook (CCP1 evaluates CP4 in the mise en
situation, which §3.2 does not); without one, §3.2's. Evidence attached to CCS3, a competence
the RC gives no criterion, has its own row. Each competence lists the compétences transversales
(RC §3.3) it carries.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import openpyxl

from grader.model import HostOutcome, ProbeResult, Status
from grader.roster import Candidate
from grader.runner import CheckResult, HostReport
from grader.store import Store
from reports import aggregate
from reports.html import write_reports
from reports.xlsx import write_workbook

T0 = "2026-11-22T13:00:00+00:00"
CHECKS = [  # check id, criterion, status
    ("ticket", "CP3.1", "conforme"),
    ("collaboratif", "CP4.1", "conforme"),
    ("ssh", "CP9.1", "conforme"),
    ("supervision", "CCS3", "non_conforme"),
]


def _rubric_text(session: str | None) -> str:
    head = f"session: {session}\n" if session else ""
    checks = "".join(f"  - {{id: {c}, check: linux.file_exists, host: srv, params: {{path: /x}}, criterion: {crit}}}\n"
                     for c, crit, _ in CHECKS)
    return (f"rubric: grille\ntitle: Grille\n{head}hosts:\n"
            "  - {name: srv, role: linux, platform: linux, address: 10.0.1.10}\nchecks:\n" + checks)


def _store(tmp_path: Path, session: str | None) -> tuple[Store, str]:
    store = Store(tmp_path / f"session-{session}")
    rubric = SimpleNamespace(rubric="grille", title="Grille", version="1", source=None, text=_rubric_text(session))
    run_id = store.new_run(run_id="r1", rubric=rubric, roster_text="", candidates=[Candidate("01", "Alice")])
    probes, results = [], []
    for check_id, crit, status in CHECKS:
        key = f"ssh-{check_id}"
        probes.append(ProbeResult(key=key, transport="ssh", command="/usr/bin/stat -- /x", stdout="644\n", stderr="",
                                  exit_code=0, started=T0, duration=0.01, timed_out=False))
        results.append(CheckResult(check_id=check_id, check_type="linux.file_exists", criterion=crit, points=1.0,
                                   sentence=f"Constat {check_id}.", params={}, status=Status(status), observed="x",
                                   expected="x", message="", hint="", probe_keys={"stat": key}, judged_at=T0))
    outcome = HostOutcome(True, host_key="ssh-ed25519 SHA256:x", execs=1, status=Status.CONFORME)
    store.save_host(run_id, HostReport("01", "srv", "10.0.1.10", "linux", "ssh", "jury", outcome, T0, 1.0,
                                       probes, results))
    store.finish_run(run_id, "termine")
    return store, run_id


def _section(html: str, code: str) -> str:
    m = re.search(rf'<section class="competence" id="{code}">(.*?)</section>', html, re.DOTALL)
    assert m, f"competence {code} missing"
    return m[1]


def _sub(section: str) -> str:
    m = re.search(r'<div class="sub">(.*?)</div>', section, re.DOTALL)
    assert m
    return m[1]


def test_frames_follow_the_rubric_session(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path, "ccp1")
    frames = aggregate.load_frames(store, run_id)
    assert frames.session == "ccp1"
    table = aggregate.criteria_table(frames, "01")
    mods = {r["competence"]: r["modalities"] for r in table.to_dict("records")}
    assert mods["CP4"] == ["mise_en_situation", "entretien_technique"]  # the CCP1 session table
    assert mods["CP3"] == ["mise_en_situation"]  # §3.2 adds the questionnaire professionnel
    assert mods["CP9"] == ["mise_en_situation", "entretien_technique", "questionnaire_professionnel"]  # not CCP1's: §3.2
    plain = aggregate.criteria_table(aggregate.load_frames(*_store(tmp_path, None)), "01")
    assert aggregate.load_frames(*_store(tmp_path, "ccp9")).session is None  # unknown key: §3.2, never a crash
    assert {r["competence"]: r["modalities"] for r in plain.to_dict("records")}["CP4"] == [
        "entretien_technique", "questionnaire_professionnel"]


def test_competence_without_criteria_has_its_row(tmp_path: Path) -> None:
    frames = aggregate.load_frames(*_store(tmp_path, None))
    table = aggregate.criteria_table(frames, "01")
    ccs3 = table[table["competence"] == "CCS3"]
    assert list(ccs3["criterion"]) == ["CCS3"] and list(ccs3["kind"]) == ["check"]
    assert list(ccs3["check_id"]) == ["supervision"]
    assert (table["kind"] != "outside").all()  # CCS3 is in the referential, not « hors référentiel »


def test_candidate_page_shows_session_modalities_ccs3_and_transversals(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path, "ccp1")
    write_reports(store, run_id, tmp_path / "ccp1")
    html = (tmp_path / "ccp1" / "candidat-01.html").read_text(encoding="utf-8")
    assert "Mise en situation professionnelle, Entretien technique" in _sub(_section(html, "CP4"))
    assert "CCP1" in html and "session du CCP1" in html
    ccs3 = _section(html, "CCS3")
    assert '<div class="criterion" id="CCS3">' in ccs3 and 'data-check="supervision"' in ccs3
    assert "rattachées à la compétence" in ccs3
    cp9 = _section(html, "CP9")
    assert "Compétences transversales" in cp9
    assert 'data-code="CT1"' in cp9 and 'data-code="CT2"' in cp9 and 'data-code="CT3"' not in cp9
    assert "Exploiter une documentation technique ou une interface de logiciel en anglais" in cp9
    assert "Compétences transversales" not in _section(html, "CP4")  # CP4 carries none

    store, run_id = _store(tmp_path, None)
    write_reports(store, run_id, tmp_path / "titre", lang="en")
    html = (tmp_path / "titre" / "candidat-01.html").read_text(encoding="utf-8")
    assert "Entretien technique, Questionnaire professionnel" in _sub(_section(html, "CP4"))  # §3.2
    assert "RC §3.2" in html and "Transversal competences" in _section(html, "CP3")


def test_session_page_lists_modalities_and_transversals(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path, "ccp1")
    write_reports(store, run_id, tmp_path / "out")
    html = (tmp_path / "out" / "session.html").read_text(encoding="utf-8")
    rows = dict(re.findall(r"<tr><td><strong>(\w+)</strong></td>(.*?)</tr>", html))
    assert "Mise en situation professionnelle, Entretien technique</td>" in rows["CP4"]
    assert 'data-code="CT1"' in rows["CP3"] and 'data-code="CT3"' in rows["CP3"]
    assert "1 critère(s) sur 1 observé(s)" in rows["CCS3"]  # CCS3's own row counts as one


def test_workbook_shows_session_modalities_and_ccs3(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path, "ccp1")
    path = write_workbook(store, run_id, tmp_path / "out")
    ws = openpyxl.load_workbook(path).worksheets[1]
    cells = [str(c.value) for row in ws.iter_rows() for c in row if c.value is not None]
    banner = next(c for c in cells if c.startswith("CP4 — "))
    assert "Mise en situation professionnelle, Entretien technique" in banner
    assert any(c.startswith("CP9 — ") and "Compétences transversales" in c for c in cells)
    assert "CCS3" in cells and "supervision" in cells
