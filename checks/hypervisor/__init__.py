"""The built-in hypervisor pack (entry point ``hypervisor``): VMs, snapshots, networks, storage, guest agents.

What a hypervisor reports is normalised into :mod:`checks.hypervisor._model` by a back-end
(:mod:`checks.hypervisor._backends`: libvirt over SSH first; Proxmox VE, Hyper-V and VMware plug in
there), and judged by the same pure judges (:mod:`checks.hypervisor.checks`). Every check of a host
shares one inventory probe: a room's hypervisor is read in one round trip.
"""

from __future__ import annotations

from checks.hypervisor import checks
from checks.hypervisor.backup import PveBackupRecent
from grader.check import Check
from grader.plugins import hookimpl

__all__ = ["CHECKS", "grader_register_checks"]

#: The ``hypervisor.*`` checks, and the Proxmox VE backups (``backup.pve_recent``, same ``pve`` channel).
CHECKS: tuple[type[Check], ...] = (*checks.CHECKS, PveBackupRecent)


@hookimpl
def grader_register_checks() -> list[type[Check]]:
    """Every check of the hypervisor pack."""
    return list(CHECKS)
