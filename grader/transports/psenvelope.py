"""The PowerShell batch envelope: every probe of a Windows host in one ``powershell.exe`` run.

The WinRM counterpart of :mod:`grader.transports.envelope` (read that one first). One shell,
one command per host::

    powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand <bootstrap, UTF-16LE base64>
    stdin: <the script, UTF-8, base64>  (ASCII only: no console code page can alter it)

``-ExecutionPolicy Bypass`` applies to this process only: the modules the probes load
(ScheduledTasks, DhcpServer...) carry ``.ps1xml`` files that the ``Restricted`` default of a
client Windows would refuse; a policy enforced by GPO (MachinePolicy) still wins, and then
the probes fail as ``erreur`` with PowerShell's own message.

Why the script travels on stdin: a Windows command line is at most 32,767 characters and
``-EncodedCommand`` costs 2.7 characters per script character, so 30 probes (about 12,000
characters) would not fit. The *bootstrap* is small and fixed; it reads stdin (``$input``,
as Ansible's WinRM bootstrap does), decodes it and runs it. It also carries the boundary, so
that even a bootstrap failure is reported in a frame. Before anything else it reads
``$ExecutionContext.SessionState.LanguageMode``: under AppLocker/WDAC PowerShell runs in
``ConstrainedLanguage``, where the bootstrap's first .NET method call would fail with a message
that names no cause; the bootstrap then writes ``<B> LANG <mode>`` (a property, a string and
``exit`` are all that mode needs) and exits 4, and the transport says so.

The script runs in Windows PowerShell 5.1, whose runtime has its own rules:

* the probes' runspace is made from ``InitialSessionState::CreateDefault()`` (a bare
  ``CreateRunspace()`` is 5.1's legacy runspace) in the same process; a runspace never takes
  the batch's preferences, so each probe's script starts with ``$ErrorActionPreference =
  'Continue'`` (a non-terminating error stays one: ``exit_code`` 2 below; probes ask for
  ``-ErrorAction Stop`` on the cmdlet that decides) and ``$ProgressPreference =
  'SilentlyContinue'``, on the probe's first line so that its line numbers are kept;
* each probe runs with ``AddScript(text, useLocalScope=$true)``: its variables live in its own
  scope and do not leak into the next probe (a 5.1 ``AddScript(text)`` shares the global scope);
* the modules the probes name cmdlets of (:data:`MODULES`, :func:`modules_for`) are imported
  once, after ``START`` and before the first probe, outside every probe's budget, each with
  ``Import-Module -ErrorAction Stop`` inside the overall :data:`MODULE_BUDGET` (a fresh
  profile's first session builds its module cache and can pass 20 s). A module that is missing
  or fails is not fatal (the probes that need it fail with PowerShell's own error); one that
  overruns the budget is stopped and its runspace abandoned for a fresh one (its cmdlets then
  load on first use, inside their probe's budget). An ``M`` frame reports each import: status,
  duration, error; the transport shows the total in the host's login line and a failure as an
  anomaly;
* each probe has its own time budget (``BeginInvoke``, ``AsyncWaitHandle.WaitOne``); a probe
  that overruns is stopped and its runspace abandoned, the next probe gets a fresh one (the
  modules are imported into it again, from what is left of the module budget);
* inside ``try/catch``: a terminating error (``-ErrorAction Stop``) becomes the probe's error
  record (exception type, ``FullyQualifiedErrorId``, category, message), never the batch's;
* its output is converted to text (strings kept as is, other objects through ``Out-String``)
  and capped at ``CAP`` characters;
* the script ends with an explicit ``exit`` right after its ``END`` frame (``[Environment]::Exit``
  when a runspace was abandoned, whose thread would otherwise keep the process), so that
  powershell.exe never keeps the shell open until the run's deadline.

It writes one record per probe, as soon as it is known, framed by a random per-run boundary
(128 bits)::

    <B> START
    <B> M <base64 of {"ms": total, "modules": [{"name", "status", "ms", "error"}...]}>
    <B> R <index> <base64 of the UTF-8 JSON record>
    ...
    <B> END

A record is ``{"i": index, "k": probe key, "status": "ok|error|timeout|fault", "out": text,
"trunc": bool, "errors": [error records], "ms": duration}``. Everything a candidate controls
(service names, file contents, task arguments...) is inside base64, so it cannot start a
line, let alone a frame; text that reaches the console outside the frames (a native program
writing to the console, a module printing at import) is kept as an anomaly. The parser
accepts a record only under the run's boundary, with the index of the frame, the index and
key of the probe inside, and only once: anything else is an ``error`` on that probe
(``erreur``, never a verdict). Records are streamed rather than gathered into one document
at the end so that a run cut short (deadline, lost connection) keeps the probes it finished,
as the SSH envelope does.

Threat model, as for SSH: this defeats forged text in anything a probe reads, profiles
(``-NoProfile``) and console noise; it does not defend against an administrator of the
candidate's own VM who replaced PowerShell itself.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field

from grader.model import Msg, Probe, ProbeResult
from grader.transports.envelope import Parsed

CAP = 64 * 1024  # characters of output kept per probe (beyond: truncated)
EXECUTABLE = "powershell.exe"  # Windows PowerShell 5.1, present on every supported Windows
MODULE_BUDGET = 60.0  # seconds for all module imports of a run (a fresh profile's first import can pass 20 s)

#: The modules a batch imports before its first probe, each with the cmdlet nouns that belong to
#: it: a module is imported when a probe's text names one of its cmdlets (``Verb-Noun``, noun
#: prefix, any case). Other cmdlets still load on first use (PowerShell's autoloading), inside
#: their probe's budget; add a module here when its first import is slow.
MODULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("DnsServer", ("DnsServer",)),
    ("DhcpServer", ("DhcpServer",)),
    ("ScheduledTasks", ("ScheduledTask",)),
    ("ServerManager", ("WindowsFeature",)),
    ("SmbShare", ("SmbShare",)),
)

# {B} is the boundary. $input is the process's stdin as lines (PowerShell reads it when it
# is redirected and the command comes from -EncodedCommand). The language mode is checked
# first, with nothing but what ConstrainedLanguage still allows (a property, a string, exit):
# under AppLocker/WDAC the method calls below would fail with a message that names no cause.
_BOOTSTRAP = (
    "$ErrorActionPreference='Stop';$ProgressPreference='SilentlyContinue';$B='{B}';"
    "$L=[string]$ExecutionContext.SessionState.LanguageMode;"
    "if($L -ne 'FullLanguage'){{$B+' LANG '+$L;exit 4}};"
    "try{{$s=[Text.Encoding]::UTF8.GetString([Convert]::FromBase64String((@($input)-join'').Trim()));"
    "$f=[ScriptBlock]::Create($s)}}catch{{[Console]::Out.Write($B+' FATAL '+[Convert]::ToBase64String("
    "[Text.Encoding]::UTF8.GetBytes([string]$_))+[char]13+[char]10);[Console]::Out.Flush();exit 3}};"
    "& $f;exit 0"
)

# The script proper. Written for Windows PowerShell 5.1 (no ternary, no ?? , no -AsHashtable).
_RUNTIME = r"""
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
try { [Console]::OutputEncoding = New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false } catch { }
$B = '{B}'
$CAP = {CAP}
$U8 = New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false
$script:GraderRunspace = $null
$script:GraderAbandoned = $false
$script:GraderModules = @({MODULES})
$script:GraderModuleLeftMs = {MODULE_MS}
$PRELUDE = '$ErrorActionPreference = ''Continue''; $ProgressPreference = ''SilentlyContinue''; '

