"""An SSH server (paramiko's server side) hosting emulated network devices, on a real socket.

Two device kinds, driven exactly as the real ones are over an interactive PTY session:

* :class:`IosDevice`: an IOS exec. Banner (motd), ``NAME>`` prompt, ``enable`` with a secret
  (``NAME#``), ``terminal length 0``; without it, output is paged (`` --More-- ``: space =
  next page, Enter = one line, any other key aborts, as IOS does); unknown input answers
  ``% Invalid input detected at '^' marker.`` with the caret under the offending word.
  Typed input is echoed when the exec reads it, at its prompt (IOS keeps typeahead until
  then). A command in ``hangs`` never ends until the break sequence (Ctrl-^ x) or Ctrl-C.
* :class:`PfSenseDevice`: pfSense's console menu (``/etc/rc.initial``'s text, menu option
  8 = shell), then a tcsh-like shell with pfSense's prompt; the terminal echoes typed input
  as soon as it arrives (a cooked tty), ``cat`` prints files, ``echo`` joins its words after
  quote removal, unknown commands answer ``x: Command not found.``, Ctrl-C interrupts.

The server counts what the tests assert: TCP connections, SSH sessions, shells, and every
line typed into each device.
"""

from __future__ import annotations

import queue
import shlex
import socket
import threading
import time
from dataclasses import dataclass, field

import paramiko

_HOST_KEY: list[paramiko.PKey] = []


def host_key() -> paramiko.PKey:
    if not _HOST_KEY:
        _HOST_KEY.append(paramiko.RSAKey.generate(2048))
    return _HOST_KEY[0]


class Closed(Exception):
    """The client went away."""


class Terminal:
    """The server end of the PTY: bytes in, bytes out (CRLF on output, as a tty's onlcr does)."""

    def __init__(self, channel: paramiko.Channel, typed: list[str], kernel_echo: bool):
        self.channel = channel
        self.typed = typed
        self.kernel_echo = kernel_echo
        self.pending = b""
        self.lines: queue.Queue[str] = queue.Queue()
        self.interrupt = threading.Event()
        self.closed = threading.Event()
        if kernel_echo:  # a cooked tty: input is echoed and queued as it arrives
            threading.Thread(target=self._cooked, daemon=True).start()

    def write(self, text: str) -> None:
        if self.closed.is_set():
            raise Closed
        try:
            self.channel.sendall(text.replace("\r\n", "\n").replace("\n", "\r\n").encode())
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise Closed from exc

    def getc(self, timeout: float | None = None) -> str:
        """One typed character (raw reads, for the IOS line editor and pager)."""
        while not self.pending:
            self.channel.settimeout(timeout)
            try:
                data = self.channel.recv(1024)
            except TimeoutError:
                return ""
            except (OSError, EOFError):
                raise Closed from None
            if not data:
                self.closed.set()
                raise Closed
            self.pending += data
        ch, self.pending = self.pending[:1], self.pending[1:]
        return ch.decode("latin-1")

    def wait_input(self, timeout: float) -> bool:
        """Wait until the client has typed something (without reading it), at most ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self.pending and not self.channel.recv_ready() and time.monotonic() < deadline:
            time.sleep(0.01)
        return bool(self.pending) or self.channel.recv_ready()

    def readline(self, echo: bool = True) -> str:
        """IOS line editor: echo while reading, Enter ends the line."""
        line = ""
        while True:
            ch = self.getc()
            if ch in ("\r", "\n"):
                if ch == "\r" and self.pending.startswith(b"\n"):
                    self.pending = self.pending[1:]
                self.write("\n")
                self.typed.append(line)
                return line
            if ch in ("\x7f", "\x08"):
                if line:
                    line = line[:-1]
                    if echo:
                        self.write("\x08 \x08")
                continue
            if ch in ("\x03", "\x1e"):
                continue
            line += ch
            if echo:
                self.write(ch)

    # -- cooked tty (pfSense) --------------------------------------------------------------

    def _cooked(self) -> None:
        """A tty's line discipline: each chunk received is echoed whole before its lines are read."""
        line = ""
        try:
            while True:
                first = self.getc()
                chunk, self.pending = first + self.pending.decode("latin-1"), b""
                echo, done = "", []
                for ch in chunk:
                    if ch == "\x03":
                        line, done = "", []
                        echo += "^C\n"
                        while not self.lines.empty():  # ISIG flushes the input queue
                            self.lines.get_nowait()
                        self.interrupt.set()
                    elif ch in ("\r", "\n"):
                        echo += "\n"
                        done.append(line)
                        line = ""
                    else:
                        line += ch
                        echo += ch
                self.write(echo)
                for typed in done:
                    self.typed.append(typed)
                    self.lines.put(typed)
        except Closed:
            self.closed.set()
            self.lines.put("\x04")

    def cooked_line(self) -> str:
        line = self.lines.get()
        if line == "\x04":
            raise Closed
        return line


