"""Before the run: what would fail, learned in seconds (``grader preflight``, ``grader run --dry-run``).

For every (candidate, host) the run would contact, it shows the rendered address and primary port,
resolves each credential the host's channels would log in with, and makes one TCP connection to the
primary port. A room of 30 candidates learns « clé illisible » or « port fermé » once, before the run,
instead of 30 × 14 errors afterwards.

Read-only and quick: the jobs are planned by :func:`grader.runner.plan` (the same addresses and
per-candidate credential references as the run), the secrets are resolved by
:mod:`grader.credentials` (the same functions, so the same checks: file present and 0600, variable
set, key loads), and each distinct address and port gets exactly one TCP connect with a short
timeout, all of them at once. Nothing authenticates, nothing is written.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from typing import Any

from grader.credentials import resolve_password, resolve_ssh
from grader.errors import CredentialError, said
from grader.i18n import get_lang, t
from grader.i18n_checks import say
from grader.runner import HostJob, _DaemonPool

#: Seconds one TCP connect may take (or the host's ``connect_timeout``, when shorter).
CONNECT_TIMEOUT = 3.0
#: Channels whose login is an SSH one (a key, a password or the agent); the others take a password.
SSH_LOGINS = frozenset({"ssh", "cli"})
#: Channels whose primary port is not TCP: no connect is tried.
UDP_CHANNELS = frozenset({"snmp"})

# The templates of grader.credentials' errors, and the state each one is shown as.
_ABSENT = "{what} introuvable : {path}"
_OPEN_MODE = ("{what} {path} est lisible par d'autres comptes (mode {mode:04o}) : faites « chmod 600 {path} »")
_BAD_KEY = "la clé privée {path} est illisible ({error})"
_NO_VARIABLE = "la variable d'environnement {name} n'est pas définie"


@dataclass
class Line:
    """One (candidate, host): where the run would connect, with what, and what would fail."""

    candidate: str
    host: str
    address: str
    port: int | None
    credentials: list[str] = field(default_factory=list)  # labels: the rubric's names, never a secret
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def primary_port(job: HostJob) -> int | None:
    """The TCP port the host's primary channel would connect to, as that channel chooses it (None: not TCP)."""
    from grader.plugins import default_channel_specs

    name, port = job.host.transport, job.host.port
    spec = default_channel_specs().get(name)
    opts: Any = spec.Options.model_validate(job.channel_options(name)) if spec is not None else None
    if name in UDP_CHANNELS:
        return None
    if name == "ssh":
        return port or 22
    if name == "cli":
        return port or opts.port or 22
    if name == "winrm":
        return port or opts.port or (5986 if opts.scheme == "https" else 5985)
    if name == "ldap":
        return opts.port or port or (636 if opts.tls == "ldaps" else 389)
    if name == "smb":
        return int(opts.port)
    return port or getattr(opts, "port", None)


def needed_credentials(job: HostJob) -> list[tuple[str, Any, str]]:
    """(name, reference or None, "ssh"|"password") for every login the host's channels would make.

    As the channels choose them: a channel's ``options.<channel>.credential`` or else the host's
    credential, plus the other ``*_credential`` options (``enable_credential``, ``priv_credential``...),
    all passwords. Grader-side channels (http, dns...) log in nowhere.
    """
    from grader.plugins import default_channel_specs

    specs = default_channel_specs()
    primary = job.host.transport
    carried = set(specs[primary].carries) if primary in specs else set()  # run by the primary (guest: ssh)
    names = [primary] + sorted({p.transport for p in job.unique_probes()} - {primary} - carried)
    needs: list[tuple[str, Any, str]] = []
    for name in names:
        spec = specs.get(name)
        if spec is None or spec.grader_side:
            continue
        opts = spec.Options.model_validate(job.channel_options(name))
        values = opts.model_dump()
        own = values.get("credential")
        community = name == "snmp" and values.get("version") == "v2c" and values.get("community_credential")
        if not community:
            if own:
                needs.append((own, job.credentials.get(own), "ssh" if name in SSH_LOGINS else "password"))
            elif job.credential is not None or spec.needs_credential:
                needs.append((job.host.credential or "—", job.credential,
                              "ssh" if name in SSH_LOGINS else "password"))
        for key, value in sorted(values.items()):
            if key != "credential" and key.endswith("_credential") and value:
                needs.append((value, job.credentials.get(value), "password"))
    unique: dict[tuple[str, str], tuple[str, Any, str]] = {}
    for need in needs:
        unique.setdefault((need[0], need[2]), need)
    return list(unique.values())


def credential_problem(ref: Any, kind: str) -> str | None:
    """Why this credential would fail the run (in the proctor's words), or None: resolved as the run does."""
    try:
        if kind == "ssh":
            resolve_ssh(ref)
        else:
            resolve_password(ref)
    except CredentialError as exc:
        message = exc.args[0] if exc.args else None
        template, args = getattr(message, "id", ""), getattr(message, "args", {})
        if template == _ABSENT:
            return t("pre.state.absent", path=args["path"])
        if template == _OPEN_MODE:
            return t("pre.state.mode", mode=f"{args['mode']:04o}", path=args["path"])
        if template == _BAD_KEY:
            return t("pre.state.bad_key", path=args["path"])
        if template == _NO_VARIABLE:
            return t("pre.state.no_variable", name=args["name"])
        reason = said(exc)
        return say(reason, str(reason), get_lang())
    except OSError as exc:  # a password file that is a directory, unreadable by this account...
        return t("pre.state.unreadable", path=getattr(exc, "filename", None) or "?", error=exc.strerror or exc)
    return None


