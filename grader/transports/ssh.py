"""SSH transport: one connection and one exec per host, carrying the whole batch envelope.

Why paramiko's low-level ``Transport`` and our own socket: we set TCP_NODELAY (a measured
10x on small exchanges), enforce our own connect/auth/exec timeouts, and see the host key
before authenticating, so a changed key is refused rather than silently accepted.

Errors are mapped at the boundary: anything that means "we never got to run the batch"
raises :class:`~grader.errors.Unreachable` (connection refused/timed out, no route, SSH
handshake failure, authentication refused) or :class:`~grader.errors.HostKeyMismatch`.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import paramiko

from grader.credentials import SshSecret, resolve_password, resolve_ssh
from grader.errors import CredentialError, HostKeyMismatch, TransportError, Unreachable, said
from grader.model import Msg, Probe, ProbeResult
from grader.probes.ssh import CHANNEL
from grader.transports import envelope
from grader.transports.base import Channel, Collected, HostContext
from grader.transports.deadline import HostDeadline

_KNOWN_HOSTS_LOCK = threading.Lock()


@dataclass(frozen=True)
class SshTarget:
    address: str
    port: int = 22
    sudo: bool = False
    connect_timeout: float = 5.0
    auth_timeout: float = 10.0
    exec_timeout: float = 120.0
    #: The host's budget: what this session opens is closed when it is spent (see grader.transports.deadline).
    deadline: HostDeadline = field(default_factory=lambda: HostDeadline(3600.0), compare=False)

    def wait(self, seconds: float) -> float:
        """The longest one wait may last: ``seconds``, and never past the host's deadline (at least 0.1 s)."""
        return max(0.1, min(seconds, self.deadline.remaining()))

#: Time the exec may take beyond its probes' own budgets: starting the shell, framing, reading back.
EXEC_MARGIN = 10.0


@dataclass
class BatchAnswer:
    """What one envelope exec returned, with the facts the evidence records."""

    parsed: envelope.Parsed
    host_key: str
    exit_status: int
    stderr: str
    started: str
    duration: float
    execs: int = 1


def fingerprint(key: paramiko.PKey) -> str:
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"{key.get_name()} SHA256:{digest}"


class KnownHosts:
    """The room's pinned host keys (one file for every session of the room, pre-seeded with
    ``grader hosts trust``): a key seen first is recorded, any change is refused with both
    fingerprints. The same key on several candidates' hosts is normal (VMs cloned from one
    template) and only noted."""

    def __init__(self, path: Path | None):
        self.path = path
        self._store: paramiko.HostKeys | None = None  # parsed once per run, not once per host
        self._by_key: dict[tuple[str, str], str] = {}  # (key type, base64) -> the first name that showed it

    def _load(self) -> paramiko.HostKeys:
        if self._store is None:
            self._store = paramiko.HostKeys()
            if self.path is not None and self.path.exists():
                self._store.load(str(self.path))
        return self._store

    def check(self, host: str, port: int, key: paramiko.PKey) -> Msg | None:
        """Refuse a changed key (:class:`HostKeyMismatch`); record a new one. Returns a note for the
        evidence when another host of the room showed the same key (a cloned template), else None."""
        if self.path is None:
            return None
        name = host if port == 22 else f"[{host}]:{port}"
        with _KNOWN_HOSTS_LOCK:
            store = self._load()
            known = store.lookup(name)
            if known and key.get_name() in known:
                if known[key.get_name()] != key:
                    raise HostKeyMismatch(Msg(
                        "la clé d'hôte SSH de {name} a changé depuis la première connexion "
                        "(reçue : {received}, attendue : {expected}) ; connexion refusée",
                        name=name, received=fingerprint(key), expected=fingerprint(known[key.get_name()])))
                return self._clone_note(name, key)
            store.add(name, key.get_name(), key)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="ascii") as known_hosts:  # append: first use of this host
                known_hosts.write(f"{name} {key.get_name()} {key.get_base64()}\n")
            return self._clone_note(name, key)

    def entries(self) -> list[tuple[str, str, paramiko.PKey]]:
        """(name, key type, key) of every pinned key, in the file's order."""
        store = self._load()
        return [(name, kind, key) for name in store for kind, key in store.lookup(name).items()]

    def _clone_note(self, name: str, key: paramiko.PKey) -> Msg | None:
        if not self._by_key:
            for other, kind, pinned in self.entries():
                self._by_key.setdefault((kind, pinned.get_base64()), other)
        first = self._by_key.setdefault((key.get_name(), key.get_base64()), name)
        if first == name:
            return None
        return Msg("clé d'hôte identique à celle de {other} (machines clonées d'un même modèle : noté, accepté)",
                   other=first)


