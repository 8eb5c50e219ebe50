"""The back-ends a ``hypervisor.*`` check may read: each says how to ask and how to read the answer.

A back-end gives the probe that brings a host's whole :class:`~checks.hypervisor._model.Inventory`
(the same probe for every check of the host, so the batch runs it once), the probe asking a VM's
guest agent, and the reader of each. libvirt (``virsh`` over SSH), Proxmox VE (REST) and Hyper-V
(PowerShell over WinRM) are here; VMware would plug in the same way, with the same judges: a back-end
only has to bring an :class:`~checks.hypervisor._model.Inventory` and say whether a VM's agent answers
(:class:`AgentAnswer`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from checks._common.text import clip
from checks.hypervisor import _hyperv, _libvirt, _proxmox
from checks.hypervisor._model import Inventory, Vm
from checks.linux._parse import cannot_run
from checks.windows._ps import failure
from grader.model import Msg, Probe, ProbeResult, Text
from grader.probes import pve
from grader.probes.ssh import ssh
from grader.probes.winrm import winrm


@dataclass(frozen=True)
class AgentAnswer:
    """Whether a VM's guest agent (qemu-ga, Hyper-V's integration services) answers, and what was seen."""

    answered: bool
    observed: Text


class AgentError(Exception):
    """The agent's answer cannot be judged (the probe failed, the answer is unreadable): ``erreur``.

    ``args[0]`` is the reason (a :class:`Msg`), ``observed`` what came back.
    """

    def __init__(self, reason: Msg, observed: Text = "") -> None:
        super().__init__(reason)
        self.reason, self.observed = reason, observed


class Backend(Protocol):
    @property
    def name(self) -> str: ...

    def inventory_probe(self) -> Probe: ...

    def parse_inventory(self, text: str, *, truncated: bool = False) -> Inventory: ...

    def agent_probe(self, vm: str) -> Probe: ...

    def agent_answer(self, result: ProbeResult, vm: Vm, services: Sequence[str] = ()) -> AgentAnswer:
        """Whether the agent answered; :raises AgentError: when that cannot be told."""
        ...


def qemu_agent_answer(result: ProbeResult, vm: Vm, version_of: object) -> AgentAnswer:
    """A qemu guest agent asked through the hypervisor (libvirt, Proxmox): the request failing is its silence."""
    reason = cannot_run(result)
    if reason:
        raise AgentError(Msg("l'agent n'a pas pu être interrogé : {reason}", reason=reason))
    if result.exit_code != 0:
        detail = clip((result.stderr or result.stdout).strip(), 200)
        return AgentAnswer(False, Msg("l'agent ne répond pas : {detail}", detail=detail))
    try:
        version = version_of(result.stdout)  # type: ignore[operator]
    except (ValueError, KeyError, TypeError):
        raise AgentError(Msg("réponse de l'agent illisible"), clip(result.stdout)) from None
    return AgentAnswer(True, Msg("qemu-ga {version} répond (canal {state})", version=version,
                                 state=vm.agent.state or "?"))


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

    def agent_answer(self, result: ProbeResult, vm: Vm, services: Sequence[str] = ()) -> AgentAnswer:
        return qemu_agent_answer(result, vm, self.agent_version)


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

    def agent_answer(self, result: ProbeResult, vm: Vm, services: Sequence[str] = ()) -> AgentAnswer:
        return qemu_agent_answer(result, vm, self.agent_version)


@dataclass(frozen=True)
class HyperV:
    """Hyper-V on a Windows host, through one PowerShell script in the WinRM batch (:mod:`checks.hypervisor._hyperv`)."""

    name: str = _hyperv.NAME

    def inventory_probe(self) -> Probe:
        return winrm(_hyperv.inventory_script(), timeout=90)

    def parse_inventory(self, text: str, *, truncated: bool = False) -> Inventory:
        return _hyperv.parse_inventory(text, truncated=truncated)

    def agent_probe(self, vm: str) -> Probe:
        return winrm(_hyperv.agent_script(vm), timeout=30)

    def agent_answer(self, result: ProbeResult, vm: Vm, services: Sequence[str] = ()) -> AgentAnswer:
        """The heartbeat (and each of ``services``) enabled, its guest component answering ``Ok``.

        The probe failing (access refused, module absent) is ``erreur``, never the agent's silence.
        """
        f = failure(result)
        if f is not None or result.exit_code != 0:
            raise AgentError(Msg("Get-VMIntegrationService a échoué : {detail}",
                                 detail=f.describe() if f else Msg("code {code}", code=result.exit_code)))
        try:
            read = _hyperv.parse_services(result.stdout)
        except (ValueError, KeyError, TypeError):
            raise AgentError(Msg("réponse de l'agent illisible"), clip(result.stdout, crlf=True)) from None
        if read.found != 1:
            raise AgentError(Msg("{count} VM portent le nom {vm} sur l'hôte", count=read.found, vm=vm.name))
        ok, wrong = _hyperv.services_answer(read, services)
        said = _hyperv.describe_services(read.services)
        if ok:
            return AgentAnswer(True, Msg("services d'intégration : {services}", services=said))
        return AgentAnswer(False, Msg("services d'intégration : {services} ({wrong})", services=said,
                                      wrong=tuple(wrong)))


BACKENDS: dict[str, Backend] = {"libvirt": Libvirt(), "proxmox": Proxmox(), "hyperv": HyperV()}
