"""A Windows rubric graded end to end: YAML rubric, roster, plan, grade_host, over pywinrm to two stand-in servers.

Candidate 01 has two "Windows hosts" (a domain controller over NTLM with message encryption
on http, a file server over https with its certificate checked against a lab CA), each
answering from recordings; candidate 02's hosts are down. Expected: the planted truth per
check, one shell and one PowerShell command per host, ``injoignable`` for every check of a
host that does not answer.
"""

from __future__ import annotations

import textwrap

import pytest

from grader.model import Status
from grader.plugins import default_catalogue
from grader.roster import Candidate
from grader.rubric import load_rubric
from grader.runner import grade_host, plan
from tests.winrm_standin import Standin, WindowsHost

RUBRIC = """\
rubric: demo-windows
title: "Serveurs Windows du candidat"
variables:
  ip: {description: "Adresse des serveurs du candidat"}
credentials:
  admin: {username: grader, password_env: GRADER_TEST_WINRM}
hosts:
  - name: srv-dc
    role: controleur
    platform: windows
    address: "{{ ip }}"
    transport: winrm
    port: PORT_DC
    credential: admin
    options:
      winrm: {auth: ntlm}
  - name: srv-fic
    role: fichiers
    platform: windows
    address: "{{ ip }}"
    transport: winrm
    port: PORT_FIC
    credential: admin
    options:
      winrm: {scheme: https, ca_file: "CA_FILE"}
checks:
  - id: dhcp-lan
    check: windows.dhcp_scope
    host: srv-dc
    params:
      scope: 192.168.10.0
      start: 192.168.10.100
      end: 192.168.10.200
      router: 192.168.10.254
      dns_servers: [192.168.10.10]
      reservations: [{ip: 192.168.10.50, mac: "00-15-5D-0A-01-32"}]
    criterion: CP8.1
  - {id: dhcp-service, check: windows.service_running, host: srv-dc, params: {service: DHCPServer}, criterion: CP8.1}
  - {id: dns-intranet, check: windows.dns_record, host: srv-dc,
     params: {zone: tssr.lan, name: intranet, value: 192.168.10.20}, criterion: CP8.1}
  - {id: rds, check: windows.feature_installed, host: srv-dc, params: {feature: RDS-RD-Server}, criterion: CP10.1}
  - {id: spooler-off, check: windows.service_running, host: srv-dc,
     params: {service: Spooler, running: false, start_mode: disabled}, criterion: CP8.2}
  - id: partage-commun
    check: windows.smb_share
    host: srv-fic
    params: {share: Commun, group: "Comptabilité", share_access: change, ntfs_access: modify}
    criterion: CP8.2
  - id: tache-sauvegarde
    check: windows.scheduled_task
    host: srv-fic
    params: {task: "Sauvegarde Comptabilité", path: '\\TSSR\\', trigger: daily, at: "02:00",
             command_contains: sauvegarde.ps1}
    criterion: CP11.1
  - {id: script-documente, check: windows.ps_script_documented, host: srv-fic,
     params: {path: 'C:\\Scripts\\sauvegarde.ps1'}, criterion: CP11.2}
  - {id: wsus, check: windows.wsus_client_policy, host: srv-fic, params: {server: "http://srv-wsus.tssr.lan:8530"},
     criterion: CP10.2}
  - {id: role-inconnu, check: windows.feature_installed, host: srv-fic, params: {feature: DHCP-Srv}, criterion: CP10.1}
"""

# What each host answers, per (check entry, probe name): the planted truth.
ANSWERS = {
    ("dhcp-lan", "scope"): "get_dhcpserverv4scope_lan",
    ("dhcp-lan", "service"): "get_service_dhcpserver_running",
    ("dhcp-lan", "options"): "get_dhcpserverv4optionvalue_lan",
    ("dhcp-lan", "reservations"): "get_dhcpserverv4reservation_lan",
    ("dhcp-service", "service"): "get_service_dhcpserver_running",
    ("dns-intranet", "records"): "get_dnsserverresourcerecord_intranet_a",
    ("dns-intranet", "service"): "get_service_dns_running",
    ("rds", "feature"): "get_windowsfeature_rds_available",
    ("spooler-off", "service"): "get_service_spooler_running",
    ("partage-commun", "share"): "get_smbshare_commun",
    ("partage-commun", "access"): "get_smbshareaccess_commun",
    ("partage-commun", "ntfs"): "get_acl_commun",
    ("tache-sauvegarde", "task"): "get_scheduledtask_sauvegarde_daily",
    ("script-documente", "script"): "script_documented",
    ("script-documente", "tasks"): "tasks_running_script",
    ("wsus", "policy"): "wsus_policy_not_used",
    ("role-inconnu", "feature"): "get_windowsfeature_unknown_name",
}
EXPECTED = {
    "dhcp-lan": Status.CONFORME, "dhcp-service": Status.CONFORME, "dns-intranet": Status.CONFORME,
    "rds": Status.NON_CONFORME, "spooler-off": Status.NON_CONFORME,
    "partage-commun": Status.CONFORME, "tache-sauvegarde": Status.CONFORME, "script-documente": Status.CONFORME,
    "wsus": Status.NON_CONFORME, "role-inconnu": Status.ERREUR,
}


