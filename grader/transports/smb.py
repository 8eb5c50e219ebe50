"""SMB channel: files read from a host's shares (a DC's SYSVOL) in one authenticated session per host.

A GPO's settings live in files, not in the directory: ``Registry.pol`` (administrative
templates) and ``GptTmpl.inf`` (security settings) under ``SYSVOL\\<domain>\\Policies\\{GUID}``.
Windows clients read them over SMB, so the grader does too, with the same reader account as
LDAP: SYSVOL is readable by every authenticated user, by design (clients read it with their
own account). The client is smbprotocol's ``smbclient`` (pure Python, SMB 2/3, NTLM through
pyspnego, signing as the DC requires it); each collection uses its own connection cache, so
the threads grading other hosts never share or reuse this host's session.

What a probe reads and how its answer is written (the probe language) is :mod:`grader.probes.smb`.
One file is read up to :data:`FILE_CAP` bytes (past it the entry is ``truncated`` and its ``size``
is the bytes read, one past the cap).

Failures are mapped at the boundary: no answer, a refused connection or no route raise
:class:`~grader.errors.Unreachable` (``injoignable``); a server that answers but refuses the
account (logon failure, expired password) raises :class:`~grader.errors.TransportError`
(``erreur``, the reason in the evidence: the grader's configuration, not the candidate's work,
is at fault); a share the account may not open is that probe's ``error``.

smbprotocol waits for a server's answer without limit once the session is open, so a server
that stops answering would hold the host's grading (and the proctor's run) forever. A
:class:`Watchdog` closes the host's connections when a probe's ``timeout`` (or the session
set-up's) is spent: the wait ends, the probe is ``timed_out`` (``erreur``), the probes after it
say why they were not read, and what was read before stays.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Self

from grader.credentials import PasswordSecret, resolve_password
from grader.errors import TransportError, Unreachable
from grader.model import Msg, Probe, ProbeResult
from grader.probes.smb import CHANNEL, SmbOptions, validate_spec
from grader.transports.base import Channel, Collected, HostContext, option_credential, probe_fields

FILE_CAP = 1024 * 1024  # bytes of one file (a Registry.pol is a few KiB)
TOTAL_CAP = 8 * 1024 * 1024  # bytes of one probe's files, all directories together
DIR_CAP = 500  # directories one probe may match


# --- declaring reads (used by checks; pure) -----------------------------------------------------


# --- the channel ----------------------------------------------------------------------------------


class SmbChannel(Channel):
    """The ``smb`` channel: one SMB session per host, every file of the host's probes read in it."""

    spec = CHANNEL

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        import smbclient

        opts: SmbOptions = host.options if isinstance(host.options, SmbOptions) else SmbOptions()
        secret = _secret(host, opts)
        where = f"{host.address}:{opts.port}"
        cache: dict[str, Any] = {}
        session = {"connection_cache": cache, "port": opts.port}
        try:
            setup = max(1.0, host.connect_timeout) * SETUP_FACTOR
            with Watchdog(cache, setup) as dog:
                try:
                    smbclient.register_session(host.address, username=secret.username, password=secret.password,
                                               port=opts.port, encrypt=True if opts.encrypt else None,
                                               connection_timeout=max(1, int(host.connect_timeout)),
                                               connection_cache=cache, auth_protocol="ntlm")
                except Exception as exc:
                    if dog.expired:
                        raise Unreachable(Msg("{where} n'a pas ouvert la session SMB en {seconds:g} s (délai "
                                              "dépassé)", where=where, seconds=setup)) from exc
                    raise _session_failure(where, secret.username, exc) from exc
            results: dict[str, ProbeResult] = {}
            lost: str | Msg | None = None
            for probe in probes:
                if lost:
                    results[probe.key] = _failed(probe, Msg("session SMB perdue : {error}", error=lost))
                    continue
                t0 = time.perf_counter()
                with Watchdog(cache, probe.timeout) as dog:
                    try:
                        results[probe.key] = _run_read(smbclient, host.address, probe, session,
                                                       lambda: dog.expired)
                    except _Lost as exc:
                        lost = str(exc)
                        results[probe.key] = _failed(probe, Msg("session SMB perdue : {error}", error=lost))
                if dog.expired:  # the grader closed the session, whatever the read then said: out of time
                    lost = Msg("fermée par le correcteur après le délai de {seconds:g} s d'une sonde",
                               seconds=probe.timeout)
                    results[probe.key] = ProbeResult(**probe_fields(probe), timed_out=True,
                                                     duration=time.perf_counter() - t0)
            return Collected(results, login=Msg("{username} (mot de passe, SMB)", username=secret.username), execs=1,
                             complete=lost is None)
        finally:
            with contextlib.suppress(Exception):  # closing a dead session must not hide the real outcome
                smbclient.reset_connection_cache(connection_cache=cache)


