"""Pictures (session heatmap, candidate bars), dependency chains and the trainee view.

Built on the store of :mod:`tests.reports.test_reports`: candidate 01 has one non conforme
check (CP13), candidate 02 an erreur (CP11) and a non conforme (CP9), candidate 03's srv-lin
never answered (its three checks, one in each of CP9, CP11 and CP13, are injoignable).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reports import aggregate
from reports.html import TRAINEE_DIR, render_candidate, write_reports
from tests.reports.test_reports import build_store

JOURNAL_HINT = "Vérifier que le candidat a consulté le journal pendant l&#39;épreuve."  # as escaped in HTML


@pytest.fixture()
def pages(tmp_path: Path) -> dict[str, str]:
    store, run_id = build_store(tmp_path)
    out = tmp_path / "rapports"
    write_reports(store, run_id, out)
    return {p.name: p.read_text(encoding="utf-8") for p in out.glob("*.html")}


def _heat_cells(html: str) -> dict[tuple[str, str], tuple[dict[str, str], str]]:
    """(candidate, competence) -> (attributes, inner html) of every heatmap cell."""
    cells = {}
    for row in re.finditer(r'<tr class="heat-row" data-candidate="([^"]*)">(.*?)</tr>', html, re.DOTALL):
        for cell in re.finditer(r'<td class="heat ([^"]*)"[^>]*?data-competence="([^"]*)"([^>]*)>(.*?)</td>',
                                row[2], re.DOTALL):
            attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', cell[3]))
            attrs["class"] = cell[1]
            cells[(row[1], cell[2])] = (attrs, cell[4])
    return cells


def _bars(html: str) -> dict[str, tuple[dict[str, str], dict[str, int], str]]:
    """competence -> (bar attributes, segment kind -> number, text beside the bar)."""
    bars = {}
    for row in re.finditer(r'<tr class="bar-row" data-competence="([^"]*)">(.*?)</tr>', html, re.DOTALL):
        bar = re.search(r'<div class="bar"([^>]*)>(.*?)</div>', row[2], re.DOTALL)
        assert bar, row[1]
        attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', bar[1]))
        segments = {m[1]: int(m[2]) for m in re.finditer(
            r'<span class="seg seg-([a-z_]+)" data-n="(\d+)"[^>]*><span class="seg-mark"[^>]*>[^<]+</span>(\d+)</span>',
            bar[2]) if m[2] == m[3]}
        beside = re.search(r'<td class="bar-text small">(.*?)</td>', row[2], re.DOTALL)
        bars[row[1]] = (attrs, segments, beside[1] if beside else "")
    return bars


def _competence(html: str, code: str) -> str:
    m = re.search(rf'<section class="competence" id="{code}">(.*?)</section>', html, re.DOTALL)
    assert m, code
    return m[1]


# --- pictures -------------------------------------------------------------------------------------


def test_session_heatmap_has_one_cell_per_candidate_and_competence(pages) -> None:
    cells = _heat_cells(pages["session.html"])
    assert set(cells) == {(c, comp) for c in ("01", "02", "03") for comp in ("CP9", "CP11", "CP13")}
    attrs, inner = cells[("01", "CP13")]  # 1 conforme, 1 non conforme
    assert (attrs["conforme"], attrs["conclusive"], attrs["inconclusive"], attrs["share"]) == ("1", "2", "0", "50")
    assert "h-2" in attrs["class"] and "50 %" in inner and "1/2 conformes" in inner
    attrs, inner = cells[("01", "CP9")]
    assert attrs["share"] == "100" and "h-4" in attrs["class"] and "2/2 conformes" in inner
    attrs, inner = cells[("02", "CP9")]  # apache stopped
    assert attrs["share"] == "50" and "1/2 conformes" in inner


def test_heatmap_shows_inconclusive_apart_never_as_a_share(pages) -> None:
    cells = _heat_cells(pages["session.html"])
    attrs, inner = cells[("02", "CP11")]  # the only check timed out: nothing concluded, hatched and "?"
    assert "h-unknown" in attrs["class"] and "share" not in attrs
    assert (attrs["conclusive"], attrs["inconclusive"]) == ("0", "1")
    assert "? rien n&#39;a conclu" in inner and "%" not in inner
    attrs, inner = cells[("03", "CP9")]  # apache conforme, ssh injoignable: share of the conclusive one only
    assert attrs["share"] == "100" and "has-unknown" in attrs["class"]
    assert "1/1 conformes" in inner and "? 1 non concluante(s)" in inner
    assert "⊘ srv-lin injoignable" in inner  # why it is unknown, in the cell
    assert "⊘" not in cells[("01", "CP9")][1]


def test_heatmap_legend_and_print_safety(pages) -> None:
    html = pages["session.html"]
    for label in ("0 à 19 %", "20 à 39 %", "40 à 59 %", "60 à 79 %", "80 à 100 %", "aucune vérification n&#39;a conclu"):
        assert label in html
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert ".h-unknown { background: repeating-linear-gradient" in html  # hatched, not a colour alone


def test_candidate_bars_have_one_segment_per_kind_with_its_number(pages) -> None:
    bars = _bars(pages["candidat-03.html"])
    assert list(bars) == ["CP9", "CP11", "CP13"]
    attrs, segments, beside = bars["CP9"]
    assert attrs == {"conforme": "1", "non-conforme": "0", "inconclusive": "1", "total": "2"}
    assert segments == {"conforme": 1, "inconclusive": 1}
    assert beside.startswith("1 conforme(s) · 1 non concluante(s)")
    assert bars["CP11"][1] == {"inconclusive": 1}
    assert bars["CP13"][1] == {"non_conforme": 1, "inconclusive": 1}
    bars = _bars(pages["candidat-01.html"])
    assert bars["CP9"][1] == {"conforme": 2} and bars["CP13"][1] == {"conforme": 1, "non_conforme": 1}
    assert bars["CP11"][1] == {"conforme": 1}
    assert '<a href="#CP13">CP13</a>' in pages["candidat-01.html"]  # each bar leads to its competence


def test_bar_marks_every_segment_not_only_by_colour(pages) -> None:
    html = pages["candidat-02.html"]
    assert '<span class="seg seg-non_conforme" data-n="1"' in html and ">✗</span>1</span>" in html
    assert '<span class="seg seg-inconclusive" data-n="1"' in html and ">?</span>1</span>" in html
    assert ">✓</span>1</span>" in html


def test_pictures_in_english(tmp_path: Path) -> None:
    store, run_id = build_store(tmp_path)
    out = tmp_path / "en"
    write_reports(store, run_id, out, lang="en")
    session = (out / "session.html").read_text(encoding="utf-8")
    assert "Competence map: share of compliant checks" in session and "? nothing concluded" in session
    assert "50%" in session and "1/2 compliant" in session
    candidate = (out / "candidat-03.html").read_text(encoding="utf-8")
    assert "Checks per competence" in candidate and "1 compliant · 1 inconclusive" in candidate
    assert "srv-lin unreachable: 3 checks not evaluated" in candidate
    assert "srv-lin unreachable: 1 check not evaluated" in candidate


# --- dependency chains ----------------------------------------------------------------------------


def test_dependency_chains_are_counted_per_host_and_competence(tmp_path: Path) -> None:
    store, run_id = build_store(tmp_path)
    frames = aggregate.load_frames(store, run_id)
    chains = aggregate.dependency_chains(frames)
    assert [(r["candidate"], r["host"], r["host_status"], r["competence"], r["n"])
            for r in chains.to_dict("records")] == [
        ("03", "srv-lin", "injoignable", "CP9", 1), ("03", "srv-lin", "injoignable", "CP11", 1),
        ("03", "srv-lin", "injoignable", "CP13", 1)]
    totals = aggregate.dependency_totals(frames)
    assert len(totals) == 1
    row = totals.iloc[0]
    assert (row["host"], row["n"], row["competences"]) == ("srv-lin", 3, ["CP9", "CP11", "CP13"])
    assert "délai de connexion dépassé" in row["reason"]


def test_candidate_page_says_the_chain_once_per_host_and_per_competence(pages) -> None:
    html = pages["candidat-03.html"]
    hosts = html[html.index("<h2>Machines du candidat</h2>"):html.index('<table class="hosts">')]
    assert "srv-lin injoignable : 3 vérifications non évaluées" in hosts  # at the top of the host section
    assert "compétences concernées : CP9, CP11, CP13" in hosts
    assert html.count("srv-lin injoignable : 3 vérifications non évaluées") == 1
    assert "non évaluable(s)" not in html  # the older line is not said twice
    for code in ("CP9", "CP11", "CP13"):
        section = _competence(html, code)
        head = section[:section.index('<div class="criterion"')]  # at the top, before the criteria
        assert head.count("srv-lin injoignable : 1 vérification non évaluée") == 1, code
    for other in ("candidat-01.html", "candidat-02.html"):
        assert 'class="chain' not in pages[other]


def test_session_page_says_the_chain_in_plain_words(pages) -> None:
    html = pages["session.html"]
    assert html.count("Candidat 03 — srv-lin injoignable : 3 vérifications non évaluées") == 1
    assert "(compétences concernées : CP9, CP11, CP13)" in html
    assert 'data-candidate="03" data-host="srv-lin" data-state="injoignable" data-n="3"' in html


def test_interrupted_run_chains_the_host_never_graded(tmp_path: Path) -> None:
    store, run_id = build_store(tmp_path, interrupted=True)  # 02's srv-web has no row
    out = tmp_path / "rapports"
    write_reports(store, run_id, out)
    page = (out / "candidat-02.html").read_text(encoding="utf-8")
    assert "srv-web non corrigé : 2 vérifications non évaluées" in page
    assert "srv-web non corrigé : 1 vérification non évaluée" in _competence(page, "CP13")
    session = (out / "session.html").read_text(encoding="utf-8")
    assert session.count("Candidat 02 — srv-web non corrigé : 2 vérifications non évaluées") == 1


# --- trainee view -------------------------------------------------------------------------------


def _annotated(tmp_path: Path):
    store, run_id = build_store(tmp_path)
    store.add_annotation(run_id, "01", kind="override", check_id="syslog-distant", status="conforme",
                         text="Justification confidentielle du jury", author="Mme Jury")
    store.add_annotation(run_id, "01", kind="observation", criterion="CP9.2", text="Observation secrète",
                         author="M. Jury")
    store.add_annotation(run_id, "01", kind="observation", text="Remarque sur le candidat", author="M. Jury")
    return store, run_id


def test_trainee_pages_put_hints_forward_and_hide_the_jury(tmp_path: Path) -> None:
    store, run_id = _annotated(tmp_path)
    out = tmp_path / "stagiaire"
    written = write_reports(store, run_id, out, audience="trainee")
    assert {p.name for p in written} >= {"session.html", "candidat-01.html", "resultats.json"}
    page = (out / "candidat-01.html").read_text(encoding="utf-8")
    assert "Version stagiaire" in page and "Il sert à progresser" in page
    assert f'<p class="hint hint-trainee"><span class="lbl">Note du formateur :</span> {JOURNAL_HINT}' in page
    hint_at = page.index('class="hint hint-trainee"')
    article = page.rindex("<article", 0, hint_at)
    assert page.index("check-meta", article) > hint_at  # the note comes right under the sentence
    for hidden in ("Observations du jury", 'class="observations"', "Justification confidentielle", "Observation secrète",
                   "Remarque sur le candidat", "Décision du jury", 'class="decision"', 'class="jury-note"'):
        assert hidden not in page, hidden
    assert "Non évaluable automatiquement" in page  # criteria left to the jury stay, without the box
    session = (out / "session.html").read_text(encoding="utf-8")
    assert "Version stagiaire" in session and "jury-cell" not in session
    assert json.loads((out / "resultats.json").read_text(encoding="utf-8"))["annotations"] == []


def test_jury_audience_is_unchanged_by_default(tmp_path: Path) -> None:
    store, run_id = _annotated(tmp_path)
    out = tmp_path / "jury"
    write_reports(store, run_id, out)
    page = (out / "candidat-01.html").read_text(encoding="utf-8")
    assert "Observations du jury" in page and "Justification confidentielle" in page
    assert 'class="hint hint-trainee"' not in page and "Version stagiaire" not in page
    assert '<p class="hint"><span class="lbl">Note du formateur :</span>' in page
    assert len(json.loads((out / "resultats.json").read_text(encoding="utf-8"))["annotations"]) == 3


def test_trainee_in_english_and_unknown_audience(tmp_path: Path) -> None:
    store, run_id = build_store(tmp_path)
    frames = aggregate.load_frames(store, run_id)
    page = render_candidate(frames, "01", "en", audience="trainee")
    assert "Trainee version" in page and "Trainer&#39;s note:" in page and "Jury&#39;s observations" not in page
    with pytest.raises(ValueError, match="audience"):
        render_candidate(frames, "01", audience="candidat")
    with pytest.raises(ValueError, match="audience"):
        write_reports(store, run_id, tmp_path / "x", audience="public")


def test_report_command_trainee_option(tmp_path: Path) -> None:
    store, run_id = _annotated(tmp_path)
    store.close()
    session = tmp_path / "session"
    env = {k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "GRADER_LANG")}
    result = subprocess.run([sys.executable, "-m", "grader.cli", "report", "--session", str(session), "--trainee"],
                            check=False, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = session / "rapports" / run_id / TRAINEE_DIR
    page = (out / "candidat-01.html").read_text(encoding="utf-8")
    assert 'class="hint hint-trainee"' in page and "Justification confidentielle" not in page
    assert not (session / "rapports" / run_id / "candidat-01.html").exists()  # the jury's set is not written
    assert not list(out.glob("*.xlsx")) and not list(out.glob("*.pdf"))
