"""The WinRM channel: the real pywinrm client over a real socket to the stand-in (tests/winrm_standin).

What is asserted is the batching contract (one shell, one command per host, counted on the
server side), the envelope's guarantees over the wire (accents, CLIXML, forged frames,
per-probe time budgets) and the mapping of failures: port closed, TLS refused and HTTP 401
are ``injoignable``; a WinRM fault or a PowerShell that cannot start is ``erreur``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket

import pytest

from grader.errors import CredentialError, TransportError, Unreachable
from grader.model import Probe
from grader.plugins import default_transports
from grader.probes.winrm import WinrmOptions
from grader.rubric import Credential
from grader.transports.base import HostContext
from grader.transports.winrm import WinrmChannel
from tests.winrm_standin import Recording, Standin, WindowsHost, load

PASSWORD = "Mot-de-passe-1"
SERVICE = Probe("winrm", "Get-Service -Name 'Spooler' -ErrorAction Stop | Select-Object -Property 'Name', "
                         "'DisplayName', 'Status', 'StartType' | ConvertTo-Json -Depth 4")
SHARE = Probe("winrm", "Get-SmbShareAccess -Name 'Comptabilité' -ErrorAction Stop | ConvertTo-Json -Depth 4")
MISSING = Probe("winrm", "Get-Service -Name 'Nope' -ErrorAction Stop | ConvertTo-Json -Depth 4")
SOAP = ["Create", "Command", "Send", "Receive", "Signal", "Delete"]


def one_run(standin: Standin) -> bool:
    """The SOAP actions of one shell and one command (Receive repeats while output keeps coming)."""
    collapsed = [a for i, a in enumerate(standin.actions) if not (a == "Receive" and standin.actions[i - 1] == "Receive")]
    return collapsed == SOAP


def accounts(result) -> list[str]:
    return [entry["AccountName"] for entry in json.loads(result.stdout)]


def windows_host() -> WindowsHost:
    host = WindowsHost("srv-win")
    host.answer(SERVICE.command, "get_service_spooler_running")
    host.answer(SHARE.command, "get_smbshareaccess_commun")
    host.answer(MISSING.command, "get_service_nope_not_found")
    return host


@pytest.fixture
def password(monkeypatch):
    monkeypatch.setenv("GRADER_TEST_WINRM", PASSWORD)
    return Credential(username="grader", password_env="GRADER_TEST_WINRM")


def collect(standin: Standin, host_credential, probes, *, port: int | None = None, credentials=None, **options):
    context = HostContext(name="srv-win", address="127.0.0.1", platform="windows",
                          port=port if port is not None else standin.port, credential=host_credential,
                          credentials=credentials or {}, options=WinrmOptions(**options), connect_timeout=2)
    return WinrmChannel().collect(context, probes)


def test_registered_as_a_builtin_channel():
    channel = default_transports()["winrm"]
    assert channel is WinrmChannel and channel.needs_credential and not channel.grader_side


def test_basic_over_http_one_shell_one_command(password):
    with Standin(windows_host(), auth=("basic",)) as s:
        got = collect(s, password, [SERVICE, SHARE, MISSING], auth="basic")
    assert one_run(s), "one shell, one command, stdin, output, end: nothing per probe"
    assert got.execs == 1 and got.complete and got.host_key == ""
    assert got.login == "grader (mot de passe), modules PowerShell SmbShare importés en 0 s"  # Get-SmbShareAccess
    assert any("en clair" in a for a in got.anomalies)
    service = got.results[SERVICE.key]
    assert service.exit_code == 0 and json.loads(service.stdout)["Name"] == "Spooler"
    assert service.stdout.count("\r\n") == 5, "the output is handed over as PowerShell wrote it (CRLF)"
    missing = got.results[MISSING.key]
    assert missing.exit_code == 1 and "NoServiceFoundForGivenName" in missing.stderr
    command, arguments = s.commands[0]
    assert command == "powershell.exe"
    assert arguments[:5] == ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand"]


def test_ntlm_with_message_encryption(password):
    with Standin(windows_host(), auth=("ntlm",)) as s:
        got = collect(s, password, [SERVICE, SHARE])
    assert one_run(s) and s.auth_failures == 0
    assert s.encrypted_messages == len(s.actions), "every SOAP message travelled sealed (multipart/encrypted)"
    assert got.complete and not got.anomalies
    assert "TSSR\\Comptabilité" in accounts(got.results[SHARE.key])


def test_accents_round_trip_in_commands_and_outputs(password):
    probe = Probe("winrm", "Get-ADOrganizationalUnit -Identity 'OU=Comptabilité,DC=tssr,DC=lan' | ConvertTo-Json")
    host = WindowsHost().answer(probe.command, Recording("ou", "test", output='{\r\n    "Name":  "Comptabilité – Été"\r\n}'))
    with Standin(host) as s:
        got = collect(s, password, [probe])
    assert host.unknown == [], "the command reached PowerShell with its accents intact"
    assert json.loads(got.results[probe.key].stdout)["Name"] == "Comptabilité – Été"


def test_clixml_stderr_is_decoded_into_readable_text(password):
    host = windows_host()
    host.stderr = load("stderr_clixml_progress").output + load("stderr_clixml_write_error").output
    with Standin(host) as s:
        got = collect(s, password, [SERVICE])
    [note] = [a for a in got.anomalies if "stderr" in a]
    assert 'Write-Error "Error" : Error' in note and "<Objs" not in note and "Preparing modules" not in note
    assert got.results[SERVICE.key].ok


def test_progress_only_stderr_is_not_an_anomaly(password):
    host = windows_host()
    host.stderr = load("stderr_clixml_progress").output
    with Standin(host) as s:
        got = collect(s, password, [SERVICE])
    assert got.anomalies == [] and got.complete


def test_a_probe_output_cannot_forge_another_probe(password):
    forged_record = json.dumps({"i": 1, "k": SHARE.key, "status": "ok", "out": "forged", "trunc": False,
                                "errors": [], "ms": 1})
    forged_line = f"GRADER-{'0' * 32} R 1 {base64.b64encode(forged_record.encode()).decode()}"
    host = windows_host()
    # a service whose display name carries frame lines, and a module that writes one straight to the console
    host.answer(SERVICE.command, Recording("forger", "test", output='{"DisplayName": "x\r\n' + forged_line + '\r\n"}',
                                           console=forged_line))
    with Standin(host) as s:
        got = collect(s, password, [SERVICE, SHARE])
    assert "TSSR\\Comptabilité" in accounts(got.results[SHARE.key])
    assert forged_line in got.results[SERVICE.key].stdout
    assert any("hors cadre" in a and "GRADER-000" in a for a in got.anomalies)


def test_each_probe_has_its_own_time_budget(password):
    slow = Probe("winrm", "Start-Sleep -Seconds 30", timeout=0.3)
    host = windows_host().answer(slow.command, Recording("slow", "test", output="late", delay=30))
    with Standin(host) as s:
        got = collect(s, password, [SERVICE, slow, SHARE])
    assert got.results[slow.key].timed_out and not got.results[slow.key].ok
    assert got.results[SERVICE.key].ok and got.results[SHARE.key].ok and got.complete


def test_the_run_deadline_keeps_finished_probes_and_still_deletes_the_shell(password):
    slow = Probe("winrm", "Start-Sleep -Seconds 3", timeout=10)
    host = windows_host().answer(slow.command, Recording("slow", "test", output="late", delay=3))
    with Standin(host, max_wait=0.2) as s:
        got = collect(s, password, [SERVICE, slow, SHARE], run_timeout=1, operation_timeout=1)
    assert not got.complete
    assert got.results[SERVICE.key].ok
    assert got.results[slow.key].error and got.results[SHARE.key].error
    assert any("délai de 1 s dépassé" in a for a in got.anomalies)
    assert s.count("Signal") == 1 and s.count("Delete") == 1 and s.shells == {}


def test_wrong_password_is_unreachable_with_a_clear_reason(monkeypatch, password):
    monkeypatch.setenv("GRADER_TEST_WINRM", "mauvais")
    for auth in ("ntlm", "basic"):
        with Standin(windows_host(), auth=(auth,)) as s, \
                pytest.raises(Unreachable, match="authentification refusée") as info:
            collect(s, password, [SERVICE], auth=auth)
        assert "« grader »" in str(info.value) and "401" in str(info.value)
        assert s.actions == [] and s.auth_failures >= 1


def test_closed_port_is_unreachable(password):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with Standin(windows_host()) as s, pytest.raises(Unreachable, match="refuse la connexion"):
        collect(s, password, [SERVICE], port=port)


def test_https_certificate_checked_and_fingerprinted(password):
    with Standin(windows_host(), tls=True) as s:
        got = collect(s, password, [SERVICE], scheme="https", ca_file=str(s.cert_file))
        assert got.host_key == "x509 SHA256:" + hashlib.sha256(s.cert_der).hexdigest().upper()
        assert got.complete and not got.anomalies
        with pytest.raises(Unreachable, match="TLS"):
            collect(s, password, [SERVICE], scheme="https")  # self-signed, not in the system's CAs
        got = collect(s, password, [SERVICE], scheme="https", verify_tls=False)
        assert any("non vérifié" in a for a in got.anomalies) and got.host_key.startswith("x509 SHA256:")
    assert s.actions.count("Create") == 2, "the refused handshake never reached WS-Management"


def test_tls_to_a_plain_http_port_is_unreachable(password):
    with Standin(windows_host()) as s, pytest.raises(Unreachable, match="TLS"):
        collect(s, password, [SERVICE], scheme="https")


def test_wsman_fault_is_an_error_with_its_reason(password):
    with Standin(windows_host()) as s:
        quota = "This user is allowed a maximum number of 5 concurrent shells, which has been exceeded."
        s.faults["Create"] = ("s:Receiver", "w:InternalError", quota, 2150859174)
        with pytest.raises(TransportError, match="maximum number of 5 concurrent shells") as info:
            collect(s, password, [SERVICE])
    assert not isinstance(info.value, Unreachable)


def test_access_denied_fault_is_unreachable(password):
    with Standin(windows_host()) as s:
        s.faults["Create"] = ("s:Sender", "w:AccessDenied", "Access is denied. ", 5)
        with pytest.raises(Unreachable, match="accès WinRM refusé"):
            collect(s, password, [SERVICE])


def test_powershell_that_cannot_start_is_an_error_with_the_decoded_reason(password):
    host = windows_host()
    host.crash = ("#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">"
                  "<S S=\"Error\">Ce programme est bloqué par une stratégie de groupe._x000D__x000A_</S></Objs>")
    with Standin(host) as s, pytest.raises(TransportError, match="bloqué par une stratégie de groupe") as info:
        collect(s, password, [SERVICE])
    assert not isinstance(info.value, Unreachable)
    assert s.count("Delete") == 1


def test_missing_or_unresolvable_credential(password, monkeypatch):
    with Standin(windows_host()) as s:
        with pytest.raises(CredentialError):
            collect(s, None, [SERVICE])
        monkeypatch.delenv("GRADER_TEST_WINRM")
        with pytest.raises(CredentialError, match="GRADER_TEST_WINRM"):
            collect(s, password, [SERVICE])
    assert s.actions == []


def test_options_credential_reference_and_defaults(password):
    assert WinrmOptions().scheme == "http" and WinrmOptions().auth == "ntlm" and WinrmOptions().verify_tls
    with pytest.raises(ValueError):
        WinrmOptions(scheme="ftp")
    with pytest.raises(ValueError):
        WinrmOptions(auth="digest")
    with Standin(windows_host()) as s:
        got = collect(s, None, [SERVICE], credentials={"lecteur": password},
                      credential="lecteur")  # options.credential names another rubric credential
    assert got.results[SERVICE.key].ok


def test_many_probes_still_one_command(password):
    probes = [Probe("winrm", f"Get-Service -Name 'S{i}' -ErrorAction Stop | ConvertTo-Json -Depth 4") for i in range(60)]
    host = WindowsHost()
    for p in probes:
        host.answer(p.command, "get_service_spooler_running")
    with Standin(host) as s:
        got = collect(s, password, probes)
    assert s.count("Command") == 1 and s.count("Create") == 1 and s.count("Send") >= 1
    assert all(r.ok for r in got.results.values()) and len(got.results) == 60


def test_nothing_before_the_deadline_is_an_error_not_a_verdict(password):
    host = windows_host()
    host.startup = 3  # powershell.exe still starting when the run's deadline passes
    with Standin(host, max_wait=0.2) as s, pytest.raises(TransportError, match="rien reçu en 1 s"):
        collect(s, password, [SERVICE], run_timeout=1, operation_timeout=1)
    assert s.count("Delete") == 1


# --- what Windows PowerShell 5.1 and the host's policies do to the batch (issue #16) --------

def test_constrained_language_mode_is_an_error_that_names_it(password):
    host = windows_host()
    host.language = "ConstrainedLanguage"  # AppLocker/WDAC in enforcement
    with Standin(host) as s, pytest.raises(TransportError, match=r"mode de langage restreint \(ConstrainedLanguage\) "
                                                                 r": AppLocker/WDAC bloque le lot") as info:
        collect(s, password, [SERVICE])
    assert not isinstance(info.value, Unreachable)
    assert s.count("Delete") == 1


def test_remote_shell_access_disabled_by_policy_is_an_error_that_names_it(password):
    with Standin(windows_host()) as s:
        s.refuse_shell("AllowRemoteShellAccess")
        with pytest.raises(TransportError, match=r"l'accès au shell distant est désactivé par stratégie "
                                                 r"\(AllowRemoteShellAccess\)") as info:
            collect(s, password, [SERVICE])
    assert not isinstance(info.value, Unreachable)
    assert s.count("Command") == 0


def test_a_local_admin_filtered_by_uac_is_told_apart(password, monkeypatch):
    with Standin(windows_host()) as s:
        s.refuse_shell("LocalAccountTokenFilterPolicy")
        with pytest.raises(Unreachable) as info:
            collect(s, password, [SERVICE])
    text = str(info.value)
    assert "compte *local*" in text and "restrictions distantes de l'UAC" in text
    assert "un compte de domaine, ou LocalAccountTokenFilterPolicy=1" in text and "centre d'examen" in text
    assert "doit être administrateur" not in text, "nobody is told to change the candidate's machine"
    monkeypatch.setenv("GRADER_TEST_WINRM_UPN", PASSWORD)
    upn = Credential(username="grader@lab.test", password_env="GRADER_TEST_WINRM_UPN")
    with Standin(windows_host(), users={"grader@lab.test": PASSWORD}, auth=("basic",)) as s:
        s.refuse_shell("LocalAccountTokenFilterPolicy")
        with pytest.raises(Unreachable, match="Utilisateurs de gestion à distance") as info:
            collect(s, upn, [SERVICE], auth="basic")
    assert "UAC" not in str(info.value), "a domain account (user@domain) is not filtered by UAC remote restrictions"


def test_module_import_comes_before_the_first_probe_and_outside_its_budget(password):
    host = windows_host()
    host.module_load = 1.5  # a fresh profile builds its module cache on the first import
    share = Probe("winrm", SHARE.command, timeout=1.0)
    with Standin(host) as s:
        got = collect(s, password, [share, SERVICE])
    result = got.results[share.key]
    assert not result.timed_out and result.ok and accounts(result)
    assert got.login == "grader (mot de passe), modules PowerShell SmbShare importés en 1.5 s"
    assert not got.anomalies


def test_a_missing_module_is_not_fatal_and_is_said(password):
    host = windows_host()
    host.missing_modules = {"SmbShare"}
    with Standin(host) as s:
        got = collect(s, password, [SHARE, SERVICE])
    assert got.complete and got.results[SERVICE.key].ok
    assert any("module PowerShell SmbShare non importé" in a and "no valid module file" in a for a in got.anomalies)


def test_a_module_import_over_its_budget_is_cut_and_said(password, monkeypatch):
    monkeypatch.setattr("grader.transports.psenvelope.MODULE_BUDGET", 0.3)
    host = windows_host()
    host.module_load = 0.5
    with Standin(host) as s:
        got = collect(s, password, [SERVICE, SHARE])
    assert got.complete and got.results[SERVICE.key].ok
    assert any("import du module PowerShell SmbShare interrompu" in a for a in got.anomalies)


def test_the_batch_exits_right_after_its_last_frame(password):
    with Standin(windows_host(), max_wait=0.2) as s:
        got = collect(s, password, [SERVICE], run_timeout=5, operation_timeout=1)
    assert got.complete and got.results[SERVICE.key].ok
    assert not any("lot interrompu" in a for a in got.anomalies), got.anomalies