function Write-GraderLine([string]$Line) {
    [Console]::Out.Write($Line + [char]13 + [char]10)
    [Console]::Out.Flush()
}

function ConvertTo-GraderBase64([string]$Text) {
    [Convert]::ToBase64String($U8.GetBytes($Text))
}

function ConvertTo-GraderError($Record) {
    $exception = $Record.Exception
    [ordered]@{
        type = $exception.GetType().FullName
        id = [string]$Record.FullyQualifiedErrorId
        category = [string]$Record.CategoryInfo.Category
        message = [string]$exception.Message
        target = [string]$Record.TargetObject
    }
}

function ConvertTo-GraderException($Exception) {
    if ($Exception -is [System.Management.Automation.IContainsErrorRecord] -and $Exception.ErrorRecord) {
        return (ConvertTo-GraderError -Record $Exception.ErrorRecord)
    }
    [ordered]@{ type = $Exception.GetType().FullName; id = ''; category = ''; message = [string]$Exception.Message; target = '' }
}

function Open-GraderRunspace {
    $iss = [System.Management.Automation.Runspaces.InitialSessionState]::CreateDefault()
    $runspace = [System.Management.Automation.Runspaces.RunspaceFactory]::CreateRunspace($iss)
    $runspace.Open()
    $runspace
}

