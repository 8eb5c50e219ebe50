"""The HTML/CSV/JSON reports, registered as a plugin exactly as a third party's reporter would be."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.plugins import hookimpl


class HtmlReporter:
    """Writes ``session.html``, ``candidat-<id>.html``, ``resultats.csv`` and ``resultats.json``."""

    name = "html"

    def write(self, store: Any, run_id: str, out_dir: Path, lang: str = "fr") -> list[Path]:
        from reports.html import write_reports  # pandas and jinja2 only when reports are written

        return write_reports(store, run_id, Path(out_dir), lang=lang)


@hookimpl
def grader_register_reporters() -> list[HtmlReporter]:
    return [HtmlReporter()]
