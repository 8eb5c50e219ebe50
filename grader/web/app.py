"""The web view as a Flask application: pages read from the session stores, annotation forms, guards.

Pages (every one rendered on request from the SQLite store, so what a ``grader run`` or a
colleague's annotation just wrote is there on reload)::

    GET  /                                        sessions and their runs
    GET  /s/<session>/r/<run>/                    the run's session page (reports.html)
    GET  /s/<session>/r/<run>/c/<candidate>/      the candidate's evidence record, with the forms
    POST /s/<session>/r/<run>/c/<candidate>/annotations    one observation or override → 303 back

Guards, in :func:`_guard`, before any page:

* **Host header** — on a loopback address only the loopback names of the bound port are
  accepted, so a web page elsewhere cannot reach the view through DNS rebinding.
* **Token** — every request needs the secret of this serve (``grader serve`` always sets one,
  loopback included, so another user of the proctor's machine cannot read nor annotate):
  ``?token=…`` once (checked in constant time, then kept in an HttpOnly, SameSite=Strict
  cookie, Secure over HTTPS, and dropped from the address by a redirect), the cookie afterwards.
* **Forms** — a POST needs the form token the pages embed (an HMAC of a per-process key)
  and, when the browser says where it comes from (``Origin``, ``Sec-Fetch-Site``), this origin.

Who may annotate: the jury members named at start (``WebConfig.jury``, ``grader serve --jury``).
The forms offer those names in a list; a POST naming anyone else is refused (400). With no
jury named the view is read-only: no form is shown, a POST is refused (403) and the pages say
how to enable annotating.

Every response forbids scripts, framing and foreign form targets (Content-Security-Policy),
and is not cached (pages hold live data).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from flask import Flask, Response, redirect, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse  # what redirect() returns

from grader import __version__
from grader.errors import AnnotationError, StoreError, UsageError
from grader.i18n import t
from grader.store import MAX_AUTHOR, Store
from reports import aggregate
from reports.html import TEMPLATE_GLOBALS, fmt_datetime, render_candidate, render_session
from reports.html import TEMPLATES as REPORT_TEMPLATES
from reports.labels import labels, normalize_lang, run_state_label, translations

WEB_TEMPLATES = Path(__file__).resolve().parent / "templates"
TOKEN_COOKIE = "grader_token"
AUTHOR_COOKIE = "grader_author"
MAX_FORM_BYTES = 256 * 1024
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


@dataclass
class WebConfig:
    """What one running view serves and how it is guarded.

    :param root: a session directory (holding ``grader.sqlite``) or a directory of sessions.
    :param token: the access token (:func:`grader.web.make_server` always sets one); ``None``:
        no token asked, for an application embedded behind its own guard (tests).
    :param allowed_hosts: accepted ``Host`` headers (``127.0.0.1:8765``...); ``None``: any.
    :param jury: the names an annotation may be signed with (see :func:`jury_names`); empty:
        the view is read-only.
    """

    root: Path
    lang: str = "fr"
    token: str | None = None
    allowed_hosts: frozenset[str] | None = None
    jury: tuple[str, ...] = ()
    form_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    @property
    def form_token(self) -> str:
        return hmac.new(self.form_key, b"grader-annotation-form", hashlib.sha256).hexdigest()


def jury_name(name: str) -> str:
    """A name as the store records an author: spaces collapsed (« Mme  Martin » is « Mme Martin »)."""
    return " ".join((name or "").split())


def jury_names(names: Iterable[str]) -> tuple[str, ...]:
    """The jury of a serve: each name as recorded (:func:`jury_name`), blanks dropped, each once, in order.

    :raises UsageError: a name longer than the store accepts for an author.
    """
    kept: dict[str, None] = {}
    for raw in names:
        name = jury_name(raw)
        if len(name) > MAX_AUTHOR:
            raise UsageError(t("web.jury_too_long", name=name[:40] + "…", limit=MAX_AUTHOR))
        if name:
            kept[name] = None
    return tuple(kept)


def find_sessions(root: Path) -> dict[str, Path]:
    """Session name → directory: ``root`` itself if it is a session, else its subdirectories that are."""
    root = Path(root)
    if (root / Store.FILENAME).is_file():
        return {root.resolve().name or "session": root}
    if not root.is_dir():
        return {}
    return {d.name: d for d in sorted(root.iterdir(), key=lambda d: d.name) if (d / Store.FILENAME).is_file()}


@lru_cache(maxsize=4)
def _environment(lang: str) -> jinja2.Environment:
    """The web pages' own templates, able to include the reports' stylesheet; ``_("key")`` in ``lang``."""
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(WEB_TEMPLATES)),
                                  jinja2.FileSystemLoader(str(REPORT_TEMPLATES))])
    env = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(translations(lang), newstyle=False)  # type: ignore[attr-defined]
    env.globals.update(TEMPLATE_GLOBALS)  # the stylesheet's heatmap shades
    return env


class _Stores:
    """One open store per session directory, shared by the request threads (a store is thread-safe)."""

    def __init__(self) -> None:
        self._stores: dict[Path, Store] = {}
        self._lock = threading.Lock()

    def get(self, directory: Path) -> Store:
        key = directory.resolve()
        with self._lock:
            if key not in self._stores:
                self._stores[key] = Store(key)
            return self._stores[key]

    def close(self) -> None:
        with self._lock:
            for store in self._stores.values():
                store.close()
            self._stores.clear()


class _NotFound(Exception):
    """An unknown session, run or candidate in the address: a French 404 page."""


def create_app(config: WebConfig) -> Flask:
    """The view of ``config.root``; ``app.extensions["grader"]`` holds the config and the open stores."""
    app = Flask(__name__, static_folder=None, template_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_FORM_BYTES
    stores = _Stores()
    app.extensions["grader"] = {"config": config, "stores": stores}
    lang = normalize_lang(config.lang)
    _ = labels(lang)

    def page(template: str, status: int = 200, **values: Any) -> Response:
        html = _environment(lang).get_template(template).render(lang=lang, version=__version__, **values)
        return Response(html, status=status, mimetype="text/html")

    def message(title: str, body: str, status: int, back: str | None = "/") -> Response:
        return page("message.html.j2", status=status, title=title, body=body, back=back)

    def open_run(session: str, run: str) -> tuple[Store, str]:
        directory = find_sessions(config.root).get(session)
        if directory is None:
            raise _NotFound
        store = stores.get(directory)
        try:
            store.run(run)
        except StoreError:
            raise _NotFound from None
        return store, run

    @app.before_request
    def _guard() -> BaseResponse | None:
        port = request.environ.get("SERVER_PORT", "")
        if config.allowed_hosts is not None and request.host.lower() not in config.allowed_hosts:
            return message(_("web.forbidden"), _("web.host_text", port=port), 400, back=None)
        if config.token is not None and request.path != "/favicon.ico":  # browsers ask for it on their own
            given = request.args.get("token")
            if given is not None:
                if not hmac.compare_digest(given.encode(), config.token.encode()):
                    return message(_("web.forbidden"), _("web.token_text"), 403, back=None)
                rest = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
                target = request.path + (f"?{urlencode(rest)}" if rest else "")
                response = redirect(target, 303)
                response.set_cookie(TOKEN_COOKIE, config.token, httponly=True, samesite="Strict", path="/",
                                    secure=request.is_secure)
                return response
            cookie = request.cookies.get(TOKEN_COOKIE, "")
            if not hmac.compare_digest(cookie.encode(), config.token.encode()):
                return message(_("web.forbidden"), _("web.token_text"), 401, back=None)
        if request.method == "POST":
            origin = request.headers.get("Origin")
            fetch_site = request.headers.get("Sec-Fetch-Site")
            same_origin = origin is None or origin == f"{request.scheme}://{request.host}"
            if not same_origin or fetch_site not in (None, "same-origin", "none"):
                return message(_("web.forbidden"), _("web.csrf_text"), 403)
            if not hmac.compare_digest(request.form.get("csrf", "").encode(), config.form_token.encode()):
                return message(_("web.forbidden"), _("web.csrf_text"), 403)
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        if exc.code == 413:
            return message(_("web.refused"), _("web.too_large"), 413)
        if exc.code == 404:
            return message(_("web.not_found"), _("web.not_found_text"), 404)
        return message(_("web.refused"), f"{exc.code} {exc.name}", exc.code or 400)

    @app.errorhandler(_NotFound)
    def _not_found(_exc: Exception) -> Response:
        return message(_("web.not_found"), _("web.not_found_text"), 404)

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status=204)

    @app.get("/")
    def home() -> Response:
        version_word = _("meta.version")
        sessions = []
        for name, directory in find_sessions(config.root).items():
            store = stores.get(directory)
            runs = []
            for run in reversed(store.runs()):
                n_ann = len(store.annotations(run["id"]))
                state = run.get("state") or ""
                runs.append({
                    "id": run["id"], "href": url_for("run_page", session=name, run=run["id"]),
                    "started": fmt_datetime(run["started"], lang),
                    "state": run_state_label(lang, state),
                    "rubric": f"{run['rubric_title']} ({run['rubric_id']}, {version_word} {run['rubric_version']})",
                    "candidates": len(store.candidates(run["id"])), "annotations": n_ann,
                })
            sessions.append({"name": name, "path": str(directory.resolve()), "runs": runs})
        return page("home.html.j2", sessions=sessions, root=str(Path(config.root).resolve()),
                    jury=", ".join(config.jury))

    @app.get("/s/<session>/r/<run>/")
    def run_page(session: str, run: str) -> Response:
        store, run_id = open_run(session, run)
        frames = aggregate.load_frames(store, run_id, lang=lang)
        web = {"home_href": url_for("home"),
               "candidate_href": lambda cid: url_for("candidate_page", session=session, run=run_id, candidate=cid)}
        return Response(render_session(frames, lang, web), mimetype="text/html")

    @app.get("/s/<session>/r/<run>/c/<candidate>/")
    def candidate_page(session: str, run: str, candidate: str) -> Response:
        store, run_id = open_run(session, run)
        frames = aggregate.load_frames(store, run_id, lang=lang)
        if candidate not in frames.candidate_ids():
            raise _NotFound
        web = {"home_href": url_for("home"), "run_href": url_for("run_page", session=session, run=run_id),
               "action": url_for("annotate", session=session, run=run_id, candidate=candidate),
               "csrf": config.form_token, "jury": list(config.jury),
               "author": jury_name(request.cookies.get(AUTHOR_COOKIE, ""))}
        return Response(render_candidate(frames, candidate, lang, web), mimetype="text/html")

    @app.post("/s/<session>/r/<run>/c/<candidate>/annotations")
    def annotate(session: str, run: str, candidate: str) -> BaseResponse:
        store, run_id = open_run(session, run)
        form = request.form
        back = url_for("candidate_page", session=session, run=run_id, candidate=candidate)
        if not config.jury:
            return message(_("web.refused"), _("web.read_only"), 403, back=back)
        author = jury_name(form.get("author", ""))
        if author not in config.jury:
            return message(_("web.refused"), _("web.not_in_jury", author=author or "—",
                                               jury=", ".join(config.jury)), 400, back=back)
        try:
            row = store.add_annotation(
                run_id, candidate, kind=form.get("kind", ""), text=form.get("text", ""),
                author=author, check_id=form.get("check_id") or None, host=form.get("host") or None,
                criterion=form.get("criterion") or None,
                status=form.get("status") if form.get("kind") == "override" else None)
        except AnnotationError as exc:
            return message(_("web.refused"), str(exc), 400, back=back)
        response = redirect(f"{back}#annotation-{row['id']}", 303)
        response.set_cookie(AUTHOR_COOKIE, row["author"], max_age=30 * 24 * 3600, httponly=True, samesite="Strict",
                            path="/", secure=request.is_secure)
        return response

    return app