def run_batch(target: SshTarget, secret: SshSecret, probes: Sequence[Probe], known_hosts: KnownHosts, *,
              passwords: Mapping[str, str] | None = None) -> BatchAnswer:
    """Connect, authenticate, send the envelope in one exec, return the parsed answer.

    ``passwords`` (credential name -> password) are the secrets some probes name (:attr:`Probe.secret`):
    written in the script on the exec's stdin, and masked (:func:`redact`) in whatever came back
    before anything reads it, so that a host that echoes one cannot put it in the evidence.
    """
    started = datetime.now(UTC).isoformat(timespec="milliseconds")
    t0 = time.perf_counter()
    transport, key, note = open_transport(target, secret, known_hosts)
    try:
        host_key = fingerprint(key)
        env = envelope.build(probes, passwords=passwords)
        raw, err, status = _exec(transport, target, env.remote_command(sudo=target.sudo), env.script, len(probes))
        raw, err = redact(raw, passwords), redact(err.encode(), passwords).decode(errors="replace")
        parsed = envelope.parse(env, raw, started=started, cut=_cut(target) if status == _CUT else None)
        if not parsed.complete and status != 0 and not parsed.anomalies and err:
            parsed.anomalies.append(Msg("l'exécution distante a échoué (code {status}) : {error}", status=status,
                                        error=err[:300]))
        if note is not None:
            parsed.anomalies.append(note)
        return BatchAnswer(parsed, host_key, status, err, started, time.perf_counter() - t0)
    finally:
        transport.close()


@dataclass
class ScriptAnswer:
    """What one exec of a script of the grader's own returned (not an envelope: the caller reads it)."""

    stdout: bytes
    stderr: str
    exit_status: int  # -2 (cut): the exec's deadline or the host's ended the output
    host_key: str
    note: Msg | None  # another host of the room showed the same key


def run_script(target: SshTarget, secret: SshSecret, known_hosts: KnownHosts, script: str, *,
               outputs: int = 1) -> ScriptAnswer:
    """One exec of ``script`` on ``/bin/sh -s`` in an emptied environment (as the envelope's), on a host
    the grader logs in to: what a channel that goes through that host (``guest``, via a hypervisor)
    runs there. ``outputs``: how many probes' capped outputs the answer may hold (its read bound)."""
    transport, key, note = open_transport(target, secret, known_hosts)
    try:
        raw, err, status = _exec(transport, target, envelope.remote_command(sudo=target.sudo), script, outputs)
        return ScriptAnswer(raw, err, status, fingerprint(key), note)
    finally:
        transport.close()


#: What a password read back from the host is replaced with (see :func:`redact`).
MASK = b"[secret masque]"
#: Shorter passwords are not masked: a 3-letter password would be found inside ordinary output (a
#: path, a hash) and masking it there would change what the judge reads.
MIN_MASKED = 6


def redact(data: bytes, passwords: Mapping[str, str] | None) -> bytes:
    """``data`` with every password of ``passwords`` (of :data:`MIN_MASKED` characters or more) masked."""
    for password in sorted((p for p in (passwords or {}).values() if len(p) >= MIN_MASKED), key=len, reverse=True):
        data = data.replace(password.encode(), MASK)
    return data


def open_transport(target: SshTarget, secret: SshSecret, known_hosts: KnownHosts, *,
                   refused: type[TransportError] = Unreachable) -> tuple[paramiko.Transport, paramiko.PKey, Msg | None]:
    """TCP connect, SSH handshake, host key checked against ``known_hosts``, authenticated.

    The part of an SSH session the ``ssh`` channel (one exec) and the ``cli`` channel (one
    interactive session) share, so that both refuse a changed host key and map failures the
    same way: no TCP connection or no handshake is :class:`Unreachable`; an authentication
    refused raises ``refused`` (``Unreachable`` for a host's primary login; the ``cli``
    channel passes :class:`TransportError`: the device answered, we could not log in).
    Returns the authenticated transport, which the caller closes, the host's key, and a note for
    the evidence when another host of the room showed the same key (a cloned template).
    """
    transport = paramiko.Transport(_connect(target))
    target.deadline.guard(transport.close)
    try:
        try:
            transport.start_client(timeout=target.wait(target.auth_timeout))
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise Unreachable(Msg("négociation SSH impossible avec {address}:{port} ({error})",
                                  address=target.address, port=target.port, error=str(exc))) from exc
        key = transport.get_remote_server_key()
        note = known_hosts.check(target.address, target.port, key)
        _authenticate(transport, target, secret, refused)
    except BaseException:
        transport.close()
        raise
    return transport, key, note


