"""The ``guest`` channel: a VM's ``ssh`` probes run inside it through its hypervisor's guest agent.

A VM whose network the candidate broke cannot be reached by SSH, yet its hypervisor can still
run a program inside it: libvirt's ``guest-exec`` (the QEMU guest agent on its virtio-serial
port). The ``guest`` channel speaks the ``ssh`` probe language (:mod:`grader.probes.ssh`): the
same probes, the same batch envelope and the same parser, the envelope handed to ``/bin/sh -s``
in the guest by ONE ``guest-exec`` whose end is awaited on the hypervisor, in one SSH exec there.

A host uses it as its primary transport (``transport: guest``), or as the fallback of its SSH
(``fallback: guest``: used only when SSH could not reach the host). Either way the host says which
hypervisor and which VM::

    hosts:
      - name: web
        transport: ssh
        fallback: guest
        options:
          guest: {hypervisor: hyperviseur, domain: "c{{ candidat }}-web"}

``hypervisor`` is another host of the rubric, reached by SSH with its own credential (the account
that runs ``virsh``); ``domain`` is the VM's libvirt name as the grader knows it, never a value the
candidate's machines report: a batch is only ever credited to the VM the rubric names.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from grader.probes.channel import ChannelOptions, ChannelSpec

DOMAIN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,199}$"


class GuestOptions(ChannelOptions):
    """``hosts[].options.guest`` in a rubric.

    ``hypervisor``: the rubric host that reaches the VM's agent, and how, by its transport: ``ssh``
    (libvirt: ``virsh qemu-agent-command`` run by its account) or ``pve`` (Proxmox VE's API:
    ``agent/exec`` with its API token); ``domain``: the VM's name on it.
    """

    #: Fields naming another host of the rubric, and the transports that host may use (checked by the rubric).
    host_fields: ClassVar[dict[str, tuple[str, ...]]] = {"hypervisor": ("ssh", "pve")}

    hypervisor: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    domain: str = Field(pattern=DOMAIN)

    @field_validator("domain")
    @classmethod
    def _a_name(cls, value: str) -> str:
        """Never a bare number: virsh reads one as a running domain's transient id, not a name."""
        if value.isdigit():
            raise ValueError("un nom de VM, pas un numéro (virsh le lirait comme l'identifiant d'un domaine)")
        return value


CHANNEL = ChannelSpec("guest", "grader.transports.guest:GuestChannel", Options=GuestOptions, carries=("ssh",))
