"""The back-ends a ``hypervisor.*`` check may read: each says how to ask and how to read the answer.

A back-end gives the probe that brings a host's whole :class:`~checks.hypervisor._model.Inventory`
(the same probe for every check of the host, so the batch runs it once), the probe asking a VM's
guest agent, and the parser of each. libvirt (``virsh`` over SSH) is the first; Proxmox VE (REST),
Hyper-V (PowerShell over WinRM) and VMware plug in here with the same judges.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

from checks.hypervisor import _libvirt, _proxmox
from checks.hypervisor._model import Inventory
from grader.model import Probe
from grader.probes import pve
from grader.probes.ssh import ssh


class Backend(Protocol):
    @property
    def name(self) -> str: ...

    def inventory_probe(self) -> Probe: ...

    def parse_inventory(self, text: str, *, truncated: bool = False) -> Inventory: ...

    def agent_probe(self, vm: str) -> Probe: ...

    def agent_version(self, text: str) -> str: ...


@dataclass(frozen=True)
class Libvirt:
    """libvirt on a Linux host, through ``virsh`` in the SSH batch (``qemu:///system``, so the batch runs as root)."""

    name: str = _libvirt.NAME

    def inventory_probe(self) -> Probe:
        return ssh(_libvirt.inventory_command(), timeout=60)

    def parse_inventory(self, text: str, *, truncated: bool = False) -> Inventory:
        return _libvirt.parse_inventory(text, truncated=truncated)

    def agent_probe(self, vm: str) -> Probe:
        return ssh(_libvirt.agent_command(vm), timeout=15)

    def agent_version(self, text: str) -> str:
        """qemu-ga's answer to ``guest-info``; :raises ValueError, KeyError, TypeError: when it is not one."""
        return str(json.loads(text)["return"]["version"])


@dataclass(frozen=True)
class Proxmox:
    """Proxmox VE through its REST API with an API token (the ``pve`` channel, :mod:`grader.transports.pve`)."""

    name: str = _proxmox.NAME

    def inventory_probe(self) -> Probe:
        return pve.inventory()

    def parse_inventory(self, text: str, *, truncated: bool = False) -> Inventory:
        return _proxmox.parse_inventory(text, truncated=truncated)

    def agent_probe(self, vm: str) -> Probe:
        return pve.agent_ping(vm)

    def agent_version(self, text: str) -> str:
        return _proxmox.agent_version(text)


BACKENDS: dict[str, Backend] = {"libvirt": Libvirt(), "proxmox": Proxmox()}