function Import-GraderModules {
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    $entries = New-Object -TypeName 'System.Collections.ArrayList'
    foreach ($name in $script:GraderModules) {
        $entry = [ordered]@{ name = $name; status = 'ok'; ms = 0; error = '' }
        if ($script:GraderModuleLeftMs -le 0) { $entry.status = 'skipped'; [void]$entries.Add($entry); continue }
        $one = [System.Diagnostics.Stopwatch]::StartNew()
        $shell = [System.Management.Automation.PowerShell]::Create()
        $shell.Runspace = $script:GraderRunspace
        try {
            [void]$shell.AddCommand('Import-Module').AddParameter('Name', $name).AddParameter('Scope', 'Global').AddParameter('ErrorAction', 'Stop')
            $handle = $shell.BeginInvoke()
            if (-not $handle.AsyncWaitHandle.WaitOne($script:GraderModuleLeftMs)) {
                $entry.status = 'timeout'
                try { [void]$shell.BeginStop($null, $null) } catch { }
                $shell = $null
                $script:GraderAbandoned = $true
                $script:GraderModuleLeftMs = 0
                $script:GraderRunspace = Open-GraderRunspace
            } elseif ($shell.InvocationStateInfo.State -eq 'Failed') {
                $entry.status = 'error'
                $entry.error = [string]$shell.InvocationStateInfo.Reason.Message
            } elseif ($shell.Streams.Error.Count -gt 0) {
                $entry.status = 'error'
                $entry.error = [string]$shell.Streams.Error[0].Exception.Message
            }
        } catch {
            $entry.status = 'error'
            $entry.error = [string]$_.Exception.Message
        } finally {
            if ($null -ne $shell) { $shell.Dispose() }
        }
        $entry.ms = [int]$one.ElapsedMilliseconds
        if ($entry.status -ne 'timeout') { $script:GraderModuleLeftMs = $script:GraderModuleLeftMs - $entry.ms }
        [void]$entries.Add($entry)
    }
    $report = [ordered]@{ ms = [int]$clock.ElapsedMilliseconds; modules = @($entries) }
    $json = ConvertTo-Json -InputObject $report -Depth 4 -Compress
    Write-GraderLine -Line ($B + ' M ' + (ConvertTo-GraderBase64 -Text $json))
}

function New-GraderRunspace {
    $script:GraderRunspace = Open-GraderRunspace
    if ($script:GraderModules.Count -gt 0) { Import-GraderModules }
}

