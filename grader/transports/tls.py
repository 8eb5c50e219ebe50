"""Grader-side TLS handshakes: the server shows *us* its certificate chain, which we keep as evidence.

The probe and its JSON answer (the probe language) are :mod:`grader.probes.tls`. The grader
connects from its own network position, sends the name as SNI, and completes the handshake
**without verifying anything**: verification is the judge's business (a pure function of the
stored chain, so ``rejudge`` can redo it), and a handshake that refused an unknown issuer would
leave no certificate to show the jury.

A connection that fails at once (refused, no route) is an observation: exit code -1 and the
reason in stderr; a TLS handshake that fails (no TLS on that port, a protocol alert) is exit
code 1 with the reason; no answer in time is ``timed_out`` (a filter and a dead service look
alike: we cannot tell).
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Sequence

from grader.check import is_ip_address
from grader.model import Msg, Probe, ProbeResult
from grader.probes.tls import CHANNEL
from grader.transports.base import Channel, Collected, HostContext, probe_fields


def _context() -> ssl.SSLContext:
    """Accept whatever the server offers: we record, the judge decides."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")  # an old server is still shown to the jury, not an error of ours
    except ssl.SSLError:  # pragma: no cover - an OpenSSL without security levels
        pass
    return ctx


def _chain(sock: ssl.SSLSocket) -> list[str]:
    """The chain as sent, leaf first (``get_unverified_chain``: public from Python 3.13, private before)."""
    getter = getattr(sock, "get_unverified_chain", None) or getattr(getattr(sock, "_sslobj", None), "get_unverified_chain",
                                                                    None)
    if getter is not None:
        return [ssl.DER_cert_to_PEM_cert(c) if isinstance(c, bytes) else c.public_bytes() for c in getter() or []]
    der = sock.getpeercert(binary_form=True)
    return [ssl.DER_cert_to_PEM_cert(der)] if der else []


def shake(probe: Probe, default_address: str) -> ProbeResult:
    base, t0 = probe_fields(probe), time.perf_counter()
    try:
        spec = json.loads(probe.command)
        port, servername = int(spec["port"]), str(spec["servername"])
        address = str(spec.get("address") or default_address)
    except (ValueError, KeyError, TypeError) as exc:
        return ProbeResult(**base, error=Msg("sonde TLS invalide : {error}", error=str(exc)))
    peer = f"{address}:{port}"
    try:
        raw = socket.create_connection((address, port), timeout=probe.timeout)
    except TimeoutError as exc:
        return ProbeResult(**base, stderr=Msg("{peer} : délai dépassé ({error})", peer=peer, error=str(exc)),
                           timed_out=True,
                           duration=time.perf_counter() - t0)
    except OSError as exc:
        return ProbeResult(**base, stderr=f"{peer} : {exc.strerror or exc}", exit_code=-1,
                           duration=time.perf_counter() - t0)
    try:
        sni = None if is_ip_address(servername) else servername
        with _context().wrap_socket(raw, server_hostname=sni) as tls:
            doc = {"peer": peer, "servername": servername, "version": tls.version(),
                   "cipher": (tls.cipher() or ("",))[0], "chain": _chain(tls)}
    except TimeoutError as exc:
        return ProbeResult(**base, stderr=Msg("{peer} : délai dépassé pendant la négociation TLS ({error})", peer=peer,
                                              error=str(exc)),
                           timed_out=True, duration=time.perf_counter() - t0)
    except (ssl.SSLError, OSError) as exc:
        return ProbeResult(**base, stderr=Msg("{peer} : échec de la négociation TLS : {error}", peer=peer,
                                              error=str(exc)), exit_code=1,
                           duration=time.perf_counter() - t0)
    finally:
        raw.close()
    return ProbeResult(**base, stdout=json.dumps(doc, ensure_ascii=False), exit_code=0,
                       duration=time.perf_counter() - t0)


class TlsChannel(Channel):
    """The ``tls`` channel: one handshake per distinct (address, port, name), sent by the grader itself."""

    spec = CHANNEL

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        results = {p.key: shake(p, host.address) for p in probes}
        return Collected(results, execs=len(results))
