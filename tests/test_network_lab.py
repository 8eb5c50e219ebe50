"""The network pack on the demo room's real hosts (systemd, rsyslog, net-snmp 5.9 in nspawn).

Syslog, end to end: the grader's collector listens on 10.77.0.1:514/udp from the start of the
run, each srv-lin runs ``logger`` with the run's token over SSH, and the line must arrive from
the host's address. c01 forwards to 10.77.0.1:514/udp (conforme), c02 to port 5514 (the line
never arrives: non_conforme), c03 is down (injoignable, never non_conforme).

SNMP: the real agent of each srv-lin asked by the grader with the community the rubric
names (tssr-ro). c01 answers with its sysLocation/sysContact and ignores a wrong community;
c02's agent only knows ``public`` and listens on 127.0.0.1 only, so it is deaf to the grader:
the host is reached over SSH, so its interfaces are only not read (erreur), while the agent
check, whose rubric states that answering is the fact (``answering_is_the_fact``), is non_conforme.

Routed network (the demo rubric's CP6 checks): each candidate's router between its LAN
(pc-lan) and WAN (srv-wan, the witness); NAT, port forwarding and filtering are proved from
the host on the side the rubric names, the far side's witness reporting the source it saw.

Set GRADER_RECORD_DIR to a directory to keep the channels' outputs (they refresh the recorded
outputs of tests/checks/data/snmp_netsnmp_* and syslog_lab_*).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from grader.check import TOKEN
from grader.model import Status
from grader.plugins import default_catalogue
from grader.roster import Candidate
from grader.rubric import Rubric, load_rubric
from grader.runner import plan, run_jobs

pytestmark = pytest.mark.lab

SYSLOG_RUBRIC = """\
rubric: reseau-journaux
title: Journaux centralisés
variables:
  reseau: {description: réseau du candidat}
credentials:
  correcteur: {username: grader, key_file: KEY}
hosts:
  - name: srv-lin
    role: serveur-linux
    platform: linux
    address: "{{ reseau }}.10"
    credential: correcteur
    sudo: true
    connect_timeout: 3
    options:
      syslog: {listen: 10.77.0.1, port: 514, protocol: udp, wait: 4}
checks:
  - {id: journaux-recus, check: network.syslog_delivered, role: serveur-linux, criterion: CP13.1}
  - {id: rsyslog-conf, check: linux.rsyslog_forward, role: serveur-linux, criterion: CP13.1,
     params: {target: 10.77.0.1, port: 514, protocol: udp}}
