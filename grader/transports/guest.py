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

Back-ends, by the hypervisor host's transport: ``ssh`` is libvirt (``virsh`` over SSH on the
hypervisor, :class:`LibvirtAgent`), ``pve`` is Proxmox VE's API (``agent/exec``, :class:`ProxmoxAgent`).
Both fill an :class:`AgentAnswer`; the channel reads only that.
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
from grader.probes.pve import PveOptions
from grader.probes.ssh import quote
from grader.transports import envelope, pve
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
        # From here on the domain is named by that UUID: every later command reaches the same domain.
        "case $u in ''|*[!0-9a-f-]*) ;; *) D=$u ;; esac",
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
    identity: str = ""  # the VM as the hypervisor names it for the evidence (« UUID … », « vmid 100, nœud pve1 »)
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
        if peer.transport not in BACKENDS:
            raise TransportError(Msg("l'hyperviseur {hypervisor} doit être joint par ssh ou pve (transport {transport})",
                                     hypervisor=peer.name, transport=peer.transport))
        if peer.credential is None and peer.transport == "ssh":
            raise CredentialError(Msg("aucun identifiant SSH pour l'hyperviseur {hypervisor}", hypervisor=peer.name))
        return Route(options, peer)


@dataclass(frozen=True)
class Seen:
    """How the grader reached the hypervisor: its login (never a secret), its identity, a note (cloned key)."""

    login: Text
    key: str
    note: Msg | None = None


class LibvirtAgent:
    """The ``libvirt`` back-end (a hypervisor reached by ``ssh``): :func:`hypervisor_script` in one SSH
    exec there, the batch started by ``virsh qemu-agent-command`` and awaited in the same exec."""

    def __init__(self, known_hosts: KnownHosts) -> None:
        self.known_hosts = known_hosts

    def ask(self, host: HostContext, route: Route, script: str | None, seconds: float,
            outputs: int) -> tuple[AgentAnswer, Seen]:
        """The hypervisor's answer (``script`` None: the domain's state only) and how it was reached."""
        request = None if script is None else exec_request(script)
        if request is not None and len(request) > REQUEST_MAX:
            raise TransportError(Msg("lot trop long pour l'agent invité ({size} octets, au plus {limit})",
                                     size=len(request), limit=REQUEST_MAX))
        peer = route.hypervisor
        boundary = "GRADER-" + secrets.token_hex(16)
        target = SshTarget(peer.address, peer.port or 22, peer.sudo, peer.connect_timeout,
                           exec_timeout=seconds + 2 * AGENT_TIMEOUT + EXEC_MARGIN, deadline=host.deadline)
        secret = resolve_ssh(peer.credential)
        try:
            got = run_script(target, secret, self.known_hosts,
                             hypervisor_script(route.options.domain, request, seconds, boundary), outputs=outputs)
        except Unreachable as exc:
            raise Unreachable(Msg("hyperviseur {hypervisor} injoignable : {reason}", hypervisor=peer.name,
                                  reason=said(exc))) from exc
        answer = parse_answer(got.stdout, boundary)
        if not answer.complete and answer.missing is None:
            raise TransportError(Msg("réponse incomplète de l'hyperviseur {hypervisor} (code {status}) : {error}",
                                     hypervisor=peer.name, status=got.exit_status, error=got.stderr[:300]))
        if answer.uuid:
            answer.identity = f"UUID {answer.uuid}"
        return answer, Seen(secret.describe(), got.host_key, got.note)


class ProxmoxAgent:
    """The Proxmox back-end (a hypervisor reached by ``pve``): its API with the hypervisor host's token.

    The VM is looked up by name in the cluster (two VMs of that name: not designated, refused), its
    state read from the list, the batch started by ONE ``POST …/agent/exec`` (``command`` the shell,
    ``input-data`` the envelope: Proxmox encodes it for the agent) and ``GET …/agent/exec-status``
    polled until ``exited`` or the deadline; Proxmox hands ``out-data`` back decoded."""

    def ask(self, host: HostContext, route: Route, script: str | None, seconds: float,
            outputs: int) -> tuple[AgentAnswer, Seen]:
        peer, vm = route.hypervisor, route.options.domain
        api_host = HostContext(name=peer.name, address=peer.address, platform="linux", port=peer.port,
                               credential=peer.credential, credentials=host.credentials,
                               options=PveOptions.model_validate(dict(peer.options.get("pve", {}))),
                               connect_timeout=peer.connect_timeout, deadline=host.deadline)
        api, token = pve.open_api(api_host)
        answer = AgentAnswer()
        try:
            found = pve.vms_named(api, vm)
            if len(found) != 1:
                answer.missing = (f"{len(found)} VM de ce nom (vmid {', '.join(str(v.get('vmid')) for _, v in found)}) :"
                                  " la VM n'est pas désignée sans ambiguïté" if found else "aucune VM de ce nom")
            else:
                node, entry = found[0]
                answer.identity = f"vmid {entry.get('vmid')}, nœud {node}"
                answer.state = "shut off" if entry.get("status") == "stopped" else str(entry.get("status"))
                if script is not None and answer.state == "running":
                    _proxmox_run(api, pve.vm_path(node, entry) + "/agent", script, seconds, host, answer)
            answer.complete = True
        except pve.ApiError as exc:
            if exc.status == -1:
                raise Unreachable(Msg("hyperviseur {hypervisor} injoignable : l'API Proxmox VE ne répond pas ({reason})",
                                      hypervisor=peer.name, reason=exc.reason)) from None
            raise TransportError(Msg("l'API Proxmox VE de {hypervisor} a refusé une requête : {status} {reason}",
                                     hypervisor=peer.name, status=exc.status, reason=exc.reason)) from None
        finally:
            api.close()
        return answer, Seen(Msg("{token} (jeton d'API)", token=token), f"API Proxmox VE {peer.address}")


