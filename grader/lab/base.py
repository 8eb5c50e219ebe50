"""The cached Debian base tree every lab host is an overlay of, and the host-side helpers.

Building a Debian tree takes a minute and ~300 MB of downloads; booting a host from it must
take a second. So the tree is built once per package list (the cache key), into a temporary
directory that is renamed into place only when complete: a crash mid-build never leaves a
tree that looks ready. Hosts never write to it (overlayfs keeps their changes apart), and it
is never booted itself (it would get a machine-id that every overlay would then share).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import LabError

Progress = Callable[[str], None] | None

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_CACHE = Path("/var/cache/grader")
PACKAGES: tuple[str, ...] = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2", "sudo", "procps", "cron",
    "rsyslog", "snmpd", "apache2", "iputils-ping",
    # what the network exam's servers and clients run: a VPN client/server, a supervision server, a
    # command-line HTTP client (the proxy's test) and the SNMP tools a supervision host queries with
    "openvpn", "nagios4-core", "curl", "snmp",
    # nagios4-common needs "bsd-mailx | mailx" and bsd-mailx an MTA; debootstrap keeps only the first
    # alternative of a dependency and drops virtual ones (default-mta), so name a real one (no daemon)
    "msmtp-mta",
    # backups (issue #12): the restic and borg repositories the backup.* checks read
    "restic", "borgbackup",
)
# Bumped when the customisation below changes, so an old tree is not reused with new rules.
RECIPE = 1
GRADER_USER = "grader"
# Units that only make noise or wait for a network that does not exist in a lab host.
MASKED_UNITS = (
    "apt-daily.timer", "apt-daily-upgrade.timer", "apt-daily.service", "apt-daily-upgrade.service",
    "e2scrub_all.timer", "e2scrub_reap.service", "systemd-networkd-wait-online.service",
)
# Binaries a ready tree must hold; a tree without them would boot hosts the grader cannot grade.
REQUIRED_FILES = (
    "usr/lib/systemd/systemd", "usr/bin/systemctl", "usr/sbin/sshd", "usr/bin/sudo", "usr/sbin/apache2",
    "usr/sbin/snmpd", "usr/sbin/rsyslogd", "usr/sbin/cron", "usr/bin/ss", "usr/bin/ssh-keygen",
)
HOST_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "LC_ALL": "C"}


def say(progress: Progress, message: str) -> None:
    if progress is not None:
        progress(message)


def run(argv: Sequence[str | os.PathLike[str]], *, check: bool = True, timeout: float | None = 120,
        what: str | None = None, env: dict[str, str] | None = None,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a host command; a failure becomes a LabError naming what we were doing (in French)."""
    args = [str(a) for a in argv]
    try:
        proc = subprocess.run(args, check=False, capture_output=True, text=True, timeout=timeout, input=input,
                              env=env if env is not None else {**os.environ, **HOST_ENV})
    except FileNotFoundError as exc:
        raise LabError(f"commande introuvable : {args[0]} — installez-la (grader lab setup)") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{what or args[0]} : délai de {timeout} s dépassé") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()[-800:]
        raise LabError(f"{what or ' '.join(args[:3])} : échec (code {proc.returncode}) : {detail}")
    return proc


# --- host tools ---------------------------------------------------------------------------

def ensure_host_tools(progress: Progress = None) -> None:
    """Install debootstrap and systemd-container on the grading machine if either is missing."""
    if shutil.which("debootstrap", path=HOST_ENV["PATH"]) and shutil.which("systemd-nspawn", path=HOST_ENV["PATH"]):
        return
    if os.geteuid() != 0:
        raise LabError("debootstrap et systemd-container manquent : lancez cette commande en root pour les installer")
    say(progress, "Installation de debootstrap et systemd-container…")
    env = {**os.environ, **HOST_ENV, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "debootstrap", "systemd-container"]
    if run(install, check=False, timeout=900, env=env).returncode != 0:
        say(progress, "Échec de l'installation : mise à jour des index apt puis nouvel essai…")
        run(["apt-get", "update"], timeout=900, env=env, what="apt-get update")
        run(install, timeout=900, env=env, what="installation de debootstrap et systemd-container")


# --- mirror -------------------------------------------------------------------------------

def _deb822_stanzas(text: str) -> Iterable[dict[str, str]]:
    stanza: dict[str, str] = {}
    key = None
    for line in text.splitlines() + [""]:
        if not line.strip():
            if stanza:
                yield stanza
            stanza, key = {}, None
        elif line.startswith("#"):
            continue
        elif line[0] in " \t" and key:
            stanza[key] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            stanza[key] = value.strip()


