"""pfSense checks (cli channel: console menu option 8, then /bin/cat /conf/config.xml).

Judged on pfsensible/core's recorded config.xml (tests/fixtures/network/pfsense, origin on
its first line); remote syslog, absent from it, is added as pfSense's GUI writes it (as in
test_network_pfsense.py). Then graded end to end: rubric -> runner -> cli channel -> the
pfSense stand-in's menu and shell over a real socket.
"""

from __future__ import annotations

import pytest

from checks.network.pfsense_checks import (
    CHECKS,
    PfDhcpRange,
    PfFilterRule,
    PfOutboundNat,
    PfPortForward,
    PfSyslogRemote,
)
from grader.model import ProbeResult, Status
from tests.cli_standin import FIXTURES, pfsense_firewall

XML = (FIXTURES / "pfsense" / "pfsensible-nat-port-forward.xml").read_text(encoding="utf-8")
DHCP_XML = (FIXTURES / "pfsense" / "pfsensible-dhcp-server.xml").read_text(encoding="utf-8")
WITH_SYSLOG = XML.replace("<ipproto>ipv4</ipproto>",
                          "<ipproto>ipv4</ipproto><enable/><remoteserver>10.0.0.5</remoteserver><logall/>")


def out(text: str) -> ProbeResult:
    return ProbeResult(key="k", transport="cli", command="/bin/cat /conf/config.xml", stdout=text, exit_code=0)


def test_check_ids_and_probe():
    assert [c.id for c in CHECKS] == ["network.pfsense_port_forward", "network.pfsense_outbound_nat",
                                      "network.pfsense_filter", "network.pfsense_dhcp_range",
                                      "network.pfsense_syslog_remote"]
    probe = PfSyslogRemote().probes(PfSyslogRemote.Params(server="10.0.0.5"))["config"]
    assert (probe.transport, probe.command) == ("cli", "/bin/cat /conf/config.xml")


def test_port_forward(judge):
    v = judge(PfPortForward, {"port": 22022, "target": "10.255.1.20", "local_port": 22}, config=out(XML))
    assert v.status is Status.CONFORME
    assert judge(PfPortForward, {"port": 22022, "target": "10.255.1.21"}, config=out(XML)).status is Status.NON_CONFORME
    assert judge(PfPortForward, {"port": 443, "target": "10.255.1.20"}, config=out(XML)).status is Status.NON_CONFORME


def test_syslog_remote(judge):
    assert judge(PfSyslogRemote, {"server": "10.0.0.5"}, config=out(WITH_SYSLOG)).status is Status.CONFORME
    assert judge(PfSyslogRemote, {"server": "10.0.0.5"}, config=out(XML)).status is Status.NON_CONFORME
    assert judge(PfSyslogRemote, {"server": "10.0.0.5", "port": 5514},
                 config=out(WITH_SYSLOG)).status is Status.NON_CONFORME


def test_outbound_filter_dhcp(judge):
    assert judge(PfOutboundNat, {"source": "192.168.1.0/24"}, config=out(XML)).status is Status.CONFORME
    assert judge(PfOutboundNat, {"source": "192.168.1.0/24", "interface": "opt1"},
                 config=out(XML)).status is Status.NON_CONFORME
    assert judge(PfFilterRule, {"interface": "lan", "protocol": "tcp", "port": 22, "allowed": True},
                 config=out(XML)).status is Status.CONFORME
    assert judge(PfFilterRule, {"interface": "lan", "protocol": "udp", "port": 53, "allowed": True},
                 config=out(XML)).status is Status.NON_CONFORME
    assert judge(PfDhcpRange, {"start": "192.168.1.100", "end": "192.168.1.199"},
                 config=out(DHCP_XML)).status is Status.CONFORME
    assert judge(PfDhcpRange, {"interface": "opt1", "start": "10.0.0.100", "end": "10.0.0.150"},
                 config=out(DHCP_XML)).status is Status.NON_CONFORME


@pytest.mark.parametrize("stdout", ["cat: /conf/config.xml: No such file or directory\n", "<pfsense><system>",
                                    "<!DOCTYPE x [<!ENTITY a 'b'>]><pfsense>&a;</pfsense>", "<opnsense/>"])
def test_unreadable_config_is_erreur(judge, stdout):
    assert judge(PfSyslogRemote, {"server": "10.0.0.5"}, config=out(stdout)).status is Status.ERREUR


# --- end to end over the real channel --------------------------------------------------

RUBRIC = """
rubric: test-pfsense
title: Pare-feu pfSense
credentials:
  admin-pf: {username: admin, password_env: GRADER_TEST_PF}
hosts:
  - name: pf
    role: pare-feu
    platform: network
    address: 127.0.0.1
    port: PORT
    transport: cli
    credential: admin-pf
    options: {cli: {dialect: shell, menu: "8"}}
checks:
  - {id: redirection-ssh, check: network.pfsense_port_forward, host: pf, criterion: CP6.1,
     params: {port: 22022, target: 10.255.1.20, local_port: 22}}
  - {id: redirection-web, check: network.pfsense_port_forward, host: pf, criterion: CP6.1,
     params: {port: 443, target: 10.255.1.20}}
  - {id: journaux, check: network.pfsense_syslog_remote, host: pf, criterion: CP6.1, params: {server: 10.0.0.5}}
  - {id: nat-sortant, check: network.pfsense_outbound_nat, host: pf, criterion: CP6.1, params: {source: 192.168.1.0/24}}
"""


@pytest.fixture
def graded(monkeypatch, tmp_path):
    from grader.plugins import default_catalogue
    from grader.roster import Candidate
    from grader.rubric import load_rubric
    from grader.runner import grade_host, plan
    from tests.cli_standin import Standin

    monkeypatch.setenv("GRADER_TEST_PF", "pfsense")

    def run(device):
        with Standin(device) as standin:
            path = tmp_path / "rubric.yaml"
            path.write_text(RUBRIC.replace("PORT", str(standin.port)), encoding="utf-8")
            jobs = plan(load_rubric(path), [Candidate(id="02", name="Yanis", variables={})], default_catalogue())
            return grade_host(jobs[0], tmp_path / "known_hosts"), standin
    return run


def test_graded_through_the_console_menu(graded):
    report, standin = graded(pfsense_firewall(WITH_SYSLOG))
    statuses = {r.check_id: r.status for r in report.results}
    assert statuses == {"redirection-ssh": Status.CONFORME, "redirection-web": Status.NON_CONFORME,
                        "journaux": Status.CONFORME, "nat-sortant": Status.CONFORME}
    assert standin.typed[0] == "8" and standin.counts["connections"] == 1 and standin.counts["shells"] == 1
    assert len(report.probes) == 1 and report.outcome.execs == 1  # one cat for four checks


def test_forged_marker_in_a_description_changes_nothing(graded):
    prompt = pfsense_firewall().prompt
    forged = WITH_SYSLOG.replace("<remoteserver>10.0.0.5</remoteserver>", "<remoteserver>10.0.0.6</remoteserver>")
    forged = forged.replace("<descr><![CDATA[", f"<descr><![CDATA[\n</pfsense>\n{prompt}GRADER00\n{prompt}", 1)
    report, _ = graded(pfsense_firewall(forged, stall_on=prompt))
    statuses = {r.check_id: r.status for r in report.results}
    assert statuses["journaux"] is Status.NON_CONFORME and statuses["redirection-ssh"] is Status.CONFORME


def test_config_missing_is_erreur(graded):
    device = pfsense_firewall()
    device.files = {}
    report, _ = graded(device)
    assert {r.status for r in report.results} == {Status.ERREUR}
