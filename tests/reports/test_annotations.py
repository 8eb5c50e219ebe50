"""Reports written again with the jury's annotations: the decision beside the automated status, never over it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import openpyxl
import pytest

from grader import bundle
from grader.store import Store
from reports import aggregate
from reports.html import candidate_context, render_candidate, render_session, write_reports
from reports.xlsx import COL, SESSION_HEADER_ROW, write_workbook
from tests.reports.test_reports import _articles, _criterion, build_store
from tests.reports.test_xlsx import grid

JUSTIFICATION = "Le renvoi est configuré dans /etc/rsyslog.d/90-central.conf, montré au jury."


def annotate(store: Store, run_id: str) -> dict[str, dict]:
    rows = {
        "first": store.add_annotation(run_id, "01", kind="override", check_id="syslog-distant", status="erreur",
                                      text="Première lecture, corrigée ensuite.", author="M. Dupont"),
        "override": store.add_annotation(run_id, "01", kind="override", check_id="syslog-distant", status="conforme",
                                         text=JUSTIFICATION, author="Mme Leroy"),
        "check_note": store.add_annotation(run_id, "01", kind="observation", check_id="ssh-actif",
                                           text="Redémarré devant le jury <script>alert(2)</script>",
                                           author="M. Dupont"),
        "criterion_note": store.add_annotation(run_id, "01", kind="observation", criterion="CP9.2",
                                               text="Dossier technique clair et complet.", author="M. Dupont"),
        "candidate_note": store.add_annotation(run_id, "01", kind="observation", text="À l'aise à l'oral.",
                                               author="Mme Leroy"),
        "elsewhere": store.add_annotation(run_id, "01", kind="observation", criterion="CP12.1",
                                          text="Question posée sur les sauvegardes.", author="Mme Leroy"),
        "same": store.add_annotation(run_id, "02", kind="override", check_id="ssh-actif", status="conforme",
                                     text="Confirmé.", author="M. Dupont"),
    }
    return rows


@pytest.fixture()
def annotated(tmp_path: Path):
    store, run_id = build_store(tmp_path)
    rows = annotate(store, run_id)
    out = tmp_path / "rapports"
    written = write_reports(store, run_id, out)
    yield store, run_id, out, written, rows
    store.close()


def article(html: str, check: str) -> str:
    found = [inner for attrs, inner in _articles(html) if attrs["check"] == check]
    assert len(found) == 1
    return found[0]


def test_the_override_sits_beside_the_automated_status(annotated) -> None:
    _, _, out, _, rows = annotated
    html = (out / "candidat-01.html").read_text(encoding="utf-8")
    statuses = {a["check"]: a["status"] for a, _ in _articles(html)}
    assert statuses["syslog-distant"] == "non_conforme"  # the automated verdict is the article's status
    body = article(html, "syslog-distant")
    decision = re.search(r'<div class="decision" id="annotation-(\d+)" data-jury-status="(\w+)" '
                         r'data-replaced="(\w+)">', body)
    assert decision and int(decision[1]) == rows["override"]["id"] and decision[2] == "conforme"
    assert decision[3] == "non_conforme" and "À revoir" not in body  # replaced what is still the automated status
    assert '<span class="badge b-conforme">' in body and '<span class="badge b-non_conforme">' in body
    assert "Décision du jury" in body and "statut automatique" in body
    assert "Mme Leroy, le " in body and "Justification :" in body
    assert JUSTIFICATION in body
    assert "1 décision(s) antérieure(s) remplacée(s)" in body
    assert "Première lecture" not in body  # the earlier decision is not the one in force
    assert 'class="check s-non_conforme overridden"' in html


def test_observations_under_the_check_the_criterion_and_the_candidate(annotated) -> None:
    _, _, out, _, rows = annotated
    html = (out / "candidat-01.html").read_text(encoding="utf-8")
    ssh = article(html, "ssh-actif")
    assert f'id="annotation-{rows["check_note"]["id"]}"' in ssh and "Redémarré devant le jury" in ssh
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in ssh and "<script>alert(2)" not in html
    box = re.search(r'<div class="criterion" id="CP9\.2">.*?<div class="observations">(.*?)</div>\s*</div>', html,
                    re.DOTALL)
    assert box and "Dossier technique clair et complet." in box[1] and "M. Dupont, le " in box[1]
    assert "Non évaluable automatiquement" in _criterion(html, "CP9.2")
    section = re.search(r'<section class="jury-notes" id="jury-notes">(.*?)</section>', html, re.DOTALL)
    assert section and "Observations du jury sur le candidat" in section[1]
    assert "À l&#39;aise à l&#39;oral." in section[1]
    assert "critère CP12.1" in section[1] and "Question posée sur les sauvegardes." in section[1]  # not on the page
    assert html.count('class="observations"') == 3 + 4 + 3  # still one box per criterion
    other = (out / "candidat-03.html").read_text(encoding="utf-8")
    assert 'class="jury-notes"' not in other and 'class="decision"' not in other and 'class="jury-note"' not in other


def test_counts_and_points_stay_automated_and_the_overrides_are_counted_apart(annotated) -> None:
    store, run_id, out, _, _ = annotated
    frames = aggregate.load_frames(store, run_id)
    plain, _ = build_store(out.parent / "sans-annotation")
    reference = aggregate.load_frames(plain, run_id)
    assert aggregate.status_counts(frames).equals(aggregate.status_counts(reference))
    assert aggregate.points(frames).equals(aggregate.points(reference))
    plain.close()
    decided = aggregate.override_counts(frames)
    assert decided.to_dict("index") == {"01": {"overridden": 1, "changed": 1, "review": 0},
                                        "02": {"overridden": 1, "changed": 0, "review": 0},
                                        "03": {"overridden": 0, "changed": 0, "review": 0}}
    table = aggregate.overrides(frames)
    syslog = table[table["check_id"] == "syslog-distant"].iloc[0]
    assert (syslog["status"], syslog["automated"], syslog["earlier"], syslog["criterion"]) == \
        ("conforme", "non_conforme", 1, "CP13.3")
    counts = aggregate.annotation_counts(frames)
    assert counts.loc["01"].to_dict() == {"overridden": 1, "review": 0, "observations": 4}
    html = (out / "candidat-01.html").read_text(encoding="utf-8")
    assert "1 vérification(s) avec une décision du jury, dont 1 changeant le statut" in html
    assert "conforme : 4" in html  # the automated count, not 5
    session = (out / "session.html").read_text(encoding="utf-8")
    assert "<th>Jury</th>" in session and "1 décision(s) · 4 observation(s)" in session
    assert "2 vérification(s) ont reçu une décision du jury" in session
    assert "4/5 conformes" in session  # candidate 01's automated total


def test_a_decision_whose_replaced_status_changed_since_is_to_review(annotated) -> None:
    """A resume regraded syslog-distant of 01 (non conforme → erreur) after the jury's decision: « à revoir »."""
    store, run_id, _, _, _ = annotated
    with store._lock:  # as a resume's save_host replaces the host's results
        store._db.execute("UPDATE results SET status='erreur' WHERE run_id=? AND candidate='01'"
                          " AND check_id='syslog-distant'", (run_id,))
    frames = aggregate.load_frames(store, run_id)
    table = aggregate.overrides(frames).set_index("candidate")
    assert (table.loc["01", "replaced"], table.loc["01", "automated"], table.loc["01", "review"]) == (
        "non_conforme", "erreur", True)
    assert not table.loc["02", "review"]
    html = render_candidate(frames, "01", "fr")
    body = article(html, "syslog-distant")
    assert 'class="decision to-review"' in body and 'data-review="1"' in body
    flat = " ".join(re.sub(r"<[^>]+>", "", body).split())
    assert ("À revoir : la décision remplaçait le statut automatique « non conforme » ; il est maintenant "
            "« erreur »") in flat
    assert "1 décision(s) du jury à revoir" in html
    assert "data-review" not in article(render_candidate(frames, "02", "fr"), "ssh-actif")
    session = render_session(frames, "fr")
    assert '<span class="review" data-review="01">1 à revoir</span>' in session
    assert 'data-review="02"' not in session
    english = " ".join(re.sub(r"<[^>]+>", "", render_candidate(frames, "01", "en")).split())
    assert "To review: the decision replaced the automated status “not compliant”; it is now “error”" in english


