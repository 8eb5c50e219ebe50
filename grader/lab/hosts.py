"""Booting and tearing down lab hosts: overlay, planted state, network namespace, systemd-nspawn.

Each host is ``<state_dir>/hosts/<name>/{upper,work,merged}``: an overlayfs whose lower layer
is the shared base tree, so a host costs a few MB and a candidate's planted files are
invisible to the others. The grading machine has no systemd as PID 1, so nspawn runs with
``--keep-unit --register=no`` and each host gets its own cgroup directories
(``/sys/fs/cgroup/{unified,systemd}/grlab-<name>``), which the launcher joins before exec.

``down`` does not trust the state file alone: it also finds nspawn processes by their
network-namespace argument, processes by cgroup and overlays by mount point, so it cleans a
half-built lab or one left by a crashed run, and can be called any number of times.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from grader.errors import LabError
from grader.lab import hypervisor, ipsec, network, router, samba, voip, zabbix
from grader.lab.base import (
    DEFAULT_CACHE,
    GRADER_USER,
    HOST_ENV,
    LINUX,
    Flavor,
    Progress,
    ensure_flavor,
    remove_tree,
    run,
    say,
    unmount_all,
)

DEFAULT_STATE = Path("/var/lib/grader/lab")
CGROUP_FS = Path("/sys/fs/cgroup")
CGROUP_PREFIX = "grlab-"
PROPAGATE_DIR = Path("/run/systemd/nspawn/propagate")
STATE_FILE = "lab.json"
KNOWN_HOSTS = "known_hosts"
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
READY_STATES = ("running", "degraded")
#: Hosts booted at once (see :meth:`Lab.up`): a room of 16 boots in one wave, as before.
BOOT_WAVE = 16
#: The kinds of host a spec may ask for (``HostSpec.flavor``).
FLAVORS: dict[str, Flavor] = {LINUX.name: LINUX, samba.DC.name: samba.DC, router.ROUTER.name: router.ROUTER,
                              hypervisor.HYPERVISOR.name: hypervisor.HYPERVISOR, voip.VOIP.name: voip.VOIP,
                              ipsec.SITE_ROUTER.name: ipsec.SITE_ROUTER, zabbix.ZABBIX.name: zabbix.ZABBIX,
                              zabbix.ZABBIX_AGENT.name: zabbix.ZABBIX_AGENT}
HALT_GRACE = 2.0  # a clean halt of 16 hosts takes under 2 s here
STOP_GRACE = 10.0


# Per-host needs of the kernel's per-user tables: every host's systemd, journald, logind and
# dbus take inotify instances and watches of the *machine's* root user (no user namespace), and
# the default 128 instances stop the 17th host's boot after systemd-update-utmp (measured,
# bench/README.md). Values per booted host, with a margin for the machine itself.
INOTIFY_PER_HOST = {"max_user_instances": 16, "max_user_watches": 4096}
INOTIFY_MARGIN = {"max_user_instances": 128, "max_user_watches": 65536}


def raise_kernel_limits(hosts: int, root: Path = Path("/proc/sys/fs/inotify")) -> list[str]:
    """Raise the inotify limits to what ``hosts`` booted hosts need; never lowers one. Returns what changed."""
    changed = []
    for name, per_host in INOTIFY_PER_HOST.items():
        path = root / name
        try:
            current = int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        wanted = per_host * hosts + INOTIFY_MARGIN[name]
        if wanted > current:
            try:
                path.write_text(f"{wanted}\n")
            except OSError:
                continue  # the boot then says which host did not come up
            changed.append(f"fs.inotify.{name} {current} → {wanted}")
    return changed


@dataclass(frozen=True)
class Link:
    """An extra interface of a host: ``ifname`` (``eth1``...) in ``segment`` with address ``cidr``."""

    ifname: str
    segment: str
    cidr: str

    def __post_init__(self) -> None:
        if not re.match(r"^eth[1-9]$", self.ifname):
            raise LabError(f"interface de lien invalide : {self.ifname!r} (eth1 à eth9 ; eth0 est la gestion)")
        network.segment_bridge(self.segment)
        network.check_link_address(self.cidr)

    @property
    def ip(self) -> str:
        return self.cidr.split("/")[0]


_Arg = TypeVar("_Arg")


def then(first: Callable[[_Arg], None] | None, second: Callable[[_Arg], None]) -> Callable[[_Arg], None]:
    """A host hook (``plant`` on the tree, ``setup`` on the booted host) followed by another.

    How a service module adds its part to a spec that may already have a hook of its own.
    """
    def both(arg: _Arg) -> None:
        if first is not None:
            first(arg)
        second(arg)
    return both


@dataclass(frozen=True)
class HostSpec:
    """One host to boot.

    ``plant`` writes the candidate's state into the host's root (the overlay's ``merged``
    directory) before boot; ``setup`` runs once the host is up, with a :class:`HostShell`
    (what needs the host's own services, e.g. ``samba-tool gpo create``). ``boot=False`` is a
    host that is "down": no namespace, no address, nothing answers. ``hostname`` is the name
    the host gives itself (several candidates' hosts may share one, e.g. ``srv-lin``); ``name``
    must be unique in the lab. ``flavor`` names the kind of host (:data:`FLAVORS`: ``linux``,
    the default, ``dc``, a Samba AD domain controller, ``router``, nftables and dnsmasq, ``site-router``,
    the same with strongSwan and isc-dhcp-relay, ``zabbix``, a Zabbix 6.0 server, or ``zabbix-agent``, a
    server with the Zabbix agent: see :mod:`grader.lab.zabbix`).
    ``links`` are extra interfaces into per-candidate segments (LAN, WAN...) and ``routes``
    static routes ``(destination, via)`` set before boot; ``eth0`` stays the management
    interface on ``grlab0`` that the grader reaches. ``tun`` binds the grading machine's
    ``/dev/net/tun`` into the host (a VPN server or client: OpenVPN opens it to make ``tun0``).
    """

    name: str
    ip: str
    plant: Callable[[Path], None] | None = None
    boot: bool = True
    hostname: str | None = None
    flavor: str = LINUX.name
    setup: Callable[[HostShell], None] | None = None
    links: tuple[Link, ...] = ()
    routes: tuple[tuple[str, str], ...] = ()
    tun: bool = False

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise LabError(f"nom d'hôte de labo invalide : {self.name!r} (minuscules, chiffres, tirets ; 32 max.)")
        if self.hostname is not None and not _NAME.match(self.hostname):
            raise LabError(f"nom de machine invalide : {self.hostname!r}")
        if self.flavor not in FLAVORS:
            raise LabError(f"type d'hôte inconnu : {self.flavor!r} (connus : {', '.join(FLAVORS)})")
        network.check_address(self.ip)
        names = [link.ifname for link in self.links]
        if len(set(names)) != len(names):
            raise LabError(f"interface en double sur {self.name} : {', '.join(names)}")

    @property
    def own_hostname(self) -> str:
        return self.hostname or self.name


@dataclass(frozen=True)
class HostShell:
    """A booted host, as its ``setup`` sees it: run commands inside it as root (absolute paths)."""

    name: str
    ip: str
    leader: int

    def run(self, *argv: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return _in_host(self.leader, *argv, input=input, timeout=timeout)


# --- processes ----------------------------------------------------------------------------

def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def _is_lab_nspawn(pid: int, name: str | None = None) -> bool:
    argv = _cmdline(pid)
    if not argv or not argv[0].endswith("systemd-nspawn"):
        return False
    wanted = f"--network-namespace-path={network.NETNS_DIR}/{network.NETNS_PREFIX}{name or ''}"
    return any(a == wanted if name else a.startswith(wanted) for a in argv)


#: On the command line of the lab's host-side services (the demo's GLPI, :mod:`grader.lab.glpi`): ``down`` stops them.
SERVICE_FLAG = "--grader-lab-service"


def lab_services() -> set[int]:
    """The lab's host-side processes still running (started detached by a host's setup)."""
    return {int(p.name) for p in Path("/proc").iterdir()
            if p.name.isdigit() and SERVICE_FLAG in _cmdline(int(p.name)) and _alive(int(p.name))}


def _stop_services(progress: Progress) -> None:
    services = lab_services()
    if services:
        say(progress, f"Arrêt de {len(services)} service(s) du labo…")
        _signal(services, signal.SIGTERM)
        _signal(_wait_gone(services, 5), signal.SIGKILL)
        _wait_gone(services, 5)


def _lab_nspawns() -> list[int]:
    """Every nspawn of a lab host on this machine, whatever state file knows about it."""
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _is_lab_nspawn(int(p.name))]


def _container_init(nspawn_pid: int) -> int | None:
    """The host PID of the container's PID 1 (a child of nspawn, pid 1 in its own namespace)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        nspid = fields.get("NSpid", "").split()
        if fields.get("PPid", "").strip() == str(nspawn_pid) and len(nspid) > 1 and nspid[-1] == "1":
            return int(entry.name)
    return None


def _cgroup_roots() -> list[Path]:
    """Where a host's launcher gets its own cgroup: the v2 tree and the name=systemd v1 tree (hybrid).

    nspawn with --keep-unit takes the cgroup it runs in as the host's; without one per host,
    every host would share (and fight over) the same directory.
    """
    if (CGROUP_FS / "cgroup.controllers").exists():  # pure cgroup v2
        return [CGROUP_FS]
    return [p for p in (CGROUP_FS / "unified", CGROUP_FS / "systemd") if p.is_dir()]


def _cgroup_dirs() -> list[Path]:
    """Every lab host's cgroup directories, in every hierarchy."""
    hierarchies = [CGROUP_FS] if (CGROUP_FS / "cgroup.controllers").exists() else \
        [p for p in CGROUP_FS.iterdir() if p.is_dir()]
    return [d for root in hierarchies for d in root.glob(CGROUP_PREFIX + "*") if d.is_dir()]


def _cgroup_pids(directory: Path) -> set[int]:
    pids: set[int] = set()
    for procs in directory.rglob("cgroup.procs"):
        try:
            pids |= {int(x) for x in procs.read_text().split()}
        except (OSError, ValueError):
            pass
    return pids


def _remove_cgroup(directory: Path) -> bool:
    for sub in sorted((p for p in directory.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        try:
            sub.rmdir()
        except OSError:
            pass
    try:
        directory.rmdir()
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


def _signal(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _reap(pid: int) -> None:
    """Collect a child of ours that has ended (the test process starts hosts itself)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _wait_gone(pids: set[int], seconds: float) -> set[int]:
    """Wait until the processes have ended; the ones still alive at the deadline."""
    deadline = time.monotonic() + seconds
    while True:
        for pid in pids:
            _reap(pid)
        alive = {p for p in pids if _alive(p)}
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def _stop(nspawns: set[int], progress: Progress) -> None:
    """Stop hosts: a clean poweroff first, then quicker and quicker ways.

    SIGTERM makes nspawn ask the host's systemd to halt. That runs systemd-halt.service,
    whose ``systemctl --force halt`` is looked up in /usr/local/bin first: a candidate's fake
    systemctl there leaves the host stuck at halt.target, as it would on a real server. So
    after a short grace the host's PID 1 gets SIGRTMIN+13 (halt at once, without stopping
    units), and whatever is still there at the end is killed.
    """
    inits = {n: _container_init(n) for n in nspawns}
    _signal(nspawns, signal.SIGTERM)
    left = _wait_gone(nspawns, HALT_GRACE)
    if left:
        _signal((pid for n in left if (pid := inits.get(n))), signal.SIGRTMIN + 13)
        left = _wait_gone(left, STOP_GRACE - HALT_GRACE)
    if left:
        say(progress, f"{len(left)} hôte(s) sans réponse : arrêt forcé")
        victims = {pid for n in left for pid in (inits.get(n) or _container_init(n),) if pid}
        _signal(victims, signal.SIGKILL)  # nspawn cleans up after its container's end
        left = _wait_gone(left, 3)
        _signal(left, signal.SIGKILL)
        _wait_gone(left | victims, 5)


def _remove_image_lock(merged: Path) -> None:
    """nspawn's lock on the host's root (``locks/inode-DEV:INO``), left if nspawn itself was killed."""
    try:
        st = merged.stat()
    except OSError:
        return
    Path(f"/run/systemd/nspawn/locks/inode-{st.st_dev}:{st.st_ino}").unlink(missing_ok=True)


def _in_host(leader: int, *argv: str, timeout: float = 60, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command in every namespace of the host whose PID 1 is ``leader`` (root, plain environment)."""
    try:
        return subprocess.run(["nsenter", "-t", str(leader), "-a", *argv], check=False, capture_output=True,
                              text=True, timeout=timeout, env=dict(HOST_ENV), input=input)
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"commande dans l'hôte : délai de {timeout:.0f} s dépassé ({shlex.join(argv)})") from exc


def _ssh_banner(ip: str, timeout: float = 1.0) -> str | None:
    """The SSH identification line sshd sends on ip:22, or None if nothing answers yet."""
    try:
        with socket.create_connection((ip, 22), timeout=timeout) as sock:
            sock.settimeout(timeout)
            data = sock.recv(256)
    except OSError:
        return None
    return data.decode(errors="replace").strip() if data.startswith(b"SSH-") else None


def _port_open(ip: str, port: int, timeout: float = 1.0) -> bool:
    try:
        socket.create_connection((ip, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(journal absent)"


# --- the lab ------------------------------------------------------------------------------

class Lab:
    """The set of lab hosts on this machine, with its state under ``state_dir``."""

    def __init__(self, state_dir: Path = DEFAULT_STATE, *, cache_dir: Path = DEFAULT_CACHE):
        self.state_dir = Path(state_dir)
        self.cache_dir = Path(cache_dir)
        self.hosts_dir = self.state_dir / "hosts"
        self.state_path = self.state_dir / STATE_FILE

    # -- state --------------------------------------------------------------------------

    @property
    def key_path(self) -> Path:
        """Private key of the lab's grading account (its public half is in every host)."""
        return self.state_dir / "id_ed25519"

    @property
    def known_hosts_path(self) -> Path:
        """The booted hosts' fresh host keys, by address (OpenSSH known_hosts format).

        Host keys change at every ``up``: a grader keeping its own known_hosts would see a
        changed key; pointing it at this file keeps host key checking strict instead.
        """
        return self.state_dir / KNOWN_HOSTS

    def ensure_key(self) -> Path:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        if not self.key_path.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "grader-lab", "-f", self.key_path],
                what="création de la clé du labo")
        os.chmod(self.key_path, 0o600)
        return self.key_path

    def _read_state(self) -> dict:
        try:
            data = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {"hosts": []}
        return data if isinstance(data, dict) and isinstance(data.get("hosts"), list) else {"hosts": []}

    def _write_state(self, state: dict) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp, self.state_path)

    def _host(self, name: str) -> dict:
        for host in self._read_state()["hosts"]:
            if host.get("name") == name:
                return host
        raise LabError(f"hôte inconnu dans le labo : {name}")

    def status(self) -> list[dict]:
        """Hosts of the state file, with whether their nspawn still runs (running / down / dead)."""
        out = []
        for host in self._read_state()["hosts"]:
            pid = host.get("pid")
            if not host.get("boot", True):
                state = "down"
            elif pid and _alive(pid) and _is_lab_nspawn(pid, host["name"]):
                state = "running"
            else:
                state = "dead"
            out.append({"name": host["name"], "hostname": host.get("hostname"), "ip": host["ip"],
                        "pid": pid, "leader": host.get("leader"), "state": state})
        return out

    def leader(self, name: str) -> int:
        """Host PID of a host's systemd (its PID 1), checked to still belong to that host."""
        host = self._host(name)
        pid, leader = host.get("pid"), host.get("leader")
        if not (pid and _alive(pid) and _is_lab_nspawn(pid, name)):
            raise LabError(f"l'hôte {name} n'est pas démarré")
        if not (leader and _alive(leader)):
            leader = _container_init(pid)
        if not leader:
            raise LabError(f"l'hôte {name} n'a pas encore de systemd")
        return leader

    def nsenter(self, name: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a command inside a host (all its namespaces), as root, with a plain environment.

        Use absolute paths: a planted /usr/local/bin must not answer in place of the real tool.
        """
        return _in_host(self.leader(name), *argv, timeout=timeout)

    # -- up -----------------------------------------------------------------------------

    def up(self, specs: Sequence[HostSpec], *, progress: Progress = None, timeout: float = 60,
           wave: int = BOOT_WAVE) -> list[dict]:
        """Prepare, plant, boot and wait for every host; the lab is torn down again on failure.

        Hosts boot in waves of ``wave`` (in the specs' order, so dependencies come first), each
        host ready within ``timeout`` seconds of its wave's start: on two cores, 64 hosts booted
        at once starve each other past any fixed deadline, 16 at a time do not (bench/README.md).
        """
        self._check_specs(specs)
        if os.geteuid() != 0:
            raise LabError("le labo exige root (montages, espaces de noms, systemd-nspawn)")
        running = [h["name"] for h in self.status() if h["state"] == "running"] or _lab_nspawns()
        if running:
            raise LabError(f"un labo est déjà démarré ({len(running)} hôte(s)) : lancez « grader lab down » d'abord")
        self.down()  # leftovers of a crashed run
        started = time.monotonic()
        booted = [s for s in specs if s.boot]
        layers = {f: ensure_flavor(FLAVORS[f], self.cache_dir, progress=progress)
                  for f in dict.fromkeys([LINUX.name] + [s.flavor for s in booted])}
        key = self.ensure_key()
        public_key = key.with_name(key.name + ".pub").read_text()
        state: dict[str, Any] = {"version": 1, "base": str(layers[LINUX.name][-1]),
                                 "layers": {f: [str(p) for p in ps] for f, ps in layers.items()},
                                 "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                 "hosts": [{"name": s.name, "hostname": s.own_hostname, "ip": s.ip, "boot": s.boot, "flavor": s.flavor,
                            "dir": str(self.hosts_dir / s.name), "pid": None, "leader": None,
                            "state": "preparing" if s.boot else "down"} for s in specs]}
        self.hosts_dir.mkdir(parents=True, exist_ok=True)
        self._write_state(state)
        try:
            say(progress, f"Préparation de {len(booted)} hôte(s) (overlay, clés, état planté)…")
            with ThreadPoolExecutor(max_workers=min(8, max(1, len(booted)))) as pool:
                list(pool.map(lambda s: self._prepare(s, layers[s.flavor], public_key), booted))
            say(progress, "Réseau du labo : pont grlab0 et espaces de noms…")
            network.ensure_bridge()
            for spec in booted:
                network.setup_host(spec.name, spec.ip)
                for link in spec.links:
                    network.setup_link(spec.name, link.ifname, link.segment, link.cidr)
                for destination, via in spec.routes:
                    network.add_route(spec.name, destination, via)
            raised = raise_kernel_limits(len(booted))
            if raised:
                say(progress, "Limites du noyau relevées pour le labo : " + ", ".join(raised))
            by_name = {h["name"]: h for h in state["hosts"]}
            waves = [booted[i:i + wave] for i in range(0, len(booted), max(1, wave))]
            for number, hosts in enumerate(waves, 1):
                say(progress, f"Démarrage de {len(hosts)} hôte(s)…" if len(waves) == 1 else
                    f"Démarrage de {len(hosts)} hôte(s), vague {number}/{len(waves)}…")
                for spec in hosts:
                    by_name[spec.name]["pid"] = self._launch(spec)
                    by_name[spec.name]["state"] = "booting"
                self._write_state(state)
                with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
                    results = list(pool.map(lambda s: self._wait_ready(s, by_name[s.name]["pid"], started, timeout,
                                                                          progress), hosts))
                for spec, (leader, system_state) in zip(hosts, results):
                    by_name[spec.name].update(leader=leader, state=system_state)
                self._write_state(state)
            self._write_known_hosts(booted)
            with_setup = [(s, by_name[s.name]["leader"]) for s in booted if s.setup is not None]
            if with_setup:
                say(progress, f"Mise en place sur {len(with_setup)} hôte(s) démarré(s)…")
                with ThreadPoolExecutor(max_workers=min(8, len(with_setup))) as pool:
                    list(pool.map(lambda sl: self._setup(sl[0], sl[1]), with_setup))
        except BaseException as exc:
            self._save_logs([s.name for s in booted])
            say(progress, "Échec du démarrage : démontage du labo…")
            try:
                self.down()
            except LabError as cleanup:
                say(progress, f"Nettoyage incomplet : {cleanup}")
            if isinstance(exc, LabError):
                raise
            if isinstance(exc, Exception):
                raise LabError(f"démarrage du labo impossible : {exc}") from exc
            raise
        say(progress, f"Labo prêt : {len(booted)} hôte(s) en {time.monotonic() - started:.1f} s")
        return [{"name": h["name"], "hostname": h["hostname"], "ip": h["ip"], "pid": h["pid"],
                 "leader": h["leader"], "state": h["state"]} for h in state["hosts"]]

    def _check_specs(self, specs: Sequence[HostSpec]) -> None:
        if not specs:
            raise LabError("aucun hôte à démarrer")
        for attr in ("name", "ip"):
            values = [getattr(s, attr) for s in specs]
            if attr == "ip":
                values += [link.ip for s in specs for link in s.links]
            dup = sorted({v for v in values if values.count(v) > 1})
            if dup:
                raise LabError(f"{'nom' if attr == 'name' else 'adresse'} en double dans le labo : {', '.join(dup)}")

    def _prepare(self, spec: HostSpec, lowers: Sequence[Path], public_key: str) -> None:
        """Overlay mounted, host identity written, grading key installed, candidate state planted."""
        host_dir = self.hosts_dir / spec.name
        for sub in ("upper", "work", "merged"):
            (host_dir / sub).mkdir(parents=True, exist_ok=True)
        merged = host_dir / "merged"
        run(["mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={':'.join(str(p) for p in lowers)},upperdir={host_dir / 'upper'},workdir={host_dir / 'work'}",
             merged], what=f"montage overlay de {spec.name}")
        etc = merged / "etc"
        (etc / "hostname").write_text(spec.own_hostname + "\n")
        (etc / "hosts").write_text(
            f"127.0.0.1\tlocalhost\n{spec.ip}\t{spec.own_hostname}\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
        (etc / "machine-id").write_text("")
        for key in (etc / "ssh").glob("ssh_host_*"):
            key.unlink()
        run(["chroot", merged, "ssh-keygen", "-A"], what=f"clés d'hôte SSH de {spec.name}")
        self._install_key(merged, public_key)
        flavor = FLAVORS[spec.flavor]
        if flavor.prepare is not None:
            try:
                flavor.prepare(merged, spec, self)
            except LabError:
                raise
            except Exception as exc:
                raise LabError(f"préparation de {spec.name} ({flavor.name}) : {exc}") from exc
        if spec.plant is not None:
            try:
                spec.plant(merged)
            except LabError:
                raise
            except Exception as exc:
                raise LabError(f"état planté de {spec.name} : {exc}") from exc

    def _setup(self, spec: HostSpec, leader: int) -> None:
        assert spec.setup is not None
        try:
            spec.setup(HostShell(spec.name, spec.ip, leader))
        except LabError as exc:
            raise LabError(f"mise en place de {spec.name} : {exc}") from exc
        except Exception as exc:
            raise LabError(f"mise en place de {spec.name} : {exc!r}") from exc

    @staticmethod
    def _install_key(merged: Path, public_key: str) -> None:
        entry = next((line for line in (merged / "etc/passwd").read_text().splitlines()
                      if line.startswith(GRADER_USER + ":")), None)
        if entry is None:
            raise LabError("compte grader absent de la base")
        fields = entry.split(":")
        uid, gid, home = int(fields[2]), int(fields[3]), fields[5]
        ssh_dir = merged / home.lstrip("/") / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        keys = ssh_dir / "authorized_keys"
        keys.write_text(public_key)
        for path, mode in ((ssh_dir, 0o700), (keys, 0o600)):
            os.chown(path, uid, gid)
            os.chmod(path, mode)

    def _launch(self, spec: HostSpec) -> int:
        """Start nspawn in its own session and cgroups; returns its PID."""
        host_dir = self.hosts_dir / spec.name
        cgroups = []
        for root in _cgroup_roots():
            directory = root / (CGROUP_PREFIX + spec.name)
            directory.mkdir(exist_ok=True)
            cgroups.append(directory / "cgroup.procs")
        nspawn = ["systemd-nspawn", "--register=no", "--keep-unit", "-M", spec.name, f"--hostname={spec.own_hostname}",
                  "-D", str(host_dir / "merged"), f"--network-namespace-path={network.netns_path(spec.name)}",
                  "--capability=CAP_NET_ADMIN", "--console=read-only", "--link-journal=no",
                  # The host's own resolv.conf (none, or the DC's own DNS), never the grading machine's.
                  "--resolv-conf=off", "-b"]
        if spec.tun:  # a device node, not a tree: the host's tun interfaces live in its own namespace
            nspawn[-1:-1] = ["--bind=/dev/net/tun"]
        # The shell joins the cgroups, then execs nspawn under the same PID (already a session leader).
        script = " && ".join(f"echo $$ > {shlex.quote(str(c))}" for c in cgroups) + " && exec " + shlex.join(nspawn)
        with open(host_dir / "console.log", "wb") as log:
            proc = subprocess.Popen(["/bin/sh", "-c", script], stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True, env=dict(HOST_ENV))
        return proc.pid

    def _wait_ready(self, spec: HostSpec, pid: int, started: float, timeout: float,
                    progress: Progress) -> tuple[int, str]:
        """Wait until sshd answers on ip:22 and systemd says running/degraded; (leader, state)."""
        deadline = time.monotonic() + timeout
        log = self.hosts_dir / spec.name / "console.log"
        leader: int | None = None
        banner: str | None = None
        system_state = ""
        while time.monotonic() < deadline:
            if not _alive(pid):
                raise LabError(f"l'hôte {spec.name} s'est arrêté pendant le démarrage :\n{_tail(log)}")
            leader = leader if leader and _alive(leader) else _container_init(pid)
            if leader and not banner:
                banner = _ssh_banner(spec.ip)
            if leader and banner:
                system_state = _in_host(leader, "/usr/bin/systemctl", "is-system-running", timeout=30).stdout.strip()
                if system_state in READY_STATES and not all(_port_open(spec.ip, p) for p in FLAVORS[spec.flavor].ports):
                    system_state = "ports " + ", ".join(str(p) for p in FLAVORS[spec.flavor].ports) + " fermés"
                elif system_state in READY_STATES:
                    if system_state == "degraded":
                        failed = _in_host(leader, "/usr/bin/systemctl", "--failed", "--plain", "--no-legend").stdout
                        units = ", ".join(line.split()[0] for line in failed.splitlines() if line.strip())
                        say(progress, f"{spec.name} : démarré en mode dégradé (unités en échec : {units or '?'})")
                    else:
                        say(progress, f"{spec.name} ({spec.ip}) : prêt en {time.monotonic() - started:.1f} s")
                    return leader, system_state
            time.sleep(0.2)
        waited = "sshd ne répond pas" if not banner else f"systemd dit « {system_state or '?'} »"
        raise LabError(f"l'hôte {spec.name} n'est pas prêt après {timeout:.0f} s ({waited}) :\n{_tail(log)}")

    def _write_known_hosts(self, booted: Sequence[HostSpec]) -> None:
        lines = []
        for spec in booted:
            for pub in sorted((self.hosts_dir / spec.name / "merged/etc/ssh").glob("ssh_host_*_key.pub")):
                keytype, key = pub.read_text().split()[:2]
                lines.append(f"{spec.ip} {keytype} {key}\n")
        self.known_hosts_path.write_text("".join(lines))

    def _save_logs(self, names: Iterable[str]) -> None:
        """Keep the console logs of a failed start (down() removes the host directories)."""
        keep = self.state_dir / "echec"
        for name in names:
            log = self.hosts_dir / name / "console.log"
            if log.exists():
                keep.mkdir(parents=True, exist_ok=True)
                (keep / f"{name}.log").write_bytes(log.read_bytes())

    # -- down ---------------------------------------------------------------------------

    def down(self, progress: Progress = None) -> None:
        """Stop every lab host and remove what the lab made; keeps the base tree and the lab key."""
        _stop_services(progress)
        state = self._read_state()
        names = {h["name"] for h in state["hosts"] if h.get("name")}
        if self.hosts_dir.is_dir():
            names |= {p.name for p in self.hosts_dir.iterdir() if p.is_dir()}
        names |= {p.name[len(CGROUP_PREFIX):] for p in _cgroup_dirs()}
        nspawns = set(_lab_nspawns())
        nspawns |= {h["pid"] for h in state["hosts"] if h.get("pid") and _is_lab_nspawn(h["pid"], h["name"])}
        if nspawns:
            say(progress, f"Arrêt de {len(nspawns)} hôte(s)…")
            _stop(nspawns, progress)
        stray = set().union(*(_cgroup_pids(d) for d in _cgroup_dirs())) if _cgroup_dirs() else set()
        if stray:
            _signal(stray, signal.SIGKILL)
            _wait_gone(stray, 5)
        if self.hosts_dir.exists():
            for name in names:
                _remove_image_lock(self.hosts_dir / name / "merged")
            unmount_all(self.hosts_dir)
        network.teardown_all()
        busy = [str(d) for d in _cgroup_dirs() if not _remove_cgroup(d)]
        for name in names:
            propagate = PROPAGATE_DIR / name
            if propagate.exists():
                remove_tree(propagate)
        if self.hosts_dir.exists():
            remove_tree(self.hosts_dir)
        self.state_path.unlink(missing_ok=True)
        self.known_hosts_path.unlink(missing_ok=True)
        if busy:
            raise LabError(f"groupes de contrôle encore occupés : {', '.join(busy)}")
        if names or nspawns:
            say(progress, "Labo arrêté et nettoyé.")
