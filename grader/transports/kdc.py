"""The ``kdc`` channel: one Kerberos AS exchange per probe, with the account's test password, against the host's KDC.

Whether an account *works* is not in the directory: an account may look right in LDAP and still
be refused (disabled, locked, password expired, another password than the one the exam gave).
The proof is what a Windows logon does first: an AS exchange. MIT Kerberos
(``gss_acquire_cred_with_password``, through :mod:`grader.transports.kerberos`, with its private
krb5.conf and memory cache) sends the AS-REQ, and keeps a ticket only when the AS-REP's
encrypted part decrypts with the key derived from the password: a machine that only answers on
port 88 (a fake KDC on the candidate's network) cannot forge that. The ticket is thrown away
with its memory cache at once.

The KDC's refusal is the observation, kept by its Kerberos name (RFC 4120 §7.5.9):
``KDC_ERR_CLIENT_REVOKED`` (disabled or locked), ``KDC_ERR_PREAUTH_FAILED`` (wrong password),
``KDC_ERR_C_PRINCIPAL_UNKNOWN``, ``KDC_ERR_KEY_EXPIRED``... A KDC that cannot be reached (no TCP
connection in the host's connect timeout, or the library's « Cannot contact any KDC ») raises
:class:`~grader.errors.Unreachable`; what says nothing about the account (clock skew, wrong realm,
a credential the rubric does not declare) is that probe's ``error``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from grader.credentials import resolve_password
from grader.errors import CredentialError, TransportError, Unreachable, said
from grader.model import Msg, Probe, ProbeResult
from grader.probes.kdc import CHANNEL, KdcOptions
from grader.transports import kerberos
from grader.transports.base import Channel, Collected, HostContext, probe_fields

_KRB5_BASE = -1765328384  # ERROR_TABLE_BASE_krb5: libkrb5's code for protocol error n is base + n
#: The refusals that are the account's (its state, its password), by protocol number.
ACCOUNT_REFUSALS = {
    6: "KDC_ERR_C_PRINCIPAL_UNKNOWN", 12: "KDC_ERR_POLICY", 18: "KDC_ERR_CLIENT_REVOKED",
    23: "KDC_ERR_KEY_EXPIRED", 24: "KDC_ERR_PREAUTH_FAILED",
    31: "KRB_AP_ERR_BAD_INTEGRITY",  # an AS-REP that does not decrypt with the password's key
}
_UNREACHABLE = {156: "KRB5_KDC_UNREACH"}  # Cannot contact any KDC for realm


def krb5_number(min_code: int) -> int:
    """The protocol number of a GSS minor status carrying a libkrb5 error (gssapi gives it unsigned)."""
    signed = min_code - (1 << 32) if min_code >= (1 << 31) else min_code
    return signed - _KRB5_BASE


class KdcChannel(Channel):
    """The ``kdc`` channel (grader side): the host's KDC asked for each probe's account."""

    spec = CHANNEL

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        why = kerberos.unavailable()
        if why:
            raise TransportError(why)
        opts: KdcOptions = host.options if isinstance(host.options, KdcOptions) else KdcOptions()
        kdc = opts.kdc or host.address
        if opts.kdc is None and opts.port != 88:
            kdc = f"{kdc}:{opts.port}"
        results = {p.key: self._exchange(host, opts, kdc, p) for p in probes}
        return Collected(results, login=Msg("échange AS Kerberos avec le KDC {kdc}", kdc=kdc), execs=len(probes))

    def _exchange(self, host: HostContext, opts: KdcOptions, kdc: str, probe: Probe) -> ProbeResult:
        common = probe_fields(probe)
        t0 = time.perf_counter()
        try:
            ref = host.credentials.get(probe.secret or "")
            if ref is None:
                raise CredentialError(Msg("identifiants « {name} » non déclarés dans le barème", name=probe.secret))
            secret = resolve_password(ref)
            principal, realm = kerberos.principal_and_realm(secret.username, opts.realm)
            conf = kerberos.krb5_conf(realm, kdc)
        except (CredentialError, TransportError) as exc:
            return ProbeResult(**common, error=said(exc), duration=time.perf_counter() - t0)
        kerberos.check_kdc(kdc, principal, max(1.0, host.connect_timeout), Unreachable)
        outcome = _as_exchange(conf, principal, secret.password, kdc)
        duration = time.perf_counter() - t0
        if isinstance(outcome, Msg):
            return ProbeResult(**common, error=outcome, duration=duration)
        body = {"principal": principal, "kdc": kdc, **outcome}
        return ProbeResult(**common, stdout=json.dumps(body, ensure_ascii=False, sort_keys=True),
                           exit_code=0 if outcome["ticket"] else 1, duration=duration)


def _as_exchange(conf: str, principal: str, password: str, kdc: str) -> dict[str, object] | Msg:
    """The exchange's outcome (``ticket``, or the refusal), or why it says nothing about the account (a Msg).

    Raises :class:`Unreachable` when libkrb5 could reach no KDC.
    """
    import gssapi.raw as graw

    with kerberos.private_environment(conf):
        try:
            acquired = kerberos.acquire_with_password(principal, password)
        except graw.GSSError as exc:
            number = krb5_number(int(exc.min_code or 0))
            detail = " ".join(str(exc).split("Minor", 1)[-1].split())[:300].lstrip("(0123456789): ")
            if number in ACCOUNT_REFUSALS:
                return {"ticket": False, "code": ACCOUNT_REFUSALS[number], "number": number, "detail": detail}
            if number in _UNREACHABLE:
                raise Unreachable(kerberos.explain(exc, principal, kdc)) from exc
            return kerberos.explain(exc, principal, kdc)
        return {"ticket": True, "lifetime": int(acquired.lifetime or 0)}