def test_written_reports_carry_no_form(annotated) -> None:
    _, _, out, _, _ = annotated
    for page in out.glob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "<form" not in html and "csrf" not in html and "<script" not in html.replace("&lt;script", "")


def test_the_web_variant_has_forms_and_its_own_links(annotated) -> None:
    store, run_id, _, _, _ = annotated
    frames = aggregate.load_frames(store, run_id)
    web = {"home_href": "/", "run_href": "/s/x/r/y/", "action": "/s/x/r/y/c/01/annotations", "csrf": "jeton-123",
           "jury": ["M. Dupont", "Mme <Leroy>"], "author": "Mme <Leroy>"}
    html = render_candidate(frames, "01", "fr", web)
    assert html.count('data-form="override"') == 5 and html.count('data-form="observation"') == 5 + 10 + 1
    assert html.count('value="jeton-123"') == 5 * 2 + 10 + 1
    assert 'action="/s/x/r/y/c/01/annotations"' in html
    assert html.count('<option value="Mme &lt;Leroy&gt;" selected>Mme &lt;Leroy&gt;</option>') == 5 * 2 + 10 + 1
    assert html.count('<option value="M. Dupont">M. Dupont</option>') == 5 * 2 + 10 + 1
    assert 'name="author" maxlength' not in html  # chosen from the list, never typed
    assert 'href="/s/x/r/y/"' in html and 'href="session.html"' not in html
    read_only = render_candidate(frames, "01", "fr", web | {"jury": []})
    assert "<form" not in read_only and 'id="read-only"' in read_only and "--jury" in read_only
    assert JUSTIFICATION in read_only  # the annotations are still shown
    session = render_session(frames, "fr", {"home_href": "/", "candidate_href": lambda c: f"/c/{c}/"})
    assert 'href="/c/01/"' in session and "candidat-01.html" not in session
    assert candidate_context(frames, "01")["web"] is None


