"""What ``powershell.exe`` does with grader's batch, played from recordings: nothing is executed.

The stand-in reads the command line and stdin exactly as Windows would hand them to
PowerShell: it decodes ``-EncodedCommand`` (UTF-16LE base64), checks that it is a bootstrap
that reads its script from ``$input``, decodes the script from stdin, and then plays the
script's output side from its *source text*: the boundary from ``$B = '...'``, the probes from
the ``Invoke-GraderProbe -Index .. -Key '..' -BudgetMs .. -Code '..'`` calls, the framing from
what ``Write-GraderLine`` writes. This is written from the envelope's documented format,
not by calling grader's parser or builder, so a change on one side that the other does not
follow fails the transport tests.

Each probe's answer comes from the host's recordings, looked up by the probe's exact
command text. Timing is simulated (a recording's ``delay``, capped at the probe's budget);
a record is emitted as ``ConvertTo-Json -Compress`` of Windows PowerShell 5.1 writes it
(``<``, ``>``, ``&`` and ``'`` as ``\\u003c``...), base64 of its UTF-8.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from tests.winrm_standin.recordings import Recording, load

_BOOTSTRAP_SHAPE = re.compile(r"\$B='(GRADER-[0-9a-f]{32})'.*\(@\(\$input\)-join''\).*\[ScriptBlock\]::Create\(\$s\)",
                              re.DOTALL)
_B_IN_SCRIPT = re.compile(r"^\$B = '([^']+)'\r?$", re.MULTILINE)
_CALL = re.compile(r"^Invoke-GraderProbe -Index (\d+) -Key '([A-Za-z0-9_.-]+)' -BudgetMs (\d+) -Code '([A-Za-z0-9+/=]*)'\r?$",
                   re.MULTILINE)
_CAP = re.compile(r"^\$CAP = (\d+)\r?$", re.MULTILINE)


@dataclass
class WindowsHost:
    """A Windows machine as the stand-in plays it: recordings per probe command, and process-level facts."""

    name: str = "srv-win"
    recordings: dict[str, Recording] = field(default_factory=dict)
    stderr: str = ""  # what powershell.exe writes on stderr (CLIXML), CRLF
    before_start: str = ""  # console text before the script's first frame (a noisy module, a banner)
    exit_code: int = 0
    crash: str = ""  # powershell.exe fails before running anything: this CLIXML on stderr, exit code 1
    startup: float = 0.0  # seconds powershell.exe takes to start (simulated, before any output)
    unknown: list[str] = field(default_factory=list)  # probe commands asked for but not recorded

    def answer(self, command: str, recording: str | Recording) -> WindowsHost:
        self.recordings[command] = load(recording) if isinstance(recording, str) else recording
        return self


@dataclass
class Run:
    """One powershell.exe process: output chunks appear as the script progresses."""

    stdout: list[bytes] = field(default_factory=list)
    stderr: list[bytes] = field(default_factory=list)
    done: bool = False
    exit_code: int = 0
    stopped: bool = False
    cond: threading.Condition = field(default_factory=threading.Condition)
    scripts: list[str] = field(default_factory=list)

    def write(self, data: str, stream: str = "stdout") -> None:
        with self.cond:
            (self.stdout if stream == "stdout" else self.stderr).append(data.encode("utf-8"))
            self.cond.notify_all()

    def finish(self, code: int) -> None:
        with self.cond:
            self.done, self.exit_code = True, code
            self.cond.notify_all()


def ps51_json(value: object) -> str:
    """``ConvertTo-Json -Compress`` as Windows PowerShell 5.1 escapes strings (JavaScriptSerializer)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027")):
        text = text.replace(char, code)
    return text


def start(host: WindowsHost, command: str, arguments: list[str], stdin: bytes,
          log: Callable[[str], None]) -> Run:
    """Start playing ``command arguments`` with ``stdin`` (already complete) in a thread."""
    run = Run()
    threading.Thread(target=_play, args=(host, run, command, arguments, stdin, log), daemon=True,
                     name="standin-powershell").start()
    return run


