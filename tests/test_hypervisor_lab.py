"""The ``hypervisor.*`` checks against a real libvirt (QEMU under TCG) in a lab host, over real SSH.

One hypervisor host (the ``hypervisor`` flavor) holds two candidates' tiny guests, as the exam's
shared hypervisor would: c01-web runs as the rubric says (1 vCPU, 96 MiB, a 64 MiB qcow2 on virtio,
a virtio NIC on br0, autostart, snapshot « avant-maj » taken now); c02-web runs with 128 MiB and no
snapshot; c01-db is defined, shut off, with a VLAN tag on its NIC; c02 has no db. Each candidate's
job reads the host in one SSH exec.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

import checks.hypervisor
from grader.lab import hypervisor as hv
from grader.lab.hosts import HostSpec
from grader.plugins import default_catalogue
from grader.roster import load_roster
from grader.rubric import load_rubric
from grader.runner import plan, run_jobs
from tests.conftest import lab_available, locked_lab

pytestmark = [pytest.mark.lab, pytest.mark.own_lab]  # boots its own hosts: after the demo room

ADDRESS = "10.77.210.10"
GUESTS = (
    hv.Guest("c01-web", bridge=hv.BRIDGE, snapshot="avant-maj", autostart=True),
    hv.Guest("c01-db", memory_mib=128, vcpus=2, disk_mib=32, bridge=hv.BRIDGE, vlan=20, start=False),
    hv.Guest("c02-web", memory_mib=128, bridge=hv.BRIDGE),
)
MEASURED: dict[str, object] = {}

RUBRIC = """\
rubric: hyperviseur-labo
title: "Hyperviseur partagé du labo"
version: "1"
credentials:
  correcteur: {{username: grader, key_file: {key}}}
hosts:
  - name: hyperviseur
    role: hyperviseur
    platform: linux
    address: "{address}"
    credential: correcteur
    sudo: true
    connect_timeout: 3
checks:
  - id: vm-web
    check: hypervisor.vm
    role: hyperviseur
    params:
      vm: "c{{{{ candidat }}}}-web"
      state: running
      vcpus: 1
      memory: 96M
      disks: [{{target: vda, size: 64M, bus: virtio, format: qcow2}}]
      nics: [{{bridge: br0, model: virtio}}]
      autostart: true
      os_type: hvm
      os_variant: debian/12
    criterion: CP7.2
    points: 2
  - id: vm-db
    check: hypervisor.vm
    role: hyperviseur
    params: {{vm: "c{{{{ candidat }}}}-db", state: shut off, vcpus: 2, memory: 128M, nics: [{{bridge: br0, vlan: 20}}]}}
    criterion: CP7.2
    points: 1
  - id: snap-web
    check: hypervisor.snapshot
    role: hyperviseur
    params: {{vm: "c{{{{ candidat }}}}-web", name: avant-maj, after: "{after}"}}
    criterion: CP7.1
    points: 1
  - id: agent-web
    check: hypervisor.guest_agent
    role: hyperviseur
    params: {{vm: "c{{{{ candidat }}}}-web"}}
    criterion: CP7.1
    points: 1
  - id: pool
    check: hypervisor.storage
    role: hyperviseur
    params: {{pool: vms, type: dir, free: 1G}}
    criterion: CP7.2
    points: 1
  - id: bridge
    check: hypervisor.network
    role: hyperviseur
    params: {{name: br0, ports: [lan0]}}
    criterion: CP7.1
    points: 1
"""


@pytest.fixture(scope="module")
def hypervisor_host():
    if not lab_available():
        pytest.skip("le labo exige root et systemd-nspawn")

    def setup(shell):
        hv.prepare_host(shell)
        started = time.monotonic()
        MEASURED["agent"] = hv.define_guests(shell, GUESTS)
        MEASURED["setup"] = time.monotonic() - started

    with locked_lab() as lab:
        started = time.monotonic()
        spec = HostSpec(name="hv-01", ip=ADDRESS, flavor=hv.HYPERVISOR.name, hostname="hyperviseur", tun=True,
                        setup=setup)
        try:
            lab.up([spec], timeout=120)
            MEASURED["up"] = time.monotonic() - started
            yield lab
        finally:
            lab.down()


def test_the_tiny_guests_boot_and_their_agents_answer(hypervisor_host):
    lab = hypervisor_host
    agent = MEASURED["agent"]
    assert isinstance(agent, dict) and set(agent) == {"c01-web", "c02-web"}
    assert all(isinstance(t, float) and t < 60 for t in agent.values()), agent
    rss = lab.nsenter("hv-01", "/usr/bin/ps", "-o", "rss=", "-C", "qemu-system-x86_64").stdout.split()
    assert len(rss) == 2  # the shut-off guest costs nothing
    print(f"\nlab up {MEASURED['up']:.1f} s, guests {MEASURED['setup']:.1f} s, agents {agent}, "
          f"QEMU RSS {[int(r) // 1024 for r in rss]} MiB")


def test_hypervisor_checks_on_a_real_libvirt(hypervisor_host, tmp_path):
    lab = hypervisor_host
    after = (datetime.now(UTC) - timedelta(minutes=10)).isoformat(timespec="seconds")
    rubric_path = tmp_path / "hyperviseur.yaml"
    rubric_path.write_text(RUBRIC.format(key=lab.key_path, address=ADDRESS, after=after), encoding="utf-8")
    (tmp_path / "roster.csv").write_text("candidat;nom\n01;Camille Martin\n02;Yanis Benali\n", encoding="utf-8")
    catalogue = {**default_catalogue(), **{c.id: c for c in checks.hypervisor.CHECKS}}
    rubric = load_rubric(rubric_path, catalogue)
    candidates = load_roster(tmp_path / "roster.csv", rubric)
    reports = run_jobs(plan(rubric, candidates, catalogue), known_hosts_path=lab.known_hosts_path, workers=2)
    assert [r.outcome.execs for r in reports] == [1, 1], "one SSH exec per candidate's hypervisor job"
    got = {(r.candidate, c.check_id): c for r in reports for c in r.results}
    status = {key: c.status.value for key, c in got.items()}
    assert status == {
        ("01", "vm-web"): "conforme", ("02", "vm-web"): "non_conforme",
        ("01", "vm-db"): "conforme", ("02", "vm-db"): "non_conforme",
        ("01", "snap-web"): "conforme", ("02", "snap-web"): "non_conforme",
        ("01", "agent-web"): "conforme", ("02", "agent-web"): "conforme",
        ("01", "pool"): "conforme", ("02", "pool"): "conforme",
        ("01", "bridge"): "conforme", ("02", "bridge"): "conforme",
    }, {k: (v, got[k].message, got[k].observed) for k, v in status.items()}
    assert "mémoire 128 MiB au lieu de 96 MiB" in got[("02", "vm-web")].message
    assert "n'existe pas" in got[("02", "vm-db")].message
    assert "qemu-ga 7.2" in got[("01", "agent-web")].observed
    assert "avant-maj" in got[("01", "snap-web")].observed