def test_xlsx_observations_cell_and_session_column(annotated, tmp_path: Path) -> None:
    store, run_id, _, _, _ = annotated
    wb = openpyxl.load_workbook(write_workbook(store, run_id, tmp_path / "x"))
    ws = wb["Candidat 01"]
    _, rows = grid(ws)
    by_criterion = {r["criterion"]: r for r in rows if r["criterion"]}
    cp133 = by_criterion["CP13.3"]["observations"]
    assert cp133.startswith("Décision du jury sur syslog-distant (srv-lin) : erreur (statut automatique : non conforme)")
    assert ("Décision du jury sur syslog-distant (srv-lin) : conforme (statut automatique : non conforme) — "
            f"{JUSTIFICATION} — Mme Leroy, ") in cp133
    assert by_criterion["CP9.2"]["observations"].startswith("Dossier technique clair et complet. — M. Dupont, ")
    assert "ssh-actif (srv-lin) : Redémarré devant le jury" in by_criterion["CP9.1"]["observations"]
    assert not by_criterion["CP11.3"]["observations"]
    syslog = next(r for r in rows if r["check_id"] == "syslog-distant")
    assert syslog["status"] == "non conforme"  # the status column stays automated
    texts = [ws.cell(r, 3).value for r in range(1, 12) if ws.cell(r, 1).value == "Observations du jury sur le candidat"]
    assert texts[0].startswith("À l'aise à l'oral. — Mme Leroy, ")
    assert texts[1].startswith("critère CP12.1 — Question posée sur les sauvegardes.")
    assert ws.cell(1, COL["observations"]).value is None
    session = wb["Session"]
    top = SESSION_HEADER_ROW
    col = next(c for c in range(1, session.max_column + 1) if session.cell(top, c).value == "Décisions du jury")
    assert {session.cell(r, 1).value: session.cell(r, col).value for r in range(top + 2, top + 5)} == \
        {"01": 1, "02": 1, "03": 0}


def test_json_export_lists_the_annotations(annotated) -> None:
    _, _, out, _, rows = annotated
    doc = json.loads((out / "resultats.json").read_text(encoding="utf-8"))
    assert [a["id"] for a in doc["annotations"]] == [r["id"] for r in rows.values()]
    decision = next(a for a in doc["annotations"] if a["id"] == rows["override"]["id"])
    assert (decision["kind"], decision["status"], decision["author"]) == ("override", "conforme", "Mme Leroy")
    assert decision["criterion"] is None  # a check's annotation names its check, not a criterion
    syslog = next(r for r in doc["results"] if r["candidate"] == "01" and r["check_id"] == "syslog-distant")
    assert syslog["status"] == "non_conforme"


def test_english_pages(annotated, tmp_path: Path) -> None:
    store, run_id, _, _, _ = annotated
    write_reports(store, run_id, tmp_path / "en", lang="en")
    html = (tmp_path / "en" / "candidat-01.html").read_text(encoding="utf-8")
    assert "Jury&#39;s decision" in html and "automated status" in html and "Mme Leroy, on " in html
    assert "Jury&#39;s observations on the candidate" in html and "criterion CP12.1" in html
    assert "non conforme" not in html and "décision" not in html.lower()


def test_no_annotation_no_jury_column_nor_section(tmp_path: Path) -> None:
    store, run_id = build_store(tmp_path)
    frames = aggregate.load_frames(store, run_id)
    assert frames.annotations.empty and aggregate.overrides(frames).empty
    assert aggregate.override_counts(frames)["overridden"].sum() == 0
    session = render_session(frames)
    assert "<th>Jury</th>" not in session and "décision du jury" not in session
    assert 'class="jury-notes"' not in render_candidate(frames, "01")
    store.close()


def test_bundles_carry_the_annotations_and_render_them_offline(annotated, tmp_path: Path) -> None:
    store, run_id, _, _, rows = annotated

    def html_only(s, r, out_dir, lang):
        return write_reports(s, r, out_dir, lang)

    path = bundle.export(store, run_id, tmp_path / "preuves.zip", write_reports=html_only)
    assert bundle.verify(path) == []
    with bundle.load(path) as loaded:
        assert [a["id"] for a in loaded.annotations(run_id)] == [r["id"] for r in rows.values()]
        written = write_reports(loaded, run_id, tmp_path / "hors-ligne")
    page = next(p for p in written if p.name == "candidat-01.html").read_text(encoding="utf-8")
    assert JUSTIFICATION in page and 'data-jury-status="conforme"' in page
