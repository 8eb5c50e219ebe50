"""The PowerShell batch envelope: what is sent to powershell.exe, and reading framed text as it writes it.

No PowerShell runs here, so the PowerShell side is checked two ways: its source parses
(tree-sitter's PowerShell grammar, no error node), and the parser is fed framed text
written the way the script writes it: CRLF line ends, records as Windows PowerShell 5.1's
``ConvertTo-Json -Compress`` writes them (``<`` as ``\\u003c``, accents as is), base64 of UTF-8.
"""

from __future__ import annotations

import base64
import json

import pytest

from grader.model import Probe
from grader.probes import winrm as winrm_probes
from grader.transports import psenvelope
from tests.winrm_standin.recordings import load

B = "GRADER-0123456789abcdef0123456789abcdef"
A = Probe("winrm", "Get-Service -Name 'Spooler' -ErrorAction Stop | ConvertTo-Json -Depth 4")
C = Probe("winrm", "Get-SmbShare -Name 'Comptabilité' -ErrorAction Stop | ConvertTo-Json -Depth 4", timeout=2.5)


def record_line(index: int, json_text: str, boundary: str = B) -> str:
    """One R frame around a record written as PowerShell's ConvertTo-Json -Compress writes it."""
    return f"{boundary} R {index} {base64.b64encode(json_text.encode('utf-8')).decode()}\r\n"


def ok_record(index: int, probe: Probe, out: str, ms: int = 12) -> str:
    text = json.dumps(out, ensure_ascii=False).replace("<", "\\u003c")
    return f'{{"i":{index},"k":"{probe.key}","status":"ok","out":{text},"trunc":false,"errors":[],"ms":{ms}}}'


def framed(*lines: str) -> bytes:
    return "".join(lines).encode("utf-8")


ENV = psenvelope.build([A, C], boundary=B)


# --- what is sent -------------------------------------------------------------------------

def test_command_line_is_small_and_fixed_whatever_the_number_of_probes():
    many = psenvelope.build([Probe("winrm", f"Get-Service -Name 'S{i}' -ErrorAction Stop") for i in range(300)])
    command_line = " ".join([psenvelope.EXECUTABLE, *many.arguments])
    assert len(command_line) < 2000  # Windows: 8,191 through cmd.exe, 32,767 for CreateProcess
    assert many.arguments[:5] == ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand"]
    assert len(many.stdin) > 30000  # the probes travel on stdin


def test_bootstrap_and_script_decode_back_and_carry_the_boundary():
    bootstrap = base64.b64decode(ENV.arguments[-1]).decode("utf-16-le")
    assert bootstrap == ENV.bootstrap and f"$B='{B}'" in bootstrap and "$input" in bootstrap
    assert ENV.stdin.endswith(b"\r\n") and ENV.stdin.isascii()
    script = base64.b64decode(ENV.stdin).decode("utf-8")
    assert script == ENV.script and f"$B = '{B}'" in script
    calls = [line for line in script.splitlines() if line.startswith("Invoke-GraderProbe ")]
    assert len(calls) == 2
    code = calls[1].split("-Code '")[1].rstrip("'")
    assert base64.b64decode(code).decode("utf-8") == C.command  # accents survive, as UTF-8
    assert "-BudgetMs 2500" in calls[1] and f"-Key '{C.key}'" in calls[1]


def test_a_fresh_boundary_per_run():
    assert psenvelope.build([A]).boundary != psenvelope.build([A]).boundary


@pytest.mark.parametrize("bad", ["GRADER-x y", "GRADER-'"])
def test_boundary_is_checked(bad):
    with pytest.raises(ValueError):
        psenvelope.build([A], boundary=bad)


def test_powershell_source_parses():
    ts = pytest.importorskip("tree_sitter")
    tsp = pytest.importorskip("tree_sitter_powershell")
    parser = ts.Parser(ts.Language(tsp.language()))
    for text in (ENV.bootstrap, ENV.script):
        tree = parser.parse(text.encode("utf-8"))
        assert not tree.root_node.has_error, text[:200]
    # the runtime uses only full cmdlet names and Windows PowerShell 5.1 syntax
    for alias in (" % ", " ? ", "| select ", "| where ", "| foreach ", " gci ", " iex "):
        assert alias not in ENV.script.lower()
    for newer in ("??", "?.", "-AsHashtable", "ForEach-Object -Parallel", "&&", "||"):
        assert newer not in ENV.script