"""

CANDIDATES = [Candidate("01", variables={"reseau": "10.77.1"}), Candidate("02", variables={"reseau": "10.77.2"}),
              Candidate("03", variables={"reseau": "10.77.3"})]


def _record(name: str, origin: str, result) -> None:
    target = os.environ.get("GRADER_RECORD_DIR")
    if not target:
        return
    text = (f"# origin: {origin}\n# command: {result.command}\n# exit: {result.exit_code}\n# --- stdout\n{result.stdout}\n"
            f"# --- stderr\n{result.stderr}\n# --- end\n")
    (Path(target) / f"{name}.txt").write_text(text, encoding="utf-8")


def _statuses(reports) -> dict[tuple[str, str], Status]:
    return {(r.candidate, c.check_id): c.status for r in reports for c in r.results}


def test_syslog_delivered_end_to_end(room, tmp_path):
    lab, _ = room
    path = tmp_path / "bareme.yaml"
    path.write_text(SYSLOG_RUBRIC.replace("KEY", str(lab.key_path)), encoding="utf-8")
    rubric = load_rubric(path)  # a trainer's rubric: validated like any other
    jobs = plan(rubric, CANDIDATES, default_catalogue())
    tokens = {j.candidate.id: j.checks[0].probes["arrival"].command for j in jobs}
    assert len(set(tokens.values())) == 3 and TOKEN not in "".join(tokens.values())
    reports = run_jobs(jobs, known_hosts_path=lab.known_hosts_path, workers=3)
    got = _statuses(reports)
    assert got[("01", "journaux-recus")] is Status.CONFORME
    assert got[("02", "journaux-recus")] is Status.NON_CONFORME
    assert got[("03", "journaux-recus")] is Status.INJOIGNABLE
    # the configuration check agrees with the functional one on both reached hosts
    assert got[("01", "rsyslog-conf")] is Status.CONFORME and got[("02", "rsyslog-conf")] is Status.NON_CONFORME
    by_cand = {r.candidate: r for r in reports}
    c01 = next(c for c in by_cand["01"].results if c.check_id == "journaux-recus")
    assert "reçue de 10.77.1.10 en udp/514" in c01.observed and tokens["01"] in c01.observed
    c02 = next(c for c in by_cand["02"].results if c.check_id == "journaux-recus")
    assert "n'arrive jamais" in c02.message and "10.77.2.10" in c02.observed
    assert by_cand["01"].outcome.execs == 1  # the logger rode in the one SSH exec; the collector is grader-side
    for cand in ("01", "02"):
        arrival = next(p for p in by_cand[cand].probes if p.transport == "syslog")
        logger = next(p for p in by_cand[cand].probes if "logger" in p.command)
        assert logger.exit_code == 0
        _record(f"syslog_lab_c{cand}", "report of the grader's collector (10.77.0.1:514/udp, wait 4 s) in the demo "
                f"room: srv-lin of candidate {cand} ran /usr/bin/logger -t grader-probe <token> over SSH", arrival)


def _snmp_rubric(key: Path) -> Rubric:
    """Built without load_rubric: network.* checks declare platform network, the room's hosts are linux.

    (load_rubric refuses a check whose platform differs from its host's; an SNMP agent is a
    network service of any platform — see the closing note.)
    """
    from ruamel.yaml import YAML

    text = textwrap.dedent(f"""\
        rubric: supervision
        title: Supervision SNMP
        variables:
          reseau: {{description: réseau du candidat}}
        credentials:
          correcteur: {{username: grader, key_file: {key}}}
          snmp-ro: {{username: supervision, password_env: GRADER_TEST_SNMP_COMMUNITY}}
        hosts:
          - name: srv-lin
            role: serveur-linux
            platform: linux
            address: "{{{{ reseau }}}}.10"
            credential: correcteur
            sudo: true
            connect_timeout: 3
            options:
              snmp: {{community_credential: snmp-ro, timeout: 1, retries: 1}}
        checks:
          - {{id: agent, check: network.snmp_agent, role: serveur-linux, criterion: CP13.1,
             params: {{sys_location: Salle B12, sys_contact: admin@tssr.lan, answering_is_the_fact: true}}}}
          - {{id: refus, check: network.snmp_refuses, role: serveur-linux, criterion: CP13.1}}
          - {{id: interfaces, check: network.snmp_interfaces, role: serveur-linux, criterion: CP13.1,
             params: {{interfaces: [eth0, lo]}}}}
        """)
    return Rubric.model_validate(dict(YAML(typ="safe").load(text)))


def test_snmp_agents_of_the_room(room, monkeypatch):
    lab, _ = room
    monkeypatch.setenv("GRADER_TEST_SNMP_COMMUNITY", "tssr-ro")
    jobs = plan(_snmp_rubric(lab.key_path), CANDIDATES, default_catalogue())
    reports = run_jobs(jobs, known_hosts_path=lab.known_hosts_path, workers=3)
    got = _statuses(reports)
    assert got[("01", "agent")] is Status.CONFORME
    assert got[("01", "refus")] is Status.CONFORME
    assert got[("01", "interfaces")] is Status.CONFORME
    assert got[("02", "agent")] is Status.NON_CONFORME  # deaf to tssr-ro: its agent only knows public
    assert got[("02", "interfaces")] is Status.ERREUR  # silent to every credential set: values not read
    assert got[("02", "refus")] is Status.ERREUR  # nothing answers at all: no refusal can be proved
    assert {got[("03", c)] for c in ("agent", "refus", "interfaces")} == {Status.INJOIGNABLE}
    by_cand = {r.candidate: r for r in reports}
    c01 = next(c for c in by_cand["01"].results if c.check_id == "agent")
    assert "Salle B12" in c01.observed and "tssr-ro" not in c01.observed
    # one SSH exec (empty batch) plus the SNMP PDUs: 1 GET, a few GETBULK, 1 refusal test
    snmp = [p for p in by_cand["01"].probes if p.transport == "snmp"]
    assert len(snmp) == 3 and by_cand["01"].outcome.execs <= 1 + 6
    for p in snmp:
        if p.command.startswith("get 1.3.6.1.2.1.1.1.0"):
            _record("snmp_netsnmp_c01_system", "the grader's snmp channel (SNMPv2c, community tssr-ro) against net-snmp "
                    "5.9 snmpd of the demo room's c01-srv-lin (Debian 12)", p)
        elif p.command.startswith("walk"):
            _record("snmp_netsnmp_c01_interfaces", "the grader's snmp channel (SNMPv2c, community tssr-ro) against "
                    "net-snmp 5.9 snmpd of the demo room's c01-srv-lin (Debian 12)", p)


NETWORK_HOSTS = ("routeur", "pc-lan", "srv-wan")


def _demo_network_reports(lab):
    import rubrics
    from grader.roster import load_roster

    rubric = load_rubric(rubrics.demo_rubric())
    candidates = load_roster(rubrics.demo_roster(), rubric)
    only = {(c.id, h) for c in candidates for h in NETWORK_HOSTS}
    jobs = plan(rubric, candidates, default_catalogue(), only_hosts=only)
    return run_jobs(jobs, known_hosts_path=lab.known_hosts_path, workers=9)


def test_routed_network_proved_from_both_sides(room):
    from grader.lab import demo

    lab, _ = room
    reports = _demo_network_reports(lab)
    got = {k: v.value for k, v in _statuses(reports).items()}
    want = {(c, k): v for c, checks in demo.PLANTED_TRUTH.items() for k, v in checks.items()
            if (c, k) in got}
    assert got == want and len(got) == 3 * 10  # 5 CP6 checks, the DHCP offer (dhcp-lan), the proxy (proxy-filtrage),
    # the VPN (vpn-tunnel, vpn-lan), pc-lan's lines reaching the candidate's own log server (journaux-serveur-candidat)
    assert {r.host: r.outcome.execs for r in reports if r.candidate == "01"} == {"routeur": 1, "pc-lan": 1, "srv-wan": 1}
    res = {(r.candidate, c.check_id): c for r in reports for c in r.results}
    nat01, nat02 = res[("01", "nat-fonctionne")], res[("02", "nat-fonctionne")]
    assert "le témoin srv-wan (10.77.1.140:7777) a reçu le jeton depuis l'adresse 10.77.1.129" in nat01.observed
    assert "aucune réponse de 10.77.2.140:7777" in nat02.observed and "n'a rien reçu" in nat02.observed
    assert res[("02", "nat-regle")].status is Status.CONFORME  # the rule is there; it just does not work
    assert "le témoin pc-lan a reçu le jeton depuis 10.77.1.140" in res[("01", "redirection-web")].observed
    assert "le port témoin 8080 répond" in res[("01", "filtrage-ssh-wan")].observed
    assert "bannière : SSH-2.0-OpenSSH" in res[("02", "filtrage-ssh-wan")].observed
    assert res[("01", "dns-intranet")].observed == "NOERROR : 10.77.1.10"
    assert "10.77.2.100" in res[("02", "dns-intranet")].observed
    # the token is fresh per host and run: it is in the evidence, and differs between candidates
    tokens = {r.candidate: next(p.command for p in r.probes if "7777" in p.command).split(";")[0]
              for r in reports if r.host == "pc-lan" and r.outcome.reached}
    assert len(set(tokens.values())) == 2 and TOKEN not in "".join(tokens.values())
    assert {res[("03", k)].status for k in ("nat-fonctionne", "redirection-web", "dns-intranet")} == {Status.INJOIGNABLE}


def test_nat_missing_shows_the_lan_source_on_the_wan_side(room):
    """02's router with forwarding on but its masquerade removed: the witness sees the LAN address."""
    lab, _ = room
    router = "c02-routeur"
    lab.nsenter(router, "/usr/sbin/sysctl", "-w", "net.ipv4.ip_forward=1")
    lab.nsenter(router, "/usr/sbin/nft", "flush", "chain", "ip", "nat", "postrouting")
    try:
        reports = [r for r in _demo_network_reports(lab) if r.candidate == "02" and r.host == "pc-lan"]
    finally:
        lab.nsenter(router, "/usr/sbin/sysctl", "-w", "net.ipv4.ip_forward=0")
        assert lab.nsenter(router, "/usr/bin/systemctl", "restart", "nftables").returncode == 0
    nat = next(c for c in reports[0].results if c.check_id == "nat-fonctionne")
    assert nat.status is Status.NON_CONFORME
    assert "depuis l'adresse 10.77.2.70" in nat.observed and "n'est pas traduite" in nat.message
