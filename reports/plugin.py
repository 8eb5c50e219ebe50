"""The jury's reports, registered as a plugin exactly as a third party's reporter would be."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.plugins import hookimpl


class HtmlReporter:
    """Writes the jury's report set of one run into ``out_dir``.

    ``session.html``, ``candidat-<id>.html``, ``resultats.csv`` and ``resultats.json`` (see
    :mod:`reports.html`), ``resultats.xlsx`` (:mod:`reports.xlsx`), ``resultats-junit.xml`` and
    ``notes-moodle.csv`` (:mod:`reports.exports`), and ``candidat-<id>.pdf`` printed by headless
    Chromium (:mod:`reports.pdf`). When Chromium is missing or fails, the other files are still
    written and ``pdf-non-produits.txt`` says in plain French why the PDFs are not there.
    """

    name = "html"

    def __init__(self) -> None:
        self.notes: list[str] = []  # what could not be produced by the last write, in the report's language

    def write(self, store: Any, run_id: str, out_dir: Path, lang: str = "fr") -> list[Path]:
        # pandas, jinja2 and openpyxl only when reports are written
        from reports import aggregate, exports, pdf, xlsx
        from reports.html import write_reports

        out_dir = Path(out_dir)
        frames = aggregate.load_frames(store, run_id, lang=lang)  # one read of the store for every format
        written = write_reports(store, run_id, out_dir, lang=lang, frames=frames)
        written.append(xlsx.write_xlsx(frames, out_dir / xlsx.XLSX_FILE, lang))
        written.append(exports.write_junit(frames, out_dir / exports.JUNIT_FILE, lang))
        written.append(exports.write_moodle_csv(frames, out_dir / exports.MOODLE_FILE, lang))
        pages = [p for p in written if p.suffix == ".html" and p.name.startswith("candidat-")]
        printed = pdf.write_pdfs(pages, out_dir, lang=lang)
        written.extend(printed.written)
        self.notes = printed.notes
        note = pdf.write_note(out_dir, printed.notes)
        if note is not None:
            written.append(note)
        return written


@hookimpl
def grader_register_reporters() -> list[HtmlReporter]:
    return [HtmlReporter()]
