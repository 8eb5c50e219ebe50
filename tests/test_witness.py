"""The exam's witness as shipped (issue #14 §6): the program on real loopback sockets, its unit, its install.

The program (``grader/witness/temoin.py``) runs as a subprocess exactly as the unit starts it
(another port, loopback): it echoes the token with the peer address it saw, answers without a
token when nothing comes before its read deadline, closes every connection by its deadline
whatever the peer does, refuses a line too long or that is not a token, and refuses at once
past its connection limit.

``grader witness install`` is tested against a real SSH server on loopback (paramiko's server
side, :mod:`tests.hostile.ssh`) that records what it is asked to run. A real sshd with systemd is
not available outside the lab, so that server runs the install script it received with
``/bin/sh``, its two destination folders moved into a temporary folder and ``systemctl``
replaced by a recording stand-in whose ``restart`` starts the installed program from the
installed unit's port. The command's own test connection then reaches that program.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from grader.witness import SCRIPT, UNIT, install_script, unit_text
from tests.hostile.ssh import HostileSsh

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Witness:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-I", str(SCRIPT), "--bind", "127.0.0.1", "--port", "0", *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        first = self.proc.stderr.readline()
        match = re.search(r":(\d+)$", first.strip())
        assert match, first
        self.port = int(match.group(1))

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return sock

    def exchange(self, data: bytes) -> bytes:
        with self.connect() as sock:
            if data:
                sock.sendall(data)
            return _read_all(sock)

    def close(self) -> str:
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


@pytest.fixture
def witness() -> Iterator[Witness]:
    w = Witness("--read-timeout", "1", "--deadline", "2", "--max-line", "64", "--max-connections", "3")
    yield w
    w.close()


def test_the_witness_echoes_the_token_with_the_source_address_it_saw(witness: Witness) -> None:
    answer = witness.exchange(b"3f9a0c1d2e4b5a69\n").decode()
    host = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname())
    assert answer == f"TEMOIN {host} 127.0.0.1 3f9a0c1d2e4b5a69\n"
    assert witness.exchange(b"tok-1.2:3_x\r\n").decode().endswith(" 127.0.0.1 tok-1.2:3_x\n")  # CRLF, token charset


def test_what_the_checks_parse_from_the_witness_is_the_token_and_the_peer(witness: Witness) -> None:
    from checks.network.reach import Connection

    answer = witness.exchange(b"abcdef0123456789\n").decode()
    seen = Connection(True, 0, answer, "abcdef0123456789").witness()
    assert seen is not None and seen[1:] == ("127.0.0.1", "abcdef0123456789")


def test_nothing_sent_gets_the_answer_without_token_at_the_read_deadline(witness: Witness) -> None:
    start = time.monotonic()
    answer = witness.exchange(b"").decode()
    took = time.monotonic() - start
    assert answer.startswith("TEMOIN ") and answer.split()[2:] == ["127.0.0.1"]
    assert 0.8 < took < 1.8


def test_a_peer_that_trickles_bytes_is_cut_at_the_connection_deadline(witness: Witness) -> None:
    with witness.connect() as sock:
        start = time.monotonic()
        closed = None
        for _ in range(40):  # one byte every 0.1 s, never a line end: the witness must not wait for ever
            try:
                sock.sendall(b"a")
            except OSError:
                closed = time.monotonic() - start
                break
            sock.settimeout(0.1)
            try:
                data = sock.recv(100)
            except TimeoutError:
                continue
            closed = time.monotonic() - start
            break
        assert closed is not None and closed < 2.6, closed
        assert data == b"" or data.startswith(b"TEMOIN ")


def test_a_line_too_long_is_refused_and_never_echoed(witness: Witness) -> None:
    answer = witness.exchange(b"a" * 65 + b"\n")
    assert answer == b"REFUS ligne trop longue\n"
    assert witness.exchange(b"a" * 64 + b"\n").endswith(b" " + b"a" * 64 + b"\n")  # the limit itself is fine


@pytest.mark.parametrize("garbage", [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\xff\xfe\x00\x01\n", b"a b\n",
                                     b"$(reboot)\n", b"\x1b[2J\n"])
def test_garbage_is_refused_and_never_echoed(witness: Witness, garbage: bytes) -> None:
    assert witness.exchange(garbage) == b"REFUS jeton invalide\n"


def test_past_its_connection_limit_the_witness_refuses_at_once_then_serves_again(witness: Witness) -> None:
    held = [witness.connect() for _ in range(3)]
    try:
        time.sleep(0.2)
        start = time.monotonic()
        with witness.connect() as extra:
            assert _read_all(extra) == b"REFUS trop de connexions\n"
        assert time.monotonic() - start < 0.5
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)  # the held connections end (peer closed: their line is empty)
    assert witness.exchange(b"encore\n").endswith(b" encore\n")


def test_the_witness_logs_one_line_per_connection_and_writes_nothing(tmp_path: Path) -> None:
    before = set(os.listdir(tmp_path))
    w = Witness("--read-timeout", "0.5", "--deadline", "1")
    w.exchange(b"jeton\n")
    w.exchange(b"GET /\n")
    err = w.close()
    assert "127.0.0.1 jeton reçu" in err and "127.0.0.1 refus: jeton invalide" in err
    assert set(os.listdir(tmp_path)) == before


def test_the_program_runs_on_old_pythons_it_claims() -> None:
    """The script claims Python >= 3.7 (the install checks it): no syntax newer than that."""
    import ast

    tree = ast.parse(SCRIPT.read_text(encoding="utf-8"), feature_version=(3, 7))
    assert tree is not None


def test_the_unit_is_hardened_bounded_and_restarts() -> None:
    text = UNIT.read_text(encoding="utf-8")
    settings = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    assert settings["DynamicUser"] == "yes" and settings["ProtectSystem"] == "strict"
    assert settings["ProtectHome"] == "yes" and settings["NoNewPrivileges"] == "yes"
    assert settings["MemoryMax"] == "64M" and settings["TasksMax"] == "96" and settings["LimitNOFILE"] == "256"
    assert settings["Restart"] == "always"
    assert "--max-connections 64" in settings["ExecStart"] and "--deadline 5" in settings["ExecStart"]
    assert "Environment=TEMOIN_PORT=8080" in unit_text(8080) and "TEMOIN_PORT=7777" not in unit_text(8080)


def test_the_witness_is_shipped_with_the_package() -> None:
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "witness/*.service" in data["tool"]["setuptools"]["package-data"]["grader"]
    assert SCRIPT.parent == ROOT / "grader" / "witness"


def test_witness_unit_prints_the_unit_and_the_program_path() -> None:
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "witness", "unit", "--port", "8081"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Environment=TEMOIN_PORT=8081" in proc.stdout and "[Service]" in proc.stdout
    assert str(SCRIPT) in proc.stderr


def test_witness_install_help_says_it_is_set_up_before_the_exam_not_grading() -> None:
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "witness", "install", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "COLUMNS": "200", "GRADER_LANG": "fr"})
    assert proc.returncode == 0
    said = " ".join(proc.stdout.split())
    assert "avant l'examen, pas une correction" in said and "Afficher cette aide" in said


# --- grader witness install, against a recording SSH server -----------------------------------------

FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> "{log}"
case "$1" in
  restart)
    port=$(sed -n 's/^Environment=TEMOIN_PORT=//p' "{units}/grader-temoin.service")
    {python} -I "{lib}/temoin.py" --bind 127.0.0.1 --port "$port" </dev/null >/dev/null 2>&1 &
    echo $! > "{pidfile}"
    {restart_extra}
    ;;
  is-active) echo active ;;
esac
"""


