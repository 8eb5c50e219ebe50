"""Inter-VLAN routing and a DHCP relay on real hosts (Debian 12: nftables, isc-dhcp-relay 4.4, dnsmasq).

The site of :mod:`grader.lab.intervlan`: rt-vlan routes between VLAN 10 (pc-10, and the
grader's leg ``grd-ivl-v10``) and VLAN 20 (srv-20: the witness and the DHCP server), and relays
VLAN 10's DHCP to srv-20 (this kernel has no 802.1Q: one segment per VLAN, see the module).

* routed: srv-20's witness sees pc-10's own VLAN 10 address (``network.intervlan_routed``);
  the grader's DISCOVER on VLAN 10 gets srv-20's OFFER through the relay (``network.dhcp_offer``,
  the server identifier is srv-20, the offered address in VLAN 10); dhcrelay runs towards
  srv-20 (``network.dhcp_relay``);
* then, for real, what a configuration reader would still pass: a masquerade rule on rt-vlan
  (the VLANs reach each other, translated: the witness sees 10.77.49.97) and the relay stopped
  with its /etc/default file intact: all three non conforme.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from grader.lab import intervlan, network
from grader.model import Status
from grader.plugins import default_catalogue
from grader.roster import Candidate
from grader.rubric import load_rubric
from grader.runner import plan, run_jobs
from tests.conftest import own_hosts

pytestmark = [pytest.mark.lab, pytest.mark.own_lab]  # boots its own hosts: after the demo room

RUBRIC = """\
rubric: vlans-labo
title: Routage inter-VLAN et relais DHCP
credentials:
  correcteur: {{username: grader, key_file: "{key}"}}
hosts:
  - {{name: pc-10, role: poste-vlan10, platform: linux, address: 10.77.49.10, credential: correcteur,
     connect_timeout: 5}}
  - {{name: rt-vlan, role: routeur, platform: linux, address: 10.77.49.2, credential: correcteur, sudo: true,
     connect_timeout: 5}}
checks:
  - {{id: inter-vlan, check: network.intervlan_routed, role: poste-vlan10, criterion: CP5.1,
     params: {{witness: {srv}, source_network: "{vlan10}", vlan: "10", server: srv-20}}}}
  - {{id: dhcp-relaye, check: network.dhcp_offer, role: routeur, criterion: CP5.1,
     params: {{interface: {leg}, range_start: {start}, range_end: {end}, router: {gateway}, server: {srv},
              wait: 3}}}}
  - {{id: relais, check: network.dhcp_relay, role: routeur, criterion: CP5.1,
     params: {{server: {srv}, interfaces: [eth1, eth2]}}}}
"""
NAT = (("add", "table", "ip", "nat"),
       ("add", "chain", "ip", "nat", "post", "{ type nat hook postrouting priority srcnat; }"),
       ("add", "rule", "ip", "nat", "post", "oifname", "eth2", "masquerade"))


def _grade(lab, tmp_path: Path) -> dict:
    path = tmp_path / "bareme.yaml"
    path.write_text(RUBRIC.format(key=lab.key_path, srv=intervlan.SRV_20, vlan10=intervlan.VLAN10,
                                  leg=network.leg_name(intervlan.SEGMENT_10), start=intervlan.RANGE[0],
                                  end=intervlan.RANGE[1], gateway=intervlan.ROUTER_10), encoding="utf-8")
    jobs = plan(load_rubric(path), [Candidate("01")], default_catalogue())
    reports = run_jobs(jobs, known_hosts_path=tmp_path / "known_hosts", workers=2)
    assert all(r.outcome.reached for r in reports)
    return {c.check_id: c for r in reports for c in r.results}


def test_intervlan_routing_and_dhcp_relay_proved_from_the_vlans(tmp_path: Path, monkeypatch):
    started = time.monotonic()
    with own_hosts(intervlan.specs(), monkeypatch) as lab:
        print(f"lock and boot in {time.monotonic() - started:.1f} s")
        got = _grade(lab, tmp_path)
        for check_id in ("inter-vlan", "dhcp-relaye", "relais"):
            assert got[check_id].status is Status.CONFORME, (check_id, got[check_id].message, got[check_id].observed)
        assert f"depuis l'adresse {intervlan.PC_10}" in got["inter-vlan"].observed
        assert f"proposée par {intervlan.SRV_20}" in got["dhcp-relaye"].observed
        assert "eth1, eth2" in got["relais"].observed

        for argv in NAT:
            nat = lab.nsenter("ivl-rt-vlan", "/usr/sbin/nft", *argv)
            assert nat.returncode == 0, nat.stderr
        stop = lab.nsenter("ivl-rt-vlan", "/usr/bin/systemctl", "stop", "isc-dhcp-relay")
        assert stop.returncode == 0, stop.stderr
        got = _grade(lab, tmp_path)
        translated = got["inter-vlan"]
        assert translated.status is Status.NON_CONFORME, (translated.message, translated.observed)
        assert f"depuis l'adresse {intervlan.ROUTER_20}" in translated.observed and "NAT" in translated.message
        assert got["dhcp-relaye"].status is Status.NON_CONFORME, got["dhcp-relaye"].observed
        relay = got["relais"]
        assert relay.status is Status.NON_CONFORME and f'SERVERS="{intervlan.SRV_20}"' in relay.observed
