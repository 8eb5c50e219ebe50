"""The ``cli`` channel: one SSH connection and one interactive session (PTY) per network device.

Switches, routers and appliances (Cisco IOS, pfSense's console) offer no POSIX shell to send
a batch envelope to: their SSH account lands on a command interpreter. So this channel types
the host's probes one after the other in a single interactive session, each probe being one
command (``show vlan brief``), and cuts the session's output into one result per command.

Session, in order: TCP connect (TCP_NODELAY), SSH handshake, host key checked against the
run's known_hosts (as the ``ssh`` channel does), authentication, one PTY shell; then, if
``menu`` is set, the answer to the console menu (pfSense: ``8`` opens the shell); then the
prompt is learned, ``enable`` is sent with the enable secret when asked, ``terminal length
0`` disables paging (``--More--`` is still answered with a space if the device ignores it),
and each probe runs with its own deadline.

Framing, and why it cannot be forged. The candidate controls the hostname (hence the
prompt), the banners, interface descriptions and any file it asks us to print: a line
looking exactly like the prompt may appear inside a command's output. A prompt is therefore
never taken as the end of an output. Each command is closed by a *sentinel*, a line we type
after it that carries a fresh random token (``secrets.token_hex``, never reused, unknown to
the device before we type it):

* ``ios`` dialect: the sentinel is ``show grader-<token>``, a harmless invalid command (the
  device answers ``% Invalid input detected``; the word ``show`` keeps IOS from taking the
  token for a host name to telnet to). It is typed once the prompt appears at the end of the
  output; an IOS exec echoes typed input only when it reads it, at its prompt, so the end of
  a command is the learned prompt immediately followed by the echoed sentinel at a line
  start. A forged prompt in the output only makes us type the sentinel early: its echo still
  comes after the real end, and everything before it is the command's output.
* ``shell`` dialect (a Unix shell such as pfSense's, whose terminal echoes typed input at
  once): the sentinel is ``echo GRADER<a>''<b>``, typed with the command in one write, and
  the end is ``GRADER<a><b>`` and a line end: a string the typed text does not contain,
  produced only by running the sentinel, which the shell does only after the command has
  ended. The echo of what we typed is removed; should it ever land inside the output (the
  terminal echoed it mid-output), that probe is ``erreur`` rather than a spliced text.
  Output is never taken for a ``--More--`` pager here (a file may contain that text).

The prompt is learned the same way at login: a sentinel is typed and the prompt is read in
front of its echo (IOS) or after its marker (shell); a sentinel the device discarded while
starting is typed again, and only the last one counts.

A command whose sentinel has not come back by its deadline is ``timed_out`` (judged
``erreur``); the channel interrupts it (Ctrl-^ on IOS, Ctrl-C on a shell), waits for a
fresh sentinel and goes on with the next probe; if the session cannot be resynchronised,
the remaining probes are ``erreur`` with the reason. Failures before the first command map
as for ``ssh``: no TCP connection or no SSH handshake is :class:`~grader.errors.Unreachable`
(``injoignable``); an authentication refused, a shell that cannot be opened or a prompt that
never comes is :class:`~grader.errors.TransportError` (``erreur``: the device answered, we
could not evaluate).
"""

from __future__ import annotations

import codecs
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paramiko

from grader.credentials import resolve_password, resolve_ssh
from grader.errors import CredentialError, TransportError, said
from grader.model import Msg, Probe, ProbeResult
from grader.probes.cli import CHANNEL, CliOptions
from grader.transports.base import Channel, Collected, HostContext
from grader.transports.deadline import HostDeadline
from grader.transports.ssh import KnownHosts, SshTarget, fingerprint, open_transport

#: Output kept per command; beyond it the result is marked truncated (a config.xml is ~100 KB).
CAP = 4 * 1024 * 1024
PAGER = re.compile(r" ?-- ?[Mm]ore ?-- ?$")  # IOS " --More-- ", also "-- More --"
PASSWORD_PROMPT = re.compile(r"[Pp]assword: ?$")
IOS_PROMPT = re.compile(r"^[^\s#>]{1,63}[>#]$")  # IOS hostnames have no spaces
RETYPE = 2.0  # seconds before a login sentinel that got no answer is typed again
IOS_ERROR = re.compile(r"^% ?(Invalid input|Incomplete command|Ambiguous command|Unknown command)", re.MULTILINE)


