"""The DHCP service of a demo candidate's router: dnsmasq serving the LAN (``eth1``) only.

What a candidate writes on a Debian router to give the LAN its addresses: a range inside the
LAN /27, the router (option 3) and DNS (option 6) pointing at the router's LAN address, the
domain name. ``no-dhcp-interface`` keeps DHCP off the management (``eth0``) and WAN (``eth2``)
interfaces: the management address 10.77.N.2/16 also contains the LAN range, and without it
dnsmasq would answer on the lab's management bridge. ``no-ping``: without it dnsmasq probes
the address it is about to offer and the first OFFER waits 3 s (measured, ../shared/LAB.md).

Demo candidates: 01 as asked; 02 gives clients the router ``.1`` — an address outside its
LAN, the habit of "the gateway is .1" — instead of its router's ``.65``; 03's router is down.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

CONFIG = "/etc/dnsmasq.d/dhcp-lan.conf"
FIRST, LAST = 16, 26  # host numbers of the range inside the LAN /27 (.80-.90 of 10.77.N.64/27)
LEASE = 12 * 3600
DOMAIN = "tssr.lan"


def lan_range(lan: str) -> tuple[str, str]:
    """The demo's DHCP range inside a LAN prefix (``10.77.1.64/27`` -> 10.77.1.80, 10.77.1.90)."""
    net = ipaddress.IPv4Network(lan)
    return str(net.network_address + FIRST), str(net.network_address + LAST)


def dnsmasq_config(lan: str, gateway: str, dns: str, *, lease: int = LEASE, domain: str = DOMAIN) -> str:
    """dnsmasq lines serving DHCP on the LAN interface only, with the given router and DNS options."""
    start, end = lan_range(lan)
    mask = ipaddress.IPv4Network(lan).netmask
    return (f"# DHCP du LAN (eth1) : plage {start}-{end}, passerelle {gateway}, DNS {dns}\n"
            "no-dhcp-interface=eth0\nno-dhcp-interface=eth2\n"
            f"dhcp-range={start},{end},{mask},{lease}\n"
            f"dhcp-option=option:router,{gateway}\n"
            f"dhcp-option=option:dns-server,{dns}\n"
            f"dhcp-option=option:domain-name,{domain}\n"
            "dhcp-authoritative\nno-ping\n")


def plant_demo(root: Path, candidate: str, net: dict[str, str]) -> None:
    """A demo candidate's DHCP service in the router's tree (``net``: :func:`grader.lab.demo.segments`)."""
    router = net["router_lan"]
    gateway = router if candidate != "02" else str(ipaddress.IPv4Network(net["lan"]).supernet(new_prefix=24)[1])
    target = root / CONFIG.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(dnsmasq_config(net["lan"], gateway, router))
    target.chmod(0o644)
