"""A Proxmox VE host in a rubric: ``transport: pve`` with an API token, and the ``hypervisor.*`` checks on it.

The checks ride ``ssh`` with ``backend: libvirt`` (their declared transport) and ``pve`` with
``backend: proxmox``: validation asks for the channel their probes actually take on each host.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.errors import RubricError
from grader.plugins import default_catalogue
from grader.rubric import load_rubric
from tests.standin import stored_bytes

RUBRIC = """\
rubric: pve-demo
title: "Proxmox VE"
version: "1"
credentials:
  jeton-pve:
    username: grader@pve!audit
    password_env: PVE_TOKEN
hosts:
  - name: pve1
    role: hyperviseur
    platform: linux
    address: 192.0.2.11
    transport: pve
    credential: jeton-pve
    options:
      pve: {ca_file: /var/lib/grader/pve-root-ca.pem}
checks:
  - id: vm-web
    check: hypervisor.vm
    host: pve1
    params: {backend: BACKEND, vm: c01-web, state: running}
    criterion: CP7.2
    points: 1
  - id: cluster
    check: hypervisor.cluster
    host: pve1
    params: {nodes: [pve1, pve2], ha: [c01-web]}
    criterion: CP7.1
    points: 1
  - id: sauvegarde
    check: backup.pve_recent
    host: pve1
    params: {vm: c01-web, storage: sauvegardes, job: true, max_age_hours: 1000000}
    criterion: CP9.1
    points: 1
"""


def write(tmp_path: Path, backend: str) -> Path:
    path = tmp_path / "pve.yaml"
    path.write_text(RUBRIC.replace("BACKEND", backend), encoding="utf-8")
    return path


def test_a_proxmox_host_validates_with_the_proxmox_backend(tmp_path: Path) -> None:
    rubric = load_rubric(write(tmp_path, "proxmox"), default_catalogue())
    assert [h.transport for h in rubric.hosts] == ["pve"]


def test_the_libvirt_backend_on_a_pve_host_asks_for_ssh(tmp_path: Path) -> None:
    with pytest.raises(RubricError) as caught:
        load_rubric(write(tmp_path, "libvirt"), default_catalogue())
    said = str(caught.value)
    assert "hypervisor.vm" in said and "ssh" in said and "hypervisor.cluster" not in said
    assert "backup.pve_recent" not in said, "the vzdump check rides pve"


SECRET = "0d8e5a1c-7f3b-4a2e-9c61-5b4d3e2f1a00"


def graded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str):
    """The rubric above run for real (plan, grade_host, the store) against the stand-in API on loopback."""
    from grader.model import Status
    from grader.roster import Candidate
    from grader.runner import grade_host, plan
    from tests.pve_standin.server import serving

    monkeypatch.setenv("PVE_TOKEN", token)
    with serving(token=f"grader@pve!audit={SECRET}") as server:
        text = RUBRIC.replace("BACKEND", "proxmox").replace("192.0.2.11", "127.0.0.1").replace(
            "{ca_file: /var/lib/grader/pve-root-ca.pem}", f"{{port: {server.server_address[1]}, scheme: http}}")
        path = tmp_path / "pve.yaml"
        path.write_text(text, encoding="utf-8")
        catalogue = default_catalogue()
        rubric = load_rubric(path, catalogue)
        [job] = plan(rubric, [Candidate("7")], catalogue)
        report = grade_host(job, None)
    stored = stored_bytes(tmp_path, rubric, report)
    return {r.check_id: r.status for r in report.results}, stored, Status


def test_graded_for_real_the_token_never_reaches_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    statuses, stored, status = graded(tmp_path, monkeypatch, SECRET)
    assert statuses == {"vm-web": status.CONFORME, "cluster": status.CONFORME, "sauvegarde": status.CONFORME}
    assert SECRET.encode() not in stored and b"grader@pve!audit" in stored


def test_a_wrong_token_makes_every_check_erreur(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    statuses, stored, status = graded(tmp_path, monkeypatch, "not-the-token")
    assert statuses == {"vm-web": status.ERREUR, "cluster": status.ERREUR, "sauvegarde": status.ERREUR}
    assert b"not-the-token" not in stored
