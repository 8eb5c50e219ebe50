"""A hostile SSH endpoint on a loopback socket (paramiko's server side), one behaviour per instance.

Behaviours, each a way a candidate's machine (root on it) can hold a grader that trusts it:

* ``no_banner``: accepts TCP and never says a word (no SSH identification line).
* ``silent_exec``: completes the handshake and accepts any key, opens the session channel, then
  never answers the exec request (paramiko's client waits for that answer without a limit).
* ``partial_stall``: runs the exec, sends the first bytes of an answer, then stalls forever.
* ``honest``: runs the batch with /bin/sh locally and answers as sshd would (a control).

The server counts connections; ``close()`` ends everything it started.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
from pathlib import Path

import paramiko

from tests.hostile import Listener

_KEY: list[paramiko.PKey] = []
BEHAVIOURS = ("no_banner", "silent_exec", "partial_stall", "honest")


def _host_key() -> paramiko.PKey:
    """One RSA host key for every hostile endpoint of the test session (generating one costs ~0.1 s)."""
    if not _KEY:
        _KEY.append(paramiko.RSAKey.generate(2048))
    return _KEY[0]


class _Interface(paramiko.ServerInterface):
    def __init__(self, server: HostileSsh) -> None:
        self.server = server

    def get_allowed_auths(self, username: str) -> str:
        return "publickey,password"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.AUTH_SUCCESSFUL

    def check_auth_password(self, username: str, password: str) -> int:
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        if self.server.behaviour == "silent_exec":
            self.server.stop.wait()  # the transport thread sleeps: no answer to the exec request, ever
            return False
        threading.Thread(target=self.server.answer, args=(channel, command), daemon=True).start()
        return True


class HostileSsh:
    """One listening endpoint with one behaviour (see the module docstring).

    ``key``: its host key (default: one shared by every endpoint of the test session).
    """

    def __init__(self, behaviour: str, address: str = "127.0.0.1", port: int = 0,
                 key: paramiko.PKey | None = None) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(behaviour)
        self.behaviour, self.address, self.key = behaviour, address, key
        self._listener = Listener(address, port, self._serve)
        self.port, self.stop = self._listener.port, self._listener.stop

    @property
    def connections(self) -> int:
        return self._listener.connections

    def _serve(self, conn: socket.socket) -> None:
        if self.behaviour == "no_banner":
            return  # keep the socket open, say nothing
        transport = paramiko.Transport(conn)
        transport.add_server_key(self.key or _host_key())
        self._listener.open.append(transport)
        with contextlib.suppress(paramiko.SSHException, EOFError, OSError):
            transport.start_server(server=_Interface(self))

    def answer(self, channel: paramiko.Channel, command: bytes) -> None:
        """The exec's answer: a partial one that stalls, or the real one (``/bin/sh -c`` with the batch on stdin)."""
        script = b""
        while not self.stop.is_set():
            data = channel.recv(65536)
            if not data:
                break
            script += data
        if self.behaviour == "partial_stall":
            channel.sendall(b"the first bytes of an answer, then nothing\n")
            self.stop.wait()
            return
        proc = subprocess.run(["/bin/sh", "-c", command.decode()], input=script, capture_output=True, timeout=60,
                              check=False)
        channel.sendall(proc.stdout)
        channel.sendall_stderr(proc.stderr)
        channel.send_exit_status(proc.returncode)
        channel.close()

    def close(self) -> None:
        self._listener.close()


def rubric_file(directory: Path, key_file: Path, *, port: int, budget: float | None = 4.0,
                address: str = "127.0.0.1") -> Path:
    """A two-check rubric (dpkg, a file) for one SSH host at ``address`` (a template: ``127.0.0.{{ n }}``)."""
    lines = [
        "rubric: hostile",
        'title: "Salle hostile"',
        "variables:",
        '  n: {description: "numéro du poste"}',
        "credentials:",
        f'  correcteur: {{username: grader, key_file: "{key_file}"}}',
        "hosts:",
        "  - name: srv",
        "    role: serveur",
        "    platform: linux",
        f'    address: "{address}"',
        f"    port: {port}",
        "    credential: correcteur",
        "    connect_timeout: 2",
        *([f"    budget: {budget}"] if budget is not None else []),
        "checks:",
        ("  - {id: paquet, check: linux.package_installed, role: serveur, params: {package: openssh-server}, "
         "criterion: CP9.1}"),
        "  - {id: nom, check: linux.file_exists, role: serveur, params: {path: /etc/hostname}, criterion: CP9.1}",
    ]
    path = directory / "bareme.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def room(behaviours: tuple[str, ...]) -> list[HostileSsh]:
    """One endpoint per candidate, 127.0.0.11, .12, ... on one port (the rubric's address is templated)."""
    first = HostileSsh(behaviours[0], address="127.0.0.11")
    return [first] + [HostileSsh(b, address=f"127.0.0.{11 + i}", port=first.port)
                      for i, b in enumerate(behaviours[1:], start=1)]