class SessionLost(TransportError):
    """The interactive session ended or could not be resynchronised."""


class EchoMixed(Exception):
    """The terminal's echo of what we typed landed inside a command's output: not trustworthy."""


@dataclass(frozen=True)
class Dialect:
    """How a device's interpreter is driven: its sentinel, its set-up, its interrupt."""

    name: str
    setup: tuple[str, ...]
    interrupt: str
    #: True: the sentinel is typed with the command (its end marker is computed, echo-proof);
    #: False: typed once the prompt shows (IOS: typeahead would be eaten by a --More-- pager).
    upfront: bool
    #: The interpreter may page its output (--More--); a shell printing a file never does, and
    #: a file's own text must then never be taken for a pager.
    pages: bool

    def sentinel(self) -> tuple[str, re.Pattern[str] | None, str]:
        """(typed line, end pattern independent of the prompt or None, token)."""
        if self.name == "shell":
            a, b = secrets.token_hex(6), secrets.token_hex(6)
            marker = f"GRADER{a}{b}"
            # Not anchored at a line start: a shell without line editor prints it right after its prompt.
            return f"echo GRADER{a}''{b}", re.compile(marker + r"\n"), marker
        token = f"grader-{secrets.token_hex(8)}"
        return f"show {token}", None, token


DIALECTS = {
    "ios": Dialect("ios", ("terminal length 0",), "\x1e", upfront=False, pages=True),  # Ctrl-^ aborts
    "shell": Dialect("shell", (), "\x03", upfront=True, pages=False),
}


