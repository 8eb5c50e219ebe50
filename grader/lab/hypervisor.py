"""The ``hypervisor`` lab flavor: a Debian host running libvirt and QEMU (TCG), with tiny guests.

The base tree (debootstrap) holds QEMU, qemu-img, the guest agent and a static busybox;
libvirt itself is installed once into the flavor's provisioned layer with ``apt-get`` in a
chroot (debootstrap cannot configure ``polkitd``), where the tiny guest is built too:

* its kernel is Debian's ``linux-image-*-cloud-amd64`` (``apt-get download``, ``dpkg-deb -x``);
* its initramfs (a merged ``/usr``, like Debian 12's) holds busybox with every applet where Debian has
  the program (``/usr/bin/env``, ``/usr/bin/head``: the ``guest`` channel's batch envelope runs there),
  ``qemu-ga`` with the libraries ``ldd`` names, the virtio modules the agent and the NIC need, and an
  ``/init`` that mounts the usual file systems, loads them, writes ``/etc/hostname``, brings ``eth0`` up
  with the address given on the kernel command line (``grader.ip=``; none: the network is down) and
  runs the agent on the ``org.qemu.guest_agent.0`` port. Written in newc cpio by Python (no cpio here).

libvirtd runs inside the host (socket-activated by its systemd), with QEMU as root, no cgroups,
no namespaces and no security driver: what a container lets it do. Guests run under TCG
(``<domain type='qemu'>``): ``/dev/kvm`` stalls guests on these machines (/work/shared/LAB.md).
Domain XML for a guest comes from :func:`domain_xml`; a candidate's VMs are defined, started and
snapshotted by the host's ``setup`` with the real ``virsh`` (:func:`define_guests`).
"""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from grader.errors import LabError
from grader.lab.base import HOST_ENV, Flavor, Progress, host_mirror, run, say

PACKAGES: tuple[str, ...] = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2", "sudo", "procps", "iputils-ping",
    # the hypervisor: QEMU (TCG), its firmware and the virtio NIC's option ROM, qemu-img
    "qemu-system-x86", "qemu-utils", "seabios", "ipxe-qemu",
    # what the tiny guests are made of: the guest agent and its libraries, a static busybox
    "qemu-guest-agent", "busybox-static",
)
BASE_REQUIRED = ("usr/bin/qemu-system-x86_64", "usr/bin/qemu-img", "usr/sbin/qemu-ga", "bin/busybox", "usr/sbin/sshd",
                 "usr/bin/sudo")
LIBVIRT_PACKAGES = ("libvirt-daemon-system", "libvirt-clients")
GUEST_DIR = "var/lib/grader-guest"  # in the layer: vmlinuz, initrd.img, guest.json
KERNEL_META = "linux-image-cloud-amd64"
#: Modules the guest loads, in order (dependencies first; the cloud kernel has no modules.dep until depmod):
#: virtio and its PCI transport, virtio-serial for the agent, the NIC, the disk.
GUEST_MODULES = ("virtio", "virtio_ring", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
                 "virtio_console", "failover", "net_failover", "virtio_net", "virtio_blk")
QEMU_CONF = """# grader lab: QEMU inside a container (no cgroups, no namespaces, no security driver)
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
"""
GUEST_INIT = """#!/bin/busybox sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /run /tmp /var/run
mount -t devpts devpts /dev/pts
for m in $(cat /etc/modules); do insmod /lib/modules/$m.ko 2>/dev/null; done
for a in $(cat /proc/cmdline); do case $a in grader.ip=*) ip=${a#grader.ip=};; grader.name=*) n=${a#grader.name=};; esac; done
hostname "${n:-invite}"
echo "${n:-invite}" > /etc/hostname
ip link set lo up
if [ -n "$ip" ] && [ -e /sys/class/net/eth0 ]; then ip link set eth0 up; ip addr add "$ip" dev eth0; fi
port=
for p in /sys/class/virtio-ports/*; do [ "$(cat $p/name 2>/dev/null)" = org.qemu.guest_agent.0 ] && port=/dev/${p##*/}; done
echo "grader-guest: init $(cut -d' ' -f1 /proc/uptime) s, agent ${port:-absent}" > /dev/console
if [ -n "$port" ]; then /usr/sbin/qemu-ga -m virtio-serial -p "$port" -d -t /run; fi
while :; do sleep 3600; done
"""


