"""The Hyper-V back-end: one PowerShell script in the host's WinRM batch, its JSON in the normalised model.

:func:`inventory_script` reads, in one probe, every VM (``Get-VM``) with its disks
(``Get-VMHardDiskDrive`` and ``Get-VHD``), network adapters (``Get-VMNetworkAdapter``,
``Get-VMNetworkAdapterVlan``), checkpoints (``Get-VMSnapshot``) and integration services
(``Get-VMIntegrationService``); the virtual switches (``Get-VMSwitch``, their uplinks by
``Get-NetAdapter``), the host's own virtual adapters (``-ManagementOS``) and the lettered volumes
(``Get-Volume``). It prints one ``ConvertTo-Json -Compress`` document of its own projection::

    {"Version": "10.0.20348", "VMs": [{"Name", "Id", "State", "Generation", "ProcessorCount",
      "MemoryStartup", "MemoryAssigned", "DynamicMemoryEnabled", "AutomaticStartAction",
      "Disks": [...] | null, "Nics": [...] | null, "Snapshots": [...] | null, "Integration": [...] | null}],
     "Switches": [...] | null, "HostNics": [...] | null, "Volumes": [...] | null, "Errors": ["..."]}

``SeesAll`` says whether the account is an administrator or a member of « Hyper-V Administrators »
(S-1-5-32-578): without those rights Hyper-V's cmdlets may answer with short or empty lists rather
than an error, so a VM or a switch missing from the lists is then ``erreur``, not ``non conforme``.

Enums are written by their names (``[string]``: ``Running``, ``Off``, ``StartIfRunning``, ``Access``),
which PowerShell never localises; integration services are known by their GUID (the last part of
``Id``), never by their ``Name``, which is localised (« Pulsation » on a French host). A part that fails
for one VM is ``null`` with its reason in ``Errors`` (the judges then cannot tell); ``Get-VM`` failing
fails the probe (no Hyper-V module, access refused: ``erreur``).

How Hyper-V's facts map onto the model (libvirt's words):

* state ``Running``/``Off``/``Paused`` are ``running``/``shut off``/``paused``; the others lowercased
  (``saved``, ``starting``...);
* memory is the startup memory (``MemoryStartup``), what the VM is configured with, dynamic or not;
* a disk's target is ``<bus><controller>:<location>`` (``scsi0:0``, ``ide0:1``), its format the VHD's
  (``vhdx``, ``vhd``), its size the virtual size Get-VHD reports;
* a NIC is plugged into its virtual switch (``bridge`` in a rubric), its model ``netvsc`` (synthetic)
  or ``legacy``; VLANs as ``Get-VMNetworkAdapterVlan`` says (access: one tag; trunk: the allowed list);
* autostart is ``AutomaticStartAction`` ``Start`` only: ``StartIfRunning`` (Hyper-V's default)
  starts the VM again only if it was running when the host stopped;
* OS type is ``hvm`` and the variant the generation (``gen1``, ``gen2``): Hyper-V knows no guest OS type;
* a virtual switch is a network *and* a bridge: its ports are its uplinks (``Get-NetAdapter`` names),
  the VMs' adapters (``<vm>/<adapter>``) and the host's (``hôte/<adapter>``) with their VLANs; a
  Hyper-V switch always carries tagged traffic (``vlan_filtering`` true);
* a storage pool is a lettered volume (``C:``, ``D:``): its file system, size and free space.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from checks.hypervisor._model import (
    PAUSED,
    RUNNING,
    SHUT_OFF,
    AgentChannel,
    Bridge,
    BridgePort,
    Disk,
    Inventory,
    Nic,
    Pool,
    Snapshot,
    VirtualNetwork,
    Vm,
    vlan_tags,
)
from checks.windows._ps import as_list, ps_date, ps_quote
from grader.model import Msg

NAME = "hyperv"

#: Integration services by GUID (the last part of ``Get-VMIntegrationService``'s ``Id``, the same in
#: every language), with the English names a rubric may write.
INTEGRATION = {
    "84EAAE65-2F2E-45F5-9BB5-0E857DC8EB47": "Heartbeat",
    "6C09BB55-D683-4DA0-8931-C9BF705F6480": "Guest Service Interface",
    "9F8233AC-BE49-4C79-8EE3-E7E1985B2077": "Shutdown",
    "2497F4DE-E9FA-4204-80E4-4B75C46419C0": "Time Synchronization",
    "2A34B1C2-FD73-4043-8A5B-DD2159BC743F": "Key-Value Pair Exchange",
    "5CED1297-4598-4915-A5FC-AD21BB4D02A4": "VSS",
}
HEARTBEAT = "84EAAE65-2F2E-45F5-9BB5-0E857DC8EB47"
#: ``VMIntegrationComponentOperationalStatus`` ``Ok`` (2): the guest's component answers.
_OK = ("ok", "2")
_STATES = {"Running": RUNNING, "Off": SHUT_OFF, "Paused": PAUSED}

# A NIC (a VM's or the host's) as the script projects it, VLAN settings included.
_NIC_FUNCTION = r"""
function ConvertTo-GraderNic($n) {
    $v = Get-VMNetworkAdapterVlan -VMNetworkAdapter $n
    $allowed = [string]$v.AllowedVlanIdListString
    if (-not $allowed -and $v.AllowedVlanIdList) { $allowed = (@($v.AllowedVlanIdList) -join ',') }
    [pscustomobject]@{ Name = $n.Name; MacAddress = $n.MacAddress; SwitchName = $n.SwitchName;
        IsLegacy = $n.IsLegacy; VlanMode = [string]$v.OperationMode; AccessVlanId = $v.AccessVlanId;
        NativeVlanId = $v.NativeVlanId; AllowedVlanIds = $allowed }
}
"""

_SCRIPT = r"""$ErrorActionPreference = 'Stop'
$errs = New-Object -TypeName 'System.Collections.Generic.List[string]'
function Read-GraderPart([string]$What, [scriptblock]$Block) {
    try { return ,@(& $Block) } catch { $errs.Add($What + ' : ' + $_.Exception.Message); return $null }
}
""" + _NIC_FUNCTION + r"""
$vms = @(Get-VM)
$list = @(foreach ($vm in $vms) {
    [pscustomobject]@{ Name = $vm.Name; Id = [string]$vm.Id; State = [string]$vm.State;
        Generation = $vm.Generation; ProcessorCount = $vm.ProcessorCount; MemoryStartup = $vm.MemoryStartup;
        MemoryAssigned = $vm.MemoryAssigned; DynamicMemoryEnabled = $vm.DynamicMemoryEnabled;
        AutomaticStartAction = [string]$vm.AutomaticStartAction;
        Disks = (Read-GraderPart ('Get-VMHardDiskDrive ' + $vm.Name) { foreach ($d in @(Get-VMHardDiskDrive -VM $vm)) {
            $vhd = $null
            if ($d.Path) { $vhd = Get-VHD -Path $d.Path }
            [pscustomobject]@{ ControllerType = [string]$d.ControllerType; ControllerNumber = $d.ControllerNumber;
                ControllerLocation = $d.ControllerLocation; Path = $d.Path; VhdFormat = [string]$vhd.VhdFormat;
                VhdType = [string]$vhd.VhdType; Size = $vhd.Size } } });
        Nics = (Read-GraderPart ('Get-VMNetworkAdapter ' + $vm.Name) {
            foreach ($n in @(Get-VMNetworkAdapter -VM $vm)) { ConvertTo-GraderNic $n } });
        Snapshots = (Read-GraderPart ('Get-VMSnapshot ' + $vm.Name) { foreach ($s in @(Get-VMSnapshot -VM $vm)) {
            [pscustomobject]@{ Name = $s.Name; CreationTime = $s.CreationTime; SnapshotType = [string]$s.SnapshotType } } });
        Integration = (Read-GraderPart ('Get-VMIntegrationService ' + $vm.Name) {
            foreach ($i in @(Get-VMIntegrationService -VM $vm)) {
                [pscustomobject]@{ Name = $i.Name; Guid = ([string]$i.Id).Split('\')[-1]; Enabled = $i.Enabled;
                    Status = [string]$i.PrimaryOperationalStatus; Description = $i.PrimaryStatusDescription } } })
    }
})
$switches = Read-GraderPart 'Get-VMSwitch' { foreach ($s in @(Get-VMSwitch)) {
    $descriptions = @(@($s.NetAdapterInterfaceDescriptions) + @($s.NetAdapterInterfaceDescription) |
        Where-Object { $_ } | Select-Object -Unique)
    $uplinks = @(if ($descriptions.Count -gt 0) { Get-NetAdapter |
        Where-Object { $descriptions -contains $_.InterfaceDescription } | ForEach-Object { $_.Name } })
    [pscustomobject]@{ Name = $s.Name; Id = [string]$s.Id; SwitchType = [string]$s.SwitchType;
        AllowManagementOS = $s.AllowManagementOS; Uplinks = $uplinks } } }
$hostNics = Read-GraderPart 'Get-VMNetworkAdapter -ManagementOS' {
    foreach ($n in @(Get-VMNetworkAdapter -ManagementOS)) { ConvertTo-GraderNic $n } }
$volumes = Read-GraderPart 'Get-Volume' { foreach ($v in @(Get-Volume | Where-Object { $_.DriveLetter })) {
    [pscustomobject]@{ DriveLetter = [string]$v.DriveLetter; FileSystem = $v.FileSystem; DriveType = [string]$v.DriveType;
        Size = $v.Size; SizeRemaining = $v.SizeRemaining; HealthStatus = [string]$v.HealthStatus } } }
$me = New-Object -TypeName Security.Principal.WindowsPrincipal -ArgumentList ([Security.Principal.WindowsIdentity]::GetCurrent())
$seesAll = $me.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator) -or
    $me.IsInRole((New-Object -TypeName Security.Principal.SecurityIdentifier -ArgumentList 'S-1-5-32-578'))