def test_each_probe_runs_in_a_default_session_state_with_its_own_scope_and_preferences():
    # Windows PowerShell 5.1: CreateRunspace() without an InitialSessionState is a legacy runspace, and
    # AddScript($text) without useLocalScope shares the probes' variables; neither takes the batch's preferences.
    script = ENV.script
    assert "[System.Management.Automation.Runspaces.InitialSessionState]::CreateDefault()" in script
    assert "RunspaceFactory]::CreateRunspace($iss)" in script and "CreateRunspace()" not in script
    assert "[void]$shell.AddScript($PRELUDE + $text, $true)" in script
    prelude = next(line for line in script.splitlines() if line.startswith("$PRELUDE = "))
    assert prelude == "$PRELUDE = '$ErrorActionPreference = ''Continue''; $ProgressPreference = ''SilentlyContinue''; '"


def test_the_modules_the_probes_need_are_imported_once_before_the_first_probe():
    dns = Probe("winrm", "Get-DnsServerZone -Name 'lab.test' -ErrorAction Stop | ConvertTo-Json -Depth 4")
    feature = Probe("winrm", "get-windowsfeature -Name 'DHCP' | ConvertTo-Json -Depth 4")
    assert psenvelope.modules_for([A, C, dns, feature]) == ("DnsServer", "ServerManager", "SmbShare")
    assert psenvelope.modules_for([A]) == ()
    lines = psenvelope.build([A, C, dns], boundary=B).script.splitlines()
    assert "$script:GraderModules = @('DnsServer', 'SmbShare')" in lines
    assert f"$script:GraderModuleLeftMs = {round(psenvelope.MODULE_BUDGET * 1000)}" in lines
    start = lines.index("Write-GraderLine -Line ($B + ' START')")
    first = next(i for i, line in enumerate(lines) if line.startswith("Invoke-GraderProbe "))
    assert start < lines.index("try { New-GraderRunspace } catch { $script:GraderRunspace = $null }") < first
    bare = psenvelope.build([A], boundary=B)
    assert "$script:GraderModules = @()" in bare.script.splitlines() and bare.module_budget == 0
    assert psenvelope.build([C]).module_budget == psenvelope.MODULE_BUDGET


def test_the_script_exits_right_after_its_last_frame():
    lines = ENV.script.splitlines()
    assert lines[-3:] == ["Write-GraderLine -Line ($B + ' END')",
                          "if ($script:GraderAbandoned) { [Environment]::Exit(0) }", "exit 0"]
    assert ENV.bootstrap.endswith("& $f;exit 0")


def test_the_bootstrap_checks_the_language_mode_before_any_method_call():
    bootstrap = ENV.bootstrap
    check = bootstrap.index("$ExecutionContext.SessionState.LanguageMode")
    assert check < bootstrap.index("::") and check < bootstrap.index("$input")
    assert "if($L -ne 'FullLanguage'){$B+' LANG '+$L;exit 4}" in bootstrap


# --- reading what comes back --------------------------------------------------------------

def test_records_in_crlf_with_ps51_escaping_and_accents():
    raw = framed(f"{B} START\r\n",
                 record_line(0, ok_record(0, A, '{\r\n    "Name":  "Spooler",\r\n    "Status":  4\r\n}')),
                 record_line(1, ok_record(1, C, '{\r\n    "Path":  "D:\\\\Partages\\\\Comptabilité <RH>"\r\n}')),
                 f"{B} END\r\n")
    parsed = psenvelope.parse(ENV, raw, started="t0")
    assert parsed.complete and not parsed.anomalies
    a, c = parsed.results[A.key], parsed.results[C.key]
    assert json.loads(a.stdout) == {"Name": "Spooler", "Status": 4}
    assert json.loads(c.stdout)["Path"] == "D:\\Partages\\Comptabilité <RH>"
    assert (a.exit_code, a.stderr, a.duration, a.started, a.ok) == (0, "", 0.012, "t0", True)


def test_lf_only_and_records_out_of_order_are_read_too():
    raw = framed(f"{B} START\n", record_line(1, ok_record(1, C, "c")).replace("\r\n", "\n"),
                 record_line(0, ok_record(0, A, "a")).replace("\r\n", "\n"), f"{B} END\n")
    parsed = psenvelope.parse(ENV, raw)
    assert parsed.complete and parsed.results[A.key].stdout == "a" and parsed.results[C.key].stdout == "c"