def _chroot(root: Path, *argv: str, what: str, timeout: float = 900, env: dict[str, str] | None = None) -> str:
    return run(["chroot", root, *argv], what=what, timeout=timeout,
               env={**os.environ, **HOST_ENV, "DEBIAN_FRONTEND": "noninteractive", **(env or {})}).stdout


def _newc(entries: Sequence[tuple[str, int, bytes]]) -> bytes:
    """A newc cpio archive of (path, mode, data) entries (directories and symlinks by mode)."""
    out = io.BytesIO()

    def add(name: str, mode: int, data: bytes, ino: int) -> None:
        header = "070701" + "".join(f"{v:08x}" for v in (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0,
                                                            len(name) + 1, 0))
        out.write(header.encode() + name.encode() + b"\0")
        out.write(b"\0" * (-out.tell() % 4))
        out.write(data)
        out.write(b"\0" * (-out.tell() % 4))

    for ino, (name, mode, data) in enumerate(entries, 1):
        add(name, mode, data, ino)
    add("TRAILER!!!", 0, b"", 0)
    return out.getvalue()


def _libraries(root: Path, binary: str) -> list[str]:
    """The shared libraries (paths inside ``root``) ``ldd`` says ``binary`` needs, the loader included."""
    found = []
    for line in _chroot(root, "/usr/bin/ldd", binary, what=f"ldd {binary}").splitlines():
        m = re.search(r"(/\S+) \(0x", line)
        if m:
            found.append(m.group(1))
    return found


def build_guest(root: Path, progress: Progress = None) -> dict[str, Any]:
    """Kernel and initramfs of the tiny guest, into ``root/GUEST_DIR``; what it holds, for guest.json."""
    say(progress, "Invité minuscule : noyau Debian cloud, busybox, qemu-ga…")
    depends = _chroot(root, "/usr/bin/apt-cache", "depends", KERNEL_META, what="apt-cache depends")
    m = re.search(r"Depends: (linux-image-\S+-cloud-amd64)", depends)
    if not m:
        raise LabError(f"noyau introuvable dans {KERNEL_META}")
    package = m.group(1)
    work = root / "tmp/grader-kernel"
    work.mkdir(parents=True, exist_ok=True)
    _chroot(root, "/bin/sh", "-c", f"cd /tmp/grader-kernel && /usr/bin/apt-get download {package}",
            what=f"apt-get download {package}")
    deb = next(work.glob("*.deb"))
    _chroot(root, "/usr/bin/dpkg-deb", "-x", f"/tmp/grader-kernel/{deb.name}", "/tmp/grader-kernel/x",
            what="dpkg-deb -x")
    kernel = next((work / "x/boot").glob("vmlinuz-*"))
    release = kernel.name[len("vmlinuz-"):]
    modules = work / "x/lib/modules" / release
    entries: list[tuple[str, int, bytes]] = []
    dirs = ["usr", "usr/sbin", "usr/bin", "lib", "lib/modules", "lib64", "etc", "proc", "sys", "dev",
            "run", "tmp", "var"]
    for d in dirs:
        entries.append((d, stat.S_IFDIR | 0o755, b""))
    # Merged /usr, as a Debian 12 guest has it: /bin/sh, /usr/bin/env, /usr/bin/head... all answer (the
    # batch envelope names them by absolute path; busybox --install puts each applet where Debian has it).
    entries.append(("bin", stat.S_IFLNK | 0o777, b"usr/bin"))
    entries.append(("sbin", stat.S_IFLNK | 0o777, b"usr/sbin"))
    entries.append(("usr/bin/busybox", stat.S_IFREG | 0o755, (root / "bin/busybox").read_bytes()))
    entries.append(("usr/bin/sh", stat.S_IFLNK | 0o777, b"busybox"))
    entries.append(("init", stat.S_IFREG | 0o755, GUEST_INIT.encode()))
    entries.append(("usr/sbin/qemu-ga", stat.S_IFREG | 0o755, (root / "usr/sbin/qemu-ga").read_bytes()))
    seen = set()
    for lib in _libraries(root, "/usr/sbin/qemu-ga"):
        real = (root / lib.lstrip("/")).resolve()
        if lib in seen:
            continue
        seen.add(lib)
        parent = os.path.dirname(lib.lstrip("/"))
        for i in range(1, len(Path(parent).parts) + 1):
            d = str(Path(*Path(parent).parts[:i]))
            if d not in dirs:
                dirs.append(d)
                entries.append((d, stat.S_IFDIR | 0o755, b""))
        entries.append((lib.lstrip("/"), stat.S_IFREG | 0o755, real.read_bytes()))
    loaded = []
    for name in GUEST_MODULES:
        found = [p for p in modules.rglob(f"{name}.ko*")]
        if not found:
            continue  # built into this kernel
        data = found[0].read_bytes()
        if found[0].suffix == ".xz":
            import lzma
            data = lzma.decompress(data)
        entries.append((f"lib/modules/{name}.ko", stat.S_IFREG | 0o644, data))
        loaded.append(name)
    entries.append(("etc/modules", stat.S_IFREG | 0o644, ("\n".join(loaded) + "\n").encode()))
    target = root / GUEST_DIR
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(kernel, target / "vmlinuz")
    (target / "initrd.img").write_bytes(gzip.compress(_newc(entries), compresslevel=6, mtime=0))
    shutil.rmtree(work)
    return {"kernel": package, "release": release, "modules": loaded,
            "initrd_bytes": (target / "initrd.img").stat().st_size, "kernel_bytes": (target / "vmlinuz").stat().st_size}


