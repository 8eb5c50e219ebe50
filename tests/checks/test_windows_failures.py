"""How the Windows judges read a failed probe, in each form Windows PowerShell 5.1 gives it (issue #16 §4).

* an object that does not exist: ``CmdletizationQuery_NotFound_<property>`` or, without the
  property, ``CmdletizationQuery_NotFound`` (a ``CimJobException``, category ObjectNotFound) →
  the check's non conforme;
* a cmdlet that does not exist (``CommandNotFoundException``, category ObjectNotFound too),
  whether the probe stopped on it or completed with it as a non-terminating error (status ok
  with an error record) → erreur, never non conforme.
"""

from __future__ import annotations

import dataclasses

import pytest

from checks.windows._ps import failure, object_missing
from checks.windows.dhcp import DhcpScope
from checks.windows.dns import DnsRecord, DnsZone
from checks.windows.shares import SmbShare
from checks.windows.tasks import ScheduledTask
from grader.model import Status
from tests.winrm_standin.recordings import result as rec

TASK = {"task": "Sauvegarde Comptabilité"}
SHARE = {"share": "Commun"}


@pytest.mark.parametrize("recording", ["get_scheduledtask_not_found", "get_scheduledtask_not_found_no_suffix"])
def test_a_missing_task_in_either_form(judge, recording):
    assert "CimJobException" in rec(recording).stderr
    v = judge(ScheduledTask, TASK, task=rec(recording))
    assert v.status is Status.NON_CONFORME and "tâche inexistante" in v.observed


@pytest.mark.parametrize("recording", ["get_smbshare_not_found", "get_smbshare_not_found_no_suffix"])
def test_a_missing_share_in_either_form(judge, recording):
    assert "CimJobException" in rec(recording).stderr
    v = judge(SmbShare, SHARE, share=rec(recording))
    assert v.status is Status.NON_CONFORME and "partage inexistant" in v.observed


@pytest.mark.parametrize("recording", ["get_scheduledtask_not_found", "get_scheduledtask_not_found_no_suffix",
                                       "get_smbshare_not_found", "get_smbshare_not_found_no_suffix"])
def test_the_not_found_query_forms_are_recognised(recording):
    assert object_missing(failure(rec(recording)))


@pytest.mark.parametrize("recording", ["command_not_found_nonterminating_task", "command_not_found_nonterminating_share",
                                       "command_not_found_dhcp", "script_not_found", "get_service_nope_not_found"])
def test_other_failures_are_not_a_missing_object_of_a_query(recording):
    assert not object_missing(failure(rec(recording)))


def test_a_command_that_completes_with_an_error_record_still_failed():
    r = rec("command_not_found_nonterminating_task")
    assert r.exit_code == 2, "status ok with an error record: the probe completed, not a terminating error"
    f = failure(r)
    assert f is not None and f.kind == "missing_command"


@pytest.mark.parametrize("recording", ["command_not_found_nonterminating_task", "command_not_found_dhcp"])
def test_a_missing_task_cmdlet_is_erreur(judge, recording):
    v = judge(ScheduledTask, TASK, task=rec(recording))
    assert v.status is Status.ERREUR, v.message


@pytest.mark.parametrize("recording", ["command_not_found_nonterminating_share", "command_not_found_dhcp"])
def test_a_missing_share_cmdlet_is_erreur(judge, recording):
    v = judge(SmbShare, {**SHARE, "group": "Comptabilité", "share_access": "read", "ntfs_access": "read"},
              share=rec(recording), access=rec(recording), ntfs=rec(recording))
    assert v.status is Status.ERREUR, v.message
    v = judge(SmbShare, {**SHARE, "group": "Comptabilité", "share_access": "read"}, share=rec("get_smbshare_commun"),
              access=rec(recording))
    assert v.status is Status.ERREUR, v.message


def test_a_missing_cmdlet_completed_as_non_terminating_is_erreur_for_dns_and_dhcp(judge):
    missing = rec("command_not_found_nonterminating_task")
    v = judge(DnsRecord, {"zone": "tssr.lan", "name": "intranet"}, records=missing, service=rec("get_service_dns_running"))
    assert v.status is Status.ERREUR
    v = judge(DnsZone, {"zone": "tssr.lan"}, zone=missing, service=rec("get_service_dns_running"))
    assert v.status is Status.ERREUR
    v = judge(DhcpScope, {"scope": "192.168.10.0"}, scope=missing, service=rec("get_service_dhcpserver_running"))
    assert v.status is Status.ERREUR
    v = judge(DhcpScope, {"scope": "192.168.10.0", "router": "192.168.10.254"}, scope=rec("get_dhcpserverv4scope_lan"),
              service=rec("get_service_dhcpserver_running"), options=missing)
    assert v.status is Status.ERREUR, "CommandNotFoundException's category is ObjectNotFound: not « no option »"


def test_a_missing_cmdlet_after_another_error_record_is_still_a_missing_command():
    r = rec("command_not_found_nonterminating_task")
    first = '{"type": "System.Management.Automation.ItemNotFoundException", "id": "PathNotFound", ' \
            '"category": "ObjectNotFound", "message": "x", "target": "x"}'
    both = dataclasses.replace(r, stderr="[" + first + ", " + r.stderr.strip()[1:])
    f = failure(both)
    assert f is not None and f.kind == "missing_command"