function Invoke-GraderProbe([int]$Index, [string]$Key, [int]$BudgetMs, [string]$Code) {
    $record = [ordered]@{ i = $Index; k = $Key; status = 'ok'; out = ''; trunc = $false; errors = @(); ms = 0 }
    $shell = $null
    $clock = $null
    try {
        $text = $U8.GetString([Convert]::FromBase64String($Code))
        if ($null -eq $script:GraderRunspace) { New-GraderRunspace }
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        $shell = [System.Management.Automation.PowerShell]::Create()
        $shell.Runspace = $script:GraderRunspace
        [void]$shell.AddScript($PRELUDE + $text, $true)
        $in = New-Object -TypeName 'System.Management.Automation.PSDataCollection[psobject]'
        $in.Complete()
        $out = New-Object -TypeName 'System.Management.Automation.PSDataCollection[psobject]'
        $handle = $shell.BeginInvoke($in, $out)
        if (-not $handle.AsyncWaitHandle.WaitOne($BudgetMs)) {
            $record.status = 'timeout'
            try { [void]$shell.BeginStop($null, $null) } catch { }
            $script:GraderRunspace = $null
            $script:GraderAbandoned = $true
            $shell = $null
        } else {
            $lines = New-Object -TypeName 'System.Collections.Generic.List[string]'
            foreach ($item in $out) {
                if ($null -eq $item) { continue }
                if ($item.BaseObject -is [string]) { $lines.Add($item.BaseObject) }
                else { $lines.Add(($item | Out-String -Width 4096).TrimEnd()) }
            }
            $joined = [string]::Join("`n", $lines)
            if ($joined.Length -gt $CAP) { $joined = $joined.Substring(0, $CAP); $record.trunc = $true }
            $record.out = $joined
            $errors = New-Object -TypeName 'System.Collections.ArrayList'
            if ($shell.InvocationStateInfo.State -eq 'Failed') {
                $record.status = 'error'
                [void]$errors.Add((ConvertTo-GraderException -Exception $shell.InvocationStateInfo.Reason))
            }
            foreach ($e in $shell.Streams.Error) { [void]$errors.Add((ConvertTo-GraderError -Record $e)) }
            $record.errors = @($errors)
        }
    } catch {
        $record.status = 'fault'
        $record.errors = @((ConvertTo-GraderError -Record $_))
    } finally {
        if ($null -ne $clock) { $record.ms = [int]$clock.ElapsedMilliseconds }
        if ($null -ne $shell) { $shell.Dispose() }
    }
    $json = ConvertTo-Json -InputObject $record -Depth 4 -Compress
    Write-GraderLine -Line ($B + ' R ' + $Index + ' ' + (ConvertTo-GraderBase64 -Text $json))
}

Write-GraderLine -Line ($B + ' START')
try { New-GraderRunspace } catch { $script:GraderRunspace = $null }
"""

_EPILOGUE = r"""
Write-GraderLine -Line ($B + ' END')
if ($script:GraderAbandoned) { [Environment]::Exit(0) }
exit 0
"""

_CALL = "Invoke-GraderProbe -Index {i} -Key '{key}' -BudgetMs {ms} -Code '{code}'"


@dataclass(frozen=True)
class PsEnvelope:
    """A rendered batch: what to run, what to send on stdin, and what is needed to read the answer."""

    boundary: str
    bootstrap: str  # the text given to -EncodedCommand
    script: str  # the text the bootstrap runs
    probes: tuple[Probe, ...]
    modules: tuple[str, ...] = ()  # imported before the first probe (see MODULES)

    @property
    def module_budget(self) -> float:
        """Seconds the run may spend importing modules, on top of the probes' budgets."""
        return MODULE_BUDGET if self.modules else 0.0

    @property
    def arguments(self) -> list[str]:
        """The arguments of ``powershell.exe`` (the command itself is :data:`EXECUTABLE`)."""
        return ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand",
                encode_command(self.bootstrap)]

    @property
    def stdin(self) -> bytes:
        """The script as the bootstrap expects it: UTF-8, base64, one line (ASCII only)."""
        return base64.b64encode(self.script.encode("utf-8")) + b"\r\n"


def modules_for(probes: Sequence[Probe]) -> tuple[str, ...]:
    """The modules of :data:`MODULES` whose cmdlets the probes name, in the table's order."""
    text = "\n".join(p.command for p in probes)
    needed = []
    for module, nouns in MODULES:
        pattern = r"\b[A-Za-z]+-(?:" + "|".join(re.escape(n) for n in nouns) + ")"
        if re.search(pattern, text, re.IGNORECASE):
            needed.append(module)
    return tuple(needed)


def encode_command(text: str) -> str:
    """``-EncodedCommand``'s format: base64 of the UTF-16LE text."""
    return base64.b64encode(text.encode("utf-16-le")).decode("ascii")


def build(probes: Sequence[Probe], *, boundary: str | None = None) -> PsEnvelope:
    """Render the batch for already-deduplicated probes (order kept, index = position)."""
    b = boundary or "GRADER-" + secrets.token_hex(16)
    if not re.fullmatch(r"[A-Za-z0-9-]+", b):
        raise ValueError(f"invalid boundary {b!r}")
    modules = modules_for(probes)
    runtime = (_RUNTIME.replace("{B}", b).replace("{CAP}", str(CAP))
               .replace("{MODULES}", ", ".join(f"'{m}'" for m in modules))
               .replace("{MODULE_MS}", str(round(MODULE_BUDGET * 1000) if modules else 0)))
    lines = [runtime.strip("\n")]
    for index, probe in enumerate(probes):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", probe.key):
            raise ValueError(f"invalid probe key {probe.key!r}")
        code = base64.b64encode(probe.command.encode("utf-8")).decode("ascii")
        budget = max(100, round(probe.timeout * 1000))
        lines.append(_CALL.format(i=index, key=probe.key, ms=budget, code=code))
    lines.append(_EPILOGUE.strip("\n"))
    script = "\r\n".join("\n".join(lines).split("\n")) + "\r\n"
    return PsEnvelope(b, _BOOTSTRAP.format(B=b), script, tuple(probes), modules)