def _play(host: WindowsHost, run: Run, command: str, arguments: list[str], stdin: bytes,
          log: Callable[[str], None]) -> None:
    time.sleep(host.startup)
    if command.lower() not in ("powershell.exe", "powershell"):
        run.write(f"'{command}' is not recognized as an internal or external command,\r\n"
                  "operable program or batch file.\r\n", "stderr")
        run.finish(1)
        return
    lowered = [a.lower() for a in arguments]
    if "-encodedcommand" not in lowered:
        run.write("#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">"
                  "<S S=\"Error\">stand-in: only -EncodedCommand is played_x000D__x000A_</S></Objs>", "stderr")
        run.finish(1)
        return
    bootstrap = base64.b64decode(arguments[lowered.index("-encodedcommand") + 1]).decode("utf-16-le")
    m = _BOOTSTRAP_SHAPE.search(bootstrap)
    if not m:
        _play_single(host, run, bootstrap, log)
        return
    boundary = m.group(1)
    try:
        script = base64.b64decode(b"".join(stdin.split())).decode("utf-8")
    except ValueError as exc:
        run.write(f"{boundary} FATAL " + base64.b64encode(str(exc).encode()).decode() + "\r\n")
        run.finish(3)
        return
    run.scripts.append(script)
    if host.crash:
        run.write(host.crash, "stderr")
        run.finish(1)
        return
    b = _B_IN_SCRIPT.search(script)
    cap = _CAP.search(script)
    if not b or b.group(1) != boundary or not cap:
        run.write(_clixml_error("stand-in: the script does not define the bootstrap's boundary"), "stderr")
        run.finish(1)
        return
    if host.before_start:
        run.write(host.before_start)
    run.write(f"{boundary} START\r\n")
    for call in _CALL.finditer(script):
        if run.stopped:
            break
        index, key, budget_ms, code = int(call.group(1)), call.group(2), int(call.group(3)), call.group(4)
        probe_command = base64.b64decode(code).decode("utf-8")
        recording = host.recordings.get(probe_command)
        if recording is None:
            host.unknown.append(probe_command)
            log(f"no recording for: {probe_command}")
            record: dict[str, object] = {
                "i": index, "k": key, "status": "fault", "out": "", "trunc": False, "ms": 0,
                "errors": [{"type": "System.NotImplementedException", "id": "", "category": "",
                            "message": "stand-in: no recording for this command", "target": ""}],
            }
        else:
            time.sleep(min(recording.delay, budget_ms / 1000))
            if recording.console:
                run.write(recording.console + "\r\n")
            record = recording.record(index, key, budget_ms / 1000, int(cap.group(1)))
        payload = base64.b64encode(ps51_json(record).encode("utf-8")).decode("ascii")
        run.write(f"{boundary} R {index} {payload}\r\n")
    if not run.stopped:
        run.write(f"{boundary} END\r\n")
    if host.stderr:
        run.write(host.stderr, "stderr")
    run.finish(host.exit_code if not run.stopped else -1073741510)  # 0xC000013A: ended by Ctrl+C


def _play_single(host: WindowsHost, run: Run, command: str, log: Callable[[str], None]) -> None:
    """A plain ``powershell -EncodedCommand <one probe>`` (pywinrm's ``run_ps``): the recording, unframed.

    Output as PowerShell's console host writes a string (then a line break); a terminating
    error as CLIXML on stderr with exit code 1. Used to compare with one ``run_ps`` per check.
    """
    recording = host.recordings.get(command)
    if recording is None:
        host.unknown.append(command)
        log(f"no recording for: {command}")
        run.write(_clixml_error(f"The term is not recognized: {command[:60]}"), "stderr")
        run.finish(1)
        return
    time.sleep(recording.delay)
    if recording.output:
        run.write(recording.output + "\r\n")
    if recording.errors:
        run.write(_clixml_error(str(recording.errors[0].get("message", ""))), "stderr")
    run.finish(1 if recording.status == "error" else 0)


def _clixml_error(message: str) -> str:
    return ("#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">"
            f"<S S=\"Error\">{escape(message)}_x000D__x000A_</S></Objs>")
