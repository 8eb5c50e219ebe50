"""The web view without a browser (Flask's test client): pages, forms, and every guard; then served for real."""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from grader.errors import UsageError
from grader.store import Store
from grader.web import Served, WebConfig, create_app, find_sessions, is_loopback, jury_names, make_server
from grader.web.app import AUTHOR_COOKIE, TOKEN_COOKIE
from grader.web.server import access_token, loopback_hosts
from tests.reports.test_reports import build_store

RUN = "2026-11-22-1300"
CANDIDATE = f"/s/session/r/{RUN}/c/01/"
POST = CANDIDATE + "annotations"
HOST = "127.0.0.1:8765"
JURY = ("Mme Leroy", "M. Dupont")


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
    client, cfg = client_for(root, allowed_hosts=loopback_hosts("127.0.0.1", 8765), jury=JURY)
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
    assert html.count('<option value="M. Dupont">M. Dupont</option>') == 5 * 2 + 10 + 1  # the jury, as a list
    assert 'type="text" name="author"' not in html and 'id="read-only"' not in html
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
    assert '<option value="Mme Leroy" selected>' in html  # the name is remembered


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
    c, cfg = client_for(root, token="jeton-secret", jury=JURY)
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


def test_every_serve_has_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert is_loopback(host)
    for host in ("0.0.0.0", "::", "192.168.1.20", "salle-b12.local"):
        assert not is_loopback(host)
    monkeypatch.delenv("GRADER_WEB_TOKEN", raising=False)
    generated = access_token()
    assert generated and len(generated) >= 32 and access_token() != generated
    monkeypatch.setenv("GRADER_WEB_TOKEN", "depuis-env")
    assert access_token() == "depuis-env"
    assert access_token("donne") == "donne"
    assert loopback_hosts("127.0.0.1", 80) == frozenset({"127.0.0.1:80", "localhost:80", "[::1]:80"})
    assert "[::1]:80" in loopback_hosts("::1", 80)


def test_annotations_are_signed_by_a_member_of_the_jury_only(client, root: Path) -> None:
    c, cfg = client
    stranger = post(c, form(cfg, kind="observation", text="x", author="Quelqu'un d'autre"))
    html = stranger.get_data(as_text=True)
    assert stranger.status_code == 400 and "Annotation refusée" in html
    assert "ne fait pas partie du jury de cette vue (Mme Leroy, M. Dupont)" in html.replace("&#39;", "'")
    assert post(c, form(cfg, kind="observation", text="x", author="")).status_code == 400
    assert post(c, form(cfg, kind="override", check_id="syslog-distant", host="srv-lin", status="conforme",
                        text="x", author="mme leroy")).status_code == 400  # as listed, not nearly
    assert stored(root) == []
    assert post(c, form(cfg, kind="observation", text="x", author="  M.   Dupont ")).status_code == 303
    assert [r["author"] for r in stored(root)] == ["M. Dupont"]


def test_without_a_jury_the_view_is_read_only(root: Path) -> None:
    c, cfg = client_for(root)
    page = c.get(CANDIDATE)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Alice Martin" in html
    assert "<form" not in html and 'id="read-only"' in html and "grader serve --jury" in html
    assert 'id="read-only"' in c.get("/").get_data(as_text=True)
    refused = c.post(POST, data=form(cfg, kind="observation", text="x"))
    assert refused.status_code == 403 and "lecture seule" in refused.get_data(as_text=True)
    assert stored(root) == []
    c.application.extensions["grader"]["stores"].close()
    with_jury, _ = client_for(root, jury=JURY)
    home = with_jury.get("/").get_data(as_text=True)
    assert 'id="read-only"' not in home and "Jury autorisé à annoter : Mme Leroy, M. Dupont." in home
    with_jury.application.extensions["grader"]["stores"].close()


