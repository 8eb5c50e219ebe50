"""A routed two-VLAN site with a DHCP relay: router, a client on VLAN 10, a server on VLAN 20.

What the exam asks is a router on a stick: one trunk, 802.1Q subinterfaces, a VLAN-aware
switch. This machine's kernel cannot build that: ``CONFIG_VLAN_8021Q`` is not set (``ip link
add link veth0 name veth0.10 type vlan id 10`` answers « Unknown device type ») and neither is
``CONFIG_BRIDGE_VLAN_FILTERING`` (``ip link set br0 type bridge vlan_filtering 1``: « Operation
not supported »), measured 2026-12-06. So each VLAN is its own segment bridge and the router
has one interface in each (``eth1`` VLAN 10, ``eth2`` VLAN 20): the layer-3 behaviour graded —
which source address crosses from one VLAN to the other, whether the relayed DHCP OFFER comes
back — is the same as through subinterfaces; tagging itself is graded from the device's
configuration (``show interfaces trunk``, ``encapsulation dot1Q``).

* ``rt-vlan`` (site-router flavor): IPv4 forwarding, no NAT, and Debian's isc-dhcp-relay
  (``/etc/default/isc-dhcp-relay``: SERVERS = the VLAN 20 server, INTERFACES = both legs);
* ``pc-10`` on VLAN 10, its gateway the router's VLAN 10 address;
* ``srv-20`` on VLAN 20: the witness, and dnsmasq serving VLAN 10's range to relayed requests
  only (it has no address in VLAN 10: it answers because the relay's giaddr is in that range).

The grader's leg on the VLAN 10 segment (:func:`grader.lab.network.grader_leg`) is the DHCP
client of the relayed VLAN.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from grader.lab import router
from grader.lab.hosts import HostShell, HostSpec, Link, then
from grader.lab.ipsec import SITE_ROUTER

VLAN10, VLAN20 = "10.77.49.64/27", "10.77.49.96/27"
ROUTER_10, ROUTER_20 = "10.77.49.65", "10.77.49.97"
PC_10, SRV_20 = "10.77.49.70", "10.77.49.100"
SEGMENT_10, SEGMENT_20 = "ivl-v10", "ivl-v20"
RANGE = ("10.77.49.80", "10.77.49.90")
RELAY_DEFAULTS = "/etc/default/isc-dhcp-relay"
DNSMASQ_CONF = "/etc/dnsmasq.d/dhcp-vlan10.conf"


def _write(root: Path, path: str, text: str, mode: int = 0o644) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    target.chmod(mode)


def relay_defaults(servers: str, interfaces: str) -> str:
    """Debian's /etc/default/isc-dhcp-relay as dpkg-reconfigure writes it."""
    return ("# Defaults for isc-dhcp-relay initscript\n# sourced by /etc/init.d/isc-dhcp-relay\n\n"
            f"SERVERS=\"{servers}\"\nINTERFACES=\"{interfaces}\"\nOPTIONS=\"\"\n")


def plant_router(root: Path) -> None:
    _write(root, "/etc/sysctl.d/99-routeur.conf", "net.ipv4.ip_forward = 1\n")
    _write(root, RELAY_DEFAULTS, relay_defaults(SRV_20, "eth1 eth2"))


def plant_server(root: Path) -> None:
    """srv-20: the witness, and dnsmasq offering VLAN 10's range to relayed requests."""
    router.plant_witness(root)
    mask = ipaddress.IPv4Network(VLAN10).netmask
    _write(root, DNSMASQ_CONF, "# DHCP du VLAN 10, reçu par le relais du routeur\n"
           "no-dhcp-interface=eth0\nport=0\n"
           f"dhcp-range={RANGE[0]},{RANGE[1]},{mask},3600\n"
           f"dhcp-option=option:router,{ROUTER_10}\ndhcp-option=option:dns-server,{SRV_20}\n"
           "dhcp-authoritative\nno-ping\n")


def specs(prefix: str = "ivl") -> list[HostSpec]:
    """The three hosts, server first (the relay forwards to it), management addresses 10.77.49.2/.10/.20."""
    return [
        HostSpec(name=f"{prefix}-srv-20", ip="10.77.49.20", hostname="srv-20", flavor=SITE_ROUTER.name,
                 plant=plant_server, links=(Link("eth1", SEGMENT_20, f"{SRV_20}/27"),), routes=((VLAN10, ROUTER_20),)),
        HostSpec(name=f"{prefix}-rt-vlan", ip="10.77.49.2", hostname="rt-vlan", flavor=SITE_ROUTER.name,
                 plant=plant_router, setup=then(router.apply_sysctl, _restart_relay),
                 links=(Link("eth1", SEGMENT_10, f"{ROUTER_10}/27"), Link("eth2", SEGMENT_20, f"{ROUTER_20}/27"))),
        HostSpec(name=f"{prefix}-pc-10", ip="10.77.49.10", hostname="pc-10",
                 links=(Link("eth1", SEGMENT_10, f"{PC_10}/27"),), routes=((VLAN20, ROUTER_10),)),
    ]


def _restart_relay(shell: HostShell) -> None:
    """dhcrelay binds the interfaces it finds at start; the links are there before boot, so this is belt and braces."""
    shell.run("/usr/bin/systemctl", "restart", "isc-dhcp-relay", timeout=30)
