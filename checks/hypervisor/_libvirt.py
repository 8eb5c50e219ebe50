"""The libvirt back-end: ``virsh`` in the host's SSH batch, parsed into :mod:`checks.hypervisor._model`.

One probe, the same for every ``hypervisor.*`` check of a host (so the batch runs it once), lists
every domain, virtual network and storage pool by UUID and prints what ``virsh`` says of each,
then the host's own bridges (``ip -j -d link``, ``bridge -j vlan``). Its framing cannot be forged
by what a candidate writes in a VM's description or name: every line of a command's output is
printed with a ``|`` prefix, so a line that does not start with ``|`` was written by the probe::

    :: libvirt 9.0.0                  (virsh's version; the probe is ours)
    :: domains 0                      (exit code of ``virsh list --all --uuid``; its error follows)
    @@ domain 3f0c...-...             (an object: domain, network or pool, by UUID; or the host)
    == xml                            (a part: ``virsh dumpxml`` here)
    |<domain type='qemu' id='1'>      (its output, leading blanks dropped)
    :: end 0                          (the part's exit code)

Objects are named by UUID (hex and dashes, checked by the shell), never by a name the candidate
chose. Leading blanks are dropped on the host to keep a room's inventory under the output cap.
The XML is read with defusedxml (no entity expansion, no DTD).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import unescape

from defusedxml import ElementTree

from checks.hypervisor._model import (
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
)
from grader.model import Msg
from grader.probes.ssh import quote

NAME = "libvirt"
URI = "qemu:///system"
VIRSH = f"/usr/bin/virsh -c {URI}"
AGENT_CHANNEL = "org.qemu.guest_agent.0"
# Leading blanks and libvirt's self-closing <address .../> and <alias .../> lines (a third of a running
# domain's XML, read by no judge) are dropped on the host, before the output cap.
_SED = "/usr/bin/sed -e 's/^[[:space:]]*//' -e '/^<\\(address\\|alias\\) [^<>]*\\/>$/d' -e 's/^/|/'"
_UUID_CASE = "case $u in ''|*[!0-9a-f-]*) continue;; esac; "


def _part(name: str, command: str) -> str:
    """One part of an object: its header, the command's output (``|``-prefixed), its exit code."""
    return (f"printf '== {name}\\n'; o=$({command} 2>&1); r=$?; "
            f"printf '%s\\n' \"$o\" | {_SED}; printf ':: end %s\\n' \"$r\"; ")


def _objects(kind: str, lister: str, parts: Iterable[tuple[str, str]]) -> str:
    """Every object a ``virsh *list --all --uuid`` names, each with its parts (``$u`` is its UUID)."""
    return (f"l=$({VIRSH} {lister} --all --uuid 2>&1); r=$?; printf ':: {kind}s %s\\n' \"$r\"; "
            f"if [ \"$r\" -ne 0 ]; then printf '%s\\n' \"$l\" | {_SED}; l=''; fi; "
            f"for u in $l; do {_UUID_CASE}printf '@@ {kind} %s\\n' \"$u\"; "
            + "".join(_part(name, command) for name, command in parts)
            + "done; ")


def inventory_command() -> str:
    """The one sh command listing what the host's libvirt (and its bridges) hold."""
    return (
        "if [ ! -x /usr/bin/virsh ]; then printf 'virsh absent (paquet libvirt-clients)\\n' >&2; exit 127; fi; "
        "printf ':: libvirt %s\\n' \"$(/usr/bin/virsh --version 2>&1 | /usr/bin/head -n 1)\"; "
        + _objects("domain", "list", (
            ("xml", f'{VIRSH} dumpxml -- "$u"'),
            ("state", f'{VIRSH} domstate --reason -- "$u"'),
            ("info", f'{VIRSH} dominfo -- "$u"'),
            ("blk", f'{VIRSH} domblkinfo --all -- "$u"'),
            ("snapshots", f'{VIRSH} snapshot-list -- "$u"'),
        ))
        + _objects("network", "net-list", (
            ("xml", f'{VIRSH} net-dumpxml -- "$u"'),
            ("info", f'{VIRSH} net-info -- "$u"'),
        ))
        + _objects("pool", "pool-list", (
            ("xml", f'{VIRSH} pool-dumpxml -- "$u"'),
            ("info", f'{VIRSH} pool-info --bytes -- "$u"'),
        ))
        + "printf '@@ host bridges\\n'; "
        + _part("bridges", "/sbin/ip -d -j link show type bridge")
        + _part("ports", "/sbin/bridge -j link show")
        + _part("vlans", "/sbin/bridge -j vlan show")
    )