def provision(root: Path, progress: Progress = None) -> None:
    """Once, into the cached layer: libvirt installed and set for a container, the tiny guest built."""
    import json

    say(progress, "Installation de libvirt dans la couche hyperviseur (apt-get en chroot)…")
    resolv = root / "etc/resolv.conf"
    kept = resolv.read_text()
    policy = root / "usr/sbin/policy-rc.d"
    try:
        resolv.write_text(Path("/etc/resolv.conf").read_text())
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        sources = root / "etc/apt/sources.list"
        if not sources.exists() or not sources.read_text().strip():
            sources.write_text(f"deb {host_mirror()} bookworm main\n")
        _chroot(root, "/usr/bin/apt-get", "update", what="apt-get update (hyperviseur)")
        _chroot(root, "/usr/bin/apt-get", "install", "-y", "--no-install-recommends", *LIBVIRT_PACKAGES,
                what="apt-get install libvirt")
        meta = build_guest(root, progress)
        _chroot(root, "/usr/bin/apt-get", "clean", what="apt-get clean")
    finally:
        policy.unlink(missing_ok=True)
        resolv.write_text(kept)
    for lists in (root / "var/lib/apt/lists").glob("*_Packages"):
        lists.unlink()
    (root / "etc/libvirt/qemu.conf").write_text(QEMU_CONF)
    # The default NAT network needs dnsmasq and iptables: the lab's guests use host bridges instead.
    (root / "etc/libvirt/qemu/networks/autostart/default.xml").unlink(missing_ok=True)
    (root / GUEST_DIR / "guest.json").write_text(json.dumps(meta, indent=2) + "\n")


HYPERVISOR = Flavor("hypervisor", PACKAGES, BASE_REQUIRED, recipe=3, provision=provision,
                    description="hyperviseur Debian (libvirt, QEMU en TCG, invités minuscules)")


# -- a candidate's guests ------------------------------------------------------------------------

@dataclass(frozen=True)
class Guest:
    """A tiny VM as the lab defines it (what a candidate made with virt-install, in effect).

    ``bridge``: its NIC's host bridge (None: no NIC); ``vlan``: the tag libvirt sets on its port;
    ``address``: the CIDR its init sets on eth0; ``disk``: a qcow2 of that many MiB (None: no disk).
    """

    name: str
    memory_mib: int = 96
    vcpus: int = 1
    disk_mib: int | None = 64
    bridge: str | None = None
    vlan: int | None = None
    address: str | None = None
    start: bool = True
    autostart: bool = False
    snapshot: str | None = None