def _connect(target: SshTarget) -> socket.socket:
    try:
        sock = socket.create_connection((target.address, target.port), timeout=target.wait(target.connect_timeout))
    except TimeoutError as exc:
        raise Unreachable(Msg("pas de réponse de {address} sur le port {port} (délai de {timeout:g} s dépassé)",
                              address=target.address, port=target.port, timeout=target.connect_timeout)) from exc
    except ConnectionRefusedError as exc:
        raise Unreachable(Msg("{address} refuse la connexion sur le port {port}", address=target.address,
                              port=target.port)) from exc
    except OSError as exc:
        if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS):  # the grader's shortage, not the host's
            raise TransportError(Msg("le correcteur manque de ressources pour ouvrir une connexion ({error})",
                                     error=str(exc.strerror or exc))) from exc
        raise Unreachable(Msg("{address} injoignable sur le port {port} ({error})", address=target.address,
                              port=target.port, error=str(exc.strerror or exc))) from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    target.deadline.guard(sock.close)
    return sock


def _authenticate(transport: paramiko.Transport, target: SshTarget, secret: SshSecret,
                  refused: type[TransportError] = Unreachable) -> None:
    transport.auth_timeout = target.wait(target.auth_timeout)  # paramiko's own default is 30 s
    try:
        if secret.pkey is not None:
            transport.auth_publickey(secret.username, secret.pkey)
        elif secret.password is not None:
            transport.auth_password(secret.username, secret.password)
        elif secret.agent:
            agent = paramiko.Agent()
            try:
                for key in agent.get_keys():
                    try:
                        transport.auth_publickey(secret.username, key)
                        break
                    except paramiko.AuthenticationException:
                        continue
            finally:
                agent.close()
        if not transport.is_authenticated():
            raise paramiko.AuthenticationException("aucune méthode acceptée")
    except paramiko.AuthenticationException as exc:
        raise refused(Msg("authentification SSH refusée pour « {username} » sur {address} ({error})",
                          username=secret.username, address=target.address, error=str(exc))) from exc
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise refused(Msg("la session SSH avec {address} a été coupée pendant l'authentification ({error})",
                          address=target.address, error=str(exc))) from exc


def _exec(transport: paramiko.Transport, target: SshTarget, command: str, script: str, n: int) -> tuple[bytes, str, int]:
    """One exec with the batch on stdin; what came back before the end, the exec's deadline or the host's.

    paramiko waits for the answer to the exec request without a limit: only the host's deadline,
    which closes the transport, ends that wait (see :mod:`grader.transports.deadline`).
    """
    # A bounded read: caps per probe plus room for frames and an rc file that prints a lot.
    limit = (n + 1) * (envelope.CAP + 4096) * 2 + 1024 * 1024
    chunks: list[bytes] = []
    try:
        channel = transport.open_session(timeout=target.wait(target.auth_timeout))
        channel.settimeout(target.wait(target.exec_timeout))
        channel.exec_command(command)
        channel.sendall(script.encode())
        channel.shutdown_write()
        size = 0
        deadline = time.monotonic() + target.wait(target.exec_timeout)
        while True:
            try:
                data = channel.recv(65536)
            except TimeoutError:  # keep what was collected: finished probes still count
                _stop(target)
                return b"".join(chunks), _partial(target), _CUT
            if not data:
                break
            chunks.append(data)
            size += len(data)
            if size > limit:
                break
            if time.monotonic() > deadline:
                _stop(target)
                channel.close()
                return b"".join(chunks), _partial(target), _CUT
        if target.deadline.expired:  # the deadline closed the session: that is why the output ended
            return b"".join(chunks), _partial(target), _CUT
        err = b""
        while channel.recv_stderr_ready():
            err += channel.recv_stderr(65536)
        # The output ended (EOF): the exit status follows at once; never wait for it unbounded.
        status = -1
        if size <= limit and channel.status_event.wait(timeout=target.wait(5)):
            status = channel.recv_exit_status()
        channel.close()
        return b"".join(chunks), err.decode(errors="replace"), status
    except (TimeoutError, paramiko.SSHException, OSError, EOFError) as exc:
        if target.deadline.expired and chunks:  # it spoke, then stalled: keep what came, the rest is cut
            return b"".join(chunks), _partial(target), _CUT
        if isinstance(exc, TimeoutError):
            raise TransportError(Msg("délai d'exécution de {timeout:g} s dépassé sur {address}",
                                     timeout=target.exec_timeout, address=target.address)) from exc
        raise TransportError(Msg("la session SSH avec {address} a été coupée pendant l'exécution ({error})",
                                 address=target.address, error=str(exc))) from exc


