"""The ``glpi`` channel: GLPI's REST API (``apirest.php``), read by the grader with a user token and an app token.

One API session per host: ``initSession`` (``Authorization: user_token ...`` and ``App-Token``) gives a
session token, every lookup of the host is answered in that session (``getFullSession`` once, for
GLPI's clock; ``search``, ``getItem``, ``getSubItems``), and ``killSession`` ends it whatever happened,
so a run leaves no open session behind. The tokens are sent in headers only, never in a URL (GLPI
also accepts them in the query string: a proxy log would keep them); results say the account's
login, never a token.

GLPI answers an error with a JSON array ``["ERROR_CODE", "message"]`` (apirest.md, *Errors*). A
refused user token, a wrong or missing app token, a session token GLPI no longer knows (expired,
killed) is :class:`CredentialError`: every check of the host ``erreur`` with GLPI's reason, never
``non conforme``. One request refused inside a lookup (``ERROR_RIGHT_MISSING`` on task lists for a
profile without that right) leaves that part ``null`` and its reason in ``errors``: the judges then
say they cannot tell.
"""

from __future__ import annotations

import email.utils
import json
import time
import urllib.parse
from collections.abc import Sequence
from datetime import UTC
from typing import Any

import requests

from grader.credentials import resolve_password
from grader.errors import CredentialError, TransportError, Unreachable
from grader.model import Msg, Probe, ProbeResult
from grader.probes.glpi import CHANNEL, ID, LOOKUPS, MAX_MATCHES, NAME, TEXT, GlpiOptions, parse_command
from grader.transports.base import Channel, Collected, HostContext, option_credential, probe_fields
from grader.transports.envelope import CAP
from grader.transports.pve import ApiError, _loopback
from grader.transports.rest import request_failure

#: GLPI's error codes that mean "these tokens do not open (or no longer hold) a session".
REFUSED = ("ERROR_SESSION_TOKEN_INVALID", "ERROR_SESSION_TOKEN_MISSING", "ERROR_APP_TOKEN_PARAMETERS_MISSING",
           "ERROR_WRONG_APP_TOKEN_PARAMETER", "ERROR_GLPI_LOGIN_USER_TOKEN", "ERROR_GLPI_LOGIN",
           "ERROR_LOGIN_PARAMETERS_MISSING", "ERROR_NOT_ALLOWED_IP")
#: Foreign keys a judge needs by name, and the itemtype each points to.
FOREIGN = {"users_id": "User", "users_id_tech": "User", "users_id_recipient": "User", "users_id_lastupdater": "User",
           "itilcategories_id": "ITILCategory", "locations_id": "Location", "entities_id": "Entity",
           "profiles_id": "Profile", "groups_id": "Group", "states_id": "State", "tickets_id": "Ticket"}
NAME_FIELDS = ("name", "completename", "realname", "firstname")