def agent_command(vm: str) -> str:
    """Ask a VM's guest agent who it is (``guest-info``), through libvirt, within 5 s."""
    return f"{VIRSH} qemu-agent-command --timeout 5 -- {quote(vm)} " + quote('{"execute":"guest-info"}')


# -- the framing -------------------------------------------------------------------------------

class FramingError(ValueError):
    """The output does not follow the probe's framing (garbage, or not ours); its argument is a Msg."""


@dataclass
class Part:
    name: str
    lines: list[str] = field(default_factory=list)
    rc: int | None = None  # None: cut before its end

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def ok(self) -> bool:
        return self.rc == 0


@dataclass
class Obj:
    kind: str
    ident: str
    parts: dict[str, Part] = field(default_factory=dict)

    def part(self, name: str) -> Part | None:
        return self.parts.get(name)


@dataclass
class Framed:
    version: str | None = None
    listings: dict[str, tuple[int, list[str]]] = field(default_factory=dict)  # kind -> (rc, error lines)
    objects: list[Obj] = field(default_factory=list)


_OBJ = re.compile(r"^@@ (domain|network|pool|host) ([0-9a-f-]+|bridges)$")
_LISTING = re.compile(r"^:: (domain|network|pool)s (-?[0-9]+)$")
_KINDS = {"domain": "domain", "network": "network", "pool": "pool"}


def parse_framing(text: str, *, truncated: bool = False) -> Framed:
    """The framed output, strictly: any line that is neither ours nor ``|`` content is an error.

    :param truncated: the output was capped; the last part may then be open (``rc`` None).
    :raises FramingError: when the output does not follow the framing.
    """
    framed = Framed()
    obj: Obj | None = None
    part: Part | None = None
    listing: list[str] | None = None  # a listing's error lines follow its header
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, 1):
        if line.startswith("|"):
            if part is not None and part.rc is None:
                part.lines.append(line[1:])
            elif listing is not None and part is None:
                listing.append(line[1:])
            else:
                raise FramingError(Msg("contenu hors section à la ligne {number}", number=number))
            continue
        if part is not None and part.rc is None and not line.startswith(":: end "):
            raise FramingError(Msg("section non terminée à la ligne {number}", number=number))
        if line.startswith(":: libvirt ") and number == 1:
            framed.version = line[len(":: libvirt "):].strip() or None
            continue
        m = _LISTING.match(line)
        if m:
            if m.group(1) in framed.listings:
                raise FramingError(Msg("liste en double à la ligne {number}", number=number))
            listing = []
            framed.listings[m.group(1)] = (int(m.group(2)), listing)
            obj = part = None
            continue
        m = _OBJ.match(line)
        if m:
            if (m.group(1) == "host") != (m.group(2) == "bridges") or (
                    m.group(1) != "host" and m.group(1) not in framed.listings):
                raise FramingError(Msg("objet inattendu à la ligne {number}", number=number))
            obj = Obj(m.group(1), m.group(2))
            framed.objects.append(obj)
            part, listing = None, None
            continue
        if line.startswith("== "):
            if obj is None or line[3:] in obj.parts:
                raise FramingError(Msg("section inattendue à la ligne {number}", number=number))
            part = Part(line[3:])
            obj.parts[part.name] = part
            continue
        if line.startswith(":: end "):
            if part is None or part.rc is not None:
                raise FramingError(Msg("fin de section inattendue à la ligne {number}", number=number))
            try:
                part.rc = int(line[len(":: end "):])
            except ValueError as exc:
                raise FramingError(Msg("code de sortie illisible à la ligne {number}", number=number)) from exc
            continue
        raise FramingError(Msg("ligne inattendue {number} : {line}", number=number, line=repr(line[:80])))
    if not lines or not lines[0].startswith(":: libvirt "):
        raise FramingError(Msg("sortie incomplète (version de libvirt absente)"))
    if part is not None and part.rc is None and not truncated:
        raise FramingError(Msg("la section {part} n'a pas de fin (sortie interrompue)", part=part.name))
    return framed


