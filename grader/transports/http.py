"""Grader-side HTTP probes: the site answers *us*, which proves more than "apache2 is active".

The request goes from the grader's own network position, with no proxy from the
environment, a timeout, and a capped body. A refused or reset connection is an observation
(exit code -1, the error in stderr) that the judge may call non conforme; a timeout is
``timed_out`` (we cannot tell whether a filter or our own network dropped it).
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from grader.model import Msg, Probe, ProbeResult
from grader.probes.http import CHANNEL
from grader.transports.base import Channel, Collected, HostContext, probe_fields
from grader.transports.envelope import CAP

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def run(probe: Probe) -> ProbeResult:
    base, t0 = probe_fields(probe), time.perf_counter()
    request = urllib.request.Request(probe.command, headers={"User-Agent": "grader (TSSR)"})
    try:
        with _OPENER.open(request, timeout=probe.timeout) as response:
            status, headers, body = response.status, response.headers, response.read(CAP + 1)
            reason = response.reason
    except urllib.error.HTTPError as exc:  # an HTTP answer, just not 2xx: an observation
        status, headers, body, reason = exc.code, exc.headers, exc.read(CAP + 1), exc.reason
    except TimeoutError as exc:
        return ProbeResult(**base, stderr=Msg("délai dépassé : {error}", error=str(exc)), exit_code=None,
                           duration=time.perf_counter() - t0, timed_out=True)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(cause, (socket.timeout, TimeoutError)):
            return ProbeResult(**base, stderr=Msg("délai dépassé : {error}", error=str(cause)),
                               duration=time.perf_counter() - t0,
                               timed_out=True)
        return ProbeResult(**base, stderr=f"{type(cause).__name__}: {cause}", exit_code=-1,
                           duration=time.perf_counter() - t0)
    head = f"HTTP {status} {reason}\n" + "".join(f"{k}: {v}\n" for k, v in headers.items())
    charset = headers.get_content_charset() or "utf-8"
    return ProbeResult(**base, stdout=body[:CAP].decode(charset, errors="replace"), stderr=head, exit_code=status,
                       duration=time.perf_counter() - t0, truncated=len(body) > CAP)


class HttpChannel(Channel):
    """The ``http`` channel: requests sent by the grader itself, concurrently, one per distinct URL."""

    spec = CHANNEL

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        if len(probes) <= 1:
            results = [run(p) for p in probes]
        else:
            with ThreadPoolExecutor(max_workers=min(8, len(probes)), thread_name_prefix="grader-http") as pool:
                results = list(pool.map(run, probes))
        return Collected({r.key: r for r in results}, execs=len(results))
