"""Candidate records printed to PDF by headless Chromium: A4 pages, the candidate's name and criteria inside.

The printing tests need ``chromium`` and ``poppler-utils`` (``pdftoppm``, ``pdftotext``) and are
skipped only when Chromium is not installed. What happens without Chromium is tested always.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from reports import pdf
from reports.html import write_reports
from reports.plugin import HtmlReporter
from tests.reports.test_reports import build_store

needs_chromium = pytest.mark.skipif(pdf.find_chromium() is None and shutil.which("chromium") is None,
                                    reason="Chromium absent (apt-get install chromium poppler-utils)")


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def first_page_png(pdf_path: Path, tmp_path: Path) -> Path:
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(pdf_path), str(tmp_path / "page")],
                   check=True, capture_output=True, timeout=60)
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) == 1
    return pages[0]


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    if pdf.find_chromium() is None:
        pytest.skip("Chromium absent (apt-get install chromium poppler-utils)")
    tmp = tmp_path_factory.mktemp("pdf")
    store, run_id = build_store(tmp)
    out = tmp / "rapports"
    written = HtmlReporter().write(store, run_id, out, "fr")
    store.close()
    return out, written


@needs_chromium
def test_every_candidate_gets_a_pdf_and_no_note(printed) -> None:
    out, written = printed
    names = {p.name for p in written}
    assert {"candidat-01.pdf", "candidat-02.pdf", "candidat-03.pdf"} <= names
    assert pdf.NOTE_FILE not in names and not (out / pdf.NOTE_FILE).exists()
    for name in ("candidat-01.pdf", "candidat-02.pdf", "candidat-03.pdf"):
        assert (out / name).read_bytes()[:5] == b"%PDF-"


@needs_chromium
def test_pages_are_a4(printed, tmp_path: Path) -> None:
    out, _ = printed
    width, height = png_size(first_page_png(out / "candidat-01.pdf", tmp_path))
    assert abs(height / width - 297 / 210) < 0.02, (width, height)
    assert abs(width - 413) <= 3  # 210 mm at 50 dpi; US Letter would be 425 px wide (ratio 1.29)


@needs_chromium
def test_pdf_text_has_the_candidate_and_the_criteria(printed) -> None:
    out, _ = printed
    done = subprocess.run(["pdftotext", "-layout", str(out / "candidat-01.pdf"), "-"], capture_output=True, text=True,
                          check=True, timeout=60)
    assert "Alice Martin" in done.stdout
    for crit in ("CP9.1", "CP11.3", "CP13.2"):
        assert crit in done.stdout
    assert "observations du jury" in done.stdout.lower()  # printed in small capitals
    assert "ligne 09999 du journal" in done.stdout  # evidence is unfolded in print
    other = subprocess.run(["pdftotext", str(out / "candidat-03.pdf"), "-"], capture_output=True, text=True,
                           check=True, timeout=60)
    assert "Chloé Durand" in other.stdout and "Alice Martin" not in other.stdout


def test_print_css_asks_for_a4(tmp_path: Path) -> None:
    store, run_id = build_store(tmp_path)
    write_reports(store, run_id, tmp_path / "out")
    html = (tmp_path / "out" / "candidat-01.html").read_text(encoding="utf-8")
    assert "@page { size: A4; margin:" in html
    store.close()


def test_without_chromium_other_formats_are_written_with_a_french_note(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADER_CHROMIUM", "")
    assert pdf.find_chromium() is None
    store, run_id = build_store(tmp_path)
    reporter = HtmlReporter()
    written = reporter.write(store, run_id, tmp_path / "out", "fr")
    names = {p.name for p in written}
    assert not any(n.endswith(".pdf") for n in names)
    assert {"session.html", "candidat-01.html", "resultats.xlsx", "resultats-junit.xml", "notes-moodle.csv",
            pdf.NOTE_FILE} <= names
    note = (tmp_path / "out" / pdf.NOTE_FILE).read_text(encoding="utf-8")
    assert "PDF non produits : Chromium est introuvable" in note and "apt-get install chromium" in note
    assert reporter.notes == [note.strip()]
    store.close()


def test_a_failing_browser_becomes_a_note_per_page(tmp_path: Path) -> None:
    fake = tmp_path / "faux-chromium"
    fake.write_text("#!/bin/sh\necho 'plantage du navigateur' >&2\nexit 3\n")
    fake.chmod(0o755)
    page = tmp_path / "candidat-01.html"
    page.write_text("<html><body>x</body></html>", encoding="utf-8")
    outcome = pdf.write_pdfs([page], tmp_path / "out", chromium=str(fake))
    assert outcome.written == []
    assert outcome.notes == [("PDF non produit pour candidat-01.html : Chromium s'est arrêté avec le code 3 : "
                              "plantage du navigateur")]
    silent = tmp_path / "muet"
    silent.write_text("#!/bin/sh\nexit 0\n")
    silent.chmod(0o755)
    assert pdf.write_pdfs([page], tmp_path / "out", chromium=str(silent)).notes == [
        "PDF non produit pour candidat-01.html : Chromium n'a écrit aucun fichier PDF"]
    slow = tmp_path / "lent"
    slow.write_text("#!/bin/sh\nexec sleep 30\n")
    slow.chmod(0o755)
    late = pdf.write_pdfs([page], tmp_path / "out", chromium=str(slow), timeout=0.5)
    assert late.notes == ["PDF non produit pour candidat-01.html : Chromium n'a pas terminé en 0.5 s"]


def test_the_command_line_is_the_documented_one(tmp_path: Path) -> None:
    cmd = pdf.command("/usr/bin/chromium", tmp_path / "a b.html", tmp_path / "a.pdf", tmp_path / "profil")
    assert cmd[:5] == ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer"]
    assert f"--print-to-pdf={tmp_path / 'a.pdf'}" in cmd and cmd[-1] == (tmp_path / "a b.html").as_uri()
    assert "%20" in cmd[-1]