def test_jury_names_as_recorded() -> None:
    assert jury_names(["  Mme   Martin ", "", "M. Durand", "Mme Martin", "   "]) == ("Mme Martin", "M. Durand")
    assert jury_names([]) == ()
    with pytest.raises(UsageError, match="trop long"):
        jury_names(["x" * 201])


# --- served for real: the token on loopback too, HTTPS elsewhere ------------------------------------


@contextmanager
def running(root: Path, **kwargs) -> Iterator[Served]:
    served = make_server(root, port=0, **kwargs)
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        thread.join(10)
        served.close()


def opener(context: ssl.SSLContext | None = None) -> tuple[urllib.request.OpenerDirector, CookieJar]:
    jar = CookieJar()
    handlers: list = [urllib.request.HTTPCookieProcessor(jar)]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers), jar


def test_served_over_http_on_loopback_behind_a_token(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRADER_WEB_TOKEN", raising=False)
    with running(root) as served:
        assert served.token and re.fullmatch(rf"http://127\.0\.0\.1:\d+/\?token={re.escape(served.token)}",
                                             served.url)
        base = served.url.split("?")[0]
        with pytest.raises(urllib.error.HTTPError) as denied:  # another local user, without the printed address
            urllib.request.urlopen(base + CANDIDATE.lstrip("/"), timeout=10)
        assert denied.value.code == 401
        browser, jar = opener()
        with browser.open(served.url, timeout=10) as home:
            assert home.status == 200 and home.url == base and 'id="read-only"' in home.read().decode("utf-8")
        [cookie] = list(jar)
        assert cookie.name == TOKEN_COOKIE and not cookie.secure
        with browser.open(base + CANDIDATE.lstrip("/"), timeout=10) as page:
            assert page.status == 200 and "Alice Martin" in page.read().decode("utf-8")


def test_grader_web_token_is_kept(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADER_WEB_TOKEN", "depuis-env")
    with running(root, jury=["Mme Leroy"]) as served:
        assert served.token == "depuis-env" and served.url.endswith("/?token=depuis-env")
        assert served.config.jury == ("Mme Leroy",)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "grader-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_served_over_https_with_the_given_certificate(root: Path, tmp_path: Path,
                                                      request: pytest.FixtureRequest) -> None:
    cert, key = self_signed(tmp_path)
    with running(root, tls_cert=cert, tls_key=key, jury=["Mme Leroy"]) as served:
        assert served.url.startswith("https://127.0.0.1:") and f"/?token={served.token}" in served.url
        trusting = ssl.create_default_context(cafile=str(cert))
        browser, jar = opener(trusting)
        port = int(urlsplit(served.url).port or 0)
        silent = socket.create_connection(("127.0.0.1", port), timeout=10)  # connects, never says hello
        request.addfinalizer(silent.close)
        with browser.open(served.url.replace("/?", CANDIDATE + "?"), timeout=10) as page:
            html = page.read().decode("utf-8")
            assert page.status == 200 and "Alice Martin" in html and '<option value="Mme Leroy">' in html
        [cookie] = list(jar)
        assert cookie.name == TOKEN_COOKIE and cookie.secure  # never sent back over plain HTTP
        with pytest.raises(urllib.error.URLError):  # a client that does not trust it gets nothing
            urllib.request.urlopen(served.url, timeout=10, context=ssl.create_default_context())


def test_a_non_loopback_address_needs_tls(root: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        make_server(root, host="0.0.0.0", port=0)
    assert "n'est pas la boucle locale" in str(caught.value) and "--tls-cert" in str(caught.value)
    cert, key = self_signed(tmp_path)
    with pytest.raises(UsageError, match="vont ensemble"):
        make_server(root, port=0, tls_cert=cert)
    with pytest.raises(UsageError, match="inutilisable"):
        make_server(root, port=0, tls_cert=cert, tls_key=tmp_path / "absente.pem")
    with pytest.raises(UsageError, match="inutilisable"):
        make_server(root, port=0, tls_cert=key, tls_key=cert)
