"""Kerberos for the grader's channels: a ticket from a password, in memory, for one bind or one session.

The grading machine is not joined to the candidates' domains and must not depend on its own
Kerberos set-up: ``/etc/krb5.conf`` and the user's default credential cache are never read
nor written. For each use, :func:`kerberos_login`:

* writes a private ``krb5.conf`` naming the realm and its KDC (the rubric's options; by
  default the host itself, a DC being its own KDC), with every DNS guess turned off (no SRV
  lookup of KDCs, no reverse DNS of the service's name: the rubric's names are used as written);
* acquires the account's initial ticket with its password (``gss_acquire_cred_with_password``,
  the password resolved from a file or the environment by :mod:`grader.credentials`) and
  stores it in a ``MEMORY:`` credential cache of this process only, unique per use;
* points ``KRB5_CONFIG`` and ``KRB5CCNAME`` at them while the caller authenticates, then
  restores the environment, destroys the cache and deletes the file.

MIT Kerberos reads both variables when a library call creates its context, so they are
process-wide: one lock serialises the Kerberos handshakes of concurrent hosts (a handshake
is a few KDC and server round trips; once a security context exists, wrapping messages needs
neither variable).

Failures are worded for the jury: a password refused by the KDC, an unknown principal, a
clock skew or an unreachable KDC are :class:`~grader.errors.TransportError` (``erreur``:
the grader could not authenticate, which says nothing of the candidate's host); the channel
decides what an unreachable *host* means before it gets here.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from grader.credentials import PasswordSecret
from grader.errors import TransportError
from grader.model import Msg

_ENV_LOCK = threading.RLock()
_REALM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")
_KDC = re.compile(r"^(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9][A-Za-z0-9.-]{0,252})(:\d{1,5})?$")


def available() -> str | None:
    """None when Kerberos can be used here, else why not (in French, for the evidence)."""
    why = unavailable()
    return None if why is None else why.render()


def unavailable() -> Msg | None:
    """:func:`available` by reference (the evidence may say it in another language)."""
    try:
        import gssapi.raw  # noqa: F401
    except ImportError as exc:
        return Msg("Kerberos indisponible sur le poste du correcteur : module gssapi absent ({error}) — installez "
                   "l'extra « kerberos » (pip install 'tssr-grader[kerberos]', paquet Debian libkrb5-dev)",
                   error=str(exc))
    return None


@dataclass(frozen=True)
class KerberosLogin:
    """A live login: ``creds`` for gssapi callers, ``ccache`` (``MEMORY:...``) for libraries that read KRB5CCNAME."""

    principal: str
    realm: str
    kdc: str
    ccache: str
    creds: Any


def principal_and_realm(username: str, realm: str | None) -> tuple[str, str]:
    """``user@REALM`` of a credential's username (``user``, ``user@dns.domain`` or ``DOMAIN\\user``).

    A realm written in the options wins; else the username's suffix (upper-cased: AD realms are
    the DNS domain in capitals); else the credential cannot be used for Kerberos.
    """
    name = username.split("\\", 1)[1] if "\\" in username else username
    user, _, suffix = name.partition("@")
    chosen = (realm or suffix).upper()
    if not user or not chosen:
        raise TransportError(Msg("royaume Kerberos inconnu pour « {username} » : écrivez le compte sous la forme "
                                 "utilisateur@domaine.lan ou indiquez l'option « realm »", username=username))
    if not _REALM.match(chosen):
        raise TransportError(Msg("royaume Kerberos invalide : « {realm} »", realm=chosen))
    return f"{user}@{chosen}", chosen


def krb5_conf(realm: str, kdc: str) -> str:
    """The private configuration of one login (pure; tested as text)."""
    if not _KDC.match(kdc):
        raise TransportError(Msg("adresse de KDC invalide : « {kdc} »", kdc=kdc))
    return (
        "[libdefaults]\n"
        f"  default_realm = {realm}\n"
        "  dns_lookup_kdc = false\n"
        "  dns_lookup_realm = false\n"
        "  dns_canonicalize_hostname = false\n"
        "  rdns = false\n"
        "  forwardable = false\n"
        "  udp_preference_limit = 1\n"  # TCP, as checked by check_kdc (and no UDP retries)
        "[realms]\n"
        f"  {realm} = {{\n    kdc = {kdc}\n  }}\n"
    )


@contextlib.contextmanager
def kerberos_login(secret: PasswordSecret, *, realm: str | None, kdc: str, timeout: float = 5.0) -> Iterator[KerberosLogin]:
    """A ticket for ``secret`` from ``kdc``, usable inside the ``with`` block (see the module docstring)."""
    why = unavailable()
    if why:
        raise TransportError(why)
    import gssapi.raw as graw

    principal, realm = principal_and_realm(secret.username, realm)
    conf = krb5_conf(realm, kdc)
    check_kdc(kdc, principal, timeout)
    with private_environment(conf) as ccache:
        try:
            acquired = acquire_with_password(principal, secret.password)
            graw.store_cred_into({b"ccache": ccache.encode()}, acquired.creds, usage="initiate",
                                 mech=_kerberos_mech(), overwrite=True)
        except graw.GSSError as exc:
            raise TransportError(explain(exc, principal, kdc)) from exc
        yield KerberosLogin(principal, realm, kdc, ccache, acquired.creds)


def _kerberos_mech() -> Any:
    import gssapi

    return gssapi.MechType.kerberos


def acquire_with_password(principal: str, password: str) -> Any:
    """``gss_acquire_cred_with_password``: an AS exchange whose answer libkrb5 decrypts with the password's key.

    Raises ``gssapi.raw.GSSError`` (the KDC's refusal, or an answer that does not decrypt) as is.
    """
    import gssapi
    import gssapi.raw as graw

    name = gssapi.Name(principal, gssapi.NameType.kerberos_principal)
    return graw.acquire_cred_with_password(name, password.encode("utf-8"), usage="initiate",
                                           mechs=[gssapi.MechType.kerberos])


@contextlib.contextmanager
def private_environment(conf: str) -> Iterator[str]:
    """``KRB5_CONFIG`` on a private file holding ``conf`` and ``KRB5CCNAME`` on a fresh ``MEMORY:`` cache
    (yielded), under the process-wide lock; the environment is given back and both are destroyed after."""
    fd, conf_path = tempfile.mkstemp(prefix="grader-krb5-", suffix=".conf")
    ccache = f"MEMORY:grader-{uuid.uuid4().hex}"
    with _ENV_LOCK:
        saved = {key: os.environ.get(key) for key in ("KRB5_CONFIG", "KRB5CCNAME")}
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(conf)
            os.environ["KRB5_CONFIG"] = conf_path
            os.environ["KRB5CCNAME"] = ccache
            yield ccache
        finally:
            _destroy(ccache)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            with contextlib.suppress(OSError):
                os.unlink(conf_path)


def check_kdc(kdc: str, principal: str, timeout: float, failure: type[TransportError] = TransportError) -> None:
    """A TCP connect to the KDC first: MIT Kerberos 1.20 has no timeout setting of its own, and a
    silent KDC would cost its whole retry schedule; this bounds it by the host's connect timeout."""
    match = _KDC.match(kdc)
    if match is None:
        raise TransportError(Msg("adresse de KDC invalide : « {kdc} »", kdc=kdc))
    host, port = match.group(1).strip("[]"), int(match.group(2)[1:]) if match.group(2) else 88
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        why = Msg("délai dépassé") if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__)
        raise failure(Msg("KDC {kdc} injoignable : aucun ticket Kerberos pour {principal} "
                          "(port {port}/tcp : {why})", kdc=kdc, principal=principal, port=port,
                          why=why)) from exc


