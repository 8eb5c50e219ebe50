"""The ``router`` lab flavor and the pieces of a candidate's small network: router, LAN, WAN.

A router host is a Debian host with nftables and dnsmasq (its own cached base tree: the
package list is the cache key). Its ``eth0`` is the management interface the grader reaches
on ``grlab0``; ``eth1`` is on the candidate's LAN segment and ``eth2`` on its WAN segment
(see :mod:`grader.lab.network`). What makes it route is the candidate's own configuration:
``/etc/sysctl.d`` (``net.ipv4.ip_forward``), ``/etc/nftables.conf`` with ``nftables.service``
enabled, ``/etc/dnsmasq.d``.

systemd-nspawn with ``--network-namespace-path`` leaves ``/proc/sys/net`` read-only inside, so
``systemd-sysctl`` skips itself at boot (``ConditionPathIsReadWrite=/proc/sys/net/``).
:func:`apply_sysctl` (a host ``setup``) makes it writable, as on a VM, and restarts
``systemd-sysctl``: the candidate's persistent settings, and only them, take effect.

A *witness* (« témoin ») is a tiny TCP service the exam's infrastructure puts on the WAN server
(and the lab on the internal server behind a port forward): for each connection it answers one
line ``TEMOIN <hostname> <peer address> <first line received>``, the peer address as its
systemd saw it (``$REMOTE_ADDR`` of a per-connection socket unit). A check that opens a
connection with a fresh token reads back, on the same connection, which source address the
far side saw: the proof of NAT is made by the far side, not by the router's configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.errors import LabError
from grader.lab.base import PACKAGES, REQUIRED_FILES, Flavor

ROUTER = Flavor("router", PACKAGES + ("nftables", "dnsmasq", "squid"), REQUIRED_FILES + ("usr/sbin/nft", "usr/sbin/dnsmasq"),
                description="routeur/pare-feu Debian (nftables, dnsmasq)")

WITNESS_PORT = 7777
WITNESS_SOCKET = f"""[Unit]
Description=Témoin de l'examen : renvoie l'adresse source vue pour chaque connexion

[Socket]
ListenStream={WITNESS_PORT}
Accept=yes
MaxConnections=64

[Install]
WantedBy=sockets.target
"""
WITNESS_SERVICE = """[Unit]
Description=Témoin de l'examen (une connexion)

[Service]
ExecStart=/bin/bash -c 'IFS= read -r -t 3 line; printf "TEMOIN %%s %%s %%s\\n" "$(/bin/hostname)" "$REMOTE_ADDR" "${line//[^A-Za-z0-9._:-]/}"'
StandardInput=socket
StandardOutput=socket
StandardError=journal
RuntimeMaxSec=10
DynamicUser=yes
"""


def plant_witness(root: Path) -> None:
    """The witness socket unit, enabled (the exam's WAN server, or the internal server behind a forward)."""
    units = root / "etc/systemd/system"
    (units / "grader-temoin.socket").write_text(WITNESS_SOCKET)
    (units / "grader-temoin@.service").write_text(WITNESS_SERVICE)
    wants = units / "sockets.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / "grader-temoin.socket"
    if not link.is_symlink():
        link.symlink_to("/etc/systemd/system/grader-temoin.socket")


def enable_unit(root: Path, unit: str, target: str) -> None:
    """``systemctl enable`` done offline: the wants link of a unit shipped in /usr/lib/systemd/system."""
    if not (root / "usr/lib/systemd/system" / unit).exists() and not (root / "lib/systemd/system" / unit).exists():
        raise LabError(f"unité absente de la base : {unit}")
    wants = root / "etc/systemd/system" / f"{target}.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / unit
    if not link.is_symlink():
        link.symlink_to(f"/lib/systemd/system/{unit}")


def apply_sysctl(shell: Any) -> None:  # a grader.lab.hosts.HostShell (hosts imports this module)
    """Make /proc/sys/net writable inside the host, then let systemd-sysctl apply the host's own settings."""
    for argv in (("/bin/mount", "--bind", "/proc/sys/net", "/proc/sys/net"),
                 ("/bin/mount", "-o", "remount,bind,rw", "/proc/sys/net", "/proc/sys/net"),
                 ("/usr/bin/systemctl", "restart", "systemd-sysctl.service")):
        proc = shell.run(*argv, timeout=30)
        if proc.returncode != 0:
            raise LabError(f"{' '.join(argv)} : {(proc.stderr or proc.stdout).strip()}")