@dataclass
class IosDevice:
    hostname: str = "SW1"
    username: str = "grader"
    password: str = "Lecture-1"
    enable_secret: str | None = "Enable-1"
    banner: str = ""
    outputs: dict[str, str] = field(default_factory=dict)  # user and privileged mode
    privileged: dict[str, str] = field(default_factory=dict)  # privileged mode only
    hangs: set[str] = field(default_factory=set)
    honours_terminal_length: bool = True
    page_lines: int = 24
    start_privileged: bool = False
    #: An output line at which the device stalls before its line end, until the client types
    #: something (at most 3 s): a forged prompt the client sees last must not end the command.
    stall_on: str | None = None
    typed_ahead: int = 0  # stalls during which the client typed (it took the stall for a prompt)
    kernel_echo = False

    def serve(self, term: Terminal) -> None:
        level = "#" if self.start_privileged else ">"
        length = self.page_lines
        if self.banner:
            term.write("\n" + self.banner.rstrip("\n") + "\n")
        term.write("\n")
        while True:
            prompt = self.hostname + level
            term.write(prompt)
            line = term.readline()
            words = line.split()
            if not words:
                continue
            cmd = " ".join(words)
            if cmd in ("exit", "logout", "quit"):
                return
            if cmd == "enable":
                if level == "#":
                    continue
                term.write("Password: ")
                secret = term.readline(echo=False)
                if self.enable_secret is not None and secret == self.enable_secret:
                    level = "#"
                else:
                    term.write("% Access denied\n\n")
                continue
            if cmd == "disable":
                level = ">"
                continue
            if words[:2] == ["terminal", "length"] and len(words) == 3 and words[2].isdigit():
                if self.honours_terminal_length:
                    length = int(words[2])
                continue
            if words[:2] == ["terminal", "width"] and len(words) == 3:
                continue
            if cmd in self.hangs:
                self._hang(term)
                continue
            text = self.outputs.get(cmd)
            if text is None and level == "#":
                text = self.privileged.get(cmd)
            if text is None:
                self._invalid(term, prompt, line, words)
                continue
            self._page(term, text, length)

    @staticmethod
    def _invalid(term: Terminal, prompt: str, line: str, words: list[str]) -> None:
        if len(words) == 1:
            term.write("% Unknown command or computer name, or unable to find computer address\n")
            return
        known = 1 if words[0] in ("show", "terminal", "ping") else 0
        column = line.find(words[known]) if known < len(words) else len(line)
        term.write(" " * (len(prompt) + max(column, 0)) + "^\n% Invalid input detected at '^' marker.\n\n")

    def _page(self, term: Terminal, text: str, length: int) -> None:
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        shown, budget = 0, (length - 1 if length else len(lines) + 1)
        for line in lines:
            if length and shown >= budget:
                more = " --More-- "
                term.write(more)
                key = term.getc()
                term.write("\x08" * len(more) + " " * len(more) + "\x08" * len(more))
                if key == " ":
                    budget = shown + length - 1
                elif key in ("\r", "\n"):
                    budget = shown + 1
                else:
                    return  # any other key aborts the output, as IOS does
            if self.stall_on is not None and line == self.stall_on:
                term.write(line)
                if term.wait_input(3.0):  # until the client reacts to what looks like a prompt
                    self.typed_ahead += 1
                line = ""
            term.write(line + "\n")
            shown += 1  # noqa: SIM113 - counts lines shown, pages included

    @staticmethod
    def _hang(term: Terminal) -> None:
        while True:  # never returns on its own: only the break sequence or Ctrl-C
            ch = term.getc()
            if ch == "\x03":
                break
            if ch == "\x1e":
                if term.pending.startswith(b"x"):
                    term.pending = term.pending[1:]
                break
        term.write("\n")


PFSENSE_MENU = """
 0) Logout (SSH only)                  9) pfTop
 1) Assign Interfaces                 10) Filter Logs
 2) Set interface(s) IP address       11) Restart webConfigurator
 3) Reset webConfigurator password    12) PHP shell + pfSense tools
 4) Reset to factory defaults         13) Update from console
 5) Reboot system                     14) Disable Secure Shell (sshd)
 6) Halt system                       15) Restore recent configuration
 7) Ping host                         16) Restart PHP-FPM
 8) Shell

"""


