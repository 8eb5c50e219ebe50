"""The ``guest`` channel against real KVM-style guests (QEMU under TCG) behind a real libvirt, over real SSH.

One hypervisor host (the ``hypervisor`` lab flavor) runs candidate 01's tiny guests, none of which has
a network address (the candidate « broke » it): c01-web and c01-db run, c01-app is defined and shut
off. The rubric grades them three ways:

* ``web``: ``transport: guest``, its ``linux.file_contains`` checks run inside c01-web by the agent;
* ``db``: ``transport: ssh`` with ``fallback: guest``: SSH finds nobody at its address, the batch then
  runs through the agent and the verdicts are real, the evidence saying how;
* ``web-ssh`` (c01-web again) and ``app`` (c01-app): SSH only, with the VM declared: injoignable, the
  hypervisor's view in the reason (« VM en marche, réseau injoignable » / « VM arrêtée »);
* ``app-guest``: ``transport: guest`` on the shut-off c01-app: injoignable « VM arrêtée ».
"""

from __future__ import annotations

import time

import pytest

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
    hv.Guest("c01-web", bridge=hv.BRIDGE, disk_mib=None),  # a NIC, no address: the network is down
    hv.Guest("c01-db", bridge=hv.BRIDGE, disk_mib=None),
    hv.Guest("c01-app", bridge=hv.BRIDGE, disk_mib=None, start=False),
)
MEASURED: dict[str, object] = {}

RUBRIC = """\
rubric: invites-labo
title: "VM sans réseau, corrigées par l'agent invité"
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
  - name: web
    role: web
    platform: linux
    address: "10.77.210.51"
    transport: guest
    options:
      guest: {{hypervisor: hyperviseur, domain: "c{{{{ candidat }}}}-web"}}
  - name: db
    role: db
    platform: linux
    address: "10.77.210.52"
    credential: correcteur
    connect_timeout: 2
    fallback: guest
    options:
      guest: {{hypervisor: hyperviseur, domain: "c{{{{ candidat }}}}-db"}}
  - name: web-ssh
    role: web-ssh
    platform: linux
    address: "10.77.210.51"
    credential: correcteur
    connect_timeout: 2
    options:
      guest: {{hypervisor: hyperviseur, domain: "c{{{{ candidat }}}}-web"}}
  - name: app
    role: app
    platform: linux
    address: "10.77.210.53"
    credential: correcteur
    connect_timeout: 2
    fallback: guest
    options:
      guest: {{hypervisor: hyperviseur, domain: "c{{{{ candidat }}}}-app"}}
  - name: app-guest
    role: app-guest
    platform: linux
    address: "10.77.210.53"
    transport: guest
    options:
      guest: {{hypervisor: hyperviseur, domain: "c{{{{ candidat }}}}-app"}}
checks:
  - id: nom-web
    check: linux.file_contains
    host: web
    params: {{path: /etc/hostname, pattern: "^c{{{{ candidat }}}}-web$"}}
    criterion: CP7.2
  - id: faux-web
    check: linux.file_contains
    host: web
    params: {{path: /etc/hostname, pattern: "^autre$"}}
    criterion: CP7.2
  - id: absent-web
    check: linux.file_contains
    host: web
    params: {{path: /etc/absent.conf, pattern: "x"}}
    criterion: CP7.2
  - id: nom-db
    check: linux.file_contains
    host: db
    params: {{path: /etc/hostname, pattern: "^c{{{{ candidat }}}}-db$"}}
    criterion: CP7.2
  - id: nom-web-ssh
    check: linux.file_contains
    host: web-ssh
    params: {{path: /etc/hostname, pattern: "web"}}
    criterion: CP7.2
  - id: nom-app
    check: linux.file_contains
    host: app
    params: {{path: /etc/hostname, pattern: "app"}}
    criterion: CP7.2
  - id: nom-app-guest
    check: linux.file_contains
    host: app-guest
    params: {{path: /etc/hostname, pattern: "app"}}
    criterion: CP7.2
"""


@pytest.fixture(scope="module")
def hypervisor_host():
    if not lab_available():
        pytest.skip("le labo exige root et systemd-nspawn")

    def setup(shell):
        hv.prepare_host(shell)
        MEASURED["agent"] = hv.define_guests(shell, GUESTS)

    with locked_lab() as lab:
        spec = HostSpec(name="hv-01", ip=ADDRESS, flavor=hv.HYPERVISOR.name, hostname="hyperviseur", tun=True,
                        setup=setup)
        try:
            lab.up([spec], timeout=120)
            yield lab
        finally:
            lab.down()