def host_mirror(apt_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror the grading machine already uses for bookworm (deb822 or one-line format).

    Reusing it keeps the lab's downloads on the one mirror the site allows.
    """
    for path in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        for st in _deb822_stanzas(text):
            if st.get("enabled", "yes").lower() == "no" or "deb" not in st.get("types", "").split():
                continue
            if SUITE in st.get("suites", "").split() and st.get("uris"):
                return st["uris"].split()[0]
    lists = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list"))]
    for path in lists:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE:
                return words[1]
    return DEFAULT_MIRROR


# --- mounts and safe removal --------------------------------------------------------------

def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below ``path`` in our mount namespace, deepest first."""
    root = os.path.realpath(path)
    found: list[Path] = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) > 4:
            point = _unescape(fields[4])
            if point == root or point.startswith(root.rstrip("/") + "/"):
                found.append(Path(point))
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def unmount_all(path: Path) -> None:
    """Unmount everything at or below ``path`` (lazily as a last resort)."""
    for point in mounts_under(path):
        if run(["umount", point], check=False).returncode != 0:
            run(["umount", "-l", point], check=False)
    left = mounts_under(path)
    if left:
        raise LabError(f"impossible de démonter {left[0]} : un processus l'utilise encore")


def remove_tree(path: Path) -> None:
    """rm -rf that never follows into another filesystem (a forgotten /proc, /dev or overlay)."""
    if not path.exists() and not path.is_symlink():
        return
    unmount_all(path)
    run(["rm", "-rf", "--one-file-system", "--", path], what=f"suppression de {path}", timeout=600)


def _kill_chrooted(root: Path) -> None:
    """Kill processes whose root is inside ``root`` (a daemon a maintainer script started anyway)."""
    target = os.path.realpath(root)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            proc_root = os.readlink(entry / "root")
        except OSError:
            continue
        if proc_root == target or proc_root.startswith(target + "/"):
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


# --- the base tree ------------------------------------------------------------------------

def cache_key(packages: Sequence[str] = PACKAGES) -> str:
    """Hash of the (sorted) package list, the suite and the recipe version."""
    text = json.dumps({"suite": SUITE, "packages": sorted(set(packages)), "recipe": RECIPE})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def base_root(cache_dir: Path = DEFAULT_CACHE, packages: Sequence[str] = PACKAGES) -> Path:
    return cache_dir / f"base-{cache_key(packages)}" / "root"


def _chroot(root: Path, *argv: str, what: str) -> None:
    run(["chroot", root, *argv], what=what, timeout=300)


def customize(root: Path, progress: Progress = None, required: Sequence[str] = REQUIRED_FILES) -> None:
    """What every candidate host shares: the grading account, no host keys, no machine identity."""
    say(progress, "Préparation de la base : compte grader, sudo, identité vide…")
    passwd = (root / "etc/passwd").read_text()
    if not re.search(rf"^{GRADER_USER}:", passwd, re.MULTILINE):
        _chroot(root, "useradd", "-m", "-s", "/bin/bash", "-d", f"/home/{GRADER_USER}", "-U", GRADER_USER,
                what="création du compte grader")
    sudoers = root / "etc/sudoers.d" / GRADER_USER
    sudoers.write_text(f"{GRADER_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n")
    os.chmod(sudoers, 0o440)
    # Host keys are made per host; a key shared by every candidate would let any of them be impersonated.
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    # Empty machine-id: systemd makes a fresh one at each boot without treating it as a first boot
    # (a first boot would apply presets and re-enable what a candidate disabled).
    (root / "etc/machine-id").write_text("")
    dbus_id = root / "var/lib/dbus/machine-id"
    if dbus_id.exists() and not dbus_id.is_symlink():
        dbus_id.unlink()
    # Hosts have no outbound network and no resolver; never carry the grading machine's resolv.conf.
    resolv = root / "etc/resolv.conf"
    if resolv.is_symlink() or resolv.exists():
        resolv.unlink()
    resolv.write_text("# lab host: no DNS resolver\n")
    (root / "etc/hostname").write_text("localhost\n")
    for unit in MASKED_UNITS:
        link = root / "etc/systemd/system" / unit
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to("/dev/null")
    policy = root / "usr/sbin/policy-rc.d"
    if policy.exists():
        policy.unlink()
    missing = [f for f in required if not (root / f).exists()]
    if missing:
        raise LabError(f"base incomplète : fichiers absents {', '.join(missing)}")


