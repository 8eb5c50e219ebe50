"""The exam's witness (« témoin ») as shipped: its program, its systemd unit, installing it over SSH.

The network checks (:mod:`checks.network.reach`, :mod:`checks.network.vpn`) prove a NAT, a port
forward or a VPN from the far side: a witness on the exam's WAN (or LAN) server answers each
connection with the source address it saw and the token it received. :mod:`grader.witness.temoin`
is that witness as one stdlib-only Python file (Python ≥ 3.7 on the server), run by
``grader-temoin.service`` (an ephemeral user, nothing writable, bounded memory and tasks).

Installing it is a task of the exam centre before the exam, never part of grading:
:func:`install` logs in over SSH (the grader's own SSH code: pinned host keys, timeouts),
runs :func:`install_script` with ``/bin/sh`` (as root, or through ``sudo -n``), then makes one
test connection with a fresh token from the grader's machine (:func:`verify`) and records the
answer. Each step of the script prints ``@etape <name> <code>``: the report says which one failed.
"""

from __future__ import annotations

import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from grader.witness.temoin import DEFAULT_PORT

if TYPE_CHECKING:
    from grader.credentials import SshSecret
    from grader.transports.ssh import KnownHosts

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "temoin.py"
UNIT = HERE / "grader-temoin.service"
UNIT_NAME = "grader-temoin.service"
REMOTE_DIR = "/usr/local/lib/grader-temoin"
UNITS_DIR = "/etc/systemd/system"
_EOF = "GRADER_TEMOIN_FIN_DU_FICHIER"
_PORT_LINE = re.compile(r"^Environment=TEMOIN_PORT=\d+$", re.MULTILINE)


def unit_text(port: int = DEFAULT_PORT) -> str:
    """The unit file, listening on ``port``."""
    return _PORT_LINE.sub(f"Environment=TEMOIN_PORT={int(port)}", UNIT.read_text(encoding="utf-8"), count=1)


def install_script(port: int = DEFAULT_PORT) -> str:
    """The shell script that installs, enables and (re)starts the witness on a server (run as root)."""
    script, unit = SCRIPT.read_text(encoding="utf-8"), unit_text(port)
    if _EOF in script or _EOF in unit:  # pragma: no cover - a guard on the shipped files
        raise AssertionError("heredoc delimiter inside a shipped file")
    return f"""set -u
LIB={REMOTE_DIR}
UNITS={UNITS_DIR}
etape() {{ echo "@etape $1 $2"; [ "$2" -eq 0 ] || exit 3; }}
run() {{ name=$1; shift; out=$("$@" 2>&1); rc=$?; [ -z "$out" ] || printf '%s\\n' "$out" | sed 's/^/  /'; etape "$name" "$rc"; }}
[ -w "$UNITS" ]; etape droits $?
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 7))'; etape python3 $?
command -v systemctl >/dev/null 2>&1; etape systemd $?
run dossier mkdir -p "$LIB"
cat > "$LIB/temoin.py.new" <<'{_EOF}'
{script.rstrip(chr(10))}
{_EOF}
etape copie-programme $?
run programme sh -c 'chmod 0644 "$1.new" && mv -f "$1.new" "$1"' _ "$LIB/temoin.py"
run controle /usr/bin/python3 -I "$LIB/temoin.py" --version
cat > "$UNITS/{UNIT_NAME}.new" <<'{_EOF}'
{unit.rstrip(chr(10))}
{_EOF}
etape copie-unite $?
run unite sh -c 'chmod 0644 "$1.new" && mv -f "$1.new" "$1"' _ "$UNITS/{UNIT_NAME}"
run rechargement systemctl daemon-reload
run activation systemctl enable {UNIT_NAME}
run demarrage systemctl restart {UNIT_NAME}
sleep 1
run actif systemctl is-active {UNIT_NAME}
"""


def remote_command(sudo: bool) -> str:
    """The command the install script is fed to (on stdin)."""
    return "exec /usr/bin/sudo -n -- /bin/sh -s" if sudo else "exec /bin/sh -s"


@dataclass(frozen=True)
class Answer:
    """What one test connection to a witness got."""

    address: str
    port: int
    token: str
    line: str = ""  # the witness's answer line
    error: str = ""  # why there is none

    @property
    def ok(self) -> bool:
        parts = self.line.split()
        return len(parts) == 4 and parts[0] == "TEMOIN" and parts[3] == self.token

    @property
    def seen(self) -> tuple[str, str] | None:
        """(witness hostname, source address it saw) when the answer is right."""
        parts = self.line.split()
        return (parts[1], parts[2]) if self.ok else None


