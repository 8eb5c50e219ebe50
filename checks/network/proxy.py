"""HTTP proxy (squid): the allowed site passes through it, the forbidden one is refused *by the proxy*.

Functional proof from a LAN client, inside its SSH batch: two requests with ``/usr/bin/curl``
(absolute path, ``-q``: no ~/.curlrc; the batch's clean environment: no ``http_proxy``), each
sent explicitly to the proxy (``--proxy``), ``Cache-Control: no-cache`` so a copy cached before
the grading proves nothing. stdout holds the response as received (``-i``: status line, headers,
page); stderr curl's error, if any, and one line written by curl itself (``-w %{stderr}``)
saying whether a TCP connection to the proxy was made: ``@curl connect=<s> code=<status>``.

What each side must show, and why:

* allowed: ``200``, the expected text of the page, and a proxy's mark (``Via``, or squid's
  ``X-Cache``): the page came from the origin *through* something that relays;
* forbidden: a ``403`` **made by squid** (``X-Squid-Error: ERR_ACCESS_DENIED``, or a page named in
  ``deny_pages`` for a custom ``deny_info``). Squid answers that before contacting the site,
  so it holds even when the forbidden site is down; conversely squid's errors of a fetch
  (:data:`FETCH_ERRORS`: ``ERR_CONNECT_FAIL``, ``ERR_DNS_FAIL``...) prove the proxy *let the request
  through* and tried to reach the site, and a 403 relayed from the site itself (no
  ``X-Squid-Error``) is not a filter. Another squid page, that the rubric does not name, is
  ``erreur``: neither a denial nor a fetch is proved.

A proxy that accepts no connection makes both requests fail: that is « le proxy ne répond pas »
(``non_conforme``: the router is reached — the rubric's ``depends_on`` makes a router that is
down ``injoignable`` —, its proxy is not there), never a refusal. The allowed site failing
*behind* the proxy (origin down, no answer in time) is ``erreur``: the proxy's part cannot be
judged. HTTPS sites (``CONNECT``) are not covered: the URLs are ``http://``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import Field, field_validator

from checks._common.text import clip
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.ssh import quote

#: squid's error pages made *after* its access rules let the request go: it tried to reach the site.
FETCH_ERRORS = frozenset({"ERR_CONNECT_FAIL", "ERR_DNS_FAIL", "ERR_READ_TIMEOUT", "ERR_READ_ERROR", "ERR_WRITE_ERROR",
                          "ERR_ZERO_SIZE_OBJECT", "ERR_GATEWAY_FAILURE", "ERR_CANNOT_FORWARD", "ERR_LIFETIME_EXP",
                          "ERR_SOCKET_FAILURE"})
_MARK = re.compile(r"^@curl connect=([0-9.]+) code=(\d+)\s*$", re.MULTILINE)


def fetch_probe(proxy: str, port: int, url: str, timeout: float) -> Probe:
    """One request for ``url`` sent to the proxy ``proxy:port`` by the host's curl."""
    command = (f"/usr/bin/curl -q -sS -i --noproxy '' --proxy {quote(f'http://{proxy}:{port}')} "
               f"--connect-timeout {min(timeout, 3):g} --max-time {timeout:g} -H 'Cache-Control: no-cache' "
               f"-A 'grader (TSSR)' -w '%{{stderr}}@curl connect=%{{time_connect}} code=%{{http_code}}\\n' "
               f"-- {quote(url)}")
    return Probe("ssh", command, timeout + 5.0, active=True)


@dataclass(frozen=True)
class Response:
    """What one request through the proxy brought back."""

    exit_code: int | None
    connected: bool | None  # a TCP connection to the proxy was made (None: curl's own line is missing)
    status: int | None
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: str = ""
    error: str = ""

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower(), [])
        return values[-1] if values else ""

    @property
    def squid_error(self) -> str:
        """The squid error page's name (``ERR_ACCESS_DENIED``), empty when squid made no error page."""
        value = self.header("X-Squid-Error").split()
        return value[0] if value else ""

    @property
    def relayed_mark(self) -> str:
        via, cache = self.header("Via"), self.header("X-Cache")
        return f"Via: {via}" if via else (f"X-Cache: {cache}" if cache else "")


