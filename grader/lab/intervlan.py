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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grader.lab import router
from grader.lab.hosts import HostShell, HostSpec, Link, then
from grader.lab.ipsec import SITE_ROUTER

RELAY_DEFAULTS = "/etc/default/isc-dhcp-relay"
DNSMASQ_CONF = "/etc/dnsmasq.d/dhcp-vlan10.conf"


@dataclass(frozen=True)
class AddressPlan:
    """Where a two-VLAN site lives: its VLANs, the addresses on them, its hosts' management addresses.

    The VLANs' /27s must be more specific than the management network and clear of every other
    segment of the room (the demo room gives each candidate its own, :mod:`grader.lab.demo_vlan`).
    """

    vlan10: str
    vlan20: str
    router_10: str
    router_20: str
    pc_10: str
    srv_20: str
    dhcp_range: tuple[str, str]
    management: dict[str, str]  # machine (``rt-vlan``, ``pc-10``, ``srv-20``) -> management address
    segment_10: str
    segment_20: str


#: The lab test's site (tests/test_intervlan_lab.py), in 10.77.49.0/24.
PLAN = AddressPlan(vlan10="10.77.49.64/27", vlan20="10.77.49.96/27", router_10="10.77.49.65",
                   router_20="10.77.49.97", pc_10="10.77.49.70", srv_20="10.77.49.100",
                   dhcp_range=("10.77.49.80", "10.77.49.90"),
                   management={"rt-vlan": "10.77.49.2", "pc-10": "10.77.49.10", "srv-20": "10.77.49.20"},
                   segment_10="ivl-v10", segment_20="ivl-v20")
VLAN10, VLAN20 = PLAN.vlan10, PLAN.vlan20
ROUTER_10, ROUTER_20 = PLAN.router_10, PLAN.router_20
PC_10, SRV_20 = PLAN.pc_10, PLAN.srv_20
SEGMENT_10, SEGMENT_20 = PLAN.segment_10, PLAN.segment_20
RANGE = PLAN.dhcp_range


def _write(root: Path, path: str, text: str, mode: int = 0o644) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    target.chmod(mode)


def relay_defaults(servers: str, interfaces: str) -> str:
    """Debian's /etc/default/isc-dhcp-relay as dpkg-reconfigure writes it."""
    return ("# Defaults for isc-dhcp-relay initscript\n# sourced by /etc/init.d/isc-dhcp-relay\n\n"
            f"SERVERS=\"{servers}\"\nINTERFACES=\"{interfaces}\"\nOPTIONS=\"\"\n")


def plant_router(plan: AddressPlan = PLAN) -> Callable[[Path], None]:
    def plant(root: Path) -> None:
        _write(root, "/etc/sysctl.d/99-routeur.conf", "net.ipv4.ip_forward = 1\n")
        _write(root, RELAY_DEFAULTS, relay_defaults(plan.srv_20, "eth1 eth2"))
    return plant


def plant_server(plan: AddressPlan = PLAN) -> Callable[[Path], None]:
    """srv-20: the witness, and dnsmasq offering VLAN 10's range to relayed requests."""
    def plant(root: Path) -> None:
        router.plant_witness(root)
        mask = ipaddress.IPv4Network(plan.vlan10).netmask
        first, last = plan.dhcp_range
        _write(root, DNSMASQ_CONF, "# DHCP du VLAN 10, reçu par le relais du routeur\n"
               "no-dhcp-interface=eth0\nport=0\n"
               f"dhcp-range={first},{last},{mask},3600\n"
               f"dhcp-option=option:router,{plan.router_10}\ndhcp-option=option:dns-server,{plan.srv_20}\n"
               "dhcp-authoritative\nno-ping\n")
    return plant


def specs(prefix: str = "ivl", plan: AddressPlan = PLAN, *, boot: bool = True) -> list[HostSpec]:
    """The three hosts, server first (the relay forwards to it), at ``plan``'s addresses."""
    seg10, seg20, mgmt = plan.segment_10, plan.segment_20, plan.management
    return [
        HostSpec(name=f"{prefix}-srv-20", ip=mgmt["srv-20"], hostname="srv-20", flavor=SITE_ROUTER.name, boot=boot,
                 plant=plant_server(plan), links=(Link("eth1", seg20, f"{plan.srv_20}/27"),),
                 routes=((plan.vlan10, plan.router_20),)),
        HostSpec(name=f"{prefix}-rt-vlan", ip=mgmt["rt-vlan"], hostname="rt-vlan", flavor=SITE_ROUTER.name, boot=boot,
                 plant=plant_router(plan), setup=then(router.apply_sysctl, _restart_relay),
                 links=(Link("eth1", seg10, f"{plan.router_10}/27"), Link("eth2", seg20, f"{plan.router_20}/27"))),
        HostSpec(name=f"{prefix}-pc-10", ip=mgmt["pc-10"], hostname="pc-10", boot=boot,
                 links=(Link("eth1", seg10, f"{plan.pc_10}/27"),), routes=((plan.vlan20, plan.router_10),)),
    ]


def _restart_relay(shell: HostShell) -> None:
    """dhcrelay binds the interfaces it finds at start; the links are there before boot, so this is belt and braces."""
    shell.run("/usr/bin/systemctl", "restart", "isc-dhcp-relay", timeout=30)