[pscustomobject]@{ Version = [Environment]::OSVersion.Version.ToString(); SeesAll = $seesAll; VMs = $list; Switches = $switches;
    HostNics = $hostNics; Volumes = $volumes; Errors = @($errs) } | ConvertTo-Json -Depth 6 -Compress
"""


def inventory_script() -> str:
    """The one PowerShell script reading the host's Hyper-V (read only: ``Get-*`` cmdlets only)."""
    return _SCRIPT


def agent_script(vm: str) -> str:
    """The integration services of the VM named ``vm`` (compared with ``-eq``: no wildcard), and its state."""
    return ("$ErrorActionPreference = 'Stop'\n"
            f"$vm = @(Get-VM | Where-Object {{ $_.Name -eq {ps_quote(vm)} }})\n"
            "$services = @(foreach ($i in @($vm | Get-VMIntegrationService)) {\n"
            "    [pscustomobject]@{ VM = $i.VMName; Name = $i.Name; Guid = ([string]$i.Id).Split('\\')[-1];\n"
            "        Enabled = $i.Enabled; Status = [string]$i.PrimaryOperationalStatus;\n"
            "        Description = $i.PrimaryStatusDescription } })\n"
            "[pscustomobject]@{ Found = $vm.Count; State = @($vm | ForEach-Object { [string]$_.State });\n"
            "    Services = $services } | ConvertTo-Json -Depth 4 -Compress")


