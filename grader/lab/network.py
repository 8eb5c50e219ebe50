"""The lab network: one bridge in the root namespace, one network namespace per host.

Each host gets its own namespace ``grlab-<name>`` with a veth whose outer end (``gv-<hash>``)
is a port of the bridge ``grlab0`` (10.77.0.1/16, the project's own subnet) and whose inner
end is renamed ``eth0`` and addressed before the host boots: the grader, in the root
namespace, reaches every host on its address as it would reach a candidate's VM, and a host
that is "down" simply has no namespace, so nothing answers on its address. Setup and
teardown are idempotent, and teardown sweeps every name with the lab prefixes, so a crashed
run is cleaned up too.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from pathlib import Path

from grader.errors import LabError
from grader.lab.base import run

BRIDGE = "grlab0"
GATEWAY = "10.77.0.1"
SUBNET = ipaddress.IPv4Network("10.77.0.0/16")
NETNS_PREFIX = "grlab-"
VETH_PREFIX = "gv-"
SEGMENT_PREFIX = "grs-"  # a per-candidate segment bridge (LAN, WAN...)
LINK_PREFIX = "gx-"  # outer end of a host's extra link into a segment
LEG_PREFIX = "grd-"  # the grader's own leg on a segment (no address: see grader_leg)
NETNS_DIR = Path("/run/netns")


def netns_name(host: str) -> str:
    return NETNS_PREFIX + host


def netns_path(host: str) -> Path:
    return NETNS_DIR / netns_name(host)


def veth_name(host: str) -> str:
    """Outer end of a host's veth: ``gv-`` + 8 hex digits (11 characters; the kernel allows 15)."""
    return VETH_PREFIX + hashlib.sha1(host.encode()).hexdigest()[:8]


def _peer_name(host: str) -> str:
    return "gp-" + hashlib.sha1(host.encode()).hexdigest()[:8]


def check_address(ip: str) -> ipaddress.IPv4Address:
    """A host address: inside 10.77.0.0/16, and neither the gateway nor the network/broadcast address."""
    try:
        addr = ipaddress.IPv4Address(ip)
    except ValueError as exc:
        raise LabError(f"adresse IPv4 invalide : {ip!r}") from exc
    if addr not in SUBNET or addr in (SUBNET.network_address, SUBNET.broadcast_address) or str(addr) == GATEWAY:
        raise LabError(f"adresse {ip} hors du réseau du labo ({SUBNET}, passerelle {GATEWAY} exclue)")
    return addr


def _links(netns: str | None = None) -> list[dict]:
    argv = ["ip", "-j"] + (["-n", netns] if netns else []) + ["addr", "show"]
    out = run(argv, check=False).stdout
    try:
        return json.loads(out) if out.strip() else []
    except ValueError:
        return []


def _link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def list_netns() -> list[str]:
    """The lab's namespaces (by their /run/netns entry)."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(NETNS_PREFIX))


def list_veths() -> list[str]:
    """Outer ends of the lab's veths: management (``gv-``), segment links (``gx-``), the grader's legs (``grd-``)."""
    return sorted(p.name for p in Path("/sys/class/net").iterdir()
                  if p.name.startswith((VETH_PREFIX, LINK_PREFIX, LEG_PREFIX)))


def list_segments() -> list[str]:
    """The lab's segment bridges (``grs-*``)."""
    return sorted(p.name for p in Path("/sys/class/net").iterdir() if p.name.startswith(SEGMENT_PREFIX))


def segment_bridge(segment: str) -> str:
    """Bridge of a segment: ``grs-`` + its name (at most 11 characters, the kernel allows 15)."""
    if not segment or len(segment) > 11 or not all(c.isalnum() or c == "-" for c in segment):
        raise LabError(f"nom de segment invalide : {segment!r} (11 caractères au plus, lettres, chiffres, tirets)")
    return SEGMENT_PREFIX + segment


def check_link_address(cidr: str) -> ipaddress.IPv4Interface:
    """A segment address ``a.b.c.d/len``: inside the lab subnet, in a prefix longer than the management one."""
    try:
        iface = ipaddress.IPv4Interface(cidr)
    except ValueError as exc:
        raise LabError(f"adresse de lien invalide : {cidr!r} (attendu a.b.c.d/longueur)") from exc
    net = iface.network
    if not net.subnet_of(SUBNET) or net.prefixlen <= SUBNET.prefixlen or iface.ip in (net.network_address,
                                                                                      net.broadcast_address):
        raise LabError(f"adresse de lien {cidr} : attendue dans {SUBNET} avec un préfixe plus long que "
                       f"/{SUBNET.prefixlen}, ni réseau ni diffusion")
    return iface


def ensure_segment(segment: str) -> str:
    """A segment bridge, up, without address, with the grader's leg (no address either: no route)."""
    bridge = segment_bridge(segment)
    if not _link_exists(bridge):
        run(["ip", "link", "add", bridge, "type", "bridge"], what=f"création du segment {segment}")
    run(["ip", "link", "set", bridge, "up"], what=f"activation du segment {segment}")
    grader_leg(segment)
    return bridge


def leg_name(segment: str) -> str:
    """The grader's interface on a segment: ``grd-`` + the segment's name (``grd-c01-lan``)."""
    return LEG_PREFIX + segment_bridge(segment).removeprefix(SEGMENT_PREFIX)