def ask(address: str, port: int, token: str | None = None, timeout: float = 3.0) -> Answer:
    """One connection to the witness at ``address:port`` carrying ``token`` (a fresh one by default)."""
    token = token or secrets.token_hex(8)
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(token.encode() + b"\n")
            data = b""
            while b"\n" not in data and len(data) < 512:
                chunk = sock.recv(512)
                if not chunk:
                    break
                data += chunk
    except OSError as exc:
        return Answer(address, port, token, error=str(exc.strerror or exc))
    return Answer(address, port, token, line=data.decode("utf-8", errors="replace").split("\n", 1)[0].strip())


def verify(address: str, port: int, *, within: float = 6.0, timeout: float = 3.0) -> Answer:
    """:func:`ask` until the witness answers right, for at most ``within`` seconds (it may be starting)."""
    end = time.monotonic() + within
    while True:
        got = ask(address, port, timeout=timeout)
        if got.ok or time.monotonic() + 0.5 > end:
            return got
        time.sleep(0.5)


@dataclass(frozen=True)
class Step:
    name: str
    code: int
    output: tuple[str, ...] = ()  # what it printed


@dataclass
class Installed:
    """What installing on one server did: its steps (code, what each printed), the test connection."""

    host: str
    steps: list[Step] = field(default_factory=list)
    output: list[str] = field(default_factory=list)  # what no step claims: the script's stderr, a stray line
    status: int | None = None
    answer: Answer | None = None

    @property
    def failed_step(self) -> str | None:
        return next((step.name for step in self.steps if step.code != 0), None)

    @property
    def ok(self) -> bool:
        return self.status == 0 and self.failed_step is None and self.answer is not None and self.answer.ok


#: How a command runs on the server: (command, stdin) -> (exit status, stdout, stderr).
Runner = Callable[[str, str], tuple[int, str, str]]


def parse_steps(stdout: str, into: Installed) -> None:
    """The ``@etape <name> <code>`` lines, each with the lines printed just before it (its command's output)."""
    pending: list[str] = []
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "@etape" and parts[2].lstrip("-").isdigit():
            into.steps.append(Step(parts[1], int(parts[2]), tuple(pending)))
            pending = []
        elif line.strip():
            pending.append(line.strip())
    into.output += pending


def install_with(run: Runner, host: str, *, port: int = DEFAULT_PORT, sudo: bool = False,
                 verify_address: str | None = None) -> Installed:
    """Run the install script through ``run``, then one test connection to ``verify_address:port``."""
    done = Installed(host)
    status, stdout, stderr = run(remote_command(sudo), install_script(port))
    done.status = status
    parse_steps(stdout, done)
    if stderr.strip():
        done.output += [line.strip() for line in stderr.splitlines() if line.strip()][:20]
    if status == 0 and done.failed_step is None:
        done.answer = verify(verify_address or host, port)
    return done


def ssh_runner(address: str, ssh_port: int, secret: SshSecret, known_hosts: KnownHosts,
               timeout: float = 120.0) -> Runner:
    """A :data:`Runner` over SSH: one session, one exec, the script on stdin, host key checked against the room's."""
    from grader.errors import TransportError
    from grader.model import Msg
    from grader.transports.ssh import SshTarget, open_transport

    def run(command: str, stdin: str) -> tuple[int, str, str]:
        import paramiko

        target = SshTarget(address, ssh_port, exec_timeout=timeout)
        transport, _key, _note = open_transport(target, secret, known_hosts)
        try:
            channel = transport.open_session(timeout=target.auth_timeout)
            channel.settimeout(timeout)
            channel.exec_command(command)
            channel.sendall(stdin.encode())
            channel.shutdown_write()
            out = b""
            while len(out) < 1024 * 1024:
                chunk = channel.recv(65536)
                if not chunk:
                    break
                out += chunk
            err = b""
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
            status = channel.recv_exit_status() if channel.status_event.wait(timeout=10) else -1
            return status, out.decode("utf-8", errors="replace"), err.decode("utf-8", errors="replace")
        except (TimeoutError, paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(Msg("la session SSH avec {address} a été coupée pendant l'exécution ({error})",
                                     address=address, error=str(exc))) from exc
        finally:
            transport.close()

    return run