def _secret(host: HostContext, opts: SmbOptions) -> PasswordSecret:
    return resolve_password(option_credential(host, opts.credential, missing=Msg(
        "aucun compte pour lire les partages de {host} : ajoutez « options: {{smb: {{credential: <nom>}}}} » "
        "à l'hôte", host=host.name)))


class _Lost(Exception):
    """The session died in the middle of the probes: the rest cannot be read."""


SETUP_FACTOR = 3  # the session set-up (negotiate, two NTLM legs) may take this many connect timeouts


class Watchdog:
    """Closes every connection of ``cache`` if the block takes more than ``seconds`` (then ``expired``).

    Closing the socket is what ends smbprotocol's unbounded wait: its receiver thread stops and
    wakes every waiting request, which then raises (see the module docstring).
    """

    def __init__(self, cache: dict[str, Any], seconds: float) -> None:
        self.cache, self.expired = cache, False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Self:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        self.expired = True
        for connection in list(self.cache.values()):
            with contextlib.suppress(Exception):  # already closed, or closing under a failing receive
                connection.transport.close()


def _session_failure(where: str, username: str, exc: Exception) -> Exception:
    """A failed connection or logon, mapped to the channel contract (French reason)."""
    from smbprotocol import exceptions as sx

    text = str(exc).strip()
    low = text.lower()
    if isinstance(exc, (sx.LogonFailure, sx.WrongPassword, sx.SMBAuthenticationError)) or "logon_failure" in low:
        return TransportError(Msg("authentification SMB refusée pour {username} sur {where} "
                                  "(identifiants invalides ou compte désactivé)", username=username, where=where))
    if isinstance(exc, (sx.PasswordExpired, sx.AccessDenied, sx.SMBResponseException)):
        # Samba answers a wrong NTLM password for a UPN with STATUS_NOT_FOUND rather than a logon failure.
        return TransportError(Msg("session SMB refusée par {where} pour {username} : authentification refusée ou "
                                  "compte non autorisé ({error})", where=where, username=username, error=text[:300]))
    if "refused" in low:
        return Unreachable(Msg("{where} refuse la connexion (pas de service SMB)", where=where))
    if isinstance(exc, (TimeoutError, socket.timeout)) or "timed out" in low or "timeout" in low:
        return Unreachable(Msg("pas de réponse de {where} (délai dépassé)", where=where))
    if "no route" in low or "unreachable" in low:
        return Unreachable(Msg("{where} injoignable (aucune route)", where=where))
    if isinstance(exc, (ValueError, OSError, sx.SMBConnectionClosed)):
        return Unreachable(Msg("{where} injoignable ({error})", where=where, error=text[:300]))
    return TransportError(Msg("session SMB impossible avec {where} ({kind}: {error})", where=where,
                              kind=type(exc).__name__, error=text[:300]))


def _failed(probe: Probe, reason: str | Msg) -> ProbeResult:
    return ProbeResult(**probe_fields(probe), error=reason)


_MISSING = (errno.ENOENT, errno.ENOTDIR)
_DENIED = (0xC0000022, 0xC0000061)  # STATUS_ACCESS_DENIED (no errno in smbclient), STATUS_PRIVILEGE_NOT_HELD


def _why(exc: Exception) -> str | Msg:
    """A file-level failure (a Msg when it has French words), with the NT status when there is one."""
    status = getattr(exc, "ntstatus", None)
    code = f" (0x{status:08X})" if isinstance(status, int) else ""
    if getattr(exc, "errno", None) == errno.EACCES or status in _DENIED:
        return Msg("accès refusé{code}", code=code)
    return f"{type(exc).__name__}{code}: {str(exc).strip()[:200]}"


