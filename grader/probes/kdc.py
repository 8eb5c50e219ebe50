"""The ``kdc`` channel's language: a Kerberos AS exchange for one account, with its test password.

A probe names a rubric credential (the user's name and the password the exam gave it) in
:attr:`grader.model.Probe.secret`; its ``command`` says the same, as canonical JSON, so that the
evidence shows *which* account was tried, never the password::

    {"as_req":"alice"}

The result's ``stdout`` is JSON written by the channel (:mod:`grader.transports.kdc`) and read back
with :func:`parse_output`::

    {"principal": "alice@TSSR.LAN", "kdc": "10.77.1.20", "ticket": true, "lifetime": 36000}
    {"principal": "alice@TSSR.LAN", "kdc": "10.77.1.20", "ticket": false,
     "code": "KDC_ERR_CLIENT_REVOKED", "number": 18, "detail": "Client's credentials have been revoked"}

``ticket: true`` means the KDC answered *and* its answer decrypted with the key of the test
password (that is what the client library checks before it keeps a ticket): a machine that
merely answers Kerberos on port 88 cannot produce it without the account's key. ``code`` is the
Kerberos error (RFC 4120 §7.5.9 names, ``KRB5_…`` for the client library's own) that refused it.
Exit code 0 with a ticket, 1 refused. A KDC that does not answer makes the channel raise
:class:`~grader.errors.Unreachable` (every such probe of the host is ``injoignable``).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from grader.model import Probe, ProbeResult
from grader.probes.channel import ChannelOptions, ChannelSpec


def as_exchange(credential: str, timeout: float = 15.0) -> Probe:
    """A probe: ask the host's KDC for ``credential``'s initial ticket with its password (active: one AS exchange,
    and a wrong password counts towards the account's lockout)."""
    if not credential:
        raise ValueError("un nom d'identifiants est attendu")
    command = json.dumps({"as_req": credential}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return Probe("kdc", command, timeout, active=True, secret=credential)


def parse_output(result: ProbeResult) -> dict[str, Any]:
    """The exchange's outcome; raises ValueError when the output is not the channel's."""
    data = json.loads(result.stdout)
    if not isinstance(data, dict) or not isinstance(data.get("ticket"), bool) or "principal" not in data:
        raise ValueError("sortie Kerberos illisible")
    return data


class KdcOptions(ChannelOptions):
    """``hosts[].options.kdc``: where the host's KDC is and which realm it serves."""

    kdc: str | None = None  # "host" or "host:port"; else the host itself (a DC is its own KDC)
    realm: str | None = None  # else the credential's user@domain suffix, upper-cased
    port: int = Field(default=88, ge=1, le=65535)  # when ``kdc`` names no port


CHANNEL = ChannelSpec("kdc", "grader.transports.kdc:KdcChannel", Options=KdcOptions, grader_side=True)
