"""windows.wsus_client_policy: Windows Update policy values read from the registry (recordings)."""

from __future__ import annotations

import pydantic
import pytest

from checks.windows.wsus import WsusClientPolicy
from grader.model import Status
from tests.winrm_standin.recordings import result as rec

SERVER = "http://srv-wsus.tssr.lan:8530"


def test_configured_client(judge):
    v = judge(WsusClientPolicy, {"server": SERVER, "au_options": 4, "target_group": "postes-comptabilité"},
              policy=rec("wsus_policy_configured"))
    assert v.status is Status.CONFORME and "UseWUServer=1" in v.observed


def test_wrong_option_or_group(judge):
    v = judge(WsusClientPolicy, {"server": SERVER, "au_options": 3}, policy=rec("wsus_policy_configured"))
    assert v.status is Status.NON_CONFORME and "AUOptions vaut 4" in v.message
    v = judge(WsusClientPolicy, {"server": SERVER, "target_group": "Serveurs"}, policy=rec("wsus_policy_configured"))
    assert v.status is Status.NON_CONFORME and "Postes-Comptabilité" in v.message


def test_no_policy_applied(judge):
    v = judge(WsusClientPolicy, {"server": SERVER}, policy=rec("wsus_policy_absent"))
    assert v.status is Status.NON_CONFORME and "absente" in v.observed


def test_server_named_but_not_used(judge):
    v = judge(WsusClientPolicy, {"server": SERVER}, policy=rec("wsus_policy_not_used"))
    assert v.status is Status.NON_CONFORME
    assert "UseWUServer" in v.message and "WUServer vaut" not in v.message, "case and final / are ignored"


def test_another_server(judge):
    v = judge(WsusClientPolicy, {"server": "http://wsus2:8530"}, policy=rec("wsus_policy_configured"))
    assert v.status is Status.NON_CONFORME and "WUServer vaut http://srv-wsus.tssr.lan:8530" in v.message


@pytest.mark.parametrize("params", [{"server": "srv-wsus"}, {"server": SERVER, "au_options": 6}])
def test_parameters_are_validated(params):
    with pytest.raises(pydantic.ValidationError):
        WsusClientPolicy.Params(**params)
