"""The remote worker's VPN and the Nagios supervision server, graded on the demo room's real hosts.

Each candidate's router runs an OpenVPN server (systemd's openvpn-server@tssr in nspawn, tun
bound in), srv-wan is the remote worker whose tunnel comes up at boot, srv-lin runs Nagios 4.
c01: tunnel up, its LAN route pushed, pc-lan's witness sees the worker's tunnel address;
Nagios loaded srv-lin, routeur and dc. c02: tunnel up but no route pushed, so the worker
reaches pc-lan through another interface (the witness sees that source: non_conforme); Nagios
without the DC. c03: down (injoignable). Then, for real, what an adversarial state looks like:
the VPN server stopped and a persistent tun left in its place, Nagios killed with its
status.dat left behind. Both are restored before the test ends (the room is shared).
"""

from __future__ import annotations

import time

import pytest

from grader.model import Status
from grader.plugins import default_catalogue
from grader.rubric import load_rubric
from grader.runner import plan, run_jobs

pytestmark = pytest.mark.lab


def _grade(lab, ids: tuple[str, ...], candidates=("01", "02", "03")):
    import rubrics
    from grader.roster import load_roster

    rubric = load_rubric(rubrics.demo_rubric())
    rubric = rubric.model_copy(update={"checks": [c for c in rubric.checks if c.id in ids]})
    roster = [c for c in load_roster(rubrics.demo_roster(), rubric) if c.id in candidates]
    reports = run_jobs(plan(rubric, roster, default_catalogue()), known_hosts_path=lab.known_hosts_path, workers=6)
    return {(r.candidate, c.check_id): c for r in reports for c in r.results}, reports


def _wait(predicate, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def _client_listed(lab, router: str) -> bool:
    from grader.lab import vpn

    proc = lab.nsenter(router, "/bin/cat", vpn.STATUS_FILE)
    return proc.returncode == 0 and f"CLIENT_LIST,{vpn.CLIENT_NAME}," in proc.stdout


def test_demo_truth_and_evidence(room):
    from grader.lab import demo

    lab, _ = room
    assert _wait(lambda: _client_listed(lab, "c01-routeur") and _client_listed(lab, "c02-routeur"))
    got, reports = _grade(lab, demo.VPN_CHECK_IDS)
    want = {(c, k): demo.PLANTED_TRUTH[c][k] for c in ("01", "02", "03") for k in demo.VPN_CHECK_IDS}
    assert {k: v.status.value for k, v in got.items()} == want
    tunnel01, tunnel02 = got[("01", "vpn-tunnel")], got[("02", "vpn-tunnel")]
    assert "tun0 (active, 10.77.1.193/27)" in tunnel01.observed and "teletravailleur depuis 10.77.1.140:" in tunnel01.observed
    assert "teletravailleur depuis 10.77.2.140:" in tunnel02.observed  # 02's tunnel is up: its LAN is not reached
    lan01, lan02 = got[("01", "vpn-lan")], got[("02", "vpn-lan")]
    assert "interface tun0 via 10.77.1.193" in lan01.observed
    assert "le témoin pc-lan (10.77.1.70:7777) a reçu le jeton depuis l'adresse 10.77.1.19" in lan01.observed
    assert "interface eth0" in lan02.observed and "depuis l'adresse 10.77.2.40" in lan02.observed
    assert "pas depuis l'adresse du tunnel" in lan02.message
    nagios01, nagios02 = got[("01", "supervision-hotes")], got[("02", "supervision-hotes")]
    assert "dc (10.77.1.20)" in nagios01.observed and "Nagios en marche (pid" in nagios01.observed
    assert nagios02.message.endswith("10.77.2.20.") and "routeur (10.77.2.2)" in nagios02.observed
    assert {got[("03", k)].status for k in demo.VPN_CHECK_IDS} == {Status.INJOIGNABLE}
    # one SSH exec per host, the connection probe recorded as active
    by_host = {(r.candidate, r.host): r for r in reports}
    assert by_host[("01", "srv-wan")].outcome.execs == 1
    assert any("/dev/tcp" in p.command for p in by_host[("01", "srv-wan")].probes)


def test_a_stopped_vpn_server_with_a_tun_left_in_its_place(room):
    """The server stopped and tun0 recreated by hand (up, addressed, held by nobody): non_conforme."""
    lab, _ = room
    router, worker = "c01-routeur", "c01-srv-wan"
    assert lab.nsenter(router, "/usr/bin/systemctl", "stop", "openvpn-server@tssr").returncode == 0
    try:
        for argv in (("tuntap", "add", "dev", "tun0", "mode", "tun"), ("addr", "add", "10.77.1.193/27", "dev", "tun0"),
                     ("link", "set", "tun0", "up")):
            assert lab.nsenter(router, "/usr/sbin/ip", *argv).returncode == 0
        got, _ = _grade(lab, ("vpn-tunnel", "vpn-lan"), candidates=("01",))
    finally:
        lab.nsenter(router, "/usr/sbin/ip", "tuntap", "del", "dev", "tun0", "mode", "tun")
        assert lab.nsenter(router, "/usr/bin/systemctl", "start", "openvpn-server@tssr").returncode == 0
        assert lab.nsenter(worker, "/usr/bin/systemctl", "restart", "openvpn-client@teletravail").returncode == 0
        assert _wait(lambda: _client_listed(lab, router))
    tunnel = got[("01", "vpn-tunnel")]
    assert tunnel.status is Status.NON_CONFORME and "tun0 (active, sans porteuse" in tunnel.observed
    lan = got[("01", "vpn-lan")]
    assert lan.status is Status.NON_CONFORME  # dropped in the dead tunnel, or arrived by another path


def test_a_killed_nagios_leaves_a_status_file_that_proves_nothing(room):
    lab, _ = room
    host = "c01-srv-lin"
    assert lab.nsenter(host, "/usr/bin/systemctl", "kill", "--signal=KILL", "nagios4").returncode == 0
    try:
        assert _wait(lambda: lab.nsenter(host, "/usr/bin/pgrep", "-x", "nagios4").returncode == 1, 10)
        assert lab.nsenter(host, "/bin/grep", "-c", "host_name=dc", "/var/lib/nagios4/status.dat").returncode == 0
        got, _ = _grade(lab, ("supervision-hotes",), candidates=("01",))
    finally:
        lab.nsenter(host, "/usr/bin/systemctl", "reset-failed", "nagios4")
        assert lab.nsenter(host, "/usr/bin/systemctl", "start", "nagios4").returncode == 0
        assert _wait(lambda: lab.nsenter(host, "/usr/bin/pgrep", "-x", "nagios4").returncode == 0, 10)
    verdict = got[("01", "supervision-hotes")]
    assert verdict.status is Status.NON_CONFORME
    assert "aucun processus Nagios" in verdict.observed and "démon arrêté" in verdict.message
