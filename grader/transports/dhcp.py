"""Grader-side DHCP: one DISCOVER on the candidate's LAN, every OFFER that comes back (scapy).

Only the server itself proves what a client of the LAN would get: the range, the router
and DNS options as configured are not enough (a typo, a second server, a service that does
not listen on the LAN interface). The grader has a leg on each candidate's LAN — an
interface without IPv4 address, so it changes none of the grader's routes (in the lab,
:func:`grader.lab.network.ensure_segment` makes it) — and sends on it, at the Ethernet level:

- one DHCPDISCOVER, broadcast flag set (the server answers by broadcast: we have no
  address), from a fresh random locally administered MAC address (also the ``chaddr``) with
  a random ``xid``, so that no answer prepared in advance or meant for another client can
  pass for ours;
- then it listens ``wait`` seconds and keeps *every* OFFER for that xid and chaddr: two
  servers answering (a forgotten service, a rogue server) is an observation.

It never sends DHCPREQUEST: no lease is taken, the candidate's server keeps nothing of the
exchange beyond, at most, its log line; grading stays read-only. The evidence says so.

The probe and its JSON record (the probe language) are :mod:`grader.probes.dhcp`; the record is
written by :func:`transaction`. A missing or down interface, or no raw socket (CAP_NET_RAW: run as
root), is the probe's ``error``: "could not check", never "no server".
"""

from __future__ import annotations

import json
import secrets
import select
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from grader.model import Msg, Probe, ProbeResult
from grader.probes.dhcp import _IFNAME, CHANNEL, READ_ONLY_NOTE
from grader.transports.base import Channel, Collected, HostContext, probe_fields

#: What a DISCOVER asks for: subnet mask, router, DNS, domain name, lease time, server id.
REQUESTED = (1, 3, 6, 15, 51, 54)
_NO_LINK = ("down", "lowerlayerdown", "notpresent")
SYS_NET = Path("/sys/class/net")


def random_mac() -> str:
    """A unicast, locally administered MAC address (no vendor's, no real client's)."""
    first = (secrets.randbits(8) & 0xFC) | 0x02
    return ":".join(f"{b:02x}" for b in [first, *secrets.token_bytes(5)])


def interface_problem(interface: str, sys_net: Path = SYS_NET) -> Msg | None:
    """Why the grader cannot send on ``interface`` (missing, down), or None."""
    if not _IFNAME.match(interface):
        return Msg("nom d'interface invalide : {interface}", interface=repr(interface))
    if not (sys_net / interface).exists():
        return Msg("interface « {interface} » absente du poste du correcteur (patte sur le LAN du candidat non créée)",
                   interface=interface)
    try:
        state = (sys_net / interface / "operstate").read_text().strip()
    except OSError:
        state = "unknown"
    if state in _NO_LINK:
        return Msg("interface « {interface} » sans lien (état {state}) : le correcteur n'est pas relié au LAN",
                   interface=interface, state=state)
    return None


def _value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\x00")
    return value


def offer_record(packet: Any, elapsed_ms: float) -> dict[str, Any]:
    """What the evidence keeps of one OFFER (scapy packet with Ether/IP/BOOTP/DHCP)."""
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.inet import IP
    from scapy.layers.l2 import Ether

    options: dict[str, Any] = {}
    for option in packet[DHCP].options:
        if isinstance(option, tuple) and len(option) >= 2:
            name, values = str(option[0]), [_value(v) for v in option[1:]]
            options[name] = values if name in ("router", "name_server") or len(values) > 1 else values[0]
    bootp = packet[BOOTP]
    return {
        "server_id": options.get("server_id") or (packet[IP].src if IP in packet else None),
        "source_ip": packet[IP].src if IP in packet else None,
        "source_mac": packet[Ether].src if Ether in packet else None,
        "yiaddr": bootp.yiaddr,
        "siaddr": bootp.siaddr,
        "giaddr": bootp.giaddr,
        "after_ms": round(elapsed_ms, 1),
        "options": options,
    }


