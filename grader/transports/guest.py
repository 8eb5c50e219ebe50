"""The ``guest`` channel: a VM's batch envelope run inside it by the hypervisor's guest agent.

Why: a candidate who broke a VM's network (no address, link down) leaves a host SSH cannot reach,
whose configuration is still there to grade. The hypervisor reaches it without any network: the
QEMU guest agent runs a program in the guest (``guest-exec``) and hands back its output
(``guest-exec-status``). So the host's ``ssh`` probes, in the same envelope
(:mod:`grader.transports.envelope`), are given to ``/bin/sh -s`` in the guest on its stdin, and
what comes back goes through the same frame parser: a probe's result is accepted only under the
envelope's random boundary, exactly as over SSH.

One round trip: the grader logs in to the hypervisor by SSH (its own rubric host and credential,
its pinned host key) and runs ONE script there (:func:`hypervisor_script`) that names the domain,
reads its state, starts the batch with one ``virsh qemu-agent-command … guest-exec`` and polls
``guest-exec-status`` until the batch has exited or the deadline has passed. The script frames what
it prints with a second boundary that only the grader and the hypervisor know; the guest's output
arrives base64-encoded inside the agent's JSON, so nothing the guest prints can pass for a frame
of the hypervisor's, and nothing it prints is trusted beyond the envelope's own framing.

What it cannot defend against: the candidate is root in the guest and may replace ``/bin/sh`` or
the agent itself (as over SSH, see :mod:`grader.transports.envelope`). What it guarantees: the batch
ran in the domain the rubric names (the grader's name for it, never the guest's answer), and the
evidence says it came through the agent (the login line). A batch the agent did not finish in
time is cut: every probe erreur (the agent hands no partial output), the guest process left to
the envelope's own per-probe deadlines.

Back-ends: ``libvirt`` (``virsh`` over SSH on the hypervisor). What a back-end returns is an
:class:`AgentAnswer`, the interface a Proxmox ``agent/exec`` back-end would also fill.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from grader.credentials import resolve_ssh
from grader.errors import CredentialError, TransportError, Unreachable, said
from grader.model import Msg, Probe, ProbeResult, Text
from grader.probes.guest import CHANNEL, GuestOptions
from grader.probes.ssh import quote
from grader.transports import envelope
from grader.transports.base import Channel, Collected, HostContext, Peer, probe_fields
from grader.transports.ssh import EXEC_MARGIN, KnownHosts, SshTarget, run_script

VIRSH = "/usr/bin/virsh -c qemu:///system"
#: What the guest agent starts: the envelope's shell in an emptied environment, as over SSH.
GUEST_PATH = "/usr/bin/env"
GUEST_ARGS = ("-i", f"PATH={envelope.SYSTEM_PATH}", "LC_ALL=C", "/bin/sh", "-s")
#: Longest ``guest-exec`` request: it is one argument of ``virsh`` on the hypervisor, and Linux refuses
#: a single argument over 128 KiB (a batch of a few dozen probes is a few KiB).
REQUEST_MAX = 120_000
#: Seconds ``virsh`` waits for the agent's answer to one command.
AGENT_TIMEOUT = 10
#: Seconds between two ``guest-exec-status`` polls (each is a ``virsh`` start on the hypervisor).
POLL = 0.1


def exec_request(script: str) -> str:
    """The ``guest-exec`` command (QEMU guest agent protocol) that gives ``script`` to the guest's shell."""
    return json.dumps({"execute": "guest-exec", "arguments": {
        "path": GUEST_PATH, "arg": list(GUEST_ARGS), "input-data": base64.b64encode(script.encode()).decode(),
        "capture-output": True}}, separators=(",", ":"))


