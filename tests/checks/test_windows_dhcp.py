"""windows.dhcp_scope: ``DhcpServer`` module outputs recorded in tests/winrm_standin/recordings."""

from __future__ import annotations

import dataclasses

import pydantic
import pytest

from checks.windows.dhcp import DhcpScope, normalize_mac
from grader.model import Status
from tests.winrm_standin.recordings import result as rec

FULL = {"scope": "192.168.10.0", "start": "192.168.10.100", "end": "192.168.10.200", "mask": "255.255.255.0",
        "router": "192.168.10.254", "dns_servers": ["192.168.10.11", "192.168.10.10"],
        "reservations": [{"ip": "192.168.10.50", "mac": "00:15:5D:0A:01:32"}]}


def probes(scope="get_dhcpserverv4scope_lan", service="get_service_dhcpserver_running",
           options="get_dhcpserverv4optionvalue_lan", reservations="get_dhcpserverv4reservation_lan"):
    return {"scope": rec(scope), "service": rec(service), "options": rec(options), "reservations": rec(reservations)}


def test_complete_scope_with_options_from_scope_and_server(judge):
    v = judge(DhcpScope, FULL, **probes())
    assert v.status is Status.CONFORME
    assert "option 3 (routeur, étendue) : 192.168.10.254" in v.observed
    assert "option 6 (DNS, serveur) : 192.168.10.10, 192.168.10.11" in v.observed
    assert "192.168.10.50 → 00-15-5d-0a-01-32" in v.observed


def test_inactive_scope_with_the_wizard_range(judge):
    v = judge(DhcpScope, {"scope": "192.168.10.0", "start": "192.168.10.100"},
              scope=rec("get_dhcpserverv4scope_inactive"), service=rec("get_service_dhcpserver_running"))
    assert v.status is Status.NON_CONFORME
    assert "pas active" in v.message and "192.168.10.1, 192.168.10.100 attendu" in v.message


def test_a_scope_option_overrides_the_server_one(judge):
    params = {"scope": "192.168.10.0", "router": "192.168.10.254", "dns_servers": ["192.168.10.10"]}
    v = judge(DhcpScope, params, scope=rec("get_dhcpserverv4scope_lan"), service=rec("get_service_dhcpserver_running"),
              options=rec("get_dhcpserverv4optionvalue_overridden"))
    assert v.status is Status.NON_CONFORME
    assert "(8.8.8.8)" in v.message and "routeur (3)" in v.message


def test_reservation_for_another_mac(judge):
    params = {"scope": "192.168.10.0", "reservations": [{"ip": "192.168.10.50", "mac": "00-15-5D-0A-01-33"},
                                                        {"ip": "192.168.10.51", "mac": "00-15-5D-0A-01-34"}]}
    v = judge(DhcpScope, params, scope=rec("get_dhcpserverv4scope_lan"), service=rec("get_service_dhcpserver_running"),
              reservations=rec("get_dhcpserverv4reservation_lan"))
    assert v.status is Status.NON_CONFORME
    assert "réservée pour 00-15-5d-0a-01-32" in v.message and "Aucune réservation pour 192.168.10.51" in v.message


def test_missing_scope_is_non_conforme(judge):
    v = judge(DhcpScope, {"scope": "192.168.10.0"}, scope=rec("get_dhcpserverv4scope_not_found"),
              service=rec("get_service_dhcpserver_running"))
    assert v.status is Status.NON_CONFORME and "inexistante" in v.observed


def test_no_dhcp_service_at_all_means_the_role_is_absent(judge):
    v = judge(DhcpScope, {"scope": "192.168.10.0"}, scope=rec("command_not_found_dhcp"),
              service=rec("get_service_dhcpserver_not_found"))
    assert v.status is Status.NON_CONFORME and "rôle DHCP absent" in v.observed


def test_module_missing_while_the_service_exists_is_erreur(judge):
    """CommandNotFoundException has category ObjectNotFound too: it must not read as "no scope"."""
    v = judge(DhcpScope, {"scope": "192.168.10.0"}, scope=rec("command_not_found_dhcp"),
              service=rec("get_service_dhcpserver_running"))
    assert v.status is Status.ERREUR and "IncludeManagementTools" in v.message


def test_parameters_are_validated():
    with pytest.raises(pydantic.ValidationError):
        DhcpScope.Params(scope="192.168.10")
    with pytest.raises(pydantic.ValidationError):
        DhcpScope.Params(scope="192.168.10.0", reservations=[{"ip": "192.168.10.5", "mac": "00-15-5D"}])
    assert normalize_mac("00:15:5D:0A:01:32") == normalize_mac("00155d0a0132") == "00155d0a0132"


def test_only_the_probes_needed_are_declared():
    assert set(DhcpScope().probes(DhcpScope.Params(scope="10.0.0.0"))) == {"scope", "service"}
    assert set(DhcpScope().probes(DhcpScope.Params(**FULL))) == {"scope", "service", "options", "reservations"}


# --- issue #16: DHCP as a real Windows Server answers ---------------------------------------------

ROUTER_DNS = {"scope": "192.168.10.0", "router": "192.168.10.254", "dns_servers": ["192.168.10.10"]}


@pytest.mark.parametrize("options", ["get_dhcpserverv4optionvalue_none", "get_dhcpserverv4optionvalue_not_present"])
def test_an_unset_option_reads_as_no_option(judge, options):
    """DHCP 20010 (ERROR_DHCP_OPTION_NOT_PRESENT) is not an error: the scope has no option."""
    v = judge(DhcpScope, ROUTER_DNS, scope=rec("get_dhcpserverv4scope_lan"), service=rec("get_service_dhcpserver_running"),
              options=rec(options))
    assert v.status is Status.NON_CONFORME, v.message
    assert "aucune option" in v.observed
    assert "routeur (3)" in v.message and "DNS (6)" in v.message


def test_the_probe_takes_an_unset_option_level_as_empty():
    command = DhcpScope().probes(DhcpScope.Params(**ROUTER_DNS))["options"].command
    assert command.count("DHCP 20010") == 1 and "throw" in command


def test_a_missing_scope_is_told_by_its_dhcp_error_code(judge):
    """DHCP 20005 (ERROR_DHCP_SUBNET_NOT_PRESENT), whatever category the record carries."""
    recording = rec("get_dhcpserverv4scope_not_found")
    assert "DHCP 20005," in recording.stderr
    blank = dataclasses.replace(recording, stderr=recording.stderr.replace('"ObjectNotFound"', '"NotSpecified"'))
    v = judge(DhcpScope, {"scope": "192.168.10.0"}, scope=blank, service=rec("get_service_dhcpserver_running"))
    assert v.status is Status.NON_CONFORME and "inexistante" in v.observed


def test_a_stopped_dhcp_service_is_non_conforme_with_its_state(judge):
    v = judge(DhcpScope, {"scope": "192.168.10.0"}, scope=rec("get_dhcpserverv4scope_service_stopped"),
              service=rec("get_service_dhcpserver_stopped"))
    assert v.status is Status.NON_CONFORME, v.message
    assert "DHCPServer" in v.observed and "Stopped" in v.observed
    v = judge(DhcpScope, {"scope": "192.168.10.0"}, scope=rec("get_dhcpserverv4scope_service_stopped"),
              service=rec("get_service_dhcpserver_running"))
    assert v.status is Status.ERREUR, "the same failure with the service running is not explained"