# --- reading the answer -----------------------------------------------------------------

_FRAME_KINDS = ("START", "M", "R", "END", "FATAL", "LANG")


@dataclass(frozen=True)
class ModuleImport:
    """One module import as an ``M`` frame reported it."""

    name: str
    status: str  # ok | error | timeout | skipped (the run's module budget was spent)
    seconds: float
    error: str = ""


@dataclass
class PsParsed(Parsed):
    """:class:`~grader.transports.envelope.Parsed` plus what only the PowerShell batch says."""

    language: str | None = None  # the language mode when it was not FullLanguage (LANG frame)
    imports: list[tuple[float, tuple[ModuleImport, ...]]] = field(default_factory=list)  # one per M frame

    @property
    def import_seconds(self) -> float:
        """Time spent importing modules over the whole run."""
        return sum(seconds for seconds, _ in self.imports)


def parse(env: PsEnvelope, stdout: bytes, *, started: str = "") -> PsParsed:
    """Read the framed output (CRLF or LF). Never trusts a record whose frame, index or key is wrong."""
    out = PsParsed()
    b = env.boundary
    text = stdout.decode("utf-8", errors="replace")
    frame = re.compile(r"^" + re.escape(b) + r" (" + "|".join(_FRAME_KINDS) + r")(?: (.*))?$")
    seen_start = False
    stray: list[str] = []
    conflicts: set[int] = set()

    def flush_stray() -> None:
        if stray:
            where = Msg("avant l'enveloppe") if not seen_start else Msg("hors cadre")
            out.anomalies.append(Msg("texte {where} : {text}", where=where, text=repr(_clip(chr(10).join(stray)))))
            stray.clear()

    for line in re.split(r"\r?\n", text):
        m = frame.match(line.rstrip("\r"))
        if not m:
            if line.strip():
                stray.append(line.rstrip("\r"))
            continue
        flush_stray()
        kind, arg = m.group(1), m.group(2) or ""
        if kind == "START":
            seen_start = True
        elif kind == "FATAL":
            out.anomalies.append(Msg("le lot PowerShell n'a pas pu démarrer : {error}", error=_b64_text(arg)))
        elif kind == "LANG":
            out.language = arg if re.fullmatch(r"[A-Za-z]{1,40}", arg) else repr(_clip(arg, 40))
        elif kind == "M":
            _imports(out, arg)
        elif kind == "END":
            out.complete = seen_start
        elif kind == "R":
            _record(out, env, arg, started, conflicts)
    flush_stray()
    for index in conflicts:
        probe = env.probes[index]
        out.results[probe.key] = ProbeResult(key=probe.key, transport=probe.transport, command=probe.command,
                                             started=started,
                                             error=Msg("résultat en double (sortie falsifiée ?)"))
    for probe in env.probes:
        if probe.key not in out.results:
            out.results[probe.key] = ProbeResult(
                key=probe.key, transport=probe.transport, command=probe.command, started=started,
                error=Msg("résultat absent du lot PowerShell (sortie interrompue ou falsifiée)"),
            )
    return out


def frames(boundary: str, stdout: bytes) -> list[tuple[str, str]]:
    """Every frame of a run's output under ``boundary``, in order, as ``(kind, argument)`` text, unread.

    What ``grader windows record`` keeps of a real run: an ``R`` frame's argument is
    ``"<index> <base64 record>"`` exactly as PowerShell wrote it (nothing decoded, nothing
    trusted), so that a recording can be read again later by :func:`parse`.
    """
    text = stdout.decode("utf-8", errors="replace")
    frame = re.compile(r"^" + re.escape(boundary) + r" (" + "|".join(_FRAME_KINDS) + r")(?: (.*))?$")
    found = []
    for line in re.split(r"\r?\n", text):
        m = frame.match(line.rstrip("\r"))
        if m:
            found.append((m.group(1), m.group(2) or ""))
    return found


