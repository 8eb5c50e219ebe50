"""Site-to-site IPsec between two real strongSwan 5.9 routers (charon-systemd, swanctl), graded over SSH.

Two sites: rt-a (LAN A 10.77.47.64/27) and rt-b (LAN B 10.77.48.64/27) joined by a WAN
(10.77.47.128/27); srv-b on LAN B runs the witness. Each router's swanctl.conf is what a
candidate writes (IKEv2, PSK, one tunnel-mode CHILD SA LAN A <-> LAN B); this kernel has no
ESP, so charon carries ESP itself (kernel-libipsec, see :mod:`grader.lab.ipsec`).

* the SA is established, its CHILD SA installed with the two LANs: ``vpn.ipsec_sa`` conforme;
  a rubric expecting another remote LAN: non conforme;
* rt-a's connection to srv-b's witness arrives from rt-a's LAN A address and the CHILD SA
  counts its packets: ``vpn.ipsec_lan_to_lan`` conforme;
* then the SA is torn down and the two LANs routed to each other in the clear over the WAN:
  the witness still sees the LAN A address (what a reader of the configuration, or the witness
  alone, would take for the tunnel), but no SA counts it: non conforme; ``vpn.ipsec_sa`` too;
* last, charon stopped: ``swanctl`` finds no VICI socket, ``vpn.ipsec_sa`` is non conforme.

Set GRADER_RECORD_DIR to keep the real ``swanctl --list-sas`` outputs (tests/checks/data/ipsec_*).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from grader.lab import ipsec, router
from grader.lab.hosts import HostShell, HostSpec, Link, then
from grader.model import Status
from grader.plugins import default_catalogue
from grader.roster import Candidate
from grader.rubric import load_rubric
from grader.runner import plan, run_jobs
from tests.conftest import own_hosts

pytestmark = [pytest.mark.lab, pytest.mark.own_lab]  # boots its own hosts: after the demo room

LAN_A, LAN_B, WAN = "10.77.47.64/27", "10.77.48.64/27", "10.77.47.128/27"
RT_A_LAN, RT_B_LAN, RT_A_WAN, RT_B_WAN, SRV_B = "10.77.47.65", "10.77.48.65", "10.77.47.129", "10.77.47.130", "10.77.48.70"
PSK = "Cle-Partagee-Site-2026"

RUBRIC = """\
rubric: ipsec-labo
title: IPsec site à site
credentials:
  correcteur: {{username: grader, key_file: "{key}"}}
hosts:
  - {{name: rt-a, role: routeur, platform: linux, address: 10.77.47.2, credential: correcteur, sudo: true,
     connect_timeout: 5}}
checks:
  - {{id: sa, check: vpn.ipsec_sa, role: routeur, criterion: CP12.1,
     params: {{peer: {peer}, peer_id: rt-b, local_ts: ["{lan_a}"], remote_ts: ["{lan_b}"]}}}}
  - {{id: sa-autre-lan, check: vpn.ipsec_sa, role: routeur, criterion: CP12.1,
     params: {{peer: {peer}, local_ts: ["{lan_a}"], remote_ts: [10.77.49.0/24]}}}}
  - {{id: lan-a-lan, check: vpn.ipsec_lan_to_lan, role: routeur, criterion: CP12.1,
     params: {{witness: {witness}, server: srv-b, local_ts: ["{lan_a}"]}}}}
