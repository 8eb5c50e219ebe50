"""Zabbix 6.0 (Debian 12's packages) for real in the lab, graded through its JSON-RPC API with an API token.

Three hosts: ``zbx`` runs the Zabbix server, PostgreSQL, the frontend and its API (HTTPS, the lab
CA's certificate), provisioned once into a cached layer (grader/lab/zabbix.py) with the read-only
account ``grader`` and its API token; and the candidates' machines ``c01-srv`` and ``c02-srv``
run zabbix-agent. Once the server is up, its setup defines both hosts through the API as Admin,
as a candidate would in the frontend: the « Linux by Zabbix agent » template, an SSH service item
(``net.tcp.service[ssh]``, every 5 s), triggers « SSH arrêté » and « HTTP arrêté » (apache2 is off
on both machines, so the second fires where the agent answers).

c01's agent answers the server (``Server=`` its address): every check conforme. c02's agent runs
and is enabled, but its ``Server=`` names another address: its host is defined in Zabbix with its
interface, template and triggers exactly as c01's — a reader of the configuration sees nothing
wrong — and the server marks its agent unavailable (« connection rejected »): the agent, item and
problem checks are non conforme for the reason the server itself gives. A wrong token is erreur,
never non conforme; so is c01's agent once the server is stopped (still green in the database, but
no value arrives any more).

The same server runs Nagios 4 with TCP service checks (SSH on each machine, HTTP on c01):
``supervision.nagios_service`` reads their states from the running daemon's status.dat.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from grader.lab.hosts import HostShell, HostSpec
from grader.model import Status
from grader.plugins import default_catalogue
from grader.roster import Candidate
from grader.rubric import load_rubric
from grader.runner import plan, run_jobs
from tests.conftest import lab_available, locked_lab

pytestmark = [pytest.mark.lab, pytest.mark.own_lab]  # boots its own hosts: after the demo room

SERVER_IP = "10.77.50.10"
AGENTS = {"01": "10.77.50.21", "02": "10.77.50.22"}
WRONG_SERVER = "10.77.50.99"  # c02's agent Server=: a typo a config reader would not catch on the Zabbix side
TEMPLATE = "Linux by Zabbix agent"
STATE: dict[str, float] = {}

RUBRIC = """\
rubric: zabbix-labo
title: Supervision Zabbix et Nagios
variables:
  agent: {{description: "adresse de la machine supervisée du candidat"}}
credentials:
  correcteur: {{username: grader, key_file: "{key}"}}
  jeton-zabbix: {{username: grader, password_file: "{token}"}}
hosts:
  - {{name: zabbix, role: supervision, platform: linux, address: "{ip}", transport: zabbix, credential: jeton-zabbix,
     connect_timeout: 5, budget: 120, options: {{zabbix: {{ca_file: "{ca}"}}}}}}
  - {{name: nagios, role: nagios, platform: linux, address: "{ip}", credential: correcteur, sudo: true,
     connect_timeout: 5, budget: 120}}
checks:
  - {{id: zbx-hote, check: supervision.zabbix_host, role: supervision, criterion: CP13.2,
     params: {{host: "c{{{{ candidat }}}}-srv", address: "{{{{ agent }}}}", templates: ["{template}"]}}}}
  - {{id: zbx-agent, check: supervision.zabbix_agent, role: supervision, criterion: CP13.2,
     params: {{host: "c{{{{ candidat }}}}-srv", max_age: {agent_age}}}}}
  - {{id: zbx-ssh, check: supervision.zabbix_item, role: supervision, criterion: CP13.2,
     params: {{host: "c{{{{ candidat }}}}-srv", key: "net.tcp.service[ssh]", max_age: 60, value: "^1$"}}}}
  - {{id: zbx-declencheur, check: supervision.zabbix_trigger, role: supervision, criterion: CP13.2,
     params: {{host: "c{{{{ candidat }}}}-srv", key: "net.tcp.service[ssh]", trigger: SSH}}}}
  - {{id: zbx-problemes, check: supervision.zabbix_problem, role: supervision, criterion: CP13.2,
     params: {{host: "c{{{{ candidat }}}}-srv", present: [HTTP], absent: [SSH]}}}}
  - {{id: nagios-ssh, check: supervision.nagios_service, role: nagios, criterion: CP13.2,
     params: {{host: "c{{{{ candidat }}}}-srv", service: SSH}}}}
  - {{id: nagios-http, check: supervision.nagios_service, role: nagios, criterion: CP13.2,
     params: {{host: "c{{{{ candidat }}}}-srv", service: HTTP}}}}