class Session:
    """One interactive PTY session, read through a normalised text buffer (LF line ends)."""

    def __init__(self, channel: paramiko.Channel, dialect: Dialect, resync_timeout: float = 5.0):
        self.channel = channel
        self.dialect = dialect
        self.resync_timeout = resync_timeout
        self.buf = ""
        self.prompt = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._cr = False  # a CR at the end of the last chunk (CRLF split across reads)
        self._erase = False  # strip the pager's erasing backspaces at the start of the next data
        self.pages = 0  # --More-- prompts answered

    # -- reading ------------------------------------------------------------------------

    def send(self, text: str) -> None:
        try:
            self.channel.sendall(text.encode())
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise SessionLost(Msg("la session interactive a été coupée ({error})", error=str(exc))) from exc

    def _feed(self, data: bytes) -> None:
        text = self._decoder.decode(data)
        if self._cr:
            text = "\r" + text
        self._cr = text.endswith("\r")
        if self._cr:
            text = text[:-1]
        text = text.replace("\r\n", "\n").replace("\r", "")
        if self._erase and text:  # after " --More-- ": N backspaces, N spaces, N backspaces erase it
            m = re.match(r"\x08+ *\x08*", text)
            text = text[m.end():] if m else text
            self._erase = False
        self.buf += text.replace("\x08", "") if "\x08" in text else text

    def read_until(self, done: Callable[[], bool], deadline: float, *, pager: bool = True) -> bool:
        """Read until ``done()`` or the deadline; answers a pager waiting at the end of the buffer."""
        while True:
            if done():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.channel.settimeout(min(remaining, 0.5))
            try:
                data = self.channel.recv(65536)
            except TimeoutError:
                continue
            except (OSError, paramiko.SSHException, EOFError) as exc:
                raise SessionLost(Msg("la session interactive a été coupée ({error})", error=str(exc))) from exc
            if not data:
                raise SessionLost(Msg("l'équipement a fermé la session interactive"))
            self._feed(data)
            if len(self.buf) > 4 * CAP:
                raise SessionLost(Msg("sortie démesurée : session abandonnée"))
            if pager and self.dialect.pages:
                tail = self.buf[self.buf.rfind("\n") + 1:]
                m = PAGER.search(tail)
                if m:  # the device waits at its pager: drop the marker, ask for the next page
                    self.buf = self.buf[: len(self.buf) - len(tail) + m.start()]
                    self._erase = True
                    self.pages += 1
                    self.send(" ")

    def tail_is(self, start: int, text: str) -> bool:
        """The buffer (from ``start``) ends with ``text`` at a line start: the device is waiting there."""
        seg = self.buf[start:]
        return seg.endswith("\n" + text) or seg == text

    # -- prompt -------------------------------------------------------------------------

    def learn_prompt(self, deadline: float) -> str:
        """Type a sentinel and read the prompt the device prints with its answer.

        A sentinel typed while the device is still starting (banner, menu choice, a shell
        starting up) may be discarded: a fresh one is typed every ``RETYPE`` seconds, and
        only the last one typed counts (the interpreter answers in order, so when the last
        one is answered the earlier ones are behind us).
        """
        start = len(self.buf)
        found: list[tuple[str, re.Match[str]]] = []

        def answered() -> bool:
            m = sent[-1].search(self.buf, start)
            if m is None:
                return False
            if self.dialect.upfront:  # shell: the prompt follows the marker line
                found[:] = [(self.buf[m.end():], m)]
                return True
            found[:] = [(m.group(1), m)]  # IOS: the prompt is in front of the echoed sentinel
            return self.tail_is(m.end(), m.group(1))

        sent: list[re.Pattern[str]] = []
        while True:
            typed, marker, _ = self.dialect.sentinel()
            pattern = marker or re.compile(r"(?m)^([^\n]*?) *" + re.escape(typed) + r"\n")
            sent.append(pattern)
            self.send(typed + "\n")
            if self.read_until(answered, min(deadline, time.monotonic() + RETYPE)):
                break
            if time.monotonic() >= deadline:
                seen_text = self.buf[start:][-300:]
                raise TransportError(Msg("aucune invite de commande reconnue après la connexion (reçu : {seen})",
                                         seen=repr(seen_text)))
        if self.dialect.upfront:
            after = found[0][1].end()
            # The prompt follows the marker line; it is whole once nothing more comes for 0.3 s.
            while time.monotonic() < deadline:
                size = len(self.buf)
                quiet = min(deadline, time.monotonic() + 0.3)
                if not self.read_until(lambda size=size: len(self.buf) != size, quiet):  # type: ignore[misc]
                    break
            prompt = self.buf[after:].split("\n")[-1]
            if not prompt.strip():
                raise TransportError(Msg("invite de commande vide après la connexion"))
        else:
            prompt = found[0][0]
            if not IOS_PROMPT.match(prompt):
                raise TransportError(Msg("invite inattendue « {prompt} » (attendu : NOM> ou NOM#)",
                                         prompt=prompt[:80]))
        self.prompt = prompt
        self.buf = self.buf[-len(prompt):]
        return prompt

    # -- one command --------------------------------------------------------------------

    def run(self, command: str, timeout: float) -> tuple[str, bool]:
        """(output, timed_out). The output has neither the echo, the sentinel nor the prompt."""
        start = len(self.buf)
        typed, marker, _ = self.dialect.sentinel()
        deadline = time.monotonic() + timeout
        if self.dialect.upfront:
            self.send(command + "\n" + typed + "\n")
            end = marker
        else:
            self.send(command + "\n")
            end = re.compile(r"(?m)^" + re.escape(self.prompt) + r" *" + re.escape(typed) + r"\n")
        state: dict[str, Any] = {"sent": self.dialect.upfront, "end": None}

        def finished() -> bool:
            if not state["sent"] and self.tail_is(start, self.prompt):
                self.send(typed + "\n")
                state["sent"] = True
            if state["sent"] and end is not None:
                m = end.search(self.buf, start)
                if m:
                    state["end"] = m
                    return True
            return False

        if not self.read_until(finished, deadline):
            partial = self.buf[start:]
            self.resync()
            return partial, True
        m = state["end"]
        assert isinstance(m, re.Match)
        output = self.buf[start:m.start()]
        after = m.end()
        # The sentinel's own answer ("% Invalid input", or nothing more on a shell) ends at the prompt.
        if not self.read_until(lambda: self.tail_is(after, self.prompt), time.monotonic() + 5, pager=False):
            raise SessionLost(Msg("l'invite n'est pas revenue après le marqueur de fin de commande"))
        self.buf = self.buf[-len(self.prompt):]  # keep memory flat across commands
        output = self._clean(output, command, typed)
        if self.dialect.upfront and typed.split("''")[0] in output:
            raise EchoMixed(Msg("l'écho de la saisie s'est mêlé à la sortie de la commande"))
        return output, False

    def _clean(self, output: str, command: str, typed: str) -> str:
        if self.dialect.upfront:
            output = output.replace(self.prompt + typed + "\n", "").replace(typed + "\n", "")
        first, _, rest = output.partition("\n")
        if first.strip() == command.strip():
            output = rest
        output = output.removesuffix(self.prompt)
        return output

    def resync(self) -> None:
        """After a command overran: interrupt it, then wait for a fresh sentinel to come back.

        An empty line follows the interrupt, so that a key the device did not take as part of
        it lands on that line, not in front of the sentinel.
        """
        self.send(self.dialect.interrupt)
        start = len(self.buf)
        typed, marker, _ = self.dialect.sentinel()
        self.send("\n" + typed + "\n")
        end = marker or re.compile(r"(?m)^" + re.escape(self.prompt) + r" *" + re.escape(typed) + r"\n")
        until = time.monotonic() + self.resync_timeout
        hit: list[re.Match[str]] = []

        def back() -> bool:
            m = end.search(self.buf, start)
            if m and not hit:
                hit.append(m)
            return bool(hit) and self.tail_is(hit[0].end(), self.prompt)

        if not self.read_until(back, until):
            raise SessionLost(Msg("la commande interrompue n'a pas rendu la main : session abandonnée"))
        self.buf = self.buf[-len(self.prompt):]


