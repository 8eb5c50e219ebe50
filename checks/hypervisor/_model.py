"""What a hypervisor reports, normalised: the one model every back-end parses into.

libvirt (``virsh`` over SSH), Proxmox VE (REST) and Hyper-V (PowerShell over WinRM) say the same
facts in different shapes; each back-end module turns its own output into an :class:`Inventory`,
and the judges of :mod:`checks.hypervisor.checks` only ever read this model. Sizes are bytes,
memory is bytes, times are POSIX seconds (UTC). A fact a back-end could not read is ``None``
(the judge then says it cannot tell), never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from grader.model import Msg

#: VM states as the model says them (libvirt's own words; other back-ends map theirs onto these).
RUNNING = "running"
SHUT_OFF = "shut off"
PAUSED = "paused"
STATES = (RUNNING, SHUT_OFF, PAUSED, "crashed", "pmsuspended", "in shutdown", "idle", "blocked")


@dataclass(frozen=True)
class Disk:
    """One disk of a VM: its target (``vda``), bus, image format, size (bytes) and where it lives."""

    target: str
    device: str = "disk"  # disk | cdrom | floppy | lun
    bus: str | None = None  # virtio | sata | scsi | ide | usb
    format: str | None = None  # qcow2 | raw | vmdk | vhdx
    source: str | None = None  # file path, volume, device
    capacity: int | None = None  # bytes, as the guest sees it

    @property
    def is_disk(self) -> bool:
        return self.device == "disk"


@dataclass(frozen=True)
class Nic:
    """One network interface of a VM: where it is plugged (bridge or virtual network), VLAN tags, model."""

    mac: str | None = None
    kind: str | None = None  # bridge | network | direct | user
    source: str | None = None  # bridge or network name
    bridge: str | None = None  # the bridge it ends on, when known (a libvirt network's bridge)
    vlans: tuple[int, ...] = ()  # tags; one untagged access VLAN is a single tag
    trunk: bool = False
    model: str | None = None  # virtio | e1000 | rtl8139 | netvsc...
    target: str | None = None  # the host-side device (vnet0), running VMs only


@dataclass(frozen=True)
class Snapshot:
    """A named snapshot of a VM; ``created`` in POSIX seconds."""

    name: str
    created: int | None = None
    state: str | None = None


@dataclass(frozen=True)
class AgentChannel:
    """What the hypervisor knows of a VM's guest agent channel (declared, and connected when it says)."""

    declared: bool = False
    state: str | None = None  # connected | disconnected (libvirt, running VMs)


@dataclass(frozen=True)
class Vm:
    """One VM as the hypervisor reports it."""

    name: str
    uuid: str | None = None
    state: str | None = None
    vcpus: int | None = None
    memory: int | None = None  # bytes, the configured maximum (libvirt ``<memory>``)
    current_memory: int | None = None  # bytes (libvirt ``<currentMemory>``)
    disks: tuple[Disk, ...] = ()
    nics: tuple[Nic, ...] = ()
    autostart: bool | None = None
    os_type: str | None = None  # hvm | linux (Xen PV) | exe (containers)
    os_variant: str | None = None  # libosinfo id (http://debian.org/debian/12), Proxmox ostype (l26)...
    snapshots: tuple[Snapshot, ...] | None = None  # None: not read
    agent: AgentChannel = AgentChannel()
    complete: bool = True  # every part of it was read (not cut by the output cap)

    @property
    def real_disks(self) -> tuple[Disk, ...]:
        """The disks proper (CD-ROM and floppy drives left out)."""
        return tuple(d for d in self.disks if d.is_disk)


@dataclass(frozen=True)
class VirtualNetwork:
    """A hypervisor-managed network (libvirt network, Hyper-V virtual switch, Proxmox SDN vnet)."""

    name: str
    uuid: str | None = None
    active: bool | None = None
    autostart: bool | None = None
    bridge: str | None = None
    forward: str | None = None  # nat | route | bridge | open | None (isolated)
    vlans: tuple[int, ...] = ()


@dataclass(frozen=True)
class BridgePort:
    """A port of a host bridge with the VLANs it carries (``pvid``: untagged VLAN)."""

    name: str
    vlans: tuple[int, ...] = ()
    pvid: int | None = None


@dataclass(frozen=True)
class Bridge:
    """A bridge of the host itself (Linux bridge, Open vSwitch), VLAN-aware or not."""

    name: str
    vlan_filtering: bool = False
    ports: tuple[BridgePort, ...] = ()
    up: bool | None = None


@dataclass(frozen=True)
class Pool:
    """A storage pool (libvirt pool, Proxmox storage, Hyper-V volume): type, sizes in bytes."""

    name: str
    type: str | None = None  # dir | logical | netfs | iscsi | zfs | lvmthin | nfs...
    active: bool | None = None
    autostart: bool | None = None
    capacity: int | None = None
    allocation: int | None = None
    available: int | None = None
    path: str | None = None