def _is_missing(exc: Exception) -> bool:
    return getattr(exc, "errno", None) in _MISSING


def _lost(exc: Exception) -> bool:
    from smbprotocol import exceptions as sx

    return isinstance(exc, (sx.SMBConnectionClosed, ConnectionError, TimeoutError, socket.timeout))


def _run_read(smbclient: Any, server: str, probe: Probe, session: dict[str, Any],
              expired: Callable[[], bool] = lambda: False) -> ProbeResult:
    """One declarative read. Raises :class:`_Lost` when the session died under it.

    ``expired`` says the watchdog closed the session: nothing more is asked (smbclient would
    otherwise open a new connection, without the account, for the next file).
    """
    common = probe_fields(probe)
    t0 = time.perf_counter()
    try:
        spec = validate_spec(json.loads(probe.command))
    except ValueError as exc:
        return ProbeResult(**common, error=Msg("lecture SMB invalide : {error}", error=str(exc)))
    root = f"\\\\{server}\\{spec['share']}"
    try:
        matched, truncated = _expand(smbclient, root, [p for p in spec["dirs"].split("/") if p], session, expired)
    except _Lost:
        raise
    except Exception as exc:
        if _lost(exc):
            raise _Lost(f"{type(exc).__name__}: {exc}") from exc
        return ProbeResult(**common, error=Msg("partage {share} illisible : {error}", share=spec["share"],
                                               error=_why(exc)),
                           duration=time.perf_counter() - t0)
    budget = TOTAL_CAP
    out: list[dict[str, Any]] = []
    for rel in matched:
        files: dict[str, Any] = {}
        for name in spec["files"]:
            if expired():
                raise _Lost("délai de la sonde dépassé")
            path = root + "\\" + "\\".join([*rel, *name.split("/")])
            try:
                with smbclient.open_file(path, mode="rb", share_access="r", **session) as fh:
                    data = fh.read(min(FILE_CAP, max(budget, 0)) + 1)
            except Exception as exc:
                if _lost(exc):
                    raise _Lost(f"{type(exc).__name__}: {exc}") from exc
                files[name] = {"absent": True} if _is_missing(exc) else {"error": str(_why(exc))}
                continue
            cap = min(FILE_CAP, max(budget, 0))
            entry: dict[str, Any] = {"size": len(data), "base64": base64.b64encode(data[:cap]).decode()}
            if len(data) > cap:
                entry["truncated"] = True
                truncated = True
            budget -= min(len(data), cap)
            files[name] = entry
        out.append({"path": "/".join(rel), "files": files})
    stdout = json.dumps({"share": spec["share"], "dirs": out}, ensure_ascii=False, sort_keys=True)
    return ProbeResult(**common, stdout=stdout, exit_code=0, duration=time.perf_counter() - t0, truncated=truncated)


def _expand(smbclient: Any, root: str, parts: list[str], session: dict[str, Any],
            expired: Callable[[], bool] = lambda: False) -> tuple[list[list[str]], bool]:
    """Directories (as relative parts) matching ``parts``; ``*`` is one directory name. A missing level matches none."""
    found: list[list[str]] = [[]]
    truncated = False
    for part in parts:
        nxt: list[list[str]] = []
        for rel in found:
            if part != "*":
                nxt.append([*rel, part])
                continue
            if expired():
                raise _Lost("délai de la sonde dépassé")
            path = root + "".join("\\" + p for p in rel) + "\\"
            try:
                entries = sorted((e.name for e in smbclient.scandir(path, **session) if e.is_dir()
                                  and e.name not in (".", "..")), key=str.lower)
            except Exception as exc:
                if _is_missing(exc) and rel:
                    continue  # a literal level that does not exist: nothing under it
                raise
            nxt.extend([*rel, name] for name in entries)
        if len(nxt) > DIR_CAP:
            nxt, truncated = nxt[:DIR_CAP], True
        found = nxt
    return found, truncated