def explain(exc: Exception, principal: str, kdc: str) -> Msg:
    """A GSS/Kerberos failure in the jury's words (the library's own text kept at the end)."""
    text = " ".join(str(exc).split())
    low = text.lower()
    said = {"kdc": kdc, "principal": principal, "detail": text[:300]}
    if "preauthentication failed" in low or "password incorrect" in low or "integrity check failed" in low:
        return Msg("le KDC {kdc} refuse le mot de passe de {principal} (mot de passe erroné) — {detail}", **said)
    if "client" in low and "not found in kerberos database" in low:
        return Msg("le KDC {kdc} ne connaît pas le compte {principal} — {detail}", **said)
    if "server" in low and "not found in kerberos database" in low:
        return Msg("le KDC {kdc} ne connaît pas le service demandé (SPN) — {detail}", **said)
    if "cannot contact any kdc" in low or "cannot find kdc" in low or "unable to reach" in low:
        return Msg("KDC {kdc} injoignable : aucun ticket Kerberos pour {principal} — {detail}", **said)
    if "clock skew" in low:
        return Msg("horloges trop éloignées entre le correcteur et le KDC {kdc} — {detail}", **said)
    if "revoked" in low or "disabled" in low or "expired" in low:
        return Msg("le KDC {kdc} refuse le compte {principal} (désactivé, verrouillé ou expiré) — {detail}",
                   **said)
    return Msg("échec Kerberos pour {principal} auprès du KDC {kdc} — {detail}", **said)


def _destroy(ccache: str) -> None:
    """Destroy the memory cache (its tickets), through libkrb5: python-gssapi does not expose krb5_cc_destroy.

    Best effort: a MEMORY cache lives only in this process anyway.
    """
    import ctypes
    import ctypes.util

    with contextlib.suppress(Exception):
        lib = ctypes.CDLL(ctypes.util.find_library("krb5") or "libkrb5.so.3")
        ctx, cache = ctypes.c_void_p(), ctypes.c_void_p()
        if lib.krb5_init_context(ctypes.byref(ctx)) != 0:
            return
        try:
            if lib.krb5_cc_resolve(ctx, ccache.encode(), ctypes.byref(cache)) == 0:
                lib.krb5_cc_destroy(ctx, cache)
        finally:
            lib.krb5_free_context(ctx)