"""


def _record(name: str, origin: str, result) -> None:
    """A probe's result in tests/checks/data's capture format (see tests/checks/conftest.py)."""
    target = os.environ.get("GRADER_RECORD_DIR")
    if target:
        (Path(target) / f"{name}.txt").write_text(
            f"# origin: {origin}\n# command: {result.command}\n# exit: {result.exit_code}\n# --- stdout\n"
            f"{result.stdout}\n# --- stderr\n{result.stderr}\n# --- end\n", encoding="utf-8")


def _established(shell: HostShell, limit: float = 90.0) -> None:
    """Wait until rt-a's CHILD SA is installed, initiating it again while it is not.

    rt-b may start its charon after rt-a's first IKE_SA_INIT, and charon then waits out its
    retransmission back-off (4 s, 7 s, 13 s, 23 s...): ``swanctl --initiate`` asks at once, as an
    administrator would. On the exam's routers the tunnel has been up long before the grading.
    """
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if "INSTALLED" in shell.run("/usr/sbin/swanctl", "--list-sas", timeout=10).stdout:
            return
        shell.run("/usr/sbin/swanctl", "--initiate", "--child", ipsec.CHILD, "--timeout", "10", timeout=20)
        time.sleep(1)


def _site(side: str) -> HostSpec:
    a = side == "a"
    conf = {"local": RT_A_WAN if a else RT_B_WAN, "remote": RT_B_WAN if a else RT_A_WAN,
            "local_id": f"rt-{side}", "remote_id": "rt-b" if a else "rt-a", "local_lan": LAN_A if a else LAN_B,
            "remote_lan": LAN_B if a else LAN_A, "psk": PSK, "initiator": a}

    def plant(root: Path) -> None:
        (root / "etc/sysctl.d").mkdir(parents=True, exist_ok=True)
        (root / "etc/sysctl.d/99-routeur.conf").write_text("net.ipv4.ip_forward = 1\n")
        ipsec.plant_site(root, **conf)

    setup = then(router.apply_sysctl, _established) if a else router.apply_sysctl
    lan = "s2s-lana" if a else "s2s-lanb"
    return HostSpec(name=f"ip-rt-{side}", ip="10.77.47.2" if a else "10.77.48.2", hostname=f"rt-{side}",
                    flavor=ipsec.SITE_ROUTER.name, tun=True, plant=plant, setup=setup,
                    links=(Link("eth1", lan, f"{RT_A_LAN if a else RT_B_LAN}/27"),
                           Link("eth2", "s2s-wan", f"{RT_A_WAN if a else RT_B_WAN}/27")))


def _grade(lab, tmp_path: Path, record: str) -> dict:
    path = tmp_path / "bareme.yaml"
    path.write_text(RUBRIC.format(key=lab.key_path, peer=RT_B_WAN, lan_a=LAN_A, lan_b=LAN_B, witness=SRV_B),
                    encoding="utf-8")
    jobs = plan(load_rubric(path), [Candidate("01")], default_catalogue())
    [report] = run_jobs(jobs, known_hosts_path=tmp_path / "known_hosts", workers=1)
    assert report.outcome.reached and report.outcome.execs == 1
    for probe in report.probes:
        kind = "lan_to_lan" if "/dev/tcp" in probe.command else "list_sas"
        _record(f"ipsec_{kind}_{record}", f"rt-a of tests/test_ipsec_lab.py ({record}), strongSwan 5.9.8 "
                "(Debian 12, charon-systemd, kernel-libipsec), through the grader's SSH batch", probe)
    return {c.check_id: c for c in report.results}


def test_site_to_site_ipsec_proved_by_the_sas_counters(tmp_path: Path, monkeypatch):
    started = time.monotonic()
    specs = [_site("b"),
             HostSpec(name="ip-srv-b", ip="10.77.48.10", hostname="srv-b", plant=router.plant_witness,
                      links=(Link("eth1", "s2s-lanb", f"{SRV_B}/27"),), routes=((LAN_A, RT_B_LAN),)),
             _site("a")]
    with own_hosts(specs, monkeypatch) as lab:
        print(f"lock, boot and SA in {time.monotonic() - started:.1f} s")
        sas = lab.nsenter("ip-rt-a", "/usr/sbin/swanctl", "--list-sas")
        assert "INSTALLED" in sas.stdout, (sas.stdout, sas.stderr)
        got = _grade(lab, tmp_path, "tunnel")
        assert got["sa"].status is Status.CONFORME, (got["sa"].message, got["sa"].observed)
        assert "rt-b @ 10.77.47.130" in got["sa"].observed and "10.77.47.64/27 <-> 10.77.48.64/27" in got["sa"].observed
        assert got["sa-autre-lan"].status is Status.NON_CONFORME
        tunnel = got["lan-a-lan"]
        assert tunnel.status is Status.CONFORME, (tunnel.message, tunnel.observed)
        assert f"depuis l'adresse {RT_A_LAN}" in tunnel.observed and "paquets sortis" in tunnel.observed

        # the SA gone, the LANs routed to each other in the clear: same source at the witness, no SA
        down = lab.nsenter("ip-rt-a", "/usr/sbin/swanctl", "--terminate", "--ike", ipsec.CONNECTION)
        assert down.returncode == 0, down.stdout + down.stderr
        for host, lan, via, src in (("ip-rt-a", LAN_B, RT_B_WAN, RT_A_LAN), ("ip-rt-b", LAN_A, RT_A_WAN, RT_B_LAN)):
            routed = lab.nsenter(host, "/usr/sbin/ip", "route", "replace", lan, "via", via, "src", src)
            assert routed.returncode == 0, routed.stderr
        got = _grade(lab, tmp_path, "clear")
        clear = got["lan-a-lan"]
        assert clear.status is Status.NON_CONFORME, (clear.message, clear.observed)
        assert f"depuis l'adresse {RT_A_LAN}" in clear.observed and "en clair" in clear.message
        assert got["sa"].status is Status.NON_CONFORME

        # charon stopped: swanctl cannot reach its VICI socket, which is the fact (no SA can exist)
        stop = lab.nsenter("ip-rt-a", "/usr/bin/systemctl", "stop", "strongswan")
        assert stop.returncode == 0, stop.stderr
        got = _grade(lab, tmp_path, "stopped")
        assert got["sa"].status is Status.NON_CONFORME and "VICI" in got["sa"].observed, got["sa"].observed
