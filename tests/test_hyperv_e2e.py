"""A Hyper-V host graded end to end: YAML rubric, plan, grade_host, over pywinrm to the WinRM stand-in.

The ``hypervisor.*`` checks with ``backend: hyperv`` ride the host's ``winrm`` channel: the five checks
of the host share the one inventory script (one probe in the batch), the guest agent check adds its
own; the stand-in answers both from the documentation-derived recordings. Expected: one PowerShell
execution for the host, the planted truth per check.
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
rubric: hyperv-demo
title: "Hyperviseur Hyper-V du candidat"
variables:
  ip: {description: "Adresse de l'hyperviseur"}
credentials:
  admin: {username: grader, password_env: GRADER_TEST_WINRM}
hosts:
  - name: srv-hv
    role: hyperviseur
    platform: windows
    address: "{{ ip }}"
    transport: winrm
    port: PORT
    credential: admin
checks:
  - id: vm-web
    check: hypervisor.vm
    host: srv-hv
    params:
      backend: hyperv
      vm: "c{{ candidat }}-web"
      state: running
      vcpus: 2
      memory: 2G
      disks: [{target: "scsi0:0", size: 40G, format: vhdx}]
      nics: [{bridge: LAN, vlan: 10}]
      autostart: true
    criterion: CP7.2
  - {id: vm-db-demarre, check: hypervisor.vm, host: srv-hv,
     params: {backend: hyperv, vm: "c{{ candidat }}-db", autostart: true}, criterion: CP7.2}
  - {id: point-controle, check: hypervisor.snapshot, host: srv-hv,
     params: {backend: hyperv, vm: "c{{ candidat }}-web", name: avant-maj}, criterion: CP7.1}
  - {id: commutateur, check: hypervisor.network, host: srv-hv,
     params: {backend: hyperv, name: LAN, ports: [Ethernet 2], vlans: [10]}, criterion: CP7.1}
  - {id: volume, check: hypervisor.storage, host: srv-hv,
     params: {backend: hyperv, pool: "D:", type: ReFS, free: 100G}, criterion: CP7.2}
  - {id: agent, check: hypervisor.guest_agent, host: srv-hv,
     params: {backend: hyperv, vm: "c{{ candidat }}-web"}, criterion: CP7.1}
"""

EXPECTED = {"vm-web": Status.CONFORME, "vm-db-demarre": Status.NON_CONFORME, "point-controle": Status.CONFORME,
            "commutateur": Status.CONFORME, "volume": Status.CONFORME, "agent": Status.NON_CONFORME}


@pytest.fixture
def room(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_TEST_WINRM", "Mot-de-passe-1")
    host = WindowsHost("srv-hv")
    with Standin(host, auth=("ntlm",)) as standin:
        path = tmp_path / "bareme.yaml"
        path.write_text(textwrap.dedent(RUBRIC.replace("PORT", str(standin.port))), encoding="utf-8")
        yield load_rubric(path), host, standin


def test_a_hyperv_host_graded_in_one_powershell_run(room):
    rubric, host, standin = room
    (job,) = plan(rubric, [Candidate("01", "Camille Martin", {"ip": "127.0.0.1"})], default_catalogue())
    for pc in job.checks:
        for name, probe in pc.probes.items():
            assert probe.transport == "winrm"
            host.answer(probe.command, "hyperv_inventory_lab" if name == "inventory" else "hyperv_agent_web_nocontact")
    assert len(job.unique_probes()) == 2, "one inventory script for the host, one agent probe"

    report = grade_host(job, None)
    statuses = {r.check_id: r.status for r in report.results}
    assert statuses == EXPECTED, [(r.check_id, r.status, r.message) for r in report.results]
    assert report.outcome.reached and report.outcome.execs == 1 and report.transport == "winrm"
    assert standin.count("Command") == 1 and host.unknown == []
    by_id = {r.check_id: r for r in report.results}
    assert "démarrage automatique désactivé" in by_id["vm-db-demarre"].message
    assert "Heartbeat : No Contact" in str(by_id["agent"].observed)


def test_a_libvirt_backend_on_a_windows_host_does_not_validate(tmp_path):
    path = tmp_path / "bareme.yaml"
    path.write_text(RUBRIC.replace("PORT", "5985").replace("backend: hyperv, vm: \"c{{ candidat }}-db\"",
                                                           "backend: libvirt, vm: \"c{{ candidat }}-db\""),
                    encoding="utf-8")
    with pytest.raises(Exception, match="ssh"):
        load_rubric(path)