def parse_response(result: ProbeResult) -> Response:
    """Split curl's ``-i`` output (the last header block wins: 1xx interim answers are skipped)."""
    mark = _MARK.search(result.stderr)
    connected = (float(mark.group(1)) > 0 or mark.group(2) != "000") if mark else None
    error = " ".join(_MARK.sub("", result.stderr).split())
    text = result.stdout.replace("\r\n", "\n")
    status: int | None = None
    headers: dict[str, list[str]] = {}
    body = text
    while body.startswith("HTTP/"):
        head, sep, rest = body.partition("\n\n")
        lines = head.split("\n")
        parts = lines[0].split()
        try:
            status = int(parts[1])
        except (IndexError, ValueError):
            status = None
            break
        headers = {}
        for line in lines[1:]:
            key, colon, value = line.partition(":")
            if colon:
                headers.setdefault(key.strip().lower(), []).append(value.strip())
        body = rest
        if not (100 <= status < 200) or not sep:
            break
    if status is None:
        body = text
    return Response(result.exit_code, connected, status, headers, body, error)


def _summary(url: str, r: Response) -> str | Msg:
    if r.status is None:
        return Msg("{url} : aucune réponse HTTP (curl {code}{detail})", url=url, code=r.exit_code,
                   detail=Msg(" : {error}", error=clip(r.error, 160, squeeze=True)) if r.error else "")
    parts = [f"{url} : HTTP {r.status}"]
    if r.squid_error:
        parts.append(f"X-Squid-Error: {r.header('X-Squid-Error')}")
    if r.relayed_mark:
        parts.append(r.relayed_mark)
    return ", ".join(parts)


def _either(items: tuple[str, ...]) -> str | Msg:
    """« a ou b ou c », said in the report's language."""
    if len(items) <= 1:
        return "".join(items)
    return Msg("{previous} ou {last}", previous=_either(items[:-1]), last=items[-1])


OK, FAIL, UNKNOWN = "ok", "non_conforme", "erreur"


def _allowed(r: Response, expect: str, deny_pages: tuple[str, ...]) -> tuple[str, Msg | str]:
    if r.status is None:
        return UNKNOWN, Msg("le proxy a accepté la connexion mais aucune réponse n'est revenue pour le site autorisé")
    if r.squid_error in deny_pages:
        return FAIL, Msg("Le proxy refuse le site autorisé.")
    if r.squid_error in FETCH_ERRORS:
        return UNKNOWN, (
                Msg("le proxy a laissé passer la requête mais n'a pas pu joindre le site autorisé ({squid_error}) : "
                    "impossible de juger le filtrage", squid_error=r.squid_error))
    if r.squid_error:
        return UNKNOWN, (
                Msg("page d'erreur du proxy {squid_error} (HTTP {status}) pour le site autorisé : ni la page, ni un "
                    "refus prévu au barème", squid_error=r.squid_error, status=r.status))
    if r.status != 200:
        return UNKNOWN, Msg("le site autorisé a répondu {status} à travers le proxy : impossible de conclure",
                            status=r.status)
    if expect not in r.body:
        return FAIL, Msg("La page reçue pour le site autorisé ne contient pas « {expect} ».", expect=expect)
    if not r.relayed_mark:
        return UNKNOWN, (
                Msg("la page autorisée arrive sans en-tête Via ni X-Cache : rien ne montre qu'elle a traversé un proxy",
                    ))
    return OK, ""


def _blocked(r: Response, marker: str | None, deny_pages: tuple[str, ...]) -> tuple[str, Msg | str]:
    if r.status is None:
        return UNKNOWN, (
                Msg("le proxy a accepté la connexion mais n'a rien répondu pour le site interdit : un refus du proxy "
                    "est immédiat, un silence ne prouve rien"))
    if marker and marker in r.body:
        return FAIL, Msg("La page du site interdit a été servie à travers le proxy.")
    if r.squid_error in deny_pages:
        if r.status == 403:
            return OK, ""
        return UNKNOWN, Msg("refus du proxy ({squid_error}) avec un code HTTP inattendu ({status})",
                            squid_error=r.squid_error, status=r.status)
    if r.squid_error in FETCH_ERRORS:
        return FAIL, (
                Msg("Le proxy a laissé passer la requête vers le site interdit : il a tenté de le joindre "
                    "({squid_error}).", squid_error=r.squid_error))
    if r.squid_error:
        return UNKNOWN, (
                Msg("page d'erreur du proxy {squid_error} (HTTP {status}) : ni un refus prévu au barème ({items}), ni "
                    "un échec d'accès au site",
                    squid_error=r.squid_error, status=r.status, items=", ".join(deny_pages)))
    if r.status == 403 and not r.relayed_mark:
        return UNKNOWN, (
                Msg("un refus 403 sans en-tête du proxy (ni X-Squid-Error, ni Via) : son origine ne peut être établie"))
    if r.status == 403:
        return FAIL, (
                Msg("Le refus vient du site lui-même (403 relayé, sans X-Squid-Error) : le proxy a laissé passer la "
                    "requête."))
    return FAIL, Msg("Le proxy a laissé passer la requête vers le site interdit (HTTP {status}).", status=r.status)


