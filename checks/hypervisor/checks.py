"""The ``hypervisor.*`` checks: pure judges over the normalised inventory, whatever the back-end.

Every check of a host asks its back-end for the same inventory probe (one execution per host
and run, see :mod:`checks.hypervisor._backends`); ``hypervisor.guest_agent`` adds one probe per VM.
A fact the hypervisor did not report (a part cut by the output cap, a command that failed) makes
the verdict ``erreur``, never ``non_conforme``: the grader cannot tell.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from checks._common.params import Moment
from checks._common.text import clip, reason_of
from checks.hypervisor._backends import BACKENDS, AgentError
from checks.hypervisor._libvirt import FramingError, own_domains
from checks.hypervisor._model import RUNNING, Cluster, Disk, Inventory, Nic, Vm, parse_size, show_size, within
from checks.linux._parse import cannot_run
from checks.windows._ps import failure
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict

Size = str | int


def _size_ok(value: Size | None) -> Size | None:
    if value is not None:
        parse_size(value)
    return value


class HypervisorParams(CheckParams):
    #: Which hypervisor the host runs (the back-end that reads it): ``libvirt`` (virsh over SSH),
    #: ``proxmox`` (Proxmox VE's REST API with an API token, the ``pve`` channel) or ``hyperv``
    #: (Hyper-V's cmdlets in the ``winrm`` batch).
    backend: Literal["libvirt", "proxmox", "hyperv"] = "libvirt"


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DiskSpec(_Part):
    """A disk the VM must have: by ``target`` (``vda``) or by rank among its disks."""

    target: str | None = None
    size: Size | None = None
    bus: str | None = None
    format: str | None = None

    _size = field_validator("size")(classmethod(lambda cls, v: _size_ok(v)))


class NicSpec(_Part):
    """A NIC the VM must have: plugged into ``bridge`` (a host bridge or a virtual network), VLAN, model."""

    bridge: str | None = None
    vlan: int | None = Field(default=None, ge=1, le=4094)
    model: str | None = None


def read_inventory(params: HypervisorParams, result: ProbeResult, expected: str | Msg) -> Inventory | Verdict:
    """The inventory of the host, or the ``erreur`` verdict saying why it cannot be read."""
    reason = cannot_run(result)
    if reason:
        return Verdict.erreur(Msg("l'inventaire de l'hyperviseur n'a pas pu être lu : {reason}", reason=reason),
                              expected=expected)
    if result.exit_code != 0 and not result.truncated:
        said = failure(result) if result.transport == "winrm" else None  # PowerShell's error record, not its JSON
        return Verdict.erreur(Msg("l'inventaire de l'hyperviseur a échoué (code {code}) : {detail}",
                                  code=result.exit_code, detail=said.describe() if said else
                                  clip(result.stderr.strip(), 160)),
                              observed=clip(result.stdout), expected=expected)
    try:
        return BACKENDS[params.backend].parse_inventory(result.stdout, truncated=result.truncated)
    except FramingError as exc:
        return Verdict.erreur(Msg("inventaire de l'hyperviseur illisible : {exc}", exc=reason_of(exc)),
                              observed=clip(result.stdout), expected=expected)
    except ValueError as exc:  # XML or JSON libvirt printed that does not parse
        return Verdict.erreur(Msg("inventaire de l'hyperviseur illisible : {exc}", exc=clip(str(exc), 160)),
                              observed=clip(result.stdout), expected=expected)


def find_vm(inventory: Inventory, name: str, expected: str | Msg) -> Vm | Verdict:
    """The VM, or the verdict when it is not there (``erreur`` when the listing was cut)."""
    vm = inventory.vm(name)
    if vm is None:
        if inventory.truncated:
            return Verdict.erreur(Msg("inventaire tronqué : la VM {vm} n'y figure pas", vm=name), expected=expected)
        if inventory.blind:
            return Verdict.erreur(Msg("la VM {vm} n'est pas dans la liste : {reason}", vm=name, reason=inventory.blind),
                                  expected=expected)
        names = ", ".join(v.name for v in inventory.vms) or Msg("aucune")
        return Verdict.non_conforme(Msg("VM présentes : {names}", names=names), expected,
                                    Msg("La VM {vm} n'existe pas sur cet hyperviseur.", vm=name))
    same = [v for v in inventory.vms if v.name == name]
    if len(same) > 1:  # Hyper-V and Proxmox VE allow it: which one the rubric means cannot be told
        return Verdict.erreur(Msg("{count} VM portent le nom {vm} sur l'hôte", count=len(same), vm=name),
                              expected=expected)
    if not vm.complete:
        if inventory.errors:  # a part the hypervisor refused (Hyper-V), not the output cap
            return Verdict.erreur(Msg("la VM {vm} n'a pas été lue en entier : {errors}", vm=name,
                                      errors=clip(" ; ".join(inventory.errors), 300)), expected=expected)
        return Verdict.erreur(Msg("inventaire tronqué : la VM {vm} n'a pas été lue en entier", vm=name),
                              expected=expected)
    return vm


def _disk(d: Disk) -> str:
    size = show_size(d.capacity) if d.capacity is not None else "?"
    return f"{d.target} {size} {d.bus or '?'} {d.format or '?'}"


def _nic(n: Nic) -> str:
    vlan = f" VLAN {','.join(str(t) for t in n.vlans)}" if n.vlans else ""
    return f"{n.source or n.kind or '?'}{vlan} {n.model or '?'}"


def describe_vm(vm: Vm) -> str:
    """One line of what the hypervisor says of a VM (the evidence)."""
    parts = [vm.state or "?", f"{vm.vcpus if vm.vcpus is not None else '?'} vCPU",
             show_size(vm.memory) if vm.memory is not None else "? MiB"]
    parts += [_disk(d) for d in vm.real_disks]
    parts += [f"NIC {_nic(n)}" for n in vm.nics]
    if vm.autostart is not None:
        parts.append("autostart" if vm.autostart else "no autostart")
    parts.append(vm.os_type or "?")
    if vm.os_variant:
        parts.append(vm.os_variant)
    return ", ".join(parts)


class _InventoryCheck(Check):
    """A hypervisor check read from the host's one inventory probe (every such check of a host shares it).

    Its platform is ``any``: libvirt and Proxmox VE run on Linux hosts, Hyper-V on Windows ones; the
    rubric's validation asks for the channel the back-end's probes take (``ssh``, ``pve``, ``winrm``).
    """

    platform = "any"
    transport = "ssh"

    def probes(self, params: HypervisorParams) -> Mapping[str, Probe]:
        return {"inventory": BACKENDS[params.backend].inventory_probe()}

    @classmethod
    def own_view(cls, name: str, result: ProbeResult, owns: Callable[[str], bool]) -> ProbeResult:
        """On a shared hypervisor, the candidate's inventory holds their VMs only (libvirt's framing).

        The host's bridges, networks and pools stay: every candidate uses them.
        """
        if name != "inventory" or not isinstance(result.stdout, str) or not result.stdout.startswith(":: libvirt "):
            return result
        return replace(result, stdout=own_domains(result.stdout, owns))


class VmConfigured(_InventoryCheck):
    """La machine virtuelle {vm} existe avec la configuration attendue.

    Every fact the rubric gives is compared with what the hypervisor reports: state
    (``running``, ``shut off``, ``paused``), vCPUs, memory and disk sizes (give or take
    ``tolerance`` percent), disks (by ``target`` or by rank: size, bus, format), NICs (by
    ``bridge`` or by rank: VLAN tag, model), autostart, OS type (``hvm``) and OS variant (a part
    of the libosinfo id, e.g. ``debian/12``). A fact the rubric leaves out is not looked at.
    """

    id = "hypervisor.vm"
    usually_serves = ("CP7.2",)
    example = "{vm: '{{ candidat }}-web', state: running, vcpus: 2, memory: 2G, disks: [{size: 20G, bus: virtio}]}"

    class Params(HypervisorParams):
        vm: str = Field(min_length=1)
        state: Literal["running", "shut off", "paused"] | None = None
        vcpus: int | None = Field(default=None, ge=1)
        memory: Size | None = None
        disks: list[DiskSpec] | None = None
        nics: list[NicSpec] | None = None
        autostart: bool | None = None
        os_type: str | None = None
        os_variant: str | None = None
        tolerance: float = Field(default=10, ge=0, le=100)

        _memory = field_validator("memory")(classmethod(lambda cls, v: _size_ok(v)))

    @staticmethod
    def expected(p: Params) -> str:
        parts = [p.vm]
        if p.state:
            parts.append(p.state)
        if p.vcpus:
            parts.append(f"{p.vcpus} vCPU")
        if p.memory is not None:
            parts.append(show_size(parse_size(p.memory)))
        for d in p.disks or ():
            parts.append(" ".join(str(x) for x in (d.target, d.size, d.bus, d.format) if x is not None) or "disk")
        for n in p.nics or ():
            parts.append("NIC " + " ".join(str(x) for x in (n.bridge, n.vlan and f"VLAN {n.vlan}", n.model) if x))
        if p.autostart is not None:
            parts.append("autostart" if p.autostart else "no autostart")
        parts += [x for x in (p.os_type, p.os_variant) if x]
        return ", ".join(parts)

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = self.expected(params)
        inventory = read_inventory(params, results["inventory"], expected)
        if isinstance(inventory, Verdict):
            return inventory
        vm = find_vm(inventory, params.vm, expected)
        if isinstance(vm, Verdict):
            return vm
        observed = describe_vm(vm)
        wrong: list[Msg] = []
        unknown: list[str] = []

        def compare(what: str, seen: object, wanted: object, msg: Msg) -> None:
            if wanted is None:
                return
            if seen is None:
                unknown.append(what)
            elif seen != wanted:
                wrong.append(msg)

        compare("state", vm.state, params.state,
                Msg("état {seen} au lieu de {wanted}", seen=vm.state or "", wanted=params.state or ""))
        compare("vcpus", vm.vcpus, params.vcpus,
                Msg("{seen} vCPU au lieu de {wanted}", seen=vm.vcpus or 0, wanted=params.vcpus or 0))
        if params.memory is not None:
            wanted = parse_size(params.memory)
            if vm.memory is None:
                unknown.append("memory")
            elif not within(vm.memory, wanted, params.tolerance):
                wrong.append(Msg("mémoire {seen} au lieu de {wanted}", seen=show_size(vm.memory),
                                 wanted=show_size(wanted)))
        compare("autostart", vm.autostart, params.autostart,
                Msg("démarrage automatique activé") if vm.autostart else Msg("démarrage automatique désactivé"))
        compare("os_type", vm.os_type, params.os_type,
                Msg("type d'OS {seen} au lieu de {wanted}", seen=vm.os_type or "", wanted=params.os_type or ""))
        if params.os_variant is not None and params.os_variant.lower() not in (vm.os_variant or "").lower():
            wrong.append(Msg("variante d'OS {seen} au lieu de {wanted}", seen=vm.os_variant or "?",
                             wanted=params.os_variant))
        self._disks(params, vm, wrong, unknown)
        self._nics(params, vm, wrong)
        if wrong:
            return Verdict.non_conforme(observed, expected, Msg("La VM {vm} ne correspond pas : {wrong}.",
                                                                vm=vm.name, wrong=tuple(wrong)))
        if unknown:
            return Verdict.erreur(Msg("l'hyperviseur ne dit pas : {facts}", facts=", ".join(unknown)),
                                  observed=observed, expected=expected)
        return Verdict.conforme(observed, expected, Msg("La VM {vm} a la configuration attendue.", vm=vm.name))

    @staticmethod
    def _disks(params: Params, vm: Vm, wrong: list[Msg], unknown: list[str]) -> None:
        disks = list(vm.real_disks)
        for rank, spec in enumerate(params.disks or (), 1):
            if spec.target is not None:
                disk = next((d for d in disks if d.target == spec.target), None)
            else:
                disk = disks[rank - 1] if rank <= len(disks) else None
            label = spec.target or f"n° {rank}"
            if disk is None:
                wrong.append(Msg("disque {disk} absent", disk=label))
                continue
            if spec.size is not None:
                wanted = parse_size(spec.size)
                if disk.capacity is None:
                    unknown.append(f"{disk.target} size")
                elif not within(disk.capacity, wanted, params.tolerance):
                    wrong.append(Msg("disque {disk} de {seen} au lieu de {wanted}", disk=disk.target,
                                     seen=show_size(disk.capacity), wanted=show_size(wanted)))
            if spec.bus is not None and disk.bus != spec.bus:
                wrong.append(Msg("disque {disk} sur le bus {seen} au lieu de {wanted}", disk=disk.target,
                                 seen=disk.bus or "?", wanted=spec.bus))
            if spec.format is not None and disk.format != spec.format:
                wrong.append(Msg("disque {disk} au format {seen} au lieu de {wanted}", disk=disk.target,
                                 seen=disk.format or "?", wanted=spec.format))

    @staticmethod
    def _nics(params: Params, vm: Vm, wrong: list[Msg]) -> None:
        free = list(vm.nics)
        for rank, spec in enumerate(params.nics or (), 1):
            if spec.bridge is not None:
                nic = next((n for n in free if spec.bridge in (n.source, n.bridge)), None)
            else:
                nic = free[0] if free else None
            label = spec.bridge or f"n° {rank}"
            if nic is None:
                wrong.append(Msg("aucune carte réseau sur {bridge}", bridge=label))
                continue
            free.remove(nic)
            if spec.vlan is not None and spec.vlan not in nic.vlans:
                seen = ",".join(str(t) for t in nic.vlans) or Msg("aucun")
                wrong.append(Msg("carte réseau sur {bridge} : VLAN {seen} au lieu de {wanted}", bridge=label,
                                 seen=seen, wanted=spec.vlan))
            if spec.model is not None and nic.model != spec.model:
                wrong.append(Msg("carte réseau sur {bridge} : modèle {seen} au lieu de {wanted}", bridge=label,
                                 seen=nic.model or "?", wanted=spec.model))


class VmSnapshot(_InventoryCheck):
    """Un instantané de la machine virtuelle {vm} existe.

    ``name``: the snapshot's exact name (any snapshot when left out); ``after``: it must have
    been taken after that moment (the exam's start, ISO 8601 with its offset).
    """

    id = "hypervisor.snapshot"
    usually_serves = ("CP7.1",)
    example = "{vm: '{{ candidat }}-web', name: avant-maj, after: '2026-06-15T08:30:00+02:00'}"

    class Params(HypervisorParams):
        vm: str = Field(min_length=1)
        name: str | None = None
        after: Moment | None = None

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected: str | Msg = Msg("un instantané {name}", name=params.name) if params.name else Msg("un instantané")
        if params.after is not None:
            expected = Msg("{what} pris après {after}", what=expected, after=params.after.isoformat())
        inventory = read_inventory(params, results["inventory"], expected)
        if isinstance(inventory, Verdict):
            return inventory
        vm = find_vm(inventory, params.vm, expected)
        if isinstance(vm, Verdict):
            return vm
        if vm.snapshots is None:
            return Verdict.erreur(Msg("la liste des instantanés de la VM {vm} n'a pas pu être lue", vm=vm.name),
                                  expected=expected)

        def shown(s: object) -> str:
            created = getattr(s, "created", None)
            when = datetime.fromtimestamp(created).astimezone().isoformat() if created is not None else "?"
            return f"{getattr(s, 'name', '?')} ({when})"

        observed: str | Msg = ", ".join(shown(s) for s in vm.snapshots) or Msg("aucun instantané")
        named = [s for s in vm.snapshots if params.name is None or s.name == params.name]
        if not named:
            return Verdict.non_conforme(observed, expected, Msg("La VM {vm} n'a pas l'instantané attendu.",
                                                                vm=vm.name))
        if params.after is not None:
            floor = params.after.timestamp()
            if any(s.created is None for s in named):
                return Verdict.erreur(Msg("date de l'instantané inconnue"), observed=observed, expected=expected)
            if not any(s.created is not None and s.created >= floor for s in named):
                return Verdict.non_conforme(observed, expected,
                                            Msg("L'instantané de la VM {vm} est antérieur au début de l'épreuve.",
                                                vm=vm.name))
        return Verdict.conforme(observed, expected, Msg("La VM {vm} a l'instantané attendu.", vm=vm.name))


class NetworkBridge(_InventoryCheck):
    """Le réseau {name} existe sur l'hyperviseur.

    ``name`` is a bridge of the host (Linux bridge) or a virtual network of the hypervisor (its
    bridge is then the one looked at). ``ports``: interfaces that must be plugged into it;
    ``vlans``: VLAN tags it must carry (a VLAN-aware bridge with each tag on one of its ports or on
    itself); ``vlan_aware``: whether VLAN filtering must be on.
    """

    id = "hypervisor.network"
    usually_serves = ("CP7.1",)
    example = "{name: br0, ports: [eth1], vlans: [10, 20]}"

    class Params(HypervisorParams):
        name: str = Field(min_length=1)
        ports: list[str] = Field(default_factory=list)
        vlans: list[int] = Field(default_factory=list)
        vlan_aware: bool | None = None

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        bits: list[str | Msg] = [params.name] + [f"port {p}" for p in params.ports]
        bits += [f"VLAN {v}" for v in params.vlans]
        if params.vlan_aware is not None:
            bits.append(Msg("filtrage VLAN activé") if params.vlan_aware else Msg("filtrage VLAN désactivé"))
        expected = Msg("{items}", items=tuple(bits))
        inventory = read_inventory(params, results["inventory"], expected)
        if isinstance(inventory, Verdict):
            return inventory
        network = inventory.network(params.name)
        bridge_name = network.bridge if network is not None and network.bridge else params.name
        if inventory.bridges is None:
            return Verdict.erreur(Msg("les ponts de l'hôte n'ont pas pu être lus"), expected=expected)
        bridge = inventory.bridge(bridge_name)
        if network is not None and network.active is False:
            return Verdict.non_conforme(Msg("réseau {name} inactif", name=network.name), expected,
                                        Msg("Le réseau {name} est défini mais inactif.", name=network.name))
        if bridge is None and inventory.blind:
            return Verdict.erreur(Msg("le réseau {name} n'est pas dans la liste : {reason}", name=params.name,
                                      reason=inventory.blind), expected=expected)
        if bridge is None:
            known = ", ".join([b.name for b in inventory.bridges] + [n.name for n in inventory.networks]) or Msg(
                "aucun")
            return Verdict.non_conforme(Msg("ponts et réseaux présents : {known}", known=known), expected,
                                        Msg("Le réseau {name} n'existe pas sur cet hyperviseur.", name=params.name))
        ports = {p.name: p for p in bridge.ports}
        carried = {t for p in bridge.ports for t in p.vlans}
        observed = Msg("pont {bridge} : ports {ports} ; filtrage VLAN {filtering} ; VLAN {vlans}", bridge=bridge.name,
                       ports=", ".join(ports) or "-", filtering=Msg("oui") if bridge.vlan_filtering else Msg("non"),
                       vlans=", ".join(str(v) for v in sorted(carried)) or "-")
        wrong: list[Msg] = []
        missing = [p for p in params.ports if p not in ports]
        if missing:
            wrong.append(Msg("ports absents : {ports}", ports=", ".join(missing)))
        if params.vlan_aware is not None and bridge.vlan_filtering != params.vlan_aware:
            wrong.append(Msg("filtrage VLAN activé") if bridge.vlan_filtering else Msg("filtrage VLAN désactivé"))
        if params.vlans:
            if not bridge.vlan_filtering:
                wrong.append(Msg("le pont ne filtre pas les VLAN"))
            else:
                lacking = [v for v in params.vlans if v not in carried]
                if lacking:
                    wrong.append(Msg("VLAN absents : {vlans}", vlans=", ".join(str(v) for v in lacking)))
        if wrong:
            return Verdict.non_conforme(observed, expected, Msg("Le réseau {name} ne correspond pas : {wrong}.",
                                                                name=params.name, wrong=tuple(wrong)))
        return Verdict.conforme(observed, expected, Msg("Le réseau {name} est en place.", name=params.name))


class StoragePool(_InventoryCheck):
    """Le pool de stockage {pool} existe sur l'hyperviseur.

    Active (unless ``active: false``), of ``type`` (``dir``, ``logical``, ``netfs``...), with a
    ``capacity`` (give or take ``tolerance`` percent) and at least ``free`` space available.
    """

    id = "hypervisor.storage"
    usually_serves = ("CP7.2",)
    example = "{pool: vms, type: dir, free: 10G}"

    class Params(HypervisorParams):
        pool: str = Field(min_length=1)
        type: str | None = None
        active: bool = True
        autostart: bool | None = None
        capacity: Size | None = None
        free: Size | None = None
        tolerance: float = Field(default=10, ge=0, le=100)

        _sizes = field_validator("capacity", "free")(classmethod(lambda cls, v: _size_ok(v)))

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        bits: list[str | Msg] = [params.pool] + [x for x in (params.type,) if x]
        bits.append(Msg("actif") if params.active else Msg("inactif ou actif"))
        if params.capacity is not None:
            bits.append(Msg("capacité {size}", size=show_size(parse_size(params.capacity))))
        if params.free is not None:
            bits.append(Msg("au moins {size} libres", size=show_size(parse_size(params.free))))
        expected = Msg("{items}", items=tuple(bits))
        inventory = read_inventory(params, results["inventory"], expected)
        if isinstance(inventory, Verdict):
            return inventory
        pool = inventory.pool(params.pool)
        if pool is None:
            if inventory.truncated:
                return Verdict.erreur(Msg("inventaire tronqué : le pool {pool} n'y figure pas", pool=params.pool),
                                      expected=expected)
            names = ", ".join(p.name for p in inventory.pools) or Msg("aucun")
            return Verdict.non_conforme(Msg("pools présents : {names}", names=names), expected,
                                        Msg("Le pool {pool} n'existe pas sur cet hyperviseur.", pool=params.pool))
        observed = Msg("{pool} ({type}, {state}) : capacité {capacity}, libre {free}", pool=pool.name,
                       type=pool.type or "?", state=Msg("actif") if pool.active else Msg("inactif"),
                       capacity=show_size(pool.capacity) if pool.capacity is not None else "?",
                       free=show_size(pool.available) if pool.available is not None else "?")
        wrong: list[Msg] = []
        if params.active and not pool.active:
            wrong.append(Msg("pool inactif"))
        if params.type is not None and pool.type != params.type:
            wrong.append(Msg("type {seen} au lieu de {wanted}", seen=pool.type or "?", wanted=params.type))
        if params.autostart is not None and pool.autostart != params.autostart:
            wrong.append(Msg("démarrage automatique activé") if pool.autostart else
                         Msg("démarrage automatique désactivé"))
        sizes_needed = params.capacity is not None or params.free is not None
        if not wrong and sizes_needed and (pool.capacity is None or pool.available is None):
            return Verdict.erreur(Msg("l'hyperviseur ne donne pas la taille du pool {pool}", pool=pool.name),
                                  observed=observed, expected=expected)
        if params.capacity is not None and pool.capacity is not None:
            wanted = parse_size(params.capacity)
            if not within(pool.capacity, wanted, params.tolerance):
                wrong.append(Msg("capacité {seen} au lieu de {wanted}", seen=show_size(pool.capacity),
                                 wanted=show_size(wanted)))
        if params.free is not None and pool.available is not None and pool.available < parse_size(params.free):
            wrong.append(Msg("seulement {seen} libres", seen=show_size(pool.available)))
        if wrong:
            return Verdict.non_conforme(observed, expected, Msg("Le pool {pool} ne correspond pas : {wrong}.",
                                                                pool=pool.name, wrong=tuple(wrong)))
        return Verdict.conforme(observed, expected, Msg("Le pool {pool} est en place.", pool=pool.name))


class GuestAgent(Check):
    """L'agent invité de la machine virtuelle {vm} répond.

    The VM must exist and run, and its agent answer through the hypervisor: libvirt and Proxmox ask
    qemu-ga ``guest-info`` (``virsh qemu-agent-command``, ``POST .../agent/ping``) within 5 s;
    Hyper-V reads the VM's integration services (``Get-VMIntegrationService``): the heartbeat must be
    enabled and its guest component answer ``OK``, as each of ``services`` (Hyper-V only: ``Guest
    Service Interface``, ``Shutdown``, ``Time Synchronization``, ``Key-Value Pair Exchange``, ``VSS``,
    known by their GUID whatever the host's language).
    """

    id = "hypervisor.guest_agent"
    platform = "any"
    transport = "ssh"
    usually_serves = ("CP7.1",)
    example = "{vm: '{{ candidat }}-web'}"

    class Params(HypervisorParams):
        vm: str = Field(min_length=1)
        services: list[str] = Field(default_factory=list)

        @field_validator("services")
        @classmethod
        def _known(cls, value: list[str]) -> list[str]:
            from checks.hypervisor._hyperv import INTEGRATION, guid_of

            unknown = [v for v in value if guid_of(v) is None]
            if unknown:
                raise ValueError(f"service d'intégration inconnu : {', '.join(unknown)} "
                                 f"(connus : {', '.join(INTEGRATION.values())})")
            return value

        @model_validator(mode="after")
        def _hyperv_only(self) -> GuestAgent.Params:
            if self.services and self.backend != "hyperv":
                raise ValueError("services ne s'applique qu'à backend: hyperv (services d'intégration)")
            return self

    def probes(self, params: Params) -> Mapping[str, Probe]:
        backend = BACKENDS[params.backend]
        return {"inventory": backend.inventory_probe(), "agent": backend.agent_probe(params.vm)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = (Msg("les services d'intégration répondent : {services}",
                        services=", ".join(["Heartbeat", *params.services]))
                    if params.backend == "hyperv" else Msg("l'agent invité répond (guest-info)"))
        inventory = read_inventory(params, results["inventory"], expected)
        if isinstance(inventory, Verdict):
            return inventory
        vm = find_vm(inventory, params.vm, expected)
        if isinstance(vm, Verdict):
            return vm
        if vm.state != RUNNING:
            return Verdict.non_conforme(Msg("VM dans l'état {state}", state=vm.state or "?"), expected,
                                        Msg("La VM {vm} ne tourne pas : son agent ne peut pas répondre.", vm=vm.name))
        if not vm.agent.declared:
            return Verdict.non_conforme(Msg("aucun canal d'agent invité dans la définition de la VM"), expected,
                                        Msg("La VM {vm} n'a pas de canal pour l'agent invité.", vm=vm.name))
        try:
            answer = BACKENDS[params.backend].agent_answer(results["agent"], vm, params.services)
        except AgentError as exc:
            return Verdict.erreur(exc.reason, observed=exc.observed, expected=expected)
        if not answer.answered:
            return Verdict.non_conforme(answer.observed, expected,
                                        Msg("L'agent invité de la VM {vm} ne répond pas.", vm=vm.name))
        return Verdict.conforme(answer.observed, expected, Msg("L'agent invité de la VM {vm} répond.", vm=vm.name))


class ClusterHealthy(_InventoryCheck):
    """Le cluster d'hyperviseurs est en bon état.

    Proxmox VE (``backend: proxmox``): the host belongs to a cluster (``name``: its name), which is
    quorate; every node of ``nodes`` is a member and online (``min_nodes``: at least that many
    members online); every resource of ``ha`` (a VM's name or an HA id such as ``vm:100``) is
    managed by the high availability, in state ``started``.
    """

    id = "hypervisor.cluster"
    transport = "pve"
    usually_serves = ("CP7.1",)
    example = "{backend: proxmox, nodes: [pve1, pve2, pve3], ha: ['{{ candidat }}-web']}"

    class Params(HypervisorParams):
        backend: Literal["libvirt", "proxmox"] = "proxmox"
        name: str | None = None
        nodes: list[str] = Field(default_factory=list)
        min_nodes: int | None = Field(default=None, ge=1)
        quorate: bool = True
        ha: list[str] = Field(default_factory=list)

    @staticmethod
    def observed(cluster: Cluster) -> Msg:
        nodes: tuple[Msg, ...] | str = tuple(
            Msg("nœud {node} en ligne", node=n.name) if n.online else Msg("nœud {node} hors ligne", node=n.name)
            for n in cluster.nodes) or "-"
        ha = "?" if cluster.ha is None else ", ".join(f"{r.name or r.sid} {r.state}" for r in cluster.ha) or "-"
        return Msg("cluster {name}, quorum {quorate} ; nœuds : {nodes} ; HA : {ha}", name=cluster.name or "-",
                   quorate=Msg("oui") if cluster.quorate else Msg("non"), nodes=nodes, ha=ha)

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        bits: list[str | Msg] = [Msg("le cluster {name}", name=params.name) if params.name else Msg("un cluster")]
        if params.quorate:
            bits.append(Msg("avec quorum"))
        bits += [Msg("nœud {node} en ligne", node=n) for n in params.nodes]
        if params.min_nodes:
            bits.append(Msg("au moins {count} nœuds en ligne", count=params.min_nodes))
        bits += [Msg("HA {resource} démarrée", resource=r) for r in params.ha]
        expected = Msg("{items}", items=tuple(bits))
        inventory = read_inventory(params, results["inventory"], expected)
        if isinstance(inventory, Verdict):
            return inventory
        cluster = inventory.cluster
        if cluster is None:
            return Verdict.erreur(Msg("l'hyperviseur ne dit rien de son cluster"), expected=expected)
        observed = self.observed(cluster)
        if cluster.name is None:
            return Verdict.non_conforme(observed, expected, Msg("Cet hyperviseur n'appartient à aucun cluster."))
        wrong: list[Msg] = []
        if params.name is not None and cluster.name != params.name:
            wrong.append(Msg("cluster {seen} au lieu de {wanted}", seen=cluster.name, wanted=params.name))
        if params.quorate and not cluster.quorate:
            wrong.append(Msg("pas de quorum"))
        members = {n.name: n for n in cluster.nodes}
        for node in params.nodes:
            if node not in members:
                wrong.append(Msg("nœud {node} absent du cluster", node=node))
            elif not members[node].online:
                wrong.append(Msg("nœud {node} hors ligne", node=node))
        online = sum(1 for n in cluster.nodes if n.online)
        if params.min_nodes and online < params.min_nodes:
            wrong.append(Msg("{count} nœuds en ligne au lieu de {wanted}", count=online, wanted=params.min_nodes))
        if params.ha and cluster.ha is None:
            if wrong:
                return Verdict.non_conforme(observed, expected, Msg("Le cluster ne correspond pas : {wrong}.",
                                                                    wrong=tuple(wrong)))
            return Verdict.erreur(Msg("les ressources HA n'ont pas pu être lues"), observed=observed, expected=expected)
        for wanted in params.ha:
            resource = next((r for r in cluster.ha or () if wanted in (r.sid, r.name)), None)
            if resource is None:
                wrong.append(Msg("{resource} n'est pas gérée par la HA", resource=wanted))
            elif resource.state != "started":
                wrong.append(Msg("ressource HA {resource} dans l'état {state}", resource=wanted,
                                 state=resource.state or "?"))
        if wrong:
            return Verdict.non_conforme(observed, expected, Msg("Le cluster ne correspond pas : {wrong}.",
                                                                wrong=tuple(wrong)))
        return Verdict.conforme(observed, expected, Msg("Le cluster {name} est en bon état.", name=cluster.name))


CHECKS: tuple[type[Check], ...] = (VmConfigured, VmSnapshot, NetworkBridge, StoragePool, GuestAgent, ClusterHealthy)
