"""The ``sip`` channel's language: one SIP OPTIONS sent by the grader to the candidate's IPBX.

A probe's ``command`` is canonical JSON written by :func:`options`: ``{"port": 5060,
"transport": "udp"}`` (plus ``"address"`` when the IPBX is not at the host's own address). The
result's ``stdout`` is JSON: what was sent (``request``: the request line, ``call_id``, ``branch``,
``from_tag``, ``cseq``, ``local``: our address and port, ``sent_at``) and what came back for *that*
transaction (``status``, ``reason``, ``server``, ``user_agent``, ``allow``, ``rtt_ms``, ``provisional``:
the 1xx seen first), with ``ignored``: messages that arrived but did not answer our request (another
Call-ID, branch or CSeq: a stale or forged answer proves nothing). ``exit_code`` is 0 when a final
answer arrived (whatever its code: the judge reads ``status``), -1 when the connection or the
datagram was refused at once (ICMP port unreachable, TCP reset: nothing listens), and the result
``timed_out`` when no answer to our transaction came in time (a filter and a dead service look alike).
The exchange itself is :mod:`grader.transports.sip`.
"""

from __future__ import annotations

import json
from typing import Literal

from grader.model import Probe
from grader.probes.channel import ChannelSpec

Transport = Literal["udp", "tcp"]


def options(port: int = 5060, transport: Transport = "udp", address: str | None = None, timeout: float = 3.0) -> Probe:
    """One OPTIONS request to the host (or ``address``) on ``port`` over ``transport`` (an active probe)."""
    if transport not in ("udp", "tcp"):
        raise ValueError(f"transport SIP non pris en charge : {transport!r}")
    spec: dict[str, object] = {"port": int(port), "transport": transport}
    if address:
        spec["address"] = address
    return Probe("sip", json.dumps(spec, sort_keys=True, separators=(",", ":")), timeout, active=True)


CHANNEL = ChannelSpec("sip", "grader.transports.sip:SipChannel", grader_side=True)