def _grade(lab, tmp_path):
    rubric_path = tmp_path / "invites.yaml"
    rubric_path.write_text(RUBRIC.format(key=lab.key_path, address=ADDRESS), encoding="utf-8")
    (tmp_path / "roster.csv").write_text("candidat;nom\n01;Camille Martin\n", encoding="utf-8")
    catalogue = default_catalogue()
    rubric = load_rubric(rubric_path, catalogue)
    candidates = load_roster(tmp_path / "roster.csv", rubric)
    started = time.monotonic()
    reports = run_jobs(plan(rubric, candidates, catalogue), known_hosts_path=lab.known_hosts_path, workers=6)
    return reports, time.monotonic() - started


def test_vms_without_network_are_graded_through_the_guest_agent(hypervisor_host, tmp_path):
    agent = MEASURED["agent"]
    assert isinstance(agent, dict) and all(isinstance(t, float) for t in agent.values()), agent
    reports, seconds = _grade(hypervisor_host, tmp_path)
    by_host = {r.host: r for r in reports}
    got = {c.check_id: c for r in reports for c in r.results}
    status = {key: c.status.value for key, c in got.items()}
    assert status == {
        "nom-web": "conforme", "faux-web": "non_conforme", "absent-web": "non_conforme",
        "nom-db": "conforme",
        "nom-web-ssh": "injoignable", "nom-app": "injoignable", "nom-app-guest": "injoignable",
    }, {k: (v, got[k].message, got[k].observed) for k, v in status.items()}

    web = by_host["web"]
    assert web.outcome.reached and web.outcome.execs == 1
    assert "via l'agent invité de c01-web sur hyperviseur" in web.login
    assert "UUID" in web.outcome.host_key and "hyperviseur" in web.outcome.host_key
    assert not [a for a in web.outcome.anomalies if "shell de connexion" in a], web.outcome.anomalies
    assert "Le fichier /etc/absent.conf n'existe pas" in got["absent-web"].message

    db = by_host["db"]  # SSH first (nobody at 10.77.210.52), then the agent: real verdicts, said so
    assert db.outcome.reached and "via l'agent invité de c01-db" in db.login
    assert any("canal de secours « guest »" in a for a in db.outcome.anomalies), db.outcome.anomalies

    assert "VM en marche, réseau injoignable" in got["nom-web-ssh"].message, got["nom-web-ssh"].message
    assert "VM arrêtée" in got["nom-app"].message, got["nom-app"].message
    assert "VM arrêtée" in got["nom-app-guest"].message, got["nom-app-guest"].message

    batch = [p.duration for p in web.probes]
    MEASURED["run"] = seconds
    print(f"\nagents {agent}, run {seconds:.2f} s; web host {web.duration:.2f} s ({web.outcome.host_key}); "
          f"db host (SSH then agent) {db.duration:.2f} s; probe durations {batch}")
    for key in ("nom-web-ssh", "nom-app", "nom-app-guest"):
        print(f"{key}: {got[key].status.value} — {got[key].message}")
    print(f"db: {db.login} — {db.outcome.anomalies[0]}")


def test_one_guest_batch_timing(hypervisor_host, tmp_path):
    """The cost of one batch through the agent, measured on its own (the other hosts left out)."""
    from grader.runner import grade_host

    rubric_path = tmp_path / "invites.yaml"
    rubric_path.write_text(RUBRIC.format(key=hypervisor_host.key_path, address=ADDRESS), encoding="utf-8")
    (tmp_path / "roster.csv").write_text("candidat;nom\n01;Camille Martin\n", encoding="utf-8")
    catalogue = default_catalogue()
    rubric = load_rubric(rubric_path, catalogue)
    job = next(j for j in plan(rubric, load_roster(tmp_path / "roster.csv", rubric), catalogue)
               if j.host.name == "web")
    times = []
    for _ in range(3):
        report = grade_host(job, hypervisor_host.known_hosts_path)
        assert [c.status.value for c in report.results] == ["conforme", "non_conforme", "non_conforme"]
        times.append(report.duration)
    print(f"\none guest batch (3 checks, SSH to the hypervisor + guest-exec + polls): "
          f"{', '.join(f'{t:.2f}' for t in times)} s")
    assert min(times) < 10
