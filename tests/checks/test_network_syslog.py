"""network.syslog_delivered, judged on reports the real collector wrote (data/syslog_*.txt).

syslog_loopback_*: the grader's collector on 127.0.0.1 receiving lines sent here;
syslog_lab_*: the demo room (tests/test_network_lab.py), c01's rsyslog forwarding to
10.77.0.1:514/udp (arrives) and c02's forwarding to port 5514 (never arrives at 514).
"""

from __future__ import annotations

import pytest

from checks.network.syslog import SyslogDelivered, parse_arrivals
from grader.check import TOKEN
from grader.model import ProbeResult, Status


def logger(token: str, exit_code: int = 0, stderr: str = "") -> ProbeResult:
    return ProbeResult("k", "ssh", f"/usr/bin/logger -t grader-probe {token}", stderr=stderr, exit_code=exit_code)


def test_line_arrived_from_the_host(judge, capture):
    r = capture("syslog_loopback_arrived.txt")
    v = judge(SyslogDelivered, {}, logger=logger(r.command), arrival=r)
    assert v.status is Status.CONFORME and "reçue de 127.0.0.1 en udp/" in v.observed


def test_line_never_arrives_shows_what_did(judge, capture):
    r = capture("syslog_loopback_missing.txt")
    v = judge(SyslogDelivered, {}, logger=logger(r.command), arrival=r)
    assert v.status is Status.NON_CONFORME and "n'arrive jamais" in v.message
    assert "autres lignes reçues de 127.0.0.1" in v.observed and "apt-daily" in v.observed


@pytest.mark.parametrize("name,status", [("syslog_lab_c01.txt", Status.CONFORME),
                                         ("syslog_lab_c02.txt", Status.NON_CONFORME)])
def test_lab_reports(judge, capture, name, status):
    r = capture(name)
    v = judge(SyslogDelivered, {}, logger=logger(r.command), arrival=r)
    assert v.status is status
    if status is Status.NON_CONFORME:
        assert "aucune ligne reçue de 10.77.2.10" in v.observed


def test_logger_that_failed_is_erreur(judge, capture):
    r = capture("syslog_loopback_missing.txt")
    v = judge(SyslogDelivered, {}, logger=logger(r.command, 127, "sh: 1: /usr/bin/logger: not found"), arrival=r)
    assert v.status is Status.ERREUR and "logger" in v.message


def test_report_grammar():
    with pytest.raises(ValueError):
        parse_arrivals("jeton sans en-tête\n")
    report = parse_arrivals("écoute udp 0.0.0.0:514 ; source attendue 10.77.1.10 ; attente 5 s\n")
    assert report.lines == () and report.listen == "udp 0.0.0.0:514"


def test_probes_carry_the_run_token_and_are_active():
    probes = SyslogDelivered().probes(SyslogDelivered.Params())
    assert probes["logger"].command == f"/usr/bin/logger -t grader-probe {TOKEN}" and probes["logger"].active
    assert probes["arrival"].transport == "syslog" and probes["arrival"].command == TOKEN
