"""windows.dns_record: ``Get-DnsServerResourceRecord`` outputs recorded in tests/winrm_standin/recordings."""

from __future__ import annotations

import pydantic
import pytest

from checks.windows.dns import DnsRecord, DnsZone
from grader.model import Status
from tests.winrm_standin.recordings import result as rec

RUNNING = "get_service_dns_running"


def test_a_record_with_its_address(judge):
    v = judge(DnsRecord, {"zone": "tssr.lan", "name": "intranet", "value": "192.168.10.20"},
              records=rec("get_dnsserverresourcerecord_intranet_a"), service=rec(RUNNING))
    assert v.status is Status.CONFORME and v.observed == "intranet.tssr.lan A 192.168.10.20"


def test_one_of_two_addresses_is_enough_a_wrong_one_is_not(judge):
    params = {"zone": "tssr.lan", "name": "intranet", "value": "192.168.10.20"}
    assert judge(DnsRecord, params, records=rec("get_dnsserverresourcerecord_intranet_a_two"),
                 service=rec(RUNNING)).status is Status.CONFORME
    v = judge(DnsRecord, {**params, "value": "192.168.10.30"}, records=rec("get_dnsserverresourcerecord_intranet_a_two"),
              service=rec(RUNNING))
    assert v.status is Status.NON_CONFORME and "192.168.10.21, 192.168.10.20" in v.message


def test_cname_compared_without_case_or_final_dot(judge):
    v = judge(DnsRecord, {"zone": "tssr.lan", "name": "www", "type": "cname", "value": "Intranet.TSSR.lan"},
              records=rec("get_dnsserverresourcerecord_www_cname"), service=rec(RUNNING))
    assert v.status is Status.CONFORME


def test_existence_only(judge):
    v = judge(DnsRecord, {"zone": "tssr.lan", "name": "intranet"}, records=rec("get_dnsserverresourcerecord_intranet_a"),
              service=rec(RUNNING))
    assert v.status is Status.CONFORME


def test_missing_name_and_missing_zone_are_told_apart(judge):
    v = judge(DnsRecord, {"zone": "tssr.lan", "name": "intranet"}, records=rec("get_dnsserverresourcerecord_name_missing"),
              service=rec(RUNNING))
    assert v.status is Status.NON_CONFORME and "aucun enregistrement A" in v.observed
    v = judge(DnsRecord, {"zone": "tssr.lan", "name": "intranet"}, records=rec("get_dnsserverresourcerecord_zone_missing"),
              service=rec(RUNNING))
    assert v.status is Status.NON_CONFORME and "zone tssr.lan inexistante" in v.observed


def test_module_missing_role_missing(judge):
    v = judge(DnsRecord, {"zone": "tssr.lan", "name": "intranet"}, records=rec("command_not_found_dns"),
              service=rec("get_service_dns_not_found"))
    assert v.status is Status.NON_CONFORME and "rôle DNS absent" in v.observed
    v = judge(DnsRecord, {"zone": "tssr.lan", "name": "intranet"}, records=rec("command_not_found_dns"),
              service=rec(RUNNING))
    assert v.status is Status.ERREUR


@pytest.mark.parametrize("params", [{"zone": "tssr.lan", "name": "*"}, {"zone": "tssr lan", "name": "a"},
                                    {"zone": "tssr.lan", "name": "a", "type": "SOA"}])
def test_parameters_are_validated(params):
    with pytest.raises(pydantic.ValidationError):
        DnsRecord.Params(**params)


def test_apex_and_record_types_in_the_probe():
    probe = DnsRecord().probes(DnsRecord.Params(zone="tssr.lan", name="@", type="MX"))["records"]
    assert "-Name '@' -Node -RRType MX" in probe.command and "MailExchange" in probe.command


# Without -Node, Windows also returns the records of every name below the one asked (issue #16).
APEX_CHILDREN = "get_dnsserverresourcerecord_apex_a_children"  # srv and host.sub, no A for the zone itself


def test_the_apex_does_not_borrow_a_child_address(judge):
    v = judge(DnsRecord, {"zone": "tssr.lan", "name": "@", "value": "192.168.10.10"}, records=rec(APEX_CHILDREN),
              service=rec(RUNNING))
    assert v.status is Status.NON_CONFORME and "aucun enregistrement A pour tssr.lan" in v.observed
    v = judge(DnsRecord, {"zone": "tssr.lan", "name": "@"}, records=rec(APEX_CHILDREN), service=rec(RUNNING))
    assert v.status is Status.NON_CONFORME


