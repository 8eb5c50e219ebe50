"""WinRM transport (pywinrm): one shell, one PowerShell run per host, carrying the whole batch.

The Windows counterpart of :mod:`grader.transports.ssh`. For each host::

    Create (shell, UTF-8 code page 65001)
    Command  powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand <bootstrap>
    Send     the script on stdin (see grader.transports.psenvelope)
    Receive  ... until the command is done or the run's deadline passes
    Signal   terminate
    Delete   the shell (always, even after an error: Windows caps shells per user)

pywinrm's ``Protocol`` is used directly rather than ``Session.run_ps``: ``run_ps`` opens and
closes a shell per command and puts the whole script on the command line, which is exactly
the per-check cost and the 32,767-character ceiling the envelope avoids.

Errors are mapped at the boundary, as for SSH: anything that means "we never got to run the
batch" is :class:`~grader.errors.Unreachable` (``injoignable``): port closed or filtered, no
route, TLS handshake or certificate refused, HTTP 401 (authentication refused), WinRM access
denied. Once the shell exists, a WinRM fault, a cut connection or a PowerShell that cannot
start the batch is :class:`~grader.errors.TransportError` (``erreur``), with the reason.

When the host's environment blocks the batch, the reason names the cause:

* "Access is denied" on the shell: for an account that may be local (not Kerberos, not
  ``user@domain``) the message says that UAC remote restrictions filter a *local* member of
  Administrators (``LocalAccountTokenFilterPolicy`` at 0) and that the remedy, a domain account
  or ``LocalAccountTokenFilterPolicy=1``, is the exam centre's decision, not a change to make on
  the candidate's machine during grading (still ``injoignable``, as a refused login);
* the shell refused by the GPO "Allow Remote Shell Access" (WSManFault
  ``ERROR_WSMAN_REMOTESHELLS_NOT_ALLOWED``, 0x803381AC): ``erreur``, « l'accès au shell distant est
  désactivé par stratégie (AllowRemoteShellAccess) »;
* PowerShell in ``ConstrainedLanguage`` (AppLocker/WDAC; the bootstrap's ``LANG`` frame, see
  :mod:`psenvelope`): ``erreur``, « PowerShell en mode de langage restreint ».

:func:`run_batch` also hands back the batch's stdout exactly as received and its boundary
(``WinrmAnswer.raw``, ``.boundary``): ``grader windows record`` keeps each probe's ``R`` frame
from them (:mod:`grader.windows_record`); a grading run reads only the parsed results.

The run's deadline is the probes' budgets, plus the module import budget when the batch imports
modules (:data:`psenvelope.MODULE_BUDGET`), plus :data:`STARTUP_MARGIN`.

Kerberos (``auth: kerberos``): the grader is not joined to the candidate's domain, so the ticket
comes from the account's password, in memory (:mod:`grader.transports.kerberos`: a private
krb5.conf naming ``kdc``, a ``MEMORY:`` cache, never the user's). pywinrm's Kerberos client
(pykerberos) reads that cache through ``KRB5CCNAME`` while the shell is opened; the service
principal is ``HTTP/<spn_host>`` (pywinrm's ``kerberos_hostname_override``), so the host can be
reached by address without any name resolution. The KDC refusing the password, an unknown SPN
or an unreachable KDC is ``erreur`` (the grader could not log in; the host was reached).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from grader.credentials import PasswordSecret, resolve_password
from grader.errors import CredentialError, TransportError, Unreachable
from grader.model import Msg, Probe, Text
from grader.probes.winrm import CHANNEL, WinrmOptions
from grader.transports import kerberos, psenvelope
from grader.transports.base import Channel, Collected, HostContext

if TYPE_CHECKING:
    import requests

log = logging.getLogger("grader.winrm")

STARTUP_MARGIN = 30.0  # seconds for powershell.exe to start and load its first modules
STDIN_CHUNK = 48 * 1024  # bytes of stdin per Send message (well under MaxEnvelopeSize)
REMOTE_SHELLS_NOT_ALLOWED = 0x803381AC  # ERROR_WSMAN_REMOTESHELLS_NOT_ALLOWED (GPO AllowRemoteShellAccess)


@dataclass(frozen=True)
class WinrmTarget:
    address: str
    port: int
    scheme: str = "http"
    auth: str = "ntlm"
    verify_tls: bool = True
    ca_file: str | None = None
    connect_timeout: float = 5.0
    operation_timeout: int = 20
    run_timeout: float | None = None
    kdc: str | None = None  # Kerberos: see WinrmOptions
    spn_host: str | None = None
    realm: str | None = None

    @property
    def endpoint(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{host}:{self.port}/wsman"

    @property
    def where(self) -> str:
        return f"{self.address}:{self.port}"


@dataclass
class WinrmAnswer:
    """What one batch returned, with the facts the evidence records."""

    parsed: psenvelope.PsParsed
    host_key: str
    exit_code: int | None
    stderr: str  # decoded from CLIXML
    started: str
    duration: float
    anomalies: list[str | Msg] = field(default_factory=list)
    actions: int = 0  # WS-Management requests sent (Create, Command, Send, Receive..., Signal, Delete)
    #: The batch's stdout exactly as received, and the run's boundary: what ``grader windows record``
    #: keeps (:func:`psenvelope.frames`); a grading run reads only ``parsed``.
    raw: bytes = field(default=b"", repr=False)
    boundary: str = ""


def run_batch(target: WinrmTarget, secret: PasswordSecret, probes: Sequence[Probe]) -> WinrmAnswer:
    """Open one shell, run the envelope in one command, read it back, always close the shell."""
    import requests  # imported here: the CLI starts without pywinrm's import cost
    import winrm.exceptions as wexc
    from winrm.protocol import Protocol
    from winrm.transport import HAVE_KERBEROS

    started = datetime.now(UTC).isoformat(timespec="milliseconds")
    t0 = time.perf_counter()
    anomalies: list[str | Msg] = []
    if target.auth == "kerberos" and (not HAVE_KERBEROS or kerberos.available()):
        raise TransportError(Msg("authentification Kerberos demandée mais indisponible sur le poste du correcteur "
                                 "(installez l'extra « kerberos » : pip install 'tssr-grader[kerberos]', "
                                 "paquet Debian libkrb5-dev)"))
    if target.auth == "basic" and target.scheme == "http":
        anomalies.append(Msg("authentification Basic sur HTTP : le mot de passe a circulé en clair sur le réseau"))
    if target.scheme == "https" and not target.verify_tls:
        anomalies.append(Msg("certificat TLS non vérifié (verify_tls: false) : l'identité de l'hôte n'est pas prouvée"))
    _check_port(target)
    env = psenvelope.build(probes)
    budget = sum(max(0.1, p.timeout) for p in probes)
    deadline_s = (target.run_timeout if target.run_timeout is not None
                  else budget + env.module_budget + STARTUP_MARGIN)
    ticket = contextlib.ExitStack()  # Kerberos: the in-memory login, held until the shell exists
    username = secret.username
    if target.auth == "kerberos":
        login = ticket.enter_context(kerberos.kerberos_login(secret, realm=target.realm, kdc=target.kdc or "",
                                                              timeout=target.connect_timeout))
        username = login.principal  # pykerberos looks the cache up by this exact principal
    protocol = Protocol(
        target.endpoint,
        transport=target.auth,  # type: ignore[arg-type]
        username=username,
        password=secret.password,
        kerberos_hostname_override=target.spn_host or target.address,
        server_cert_validation="validate" if target.verify_tls else "ignore",
        ca_trust_path=target.ca_file,  # type: ignore[arg-type]  # None: the system's CAs only, never $REQUESTS_CA_BUNDLE
        read_timeout_sec=target.operation_timeout + 10,
        operation_timeout_sec=target.operation_timeout,
        message_encryption="auto",  # NTLM/Kerberos over http: encrypted; over https: TLS
        proxy=None,  # never an environment proxy
    )
    counter = _Counter()
    certificate: list[bytes] = []
    shell_id = command_id = None
    phase = "connect"
    try:
        try:
            session = protocol.transport.build_session()  # NTLM over http authenticates here
            session.hooks["response"].append(_capture_certificate(certificate))
            counter.wrap(protocol)
            shell_id = protocol.open_shell(codepage=65001)
            ticket.close()  # authenticated: the process-wide Kerberos environment is given back
            phase = "run"
            command_id = protocol.run_command(shell_id, psenvelope.EXECUTABLE, env.arguments,
                                              console_mode_stdin=False, skip_cmd_shell=True)
            data = env.stdin
            for offset in range(0, len(data), STDIN_CHUNK):
                chunk = data[offset:offset + STDIN_CHUNK]
                protocol.send_command_input(shell_id, command_id, chunk, end=offset + STDIN_CHUNK >= len(data))
            stdout, stderr, exit_code, done, stop_reason = _receive(protocol, shell_id, command_id, deadline_s,
                                                                    len(probes), wexc.WinRMOperationTimeoutError)
        except requests.exceptions.SSLError as exc:
            raise Unreachable(Msg("négociation TLS impossible avec {where} : certificat refusé ou TLS "
                                  "incompatible ({error})", where=target.where, error=_reason(exc))) from exc
        except requests.exceptions.ConnectTimeout as exc:
            raise Unreachable(Msg("pas de réponse de {address} sur le port {port} (WinRM)", address=target.address,
                                  port=target.port)) from exc
        except requests.exceptions.ConnectionError as exc:
            if phase == "connect":
                raise Unreachable(Msg("connexion WinRM impossible avec {where} ({error})", where=target.where,
                                      error=_reason(exc))) from exc
            raise TransportError(Msg("la connexion WinRM avec {where} a été coupée pendant l'exécution ({error})",
                                     where=target.where, error=_reason(exc))) from exc
        except requests.exceptions.ReadTimeout as exc:
            if phase == "connect":
                raise Unreachable(Msg("le service WinRM de {where} ne répond pas (délai de lecture dépassé)",
                                      where=target.where)) from exc
            raise TransportError(Msg("le service WinRM de {where} ne répond plus pendant l'exécution "
                                     "(délai de lecture dépassé)", where=target.where)) from exc
        except wexc.InvalidCredentialsError as exc:
            raise Unreachable(Msg("authentification refusée par {where} pour « {username} » "
                                  "(WinRM, {auth}, HTTP 401) — vérifiez le compte, le mot de passe et "
                                  "que la méthode d'authentification est activée sur l'hôte",
                                  where=target.where, username=secret.username, auth=target.auth)) from exc
        except wexc.WSManFaultError as exc:
            if exc.wsman_fault_code in (5, 0x80070005) or "access is denied" in (exc.reason or "").lower():
                raise Unreachable(_access_denied(target, secret.username)) from exc
            if exc.wsman_fault_code == REMOTE_SHELLS_NOT_ALLOWED or "not accept any remote shell" in (
                    exc.reason or "").lower():
                raise TransportError(Msg("l'accès au shell distant est désactivé par stratégie "
                                         "(AllowRemoteShellAccess) sur {where} : WinRM répond mais refuse d'ouvrir "
                                         "un shell ; aucune sonde exécutée (stratégie locale ou du domaine : "
                                         "Composants Windows > Windows Remote Shell)", where=target.where)) from exc
            raise TransportError(Msg("erreur WinRM de {where} : {error} (code {code})", where=target.where,
                                     error=(exc.reason or '').strip(), code=exc.wsman_fault_code)) from exc
        except wexc.WinRMTransportError as exc:
            raise TransportError(Msg("réponse HTTP {code} inattendue du service WinRM de {where}", code=exc.code,
                                     where=target.where)) from exc
        except (wexc.WinRMError, PermissionError) as exc:
            if phase == "connect":
                raise Unreachable(Msg("authentification WinRM impossible avec {where} ({error})", where=target.where,
                                      error=_reason(exc))) from exc
            raise TransportError(Msg("erreur WinRM avec {where} : {error}", where=target.where,
                                     error=_reason(exc))) from exc
        except (Unreachable, TransportError):
            raise
        except Exception as exc:
            if type(exc).__module__.startswith("winrm.vendor.requests_kerberos"):
                raise TransportError(_kerberos_failure(target, username, exc)) from exc
            if phase == "connect" and type(exc).__module__.startswith("spnego"):
                raise Unreachable(Msg("authentification refusée par {where} pour « {username} » (NTLM : {error})",
                                      where=target.where, username=secret.username, error=_reason(exc))) from exc
            raise TransportError(Msg("échec inattendu du transport WinRM avec {where} ({kind} : {error})",
                                     where=target.where, kind=type(exc).__name__, error=_reason(exc))) from exc
    finally:
        ticket.close()
        _close(protocol, shell_id, command_id)
    parsed = psenvelope.parse(env, stdout, started=started)
    stderr_text = psenvelope.decode_clixml(stderr)
    if parsed.language is not None:
        raise TransportError(Msg("PowerShell en mode de langage restreint ({mode}) : AppLocker/WDAC bloque le lot ; "
                                 "aucune sonde exécutée sur {where} (une exception pour le compte du correcteur "
                                 "relève du centre d'examen)", mode=parsed.language, where=target.where))
    if f"{env.boundary} START".encode() not in stdout:  # the script never ran: nothing to judge
        fatal = [a for a in parsed.anomalies if "n'a pas pu démarrer" in a]
        why: str | Msg = fatal[0][:500] if fatal else stderr_text[:500] if stderr_text else (
            Msg("aucune sortie") if done else Msg("rien reçu en {seconds:g} s", seconds=deadline_s))
        raise TransportError(Msg("PowerShell n'a pas exécuté le lot de sondes sur {where} (code {code}) : {why}",
                                 where=target.where, code=exit_code, why=why))
    if stderr_text:
        anomalies.append(Msg("PowerShell a écrit sur stderr : {text}", text=stderr_text[:500]))
    if not done:
        anomalies.append(Msg("lot interrompu ({reason}) : sortie partielle", reason=stop_reason))
    host_key = ""
    if target.scheme == "https" and certificate:
        host_key = "x509 SHA256:" + hashlib.sha256(certificate[0]).hexdigest().upper()
    return WinrmAnswer(parsed, host_key, exit_code, stderr_text, started, time.perf_counter() - t0,
                       anomalies, counter.count, raw=stdout, boundary=env.boundary)


def _access_denied(target: WinrmTarget, username: str) -> Msg:
    """WinRM's "Access is denied" on the shell, in words that do not send anyone to change the candidate's VM.

    A *local* account in Administrators is refused too when UAC remote restrictions filter its
    network logon (``LocalAccountTokenFilterPolicy`` at 0, the default): its token is a standard
    user's. An account that may be local (not Kerberos, not ``user@domain``) gets that explanation
    first; a domain account gets the group memberships.
    """
    if target.auth != "kerberos" and "@" not in username:  # grader, .\grader, HOST\grader: may be local
        return Msg("accès WinRM refusé à « {username} » sur {where} : si c'est un compte *local* membre des "
                   "Administrateurs, les restrictions distantes de l'UAC filtrent sa connexion réseau "
                   "(LocalAccountTokenFilterPolicy à 0, le défaut) ; remède : un compte de domaine, ou "
                   "LocalAccountTokenFilterPolicy=1 — décision du centre d'examen, pas pendant la correction "
                   "(sinon le compte n'est ni administrateur ni membre de « Utilisateurs de gestion à distance »)",
                   username=username, where=target.where)
    return Msg("accès WinRM refusé à « {username} » sur {where} : le compte n'est ni administrateur de l'hôte ni "
               "membre de « Utilisateurs de gestion à distance » (configuration prévue par le centre d'examen)",
               username=username, where=target.where)


def _kerberos_failure(target: WinrmTarget, principal: str, exc: Exception) -> Msg:
    """pywinrm's Kerberos errors (GSS text inside) in the jury's words."""
    name = type(exc).__name__
    spn = f"HTTP/{target.spn_host or target.address}"
    if name == "MutualAuthenticationError":
        return Msg("{where} n'a pas prouvé être {spn} (authentification mutuelle Kerberos échouée) : "
                   "réponses non prises en compte", where=target.where, spn=spn)
    text = kerberos.explain(exc, principal, target.kdc or "?")
    if "not found in kerberos database" in str(exc).lower():
        text = Msg("le KDC {kdc} ne connaît pas le service {spn} (SPN absent ou mal écrit dans spn_host) — {error}",
                   kdc=target.kdc, spn=spn, error=str(exc))
    return Msg("authentification Kerberos impossible avec {where} : {text}", where=target.where, text=text)


def _check_port(target: WinrmTarget) -> None:
    """A plain TCP connect first: refused / filtered / no route get the same words as for SSH."""
    try:
        sock = socket.create_connection((target.address, target.port), timeout=target.connect_timeout)
    except TimeoutError as exc:
        raise Unreachable(Msg("pas de réponse de {address} sur le port {port} (délai de {timeout:g} s dépassé)",
                              address=target.address, port=target.port, timeout=target.connect_timeout)) from exc
    except ConnectionRefusedError as exc:
        raise Unreachable(Msg("{address} refuse la connexion sur le port {port} (WinRM)", address=target.address,
                              port=target.port)) from exc
    except OSError as exc:
        raise Unreachable(Msg("{address} injoignable sur le port {port} ({error})", address=target.address,
                              port=target.port, error=str(exc.strerror or exc))) from exc
    sock.close()


def _receive(protocol: Any, shell_id: str, command_id: str, deadline_s: float, n: int,
             timeout_error: type[Exception]) -> tuple[bytes, bytes, int | None, bool, str | Msg]:
    """Receive until the command is done, the deadline passes or too much came back (then why it stopped)."""
    limit = (n + 1) * (psenvelope.CAP * 4 + 4096) + 1024 * 1024
    deadline = time.monotonic() + deadline_s
    out: list[bytes] = []
    err: list[bytes] = []
    size = 0
    while time.monotonic() < deadline and size <= limit:
        try:
            stdout, stderr, code, done = protocol.get_command_output_raw(shell_id, command_id)
        except timeout_error:  # the server's OperationTimeout with nothing to say: ask again
            continue
        out.append(stdout)
        err.append(stderr)
        size += len(stdout) + len(stderr)
        if done:
            return b"".join(out), b"".join(err), code, True, ""
    why = (Msg("délai de {seconds:g} s dépassé", seconds=deadline_s) if size <= limit
           else Msg("plus de {kib} Kio de sortie", kib=limit // 1024))
    return b"".join(out), b"".join(err), None, False, why


def _close(protocol: Any, shell_id: str | None, command_id: str | None) -> None:
    """Best effort: terminate the command and delete the shell, then drop the HTTP session.

    Cleanup never hides the batch's own outcome; a failure here is only logged (a shell left
    behind expires on the host after its idle timeout).
    """
    steps = []
    if shell_id and command_id:
        steps.append(("Signal", lambda: protocol.cleanup_command(shell_id, command_id)))
    if shell_id:
        steps.append(("Delete", lambda: protocol.close_shell(shell_id, close_session=False)))
    steps.append(("close", protocol.transport.close_session))
    for what, step in steps:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - see the docstring
            log.debug("WinRM cleanup %s failed: %r", what, exc)


class _Counter:
    """Counts WS-Management requests (the evidence says how many round trips a host cost)."""

    def __init__(self) -> None:
        self.count = 0

    def wrap(self, protocol: Any) -> None:
        send = protocol.send_message

        def counted(message: str) -> bytes:
            self.count += 1
            return send(message)

        protocol.send_message = counted


def _capture_certificate(holder: list[bytes]) -> Any:
    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        if not holder:
            sock = _peer_socket(response)
            if sock is not None and hasattr(sock, "getpeercert"):
                try:
                    der = sock.getpeercert(binary_form=True)
                except (OSError, ValueError):
                    der = None
                if der:
                    holder.append(der)
        return response

    return hook


def _peer_socket(response: requests.Response) -> Any:
    raw = response.raw
    for path in (("connection", "sock"), ("_connection", "sock"), ("_fp", "fp", "raw", "_sock")):
        node: Any = raw
        for attr in path:
            node = getattr(node, attr, None)
            if node is None:
                break
        if node is not None:
            return node
    return None


def _reason(exc: BaseException) -> str:
    """The innermost readable cause (urllib3 wraps a refused connection three times)."""
    seen = exc
    while True:
        inner = seen.__cause__ or seen.__context__ or (seen.args[0] if seen.args and isinstance(seen.args[0],
                                                                                                 BaseException) else None)
        reason = getattr(seen, "reason", None)
        if isinstance(reason, BaseException):
            inner = reason
        if inner is None or inner is seen:
            break
        seen = inner
    text = str(seen) or type(seen).__name__
    return text[:300]


class WinrmChannel(Channel):
    """The ``winrm`` channel: a Windows host's whole batch in one PowerShell run (see :mod:`psenvelope`)."""

    spec = CHANNEL

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        options: WinrmOptions = host.options if isinstance(host.options, WinrmOptions) else WinrmOptions()
        ref = host.credentials.get(options.credential) if options.credential else host.credential
        if ref is None:
            raise CredentialError(Msg("aucun identifiant WinRM pour l'hôte {host}", host=host.name))
        secret = resolve_password(ref)
        port = host.port or options.port or (5986 if options.scheme == "https" else 5985)
        target = WinrmTarget(host.address, port, options.scheme, options.auth, options.verify_tls, options.ca_file,
                             host.connect_timeout, options.operation_timeout, options.run_timeout,
                             options.kdc, options.spn_host, options.realm)
        answer = run_batch(target, secret, probes)
        anomalies = list(answer.anomalies) + list(answer.parsed.anomalies)
        if not answer.parsed.complete:
            anomalies.append(Msg("le lot PowerShell n'est pas allé à son terme"))
        login: Text = secret.describe()
        if options.auth == "kerberos":
            principal, _ = kerberos.principal_and_realm(secret.username, options.realm)
            login = f"{principal} (Kerberos, KDC {options.kdc}, SPN HTTP/{options.spn_host or host.address})"
        if answer.parsed.imports:
            modules = ", ".join(dict.fromkeys(m.name for _, imports in answer.parsed.imports for m in imports))
            login = Msg("{login}, modules PowerShell {modules} importés en {seconds:g} s", login=login,
                        modules=modules, seconds=round(answer.parsed.import_seconds, 1))
        return Collected(dict(answer.parsed.results), login=login, host_key=answer.host_key, anomalies=anomalies,
                         execs=1, complete=answer.parsed.complete)