#: The fields of a record, each with the JSON types its grammar accepts (``errors``: a list of error
#: records, or one error record alone, as Windows PowerShell 5.1's ConvertTo-Json writes a one-element
#: array held by an ordered dictionary).
RECORD_FIELDS: dict[str, tuple[type, ...]] = {"i": (int,), "k": (str,), "status": (str,), "out": (str,),
                                               "trunc": (bool,), "errors": (list, dict), "ms": (int, float)}
RECORD_STATUSES = ("ok", "error", "timeout", "fault")
ERROR_FIELDS = ("type", "id", "category", "message", "target")


def record_problems(record: object) -> list[Msg]:
    """What makes a decoded record differ from the grammar the script writes (empty: accepted).

    :func:`parse` is lenient with a record whose frame, index and key are right (a field of the
    wrong type reads as empty, an unknown status is the probe's ``error``), so that one odd field
    never costs a whole host; this is the strict reading ``grader windows replay`` reports, so that
    an answer a real Windows gives in another shape is seen before an exam, not during one.
    """
    if not isinstance(record, dict):
        return [Msg("l'enregistrement n'est pas un objet JSON")]
    problems: list[Msg] = []
    for name, types in RECORD_FIELDS.items():
        value = record.get(name)
        if name not in record:
            problems.append(Msg("champ {field} absent", field=name))
        elif isinstance(value, bool) and bool not in types or not isinstance(value, types):
            problems.append(Msg("champ {field} de type inattendu ({kind})", field=name, kind=type(value).__name__))
    extra = sorted(set(record) - set(RECORD_FIELDS))
    if extra:
        problems.append(Msg("champs inconnus : {fields}", fields=extra))
    if isinstance(record.get("status"), str) and record["status"] not in RECORD_STATUSES:
        problems.append(Msg("statut de sonde inconnu : {status}", status=repr(record["status"])))
    errors = record.get("errors")
    for error in (errors if isinstance(errors, list) else [errors] if isinstance(errors, dict) else []):
        if not isinstance(error, dict) or any(not isinstance(error.get(f), str) for f in ERROR_FIELDS):
            problems.append(Msg("enregistrement d'erreur mal formé : {error}", error=_clip(repr(error), 120)))
    return problems


def _imports(out: PsParsed, arg: str) -> None:
    """An ``M`` frame: ``{"ms": total, "modules": [{"name", "status", "ms", "error"}...]}``."""
    try:
        report = json.loads(base64.b64decode(arg, validate=True).decode("utf-8"))
        entries = report["modules"]
        if isinstance(entries, dict):  # ConvertTo-Json writes a one-element array as an object in 5.1
            entries = [entries]
        imports = tuple(ModuleImport(str(e["name"]), str(e["status"]), max(0.0, float(e["ms"]) / 1000),
                                     _clip(str(e.get("error") or ""))) for e in entries)
        seconds = max(0.0, float(report["ms"]) / 1000)
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        out.anomalies.append(Msg("rapport d'import des modules illisible ({kind})", kind=type(exc).__name__))
        return
    out.imports.append((seconds, imports))
    for entry in imports:
        if entry.status == "timeout":
            out.anomalies.append(Msg("import du module PowerShell {module} interrompu : budget de {seconds:g} s "
                                     "dépassé (ses cmdlets se chargeront dans le budget de leur sonde)",
                                     module=entry.name, seconds=MODULE_BUDGET))
        elif entry.status == "error":
            out.anomalies.append(Msg("module PowerShell {module} non importé : {error}", module=entry.name,
                                     error=entry.error))


