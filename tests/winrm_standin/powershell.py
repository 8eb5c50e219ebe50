"""What ``powershell.exe`` does with grader's batch, played from recordings: nothing is executed.

The stand-in reads the command line and stdin exactly as Windows would hand them to
PowerShell: it decodes ``-EncodedCommand`` (UTF-16LE base64), checks that it is a bootstrap
that reads its script from ``$input``, decodes the script from stdin, and then plays the
script's output side from its *source text*: the boundary from ``$B = '...'``, the probes from
the ``Invoke-GraderProbe -Index .. -Key '..' -BudgetMs .. -Code '..'`` calls, the framing from
what ``Write-GraderLine`` writes. This is written from the envelope's documented format,
not by calling grader's parser or builder, so a change on one side that the other does not
follow fails the transport tests.

Windows PowerShell 5.1's runtime facts the stand-in plays, each from the script's text:

* the language mode (``WindowsHost.language``): under ConstrainedLanguage (AppLocker/WDAC) a
  bootstrap that checks ``$ExecutionContext.SessionState.LanguageMode`` writes its ``LANG`` frame
  and exits 4; one that does not dies on its first .NET method call, with PowerShell's own
  message on stderr;
* module imports: the modules listed in ``$script:GraderModules`` are imported after ``START``,
  before the first probe, within ``$script:GraderModuleLeftMs`` (``WindowsHost.module_load``
  seconds each, simulated; ``missing_modules`` fail as Import-Module fails), reported in one
  ``M`` frame; a module *not* imported up front is loaded by PowerShell's autoloading on the
  first probe that names one of its cmdlets, inside that probe's budget;
* the end of the process: the script must ``exit`` after its ``END`` frame; without it, the
  stand-in plays the case the desk review feared (powershell.exe keeps reading its stdin and
  the command stays open until the client signals it).

Each probe's answer comes from the host's recordings, looked up by the probe's exact
command text. Timing is simulated (a recording's ``delay``, capped at the probe's budget);
a record is emitted as ``ConvertTo-Json -Compress`` of Windows PowerShell 5.1 writes it
(``<``, ``>``, ``&`` and ``'`` as ``\\u003c``...), base64 of its UTF-8.
A host loaded from a recording bundle (:meth:`WindowsHost.from_bundle`) answers with the
record a real Windows framed, byte for byte, when the batch gives the probe the same index and
key as the recorded one (else the same record re-encoded with the batch's index and key).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from xml.sax.saxutils import escape

from tests.winrm_standin.recordings import Recording, from_bundle, load

_BOOTSTRAP_SHAPE = re.compile(r"\$B='(GRADER-[0-9a-f]{32})'.*\(@\(\$input\)-join''\).*\[ScriptBlock\]::Create\(\$s\)",
                              re.DOTALL)
_B_IN_SCRIPT = re.compile(r"^\$B = '([^']+)'\r?$", re.MULTILINE)
_CALL = re.compile(r"^Invoke-GraderProbe -Index (\d+) -Key '([A-Za-z0-9_.-]+)' -BudgetMs (\d+) -Code '([A-Za-z0-9+/=]*)'\r?$",
                   re.MULTILINE)
_CAP = re.compile(r"^\$CAP = (\d+)\r?$", re.MULTILINE)
_LANGUAGE_CHECK = re.compile(r"\$ExecutionContext\.SessionState\.LanguageMode.*' LANG '.*exit 4", re.DOTALL)
_MODULES = re.compile(r"^\$script:GraderModules = @\(((?:'[A-Za-z]+'(?:, )?)*)\)\r?$", re.MULTILINE)
_MODULE_MS = re.compile(r"^\$script:GraderModuleLeftMs = (\d+)\r?$", re.MULTILINE)
_EXIT_AFTER_END = re.compile(r"^Write-GraderLine -Line \(\$B \+ ' END'\)\r?\n(?:.*\r?\n)*?exit 0\r?$", re.MULTILINE)
# The cmdlet nouns of the modules whose first import is slow (Microsoft Learn: each module's cmdlet list).
_MODULE_NOUNS = {"DnsServer": "DnsServer", "DhcpServer": "DhcpServer", "ScheduledTasks": "ScheduledTask",
                 "ServerManager": "WindowsFeature", "SmbShare": "SmbShare"}
_CLM_ERROR = ("Cannot invoke method. Method invocation is supported only on core types in this language mode.")


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
    language: str = "FullLanguage"  # $ExecutionContext.SessionState.LanguageMode (ConstrainedLanguage: AppLocker/WDAC)
    module_load: float = 0.0  # seconds a module's first import takes (a fresh profile builds its module cache)
    missing_modules: set[str] = field(default_factory=set)  # modules Import-Module cannot find

    @classmethod
    def from_bundle(cls, path: Path | str, name: str = "") -> WindowsHost:
        """A host that answers each command of a recording bundle (``grader windows record``) as recorded."""
        return cls(name or Path(path).stem, recordings=from_bundle(path))

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
    if host.language != "FullLanguage":
        if _LANGUAGE_CHECK.search(bootstrap):
            run.write(f"{boundary} LANG {host.language}\r\n")
            run.finish(4)
        else:
            run.write(_clixml_error(_CLM_ERROR), "stderr")
            run.finish(1)
        return
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
    modules = re.findall(r"'([A-Za-z]+)'", (_MODULES.search(script) or [None, ""])[1] or "")
    budget = _MODULE_MS.search(script)
    loaded = _import(host, run, boundary, modules, int(budget.group(1)) / 1000) if modules and budget else set()
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
            autoload = 0.0  # PowerShell imports a module on the first use of one of its cmdlets
            for module, noun in _MODULE_NOUNS.items():
                if module not in loaded and re.search(rf"\b[A-Za-z]+-{noun}", probe_command, re.IGNORECASE):
                    loaded.add(module)
                    autoload += host.module_load
            if autoload:
                recording = replace(recording, delay=recording.delay + autoload)
            time.sleep(min(recording.delay, budget_ms / 1000))
            if recording.console:
                run.write(recording.console + "\r\n")
            record = recording.record(index, key, budget_ms / 1000, int(cap.group(1)))
        if recording is not None and recording.raw and recording.verbatim == record:
            payload = recording.raw  # a real Windows's record, same index and key: its very bytes
        else:
            payload = base64.b64encode(ps51_json(record).encode("utf-8")).decode("ascii")
        run.write(f"{boundary} R {index} {payload}\r\n")
    if not run.stopped:
        run.write(f"{boundary} END\r\n")
        if not _EXIT_AFTER_END.search(script):
            while not run.stopped:  # no exit: the shell stays open until the client's Signal
                time.sleep(0.02)
    if host.stderr:
        run.write(host.stderr, "stderr")
    run.finish(host.exit_code if not run.stopped else -1073741510)  # 0xC000013A: ended by Ctrl+C


def _import(host: WindowsHost, run: Run, boundary: str, modules: list[str], budget_s: float) -> set[str]:
    """``Import-GraderModules``: each module in turn within the run's module budget, one ``M`` frame.

    Returns the modules the probes' runspace then holds (none after a timeout: the runtime
    abandons that runspace for a fresh one).
    """
    entries = []
    left = budget_s
    for name in modules:
        if left <= 0:
            entries.append({"name": name, "status": "skipped", "ms": 0, "error": ""})
            continue
        if name in host.missing_modules:
            entries.append({"name": name, "status": "error", "ms": 15,
                            "error": f"The specified module '{name}' was not loaded because no valid module file "
                                     "was found in any module directory."})
            continue
        spent = min(host.module_load, left)
        time.sleep(spent)
        status = "ok" if host.module_load <= left else "timeout"
        left = left - spent if status == "ok" else 0
        entries.append({"name": name, "status": status, "ms": int(spent * 1000), "error": ""})
    report = {"ms": sum(int(e["ms"]) for e in entries), "modules": entries}
    run.write(f"{boundary} M " + base64.b64encode(ps51_json(report).encode("utf-8")).decode("ascii") + "\r\n")
    if any(e["status"] == "timeout" for e in entries):
        return set()
    return {str(e["name"]) for e in entries if e["status"] == "ok"}


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