def hypervisor_script(domain: str, request: str | None, seconds: float, boundary: str, *, virsh: str = VIRSH) -> str:
    """The sh script run on the hypervisor: the domain's UUID and state, then (``request`` given, the
    domain running) the batch started and awaited at most ``seconds``. Its frames, ``<boundary> WORD``::

        UUID <uuid> | NODOMAIN <virsh's error>      (the domain the rubric names, or why it is not there)
        STATE <running|shut off|paused...>
        AGENT <virsh's error>                       (the agent did not take or answer a command)
        PID <pid>
        STATUS                                      (then the agent's JSON answer on one line)
        TIMEOUT                                     (the batch had not exited at the deadline)
        END
    """
    say = f"printf '%s %s\\n' {boundary}"
    oneline = "/usr/bin/tr '\\n' ' ' | /usr/bin/head -c 300"
    lines = [
        "set -u",
        f"V={quote(virsh)}; D={quote(domain)}",
        f"u=$($V domuuid -- \"$D\" 2>&1) || {{ {say} \"NODOMAIN $(printf '%s' \"$u\" | {oneline})\"; exit 0; }}",
        f"{say} \"UUID $(printf '%s' \"$u\" | {oneline})\"",
        f"s=$($V domstate -- \"$D\" 2>&1); {say} \"STATE $(printf '%s' \"$s\" | {oneline})\"",
    ]
    if request is None:
        lines.append(f"{say} END")
        return "\n".join(lines) + "\n"
    wait = max(1, int(seconds + 0.999))
    lines += [
        f'[ "$s" = running ] || {{ {say} END; exit 0; }}',
        "now() { R=; read R _ </proc/uptime; N=${R%.*}; }",
        f"now; E=$(( N + {wait} ))",
        (f"r=$($V qemu-agent-command --timeout {AGENT_TIMEOUT} -- \"$D\" {quote(request)} 2>&1)"
        f" || {{ {say} \"AGENT $(printf '%s' \"$r\" | {oneline})\"; exit 0; }}"),
        "p=$(printf '%s' \"$r\" | /usr/bin/sed -n 's/^{\"return\":{\"pid\":\\([0-9][0-9]*\\)}}$/\\1/p')",
        f"[ -n \"$p\" ] || {{ {say} \"AGENT $(printf '%s' \"$r\" | {oneline})\"; exit 0; }}",
        f"{say} \"PID $p\"",
        "while :; do",
        (f"  r=$($V qemu-agent-command --timeout {AGENT_TIMEOUT} -- \"$D\""
        " \"{\\\"execute\\\":\\\"guest-exec-status\\\",\\\"arguments\\\":{\\\"pid\\\":$p}}\" 2>&1)"
        f" || {{ {say} \"AGENT $(printf '%s' \"$r\" | {oneline})\"; exit 0; }}"),
        f"  case $r in *'\"exited\":true'*|*'\"exited\": true'*) {say} STATUS; printf '%s\\n' \"$r\"; {say} END; exit 0;; esac",
        f"  now; [ \"$N\" -lt \"$E\" ] || {{ {say} TIMEOUT; {say} END; exit 0; }}",
        f"  /bin/sleep {POLL:g}",
        "done",
    ]
    return "\n".join(lines) + "\n"


@dataclass
class AgentAnswer:
    """What the hypervisor said of the domain and of one batch run by its agent (any back-end)."""

    uuid: str | None = None
    missing: str | None = None  # why the domain the rubric names is not there
    state: str | None = None
    agent_error: str | None = None
    pid: int | None = None
    timed_out: bool = False
    exited: bool = False
    exitcode: int | None = None
    out: bytes = b""
    err: bytes = b""
    truncated: bool = False  # the agent cut the batch's output (its own limit)
    complete: bool = False  # the script's END frame came
    unread: list[str] = field(default_factory=list)  # what did not parse (said as anomalies)


def parse_answer(raw: bytes, boundary: str) -> AgentAnswer:
    """Read the hypervisor script's frames; text outside them (the login shell's, say) is ignored."""
    answer = AgentAnswer()
    frame = re.compile(re.escape(boundary) + r" (UUID|NODOMAIN|STATE|AGENT|PID|STATUS|TIMEOUT|END)(?: (.*))?$")
    lines = raw.decode(errors="replace").split("\n")
    for i, line in enumerate(lines):
        m = frame.match(line)
        if not m:
            continue
        kind, arg = m.group(1), (m.group(2) or "").strip()
        if kind == "UUID":
            answer.uuid = arg
        elif kind == "NODOMAIN":
            answer.missing = arg or "?"
        elif kind == "STATE":
            answer.state = arg
        elif kind == "AGENT":
            answer.agent_error = arg or "?"
        elif kind == "PID" and arg.isdigit():
            answer.pid = int(arg)
        elif kind == "TIMEOUT":
            answer.timed_out = True
        elif kind == "END":
            answer.complete = True
        elif kind == "STATUS":
            _read_status(answer, lines[i + 1] if i + 1 < len(lines) else "")
    return answer


