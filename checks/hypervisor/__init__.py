"""The built-in hypervisor pack (entry point ``hypervisor``): VMs, snapshots, networks, storage, guest agents.

What a hypervisor reports is normalised into :mod:`checks.hypervisor._model` by a back-end
(:mod:`checks.hypervisor._backends`: libvirt over SSH first; Proxmox VE, Hyper-V and VMware plug in
there), and judged by the same pure judges (:mod:`checks.hypervisor.checks`). Every check of a host
shares one inventory probe: a room's hypervisor is read in one round trip.
"""

from __future__ import annotations

from checks.hypervisor.backup import PveBackupRecent
from checks.hypervisor.checks import CHECKS
from grader.check import Check
from grader.plugins import hookimpl

__all__ = ["CHECKS", "PveBackupRecent", "grader_register_checks"]


@hookimpl
def grader_register_checks() -> list[type[Check]]:
    """Every check of the hypervisor pack, and the Proxmox VE backups (``backup.pve_recent``)."""
    return [*CHECKS, PveBackupRecent]
