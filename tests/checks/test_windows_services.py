"""windows.service_running: ``Get-Service`` outputs recorded in tests/winrm_standin/recordings."""

from __future__ import annotations

import pydantic
import pytest

from checks.windows.services import ServiceRunning
from grader.model import Status
from tests.checks.conftest import make_result
from tests.winrm_standin.recordings import result as rec


def test_running_and_automatic_is_conforme(judge):
    v = judge(ServiceRunning, {"service": "Spooler"}, service=rec("get_service_spooler_running"))
    assert v.status is Status.CONFORME
    assert "Status=Running" in v.observed and "StartType=Automatic" in v.observed
    assert "Spouleur d'impression" in v.observed


def test_names_are_compared_without_case(judge):
    v = judge(ServiceRunning, {"service": "spooler", "start_mode": "Automatic"}, service=rec("get_service_spooler_running"))
    assert v.status is Status.CONFORME


def test_running_but_manual_when_automatic_is_expected(judge):
    v = judge(ServiceRunning, {"service": "W32Time"}, service=rec("get_service_w32time_running_manual"))
    assert v.status is Status.NON_CONFORME and "manuel" in v.message
    v = judge(ServiceRunning, {"service": "W32Time", "start_mode": None}, service=rec("get_service_w32time_running_manual"))
    assert v.status is Status.CONFORME


def test_stopped_and_disabled_hardening(judge):
    params = {"service": "Spooler", "running": False, "start_mode": "disabled"}
    assert judge(ServiceRunning, params, service=rec("get_service_spooler_stopped_disabled")).status is Status.CONFORME
    v = judge(ServiceRunning, params, service=rec("get_service_spooler_running"))
    assert v.status is Status.NON_CONFORME and "n'est pas arrêté" in v.message


def test_start_pending_is_not_running(judge):
    v = judge(ServiceRunning, {"service": "wuauserv", "start_mode": None}, service=rec("get_service_wuauserv_start_pending"))
    assert v.status is Status.NON_CONFORME and "StartPending" in v.message


def test_service_that_does_not_exist_is_non_conforme(judge):
    v = judge(ServiceRunning, {"service": "Nope"}, service=rec("get_service_nope_not_found"))
    assert v.status is Status.NON_CONFORME and "inexistant" in v.observed


def test_missing_start_type_is_erreur_not_a_guess(judge):
    out = '{\r\n    "Name":  "Spooler",\r\n    "DisplayName":  "Spouleur",\r\n    "Status":  4,\r\n    "StartType":  null\r\n}'
    v = judge(ServiceRunning, {"service": "Spooler"}, service=make_result(out, transport="winrm"))
    assert v.status is Status.ERREUR and "StartType" in v.message


def test_enum_names_from_a_newer_powershell_are_read_too(judge):
    out = '{"Name": "Spooler", "DisplayName": "Spouleur", "Status": "Running", "StartType": "Automatic"}'
    assert judge(ServiceRunning, {"service": "Spooler"}, service=make_result(out)).status is Status.CONFORME


def test_other_failures_are_erreur(judge):
    denied = make_result("", '[{"type": "System.InvalidOperationException", "id": "CouldNotGetServiceInfo,'
                             'Microsoft.PowerShell.Commands.GetServiceCommand", "category": "PermissionDenied", '
                             '"message": "Service \'Spooler\' cannot be queried due to the following error: Access is '
                             'denied", "target": "Spooler"}]', 1)
    v = judge(ServiceRunning, {"service": "Spooler"}, service=denied)
    assert v.status is Status.ERREUR and "accès refusé" in v.message


@pytest.mark.parametrize("name", ["Spool*", "a?", "[ab]", ""])
def test_wildcards_are_refused_in_parameters(name):
    with pytest.raises(pydantic.ValidationError):
        ServiceRunning.Params(service=name)


def test_probe_quotes_the_name():
    probe = ServiceRunning().probes(ServiceRunning.Params(service="O'Brien’s"))["service"]
    assert "-Name 'O''Brien’’s'" in probe.command and probe.transport == "winrm"