def glpi_error(response: requests.Response) -> tuple[str, str]:
    """(code, message) of GLPI's error answer ``["ERROR_...", "message"]``; the HTTP reason when it is not one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, list) and body and isinstance(body[0], str):
        return body[0], str(body[1]) if len(body) > 1 else ""
    return "", response.reason or ""


class Session:
    """One GLPI API session; :meth:`get` returns the decoded JSON of a request below ``apirest.php``."""

    def __init__(self, base: str, verify: bool | str, timeout: float, app_token: str | None) -> None:
        self.base, self.timeout = base, timeout
        self.http = requests.Session()
        self.http.trust_env = False  # no proxy, no .netrc from the environment
        self.http.verify = verify
        self.http.headers.update({"Content-Type": "application/json", "User-Agent": "grader (TSSR)"})
        if app_token is not None:
            self.http.headers["App-Token"] = app_token
        self.requests = 0
        self.token: str | None = None
        self.date: str | None = None  # the HTTP Date of the last answer

    def _send(self, path: str, headers: dict[str, str] | None = None) -> requests.Response:
        self.requests += 1
        try:
            return self.http.get(self.base + path, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ApiError(-1, request_failure(exc)) from None  # never str(exc): see grader.transports.rest

    def open(self, user_token: str) -> None:
        response = self._send("/initSession", {"Authorization": f"user_token {user_token}"})
        if response.status_code != 200:
            code, message = glpi_error(response)
            if response.status_code in (400, 401, 403) and (code in REFUSED or response.status_code == 401):
                raise CredentialError(Msg("GLPI refuse d'ouvrir une session ({status} {code}) : {message}",
                                          status=response.status_code, code=code or "-", message=message[:200]))
            raise ApiError(response.status_code, f"initSession: {code or response.reason}")
        try:
            token = response.json().get("session_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise ApiError(response.status_code, "initSession sans session_token")
        self.token = token
        self.http.headers["Session-Token"] = token

    def get(self, path: str, query: dict[str, Any] | None = None) -> Any:
        url = path + ("?" + urllib.parse.urlencode(query) if query else "")
        response = self._send(url)
        self.date = response.headers.get("Date")
        if response.status_code not in (200, 206):
            code, message = glpi_error(response)
            if code in REFUSED or response.status_code == 401:
                raise CredentialError(Msg("GLPI a refusé la session en cours ({status} {code}) : {message}",
                                          status=response.status_code, code=code or "-", message=message[:200]))
            raise ApiError(response.status_code, code or response.reason or "")
        try:
            return response.json()
        except ValueError:
            raise ApiError(response.status_code, "réponse non JSON") from None

    def close(self) -> None:
        """``killSession`` (always tried, its failure ignored: the session then expires on its own)."""
        try:
            if self.token is not None:
                self._send("/killSession")
        except ApiError:
            pass
        finally:
            self.token = None
            self.http.close()


def _rows(answer: Any) -> list[dict[str, Any]]:
    """The rows of a ``search`` answer: ``data`` is a list (default) or an object by id (``withindexes``)."""
    data = answer.get("data") if isinstance(answer, dict) else None
    if isinstance(data, dict):
        return [dict(row, **{str(ID): row.get(str(ID), key)}) for key, row in data.items() if isinstance(row, dict)]
    return [row for row in data or () if isinstance(row, dict)]


class Reader:
    """The lookups of one host in one session, with the names of referenced items read once."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.names: dict[str, dict[str, Any] | None] = {}
        self.clock: dict[str, str] | None = None
        self.clock_error: str | None = None

    def read_clock(self) -> None:
        try:
            full = self.session.get("/getFullSession")
        except ApiError as exc:
            self.clock_error = f"GET getFullSession: {exc}"
            return
        now = (full.get("session") or {}).get("glpi_currenttime") if isinstance(full, dict) else None
        try:
            utc = email.utils.parsedate_to_datetime(self.session.date or "").astimezone(UTC)
        except (TypeError, ValueError):
            utc = None
        if isinstance(now, str) and utc is not None:
            self.clock = {"glpi": now, "utc": utc.isoformat()}
        else:
            self.clock_error = "getFullSession: glpi_currenttime ou Date absents"

    def name(self, itemtype: str, ident: Any, errors: list[str]) -> None:
        key = f"{itemtype}/{ident}"
        if key in self.names or not isinstance(ident, int) or ident < (0 if itemtype == "Entity" else 1):
            return
        try:
            item = self.session.get(f"/{itemtype}/{ident}", {"get_hateoas": "false"})
        except ApiError as exc:
            errors.append(f"GET {key}: {exc}")
            self.names[key] = None
            return
        self.names[key] = {k: item.get(k) for k in NAME_FIELDS if isinstance(item, dict) and k in item}

    def name_all(self, rows: Sequence[Any], errors: list[str]) -> None:
        for row in rows:
            if isinstance(row, dict):
                for field, itemtype in FOREIGN.items():
                    self.name(itemtype, row.get(field), errors)

    def lookup(self, kind: str, query: dict[str, Any]) -> dict[str, Any]:
        itemtype, subs = query["itemtype"], LOOKUPS[kind][1]
        if not itemtype.isidentifier():
            raise ApiError(400, f"itemtype invalide : {itemtype}")
        params: dict[str, Any] = {"range": f"0-{MAX_MATCHES - 1}", "forcedisplay[0]": ID, "forcedisplay[1]": NAME}
        criteria = [(NAME, query["name"])] if "name" in query else []
        if "text" in query and itemtype in TEXT:
            criteria.append((TEXT[itemtype], query["text"]))
        for i, (field, value) in enumerate(criteria):
            params.update({f"criteria[{i}][field]": field, f"criteria[{i}][searchtype]": "contains",
                           f"criteria[{i}][value]": value})
            if i:
                params[f"criteria[{i}][link]"] = "AND"
        found = self.session.get(f"/search/{itemtype}", params)
        errors: list[str] = []
        items = []
        for row in _rows(found)[:MAX_MATCHES]:
            try:
                ident = int(row.get(str(ID)))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                errors.append(f"search/{itemtype}: ligne sans id")
                continue
            try:
                item = self.session.get(f"/{itemtype}/{ident}", {"get_hateoas": "false"})
            except ApiError as exc:
                errors.append(f"GET {itemtype}/{ident}: {exc}")
                continue
            sub: dict[str, Any] = {}
            for name in subs:
                try:
                    sub[name] = self.session.get(f"/{itemtype}/{ident}/{name}",
                                                 {"get_hateoas": "false", "range": "0-99"})
                except ApiError as exc:
                    errors.append(f"GET {itemtype}/{ident}/{name}: {exc}")
                    sub[name] = None
                self.name_all(sub[name] or (), errors)
            self.name_all([item], errors)
            items.append({"item": item, "sub": sub})
        total = found.get("totalcount") if isinstance(found, dict) else None
        if self.clock_error:
            errors.append(self.clock_error)
        return {"clock": self.clock, "total": total if isinstance(total, int) else len(items), "items": items,
                "names": {k: v for k, v in self.names.items()}, "errors": errors}


