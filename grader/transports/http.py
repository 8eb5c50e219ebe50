"""Grader-side HTTP probes: the site answers *us*, which proves more than "apache2 is active".

The request goes from the grader's own network position, with no proxy from the
environment, a timeout, and a capped body. A redirect is an answer: followed only as
``options.http.redirects`` allows, each hop written in the evidence, and never to the
grader machine's own loopback or link-local addresses (a candidate's server must not make
the grader fetch its own pages). A refused or reset connection is an observation
(exit code -1, the error in stderr) that the judge may call non conforme; a timeout is
``timed_out`` (we cannot tell whether a filter or our own network dropped it).
"""

from __future__ import annotations

import codecs
import contextlib
import ipaddress
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from grader.model import Msg, Probe, ProbeResult
from grader.probes.http import CHANNEL, HttpOptions
from grader.transports.base import Channel, Collected, HostContext, probe_fields
from grader.transports.envelope import CAP


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib follows redirects silently; here a redirect is an answer, followed (or not) by :func:`run` itself."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def run(probe: Probe, options: HttpOptions | None = None) -> ProbeResult:
    """The probe's URL, and the redirects ``options`` allow; each redirect followed is a line of the evidence."""
    options = options or HttpOptions()
    base, t0 = probe_fields(probe), time.perf_counter()
    url, chain = probe.command, list[str | Msg]()
    for _ in range(options.max_redirects + 1):
        got = _fetch(url, probe.timeout - (time.perf_counter() - t0))
        if isinstance(got, dict):
            return ProbeResult(**base, **got, duration=time.perf_counter() - t0)
        status, reason, headers, body = got
        location = headers.get("Location") if 300 <= status < 400 else None
        if not location or options.redirects == "none":
            break
        target = urllib.parse.urljoin(url, location)
        refused = _refused(url, target, options.redirects)
        if refused is not None:
            chain.append(refused)
            break
        chain.append(f"↪ {status} {url} → {target}\n")
        url = target
    stderr: str | Msg = f"HTTP {status} {reason}\n" + "".join(f"{k}: {v}\n" for k, v in headers.items())
    for line in chain:  # the evidence, line by line: a refused redirect says why in the report's language
        stderr = Msg("{previous}{line}", previous=stderr, line=line) if isinstance(line, Msg) else stderr + line
    return ProbeResult(**base, stdout=_decode(body[:CAP], headers.get_content_charset()), stderr=stderr,
                       exit_code=status, duration=time.perf_counter() - t0, truncated=len(body) > CAP)


def _fetch(url: str, timeout: float) -> tuple[int, str, Any, bytes] | dict[str, Any]:
    """(status, reason, headers, body) of one request, or the fields of a result that has no answer."""
    request = urllib.request.Request(url, headers={"User-Agent": "grader (TSSR)"})
    try:
        with _OPENER.open(request, timeout=max(0.1, timeout)) as response:
            return response.status, response.reason, response.headers, response.read(CAP + 1)
    except urllib.error.HTTPError as exc:  # an HTTP answer, just not 2xx: an observation
        return exc.code, exc.reason, exc.headers, exc.read(CAP + 1)
    except TimeoutError as exc:
        return {"stderr": Msg("délai dépassé : {error}", error=str(exc)), "exit_code": None, "timed_out": True}
    except (urllib.error.URLError, OSError, ValueError) as exc:
        cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(cause, (socket.timeout, TimeoutError)):
            return {"stderr": Msg("délai dépassé : {error}", error=str(cause)), "timed_out": True}
        return {"stderr": f"{type(cause).__name__}: {cause}", "exit_code": -1}


def _refused(origin: str, target: str, policy: str) -> Msg | None:
    """Why a redirect is not followed, or None.

    Never to the grader machine itself (its loopback, link-local addresses), unless that is the very
    machine the rubric's URL named (a lab on loopback): a candidate's server must not make the grader
    fetch its own pages (``grader serve``), nor reach into the grader's network position elsewhere.
    """
    parsed, source = urllib.parse.urlsplit(target), urllib.parse.urlsplit(origin)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return Msg("↪ redirection non suivie vers {target} : adresse non HTTP\n", target=target)
    if policy == "same_host" and parsed.hostname.lower() != (source.hostname or "").lower():
        return Msg("↪ redirection non suivie vers {target} : autre hôte que {host}\n", target=target,
                   host=source.hostname or "")
    try:
        addresses = _addresses(parsed.hostname, parsed.port)
    except OSError:
        return Msg("↪ redirection non suivie vers {target} : nom introuvable\n", target=target)
    with contextlib.suppress(OSError):
        if addresses <= _addresses(source.hostname or "", source.port):
            return None  # the machine the rubric itself named (a lab on loopback)
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast:
            return Msg("↪ redirection non suivie vers {target} : adresse de la machine du correcteur\n",
                       target=target)
    return None


def _addresses(hostname: str, port: int | None) -> set[str]:
    return {str(info[4][0]) for info in socket.getaddrinfo(hostname, port or 80)}


def _decode(body: bytes, charset: str | None) -> str:
    """The page as text: its charset when Python knows it, UTF-8 otherwise (that page only; bytes never fail)."""
    try:
        codecs.lookup(charset or "utf-8")
    except LookupError:
        charset = "utf-8"
    return body.decode(charset or "utf-8", errors="replace")


class HttpChannel(Channel):
    """The ``http`` channel: requests sent by the grader itself, concurrently, one per distinct URL."""

    spec = CHANNEL

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        options = host.options if isinstance(host.options, HttpOptions) else HttpOptions()
        if len(probes) <= 1:
            results = [run(p, options) for p in probes]
        else:
            with ThreadPoolExecutor(max_workers=min(8, len(probes)), thread_name_prefix="grader-http") as pool:
                results = list(pool.map(lambda p: run(p, options), probes))
        return Collected({r.key: r for r in results}, execs=len(results))
