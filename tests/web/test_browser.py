"""The web view in a real headless Chromium (Debian's ``chromium``, driven by Playwright, no browser download).

The server runs in a thread on a random loopback port, as ``grader serve --jury …`` starts it
(behind its token: the browser opens the printed address once); the browser loads a candidate's
record, adds an observation and a decision through the forms (signed by choosing a jury member
from the list), reloads and sees them; no console error at any point; a screenshot is taken and checked as a PNG of the viewport's size.
Skipped only when Chromium is not installed (``apt-get install chromium``).
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server as wsgi_server

from grader.store import Store
from grader.web import WebConfig, create_app, make_server
from tests.reports.test_reports import build_store

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 900}
RUN = "2026-11-22-1300"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium absent (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright  # the ``test`` extra installs it

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                      args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture()
def session_dir(tmp_path: Path) -> Path:
    store, _ = build_store(tmp_path)
    store.close()
    return tmp_path / "session"


@pytest.fixture()
def served(session_dir: Path) -> Iterator[Any]:
    """The view as ``grader serve --jury "Mme Leroy" --jury "M. Dupont"`` starts it, on a random loopback port."""
    served = make_server(session_dir, host="127.0.0.1", port=0, jury=["Mme Leroy", "M. Dupont"])
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        thread.join(10)
        served.close()


class Page:
    """A browser page that records every console error, uncaught exception and failed request."""

    def __init__(self, browser: Any):
        self.context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1, locale="fr-FR")
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} {r.failure}"))
        self.page.on("response", lambda r: self.problems.append(f"HTTP {r.status}: {r.url}")
                     if r.status >= 400 else None)

    def close(self) -> None:
        self.context.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Page]:
    p = Page(browser)
    yield p
    p.close()


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.fixture()
def server(served: Any, page: Page) -> str:
    """The base URL, the page already in (it opened the printed address, token included, once)."""
    page.page.goto(served.url)
    base = served.url.split("?")[0]
    assert page.page.url == base  # the token left the address bar
    return base


def test_add_an_observation_and_a_decision_then_see_them_after_reload(server: str, page: Page, session_dir: Path,
                                                                       tmp_path: Path) -> None:
    p = page.page
    p.goto(server)
    p.get_by_role("link", name=RUN).click()
    p.wait_for_url(f"**/s/session/r/{RUN}/")
    assert p.locator("table.matrix tr.cand-row").count() == 3
    p.locator('tr.cand-row[data-candidate="01"] a').click()
    p.wait_for_url(f"**/s/session/r/{RUN}/c/01/")
    assert p.locator("h1").inner_text() == "Candidat 01 — Alice Martin"

    syslog = p.locator('article[data-check="syslog-distant"][data-host="srv-lin"]')
    syslog.locator("details.jury-form > summary").click()
    observation = syslog.locator('form[data-form="observation"]')
    observation.locator('textarea[name="text"]').fill("Le candidat explique le renvoi TCP vers 10.0.0.5.")
    observation.locator('select[name="author"]').select_option("Mme Leroy")
    observation.get_by_role("button", name="Enregistrer l'observation").click()
    p.wait_for_url("**/c/01/#annotation-*")

    syslog = p.locator('article[data-check="syslog-distant"][data-host="srv-lin"]')
    syslog.locator("details.jury-form > summary").click()
    decision = syslog.locator('form[data-form="override"]')
    assert decision.locator('select[name="author"]').input_value() == "Mme Leroy"  # remembered
    decision.locator('select[name="status"]').select_option("conforme")
    decision.locator('textarea[name="text"]').fill("Configuration montrée au jury dans /etc/rsyslog.d/90-central.conf.")
    decision.get_by_role("button", name="Enregistrer la décision").click()
    p.wait_for_url("**/c/01/#annotation-*")

    p.reload()
    syslog = p.locator('article[data-check="syslog-distant"][data-host="srv-lin"]')
    assert syslog.get_attribute("data-status") == "non_conforme"  # the automated verdict stays
    verdict = syslog.locator(".decision")
    assert verdict.get_attribute("data-jury-status") == "conforme"
    shown = verdict.inner_text()
    assert "Décision du jury" in shown and "statut automatique" in shown and "Mme Leroy, le " in shown
    assert "Configuration montrée au jury" in shown and "non conforme" in shown and "conforme" in shown
    assert verdict.is_visible()
    note = syslog.locator(".jury-note")
    assert note.count() == 1 and "Le candidat explique le renvoi TCP" in note.inner_text()
    assert "1 vérification(s) avec une décision du jury" in p.locator(".jury-summary").inner_text()

    store = Store(session_dir)
    kinds = [(a["kind"], a["status"], a["author"]) for a in store.annotations(RUN)]
    automated = {(r["candidate"], r["check_id"]): r["status"] for r in store.results(RUN)}
    store.close()
    assert kinds == [("observation", None, "Mme Leroy"), ("override", "conforme", "Mme Leroy")]
    assert automated[("01", "syslog-distant")] == "non_conforme"

    shot = tmp_path / "candidat-01.png"
    data = p.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000 and data == shot.read_bytes()
    assert png_size(data) == (VIEWPORT["width"], VIEWPORT["height"])
    verdict.scroll_into_view_if_needed()
    crop = verdict.screenshot()
    width, height = png_size(crop)
    assert 300 < width <= VIEWPORT["width"] and 20 < height < 400
    assert page.problems == []


def test_a_criterion_observation_and_a_refused_decision(server: str, page: Page) -> None:
    p = page.page
    p.goto(f"{server}s/session/r/{RUN}/c/02/")
    box = p.locator('div.criterion#CP9\\.2 .observations')
    box.locator("summary").click()
    box.locator('textarea[name="text"]').fill("Dossier technique clair.")
    box.locator('select[name="author"]').select_option("M. Dupont")
    box.get_by_role("button").click()
    p.wait_for_url("**/c/02/#annotation-*")
    p.reload()
    assert "Dossier technique clair." in p.locator('div.criterion#CP9\\.2 .observations').inner_text()

    # the browser refuses an empty justification before sending (required fields)
    article = p.locator('article[data-check="apache-actif"]')
    article.locator("details.jury-form > summary").click()
    decision = article.locator('form[data-form="override"]')
    decision.locator('select[name="status"]').select_option("conforme")
    decision.get_by_role("button", name="Enregistrer la décision").click()
    assert decision.locator('textarea[name="text"]:invalid').count() == 1
    assert "#annotation-" in p.url and p.locator(".decision").count() == 0
    assert page.problems == []


def test_with_a_token_the_browser_gets_in_once_and_forms_still_work(session_dir: Path, browser: Any,
                                                                     page: Page) -> None:
    """As on an address other than loopback: the token once in the address, then the cookie."""
    app = create_app(WebConfig(root=session_dir, token="jeton-de-test", jury=("Mme Leroy",)))
    httpd = wsgi_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_port}"
    p = page.page
    try:
        stranger = browser.new_page()  # another browser context: no cookie, and its expected 401 is not ours
        denied = stranger.goto(f"{base}/s/session/r/{RUN}/c/03/")
        assert denied is not None and denied.status == 401 and "jeton" in stranger.locator("body").inner_text()
        stranger.close()
        p.goto(f"{base}/s/session/r/{RUN}/c/03/?token=jeton-de-test")
        assert p.url == f"{base}/s/session/r/{RUN}/c/03/"  # the token left the address bar
        assert p.locator("h1").inner_text() == "Candidat 03 — Chloé Durand"
        notes = p.locator("#jury-notes")
        notes.locator("summary").click()
        notes.locator('textarea[name="text"]').fill("Machine srv-lin éteinte à l'arrivée du jury.")
        notes.locator('select[name="author"]').select_option("Mme Leroy")
        notes.get_by_role("button").click()
        p.wait_for_url("**/c/03/#annotation-*")
        p.reload()
        assert "Machine srv-lin éteinte" in p.locator("#jury-notes").inner_text()
        assert page.problems == []
    finally:
        httpd.shutdown()
        thread.join(10)
        httpd.server_close()
        app.extensions["grader"]["stores"].close()
