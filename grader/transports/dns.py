"""Grader-side DNS queries: the candidate's DNS server answers *us* (dnspython, no system resolver).

The question and its JSON answer (the probe language) are :mod:`grader.probes.dns`. The question
goes to the host's address (or ``options.dns.server``), UDP first and TCP when the answer is
truncated, with recursion desired as a client would ask. No answer in time is ``timed_out`` (over
UDP a closed port, a filter and a dead server look alike: we cannot tell); a local socket error
(no route) is an observation with exit code -1 and the reason in stderr.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from grader.model import Msg, Probe, ProbeResult
from grader.probes.dns import CHANNEL, DnsOptions
from grader.transports.base import Channel, Collected, HostContext, probe_fields


class DnsChannel(Channel):
    """The ``dns`` channel: one query per distinct question, sent by the grader to the host's DNS server."""

    spec = CHANNEL

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        opts: DnsOptions = host.options if isinstance(host.options, DnsOptions) else DnsOptions()
        server = opts.server or host.address
        results = {p.key: ask(p, server, opts.port) for p in probes}
        return Collected(results, execs=len(results))


def ask(probe: Probe, server: str, port: int = 53) -> ProbeResult:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype

    base, t0 = probe_fields(probe), time.perf_counter()
    try:
        spec = json.loads(probe.command)
        request = dns.message.make_query(spec["name"], dns.rdatatype.from_text(spec["type"]))
    except (ValueError, KeyError, TypeError, dns.exception.DNSException) as exc:
        return ProbeResult(**base, error=Msg("question DNS invalide : {error}", error=str(exc)))
    try:
        answer = dns.query.udp(request, server, timeout=probe.timeout, port=port)
        if answer.flags & dns.flags.TC:
            answer = dns.query.tcp(request, server, timeout=probe.timeout, port=port)
    except (dns.exception.Timeout, TimeoutError) as exc:
        return ProbeResult(**base, stderr=Msg("délai dépassé : {error}", error=str(exc)),
                           duration=time.perf_counter() - t0, timed_out=True)
    except (OSError, dns.exception.DNSException) as exc:
        return ProbeResult(**base, stderr=f"{type(exc).__name__}: {exc}", exit_code=-1,
                           duration=time.perf_counter() - t0)
    records = [{"name": rrset.name.to_text(), "type": dns.rdatatype.to_text(rrset.rdtype), "ttl": rrset.ttl,
                "value": rdata.to_text()} for rrset in answer.answer for rdata in rrset]
    rcode = answer.rcode()
    out = {"rcode": dns.rcode.to_text(rcode), "authoritative": bool(answer.flags & dns.flags.AA), "answers": records}
    return ProbeResult(**base, stdout=json.dumps(out, ensure_ascii=False, sort_keys=True), exit_code=int(rcode),
                       duration=time.perf_counter() - t0)