# -- reading -------------------------------------------------------------------------------------


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _vlans(nic: dict[str, Any]) -> tuple[tuple[int, ...], bool]:
    mode = str(nic.get("VlanMode") or "")
    if mode == "Access":
        tag = _int(nic.get("AccessVlanId"))
        return ((tag,) if tag else ()), False
    if mode == "Trunk":
        return vlan_tags(str(nic.get("AllowedVlanIds") or "")), True
    return (), False


def _mac(value: object) -> str | None:
    text = str(value or "").replace("-", "").replace(":", "")
    if not re.fullmatch(r"[0-9A-Fa-f]{12}", text):
        return None
    return ":".join(text[i:i + 2] for i in range(0, 12, 2)).upper()


def _nic(nic: dict[str, Any]) -> Nic:
    vlans, trunk = _vlans(nic)
    switch = nic.get("SwitchName") or None
    return Nic(mac=_mac(nic.get("MacAddress")), kind="switch" if switch else None, source=switch, bridge=switch,
               vlans=vlans, trunk=trunk, model="legacy" if nic.get("IsLegacy") else "netvsc",
               target=nic.get("Name") or None)


def _disk(disk: dict[str, Any]) -> Disk:
    bus = str(disk.get("ControllerType") or "").lower() or None
    target = f"{bus or '?'}{_int(disk.get('ControllerNumber')) or 0}:{_int(disk.get('ControllerLocation')) or 0}"
    fmt = str(disk.get("VhdFormat") or "").lower() or None
    return Disk(target=target, bus=bus, format=fmt, source=disk.get("Path") or None, capacity=_int(disk.get("Size")))


