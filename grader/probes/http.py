"""The ``http`` channel's language: a URL the grader fetches itself, from its own network position.

A probe's command is the URL. The result's ``exit_code`` is the HTTP status (-1 when no answer came:
refused, reset, TLS failure; the error in ``stderr``), ``stderr`` the status line and the headers
(``HTTP 200 OK\\nServer: …``), then one line per redirect followed (``↪ 302 http://a/ → http://b/``),
``stdout`` the body, decoded and capped (in UTF-8 when the page names a charset nobody knows).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from grader.model import Probe
from grader.probes.channel import ChannelOptions, ChannelSpec


class HttpOptions(ChannelOptions):
    """``hosts[].options.http`` in a rubric: which redirects the grader follows.

    ``none`` (default): the answer is the site's own, a redirect is what is observed (its target in
    the evidence); ``same_host``: redirects to the same host name are followed; ``any``: every
    redirect is followed, except to the grader machine's own loopback or link-local addresses.
    """

    redirects: Literal["none", "same_host", "any"] = "none"
    max_redirects: int = Field(default=5, ge=1, le=20)


CHANNEL = ChannelSpec("http", "grader.transports.http:HttpChannel", Options=HttpOptions, grader_side=True)


def http(url: str, timeout: float = 5.0) -> Probe:
    """A request the grader sends itself: functional proof from the grader's position."""
    return Probe("http", url, timeout, active=True)
