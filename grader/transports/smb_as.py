"""The ``smb_as`` channel: each probe's share opened in a session of its own, as the probe's user.

A share's permissions are proved by using them, as the user would: an ACL that reads well in a
configuration (``valid users``, a share ACL, NTFS rights) may still let the wrong user in or
keep the right one out (a file the server's own permissions hide, a group not applied). Each
probe registers a fresh smbprotocol session (NTLM, its own connection cache) with its
credential, lists the share's root, reads the first :data:`~grader.probes.smb_as.HEAD` bytes
of its file, and closes everything. The server's refusals are the observations (their NT status
names, see :mod:`grader.probes.smb_as`); no answer, a refused connection or no route raise
:class:`~grader.errors.Unreachable` (the server, not the user, is then in question), and every
wait is bounded by the :class:`~grader.transports.smb.Watchdog` of the smb channel.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Sequence
from typing import Any

from grader.credentials import resolve_password
from grader.errors import CredentialError, TransportError, Unreachable, said
from grader.model import Msg, Probe, ProbeResult
from grader.probes.smb_as import CHANNEL, HEAD, SmbAsOptions, validate_spec
from grader.transports.base import Channel, Collected, HostContext, probe_fields
from grader.transports.smb import SETUP_FACTOR, Watchdog, _session_failure

LIST_CAP = 20  # names of the share's root kept in the evidence

#: NT status names (MS-ERREF §2.3.1) of the refusals a share or a logon gives.
STATUS_NAMES = {
    0xC0000022: "STATUS_ACCESS_DENIED", 0xC00000CC: "STATUS_BAD_NETWORK_NAME",
    0xC000006D: "STATUS_LOGON_FAILURE", 0xC000006E: "STATUS_ACCOUNT_RESTRICTION",
    0xC000006F: "STATUS_INVALID_LOGON_HOURS", 0xC0000070: "STATUS_INVALID_WORKSTATION",
    0xC0000071: "STATUS_PASSWORD_EXPIRED", 0xC0000072: "STATUS_ACCOUNT_DISABLED",
    0xC0000193: "STATUS_ACCOUNT_EXPIRED", 0xC0000224: "STATUS_PASSWORD_MUST_CHANGE",
    0xC0000234: "STATUS_ACCOUNT_LOCKED_OUT", 0xC0000225: "STATUS_NOT_FOUND",
    0xC0000034: "STATUS_OBJECT_NAME_NOT_FOUND", 0xC000003A: "STATUS_OBJECT_PATH_NOT_FOUND",
    0xC00000BA: "STATUS_FILE_IS_A_DIRECTORY", 0xC0000043: "STATUS_SHARING_VIOLATION",
    0xC0000061: "STATUS_PRIVILEGE_NOT_HELD", 0xC000015B: "STATUS_LOGON_TYPE_NOT_GRANTED",
}


def status_of(exc: BaseException) -> int | None:
    """The NT status an smbprotocol exception carries (``ntstatus`` of file errors, ``status`` of responses)."""
    for attr in ("ntstatus", "status"):
        with contextlib.suppress(Exception):  # ``status`` reads the response header, absent on some
            value = getattr(exc, attr, None)
            if isinstance(value, int):
                return value
    return None


def status_name(exc: BaseException) -> str:
    code = status_of(exc)
    if code is None:
        return f"{type(exc).__name__}: {str(exc).strip()[:160]}"
    return STATUS_NAMES.get(code, f"0x{code:08X}")


class SmbAsChannel(Channel):
    """The ``smb_as`` channel (grader side): one session per probe, as the probe's user."""

    spec = CHANNEL

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        opts: SmbAsOptions = host.options if isinstance(host.options, SmbAsOptions) else SmbAsOptions()
        results = {p.key: self._one(host, opts, p) for p in probes}
        return Collected(results, login=Msg("une session SMB par compte testé"), execs=len(probes))

    def _one(self, host: HostContext, opts: SmbAsOptions, probe: Probe) -> ProbeResult:
        import smbclient

        common = probe_fields(probe)
        t0 = time.perf_counter()
        try:
            spec = validate_spec(json.loads(probe.command))
            ref = host.credentials.get(probe.secret or "")
            if ref is None:
                raise CredentialError(Msg("identifiants « {name} » non déclarés dans le barème", name=probe.secret))
            secret = resolve_password(ref)
        except (ValueError, CredentialError) as exc:
            return ProbeResult(**common, error=said(exc), duration=time.perf_counter() - t0)
        where = f"{host.address}:{opts.port}"
        cache: dict[str, Any] = {}
        session = {"connection_cache": cache, "port": opts.port}
        out: dict[str, Any] = {"user": secret.username, "share": spec["share"]}
        try:
            with Watchdog(cache, max(1.0, host.connect_timeout) * SETUP_FACTOR) as dog:
                try:
                    smbclient.register_session(host.address, username=secret.username, password=secret.password,
                                               port=opts.port, connection_timeout=max(1, int(host.connect_timeout)),
                                               connection_cache=cache, auth_protocol="ntlm")
                    out["session"] = {"ok": True}
                except Exception as exc:
                    if dog.expired:
                        raise Unreachable(Msg("{where} n'a pas ouvert la session SMB en {seconds:g} s (délai "
                                              "dépassé)", where=where, seconds=dog_seconds(host))) from exc
                    code = status_of(exc)
                    if code is None or code not in STATUS_NAMES:
                        raise _session_failure(where, secret.username, exc) from exc
                    out["session"] = {"ok": False, "status": STATUS_NAMES[code]}
            if out["session"]["ok"]:
                with Watchdog(cache, probe.timeout) as dog:
                    out.update(_use_share(smbclient, host.address, spec, session))
                if dog.expired:
                    return ProbeResult(**common, timed_out=True, duration=time.perf_counter() - t0)
        finally:
            with contextlib.suppress(Exception):  # closing a dead session must not hide the real outcome
                smbclient.reset_connection_cache(connection_cache=cache)
        ok = out["session"]["ok"] and out.get("list", {}).get("ok") and out.get("read", {"ok": True})["ok"]
        return ProbeResult(**common, stdout=json.dumps(out, ensure_ascii=False, sort_keys=True),
                           exit_code=0 if ok else 1, duration=time.perf_counter() - t0)