class RecordingSsh(HostileSsh):
    """An SSH server that records each exec and runs the install script in a sandbox (see the module docstring)."""

    def __init__(self, sandbox: Path, restart_extra: str = "") -> None:
        super().__init__("honest")
        self.sandbox, self.execs = sandbox, []
        bin_dir = sandbox / "bin"
        bin_dir.mkdir(parents=True)
        (sandbox / "units").mkdir()
        self.log, self.pidfile = sandbox / "systemctl.log", sandbox / "temoin.pid"
        fake = bin_dir / "systemctl"
        fake.write_text(FAKE_SYSTEMCTL.format(log=self.log, units=sandbox / "units", lib=sandbox / "lib",
                                              python=sys.executable, pidfile=self.pidfile,
                                              restart_extra=restart_extra))
        fake.chmod(0o755)

    def answer(self, channel: paramiko.Channel, command: bytes) -> None:
        script = b""
        while True:
            data = channel.recv(65536)
            if not data:
                break
            script += data
        self.execs.append((command.decode(), script.decode()))
        moved = (script.decode().replace("LIB=/usr/local/lib/grader-temoin\n", f"LIB={self.sandbox / 'lib'}\n")
                 .replace("UNITS=/etc/systemd/system\n", f"UNITS={self.sandbox / 'units'}\n"))
        env = {"PATH": f"{self.sandbox / 'bin'}:/usr/bin:/bin", "LANG": "C"}
        proc = subprocess.run(["/bin/sh", "-s"], input=moved.encode(), capture_output=True, timeout=60, check=False,
                              env=env)
        channel.sendall(proc.stdout)
        channel.sendall_stderr(proc.stderr)
        channel.send_exit_status(proc.returncode)
        channel.close()

    def close(self) -> None:
        super().close()
        if self.pidfile.exists():
            try:
                os.kill(int(self.pidfile.read_text().strip()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("key") / "id_rsa"
    paramiko.RSAKey.generate(2048).write_private_key_file(str(path))
    path.chmod(0o600)
    return path


def _install(server: RecordingSsh, key_file: Path, tmp_path: Path, port: int, *extra: str):
    return subprocess.run([sys.executable, "-m", "grader.cli", "witness", "install", "127.0.0.1",
                           "--ssh-port", str(server.port), "--user", "exam", "--key", str(key_file),
                           "--known-hosts", str(tmp_path / "known_hosts"), "--port", str(port), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=90, check=False,
                          env={**os.environ, "COLUMNS": "200", "GRADER_LANG": "fr"})


def test_witness_install_copies_enables_starts_and_tests_the_witness(tmp_path: Path, key_file: Path) -> None:
    server = RecordingSsh(tmp_path / "host")
    port = _free_port()
    try:
        proc = _install(server, key_file, tmp_path, port, "--sudo")
    finally:
        server.close()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (command, script), = server.execs
    assert command == "exec /usr/bin/sudo -n -- /bin/sh -s"
    assert script == install_script(port)
    installed = tmp_path / "host" / "lib" / "temoin.py"
    assert installed.read_text(encoding="utf-8") == SCRIPT.read_text(encoding="utf-8")
    assert (tmp_path / "host" / "units" / "grader-temoin.service").read_text(encoding="utf-8") == unit_text(port)
    assert server.log.read_text().splitlines() == ["daemon-reload", "enable grader-temoin.service",
                                                   "restart grader-temoin.service",
                                                   "is-active grader-temoin.service"]
    for step in ("droits", "python3", "systemd", "copie-programme", "controle", "unite", "activation", "demarrage",
                 "actif"):
        assert f"✓ {step}" in proc.stdout, step
    test_line = next(line for line in proc.stdout.splitlines() if "test — jeton" in line)
    token = re.search(r"jeton ([0-9a-f]{16})", test_line).group(1)
    assert "réponse « TEMOIN " in test_line and f"127.0.0.1 {token} »" in test_line
    assert f"127.0.0.1:{port}" in test_line
    assert "127.0.0.1" in (tmp_path / "known_hosts").read_text()  # the host key was pinned in the room's file


def test_witness_install_without_sudo_runs_the_shell_itself(tmp_path: Path, key_file: Path) -> None:
    server = RecordingSsh(tmp_path / "host")
    try:
        proc = _install(server, key_file, tmp_path, _free_port())
    finally:
        server.close()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert server.execs[0][0] == "exec /bin/sh -s"


def test_a_failing_step_stops_the_install_and_is_named_with_exit_1(tmp_path: Path, key_file: Path) -> None:
    server = RecordingSsh(tmp_path / "host", restart_extra='echo "Job failed: port in use" >&2; exit 1')
    try:
        proc = _install(server, key_file, tmp_path, _free_port())
    finally:
        server.close()
    assert proc.returncode == 1
    assert "✗ demarrage (code 1)" in proc.stdout and "Job failed: port in use" in proc.stdout
    assert "étape « demarrage »" in proc.stderr
    assert "is-active grader-temoin.service" not in server.log.read_text()
    assert "test — jeton" not in proc.stdout


def test_a_witness_that_does_not_answer_after_install_is_said_with_exit_1(tmp_path: Path, key_file: Path) -> None:
    server = RecordingSsh(tmp_path / "host", restart_extra='kill $!')  # started, then gone at once
    try:
        proc = _install(server, key_file, tmp_path, _free_port())
    finally:
        server.close()
    assert proc.returncode == 1, proc.stdout
    assert "test — jeton" in proc.stderr and "pare-feu" in proc.stderr


def test_a_changed_host_key_refuses_the_install(tmp_path: Path, key_file: Path) -> None:
    other = paramiko.RSAKey.generate(2048)
    server = RecordingSsh(tmp_path / "host")
    known = tmp_path / "known_hosts"
    try:
        known.write_text(f"[127.0.0.1]:{server.port} ssh-rsa {other.get_base64()}\n")
        proc = _install(server, key_file, tmp_path, _free_port())
    finally:
        server.close()
    assert proc.returncode == 1
    assert "a changé" in proc.stderr and server.execs == []
