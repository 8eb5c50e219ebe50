"""The ``tls`` channel's language: one handshake made by the grader, the certificate chain kept.

A probe's ``command`` is canonical JSON written by :func:`handshake`: ``{"port": 443,
"servername": "intranet.tssr.lan"}`` (plus ``"address"`` when the service is not at the host's
own address). The result's ``stdout`` is JSON ``{"peer", "servername", "version", "cipher",
"chain": [PEM...]}`` (the chain as the server sent it, leaf first) for the judge to verify;
``exit_code`` 0, -1 when the connection failed at once, 1 when the handshake failed, the reason in
``stderr``. How the handshake is made is :mod:`grader.transports.tls`.
"""

from __future__ import annotations

import json

from grader.model import Probe
from grader.probes.channel import ChannelSpec


def handshake(servername: str, port: int = 443, address: str | None = None, timeout: float = 5.0) -> Probe:
    """One TLS handshake with the host (or ``address``) on ``port``, SNI ``servername``."""
    spec: dict[str, object] = {"port": int(port), "servername": servername}
    if address:
        spec["address"] = address
    return Probe("tls", json.dumps(spec, sort_keys=True, separators=(",", ":")), timeout, active=True)


CHANNEL = ChannelSpec("tls", "grader.transports.tls:TlsChannel", grader_side=True)
