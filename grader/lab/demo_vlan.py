"""The demo room's second VLAN (issue #13): each candidate's routed two-VLAN site.

Each candidate gets the site of :mod:`grader.lab.intervlan` at its own addresses: VLAN 10 at
10.77.N.160/27 (``pc-10``, .170), VLAN 20 at 10.77.N.224/27 (``srv-20``, .230: the witness, and
the DHCP server the router relays to), the router ``rt-vlan`` at .161 and .225; management
addresses .3 (rt-vlan), .4 (pc-10), .5 (srv-20). These /27s are clear of the LAN (.64/27), WAN
(.128/27) and VPN (.192/27) segments and of every other machine of the room.

* Candidate 01 routes between the VLANs without translation (the witness sees pc-10's own
  .170) and its DHCP relay runs towards srv-20.
* Candidate 02 turned IPv4 forwarding on and wrote the same relay configuration, but left a
  masquerade rule towards VLAN 20 (the VLANs reach each other; the witness sees the router's
  .225) and its relay stopped: a reader of sysctl and /etc/default/isc-dhcp-relay passes both.
* Candidate 03's site is down: injoignable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from grader.errors import LabError
from grader.lab import intervlan, router
from grader.lab.hosts import HostShell, HostSpec, then

CHECK_IDS = ("inter-vlan", "relais-dhcp")
_C, _N = "conforme", "non_conforme"
#: Candidate 02's verdicts (01 conforme everywhere, 03 injoignable: its site is off).
PLANTED_02 = {"inter-vlan": _N, "relais-dhcp": _N}
NOTES = {
    "01": "routeur inter-VLAN rt-vlan (10.77.1.3) : VLAN 10 (10.77.1.160/27) et VLAN 20 (10.77.1.224/27) routés "
          "sans traduction (le témoin de srv-20 voit l'adresse .170 de pc-10), relais DHCP actif vers srv-20.",
    "02": "rt-vlan : routage IPv4 activé et relais DHCP configuré, mais une règle masquerade vers le VLAN 20 (le "
          "témoin de srv-20 voit l'adresse .225 du routeur, pas celle de pc-10) et le relais arrêté.",
    "03": "routeur inter-VLAN (10.77.3.3), pc-10 et srv-20 éteints.",
}
NFT_MASQUERADE = """#!/usr/sbin/nft -f
flush ruleset

table ip nat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "eth2" masquerade
    }
}
"""


def plan(candidate: str) -> intervlan.AddressPlan:
    net = f"10.77.{int(candidate)}"
    return intervlan.AddressPlan(
        vlan10=f"{net}.160/27", vlan20=f"{net}.224/27", router_10=f"{net}.161", router_20=f"{net}.225",
        pc_10=f"{net}.170", srv_20=f"{net}.230", dhcp_range=(f"{net}.176", f"{net}.186"),
        management={"rt-vlan": f"{net}.3", "pc-10": f"{net}.4", "srv-20": f"{net}.5"},
        segment_10=f"c{candidate}-v10", segment_20=f"c{candidate}-v20")


def _with_masquerade(plant: Callable[[Path], None] | None) -> Callable[[Path], None]:
    def masquerade(root: Path) -> None:
        target = root / "etc/nftables.conf"
        target.write_text(NFT_MASQUERADE)
        target.chmod(0o755)
        router.enable_unit(root, "nftables.service", "sysinit.target")
    return then(plant, masquerade)


def _stop_relay(shell: HostShell) -> None:
    """Stopped and disabled after boot, as ``systemctl disable --now`` leaves it; /etc/default untouched."""
    for verb in ("stop", "disable"):
        proc = shell.run("/usr/bin/systemctl", verb, "isc-dhcp-relay", timeout=30)
        if proc.returncode != 0:
            raise LabError(f"systemctl {verb} isc-dhcp-relay : {proc.stderr.strip()}")


def specs(candidate: str, *, boot: bool = True) -> list[HostSpec]:
    """The candidate's srv-20, rt-vlan and pc-10; 02's router masquerades and its relay is stopped."""
    hosts = intervlan.specs(f"c{candidate}", plan(candidate), boot=boot)
    if candidate != "02":
        return hosts
    return [dataclasses.replace(h, plant=_with_masquerade(h.plant), setup=then(router.apply_sysctl, _stop_relay))
            if h.hostname == "rt-vlan" else h for h in hosts]


def room_specs() -> list[HostSpec]:
    return [s for c in ("01", "02", "03") for s in specs(c, boot=c != "03")]