def dog_seconds(host: HostContext) -> float:
    return max(1.0, host.connect_timeout) * SETUP_FACTOR


def _use_share(smbclient: Any, server: str, spec: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
    """List the share's root, then read the file's first bytes: each step's answer, a refusal kept as its status."""
    root = f"\\\\{server}\\{spec['share']}"
    out: dict[str, Any] = {}
    try:
        names = sorted((e.name for e in smbclient.scandir(root + "\\", **session) if e.name not in (".", "..")),
                       key=str.lower)
        out["list"] = {"ok": True, "names": names[:LIST_CAP], "count": len(names)}
    except Exception as exc:  # noqa: BLE001 - sorted just below: the server's answer, or a broken session
        _refusal_or_raise(exc, spec["share"])
        out["list"] = {"ok": False, "status": status_name(exc)}
    if spec["file"]:
        path = root + "\\" + spec["file"].replace("/", "\\")
        try:
            with smbclient.open_file(path, mode="rb", share_access="r", **session) as fh:
                head = fh.read(HEAD)
            out["read"] = {"ok": True, "bytes": len(head), "base64": base64.b64encode(head).decode()}
        except Exception as exc:  # noqa: BLE001 - as for the listing
            _refusal_or_raise(exc, spec["share"])
            out["read"] = {"ok": False, "status": status_name(exc)}
    return out


def _refusal_or_raise(exc: Exception, share: str) -> None:
    """Return when ``exc`` is the server's answer (an NT status, a file error); raise when the session broke."""
    if status_of(exc) is None and not isinstance(exc, OSError):
        raise TransportError(Msg("lecture du partage {share} interrompue : {error}", share=share,
                                 error=status_name(exc))) from exc
