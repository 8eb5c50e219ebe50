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
from dataclasses import dataclass, field

import paramiko

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


@dataclass
class HostileSsh:
    """One listening endpoint with one behaviour (see the module docstring)."""

    behaviour: str
    address: str = "127.0.0.1"
    port: int = 0
    connections: int = 0
    key: paramiko.PKey | None = None  # its host key (default: one shared by every endpoint of the test session)
    stop: threading.Event = field(default_factory=threading.Event)
    _sock: socket.socket | None = None
    _open: list[object] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.behaviour not in BEHAVIOURS:
            raise ValueError(self.behaviour)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((self.address, self.port))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self._sock is not None
        while not self.stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(conn)
            if self.behaviour == "no_banner":
                continue  # keep the socket open, say nothing
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.key or _host_key())
            self._open.append(transport)
            try:
                transport.start_server(server=_Interface(self))
            except (paramiko.SSHException, EOFError, OSError):
                continue

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
        self.stop.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):  # wakes the accepting thread: a closed fd alone keeps listening
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
        for thing in self._open:
            with contextlib.suppress(Exception):  # closing what a test left open, whatever its state
                thing.close()  # type: ignore[attr-defined]
