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


# --- network.syslog_received: the candidate's own collector, read over SSH ---------------------------

TOKEN_SEEN = "3f2a9c01d4e5b677"


def _collector(exit_code: int, stdout: str = "") -> ProbeResult:
    return ProbeResult("c", "ssh_peer", "{}", stdout=stdout, exit_code=exit_code)


RECEIVED = {"collector": "10.77.13.11", "collector_sudo": True, "paths": ["/var/log/distants"]}


def test_received_when_the_collector_wrote_the_line(judge):
    line = f"/var/log/distants/srv-a.log:2026-12-06T19:10:00+00:00 srv-a grader-probe: {TOKEN_SEEN}"
    from checks.network.syslog import SyslogReceived

    v = judge(SyslogReceived, RECEIVED, logger=logger(TOKEN_SEEN), collector=_collector(0, line + "\n"))
    assert v.status is Status.CONFORME and "/var/log/distants/srv-a.log:" in v.observed


def test_not_received_is_non_conforme_and_unreadable_files_are_erreur(judge):
    from checks.network.syslog import SyslogReceived

    v = judge(SyslogReceived, RECEIVED, logger=logger(TOKEN_SEEN), collector=_collector(1))
    assert v.status is Status.NON_CONFORME and "jamais écrite" in v.message
    v = judge(SyslogReceived, RECEIVED, logger=logger(TOKEN_SEEN),
              collector=_collector(2, "# illisibles\n/var/log/syslog\n"))
    assert v.status is Status.ERREUR and "/var/log/syslog" in v.observed
    # a line without the token (a candidate's wrapper printing something) is no proof
    v = judge(SyslogReceived, RECEIVED, logger=logger(TOKEN_SEEN), collector=_collector(0, "/var/log/x:bonjour\n"))
    assert v.status is Status.ERREUR
    v = judge(SyslogReceived, RECEIVED, logger=logger(TOKEN_SEEN, 1, "logger: socket"), collector=_collector(0))
    assert v.status is Status.ERREUR


def test_received_search_runs_on_the_peer_with_the_token_and_quoted_paths():
    import json

    from checks.network.syslog import SyslogReceived

    params = SyslogReceived.Params(collector="10.77.13.11", paths=["/var/log/distants", "/srv/logs"], wait=5,
                                   collector_credential="journaux")
    probes = SyslogReceived().probes(params)
    spec = json.loads(probes["collector"].command)
    assert probes["collector"].transport == "ssh_peer" and spec["host"] == "10.77.13.11"
    assert spec["credential"] == "journaux" and spec["sudo"] is False
    assert TOKEN in spec["command"] and "'/var/log/distants' '/srv/logs'" not in spec["command"]
    assert "/var/log/distants /srv/logs" in spec["command"] and "+ 5 ))" in spec["command"]
    assert TOKEN in probes["logger"].command and probes["logger"].active
    with pytest.raises(ValueError, match="chemin absolu"):
        SyslogReceived.Params(collector="10.77.13.11", paths=["/var/log/*.log"])
    with pytest.raises(ValueError, match="chemin absolu"):
        SyslogReceived.Params(collector="10.77.13.11", paths=["/var/log/../../etc"])


def test_the_search_command_finds_the_token_in_real_files(tmp_path):
    """The shell text itself, run here with /bin/sh on files written as rsyslog writes them."""
    import subprocess
    import time

    from checks.network.syslog import search_command

    (tmp_path / "distants").mkdir()
    (tmp_path / "distants" / "srv-a.log").write_text(f"Dec  6 19:10:00 srv-a grader-probe: {TOKEN_SEEN}\n")
    (tmp_path / "binaire.journal").write_bytes(b"\0\0" + TOKEN_SEEN.encode() + b"\0")
    command = search_command([str(tmp_path)], 1).replace(TOKEN, TOKEN_SEEN)
    done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=10, check=False)
    assert done.returncode == 0 and done.stdout.startswith(f"{tmp_path}/distants/srv-a.log:")
    assert "binaire" not in done.stdout  # binary files (a journal) are not searched
    missing = search_command([str(tmp_path)], 1).replace(TOKEN, "0000000000000000")
    t0 = time.monotonic()
    done = subprocess.run(["/bin/sh", "-c", missing], capture_output=True, text=True, timeout=10, check=False)
    assert done.returncode == 1 and time.monotonic() - t0 >= 1  # it waited its second


def test_the_peer_channel_refuses_the_host_as_its_own_witness_and_undeclared_accounts():
    from grader.errors import CredentialError
    from grader.probes.ssh_peer import on_peer
    from grader.transports.base import HostContext
    from grader.transports.ssh_peer import SshPeerChannel

    host = HostContext(name="srv-a", address="10.77.13.10", platform="linux", port=None, credential=None,
                       credentials={}, options=None)
    probe = on_peer("10.77.13.10", "/usr/bin/true")
    got = SshPeerChannel().collect(host, [probe])
    assert "propre témoin" in got.results[probe.key].error and got.execs == 0
    with pytest.raises(CredentialError, match="non déclarés"):
        SshPeerChannel().collect(host, [on_peer("10.77.13.11", "/usr/bin/true", credential="journaux")])
    with pytest.raises(ValueError, match="adresse"):
        on_peer("10.77.13.11 -oProxyCommand=x", "/usr/bin/true")


def test_a_silent_peer_is_injoignable_alone_and_erreur_among_peers_that_answered(monkeypatch):
    from grader.errors import Unreachable
    from grader.model import Msg
    from grader.probes.ssh_peer import on_peer
    from grader.transports import ssh_peer
    from grader.transports.base import Collected, HostContext

    def fake_collect(self, host, probes):
        if host.address == "10.77.13.13":
            raise Unreachable(Msg("pas de réponse de {address}", address=host.address))
        return Collected({probes[0].key: ProbeResult(probes[0].key, "ssh", probes[0].command, exit_code=0)},
                         login="grader (clé)", execs=1)

    monkeypatch.setattr(ssh_peer.SshChannel, "collect", fake_collect)
    host = HostContext(name="srv-a", address="10.77.13.10", platform="linux", port=None, credential=None,
                       credentials={}, options=None)
    silent, answers = on_peer("10.77.13.13", "/usr/bin/true"), on_peer("10.77.13.11", "/usr/bin/true")
    with pytest.raises(Unreachable, match="10.77.13.13"):
        ssh_peer.SshPeerChannel().collect(host, [silent])
    got = ssh_peer.SshPeerChannel().collect(host, [silent, answers])
    assert got.results[answers.key].exit_code == 0 and got.results[answers.key].key == answers.key
    assert "témoin 10.77.13.13 injoignable" in got.results[silent.key].error