def _read_status(answer: AgentAnswer, text: str) -> None:
    """The agent's ``guest-exec-status`` answer: exit code and base64 outputs (the guest's words: data only)."""
    try:
        status = json.loads(text)["return"]
        answer.exited = status.get("exited") is True
        code = status.get("exitcode")
        answer.exitcode = code if isinstance(code, int) and not isinstance(code, bool) else None
        answer.out = base64.b64decode(status.get("out-data") or "", validate=True)
        answer.err = base64.b64decode(status.get("err-data") or "", validate=True)
        answer.truncated = bool(status.get("out-truncated") or status.get("err-truncated"))
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        answer.exited = False
        answer.unread.append(text[:200])


def state_said(vm: str, hypervisor: str, answer: AgentAnswer) -> Msg:
    """What the hypervisor's view says of a VM, for the evidence of a host that is not (or cannot be) reached."""
    if answer.missing is not None:
        return Msg("la VM {vm} n'existe pas sur l'hyperviseur {hypervisor} ({error})", vm=vm, hypervisor=hypervisor,
                   error=answer.missing)
    if answer.state == "shut off":
        return Msg("VM arrêtée : {vm} est éteinte sur l'hyperviseur {hypervisor}", vm=vm, hypervisor=hypervisor)
    if answer.state == "running":
        return Msg("VM en marche, réseau injoignable : {vm} tourne sur l'hyperviseur {hypervisor}", vm=vm,
                   hypervisor=hypervisor)
    return Msg("VM {vm} dans l'état « {state} » sur l'hyperviseur {hypervisor}", vm=vm, hypervisor=hypervisor,
               state=answer.state or "?")


@dataclass(frozen=True)
class Route:
    """How to reach a host's VM: its options, and the hypervisor as the grader logs in to it."""

    options: GuestOptions
    hypervisor: Peer

    @staticmethod
    def of(host: HostContext) -> Route:
        options = host.options if isinstance(host.options, GuestOptions) else None
        if options is None:
            raise TransportError(Msg("options.guest absentes : hyperviseur et VM de l'hôte {host} non déclarés",
                                     host=host.name))
        peer = host.peers.get(options.hypervisor)
        if peer is None:
            raise TransportError(Msg("hyperviseur « {hypervisor} » inconnu ou sans adresse pour ce candidat",
                                     hypervisor=options.hypervisor))
        if peer.transport != "ssh":
            raise TransportError(Msg("l'hyperviseur {hypervisor} doit être joint par ssh (transport {transport})",
                                     hypervisor=peer.name, transport=peer.transport))
        if peer.credential is None:
            raise CredentialError(Msg("aucun identifiant SSH pour l'hyperviseur {hypervisor}", hypervisor=peer.name))
        return Route(options, peer)


class LibvirtAgent:
    """The ``libvirt`` back-end: :func:`hypervisor_script` in one SSH exec on the hypervisor."""

    def __init__(self, known_hosts: KnownHosts) -> None:
        self.known_hosts = known_hosts

    def ask(self, host: HostContext, route: Route, request: str | None, seconds: float,
            outputs: int) -> tuple[AgentAnswer, str, Msg | None]:
        """The hypervisor's answer, its SSH host key, and a note (a cloned host key)."""
        peer = route.hypervisor
        boundary = "GRADER-" + secrets.token_hex(16)
        target = SshTarget(peer.address, peer.port or 22, peer.sudo, peer.connect_timeout,
                           exec_timeout=seconds + 2 * AGENT_TIMEOUT + EXEC_MARGIN, deadline=host.deadline)
        script = hypervisor_script(route.options.domain, request, seconds, boundary)
        try:
            got = run_script(target, resolve_ssh(peer.credential), self.known_hosts, script, outputs=outputs)
        except Unreachable as exc:
            raise Unreachable(Msg("hyperviseur {hypervisor} injoignable : {reason}", hypervisor=peer.name,
                                  reason=said(exc))) from exc
        answer = parse_answer(got.stdout, boundary)
        if not answer.complete and not answer.timed_out and answer.missing is None:
            raise TransportError(Msg("réponse incomplète de l'hyperviseur {hypervisor} (code {status}) : {error}",
                                     hypervisor=peer.name, status=got.exit_status, error=got.stderr[:300]))
        return answer, got.host_key, got.note