_CUT = -2  # the exec's status when its output was cut by a deadline (the exec's or the host's)


def _cut(target: SshTarget) -> Msg:
    """What a probe whose end never came says: which deadline cut it."""
    if target.deadline.expired:
        return target.deadline.cut()
    return Msg("sonde coupée : le lot a dépassé son délai de {seconds:g} s", seconds=target.exec_timeout)


def _stop(target: SshTarget) -> None:
    """The exec's wait ended on time: when that time was the host's, the host's deadline is spent now
    (its timer may fire a few milliseconds later), so that both say the same thing."""
    if target.deadline.remaining() < 0.5:
        target.deadline.expire()


def _partial(target: SshTarget) -> str:
    """Why the exec's output stopped before its end (the batch's stderr note)."""
    if target.deadline.expired:
        return str(target.deadline.silence()) + " : sortie partielle"
    return f"délai d'exécution de {target.exec_timeout:g} s dépassé : sortie partielle"


class SshChannel(Channel):
    """The ``ssh`` channel: the host's whole batch in one exec (see :mod:`grader.transports.envelope`)."""

    spec = CHANNEL

    def __init__(self) -> None:
        self._known: dict[Path | None, KnownHosts] = {}
        self._lock = threading.Lock()

    def _known_hosts(self, path: Path | None) -> KnownHosts:
        """One parsed known_hosts per file and per run (a channel instance lives for one run)."""
        with self._lock:
            return self._known.setdefault(path, KnownHosts(path))

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        if host.credential is None:
            raise CredentialError(Msg("aucun identifiant SSH pour l'hôte {host}", host=host.name))
        secret = resolve_ssh(host.credential)
        passwords, refused = _probe_passwords(host, probes)
        probes = [p for p in probes if p.key not in refused]
        target = SshTarget(host.address, host.port or 22, host.sudo, host.connect_timeout,
                           exec_timeout=sum(p.timeout for p in probes) + EXEC_MARGIN, deadline=host.deadline)
        answer = run_batch(target, secret, probes, self._known_hosts(host.known_hosts), passwords=passwords)
        answer.parsed.results.update(refused)
        anomalies = list(answer.parsed.anomalies)
        if not answer.parsed.complete:
            anomalies.append(Msg("l'enveloppe de sondes n'est pas allée à son terme"))
        login: str | Msg = secret.describe()
        if answer.parsed.shell:
            login = Msg("{login}, shell de connexion {shell}", login=login, shell=answer.parsed.shell)
        return Collected(dict(answer.parsed.results), login=login, host_key=answer.host_key,
                         anomalies=anomalies, execs=answer.execs, complete=answer.parsed.complete)


def _probe_passwords(host: HostContext, probes: Sequence[Probe]) -> tuple[dict[str, str], dict[str, ProbeResult]]:
    """The passwords the probes' ``secret`` name (credential name -> password), and, for a probe whose
    credential is not declared or not a readable password, its result: an error, the probe not sent."""
    passwords: dict[str, str] = {}
    failed: dict[str, Msg | str] = {}  # credential name -> why its password could not be read
    refused: dict[str, ProbeResult] = {}
    for probe in probes:
        name = probe.secret
        if name is None or name in passwords:
            continue
        if name not in failed:
            ref = host.credentials.get(name)
            try:
                if ref is None:
                    raise CredentialError(Msg("identifiants « {name} » non déclarés dans le barème", name=name))
                passwords[name] = resolve_password(ref).password
                continue
            except CredentialError as exc:
                failed[name] = said(exc)
        refused[probe.key] = ProbeResult(key=probe.key, transport=probe.transport, command=probe.command,
                                         started=datetime.now(UTC).isoformat(timespec="milliseconds"),
                                         error=failed[name])
    return passwords, refused