@pytest.fixture
def room(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_TEST_WINRM", "Mot-de-passe-1")
    dc, fic = WindowsHost("srv-dc"), WindowsHost("srv-fic")
    with Standin(dc, auth=("ntlm",)) as s_dc, Standin(fic, auth=("ntlm",), tls=True) as s_fic:
        text = (RUBRIC.replace("PORT_DC", str(s_dc.port)).replace("PORT_FIC", str(s_fic.port))
                .replace("CA_FILE", str(s_fic.cert_file)))
        path = tmp_path / "bareme.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        rubric = load_rubric(path)
        yield rubric, {"srv-dc": (dc, s_dc), "srv-fic": (fic, s_fic)}


def test_two_windows_hosts_graded_as_planted(room):
    rubric, servers = room
    jobs = plan(rubric, [Candidate("01", "Camille Martin", {"ip": "127.0.0.1"})], default_catalogue())
    assert sorted(j.host.name for j in jobs) == ["srv-dc", "srv-fic"]
    for job in jobs:
        host, _ = servers[job.host.name]
        for pc in job.checks:
            for name, probe in pc.probes.items():
                host.answer(probe.command, ANSWERS[(pc.entry.id, name)])
    dc_job = next(j for j in jobs if j.host.name == "srv-dc")
    declared = sum(len(pc.probes) for pc in dc_job.checks)
    assert (declared, len(dc_job.unique_probes())) == (9, 8), "DHCPServer's Get-Service, asked twice, runs once"

    reports = {job.host.name: grade_host(job, None) for job in jobs}
    statuses = {r.check_id: r.status for report in reports.values() for r in report.results}
    assert statuses == EXPECTED, {k: (v, [r.message for rep in reports.values() for r in rep.results
                                          if r.check_id == k]) for k, v in statuses.items() if EXPECTED[k] is not v}
    for name, report in reports.items():
        host, standin = servers[name]
        assert report.outcome.reached and report.outcome.execs == 1
        assert report.transport == "winrm"
        assert str(report.login).startswith("grader (mot de passe), modules PowerShell "), report.login
        assert standin.count("Create") == 1 and standin.count("Command") == 1 and standin.count("Delete") == 1
        assert host.unknown == []
    assert "DnsServer, DhcpServer, ServerManager importés" in str(reports["srv-dc"].login), "imported up front"
    assert reports["srv-fic"].outcome.host_key == "x509 SHA256:" + __import__("hashlib").sha256(
        servers["srv-fic"][1].cert_der).hexdigest().upper()
    assert servers["srv-dc"][1].encrypted_messages == len(servers["srv-dc"][1].actions)
    assert servers["srv-fic"][1].encrypted_messages == 0, "over https, TLS protects the messages"
    by_id = {r.check_id: r for report in reports.values() for r in report.results}
    assert "UseWUServer" in by_id["wsus"].message and "nom inexact" in by_id["role-inconnu"].message
    assert by_id["partage-commun"].sentence == "Le partage Commun existe avec les permissions attendues."


def test_hosts_that_are_down_are_injoignable_for_every_check(room):
    rubric, servers = room
    jobs = plan(rubric, [Candidate("02", "Yanis Benali", {"ip": "127.0.0.2"})], default_catalogue())
    for job in jobs:
        report = grade_host(job, None)
        assert not report.outcome.reached and report.outcome.status is Status.INJOIGNABLE
        assert "127.0.0.2 refuse la connexion" in report.outcome.reason
        assert {r.status for r in report.results} == {Status.INJOIGNABLE}
    assert all(s.actions == [] for _, s in servers.values())