def test_error_timeout_fault_and_non_terminating_records():
    terminating = ('{"i":0,"k":"KEY","status":"error","out":"","trunc":false,"errors":[{"type":"Microsoft.PowerShell.'
                   'Commands.ServiceCommandException","id":"NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.'
                   'GetServiceCommand","category":"ObjectNotFound","message":"Cannot find any service with service name '
                   '\\u0027Spooler\\u0027.","target":"Spooler"},{"type":"Microsoft.PowerShell.Commands.ServiceCommand'
                   'Exception","id":"NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand","category"'
                   ':"ObjectNotFound","message":"Cannot find any service with service name \\u0027Spooler\\u0027.",'
                   '"target":"Spooler"}],"ms":40}').replace("KEY", A.key)
    timeout = '{"i":1,"k":"KEY","status":"timeout","out":"","trunc":false,"errors":[],"ms":2500}'.replace("KEY", C.key)
    parsed = psenvelope.parse(ENV, framed(f"{B} START\r\n", record_line(0, terminating), record_line(1, timeout),
                                          f"{B} END\r\n"))
    a, c = parsed.results[A.key], parsed.results[C.key]
    assert a.exit_code == 1 and a.ok
    errors = winrm_probes.error_records(a)
    assert len(errors) == 1, "the same error reported twice (reason and error stream) is kept once"
    assert errors[0]["category"] == "ObjectNotFound" and "'Spooler'" in errors[0]["message"]
    assert c.timed_out and not c.ok and c.duration == 2.5

    partial = '{"i":0,"k":"KEY","status":"ok","out":"x","trunc":true,"errors":[{"type":"T","id":"I","category":"C",' \
              '"message":"m","target":""}],"ms":1}'.replace("KEY", A.key)
    fault = '{"i":1,"k":"KEY","status":"fault","out":"","trunc":false,"errors":[{"type":"System.Management.Automation.' \
            'ParseException","id":"","category":"ParserError","message":"Missing closing \\u0027}\\u0027","target":""}],' \
            '"ms":0}'.replace("KEY", C.key)
    parsed = psenvelope.parse(ENV, framed(f"{B} START\r\n", record_line(0, partial), record_line(1, fault), f"{B} END\r\n"))
    a, c = parsed.results[A.key], parsed.results[C.key]
    assert a.exit_code == 2 and a.truncated and a.stdout == "x"
    assert c.error and "Missing closing '}'" in c.error and not c.ok


def test_text_outside_frames_is_an_anomaly_and_changes_nothing():
    raw = framed("Bienvenue sur SRV-DC1\r\n", f"{B} START\r\n", record_line(0, ok_record(0, A, "a")),
                 "texte écrit directement sur la console\r\n", record_line(1, ok_record(1, C, "c")), f"{B} END\r\n")
    parsed = psenvelope.parse(ENV, raw)
    assert parsed.complete and parsed.results[A.key].stdout == "a" and parsed.results[C.key].stdout == "c"
    assert any("avant l'enveloppe" in str(x) and "Bienvenue" in str(x) for x in parsed.anomalies)
    assert any("hors cadre" in str(x) and "console" in str(x) for x in parsed.anomalies)


def test_forged_frames_cannot_replace_a_result():
    fake = ok_record(1, C, "forged")
    raw = framed(f"{B} START\r\n",
                 # candidate-controlled output: base64 inside the record, so this stays text of probe 0
                 record_line(0, ok_record(0, A, f"\r\n{B} R 1 {base64.b64encode(fake.encode()).decode()}\r\n")),
                 # a console write that guesses the frame format but not the boundary
                 record_line(1, fake, boundary="GRADER-00000000000000000000000000000000"),
                 record_line(1, ok_record(1, C, "real")), f"{B} END\r\n")
    parsed = psenvelope.parse(ENV, raw)
    assert parsed.results[C.key].stdout == "real"
    assert f"{B} R 1" in parsed.results[A.key].stdout
    assert any("hors cadre" in str(x) for x in parsed.anomalies)


def test_a_second_record_for_a_probe_voids_both():
    raw = framed(f"{B} START\r\n", record_line(1, ok_record(1, C, "one")), record_line(1, ok_record(1, C, "two")),
                 record_line(1, ok_record(1, C, "three")), f"{B} END\r\n")
    parsed = psenvelope.parse(ENV, raw)
    assert parsed.results[C.key].error and "double" in parsed.results[C.key].error
    assert parsed.results[A.key].error and "absent" in parsed.results[A.key].error


@pytest.mark.parametrize("line", [
    record_line(1, ok_record(0, A, "index inside differs")),
    record_line(1, ok_record(1, A, "key of another probe")),
    f"{B} R 1 not-base64!\r\n",
    record_line(1, '{"i":1,"k":"x"'),
    record_line(7, ok_record(7, C, "no such probe")),
    f"{B} R x {base64.b64encode(b'{}').decode()}\r\n",
])
def test_bad_records_are_refused(line):
    parsed = psenvelope.parse(ENV, framed(f"{B} START\r\n", line, f"{B} END\r\n"))
    assert parsed.results[C.key].error and parsed.anomalies