def transaction(interface: str, wait: float, *, mac: str | None = None, xid: int | None = None) -> dict[str, Any]:
    """Send one DISCOVER on ``interface`` and collect every OFFER for ``wait`` seconds.

    Raises OSError (PermissionError without CAP_NET_RAW) when the raw socket cannot be used.
    """
    from scapy.arch.linux import L2Socket
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.utils import mac2str

    mac = mac or random_mac()
    xid = secrets.randbits(32) if xid is None else xid
    chaddr = mac2str(mac)
    discover_frame = (Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255")
                      / UDP(sport=68, dport=67)
                      / BOOTP(op=1, xid=xid, flags=0x8000, chaddr=chaddr + b"\x00" * 10)
                      / DHCP(options=[("message-type", "discover"), ("param_req_list", list(REQUESTED)), "end"]))
    offers: list[dict[str, Any]] = []
    others = 0
    sock = L2Socket(iface=interface, promisc=False)
    try:
        sent_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        t0 = time.monotonic()
        sock.send(discover_frame)
        deadline = t0 + wait
        while (remaining := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([sock], [], [], remaining)
            if not ready:
                break
            packet = sock.recv()
            if packet is None or BOOTP not in packet or packet[BOOTP].op != 2 or DHCP not in packet:
                continue
            bootp = packet[BOOTP]
            kind = next((o[1] for o in packet[DHCP].options if isinstance(o, tuple) and o[0] == "message-type"), None)
            if bootp.xid != xid or bytes(bootp.chaddr)[:6] != chaddr or kind != 2:
                others += 1  # another client's exchange, or not an OFFER (a NAK...)
                continue
            offers.append(offer_record(packet, (time.monotonic() - t0) * 1000))
    finally:
        sock.close()
    return {"interface": interface, "client_mac": mac, "xid": f"0x{xid:08x}", "sent": "DHCPDISCOVER",
            "sent_at": sent_at, "broadcast_flag": True, "requested_options": list(REQUESTED), "wait": wait,
            "request_sent": False, "note": str(READ_ONLY_NOTE), "offers": offers, "other_replies": others}


def run(probe: Probe) -> ProbeResult:
    base, t0 = probe_fields(probe), time.perf_counter()
    try:
        spec = json.loads(probe.command)
        interface, wait = str(spec["interface"]), float(spec["wait"])
    except (ValueError, KeyError, TypeError) as exc:
        return ProbeResult(**base, error=Msg("sonde DHCP invalide : {error}", error=str(exc)))
    problem = interface_problem(interface)
    if problem:
        return ProbeResult(**base, error=problem)
    try:
        record = transaction(interface, wait)
    except ImportError as exc:
        return ProbeResult(**base, error=Msg("scapy n'est pas installé sur le poste du correcteur : {error}",
                                             error=str(exc)))
    except PermissionError as exc:
        return ProbeResult(**base, error=Msg("socket brute refusée (CAP_NET_RAW requis : lancez grader en root) : "
                                             "{error}", error=str(exc)), duration=time.perf_counter() - t0)
    except OSError as exc:
        return ProbeResult(**base, error=Msg("émission impossible sur « {interface} » : {error}", interface=interface,
                                             error=str(exc)),
                           duration=time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - a scapy failure is this probe's erreur, not the run's
        return ProbeResult(**base, duration=time.perf_counter() - t0,
                           error=Msg("échange DHCP impossible sur « {interface} » : {kind}: {error}",
                                     interface=interface, kind=type(exc).__name__, error=str(exc)))
    return ProbeResult(**base, stdout=json.dumps(record, ensure_ascii=False, sort_keys=True),
                       exit_code=0 if record["offers"] else 1, duration=time.perf_counter() - t0)


class DhcpChannel(Channel):
    """The ``dhcp`` channel: one DISCOVER per distinct interface, sent by the grader itself."""

    spec = CHANNEL

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        results = {p.key: run(p) for p in probes}
        return Collected(results, execs=len(results))