def _snapshot(snap: dict[str, Any]) -> Snapshot:
    at = ps_date(snap.get("CreationTime"))
    return Snapshot(name=str(snap.get("Name")), created=int(at.timestamp()) if at else None,
                    state=str(snap.get("SnapshotType") or "") or None)


def service_guid(service: dict[str, Any]) -> str:
    return str(service.get("Guid") or "").strip().upper()


def _agent(integration: list[Any] | None) -> AgentChannel:
    """The heartbeat integration service as the model's agent channel (declared: it is offered to the VM)."""
    heartbeat = next((s for s in integration or () if isinstance(s, dict) and service_guid(s) == HEARTBEAT), None)
    if heartbeat is None:
        return AgentChannel()
    state = "connected" if answers(heartbeat) else "disconnected"
    return AgentChannel(declared=bool(heartbeat.get("Enabled")), state=state)


def answers(service: dict[str, Any]) -> bool:
    """An integration service enabled whose guest component answers (``PrimaryOperationalStatus`` ``Ok``)."""
    return bool(service.get("Enabled")) and str(service.get("Status")).casefold() in _OK


def _vm(entry: dict[str, Any]) -> Vm:
    state = str(entry.get("State") or "")
    parts = [entry.get(k) for k in ("Disks", "Nics", "Snapshots", "Integration")]
    action = entry.get("AutomaticStartAction")
    generation = _int(entry.get("Generation"))
    snapshots = entry.get("Snapshots")
    return Vm(name=str(entry.get("Name")), uuid=entry.get("Id") or None,
              state=_STATES.get(state, state.lower() or None), vcpus=_int(entry.get("ProcessorCount")),
              memory=_int(entry.get("MemoryStartup")), current_memory=_int(entry.get("MemoryAssigned")),
              disks=tuple(_disk(d) for d in as_list(entry.get("Disks")) if isinstance(d, dict)),
              nics=tuple(_nic(n) for n in as_list(entry.get("Nics")) if isinstance(n, dict)),
              autostart=None if not action else action == "Start", os_type="hvm",
              os_variant=f"gen{generation}" if generation else None,
              snapshots=None if snapshots is None else tuple(_snapshot(s) for s in as_list(snapshots)
                                                            if isinstance(s, dict)),
              agent=_agent(None if entry.get("Integration") is None else as_list(entry.get("Integration"))),
              complete=all(p is not None for p in parts[:2]))


def _switches(switches: list[Any], vms: list[dict[str, Any]], host_nics: list[Any] | None) -> list[Bridge]:
    bridges = []
    for switch in switches:
        if not isinstance(switch, dict) or not switch.get("Name"):
            continue
        name = str(switch["Name"])
        ports = [BridgePort(name=str(u)) for u in as_list(switch.get("Uplinks"))]
        for vm in vms:
            for nic in as_list(vm.get("Nics")):
                if isinstance(nic, dict) and nic.get("SwitchName") == name:
                    tags, _trunk = _vlans(nic)
                    ports.append(BridgePort(name=f"{vm.get('Name')}/{nic.get('Name')}", vlans=tags))
        for nic in host_nics or ():
            if isinstance(nic, dict) and nic.get("SwitchName") == name:
                tags, _trunk = _vlans(nic)
                ports.append(BridgePort(name=f"hôte/{nic.get('Name')}", vlans=tags))
        bridges.append(Bridge(name=name, vlan_filtering=True, ports=tuple(ports), up=True))
    return bridges


