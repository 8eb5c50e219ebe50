"""PDF copies of the candidates' evidence records, printed by headless Chromium.

The HTML page is the document (self-contained, print CSS with ``@page { size: A4 }``, evidence
unfolded in print); this module only asks Chromium to print it::

    chromium --headless --no-sandbox --disable-gpu --no-pdf-header-footer \\
             --print-to-pdf=candidat-01.pdf file:///…/candidat-01.html

Chromium is an outside program, so every way it can fail becomes a French note and never a
crash: no Chromium installed (Debian package ``chromium``), a non-zero exit, a time-out, no
file written. The reporter then writes the other formats and leaves the note beside them.
Each run gets its own throwaway profile directory, so two prints never share a lock.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from reports.labels import text

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
ENV_VAR = "GRADER_CHROMIUM"  # an explicit browser path; an empty value turns PDFs off
NOTE_FILE = "pdf-non-produits.txt"
TIMEOUT = 120.0


@dataclass
class PdfOutcome:
    """What a batch of prints produced: the PDFs written and one French note per failure."""

    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def find_chromium() -> str | None:
    """The browser to print with: ``$GRADER_CHROMIUM`` if set (empty: none), else the first on PATH."""
    if ENV_VAR in os.environ:
        chosen = os.environ[ENV_VAR].strip()
        if not chosen:
            return None
        return shutil.which(chosen) or (chosen if os.access(chosen, os.X_OK) else None)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def command(chromium: str, html: Path, pdf: Path, profile: Path) -> list[str]:
    """The exact command line (arguments apart, never through a shell)."""
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
            f"--user-data-dir={profile}", f"--print-to-pdf={pdf}", html.resolve().as_uri()]


def print_pdf(chromium: str, html: Path, pdf: Path, *, lang: str = "fr", timeout: float = TIMEOUT) -> str | None:
    """Print one page; returns ``None`` on success, else the French reason it failed."""
    pdf.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="grader-chromium-") as profile:
        env = {**os.environ, "HOME": profile}  # Chromium writes caches under HOME
        try:
            done = subprocess.run(command(chromium, html, pdf, Path(profile)), capture_output=True, text=True,
                                  timeout=timeout, env=env, stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            pdf.unlink(missing_ok=True)
            return text(lang, "pdf.timeout", s=f"{timeout:g}")
        except OSError as exc:
            return str(exc)
    if done.returncode != 0:
        pdf.unlink(missing_ok=True)
        tail = " ".join(done.stderr.strip().splitlines()[-2:])[:300]
        return text(lang, "pdf.exit", code=done.returncode, stderr=tail)
    if not pdf.is_file() or pdf.stat().st_size == 0 or pdf.read_bytes()[:5] != b"%PDF-":
        pdf.unlink(missing_ok=True)
        return text(lang, "pdf.empty")
    return None


def pdf_name(html: Path) -> str:
    return html.with_suffix(".pdf").name


def write_pdfs(pages: Iterable[Path], out_dir: Path, *, lang: str = "fr", chromium: str | None = None,
               workers: int = 2, timeout: float = TIMEOUT) -> PdfOutcome:
    """Print every HTML page to ``out_dir/<same name>.pdf``; failures become notes (see :class:`PdfOutcome`)."""
    pages = list(pages)
    outcome = PdfOutcome()
    if not pages:
        return outcome
    browser = chromium or find_chromium()
    if browser is None:
        outcome.notes.append(text(lang, "pdf.no_chromium"))
        return outcome
    out_dir.mkdir(parents=True, exist_ok=True)

    def one(page: Path) -> tuple[Path, str | None]:
        target = out_dir / pdf_name(page)
        return target, print_pdf(browser, page, target, lang=lang, timeout=timeout)

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="grader-pdf") as pool:
        for (target, problem), page in zip(pool.map(one, pages), pages):
            if problem is None:
                outcome.written.append(target)
            else:
                outcome.notes.append(text(lang, "pdf.failed", page=page.name, reason=problem))
    return outcome


def write_note(out_dir: Path, notes: list[str]) -> Path | None:
    """``pdf-non-produits.txt`` beside the reports when something was not printed (removed otherwise)."""
    path = out_dir / NOTE_FILE
    if not notes:
        path.unlink(missing_ok=True)
        return None
    path.write_text("\n".join(notes) + "\n", encoding="utf-8")
    return path