def _record(out: Parsed, env: PsEnvelope, arg: str, started: str, conflicts: set[int]) -> None:
    index_text, _, payload = arg.partition(" ")
    try:
        index = int(index_text)
        probe = env.probes[index]
    except (ValueError, IndexError):
        out.anomalies.append(Msg("cadre R pour une sonde inconnue : {frame}", frame=repr(_clip(arg))))
        return
    try:
        record = json.loads(base64.b64decode(payload, validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        out.anomalies.append(Msg("enregistrement illisible pour la sonde {index} ({kind})", index=index,
                                 kind=type(exc).__name__))
        return
    if not isinstance(record, dict) or record.get("i") != index or record.get("k") != probe.key:
        out.anomalies.append(Msg("enregistrement de la sonde {index} incohérent (index ou clé)", index=index))
        return
    if probe.key in out.results or index in conflicts:
        conflicts.add(index)
        out.anomalies.append(Msg("deux enregistrements pour la sonde {index}", index=index))
        return
    out.results[probe.key] = to_result(probe, record, started)


def to_result(probe: Probe, record: dict[str, object], started: str = "") -> ProbeResult:
    """One record as a ProbeResult.

    ``exit_code`` is 0 when the probe ran without any error, 1 when it ended on a terminating
    error (``-ErrorAction Stop``), 2 when it completed but wrote non-terminating errors;
    ``stderr`` is then the JSON list of error records (see :func:`error_records`).
    """
    status = record.get("status")
    errors = record.get("errors") or []
    if not isinstance(errors, list):
        errors = [errors]
    errors = _dedup([e for e in errors if isinstance(e, dict)])
    try:
        duration = max(0.0, float(record.get("ms") or 0) / 1000)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        duration = 0.0
    base = {"key": probe.key, "transport": probe.transport, "command": probe.command, "started": started,
            "duration": duration}
    stderr = json.dumps(errors, ensure_ascii=False) if errors else ""
    out = record.get("out")
    stdout = out if isinstance(out, str) else ""
    if status == "timeout":
        return ProbeResult(**base, stdout=stdout, stderr=stderr, timed_out=True)  # type: ignore[arg-type]
    if status == "fault":
        why = errors[0].get("message", "") if errors else ""
        return ProbeResult(**base, stderr=stderr,  # type: ignore[arg-type]
                           error=Msg("la sonde n'a pas pu être lancée : {error}", error=_clip(str(why))))
    if status not in ("ok", "error"):
        return ProbeResult(**base, error=Msg("statut de sonde inconnu : {status}",  # type: ignore[arg-type]
                                             status=repr(status)))
    exit_code = 1 if status == "error" else (2 if errors else 0)
    return ProbeResult(**base, stdout=stdout, stderr=stderr, exit_code=exit_code,  # type: ignore[arg-type]
                       truncated=bool(record.get("trunc")))


def _dedup(errors: list[dict[str, object]]) -> list[dict[str, object]]:
    # With -ErrorAction Stop, PowerShell may report the same error as the failure's reason and
    # in the error stream: keep it once.
    seen: set[tuple[str, str]] = set()
    kept = []
    for e in errors:
        ident = (str(e.get("id", "")), str(e.get("message", "")))
        if ident in seen:
            continue
        seen.add(ident)
        kept.append(e)
    return kept


def _b64_text(value: str) -> str:
    try:
        return _clip(base64.b64decode(value, validate=True).decode("utf-8", errors="replace"))
    except binascii.Error:
        return _clip(value)


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- CLIXML (what powershell.exe writes on stderr when its output is redirected) ----------

_CLIXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def decode_clixml(data: bytes | str) -> str:
    """Readable text from a ``#< CLIXML`` stderr stream; other text is returned as is.

    Error, warning, verbose and debug strings are kept with their stream name; progress
    records ("Preparing modules for first use.") are noise and dropped.
    """
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    text = text.lstrip("\ufeff")
    if not text.startswith("#< CLIXML"):
        return text.strip()
    parts: list[str] = []
    for chunk in re.split(r"#< CLIXML\r?\n?", text):
        chunk = chunk.strip()
        if not chunk:
            continue
        try:
            root = ET.fromstring(chunk)
        except ET.ParseError:
            parts.append(chunk)
            continue
        line: list[str] = []
        for node in root:
            tag = node.tag.rsplit("}", 1)[-1]
            if tag != "S":
                continue  # progress records and other objects
            stream = (node.get("S") or "").lower()
            value = _CLIXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), node.text or "")
            if stream == "error" or not stream:
                line.append(value)
            else:
                line.append(f"[{stream}] {value}")
        parts.append("".join(line))
    return "\n".join(p.replace("\r\n", "\n").strip() for p in parts if p.strip())