_NAME_LINE = re.compile(r"^\|<name>([^<]*)</name>$")


def own_domains(text: str, owns: Callable[[str], bool]) -> str:
    """The probe's output without the domains ``owns`` refuses (by the ``<name>`` of their dumpxml).

    What a shared hypervisor's candidate sees (:meth:`grader.check.Check.own_view`): their VMs,
    and the host's networks, pools and bridges. A domain whose name was not printed (dumpxml
    failed, output cut) is kept: dropping it could turn « could not read » into « no such VM ».
    """
    out: list[str] = []
    held: list[str] | None = None  # a domain's lines until its name is known
    name: str | None = None
    in_xml = False

    def release() -> None:
        if held is not None and (name is None or owns(name)):
            out.extend(held)

    for line in text.split("\n"):
        if not line.startswith("|") and (line.startswith("@@ ") or _LISTING.match(line)):
            release()
            held, name, in_xml = ([line], None, False) if line.startswith("@@ domain ") else (None, None, False)
            if held is None:
                out.append(line)
            continue
        if held is None:
            out.append(line)
            continue
        held.append(line)
        if line.startswith("== "):
            in_xml = line == "== xml"
        elif in_xml and name is None:
            m = _NAME_LINE.match(line)
            if m:
                name = unescape(m.group(1), {"&apos;": "'", "&quot;": '"'})
    release()
    return "\n".join(out)


# -- XML ---------------------------------------------------------------------------------------

_MEMORY_UNITS = {"b": 1, "bytes": 1, "kb": 1000, "k": 1024, "kib": 1024, "mb": 1000**2, "m": 1024**2, "mib": 1024**2,
                 "gb": 1000**3, "g": 1024**3, "gib": 1024**3, "tb": 1000**4, "t": 1024**4, "tib": 1024**4}


def xml(text: str) -> Element:
    """An XML document libvirt printed (defusedxml: no DTD, no entities)."""
    return ElementTree.fromstring(text, forbid_dtd=True)


def _size(element: Element | None, default_unit: str = "KiB") -> int | None:
    if element is None or not (element.text or "").strip().isdigit():
        return None
    factor = _MEMORY_UNITS.get((element.get("unit") or default_unit).lower())
    return int((element.text or "").strip()) * factor if factor else None