"""

EXPECTED = {
    "01": {"zbx-hote": Status.CONFORME, "zbx-agent": Status.CONFORME, "zbx-ssh": Status.CONFORME,
           "zbx-declencheur": Status.CONFORME, "zbx-problemes": Status.CONFORME, "nagios-ssh": Status.CONFORME,
           "nagios-http": Status.NON_CONFORME},
    # defined exactly as 01's, its agent rejecting the server: only what the server concluded differs
    "02": {"zbx-hote": Status.CONFORME, "zbx-agent": Status.NON_CONFORME, "zbx-ssh": Status.NON_CONFORME,
           "zbx-declencheur": Status.CONFORME, "zbx-problemes": Status.NON_CONFORME, "nagios-ssh": Status.CONFORME,
           "nagios-http": Status.NON_CONFORME},
}


def _plant_server(root: Path) -> None:
    from grader.lab import supervision

    supervision.plant_nagios(root, {f"c{c}-srv": ip for c, ip in AGENTS.items()})
    supervision.plant_nagios_services(root, [(f"c{c}-srv", name, port) for c in AGENTS
                                             for name, port in (("SSH", 22), ("HTTP", 80))])


def _setup_server(shell: HostShell) -> None:
    """The candidates' hosts, defined through the API as Admin (as in the frontend)."""
    from grader.lab import zabbix

    started = time.monotonic()
    auth = zabbix.admin_login(shell)
    for candidate, ip in AGENTS.items():
        name = f"c{candidate}-srv"
        zabbix.create_host(
            shell, auth, name, ip, templates=(TEMPLATE,),
            items=({"name": "Service SSH", "key_": "net.tcp.service[ssh]", "value_type": 3, "delay": "5s"},
                   {"name": "Service HTTP", "key_": "net.tcp.service[http]", "value_type": 3, "delay": "5s"}),
            triggers=({"description": "SSH arrêté sur {HOST.NAME}", "priority": 4,
                       "expression": f"last(/{name}/net.tcp.service[ssh])=0"},
                      {"description": "HTTP arrêté sur {HOST.NAME}", "priority": 3,
                       "expression": f"last(/{name}/net.tcp.service[http])=0"}))
    STATE["defined"] = time.monotonic() - started


def _availability(lab) -> dict[str, str]:
    from grader.lab import zabbix

    shell = HostShell("zbx", SERVER_IP, lab.leader("zbx"))
    auth = zabbix.admin_login(shell)
    hosts = zabbix.api(shell, "host.get", {"output": ["host"], "selectInterfaces": ["available"],
                                           "filter": {"host": [f"c{c}-srv" for c in AGENTS]}}, auth)
    return {h["host"]: h["interfaces"][0]["available"] for h in hosts}


def _problems(lab) -> list[str]:
    from grader.lab import zabbix

    shell = HostShell("zbx", SERVER_IP, lab.leader("zbx"))
    return [p["name"] for p in zabbix.api(shell, "problem.get", {"output": ["name"]}, zabbix.admin_login(shell))]


