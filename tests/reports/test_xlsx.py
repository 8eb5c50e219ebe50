"""``resultats.xlsx``, opened back with openpyxl: the session counts and each candidate's RC grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pytest

from grader.referential import load_referential
from reports import aggregate
from reports.labels import STATUSES
from reports.plugin import HtmlReporter
from reports.xlsx import COL, GRID_COLUMNS, SESSION_HEADER_ROW, XLSX_FILE, cell_text, sheet_name, write_workbook
from tests.reports.test_reports import build_store

JURY = "Non évaluable automatiquement — à évaluer en entretien technique"


@pytest.fixture()
def workbook(tmp_path: Path) -> tuple[Any, Any, Path]:
    store, run_id = build_store(tmp_path)
    frames = aggregate.load_frames(store, run_id)
    path = write_workbook(store, run_id, tmp_path / "out", frames=frames)
    yield openpyxl.load_workbook(path), frames, path
    store.close()


def grid(ws) -> tuple[int, list[dict[str, Any]]]:
    """(heading row, every row below it as {column key: value}) of a candidate sheet."""
    header = next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == "Compétence"
                  and ws.cell(r, COL["observations"]).value == "Observations du jury")
    rows = []
    for r in range(header + 1, ws.max_row + 1):
        rows.append({key: ws.cell(r, COL[key]).value for key, _, _ in GRID_COLUMNS} | {"_row": r})
    return header, rows


def test_sheets_and_file_name(workbook) -> None:
    wb, _, path = workbook
    assert path.name == XLSX_FILE
    assert wb.sheetnames == ["Session", "Candidat 01", "Candidat 02", "Candidat 03"]


def test_grid_lists_every_rc_criterion_of_each_touched_competence(workbook) -> None:
    wb, _, _ = workbook
    ref = load_referential()
    for cand in ("01", "02", "03"):
        _, rows = grid(wb[f"Candidat {cand}"])
        criteria = [(r["competence"], r["criterion"], r["criterion_text"]) for r in rows if r["criterion"]]
        expected = [(code, c.id, c.text) for code in ("CP9", "CP11", "CP13") for c in ref.competence(code).criteria]
        assert criteria == expected  # each criterion once, exact RC text, RC order
        for r in rows:
            if r["criterion"]:
                comp = ref.competence(r["competence"])
                assert r["modalities"] == ", ".join(ref.modality(m).label for m in comp.modalities)


def test_checks_sit_under_their_criterion_and_jury_rows_elsewhere(workbook) -> None:
    wb, _, _ = workbook
    ws = wb["Candidat 01"]
    _, rows = grid(ws)
    current = None
    seen: dict[str, list[str]] = {}
    for r in rows:
        current = r["criterion"] or current
        if r["check_id"]:
            seen.setdefault(current, []).append(r["check_id"])
    assert seen == {"CP9.1": ["ssh-actif", "apache-actif"], "CP11.3": ["sauvegarde"],
                    "CP13.3": ["syslog-distant", "journal-apache"]}
    by_criterion = {r["criterion"]: r for r in rows if r["criterion"]}
    for crit in ("CP9.2", "CP9.3", "CP11.1", "CP11.2", "CP11.4", "CP13.1", "CP13.2"):
        assert by_criterion[crit]["sentence"] == JURY and not by_criterion[crit]["check_id"]
    for crit in ("CP9.1", "CP11.3", "CP13.3"):
        assert by_criterion[crit]["sentence"] != JURY
    # one empty jury box per criterion, spread over the rows of its checks
    assert all(r["observations"] in (None, "") for r in rows)
    merged = {str(m) for m in ws.merged_cells.ranges}
    cp91 = by_criterion["CP9.1"]["_row"]
    obs = openpyxl.utils.get_column_letter(COL["observations"])
    assert f"{obs}{cp91}:{obs}{cp91 + 1}" in merged


def test_check_rows_carry_status_observed_expected_host_time(workbook) -> None:
    wb, _, _ = workbook
    _, rows = grid(wb["Candidat 01"])
    syslog = next(r for r in rows if r["check_id"] == "syslog-distant")
    assert syslog["status"] == "non conforme"
    assert syslog["observed"] == "aucune règle de renvoi" and syslog["expected"] == "*.* @@10.0.0.5:514"
    assert syslog["message"] == "aucune ligne de renvoi vers 10.0.0.5"
    assert syslog["host"] == "srv-lin (10.0.1.10)" and syslog["time"].startswith("22/11/2026")
    assert syslog["sentence"] == "Les journaux sont envoyés à 10.0.0.5." and syslog["points"] == 1
    _, rows3 = grid(wb["Candidat 03"])
    statuses = {r["check_id"]: r["status"] for r in rows3 if r["check_id"]}
    assert statuses == {"ssh-actif": "injoignable", "apache-actif": "conforme", "sauvegarde": "injoignable",
                        "syslog-distant": "injoignable", "journal-apache": "non conforme"}


def test_session_sheet_counts_match_the_aggregates(workbook) -> None:
    wb, frames, _ = workbook
    ws = wb["Session"]
    top, sub = SESSION_HEADER_ROW, SESSION_HEADER_ROW + 1
    heads = {ws.cell(top, c).value: c for c in range(1, ws.max_column + 1) if ws.cell(top, c).value}
    assert ws.cell(top, 1).value == "Candidat" and ws.cell(top, 2).value == "Nom"
    counts = aggregate.competence_counts(frames)
    labels = ["conforme", "non conforme", "erreur", "injoignable", "non évalué"]
    for code in ("CP9", "CP11", "CP13"):
        first = next(c for h, c in heads.items() if h.startswith(f"{code} — "))
        assert [ws.cell(sub, first + i).value for i in range(5)] == labels
        for row in range(sub + 1, sub + 4):
            cand = ws.cell(row, 1).value
            rec = counts[(counts["candidate"] == cand) & (counts["competence"] == code)].iloc[0]
            assert [ws.cell(row, first + i).value for i in range(5)] == [int(rec[s]) for s in STATUSES]
    totals = aggregate.status_counts(frames)
    first = heads["Toutes compétences"]
    row03 = next(r for r in range(sub + 1, sub + 4) if ws.cell(r, 1).value == "03")
    assert ws.cell(row03, 2).value == "Chloé Durand"
    assert [ws.cell(row03, first + i).value for i in range(6)] == [int(totals.loc["03", s]) for s in STATUSES] + [5]
    pts = heads["Points"]
    assert [ws.cell(row03, pts + i).value for i in range(4)] == [1.0, 1.0, 4.0, 6.0]


def test_untrusted_text_is_never_a_formula(tmp_path: Path) -> None:
    from tests.reports.test_reports import _host_report

    store, run_id = build_store(tmp_path)
    report = _host_report("01", "srv-web")
    report.results[0].observed = '=HYPERLINK("http://x","clic")'
    report.results[0].expected = "\x1b[31mrouge\x1b[0m"
    store.save_host(run_id, report)
    path = write_workbook(store, run_id, tmp_path / "out")
    ws = openpyxl.load_workbook(path)["Candidat 01"]
    _, rows = grid(ws)
    row = next(r for r in rows if r["check_id"] == "apache-actif")
    cell = ws.cell(row["_row"], COL["observed"])
    assert cell.value == '=HYPERLINK("http://x","clic")' and cell.data_type == "s"
    assert row["expected"] == "[31mrouge[0m"
    store.close()


def test_english_workbook(tmp_path: Path) -> None:
    store, run_id = build_store(tmp_path)
    wb = openpyxl.load_workbook(write_workbook(store, run_id, tmp_path / "en", lang="en"))
    assert wb.sheetnames[:2] == ["Session", "Candidate 01"]
    ws = wb["Candidate 01"]
    texts = {c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    assert "Jury's observations" in texts and "not compliant" in texts
    assert "Not assessable automatically — to be assessed in the technical interview" in texts
    store.close()


def test_helpers() -> None:
    taken: set[str] = set()
    assert sheet_name("Candidat 01", taken) == "Candidat 01"
    assert sheet_name("candidat 01", taken) == "candidat 01 (2)"
    assert sheet_name("a/b:c*?[d]" + "x" * 40, taken) == ("a_b_c___d_" + "x" * 40)[:31]
    assert len(cell_text("é" * 40_000)) == 32_767
    assert cell_text(None) == "" and cell_text(float("nan")) == ""


def test_reporter_writes_the_workbook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADER_CHROMIUM", "")
    store, run_id = build_store(tmp_path)
    written = HtmlReporter().write(store, run_id, tmp_path / "rapports", "fr")
    assert tmp_path / "rapports" / XLSX_FILE in written
    assert openpyxl.load_workbook(tmp_path / "rapports" / XLSX_FILE).sheetnames[0] == "Session"
    store.close()