def _proxmox_run(api: pve.Api, base: str, script: str, seconds: float, host: HostContext,
                 answer: AgentAnswer) -> None:
    """Start the batch (``agent/exec``) and poll ``agent/exec-status`` until it has exited or ``seconds`` passed."""
    fields = [("command", GUEST_PATH), *(("command", arg) for arg in GUEST_ARGS), ("input-data", script)]
    try:
        started = api.call("POST", base + "/exec", data=fields)
        answer.pid = int(started["pid"])
    except pve.ApiError as exc:
        if exc.status == -1:
            raise
        answer.agent_error = f"{exc.status} {exc.reason}"
        return
    except (TypeError, KeyError, ValueError):
        answer.agent_error = "réponse sans pid"
        return
    end = time.monotonic() + seconds
    while True:
        status = api.get(f"{base}/exec-status?pid={answer.pid}")
        if not isinstance(status, dict):
            answer.unread.append(repr(status)[:200])
            return
        if status.get("exited") in (True, 1):
            code = status.get("exitcode")
            answer.exited = True
            answer.exitcode = code if isinstance(code, int) and not isinstance(code, bool) else None
            answer.out = str(status.get("out-data") or "").encode()
            answer.err = str(status.get("err-data") or "").encode()
            answer.truncated = bool(status.get("out-truncated") or status.get("err-truncated"))
            return
        if time.monotonic() >= end or host.deadline.expired:
            answer.timed_out = True
            return
        time.sleep(max(0.0, min(POLL, host.deadline.remaining())))


#: The back-end by the hypervisor host's transport.
BACKENDS = ("ssh", "pve")


class GuestChannel(Channel):
    """The ``guest`` channel: a host's ``ssh`` probes in one agent exec through its hypervisor."""

    spec = CHANNEL

    def __init__(self) -> None:
        self._known: dict[Path | None, KnownHosts] = {}
        self._lock = threading.Lock()

    def _agent(self, host: HostContext, route: Route) -> LibvirtAgent | ProxmoxAgent:
        if route.hypervisor.transport == "pve":
            return ProxmoxAgent()
        with self._lock:  # one parsed known_hosts per file and run, as the ssh channel's
            return LibvirtAgent(self._known.setdefault(host.known_hosts, KnownHosts(host.known_hosts)))

    def explain(self, host: HostContext) -> Text | None:
        try:
            route = Route.of(host)
            answer, _ = self._agent(host, route).ask(host, route, None, 0, 1)
        except Exception:  # noqa: BLE001 - a vantage point that could not see says nothing
            return None
        return state_said(route.options.domain, route.hypervisor.name, answer)

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        route = Route.of(host)
        vm, hypervisor = route.options.domain, route.hypervisor.name
        refused = {p.key: ProbeResult(**probe_fields(p), error=Msg(
            "sonde à secret non envoyée par l'agent invité : le lot transite en clair par l'hyperviseur"))
            for p in probes if p.secret is not None}
        probes = [p for p in probes if p.key not in refused]
        env = envelope.build(probes)
        seconds = max(1.0, min(sum(p.timeout for p in probes) + EXEC_MARGIN, host.deadline.remaining() - 2))
        started = datetime.now(UTC).isoformat(timespec="milliseconds")
        t0 = time.perf_counter()
        answer, seen = self._agent(host, route).ask(host, route, env.script, seconds, 2 * len(probes) + 2)
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
        if seen.note is not None:
            anomalies.append(seen.note)
        login = Msg("{login} via l'agent invité de {vm} sur {hypervisor}", login=seen.login, vm=vm,
                    hypervisor=hypervisor)
        identity = Msg("VM {vm} ({identity}) ; hyperviseur {hypervisor} : {key} ; lot en {seconds:.2f} s", vm=vm,
                       identity=answer.identity or "?", hypervisor=hypervisor, key=seen.key,
                       seconds=time.perf_counter() - t0)
        results = {**parsed.results, **refused}
        return Collected(results, login=login, host_key=identity, anomalies=anomalies, execs=1,
                         complete=parsed.complete)