def _int(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


def _vlans(parent: Element) -> tuple[tuple[int, ...], bool]:
    vlan = parent.find("vlan")
    if vlan is None:
        return (), False
    tags = tuple(t for t in (_int(tag.get("id")) for tag in vlan.findall("tag")) if t is not None)
    return tags, vlan.get("trunk") == "yes"


def domain_from_xml(root: Element) -> Vm:
    """A VM from ``virsh dumpxml`` (state, autostart, sizes, snapshots are added by the caller)."""
    if root.tag != "domain":
        raise ValueError("not a domain")
    vcpu = root.find("vcpu")
    vcpus = _int(vcpu.get("current")) or _int(vcpu.text) if vcpu is not None else None
    os_type = root.findtext("os/type")
    variant = None
    for element in root.iter():
        if element.tag.endswith("}os") and "libosinfo" in element.tag and element.get("id"):
            variant = element.get("id")
    disks = []
    nics = []
    agent = AgentChannel()
    devices = root.find("devices")
    for dev in devices if devices is not None else ():
        if dev.tag == "disk":
            target = dev.find("target")
            driver = dev.find("driver")
            source = dev.find("source")
            where = None
            if source is not None:
                where = source.get("file") or source.get("dev") or source.get("name") or (
                    f"{source.get('pool')}/{source.get('volume')}" if source.get("volume") else None)
            disks.append(Disk(target=target.get("dev", "?") if target is not None else "?",
                              device=dev.get("device", "disk"),
                              bus=target.get("bus") if target is not None else None,
                              format=driver.get("type") if driver is not None else None, source=where))
        elif dev.tag == "interface":
            source = dev.find("source")
            kind = dev.get("type")
            src = None
            bridge = None
            if source is not None:
                src = source.get("bridge") if kind == "bridge" else source.get("network") or source.get("dev")
                bridge = source.get("bridge")
            tags, trunk = _vlans(dev)
            mac = dev.find("mac")
            model = dev.find("model")
            target = dev.find("target")
            nics.append(Nic(mac=mac.get("address") if mac is not None else None, kind=kind, source=src,
                            bridge=bridge, vlans=tags, trunk=trunk,
                            model=model.get("type") if model is not None else None,
                            target=target.get("dev") if target is not None else None))
        elif dev.tag == "channel":
            target = dev.find("target")
            if target is not None and target.get("name") == AGENT_CHANNEL:
                agent = AgentChannel(declared=True, state=target.get("state"))
    return Vm(name=root.findtext("name") or "?", uuid=root.findtext("uuid"), vcpus=vcpus,
              memory=_size(root.find("memory")), current_memory=_size(root.find("currentMemory")),
              disks=tuple(disks), nics=tuple(nics), os_type=os_type, os_variant=variant, agent=agent)


def _fields(part: Part | None) -> dict[str, str]:
    """``Key:   value`` lines of ``dominfo``/``net-info``/``pool-info``, keys lowercased."""
    out: dict[str, str] = {}
    for line in part.lines if part is not None and part.ok else ():
        key, sep, value = line.partition(":")
        if sep:
            out.setdefault(key.strip().lower(), value.strip())
    return out


def _yes(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.lower() in ("yes", "enable", "enabled", "running", "active")


_BLK = re.compile(r"^(\S+)\s+([0-9]+|-)\s+([0-9]+|-)\s+([0-9]+|-)$")
_SNAP = re.compile(r"^(.*\S)\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4})\s+(\S+(?: \S+)?)$")


def snapshots_from(part: Part | None) -> tuple[Snapshot, ...] | None:
    """``virsh snapshot-list`` (a table: name, creation time, state) as snapshots; None if unread."""
    from datetime import datetime

    if part is None or not part.ok:
        return None
    found = []
    for line in part.lines:
        m = _SNAP.match(line)
        if not m or (m.group(1) == "Name" and m.group(3) == "State"):
            continue
        created = int(datetime.strptime(m.group(2), "%Y-%m-%d %H:%M:%S %z").timestamp())
        found.append(Snapshot(name=m.group(1), created=created, state=m.group(3)))
    return tuple(found)


def domain_from(obj: Obj) -> Vm:
    """A VM from its parts; a part not read leaves its fact None (``complete`` False if one was cut)."""
    xml_part = obj.part("xml")
    if xml_part is None or not xml_part.ok:
        raise ValueError("dumpxml")
    vm = domain_from_xml(xml(xml_part.text))
    state_part = obj.part("state")
    state = None
    if state_part is not None and state_part.ok and state_part.lines:
        state = state_part.lines[0].split(" (")[0].strip() or None
    autostart = _yes(_fields(obj.part("info")).get("autostart"))
    sizes: dict[str, int] = {}
    blk = obj.part("blk")
    for line in blk.lines if blk is not None and blk.ok else ():
        m = _BLK.match(line)
        if m and m.group(2).isdigit():
            sizes[m.group(1)] = int(m.group(2))
    disks = tuple(Disk(d.target, d.device, d.bus, d.format, d.source, sizes.get(d.target)) for d in vm.disks)
    complete = all(p.rc is not None for p in obj.parts.values()) and len(obj.parts) == 5
    return Vm(name=vm.name, uuid=vm.uuid, state=state, vcpus=vm.vcpus, memory=vm.memory,
              current_memory=vm.current_memory, disks=disks, nics=vm.nics, autostart=autostart,
              os_type=vm.os_type, os_variant=vm.os_variant, snapshots=snapshots_from(obj.part("snapshots")),
              agent=vm.agent, complete=complete)


def network_from(obj: Obj) -> VirtualNetwork:
    xml_part = obj.part("xml")
    if xml_part is None or not xml_part.ok:
        raise ValueError("net-dumpxml")
    root = xml(xml_part.text)
    info = _fields(obj.part("info"))
    forward = root.find("forward")
    bridge = root.find("bridge")
    tags, _trunk = _vlans(root)
    return VirtualNetwork(name=root.findtext("name") or "?", uuid=root.findtext("uuid"),
                          active=_yes(info.get("active")), autostart=_yes(info.get("autostart")),
                          bridge=(bridge.get("name") if bridge is not None else None) or info.get("bridge"),
                          forward=forward.get("mode", "nat") if forward is not None else None, vlans=tags)


def pool_from(obj: Obj) -> Pool:
    xml_part = obj.part("xml")
    if xml_part is None or not xml_part.ok:
        raise ValueError("pool-dumpxml")
    root = xml(xml_part.text)
    info = _fields(obj.part("info"))
    active = _yes(info.get("state"))
    # An inactive pool's XML keeps the sizes of its last refresh: only an active pool's are current.
    sizes = {k: _size(root.find(k), "bytes") if active else None for k in ("capacity", "allocation", "available")}
    return Pool(name=root.findtext("name") or "?", type=root.get("type"), active=active,
                autostart=_yes(info.get("autostart")), path=root.findtext("target/path"), **sizes)


def bridges_from(obj: Obj) -> list[Bridge] | None:
    """Host bridges from ``ip -d -j link show type bridge``, ``bridge -j link`` and ``bridge -j vlan``; None if unread."""
    bridges_part, ports_part, vlans_part = obj.part("bridges"), obj.part("ports"), obj.part("vlans")
    if bridges_part is None or not bridges_part.ok or ports_part is None or not ports_part.ok:
        return None
    links: list[dict[str, Any]] = json.loads(bridges_part.text or "[]")
    members: list[dict[str, Any]] = json.loads(ports_part.text or "[]")
    vlans: dict[str, list[dict[str, Any]]] = {}
    if vlans_part is not None and vlans_part.ok and vlans_part.text.strip():
        for entry in json.loads(vlans_part.text):
            vlans[str(entry.get("ifname"))] = list(entry.get("vlans") or ())

    def port(name: str) -> BridgePort:
        tags = tuple(int(v["vlan"]) for v in vlans.get(name, ()) if isinstance(v.get("vlan"), int))
        pvid = next((int(v["vlan"]) for v in vlans.get(name, ()) if "PVID" in (v.get("flags") or ())), None)
        return BridgePort(name, tags, pvid)

    bridges = []
    for link in links:
        info = link.get("linkinfo") or {}
        if info.get("info_kind") != "bridge":
            continue
        name = str(link.get("ifname"))
        ports = tuple(port(str(p.get("ifname"))) for p in members if p.get("master") == name)
        data = info.get("info_data") or {}
        bridges.append(Bridge(name=name, vlan_filtering=bool(data.get("vlan_filtering")), ports=ports,
                              up="UP" in (link.get("flags") or ())))
    return bridges


def parse_inventory(text: str, *, truncated: bool = False) -> Inventory:
    """The inventory from the probe's output.

    :raises FramingError: the output is not the probe's (a Msg says why).
    :raises ValueError: a part libvirt printed cannot be read (XML, JSON).
    """
    framed = parse_framing(text, truncated=truncated)
    inventory = Inventory(backend=NAME, version=framed.version, truncated=truncated)
    for kind in _KINDS:
        listed = framed.listings.get(kind)
        if listed is None and not truncated:
            raise FramingError(Msg("liste absente : {kind}", kind=kind))
        if listed is not None and listed[0] != 0:
            raise FramingError(Msg("virsh n'a pas pu lister ({kind}) : {detail}", kind=kind,
                                   detail=" ".join(listed[1])[:200] or f"code {listed[0]}"))
    for obj in framed.objects:
        last = obj is framed.objects[-1]
        try:
            if obj.kind == "domain":
                inventory.vms.append(domain_from(obj))
            elif obj.kind == "network":
                inventory.networks.append(network_from(obj))
            elif obj.kind == "pool":
                inventory.pools.append(pool_from(obj))
            else:
                inventory.bridges = bridges_from(obj)
        except ValueError:
            if truncated and last:
                continue  # cut by the cap: the object is missing, and the inventory says it was truncated
            raise
    return inventory
