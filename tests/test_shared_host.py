"""A machine shared by several candidates (``hosts[].shared``): one collection, each candidate's own view.

The exam gives a cluster of four candidates one hypervisor. The roster names it (column
``hyperviseur``: the same address for the four); the rubric marks the host ``shared`` and says
what on it is the candidate's (``own: "c{{ candidat }}-*"``). The runner then reads the machine
once for the four (one channel collection: one SSH exec carrying the inventory once and every
candidate's own agent probes) and judges each candidate on their own view of it: their VMs and
the machine's bridges and pools, never a neighbour's VM, in the verdicts or in the evidence.

The inventory is the real one captured on the lab's libvirt (tests/checks/data), with its
second VM renamed c02-web (shut off, 2 vCPU, 128 MiB).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import checks.hypervisor
from grader.model import Probe, ProbeResult
from grader.plugins import default_catalogue
from grader.roster import load_roster
from grader.rubric import load_rubric
from grader.runner import grade_shared, plan, share_groups
from grader.transports.base import Channel, ChannelOptions, Collected, HostContext
from tests.checks.conftest import load_capture

INVENTORY = load_capture("hypervisor_libvirt_inventory.txt").stdout.replace("<name>c01-db</name>", "<name>c02-web</name>")

RUBRIC = """\
rubric: grappe
title: Grappe
variables:
  hyperviseur: {description: "Adresse de l'hyperviseur de la grappe"}
credentials:
  correcteur: {username: grader, key_file: /nonexistent/id_ed25519}
hosts:
  - name: hyperviseur
    role: hyperviseur
    platform: linux
    address: "{{ hyperviseur }}"
    credential: correcteur
    sudo: true
    shared:
      own: "c{{ candidat }}-*"
checks:
  - {id: vm-web, check: hypervisor.vm, role: hyperviseur, criterion: CP7.2,
     params: {vm: "c{{ candidat }}-web", state: running, memory: 96M}}
  - {id: agent-web, check: hypervisor.guest_agent, role: hyperviseur, criterion: CP7.1,
     params: {vm: "c{{ candidat }}-web"}}
  - {id: pont, check: hypervisor.network, role: hyperviseur, criterion: CP7.1, params: {name: br0}}
"""
ROSTER = ("candidat;nom;hyperviseur\n01;A;10.77.0.50\n02;B;10.77.0.50\n03;C;10.77.0.50\n04;D;10.77.0.50\n"
          "05;E;10.77.0.51\n")


class Hypervisor(Channel):
    """The SSH channel's part, answered from the captured inventory; it counts its collections."""

    name = "ssh"
    Options = ChannelOptions
    collections: ClassVar[list[list[Probe]]] = []

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        type(self).collections.append(list(probes))
        results = {}
        for p in probes:
            if p.command.startswith("if [ ! -x /usr/bin/virsh ]"):
                results[p.key] = ProbeResult(p.key, p.transport, p.command, stdout=INVENTORY, exit_code=0)
            else:  # an agent asked through libvirt
                results[p.key] = ProbeResult(p.key, p.transport, p.command, exit_code=0,
                                             stdout='{"return":{"version":"7.2.0","supported_commands":[]}}')
        return Collected(results, login="grader (clé)", execs=1)


def _jobs(tmp_path: Path):
    (tmp_path / "grappe.yaml").write_text(RUBRIC, encoding="utf-8")
    (tmp_path / "liste.csv").write_text(ROSTER, encoding="utf-8")
    catalogue = {**default_catalogue(), **{c.id: c for c in checks.hypervisor.CHECKS}}
    rubric = load_rubric(tmp_path / "grappe.yaml", catalogue)
    return plan(rubric, load_roster(tmp_path / "liste.csv", rubric), catalogue)


def test_candidates_of_one_hypervisor_are_collected_together(tmp_path):
    groups = share_groups(_jobs(tmp_path))
    assert [[j.candidate.id for j in g] for g in groups] == [["01", "02", "03", "04"], ["05"]]
    assert [j.own for j in groups[0]] == ["c01-*", "c02-*", "c03-*", "c04-*"]


def test_one_collection_serves_four_candidates_each_judged_on_their_own_vms(tmp_path):
    Hypervisor.collections = []
    group = share_groups(_jobs(tmp_path))[0]
    reports = grade_shared(group, None, {"ssh": Hypervisor()})
    [probes] = Hypervisor.collections  # one round trip for the four
    assert len(probes) == 1 + 4  # the inventory once, each candidate's agent probe beside it
    assert [r.outcome.execs for r in reports] == [1, 0, 0, 0]
    assert [r.outcome.extra.get("collecte_partagee_avec") for r in reports] == [None, "01", "01", "01"]
    status = {(r.candidate, c.check_id): c.status.value for r in reports for c in r.results}
    assert status == {
        ("01", "vm-web"): "conforme", ("01", "agent-web"): "conforme", ("01", "pont"): "conforme",
        ("02", "vm-web"): "non_conforme", ("02", "agent-web"): "non_conforme", ("02", "pont"): "conforme",
        ("03", "vm-web"): "non_conforme", ("03", "agent-web"): "non_conforme", ("03", "pont"): "conforme",
        ("04", "vm-web"): "non_conforme", ("04", "agent-web"): "non_conforme", ("04", "pont"): "conforme",
    }
    by = {r.candidate: r for r in reports}
    vm02 = next(c for c in by["02"].results if c.check_id == "vm-web")
    assert "état shut off au lieu de running" in vm02.message
    vm03 = next(c for c in by["03"].results if c.check_id == "vm-web")
    assert "c01" not in vm03.observed and "c02" not in vm03.observed  # « VM présentes : aucune »
    for cand, report in by.items():  # the evidence: their own VMs, their own agent probe, nobody else's
        inventory = next(p for p in report.probes if p.command.startswith("if [ ! -x"))
        mine = {n for n in ("c01-web", "c02-web") if n.startswith(f"c{cand}-")}
        for name in ("c01-web", "c02-web"):
            assert (f"<name>{name}</name>" in inventory.stdout) == (name in mine), (cand, name)
        assert "br0" in inventory.stdout  # the host's bridges are everyone's
        agents = [p.command for p in report.probes if "qemu-agent-command" in p.command]
        assert agents == [next(p.command for p in probes if f"c{cand}-web" in p.command)]


def test_a_candidate_alone_on_a_shared_hypervisor_still_sees_only_their_own_vms(tmp_path):
    Hypervisor.collections = []
    [alone] = share_groups(_jobs(tmp_path))[1]
    [report] = grade_shared([alone], None, {"ssh": Hypervisor()})
    inventory = next(p for p in report.probes if p.command.startswith("if [ ! -x"))
    assert "<name>c01-web</name>" not in inventory.stdout and "<name>c02-web</name>" not in inventory.stdout
    assert report.outcome.execs == 1


def test_run_jobs_grades_a_lone_candidate_of_a_shared_machine_through_the_shared_path(tmp_path, monkeypatch):
    from grader import runner

    seen: list[list[str]] = []
    monkeypatch.setattr(runner, "grade_shared", lambda group, known, chans: seen.append(
        [j.candidate.id for j in group]) or [runner.abandoned(j, 1) for j in group])
    runner.run_jobs(_jobs(tmp_path), known_hosts_path=None, workers=2)
    assert sorted(seen) == [["01", "02", "03", "04"], ["05"]]


def test_a_host_not_shared_is_collected_per_candidate(tmp_path):
    jobs = _jobs(tmp_path)
    unshared = [j.__class__(**{**j.__dict__, "own": None}) for j in jobs]
    assert [len(g) for g in share_groups(unshared)] == [1] * 5