def domain_xml(guest: Guest) -> str:
    """libvirt domain XML of a tiny guest: TCG, direct kernel boot, virtio-serial agent channel."""
    name = escape(guest.name)
    cmdline = f"console=ttyS0 quiet grader.name={name}" + (f" grader.ip={guest.address}" if guest.address else "")
    disk = ""
    if guest.disk_mib:
        disk = (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                f"<source file='/var/lib/libvirt/images/{name}.qcow2'/><target dev='vda' bus='virtio'/></disk>")
    nic = ""
    if guest.bridge:
        vlan = f"<vlan><tag id='{guest.vlan}'/></vlan>" if guest.vlan else ""
        nic = (f"<interface type='bridge'><source bridge='{escape(guest.bridge)}'/>{vlan}"
               "<model type='virtio'/></interface>")
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <metadata><libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0"><libosinfo:os id="http://debian.org/debian/12"/></libosinfo:libosinfo></metadata>
  <memory unit='MiB'>{guest.memory_mib}</memory>
  <vcpu>{guest.vcpus}</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>/{GUEST_DIR}/vmlinuz</kernel><initrd>/{GUEST_DIR}/initrd.img</initrd><cmdline>{cmdline}</cmdline></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    {disk}
    {nic}
    <serial type='file'><source path='/var/log/libvirt/qemu/{name}.console'/><target port='0'/></serial>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def _virsh(shell: Any, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = shell.run("/usr/bin/virsh", "-c", "qemu:///system", *args, timeout=timeout)
    if proc.returncode != 0:
        raise LabError(f"virsh {' '.join(args[:2])} : {(proc.stderr or proc.stdout).strip()[:300]}")
    return proc


def agent_answers(shell: Any, name: str, timeout: float = 60) -> float | None:
    """Seconds until the guest's agent answers ``guest-ping`` through libvirt, or None after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        proc = shell.run("/usr/bin/virsh", "-c", "qemu:///system", "qemu-agent-command", "--timeout", "2", "--",
                         name, '{"execute":"guest-ping"}', timeout=10)
        if proc.returncode == 0:
            return time.monotonic() - started
        time.sleep(0.5)
    return None


def define_guests(shell: Any, guests: Sequence[Guest], *, wait_agent: bool = True,
                  agent_timeout: float = 60) -> dict[str, float | None]:
    """Define (and start, snapshot, autostart) each guest with the host's own virsh; agent answer times.

    Each started guest's agent is waited for at most ``agent_timeout`` seconds (None: it never answered).
    """
    times: dict[str, float | None] = {}
    for guest in guests:
        if guest.disk_mib:
            proc = shell.run("/usr/bin/qemu-img", "create", "-q", "-f", "qcow2",
                             f"/var/lib/libvirt/images/{guest.name}.qcow2", f"{guest.disk_mib}M", timeout=60)
            if proc.returncode != 0:
                raise LabError(f"qemu-img create : {proc.stderr.strip()}")
        xml_path = f"/var/lib/libvirt/{guest.name}.xml"
        proc = shell.run("/usr/bin/tee", xml_path, input=domain_xml(guest), timeout=30)
        if proc.returncode != 0:
            raise LabError(f"écriture de {xml_path} : {proc.stderr.strip()}")
        _virsh(shell, "define", xml_path)
        if guest.autostart:
            _virsh(shell, "autostart", guest.name)
        if guest.snapshot:  # a disk-only external snapshot needs no running guest; an internal one, a qcow2
            _virsh(shell, "snapshot-create-as", "--domain", guest.name, "--name", guest.snapshot)
        if guest.start:
            _virsh(shell, "start", guest.name)
    for guest in guests:
        if guest.start and wait_agent:
            times[guest.name] = agent_answers(shell, guest.name, timeout=agent_timeout)
    return times


#: The host's own network for its guests: a Linux bridge with one uplink port (a veth: this kernel has
#: neither the dummy driver nor VLAN filtering on bridges, so VLAN-aware bridges are unit-tested only).
BRIDGE, UPLINK, POOL = "br0", "lan0", "vms"


def prepare_host(shell: Any) -> None:
    """libvirtd started, the bridge and its uplink made, a ``dir`` storage pool defined, started and autostarted."""
    for argv in (("/usr/bin/systemctl", "start", "libvirtd.service"),
                 ("/sbin/ip", "link", "add", BRIDGE, "type", "bridge"),
                 ("/sbin/ip", "link", "set", BRIDGE, "up"),
                 ("/sbin/ip", "link", "add", UPLINK, "type", "veth", "peer", "name", UPLINK + "p"),
                 ("/sbin/ip", "link", "set", UPLINK, "master", BRIDGE),
                 ("/sbin/ip", "link", "set", UPLINK, "up"),
                 ("/sbin/ip", "link", "set", UPLINK + "p", "up")):
        proc = shell.run(*argv, timeout=60)
        if proc.returncode != 0:
            raise LabError(f"{' '.join(argv)} : {(proc.stderr or proc.stdout).strip()}")
    _virsh(shell, "pool-define-as", POOL, "dir", "--target", "/var/lib/libvirt/images")
    _virsh(shell, "pool-start", POOL)
    _virsh(shell, "pool-autostart", POOL)