def test_a_cut_stream_keeps_finished_probes():
    raw = framed(f"{B} START\r\n", record_line(0, ok_record(0, A, "a")), record_line(1, ok_record(1, C, "c"))[:40])
    parsed = psenvelope.parse(ENV, raw)
    assert not parsed.complete
    assert parsed.results[A.key].ok and parsed.results[A.key].stdout == "a"
    assert parsed.results[C.key].error


def test_fatal_frame_from_the_bootstrap():
    message = base64.b64encode(b'Exception calling "FromBase64String"').decode()
    parsed = psenvelope.parse(ENV, framed(f"{B} FATAL {message}\r\n"))
    assert not parsed.complete
    assert any("n'a pas pu démarrer" in str(x) and "FromBase64String" in str(x) for x in parsed.anomalies)
    assert all(r.error for r in parsed.results.values())


def test_no_output_at_all_means_every_probe_is_missing():
    parsed = psenvelope.parse(ENV, b"")
    assert not parsed.complete and not parsed.anomalies
    assert {r.error for r in parsed.results.values()} == {
        "résultat absent du lot PowerShell (sortie interrompue ou falsifiée)"}


# --- CLIXML ---------------------------------------------------------------------------------

def test_clixml_errors_become_readable_text():
    text = psenvelope.decode_clixml(load("stderr_clixml_write_error").output.encode())
    assert text.startswith('Write-Error "Error" : Error')
    assert "FullyQualifiedErrorId" in text and "<Objs" not in text and "_x000D_" not in text


def test_clixml_progress_records_are_noise():
    assert psenvelope.decode_clixml(load("stderr_clixml_progress").output) == ""


def test_several_clixml_documents_and_plain_text():
    two = load("stderr_clixml_progress").output + load("stderr_clixml_write_error").output
    assert psenvelope.decode_clixml(two).startswith('Write-Error "Error"')
    assert psenvelope.decode_clixml("Le programme est bloqué\r\n") == "Le programme est bloqué"
    assert psenvelope.decode_clixml(b"#< CLIXML\r\n<Objs") == "<Objs"  # broken XML is shown as it came


# --- module imports and the language mode -----------------------------------------------------

def m_line(report: str) -> str:
    return f"{B} M {base64.b64encode(report.encode('utf-8')).decode()}\r\n"


def test_module_import_frames_are_read_and_failures_said():
    report = ('{"ms":21450,"modules":[{"name":"DnsServer","status":"ok","ms":21300,"error":""},'
              '{"name":"DhcpServer","status":"error","ms":150,"error":"The specified module \\u0027DhcpServer\\u0027 '
              'was not loaded because no valid module file was found in any module directory."}]}')
    one = '{"ms":0,"modules":{"name":"SmbShare","status":"skipped","ms":0,"error":""}}'
    parsed = psenvelope.parse(ENV, framed(f"{B} START\r\n", m_line(report), record_line(0, ok_record(0, A, "a")),
                                          m_line(one), record_line(1, ok_record(1, C, "c")), f"{B} END\r\n"))
    assert parsed.complete and parsed.results[A.key].ok and parsed.results[C.key].ok
    assert parsed.import_seconds == 21.45 and len(parsed.imports) == 2
    assert [(m.name, m.status) for m in parsed.imports[0][1]] == [("DnsServer", "ok"), ("DhcpServer", "error")]
    assert parsed.imports[1][1][0].status == "skipped", "ConvertTo-Json 5.1 writes a one-element array as an object"
    assert [str(a) for a in parsed.anomalies] == [
        ("module PowerShell DhcpServer non importé : The specified module 'DhcpServer' was not loaded because no "
         "valid module file was found in any module directory.")]


def test_a_bad_module_frame_is_an_anomaly_not_a_failure():
    parsed = psenvelope.parse(ENV, framed(f"{B} START\r\n", f"{B} M not-base64!\r\n", m_line('{"ms":1}'),
                                          record_line(0, ok_record(0, A, "a")), f"{B} END\r\n"))
    assert parsed.results[A.key].ok and parsed.imports == []
    assert [str(a) for a in parsed.anomalies] == ["rapport d'import des modules illisible (Error)",
                                                  "rapport d'import des modules illisible (KeyError)"]


def test_the_language_frame_names_the_mode():
    parsed = psenvelope.parse(ENV, framed(f"{B} LANG ConstrainedLanguage\r\n"))
    assert parsed.language == "ConstrainedLanguage" and not parsed.complete
    assert psenvelope.parse(ENV, framed(f"{B} LANG x y\r\n")).language == "'x y'"
    assert psenvelope.parse(ENV, framed(f"{B} START\r\n")).language is None
