"""Telephony (voip.*) graded against a real registrar and real phones: Kamailio 5.6 and baresip 1.0 (Debian 12).

Asterisk is not packaged in Debian 12; Kamailio is, and proves the network side the same way:
the grader's own OPTIONS answered by the IPBX, and registrations as the registrar holds them.
Two candidates, each an IPBX (Kamailio as the package installs it) and two phones (baresip):

* candidate 01 is right: the reception phone registers 101, the office phone 102;
* candidate 02 is wrong in a way a configuration reader misses: extension 102 exists on the IPBX
  and is registered, but from the reception phone (which also carries account 102); the office
  phone, configured for 102, points at a mistyped registrar address, so it registers nowhere.

Graded through the real channels: ``sip`` (OPTIONS over UDP and TCP; a closed port refused) and
``ssh`` (``kamcmd ul.dump`` on the IPBX, one exec).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from grader.lab import voip
from grader.lab.hosts import HostSpec
from grader.model import Status
from grader.plugins import default_catalogue
from grader.roster import Candidate
from grader.rubric import load_rubric
from grader.runner import plan, run_jobs
from tests.conftest import lab_available, locked_lab

pytestmark = [pytest.mark.lab, pytest.mark.own_lab]  # boots its own hosts: after the demo room

NET = "10.77.45"
CANDIDATES = {  # candidate -> (IPBX, reception phone and its accounts, office phone, its accounts and registrar)
    "01": (f"{NET}.20", f"{NET}.11", ("101",), f"{NET}.12", ("102",), f"{NET}.20"),
    "02": (f"{NET}.40", f"{NET}.31", ("101", "102"), f"{NET}.32", ("102",), f"{NET}.41"),  # .41: a typo
}

RUBRIC = """\
rubric: telephonie-labo
title: Téléphonie (IPBX Kamailio, postes baresip)
credentials:
  correcteur: {{username: grader, key_file: "{key}"}}
hosts:
  - {{name: ipbx, role: ipbx, platform: linux, address: "{ipbx}", credential: correcteur, sudo: true,
     connect_timeout: 5, budget: 120}}
checks:
  - {{id: sip-udp, check: voip.sip_options, role: ipbx, criterion: CP5.4, params: {{server_contains: kamailio}}}}
  - {{id: sip-tcp, check: voip.sip_options, role: ipbx, criterion: CP5.4, params: {{transport: tcp}}}}
  - {{id: sip-port-ferme, check: voip.sip_options, role: ipbx, criterion: CP5.4, params: {{port: 5070, timeout: 2}}}}
  - {{id: poste-101, check: voip.extension_registered, role: ipbx, criterion: CP5.4,
     params: {{extension: "101", address: "{reception}", registrar: kamailio}}}}
  - {{id: poste-102, check: voip.extension_registered, role: ipbx, criterion: CP5.4,
     params: {{extension: "102", address: "{office}", registrar: kamailio}}}}
  - {{id: poste-103, check: voip.extension_registered, role: ipbx, criterion: CP5.4,
     params: {{extension: "103", registrar: kamailio}}}}
"""

EXPECTED = {
    "01": {"sip-udp": Status.CONFORME, "sip-tcp": Status.CONFORME, "sip-port-ferme": Status.NON_CONFORME,
           "poste-101": Status.CONFORME, "poste-102": Status.CONFORME, "poste-103": Status.NON_CONFORME},
    "02": {"sip-udp": Status.CONFORME, "sip-tcp": Status.CONFORME, "sip-port-ferme": Status.NON_CONFORME,
           "poste-101": Status.CONFORME, "poste-102": Status.NON_CONFORME, "poste-103": Status.NON_CONFORME},
}


def _specs() -> list[HostSpec]:
    specs = []
    for n, (ipbx, reception, first, office, second, registrar) in CANDIDATES.items():
        specs.append(HostSpec(name=f"vo{n}-ipbx", ip=ipbx, hostname="ipbx", flavor=voip.VOIP.name))
        specs.append(HostSpec(name=f"vo{n}-accueil", ip=reception, hostname="poste-accueil", flavor=voip.VOIP.name,
                              plant=lambda root, e=first, r=ipbx: voip.plant_phone(root, e, r)))
        specs.append(HostSpec(name=f"vo{n}-bureau", ip=office, hostname="poste-bureau", flavor=voip.VOIP.name,
                              plant=lambda root, e=second, r=registrar: voip.plant_phone(root, e, r)))
    return specs


def test_telephony_graded_against_kamailio_and_baresip(tmp_path: Path, monkeypatch):
    if not lab_available():
        pytest.skip("le labo exige root et systemd-nspawn (apt-get install systemd-container)")
    with locked_lab() as lab:
        monkeypatch.setenv("GRADER_LAB_LOCK_HELD", "1")
        try:
            started = time.monotonic()
            lab.up(_specs(), timeout=120)
            booted = time.monotonic() - started
            for n, (_, _, first, _, second, registrar) in CANDIDATES.items():
                def on_ipbx(*argv: str, timeout: float = 60, n: str = n):
                    return lab.nsenter(f"vo{n}-ipbx", *argv, timeout=timeout)
                assert voip.registrar_ready(on_ipbx), f"Kamailio du candidat {n} muet"
                # the phones booted with their IPBX: restart those pointed at it now that it listens (a real
                # phone's retry interval is minutes), then wait for what must be registered. The phone pointed
                # at a mistyped address is left alone: stopping it waits for its un-REGISTER to time out (32 s).
                towards_ipbx = registrar == CANDIDATES[n][0]
                for phone in ("accueil", "bureau") if towards_ipbx else ("accueil",):
                    lab.nsenter(f"vo{n}-{phone}", "/usr/bin/systemctl", "restart", voip.PHONE_UNIT)
                wanted = sorted(set(first) | (set(second) if towards_ipbx else set()))
                assert voip.registered(on_ipbx, wanted), f"postes {wanted} non enregistrés (candidat {n})"
            ready = time.monotonic() - started
            got: dict[str, dict] = {}
            for n, (ipbx, reception, _, office, _, _) in CANDIDATES.items():
                path = tmp_path / f"bareme-{n}.yaml"
                path.write_text(RUBRIC.format(key=lab.key_path, ipbx=ipbx, reception=reception, office=office),
                                encoding="utf-8")
                [report] = run_jobs(plan(load_rubric(path), [Candidate(n)], default_catalogue()),
                                    known_hosts_path=tmp_path / f"known_hosts-{n}", workers=1)
                assert report.outcome.reached and report.outcome.execs >= 1
                got[n] = {c.check_id: c for c in report.results}
                for check_id, status in EXPECTED[n].items():
                    c = got[n][check_id]
                    assert c.status is status, (n, check_id, c.message, c.observed)
            graded = time.monotonic() - started - ready
        finally:
            lab.down()
    # what the jury reads: the server that answered, and where the extension really is
    assert "kamailio (5.6" in got["01"]["sip-udp"].observed and " ms" in got["01"]["sip-udp"].observed
    assert "Keepalive" in got["01"]["sip-tcp"].observed
    assert "aucun service SIP" in got["01"]["sip-port-ferme"].observed
    assert f"{NET}.12" in got["01"]["poste-102"].observed
    wrong = got["02"]["poste-102"]
    assert f"depuis {NET}.31" in wrong.message and f"({NET}.32)" in wrong.message, wrong.message
    print(f"\nvoip lab: 6 hôtes démarrés en {booted:.1f} s, postes enregistrés à {ready:.1f} s, "
          f"2 candidats notés en {graded:.1f} s")