def _pool(volume: dict[str, Any]) -> Pool:
    letter = str(volume.get("DriveLetter") or "?")
    return Pool(name=f"{letter}:", type=volume.get("FileSystem") or None,
                active=str(volume.get("HealthStatus") or "Healthy") in ("Healthy", "0"), capacity=_int(volume.get("Size")),
                available=_int(volume.get("SizeRemaining")), path=f"{letter}:\\")


def parse_inventory(text: str, *, truncated: bool = False) -> Inventory:
    """The inventory script's JSON as an :class:`Inventory`; :raises ValueError: when it is not ours or cut."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if truncated:
            raise ValueError("sortie tronquée au plafond de 64 Kio : inventaire Hyper-V incomplet") from exc
        raise
    if not isinstance(data, dict) or "VMs" not in data:
        raise ValueError("inventaire Hyper-V illisible")
    vms = [v for v in as_list(data.get("VMs")) if isinstance(v, dict)]
    switches = data.get("Switches")
    host_nics = data.get("HostNics")
    volumes = data.get("Volumes")
    networks = [VirtualNetwork(name=str(s["Name"]), uuid=s.get("Id") or None, active=True, autostart=True,
                               bridge=str(s["Name"]),
                               forward={"External": "bridge", "Internal": "open"}.get(str(s.get("SwitchType"))))
                for s in as_list(switches) if isinstance(s, dict) and s.get("Name")]
    blind = None if data.get("SeesAll") is not False else Msg(
        "le compte n'est ni administrateur ni membre de « Administrateurs Hyper-V » : Hyper-V peut lui cacher "
        "des VM et des commutateurs")
    return Inventory(backend=NAME, version=data.get("Version") or None, vms=[_vm(v) for v in vms], blind=blind,
                     networks=networks, truncated=truncated, errors=[str(e) for e in as_list(data.get("Errors"))],
                     bridges=None if switches is None else _switches(as_list(switches), vms,
                                                                     None if host_nics is None else as_list(host_nics)),
                     pools=[_pool(v) for v in as_list(volumes) if isinstance(v, dict)])


# -- the integration services (hypervisor.guest_agent) -------------------------------------------------


@dataclass(frozen=True)
class Services:
    """What the agent script read: how many VMs bear the name, their states, their integration services."""

    found: int
    states: tuple[str, ...]
    services: tuple[dict[str, Any], ...]


def parse_services(text: str) -> Services:
    """The agent script's JSON; :raises ValueError, KeyError, TypeError: when it is not ours."""
    data = json.loads(text)
    if not isinstance(data, dict) or "Found" not in data:
        raise ValueError("réponse illisible")
    return Services(found=int(data["Found"]), states=tuple(str(s) for s in as_list(data.get("State"))),
                    services=tuple(s for s in as_list(data.get("Services")) if isinstance(s, dict)))


def guid_of(name: str) -> str | None:
    """A service a rubric names (English name, any case, or its GUID) as its GUID."""
    wanted = name.strip().casefold()
    return next((g for g, n in INTEGRATION.items() if wanted in (n.casefold(), g.casefold())), None)


def describe_services(services: Sequence[dict[str, Any]]) -> str:
    """« Pulsation : OK ; Interface de services d'invité : désactivé(e) » as Windows names them."""
    def one(s: dict[str, Any]) -> str:
        said = s.get("Description") or s.get("Status") or "?"
        return f"{s.get('Name') or INTEGRATION.get(service_guid(s), '?')} : {said if s.get('Enabled') else '-'}"
    return " ; ".join(one(s) for s in services) or "-"


def services_answer(services: Services, wanted: Sequence[str]) -> tuple[bool, list[Msg]]:
    """Whether the heartbeat and every ``wanted`` service are enabled and answer, and what is wrong."""
    by_guid = {service_guid(s): s for s in services.services}
    wrong: list[Msg] = []
    for name in ["Heartbeat", *wanted]:
        guid = guid_of(name)
        service = by_guid.get(guid or "")
        if service is None:
            wrong.append(Msg("service d'intégration {name} absent", name=name))
        elif not service.get("Enabled"):
            wrong.append(Msg("service d'intégration {name} désactivé", name=name))
        elif not answers(service):
            wrong.append(Msg("service d'intégration {name} : {status}", name=name,
                             status=str(service.get("Description") or service.get("Status") or "?")))
    return not wrong, wrong
