"""windows.feature_installed: ``Get-WindowsFeature`` outputs recorded in tests/winrm_standin/recordings."""

from __future__ import annotations

import pydantic
import pytest

from checks.windows.features import FeatureInstalled
from grader.model import Status
from tests.winrm_standin.recordings import result as rec


def test_installed_role_is_conforme(judge):
    v = judge(FeatureInstalled, {"feature": "DHCP"}, feature=rec("get_windowsfeature_dhcp_installed"))
    assert v.status is Status.CONFORME and "InstallState=Installed" in v.observed


def test_available_but_not_installed_is_non_conforme(judge):
    v = judge(FeatureInstalled, {"feature": "RDS-RD-Server"}, feature=rec("get_windowsfeature_rds_available"))
    assert v.status is Status.NON_CONFORME and "Hôte de session Bureau à distance" in v.message


def test_unknown_feature_name_is_a_rubric_mistake(judge):
    v = judge(FeatureInstalled, {"feature": "DHCP-Srv"}, feature=rec("get_windowsfeature_unknown_name"))
    assert v.status is Status.ERREUR and "nom inexact" in v.message


def test_client_windows_is_erreur(judge):
    v = judge(FeatureInstalled, {"feature": "DHCP"}, feature=rec("get_windowsfeature_client_os"))
    assert v.status is Status.ERREUR and "client" in v.message


def test_feature_names_are_validated():
    with pytest.raises(pydantic.ValidationError):
        FeatureInstalled.Params(feature="DHCP*")
    with pytest.raises(pydantic.ValidationError):
        FeatureInstalled.Params(feature="Serveur DHCP")