# --- the channel ------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class CliChannel(Channel):
    """The ``cli`` channel: one SSH connection, one interactive session, one command per probe."""

    spec = CHANNEL

    def __init__(self) -> None:
        self._known: dict[Path | None, KnownHosts] = {}

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        options: CliOptions = host.options if isinstance(host.options, CliOptions) else CliOptions()
        ref = host.credentials.get(options.credential) if options.credential else host.credential
        if ref is None:
            raise CredentialError(Msg("aucun identifiant pour la session CLI de l'hôte {host}", host=host.name))
        secret = resolve_ssh(ref)
        enable_secret = None
        if options.enable_credential:
            enable_ref = host.credentials.get(options.enable_credential)
            if enable_ref is None:
                raise CredentialError(Msg("identifiant « {name} » (enable) inconnu du barème",
                                          name=options.enable_credential))
            enable_secret = resolve_password(enable_ref).password
        port = host.port or options.port or 22
        target = SshTarget(host.address, port, False, host.connect_timeout, deadline=host.deadline)
        known = self._known.setdefault(host.known_hosts, KnownHosts(host.known_hosts))
        dialect = DIALECTS[options.dialect]

        # A refused login is erreur here, not injoignable: the device answered, we could not log in.
        transport, key, note = open_transport(target, secret, known, refused=TransportError)
        try:
            try:
                # paramiko waits for the answers to the PTY and shell requests without a limit: the host's
                # deadline, which closes the transport, ends a device that never answers (the runner says so).
                channel = transport.open_session(timeout=target.wait(target.auth_timeout))
                channel.get_pty(term="vt100", width=511, height=24)
                channel.invoke_shell()
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise TransportError(Msg("impossible d'ouvrir une session interactive sur {address} ({error})",
                                         address=host.address, error=str(exc))) from exc
            session = Session(channel, dialect, options.resync_timeout)
            results, anomalies = self._drive(session, options, enable_secret, probes, host.address, host.deadline)
            if note is not None:
                anomalies.append(note)
            # The evidence says how the device was read: one connection, one interactive session.
            login = Msg("{account} ; 1 connexion SSH, 1 session interactive, {n} commande(s)",
                        account=secret.describe(), n=len(probes))
            return Collected(results, login=login, host_key=fingerprint(key), anomalies=anomalies,
                             execs=1, complete=all(r.error is None for r in results.values()))
        finally:
            transport.close()

    def _drive(self, session: Session, options: CliOptions, enable_secret: str | None, probes: Sequence[Probe],
               address: str, host_deadline: HostDeadline) -> tuple[dict[str, ProbeResult], list[str | Msg]]:
        anomalies: list[str | Msg] = []
        deadline = time.monotonic() + options.login_timeout
        try:
            if options.menu is not None:
                menu = options.menu_prompt.rstrip()
                if not session.read_until(lambda: session.buf.rstrip().endswith(menu), deadline):
                    raise TransportError(Msg("le menu de console attendu (« {menu} ») n'est pas apparu", menu=menu))
                session.send(options.menu + "\n")
            session.learn_prompt(deadline)
            if enable_secret is not None and session.prompt.endswith(">"):
                self._enable(session, enable_secret, deadline)
            for command in session.dialect.setup:
                output, timed_out = session.run(command, max(1.0, deadline - time.monotonic()))
                if timed_out or IOS_ERROR.search(output):
                    anomalies.append(Msg("« {command} » refusé par l'équipement : la pagination --More-- sera suivie",
                                         command=command))
        except SessionLost as exc:
            raise TransportError(Msg("session interactive avec {address} perdue pendant la connexion : {error}",
                                     address=address, error=said(exc))) from exc
        results: dict[str, ProbeResult] = {}
        lost: Msg | None = None
        for probe in probes:
            started, t0 = _now(), time.perf_counter()
            if lost is not None:
                results[probe.key] = ProbeResult(probe.key, probe.transport, probe.command, started=started,
                                                 error=lost)
                continue
            try:
                output, timed_out = session.run(probe.command, probe.timeout)
            except EchoMixed as exc:
                results[probe.key] = ProbeResult(probe.key, probe.transport, probe.command, started=started,
                                                 duration=time.perf_counter() - t0, error=said(exc))
                continue
            except SessionLost as exc:
                lost = host_deadline.cut() if host_deadline.expired else Msg(
                    "session interactive perdue : {error}", error=said(exc))
                results[probe.key] = ProbeResult(probe.key, probe.transport, probe.command, started=started,
                                                 duration=time.perf_counter() - t0, error=lost)
                continue
            truncated = len(output) > CAP
            refused = bool(IOS_ERROR.match(output.lstrip(" ^\n"))) if session.dialect.name == "ios" else False
            results[probe.key] = ProbeResult(
                probe.key, probe.transport, probe.command, stdout=output[:CAP], exit_code=None if timed_out else
                (1 if refused else 0), started=started, duration=time.perf_counter() - t0, truncated=truncated,
                timed_out=timed_out)
        if session.pages:
            anomalies.append(Msg("pagination --More-- suivie {pages} fois (terminal length 0 sans effet)",
                                 pages=session.pages))
        return results, anomalies

    @staticmethod
    def _enable(session: Session, secret: str, deadline: float) -> None:
        start = len(session.buf)
        session.send("enable\n")
        if not session.read_until(lambda: bool(PASSWORD_PROMPT.search(session.buf[start:])), deadline):
            raise TransportError(Msg("« enable » n'a pas demandé de mot de passe"))
        session.send(secret + "\n")
        session.buf = ""  # nothing typed after the password prompt is kept (no echo expected anyway)
        try:
            prompt = session.learn_prompt(deadline)
        except TransportError as exc:  # a device that echoes the secret must not put it in the evidence
            raise TransportError(_redacted(exc, secret)) from None
        if not prompt.endswith("#"):
            raise TransportError(Msg("« enable » refusé (mot de passe enable incorrect ?) : mode privilégié non "
                                     "obtenu"))


def _redacted(exc: TransportError, secret: str) -> Msg | str:
    """``exc``'s reason with the enable secret masked (a device may echo it), by reference when it has one."""
    text = str(exc).replace(secret, "***")
    ref = exc.message_ref
    if ref is not None and all(isinstance(v, str) for v in ref.args.values()):
        masked = Msg(ref.id, **{k: v.replace(secret, "***") for k, v in ref.args.items()})
        if masked.render() == text:
            return masked
    return text
