"""DHCP on the demo room's real routers (dnsmasq under systemd in nspawn), graded from the grader's legs.

The lab gives the grader a leg on each candidate's segment (``grd-c01-lan``...): no IPv4
address, so no route — the LAN/WAN /27s stay reachable only through the candidates' routers.
c01's dnsmasq offers .80-.90 with router and DNS .65 (conforme); c02's offers router .1, an
address outside its LAN (non_conforme); c03's router is down (injoignable, never non_conforme).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from grader.errors import LabError
from grader.lab import demo, dhcp, network
from grader.model import Status
from grader.plugins import default_catalogue
from grader.roster import load_roster
from grader.rubric import load_rubric
from grader.runner import plan, run_jobs


def test_leg_names_fit_the_kernel_limit_and_are_swept_by_lab_down():
    assert network.leg_name("c01-lan") == "grd-c01-lan"
    assert len(network.leg_name("a" * 11)) == 15
    with pytest.raises(LabError):
        network.leg_name("a" * 12)
    assert network.LEG_PREFIX == "grd-"


def test_planted_dnsmasq_serves_the_lan_only(tmp_path):
    net = demo.segments("01")
    dhcp.plant_demo(tmp_path, "01", net)
    conf = (tmp_path / dhcp.CONFIG.lstrip("/")).read_text()
    assert "no-dhcp-interface=eth0\n" in conf and "no-dhcp-interface=eth2\n" in conf  # not on grlab0 nor the WAN
    assert "dhcp-range=10.77.1.80,10.77.1.90,255.255.255.224,43200\n" in conf and "no-ping\n" in conf
    assert "option:router,10.77.1.65\n" in conf and "option:dns-server,10.77.1.65\n" in conf
    dhcp.plant_demo(tmp_path, "02", demo.segments("02"))
    conf = (tmp_path / dhcp.CONFIG.lstrip("/")).read_text()
    assert "option:router,10.77.2.1\n" in conf and "option:dns-server,10.77.2.65\n" in conf


@pytest.mark.lab
def test_the_grader_legs_have_no_address_and_no_route(room):
    legs = [network.leg_name(f"c{c}-{side}") for c in ("01", "02") for side in ("lan", "wan")]
    addresses = json.loads(subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, text=True,
                                          check=True).stdout)
    by_name = {link["ifname"]: link for link in addresses}
    for leg in legs:
        assert leg in by_name, f"{leg} missing"
        assert by_name[leg]["operstate"] in ("UP", "UNKNOWN")
        assert by_name[leg].get("addr_info", []) == []  # neither IPv4 nor IPv6
    routes = subprocess.run(["ip", "route", "show", "table", "all"], check=True, capture_output=True, text=True).stdout
    assert "grd-" not in routes
    assert network.leg_name("c03-lan") not in by_name  # 03's network is down: no segment, no leg


@pytest.mark.lab
def test_dhcp_offers_of_the_room_match_the_planted_truth(room):
    import rubrics

    lab, _ = room
    rubric = load_rubric(rubrics.demo_rubric())
    candidates = load_roster(rubrics.demo_roster(), rubric)
    jobs = plan(rubric, candidates, default_catalogue(), only_hosts={(c.id, demo.ROUTER) for c in candidates})
    reports = run_jobs(jobs, known_hosts_path=lab.known_hosts_path, workers=3)
    res = {(r.candidate, c.check_id): c for r in reports for c in r.results}
    got = {c: res[(c, "dhcp-lan")].status.value for c in ("01", "02", "03")}
    assert got == {c: demo.PLANTED_TRUTH[c]["dhcp-lan"] for c in ("01", "02", "03")}
    ok, wrong, down = res[("01", "dhcp-lan")], res[("02", "dhcp-lan")], res[("03", "dhcp-lan")]
    assert "proposée par 10.77.1.65" in ok.observed and "routeur 10.77.1.65, DNS 10.77.1.65" in ok.observed
    assert "aucun bail pris" in ok.observed and "grd-c01-lan" in ok.observed
    assert "passerelle 10.77.2.1 au lieu de 10.77.2.65" in wrong.message
    assert down.status is Status.INJOIGNABLE
    # the evidence keeps the whole transaction: a random client MAC and xid, never a REQUEST
    probe = next(p for r in reports if (r.candidate, r.host) == ("01", demo.ROUTER) for p in r.probes
                 if p.transport == "dhcp")
    record = json.loads(probe.stdout)
    assert record["request_sent"] is False and record["xid"].startswith("0x") and len(record["offers"]) == 1
    log = lab.nsenter("c01-routeur", "/usr/bin/journalctl", "-u", "dnsmasq", "--no-pager", "-o", "cat").stdout
    assert f"DHCPDISCOVER(eth1) {record['client_mac']}" in log
    assert "DHCPREQUEST" not in log