@dataclass(frozen=True)
class ClusterNode:
    """A member of a hypervisor cluster (Proxmox VE ``/cluster/status``) and whether it is online."""

    name: str
    online: bool | None = None
    ip: str | None = None


@dataclass(frozen=True)
class HaResource:
    """A resource managed by the cluster's high availability (``vm:100``), its requested state, its VM's name."""

    sid: str
    state: str | None = None  # started | stopped | disabled | ignored
    name: str | None = None


@dataclass(frozen=True)
class Cluster:
    """What the hypervisor says of its cluster; ``name`` is None for a host alone (no cluster)."""

    name: str | None = None
    quorate: bool | None = None
    nodes: tuple[ClusterNode, ...] = ()
    ha: tuple[HaResource, ...] | None = None  # None: not read


@dataclass
class Inventory:
    """Everything one hypervisor host reported, in one round trip."""

    backend: str
    version: str | None = None
    vms: list[Vm] = field(default_factory=list)
    networks: list[VirtualNetwork] = field(default_factory=list)
    bridges: list[Bridge] | None = None  # None: not read
    pools: list[Pool] = field(default_factory=list)
    truncated: bool = False  # the output was cut: what is missing may exist
    cluster: Cluster | None = None  # None: not read (libvirt has no cluster)
    errors: list[str] = field(default_factory=list)  # why parts were not read, as the hypervisor said (Hyper-V)
    blind: Msg | None = None  # why the lists may hide objects from the grader's account (Hyper-V without rights)

    def vm(self, name: str) -> Vm | None:
        return next((v for v in self.vms if v.name == name), None)

    def network(self, name: str) -> VirtualNetwork | None:
        return next((n for n in self.networks if n.name == name), None)

    def bridge(self, name: str) -> Bridge | None:
        return next((b for b in self.bridges or () if b.name == name), None)

    def pool(self, name: str) -> Pool | None:
        return next((p for p in self.pools if p.name == name), None)


def vlan_tags(text: str) -> tuple[int, ...]:
    """VLAN tags as hypervisors list them: ``10;20;30-32`` (Proxmox trunks), ``2-4094``/``10 20`` (bridge-vids),
    ``1-3,10`` (Hyper-V's ``AllowedVlanIdListString``); what is not a number or a range is left out."""
    found: list[int] = []
    for item in re.split(r"[,;\s]+", text.strip()):
        low, dash, high = item.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            continue
        found += range(int(low), int(high) + 1) if dash else [int(low)]
    return tuple(found)


# -- sizes -------------------------------------------------------------------------------------

_UNITS = {"": 1, "b": 1, "o": 1,
          "k": 1024, "kib": 1024, "ko": 1024, "kio": 1024, "kb": 1000,
          "m": 1024**2, "mib": 1024**2, "mo": 1024**2, "mio": 1024**2, "mb": 1000**2,
          "g": 1024**3, "gib": 1024**3, "go": 1024**3, "gio": 1024**3, "gb": 1000**3,
          "t": 1024**4, "tib": 1024**4, "to": 1024**4, "tio": 1024**4, "tb": 1000**4}
_SIZE = re.compile(r"^\s*([0-9]+(?:[.,][0-9]+)?)\s*([A-Za-z]*)\s*$")


def parse_size(value: str | int) -> int:
    """A size a rubric writes (``2G``, ``2 Gio``, ``2048 MiB``, ``20GB``) in bytes.

    ``K/M/G/T``, ``KiB...`` and the French ``Ko/Mo/Go/To`` and ``Kio...`` are binary (what hypervisors mean);
    ``KB/MB/GB/TB`` are decimal. A bare integer is bytes.
    :raises ValueError: with a French message, for a rubric's mistake.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("taille négative")
        return value
    m = _SIZE.match(value) if isinstance(value, str) else None
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _UNITS:
        raise ValueError(f"taille invalide : {value!r} (ex. : 2G, 2 Gio, 2048 MiB, 20GB)")
    return round(float(m.group(1).replace(",", ".")) * _UNITS[unit])


def show_size(size: int) -> str:
    """Bytes as a person reads them (binary units, as hypervisors show them): ``2 GiB``, ``1.5 GiB``, ``512 MiB``."""
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            value = size / factor
            return f"{value:.0f} {unit}" if abs(value - round(value)) < 0.05 else f"{value:.1f} {unit}"
    return f"{size} B"


def within(observed: int, wanted: int, tolerance: float) -> bool:
    """Whether ``observed`` is ``wanted`` give or take ``tolerance`` percent of ``wanted``."""
    return abs(observed - wanted) <= wanted * tolerance / 100