def connect_problem(address: str, port: int, timeout: float) -> str | None:
    """One TCP connect, closed at once: None when it opened, else why not."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return None
    except TimeoutError:
        return t("pre.state.timeout", seconds=timeout)
    except ConnectionRefusedError:
        return t("pre.state.closed")
    except OSError as exc:
        return t("pre.state.unreachable", error=exc.strerror or exc)


def ssh_banner_problem(address: str, port: int, timeout: float) -> str | None:
    """One TCP connect and the server's first line, read within ``timeout``: None when it is an SSH banner.

    An SSH server speaks first (RFC 4253 §4.2: ``SSH-2.0-…``). A port that accepts and stays silent,
    or answers something else, is a firewall, a proxy that accepts every connection, or another
    service: the run would fail there, so preflight says it now. Nothing is sent.
    """
    deadline, first, connected = time.monotonic() + timeout, b"", False
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            connected = True
            while _version_line(first) is None and len(first) < 1024:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)
                chunk = sock.recv(256)
                if not chunk:
                    break
                first += chunk
    except TimeoutError:
        if not connected:
            return t("pre.state.timeout", seconds=timeout)
        if not first:
            return t("pre.state.no_banner", seconds=timeout)
    except ConnectionRefusedError:
        return t("pre.state.closed")
    except OSError as exc:
        return t("pre.state.unreachable", error=exc.strerror or exc)
    if _version_line(first) is not None:
        return None
    return t("pre.state.not_ssh", answer=first.split(b"\n", 1)[0].decode("ascii", "replace").strip()[:60] or "—")


def _version_line(received: bytes) -> bytes | None:
    """The server's ``SSH-…`` line among the complete lines received (a server may send others first)."""
    return next((line for line in received.split(b"\n")[:-1] if line.startswith(b"SSH-")), None)


def check_room(jobs: Iterable[HostJob], *, timeout: float = CONNECT_TIMEOUT, workers: int = 32,
               connect: Callable[[str, int, float], str | None] = connect_problem,
               banner: Callable[[str, int, float], str | None] = ssh_banner_problem) -> list[Line]:
    """A :class:`Line` per job, sorted by candidate and host; every distinct address:port connected to once.

    An SSH host's port must also greet with an SSH banner (:func:`ssh_banner_problem`); other ports
    need only accept the connection.
    """
    jobs = list(jobs)
    lines: list[Line] = []
    resolved: dict[tuple[str, str], str | None] = {}
    targets: dict[tuple[str, int], float] = {}
    speaks_ssh: set[tuple[str, int]] = set()
    for job in jobs:
        line = Line(job.candidate.id, job.host.name, job.address, None)
        lines.append(line)
        if job.planning_problem is not None:  # the run would not contact it either
            line.problems.append(say(job.planning_problem, str(job.planning_problem), get_lang()))
            continue
        for name, ref, kind in needed_credentials(job):
            line.credentials.append(name)
            if ref is None:
                line.problems.append(t("pre.state.no_credential", name=name))
                continue
            key = (kind, repr(tuple(getattr(ref, f, None) for f in ("username", "key_file", "password_env",
                                                                      "password_file", "agent"))))
            if key not in resolved:
                resolved[key] = credential_problem(ref, kind)
            if resolved[key] is not None:
                line.problems.append(f"{name} : {resolved[key]}")
        line.port = primary_port(job)
        if line.port is not None:
            wait_for = min(timeout, job.host.connect_timeout)
            targets[(job.address, line.port)] = min(targets.get((job.address, line.port), wait_for), wait_for)
            if job.host.transport == "ssh":
                speaks_ssh.add((job.address, line.port))

    def probe(address: str, port: int, seconds: float) -> str | None:
        return (banner if (address, port) in speaks_ssh else connect)(address, port, seconds)

    answers = _connect_all(targets, workers, probe)
    for line in lines:
        if line.port is not None and (line.address, line.port) in answers:
            problem = answers[(line.address, line.port)]
            if problem is not None:
                line.problems.append(problem)
    return sorted(lines, key=lambda x: (x.candidate, x.host))


def _connect_all(targets: Mapping[tuple[str, int], float], workers: int,
                 connect: Callable[[str, int, float], str | None]) -> dict[tuple[str, int], str | None]:
    """Every target at once on daemon threads (a name resolution that hangs holds nothing)."""
    if not targets:
        return {}
    n = max(1, min(workers, len(targets)))
    pool = _DaemonPool(n)
    futures: dict[Future[Any], tuple[str, int]] = {pool.submit(connect, a, p, s): (a, p)
                                                   for (a, p), s in targets.items()}
    deadline = time.monotonic() + max(targets.values()) * (len(targets) / n + 1) + 2
    try:
        wait(futures, timeout=max(0.0, deadline - time.monotonic()))
    finally:
        pool.shutdown()
    answers: dict[tuple[str, int], str | None] = {}
    for fut, target in futures.items():
        if fut.done() and not fut.cancelled() and fut.exception() is None:
            answers[target] = fut.result()
        else:
            answers[target] = t("pre.state.timeout", seconds=targets[target])
    return answers