def _wait(predicate, seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if predicate():
            return time.monotonic() - started
        time.sleep(1)
    raise AssertionError(f"délai de {seconds} s dépassé")


def _grade(lab, tmp_path: Path, *, token: Path, agent_age: int = 120,
           capture: bool = False) -> dict[tuple[str, str], object]:
    from grader.lab.samba import ca_path

    path = tmp_path / "bareme.yaml"
    path.write_text(RUBRIC.format(key=lab.key_path, token=token, ip=SERVER_IP, ca=ca_path(lab.state_dir),
                                  template=TEMPLATE, agent_age=agent_age), encoding="utf-8")
    roster = [Candidate(c, variables={"agent": ip}) for c, ip in AGENTS.items()]
    reports = run_jobs(plan(load_rubric(path), roster, default_catalogue()),
                       known_hosts_path=lab.known_hosts_path, workers=2)
    STATE["reports"] = reports  # type: ignore[assignment]
    if capture:
        _capture(reports)
    return {(r.candidate, c.check_id): c for r in reports for c in r.results}


def _capture(reports) -> None:
    """With GRADER_CAPTURE_ZABBIX=<dir>: each probe's answer in tests/checks/data's capture format."""
    where = os.environ.get("GRADER_CAPTURE_ZABBIX")
    if not where:
        return
    for report in reports:
        for probe in report.probes:
            name = f"{report.candidate}-{report.host}-{probe.key}.txt".replace("/", "_")
            Path(where, name).write_text(
                "# origin: tests/test_zabbix_lab.py, Zabbix 6.0.14 / Nagios 4.4.6 from Debian 12 in the lab\n"
                f"# command: {probe.command}\n# exit: {probe.exit_code}\n# --- stdout\n{probe.stdout}\n"
                f"# --- stderr\n{probe.stderr}\n# --- end\n", encoding="utf-8")


def test_zabbix_and_nagios_graded_on_real_servers(tmp_path: Path, monkeypatch):
    if not lab_available():
        pytest.skip("le labo exige root et systemd-nspawn (apt-get install systemd-container)")
    from grader.lab import zabbix

    with locked_lab() as lab:
        monkeypatch.setenv("GRADER_LAB_LOCK_HELD", "1")
        try:
            started = time.monotonic()
            specs = [HostSpec(name="zbx", ip=SERVER_IP, hostname="zabbix", flavor="zabbix", plant=_plant_server,
                             setup=_setup_server)]
            for candidate, ip in AGENTS.items():
                server = SERVER_IP if candidate == "01" else WRONG_SERVER
                name = f"c{candidate}-srv"
                specs.append(HostSpec(name=name, ip=ip, flavor="zabbix-agent",
                                      plant=lambda root, s=server, n=name: zabbix.plant_agent(root, server=s,
                                                                                              hostname=n)))
            lab.up(specs, timeout=180)
            booted = time.monotonic() - started
            # the server's own verdicts: c01 green, c02 red ("1" available, "2" unavailable)
            waited = _wait(lambda: _availability(lab) == {"c01-srv": "1", "c02-srv": "2"}, 120)
            _wait(lambda: any("HTTP arrêté sur c01-srv" == p for p in _problems(lab)), 60)
            got = _grade(lab, tmp_path, token=zabbix.token_path(lab.state_dir), capture=True)
            print(f"\nlabo prêt en {booted:.1f} s, hôtes définis en {STATE['defined']:.1f} s, "
                  f"disponibilités décidées {waited:.1f} s après")
            statuses = {k: v.status for k, v in got.items()}  # type: ignore[attr-defined]
            want = {(c, k): s for c, checks in EXPECTED.items() for k, s in checks.items()}
            assert statuses == want, {k: (v.status, v.message, v.observed) for k, v in got.items()  # type: ignore
                                      if statuses[k] != want[k]}
            agent02 = got[("02", "zbx-agent")]
            assert "indisponible" in agent02.observed and "10.77.50.22:10050" in agent02.observed  # type: ignore
            assert "disponible" in got[("01", "zbx-agent")].observed  # type: ignore[attr-defined]
            assert "Linux by Zabbix agent" in got[("02", "zbx-hote")].observed  # type: ignore[attr-defined]
            assert "TCP CRITICAL - port 80" in got[("01", "nagios-http")].observed  # type: ignore[attr-defined]
            token = zabbix.token_path(lab.state_dir).read_text().strip()
            for report in STATE["reports"]:  # type: ignore[attr-defined]
                for probe in report.probes:
                    assert token not in f"{probe.command}{probe.stdout}{probe.stderr}{probe.error}"
            # a token Zabbix refuses: erreur with Zabbix's words, never non conforme
            wrong = tmp_path / "mauvais-jeton"
            wrong.write_text("0" * 64 + "\n")
            wrong.chmod(0o600)
            refused = _grade(lab, tmp_path, token=wrong)
            for (candidate, check_id), verdict in refused.items():
                if check_id.startswith("zbx-"):
                    assert verdict.status is Status.ERREUR, (check_id, verdict.message)  # type: ignore
                    assert "jeton d'API refusé par Zabbix" in verdict.message  # type: ignore[attr-defined]
            # the server stopped: its database still says c01's agent is green, but no value comes any more
            assert lab.nsenter("zbx", "/usr/bin/systemctl", "stop", "zabbix-server").returncode == 0
            time.sleep(15)
            stopped = _grade(lab, tmp_path, token=zabbix.token_path(lab.state_dir), agent_age=10)
            assert _availability(lab)["c01-srv"] == "1"
            agent01 = stopped[("01", "zbx-agent")]
            assert agent01.status is Status.ERREUR and "ne collecte plus" in agent01.message  # type: ignore
        finally:
            lab.down()