@dataclass
class PfSenseDevice:
    """pfSense's console menu and shell (menu text from pfSense's src/etc/rc.initial, Apache-2.0)."""

    hostname: str = "pfSense.home.arpa"
    username: str = "admin"
    password: str = "pfsense"
    version: str = "2.7.2-RELEASE"
    files: dict[str, str] = field(default_factory=dict)
    hangs: set[str] = field(default_factory=set)
    stall_on: str | None = None  # as IosDevice.stall_on, for the lines of a printed file
    #: The shell discards what was typed before it started (as a tty set up with TCSAFLUSH).
    flushes_typeahead: bool = False
    kernel_echo = True

    @property
    def prompt(self) -> str:
        return f"[{self.version}][{self.username}@{self.hostname}]/root: "

    def serve(self, term: Terminal) -> None:
        while True:
            term.write(f"*** Welcome to pfSense {self.version} (amd64) on {self.hostname.split('.')[0]} ***\n\n"
                       " WAN (wan)       -> vtnet0     -> v4/DHCP4: 192.0.2.10/24\n"
                       " LAN (lan)       -> vtnet1     -> v4: 192.168.1.1/24\n")
            term.write(PFSENSE_MENU + "Enter an option: ")
            choice = term.cooked_line().strip()
            term.write("\n")
            if choice == "0":
                return
            if choice == "8":
                self._shell(term)

    def _shell(self, term: Terminal) -> None:
        if self.flushes_typeahead:
            time.sleep(0.2)
            while not term.lines.empty():
                term.lines.get_nowait()
        while True:
            term.interrupt.clear()
            term.write(self.prompt)
            line = term.cooked_line()
            try:
                words = shlex.split(line)
            except ValueError:
                term.write("Unmatched '\"'.\n")
                continue
            if not words:
                continue
            if words[0] == "exit":
                return
            if line.strip() in self.hangs:
                term.interrupt.wait()
                continue
            if words[0] == "echo":
                term.write(" ".join(words[1:]) + "\n")
            elif words[0] in ("cat", "/bin/cat"):
                for path in words[1:]:
                    if path in self.files:
                        self._print(term, self.files[path])
                    else:
                        term.write(f"cat: {path}: No such file or directory\n")
            else:
                term.write(f"{words[0]}: Command not found.\n")


    def _print(self, term: Terminal, text: str) -> None:
        if self.stall_on is None or self.stall_on not in text:
            term.write(text)
            return
        head, _, tail = text.partition(self.stall_on)
        term.write(head + self.stall_on)
        time.sleep(0.4)
        term.write(tail)


class _Server(paramiko.ServerInterface):
    def __init__(self, standin: Standin, device: IosDevice | PfSenseDevice):
        self.standin = standin
        self.device = device
        self.shell = threading.Event()

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        ok = username == self.device.username and password == self.device.password
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            self.standin.count("sessions")
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_pty_request(self, *args: object) -> bool:
        self.standin.count("ptys")
        return True

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        self.standin.count("shells")
        self.shell.set()
        return True

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        self.standin.count("execs")
        return False


class Standin:
    """Serves one device on 127.0.0.1:<port>; counts connections, sessions and typed lines."""

    def __init__(self, device: IosDevice | PfSenseDevice):
        self.device = device
        self.counts: dict[str, int] = {"connections": 0, "sessions": 0, "ptys": 0, "shells": 0, "execs": 0}
        self.typed: list[str] = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.port = self._sock.getsockname()[1]
        self._transports: list[paramiko.Transport] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.count("connections")
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        transport = paramiko.Transport(conn)
        self._transports.append(transport)
        transport.add_server_key(host_key())
        server = _Server(self, self.device)
        try:
            transport.start_server(server=server)
        except (paramiko.SSHException, EOFError, OSError):
            return
        channel = transport.accept(timeout=10)
        if channel is None or not server.shell.wait(timeout=10):
            transport.close()
            return
        term = Terminal(channel, self.typed, self.device.kernel_echo)
        try:
            self.device.serve(term)
        except Closed:
            pass
        finally:
            try:
                channel.close()
            finally:
                transport.close()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        for t in self._transports:
            t.close()

    def __enter__(self) -> Standin:  # noqa: PYI034 - a test helper, never subclassed
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
