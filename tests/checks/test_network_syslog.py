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


HEADER = "écoute udp 0.0.0.0:514 ; source attendue 10.77.1.10 ; attente 5 s\n"
TOKEN_LINE = "jeton 2026-11-22T10:00:00.123Z {source}:41234 udp/514 <13>Nov 22 10:00:00 srv-lin grader-probe: 3f2a9c0d11aa4b5c\n"
SATURATED = ("saturé 1203 lignes perdues : 0 portant le jeton, 3 de 10.77.1.10, 1200 non lues (tampon du noyau plein), "
             "0 connexions refusées\n")


def arrival(stdout: str, exit_code: int) -> ProbeResult:
    return ProbeResult("k", "syslog", "3f2a9c0d11aa4b5c", stdout=stdout, exit_code=exit_code)


def test_saturation_line_is_read():
    report = parse_arrivals(HEADER + SATURATED)
    assert report.saturation is not None and report.lines == ()
    assert (report.saturation.lost, report.saturation.host, report.saturation.unread) == (1203, 3, 1200)
    with pytest.raises(ValueError):
        parse_arrivals(HEADER + "saturé beaucoup\n")


def test_collector_that_lost_lines_makes_a_missing_line_erreur_not_non_conforme(judge):
    v = judge(SyslogDelivered, {}, logger=logger("3f2a9c0d11aa4b5c"), arrival=arrival(HEADER + SATURATED, 1))
    assert v.status is Status.ERREUR and "collecteur syslog saturé : 1203 lignes perdues" in v.message
    assert "1200 non lues" in v.message and "aucune ligne reçue de 10.77.1.10" in v.observed
    # arrived from elsewhere only: the host's own line may be among the lost ones
    elsewhere = HEADER + TOKEN_LINE.format(source="10.77.9.9") + SATURATED
    v = judge(SyslogDelivered, {}, logger=logger("3f2a9c0d11aa4b5c"), arrival=arrival(elsewhere, 1))
    assert v.status is Status.ERREUR and "reçue de 10.77.9.9, pas de 10.77.1.10" in v.observed


def test_a_line_that_arrived_stays_conforme_whatever_was_lost(judge):
    stdout = HEADER + TOKEN_LINE.format(source="10.77.1.10") + SATURATED
    v = judge(SyslogDelivered, {}, logger=logger("3f2a9c0d11aa4b5c"), arrival=arrival(stdout, 0))
    assert v.status is Status.CONFORME