class ProxyFilters(Check):
    """Le proxy {proxy}:{port} laisse passer {allowed} et refuse {blocked}.

    Active probes from this host (a LAN client): one request for each URL sent to the proxy with
    the host's ``/usr/bin/curl``. Conforme when the allowed page arrives (200, ``expect`` in it,
    a ``Via``/``X-Cache`` header) and the forbidden one is refused by squid itself (403 with
    ``X-Squid-Error`` naming one of ``deny_pages``). ``blocked_marker``, a text of the forbidden
    site's page, makes a page served despite the filter explicit in the evidence.
    """

    id = "proxy.filters"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        proxy: str
        port: int = Field(default=3128, ge=1, le=65535)
        allowed: str
        blocked: str
        expect: str = Field(min_length=1)
        blocked_marker: str | None = None
        deny_pages: tuple[str, ...] = ("ERR_ACCESS_DENIED",)
        timeout: float = Field(default=5.0, gt=0, le=30)

        @field_validator("allowed", "blocked")
        @classmethod
        def _http(cls, value: str) -> str:
            if not re.match(r"^http://[^\s/]+", value):
                raise ValueError("adresse http://… attendue (les sites HTTPS passent par CONNECT, non couvert)")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"autorise": fetch_probe(params.proxy, params.port, params.allowed, params.timeout),
                "interdit": fetch_probe(params.proxy, params.port, params.blocked, params.timeout)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        where = f"{params.proxy}:{params.port}"
        expected = Msg("par le proxy {where} : {allowed} servi (200, « {expect} », en-tête Via) ; "
                       "{blocked} refusé par le proxy (403, X-Squid-Error: {pages})", where=where,
                       allowed=params.allowed, expect=params.expect, blocked=params.blocked,
                       pages=_either(params.deny_pages))
        a, b = parse_response(results["autorise"]), parse_response(results["interdit"])
        observed = Msg("autorisé {allowed} ; interdit {blocked}", allowed=_summary(params.allowed, a),
                       blocked=_summary(params.blocked, b))
        if a.connected is None or b.connected is None:
            clipped = clip(observed.render() + " ; " + a.error + " " + b.error, 400, squeeze=True)
            errors = " ".join((a.error + " " + b.error).split())
            said = (Msg("autorisé {allowed} ; interdit {blocked} ; {errors}", allowed=observed.args["allowed"],
                        blocked=observed.args["blocked"], errors=errors) if errors else
                    Msg("autorisé {allowed} ; interdit {blocked} ;", allowed=observed.args["allowed"],
                        blocked=observed.args["blocked"]))
            return Verdict.erreur(Msg("la sonde curl n'a pas rendu compte de sa connexion au proxy (curl absent ?)"),
                                  observed=said if said.render() == clipped else clipped, expected=expected)
        if not a.connected and not b.connected:
            return Verdict.non_conforme(observed, expected, Msg("Le proxy ne répond pas sur {where} : {detail}",
                                                                where=where, detail=clip(a.error, 160, squeeze=True)))
        if not a.connected or not b.connected:
            return Verdict.erreur(Msg("le proxy {where} n'a accepté qu'une des deux connexions", where=where), observed,
                                  expected)
        (sa, ma), (sb, mb) = _allowed(a, params.expect, params.deny_pages), _blocked(b, params.blocked_marker,
                                                                                      params.deny_pages)
        if FAIL in (sa, sb):
            failed = [m for s, m in ((sa, ma), (sb, mb)) if s == FAIL]
            return Verdict.non_conforme(observed, expected, failed[0] if len(failed) == 1 else
                                        Msg("{first} {second}", first=failed[0], second=failed[1]))
        if UNKNOWN in (sa, sb):
            return Verdict.erreur(Msg("impossible de conclure : {reasons}",
                                      reasons=[m for s, m in ((sa, ma), (sb, mb)) if s == UNKNOWN]), observed, expected)
        return Verdict.conforme(observed, expected,
                                Msg("Le proxy laisse passer le site autorisé et refuse lui-même le site interdit."))