def test_the_apex_record_itself_is_found_among_children(judge):
    v = judge(DnsRecord, {"zone": "tssr.lan", "name": "@", "value": "192.168.10.10"},
              records=rec("get_dnsserverresourcerecord_apex_a"), service=rec(RUNNING))
    assert v.status is Status.CONFORME and v.observed == "tssr.lan A 192.168.10.10"
    v = judge(DnsRecord, {"zone": "tssr.lan", "name": "@", "value": "192.168.10.30"},
              records=rec("get_dnsserverresourcerecord_apex_a"), service=rec(RUNNING))
    assert v.status is Status.NON_CONFORME and "192.168.10.30" not in v.observed


def test_a_name_with_only_children_has_no_record(judge):
    v = judge(DnsRecord, {"zone": "tssr.lan", "name": "sub"}, records=rec("get_dnsserverresourcerecord_sub_children"),
              service=rec(RUNNING))
    assert v.status is Status.NON_CONFORME and "aucun enregistrement A pour sub.tssr.lan" in v.observed
    v = judge(DnsRecord, {"zone": "tssr.lan", "name": "Host.Sub", "value": "192.168.10.30"},
              records=rec("get_dnsserverresourcerecord_sub_children"), service=rec(RUNNING))
    assert v.status is Status.CONFORME
    v = judge(DnsRecord, {"zone": "tssr.lan", "name": "srv", "value": "192.168.10.10"}, records=rec(APEX_CHILDREN),
              service=rec(RUNNING))
    assert v.status is Status.CONFORME and v.observed == "srv.tssr.lan A 192.168.10.10"


# --- windows.dns_zone ----------------------------------------------------------------------------

def test_zone_integrated_in_ad_with_secure_updates(judge):
    assert DnsZone.id == "windows.dns_zone"
    v = judge(DnsZone, {"zone": "tssr.lan", "type": "primary", "ad_integrated": True, "dynamic_update": "secure",
                        "reverse": False},
              zone=rec("get_dnsserverzone_tssr_lan"), service=rec(RUNNING))
    assert v.status is Status.CONFORME, v.message
    assert "type Primary" in v.observed and "IsDsIntegrated=True (Domain)" in v.observed


def test_a_secondary_zone_where_an_ad_primary_was_asked_says_what_differs(judge):
    v = judge(DnsZone, {"zone": "tssr.lan", "type": "Primary", "ad_integrated": True, "dynamic_update": "Secure"},
              zone=rec("get_dnsserverzone_secondary_file"), service=rec(RUNNING))
    assert v.status is Status.NON_CONFORME
    for part in ("de type Secondary, Primary attendu", "pas intégrée à Active Directory", "dynamiques None"):
        assert part in v.message, v.message


def test_masters_of_a_secondary_zone(judge):
    params = {"zone": "tssr.lan", "type": "Secondary", "masters": ["192.168.10.10"]}
    assert judge(DnsZone, params, zone=rec("get_dnsserverzone_secondary_file"),
                 service=rec(RUNNING)).status is Status.CONFORME
    v = judge(DnsZone, {**params, "masters": ["192.168.10.11"]}, zone=rec("get_dnsserverzone_secondary_file"),
              service=rec(RUNNING))
    assert v.status is Status.NON_CONFORME and "192.168.10.11" in v.message


def test_existence_only_and_zone_missing(judge):
    assert judge(DnsZone, {"zone": "tssr.lan."}, zone=rec("get_dnsserverzone_tssr_lan"),
                 service=rec(RUNNING)).status is Status.CONFORME
    v = judge(DnsZone, {"zone": "10.168.192.in-addr.arpa"}, zone=rec("get_dnsserverzone_zone_missing"),
              service=rec(RUNNING))
    assert v.status is Status.NON_CONFORME and "inexistante" in v.observed


def test_zone_without_dns_role_or_without_its_module(judge):
    v = judge(DnsZone, {"zone": "tssr.lan"}, zone=rec("command_not_found_dns"), service=rec("get_service_dns_not_found"))
    assert v.status is Status.NON_CONFORME and "rôle DNS absent" in v.observed
    v = judge(DnsZone, {"zone": "tssr.lan"}, zone=rec("command_not_found_dns"), service=rec(RUNNING))
    assert v.status is Status.ERREUR


@pytest.mark.parametrize("params", [{"zone": "tssr lan"}, {"zone": "tssr.lan", "type": "Master"},
                                    {"zone": "tssr.lan", "masters": ["dc1"]}])
def test_zone_parameters_are_validated(params):
    with pytest.raises(pydantic.ValidationError):
        DnsZone.Params(**params)
