"""The ``http`` channel's language: a URL the grader fetches itself, from its own network position.

A probe's command is the URL. The result's ``exit_code`` is the HTTP status (-1 when no answer came:
refused, reset, TLS failure; the error in ``stderr``), ``stderr`` the status line and the headers
(``HTTP 200 OK\\nServer: …``), ``stdout`` the body, decoded and capped.
"""

from __future__ import annotations

from grader.model import Probe
from grader.probes.channel import ChannelSpec

CHANNEL = ChannelSpec("http", "grader.transports.http:HttpChannel", grader_side=True)


def http(url: str, timeout: float = 5.0) -> Probe:
    """A request the grader sends itself: functional proof from the grader's position."""
    return Probe("http", url, timeout, active=True)
