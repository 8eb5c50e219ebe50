"""The web view without a browser (Flask's test client): pages, forms, and every guard."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from grader.store import Store
from grader.web import WebConfig, create_app, find_sessions, is_loopback
from grader.web.app import AUTHOR_COOKIE, TOKEN_COOKIE
from grader.web.server import access_token, loopback_hosts
from tests.reports.test_reports import build_store

RUN = "2026-11-22-1300"
CANDIDATE = f"/s/session/r/{RUN}/c/01/"
POST = CANDIDATE + "annotations"
HOST = "127.0.0.1:8765"


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    store, _ = build_store(tmp_path)
    store.close()
    return tmp_path / "session"


def client_for(root: Path, **config):
    cfg = WebConfig(root=root, **config)
    app = create_app(cfg)
    return app.test_client(), cfg


@pytest.fixture()
def client(root: Path):
    client, cfg = client_for(root, allowed_hosts=loopback_hosts("127.0.0.1", 8765))
    yield client, cfg
    client.application.extensions["grader"]["stores"].close()


def get(client, path: str, **kw):
    return client.get(path, base_url=f"http://{HOST}", **kw)


def post(client, data: dict, *, origin: str | None = f"http://{HOST}", **headers):
    if origin is not None:
        headers["Origin"] = origin
    return client.post(POST, data=data, base_url=f"http://{HOST}", headers=headers)


def form(cfg: WebConfig, **fields) -> dict:
    return {"csrf": cfg.form_token, "author": "Mme Leroy", **fields}


def stored(root: Path) -> list[dict]:
    store = Store(root)
    try:
        return store.annotations(RUN)
    finally:
        store.close()


# --- pages ----------------------------------------------------------------------------------------


def test_home_lists_sessions_and_runs(tmp_path: Path, root: Path) -> None:
    other = tmp_path / "toutes" / "autre"
    shutil.copytree(root, other)
    (tmp_path / "toutes" / "pas-une-session").mkdir()
    assert list(find_sessions(tmp_path / "toutes")) == ["autre"]
    assert list(find_sessions(root)) == ["session"]
    assert find_sessions(tmp_path / "absent") == {}
    client, _ = client_for(tmp_path / "toutes")
    page = client.get("/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Sessions et corrections" in html
    assert 'data-session="autre"' in html and f'href="/s/autre/r/{RUN}/"' in html
    assert "ECF TSSR — serveurs Linux" in html and "terminée" in html
    empty, _ = client_for(tmp_path / "absent")
    assert "Aucune session trouvée" in empty.get("/").get_data(as_text=True)


def test_run_page_links_to_the_web_candidate_pages(client) -> None:
    c, _ = client
    page = get(c, f"/s/session/r/{RUN}/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Synthèse de la session" in html
    assert f'href="/s/session/r/{RUN}/c/01/"' in html and "candidat-01.html" not in html
    assert 'href="/"' in html


def test_candidate_page_has_the_record_and_the_forms(client) -> None:
    c, cfg = client
    page = get(c, CANDIDATE)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Alice Martin" in html and "Relevé de preuves" in html
    assert html.count(f'value="{cfg.form_token}"') == 5 * 2 + 10 + 1
    assert f'action="{POST}"' in html and f'href="/s/session/r/{RUN}/"' in html
    assert "<script" not in html.replace("&lt;script", "")


def test_security_headers(client) -> None:
    c, _ = client
    headers = get(c, "/").headers
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "form-action 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "same-origin" and headers["X-Content-Type-Options"] == "nosniff"
    assert get(c, "/favicon.ico").status_code == 204


@pytest.mark.parametrize("path", ["/s/inconnue/r/x/", "/s/session/r/autre/", f"/s/session/r/{RUN}/c/99/",
                                  "/nulle-part"])
def test_unknown_addresses_are_french_404(client, path: str) -> None:
    c, _ = client
    page = get(c, path)
    assert page.status_code == 404 and "Page introuvable" in page.get_data(as_text=True)


# --- annotating -----------------------------------------------------------------------------------


def test_an_observation_posts_and_comes_back_at_it(client, root: Path) -> None:
    c, cfg = client
    done = post(c, form(cfg, kind="observation", check_id="ssh-actif", host="srv-lin", text="Vu en direct."))
    assert done.status_code == 303
    [row] = stored(root)
    location = urlsplit(done.headers["Location"])
    assert location.path == CANDIDATE and location.fragment == f"annotation-{row['id']}"
    assert (row["kind"], row["check_id"], row["host"], row["author"]) == ("observation", "ssh-actif", "srv-lin",
                                                                         "Mme Leroy")
    assert f"{AUTHOR_COOKIE}=" in done.headers["Set-Cookie"] and "SameSite=Strict" in done.headers["Set-Cookie"]
    html = get(c, CANDIDATE).get_data(as_text=True)
    assert f'id="annotation-{row["id"]}"' in html and "Vu en direct." in html
    assert 'name="author" maxlength="200" value="Mme Leroy"' in html  # the name is remembered


def test_an_override_keeps_the_automated_status(client, root: Path) -> None:
    c, cfg = client
    done = post(c, form(cfg, kind="override", check_id="syslog-distant", host="srv-lin", status="conforme",
                        text="Renvoi montré au jury."))
    assert done.status_code == 303
    html = get(c, CANDIDATE).get_data(as_text=True)
    assert 'data-status="non_conforme"' in html and 'data-jury-status="conforme"' in html
    assert "Renvoi montré au jury." in html
    store = Store(root)
    statuses = {(r["candidate"], r["check_id"]): r["status"] for r in store.results(RUN)}
    store.close()
    assert statuses[("01", "syslog-distant")] == "non_conforme"


def test_criterion_and_candidate_observations(client, root: Path) -> None:
    c, cfg = client
    assert post(c, form(cfg, kind="observation", criterion="CP9.2", text="Dossier clair.")).status_code == 303
    assert post(c, form(cfg, kind="observation", text="À l'aise.")).status_code == 303
    rows = stored(root)
    assert [(r["criterion"], r["check_id"]) for r in rows] == [("CP9.2", None), (None, None)]


def test_a_refused_annotation_says_why_and_stores_nothing(client, root: Path) -> None:
    c, cfg = client
    done = post(c, form(cfg, kind="override", check_id="syslog-distant", host="srv-lin", status="conforme", text=" "))
    html = done.get_data(as_text=True)
    assert done.status_code == 400 and "Annotation refusée" in html and "doit être justifiée" in html
    assert f'href="{CANDIDATE}"' in html
    observation_with_status = post(c, form(cfg, kind="observation", text="x", status="conforme"))
    assert observation_with_status.status_code == 303  # the status of an observation form is ignored
    assert [r["status"] for r in stored(root)] == [None]


def test_forms_without_the_form_token_or_from_elsewhere_are_refused(client, root: Path) -> None:
    c, cfg = client
    data = form(cfg, kind="observation", text="x")
    missing = post(c, {k: v for k, v in data.items() if k != "csrf"})
    assert missing.status_code == 403 and "Formulaire refusé" in missing.get_data(as_text=True)
    assert post(c, {**data, "csrf": "0" * 64}).status_code == 403
    assert post(c, data, origin="http://evil.example").status_code == 403
    assert post(c, data, origin="null").status_code == 403
    assert post(c, data, origin=None, **{"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert stored(root) == []
    assert post(c, data, origin=None).status_code == 303  # a client that sends no Origin still needs the token
    assert post(c, data, **{"Sec-Fetch-Site": "same-origin"}).status_code == 303
    assert len(stored(root)) == 2


def test_form_size_is_bounded(client) -> None:
    c, cfg = client
    done = post(c, form(cfg, kind="observation", text="x" * 300_000))
    assert done.status_code == 413 and "Formulaire trop volumineux" in done.get_data(as_text=True)


def test_loopback_view_refuses_foreign_host_names(client) -> None:
    c, _ = client
    rebound = c.get("/", base_url="http://attaquant.example:8765")
    assert rebound.status_code == 400 and "Nom d&#39;hôte refusé" in rebound.get_data(as_text=True)
    for host in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765"):
        assert c.get("/", base_url=f"http://{host}").status_code == 200
    assert c.get("/", base_url="http://127.0.0.1:9999").status_code == 400


# --- the token on other addresses ----------------------------------------------------------------


def test_token_is_asked_once_then_kept_in_a_cookie(root: Path) -> None:
    c, cfg = client_for(root, token="jeton-secret")
    base = "http://192.0.2.10:8765"
    assert c.get("/", base_url=base).status_code == 401
    assert "jeton affiché au démarrage" in c.get(CANDIDATE, base_url=base).get_data(as_text=True)
    assert c.get("/?token=mauvais", base_url=base).status_code == 403
    done = c.get(CANDIDATE + "?token=jeton-secret&x=1", base_url=base)
    assert done.status_code == 303
    assert urlsplit(done.headers["Location"]).path == CANDIDATE and "token" not in done.headers["Location"]
    cookie = done.headers["Set-Cookie"]
    assert cookie.startswith(f"{TOKEN_COOKIE}=jeton-secret") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = c.get(CANDIDATE, base_url=base)
    assert page.status_code == 200 and "Alice Martin" in page.get_data(as_text=True)
    posted = c.post(POST, data=form(cfg, kind="observation", text="x"), base_url=base, headers={"Origin": base})
    assert posted.status_code == 303
    c.delete_cookie(TOKEN_COOKIE, domain="192.0.2.10")
    assert c.get(CANDIDATE, base_url=base).status_code == 401


def test_who_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert is_loopback(host) and access_token(host) is None
    for host in ("0.0.0.0", "::", "192.168.1.20", "salle-b12.local"):
        assert not is_loopback(host)
    monkeypatch.delenv("GRADER_WEB_TOKEN", raising=False)
    generated = access_token("0.0.0.0")
    assert generated and len(generated) >= 32 and access_token("0.0.0.0") != generated
    monkeypatch.setenv("GRADER_WEB_TOKEN", "depuis-env")
    assert access_token("0.0.0.0") == "depuis-env"
    assert access_token("0.0.0.0", "donne") == "donne"
    assert loopback_hosts("127.0.0.1", 80) == frozenset({"127.0.0.1:80", "localhost:80", "[::1]:80"})
    assert "[::1]:80" in loopback_hosts("::1", 80)


def test_served_over_http_on_loopback(root: Path) -> None:
    import threading
    import urllib.request

    from grader.web import make_server

    served = make_server(root, port=0)
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    try:
        assert served.token is None and re.fullmatch(r"http://127\.0\.0\.1:\d+/", served.url)
        with urllib.request.urlopen(served.url + CANDIDATE.lstrip("/"), timeout=10) as page:
            assert page.status == 200 and "Alice Martin" in page.read().decode("utf-8")
    finally:
        served.server.shutdown()
        thread.join(10)
        served.close()