def ensure_base(cache_dir: Path = DEFAULT_CACHE, *, packages: Sequence[str] = PACKAGES,
                mirror: str | None = None, progress: Progress = None,
                required: Sequence[str] = REQUIRED_FILES) -> Path:
    """The root of a ready base tree, built once (debootstrap minbase + customisation).

    A lock serialises concurrent callers; the tree is built in ``.build-*`` and renamed to
    ``base-<key>`` only when complete, so its existence means "ready".
    """
    root = base_root(cache_dir, packages)
    if root.is_dir():
        return root
    if os.geteuid() != 0:
        raise LabError("la construction de la base exige root")
    ensure_host_tools(progress)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = cache_key(packages)
    final = root.parent
    with open(cache_dir / f"base-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if root.is_dir():
            return root
        for stale in cache_dir.glob(f".build-{key}-*"):
            say(progress, f"Suppression d'une construction interrompue : {stale.name}")
            remove_tree(stale)
        build = cache_dir / f".build-{key}-{os.getpid()}"
        build_root = build / "root"
        build.mkdir()
        mirror = mirror or host_mirror()
        started = time.monotonic()
        say(progress, f"Construction de la base Debian {SUITE} ({len(packages)} paquets) depuis {mirror} "
                      "— environ 300 Mo à télécharger, 1 à 2 minutes…")
        try:
            run(["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", SUITE, build_root, mirror],
                timeout=1800, what="debootstrap")
            _kill_chrooted(build_root)
            customize(build_root, progress, required)
            unmount_all(build_root)
            meta = {"suite": SUITE, "packages": sorted(packages), "recipe": RECIPE, "mirror": mirror,
                    "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": round(time.monotonic() - started, 1)}
            (build / "base.json").write_text(json.dumps(meta, indent=2) + "\n")
            os.rename(build, final)
        except BaseException:
            _kill_chrooted(build_root)
            remove_tree(build)
            raise
        say(progress, f"Base prête en {time.monotonic() - started:.0f} s : {root}")
    return root


# --- flavors: a package set, and optionally a layer made once on top of its base -----------------

@dataclass(frozen=True)
class Flavor:
    """A kind of lab host: its Debian packages and, optionally, a *provisioned layer*.

    ``provision`` runs once (in a chroot, on an overlay over the base tree, ``/proc`` mounted)
    and its changes are kept as a cached layer: a domain controller is provisioned once, not
    once per candidate. Hosts of the flavor mount ``layer:base`` as their lower layers.
    ``prepare`` is called for each host before boot with (its root, its spec, the lab);
    ``ports`` must accept TCP connections before the host counts as ready.
    """

    name: str
    packages: tuple[str, ...]
    required: tuple[str, ...]
    recipe: int = 1
    provision: Callable[[Path, Progress], None] | None = None
    prepare: Callable[[Path, Any, Any], None] | None = None
    ports: tuple[int, ...] = ()
    description: str = ""

    @property
    def layer_key(self) -> str:
        text = json.dumps({"base": cache_key(self.packages), "flavor": self.name, "recipe": self.recipe})
        return hashlib.sha256(text.encode()).hexdigest()[:16]


LINUX = Flavor("linux", PACKAGES, REQUIRED_FILES, description="serveur Debian (sshd, apache2, snmpd, rsyslog, cron)")


def layer_dir(flavor: Flavor, cache_dir: Path = DEFAULT_CACHE) -> Path:
    """Where a flavor's provisioned layer lives once ready (``<dir>/layer``, with ``layer.json`` beside)."""
    return cache_dir / f"{flavor.name}-{flavor.layer_key}"


def ensure_flavor(flavor: Flavor, cache_dir: Path = DEFAULT_CACHE, *, mirror: str | None = None,
                  progress: Progress = None) -> list[Path]:
    """The lower layers (top first) of a host of this flavor, built once and cached.

    The provisioned layer is made like the base tree: in ``.build-*``, renamed into place only
    when complete, under a lock; its build time is in ``layer.json``.
    """
    base = ensure_base(cache_dir, packages=flavor.packages, mirror=mirror, progress=progress,
                       required=flavor.required)
    if flavor.provision is None:
        return [base]
    final = layer_dir(flavor, cache_dir)
    if (final / "layer").is_dir():
        return [final / "layer", base]
    with open(cache_dir / f"{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / "layer").is_dir():
            return [final / "layer", base]
        for stale in cache_dir.glob(f".build-{final.name}-*"):
            remove_tree(stale)
        build = cache_dir / f".build-{final.name}-{os.getpid()}"
        for sub in ("layer", "work", "merged"):
            (build / sub).mkdir(parents=True)
        merged = build / "merged"
        say(progress, f"Préparation unique de la couche « {flavor.name} » ({flavor.description or flavor.name})…")
        started = time.monotonic()
        try:
            run(["mount", "-t", "overlay", "overlay", "-o",
                 f"lowerdir={base},upperdir={build / 'layer'},workdir={build / 'work'}", merged],
                what=f"montage de la couche {flavor.name}")
            run(["mount", "-t", "proc", "proc", merged / "proc"], what="montage de /proc")
            flavor.provision(merged, progress)
            seconds = round(time.monotonic() - started, 1)
            _kill_chrooted(merged)
            unmount_all(merged)
            remove_tree(build / "work")
            merged.rmdir()
            meta = {"flavor": flavor.name, "recipe": flavor.recipe, "base": str(base), "seconds": seconds,
                    "built": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            (build / "layer.json").write_text(json.dumps(meta, indent=2) + "\n")
            os.rename(build, final)
        except BaseException:
            _kill_chrooted(merged)
            remove_tree(build)
            raise
        say(progress, f"Couche « {flavor.name} » prête en {seconds:.1f} s")
    return [final / "layer", base]