def grader_leg(segment: str) -> str:
    """The grader's own leg on a segment: a veth whose inner end stays in the grader's namespace.

    It is how the grader stands on a candidate's LAN as a client would (a DHCP DISCOVER, see
    :mod:`grader.transports.dhcp`) without being routed there: no IPv4 address (so no route:
    the LAN/WAN /27s stay reachable only through the candidates' routers, which the NAT and
    reach checks rely on), IPv6 off (no link-local address, no router solicitation) and ARP
    replies off (the grader's own addresses are not announced on the candidate's LAN).
    """
    leg = leg_name(segment)
    port = "gz-" + hashlib.sha1(segment.encode()).hexdigest()[:8]
    what = f"patte du correcteur sur {segment}"
    if not _link_exists(leg):
        if _link_exists(port):
            run(["ip", "link", "del", port], what=what)
        run(["ip", "link", "add", leg, "type", "veth", "peer", "name", port], what=what)
    for key, value in (("ipv6/conf/{}/disable_ipv6", "1"), ("ipv4/conf/{}/arp_ignore", "8")):
        setting = Path("/proc/sys/net", key.format(leg))
        if setting.exists():  # no ipv6/ at all on a kernel without IPv6
            setting.write_text(value)
    run(["ip", "addr", "flush", "dev", leg], what=what)
    run(["ip", "link", "set", port, "master", segment_bridge(segment), "up"], what=what)
    run(["ip", "link", "set", leg, "up"], what=what)
    return leg


def _link_names(host: str, ifname: str) -> tuple[str, str]:
    digest = hashlib.sha1(f"{host}/{ifname}".encode()).hexdigest()[:8]
    return LINK_PREFIX + digest, "gy-" + digest


def setup_link(host: str, ifname: str, segment: str, cidr: str) -> None:
    """One extra interface of a host (its namespace must exist): veth into the segment, named and addressed."""
    check_link_address(cidr)
    ns, bridge = netns_name(host), ensure_segment(segment)
    outer, peer = _link_names(host, ifname)
    what = f"lien {ifname} de {host} ({segment})"
    if ifname not in {link.get("ifname") for link in _links(ns)}:
        for stale in (outer, peer):
            if _link_exists(stale):
                run(["ip", "link", "del", stale], what=what)
        run(["ip", "link", "add", outer, "type", "veth", "peer", "name", peer], what=what)
        run(["ip", "link", "set", peer, "netns", ns], what=what)
        run(["ip", "-n", ns, "link", "set", peer, "name", ifname], what=what)
    run(["ip", "link", "set", outer, "master", bridge, "up"], what=what)
    run(["ip", "-n", ns, "addr", "replace", cidr, "dev", ifname], what=what)
    run(["ip", "-n", ns, "link", "set", ifname, "up"], what=what)


def add_route(host: str, destination: str, via: str) -> None:
    """A static route inside a host (e.g. the WAN through the candidate's router)."""
    run(["ip", "-n", netns_name(host), "route", "replace", destination, "via", via],
        what=f"route {destination} via {via} sur {host}")


def ensure_bridge() -> None:
    """The bridge grlab0 with 10.77.0.1/16, up; forwarding stays as the machine has it."""
    if not _link_exists(BRIDGE):
        run(["ip", "link", "add", BRIDGE, "type", "bridge"], what=f"création du pont {BRIDGE}")
    cidr = f"{GATEWAY}/{SUBNET.prefixlen}"
    have = [f"{a['local']}/{a['prefixlen']}" for link in _links() if link.get("ifname") == BRIDGE
            for a in link.get("addr_info", []) if a.get("family") == "inet"]
    if cidr not in have:
        run(["ip", "addr", "add", cidr, "dev", BRIDGE], what=f"adresse de {BRIDGE}")
    run(["ip", "link", "set", BRIDGE, "up"], what=f"activation de {BRIDGE}")


def setup_host(host: str, ip: str) -> str:
    """Namespace + veth + eth0 address + default route for one host; returns the netns path.

    Idempotent: what already exists is kept, what is missing is made.
    """
    check_address(ip)
    ns, veth, peer = netns_name(host), veth_name(host), _peer_name(host)
    what = f"réseau de {host}"
    if not netns_path(host).exists():
        run(["ip", "netns", "add", ns], what=what)
    inside = {link.get("ifname") for link in _links(ns)}
    if "eth0" not in inside:
        if _link_exists(veth):
            run(["ip", "link", "del", veth], what=what)
        if _link_exists(peer):
            run(["ip", "link", "del", peer], what=what)
        run(["ip", "link", "add", veth, "type", "veth", "peer", "name", peer], what=what)
        run(["ip", "link", "set", peer, "netns", ns], what=what)
        run(["ip", "-n", ns, "link", "set", peer, "name", "eth0"], what=what)
    run(["ip", "link", "set", veth, "master", BRIDGE, "up"], what=what)
    run(["ip", "-n", ns, "addr", "replace", f"{ip}/{SUBNET.prefixlen}", "dev", "eth0"], what=what)
    run(["ip", "-n", ns, "link", "set", "lo", "up"], what=what)
    run(["ip", "-n", ns, "link", "set", "eth0", "up"], what=what)
    run(["ip", "-n", ns, "route", "replace", "default", "via", GATEWAY], what=what)
    return str(netns_path(host))


def teardown_all() -> None:
    """Every lab namespace, veth, segment bridge and the bridge, whoever made them."""
    for veth in list_veths():
        run(["ip", "link", "del", veth], check=False)
    for ns in list_netns():
        if run(["ip", "netns", "del", ns], check=False).returncode != 0:
            run(["umount", "-l", NETNS_DIR / ns], check=False)
            (NETNS_DIR / ns).unlink(missing_ok=True)
    for segment in list_segments():
        run(["ip", "link", "del", segment], check=False)
    if _link_exists(BRIDGE):
        run(["ip", "link", "del", BRIDGE], check=False)
    left = list_netns() + list_veths() + list_segments() + ([BRIDGE] if _link_exists(BRIDGE) else [])
    if left:
        raise LabError(f"réseau du labo non supprimé : {', '.join(left)}")
