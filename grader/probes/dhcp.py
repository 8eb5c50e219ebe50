"""The ``dhcp`` channel's language: one DISCOVER sent by the grader on a candidate's LAN, the OFFERs read back.

A probe's ``command`` is canonical JSON written by :func:`discover`: ``{"interface": "grd-c01-lan",
"wait": 3}``, the grader's own leg on that LAN and how long to listen. The result's ``stdout`` is JSON:
the exchange (random MAC and xid used, options requested, ``request_sent: false`` and
:data:`READ_ONLY_NOTE`) and ``offers``, every OFFER received for that xid and MAC (server, offered
address, router, DNS, domain, lease); ``exit_code`` 0 when at least one OFFER arrived, 1 otherwise. A
missing or down interface, or no raw socket, is the probe's ``error``: "could not check", never "no
server". The exchange itself is :mod:`grader.transports.dhcp`.
"""

from __future__ import annotations

import json
import re

from grader.model import Msg, Probe
from grader.probes.channel import ChannelSpec

#: What the record says of the exchange, and checks say to the jury in the report's language.
READ_ONLY_NOTE = Msg("aucune DHCPREQUEST envoyée : aucun bail pris, la configuration du candidat n'est pas modifiée")


_IFNAME = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")


def discover(interface: str, wait: float = 3.0) -> Probe:
    """A DISCOVER for the ``dhcp`` channel on the grader's ``interface``, answers collected for ``wait`` s."""
    if not _IFNAME.match(interface):
        raise ValueError(f"nom d'interface invalide : {interface!r}")
    command = json.dumps({"interface": interface, "wait": wait}, sort_keys=True, separators=(",", ":"))
    return Probe("dhcp", command, float(wait), active=True)


CHANNEL = ChannelSpec("dhcp", "grader.transports.dhcp:DhcpChannel", grader_side=True)