class GuestChannel(Channel):
    """The ``guest`` channel: a host's ``ssh`` probes in one ``guest-exec`` through its hypervisor."""

    spec = CHANNEL

    def __init__(self) -> None:
        self._known: dict[Path | None, KnownHosts] = {}
        self._lock = threading.Lock()

    def _agent(self, host: HostContext) -> LibvirtAgent:
        with self._lock:  # one parsed known_hosts per file and run, as the ssh channel's
            return LibvirtAgent(self._known.setdefault(host.known_hosts, KnownHosts(host.known_hosts)))

    def explain(self, host: HostContext) -> Text | None:
        try:
            route = Route.of(host)
            answer, _, _ = self._agent(host).ask(host, route, None, 0, 1)
        except Exception:  # noqa: BLE001 - a vantage point that could not see says nothing
            return None
        return state_said(route.options.domain, route.hypervisor.name, answer)

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        route = Route.of(host)
        vm, hypervisor = route.options.domain, route.hypervisor.name
        refused = {p.key: ProbeResult(**probe_fields(p), error=Msg(
            "sonde à secret non envoyée par l'agent invité : le lot passe en argument de virsh sur l'hyperviseur"))
            for p in probes if p.secret is not None}
        probes = [p for p in probes if p.key not in refused]
        env = envelope.build(probes)
        request = exec_request(env.script)
        if len(request) > REQUEST_MAX:
            raise TransportError(Msg("lot trop long pour l'agent invité ({size} octets, au plus {limit})",
                                     size=len(request), limit=REQUEST_MAX))
        seconds = max(1.0, min(sum(p.timeout for p in probes) + EXEC_MARGIN, host.deadline.remaining() - 2))
        started = datetime.now(UTC).isoformat(timespec="milliseconds")
        t0 = time.perf_counter()
        answer, key, note = self._agent(host).ask(host, route, request, seconds, 2 * len(probes) + 2)
        if answer.missing is not None or answer.state != "running":
            raise Unreachable(state_said(vm, hypervisor, answer))
        if answer.agent_error is not None:
            raise Unreachable(Msg("VM {vm} en marche sur {hypervisor}, mais son agent invité ne répond pas : {error}",
                                  vm=vm, hypervisor=hypervisor, error=answer.agent_error))
        anomalies: list[Text] = [Msg("réponse illisible de l'agent invité : {text}", text=t) for t in answer.unread]
        if answer.exited:
            parsed = envelope.parse(env, answer.out, started=started, login_shell=False)
        else:
            cut = Msg("l'agent invité n'a pas rendu le lot en {seconds:g} s", seconds=round(seconds))
            parsed = envelope.parse(env, b"", started=started, cut=cut, login_shell=False)
            anomalies.append(cut)
        anomalies += parsed.anomalies
        if answer.truncated:
            anomalies.append(Msg("l'agent invité a tronqué la sortie du lot"))
        if not parsed.complete:
            anomalies.append(Msg("l'enveloppe de sondes n'est pas allée à son terme"))
            if answer.exited and answer.err.strip():
                anomalies.append(Msg("le lot a échoué dans la VM (code {status}) : {error}", status=answer.exitcode,
                                     error=answer.err[:300].decode(errors="replace")))
        if note is not None:
            anomalies.append(note)
        login = Msg("{login} via l'agent invité de {vm} sur {hypervisor}",
                    login=resolve_ssh(route.hypervisor.credential).describe(), vm=vm, hypervisor=hypervisor)
        identity = Msg("VM {vm} (UUID {uuid}) ; hyperviseur {hypervisor} : {key} ; lot en {seconds:.2f} s", vm=vm,
                       uuid=answer.uuid or "?", hypervisor=hypervisor, key=key, seconds=time.perf_counter() - t0)
        results = {**parsed.results, **refused}
        return Collected(results, login=login, host_key=identity, anomalies=anomalies, execs=1,
                         complete=parsed.complete)