class GlpiChannel(Channel):
    """The ``glpi`` channel: the host's lookups answered through GLPI's REST API, one session per host."""

    spec = CHANNEL

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        options = host.options if isinstance(host.options, GlpiOptions) else GlpiOptions()
        user = resolve_password(option_credential(
            host, options.credential, missing=Msg("un jeton utilisateur GLPI est attendu (options.glpi.credential)")))
        app_token = None
        if options.app_credential is not None:
            app_token = resolve_password(option_credential(host, options.app_credential, missing="")).password
        if options.scheme == "http" and not _loopback(host.address):
            raise TransportError(Msg("http n'est accepté que vers la boucle locale : un jeton ne circule pas en clair"))
        netloc = f"[{host.address}]" if ":" in host.address else host.address
        timeout = min(host.connect_timeout * 4, max(1.0, host.deadline.remaining()))
        session = Session(f"{options.scheme}://{netloc}:{options.port}{options.path}",
                          options.ca_file or options.verify_tls, timeout, app_token)
        host.deadline.guard(session.close)
        results: dict[str, ProbeResult] = {}
        try:
            try:
                session.open(user.password)
            except ApiError as exc:
                if exc.status == -1 and host.primary:
                    raise Unreachable(Msg("l'API de GLPI ne répond pas : {reason}", reason=exc.reason)) from None
                raise TransportError(Msg("session GLPI impossible : {reason}", reason=str(exc))) from None
            reader = Reader(session)
            reader.read_clock()
            for probe in probes:
                base, t0 = probe_fields(probe), time.perf_counter()
                try:
                    kind, query = parse_command(probe.command)
                    code, out, err = 0, json.dumps(reader.lookup(kind, query), sort_keys=True, ensure_ascii=False), ""
                except ValueError as exc:
                    code, out, err = 2, "", str(exc)
                except ApiError as exc:
                    code, out, err = exc.status, "", exc.reason
                results[probe.key] = ProbeResult(**base, stdout=out[:CAP], stderr=err, exit_code=code,
                                                 duration=time.perf_counter() - t0, truncated=len(out) > CAP)
        finally:
            session.close()
        return Collected(results, login=Msg("{login} (jeton utilisateur GLPI)", login=user.username),
                         execs=session.requests)
