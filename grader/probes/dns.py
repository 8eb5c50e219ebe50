"""The ``dns`` channel's language: one question, asked by the grader to the candidate's DNS server.

A probe's ``command`` is canonical JSON written by :func:`query`: ``{"name": "intranet.tssr.lan.",
"type": "A"}`` (one of :data:`TYPES`). The result's ``stdout`` is JSON ``{"rcode": "NOERROR",
"authoritative": true, "answers": [{"name", "type", "ttl", "value"}]}`` (values in presentation
format), ``exit_code`` the DNS rcode (0 NOERROR, 3 NXDOMAIN, 5 REFUSED...). Which server is asked
is ``hosts[].options.dns`` (:class:`DnsOptions`); how, :mod:`grader.transports.dns`.
"""

from __future__ import annotations

import json

from pydantic import Field

from grader.model import Probe
from grader.probes.channel import ChannelOptions, ChannelSpec

TYPES = ("A", "AAAA", "CNAME", "MX", "NS", "PTR", "SRV", "TXT", "SOA")


def query(name: str, rdtype: str = "A", timeout: float = 3.0) -> Probe:
    """A DNS question for the ``dns`` channel (fully qualified name, one record type)."""
    rdtype = rdtype.upper()
    if rdtype not in TYPES:
        raise ValueError(f"type d'enregistrement non pris en charge : {rdtype}")
    fqdn = name.rstrip(".") + "."
    return Probe("dns", json.dumps({"name": fqdn, "type": rdtype}, sort_keys=True, separators=(",", ":")), timeout,
                 active=False)


class DnsOptions(ChannelOptions):
    """``hosts[].options.dns`` in a rubric."""

    server: str | None = None  # ask this server instead of the host's address
    port: int = Field(default=53, ge=1, le=65535)


CHANNEL = ChannelSpec("dns", "grader.transports.dns:DnsChannel", Options=DnsOptions, grader_side=True)
