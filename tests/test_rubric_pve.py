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
