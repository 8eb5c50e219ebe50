"""The cross-host functional checks' judges on probe outputs: "network.nat_works",
"network.port_forward", "network.port_filtered" and "network.dns_resolves".

The outputs are those the probes print on the demo room's hosts (bash ``/dev/tcp`` under
``timeout``, the witness's ``TEMOIN`` line); the lab tests in test_network_lab.py produce them
for real.
"""

from __future__ import annotations

import json

import pytest

from checks.network.reach import DnsResolves, NatWorks, PortFiltered, PortForward, connect_probe, parse_connection
from grader.check import TOKEN, evaluate
from grader.model import ProbeResult, Status
from grader.probes.dns import query

TOK = "0123456789abcdef"


def _conn(stdout: str, *, token: bool = True, address: str = "10.77.1.140", port: int = 7777) -> ProbeResult:
    probe = connect_probe(address, port, send_token=token)
    command = probe.command.replace(TOKEN, TOK)
    return ProbeResult(probe.key, "ssh", command, stdout=stdout, exit_code=0)


def _judge(check, params: dict, **results):
    cls = type(check)
    p = cls.Params(**params)
    names = set(cls().probes(p))
    assert names == set(results)
    return evaluate(check, p, results)


def test_connect_probe_is_an_active_probe_with_absolute_paths_and_the_token():
    probe = connect_probe("10.77.1.140", 7777)
    assert probe.active and probe.transport == "ssh" and TOKEN in probe.command
    assert probe.command.startswith(f"J={TOKEN}; {{ /usr/bin/timeout 3 /bin/bash -c ")
    assert "'10.77.1.140' 7777" in probe.command or "10.77.1.140 7777" in probe.command
    assert TOKEN not in connect_probe("10.77.1.129", 22, send_token=False).command
    assert connect_probe("h; rm -rf /", 1).command.count("'h; rm -rf /'") == 1  # quoted, never interpolated


def test_parse_connection():
    c = parse_connection(_conn(f"@connecte\nTEMOIN srv-wan 10.77.1.129 {TOK}\n@code 0\n"))
    assert c.connected and c.code == 0 and c.token == TOK and c.witness() == ("srv-wan", "10.77.1.129", TOK)
    c = parse_connection(_conn("_: connect: Connection refused\n_: line 1: /dev/tcp/10.77.1.140/7777: Connection "
                               "refused\n@code 111\n"))
    assert c.failed and not c.connected and c.error_text() == "Connection refused"
    assert parse_connection(_conn("@code 124\n")).dropped


def test_nat_works():
    params = {"witness": "10.77.1.140", "source": "10.77.1.129"}
    ok = _judge(NatWorks(), params, connexion=_conn(f"@connecte\nTEMOIN srv-wan 10.77.1.129 {TOK}\n@code 0\n"))
    assert ok.status is Status.CONFORME and "depuis l'adresse 10.77.1.129" in ok.observed
    untranslated = _judge(NatWorks(), params, connexion=_conn(f"@connecte\nTEMOIN srv-wan 10.77.1.70 {TOK}\n@code 0\n"))
    assert untranslated.status is Status.NON_CONFORME and "10.77.1.70" in untranslated.observed
    assert "n'est pas traduite" in untranslated.message
    nothing = _judge(NatWorks(), params, connexion=_conn("@code 124\n"))
    assert nothing.status is Status.NON_CONFORME and "n'a rien reçu" in nothing.observed
    refused = _judge(NatWorks(), params, connexion=_conn("_: connect: No route to host\n@code 111\n"))
    assert refused.status is Status.NON_CONFORME and "No route to host" in refused.observed
    # an answer without the run's token is not the witness: we cannot tell
    stale = _judge(NatWorks(), params, connexion=_conn("@connecte\nTEMOIN srv-wan 10.77.1.129 deadbeef\n@code 0\n"))
    assert stale.status is Status.ERREUR
    other = _judge(NatWorks(), params, connexion=_conn("@connecte\nSSH-2.0-OpenSSH_9.2p1\n@code 124\n"))
    assert other.status is Status.ERREUR


def test_port_forward():
    params = {"address": "10.77.1.129", "port": 8080, "server": "pc-lan"}
    out = f"@connecte\nTEMOIN pc-lan 10.77.1.140 {TOK}\n@code 0\n"
    ok = _judge(PortForward(), params, connexion=_conn(out, address="10.77.1.129", port=8080))
    assert ok.status is Status.CONFORME and "le témoin pc-lan a reçu le jeton" in ok.observed
    wrong = _judge(PortForward(), params, connexion=_conn(f"@connecte\nTEMOIN routeur 10.77.1.140 {TOK}\n@code 0\n"))
    assert wrong.status is Status.NON_CONFORME
    dropped = _judge(PortForward(), params, connexion=_conn("@code 124\n"))
    assert dropped.status is Status.NON_CONFORME and "aucune réponse" in dropped.observed
    banner = _judge(PortForward(), {**params, "expect": "SSH-2.0"}, connexion=_conn("@connecte\nSSH-2.0-OpenSSH\n@code 124\n"))
    assert banner.status is Status.CONFORME


def test_port_filtered():
    params = {"address": "10.77.1.129", "port": 22, "control_port": 8080}
    control_ok = _conn(f"@connecte\nTEMOIN pc-lan 10.77.1.140 {TOK}\n@code 0\n", token=False)
    ok = _judge(PortFiltered(), params, connexion=_conn("@code 124\n", token=False), controle=control_ok)
    assert ok.status is Status.CONFORME and "le port témoin 8080 répond" in ok.observed
    refused = _judge(PortFiltered(), {"address": "10.77.1.129", "port": 22},
                     connexion=_conn("_: connect: Connection refused\n@code 111\n", token=False))
    assert refused.status is Status.CONFORME and "Connection refused" in refused.observed
    open_ = _judge(PortFiltered(), params, connexion=_conn("@connecte\nSSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\n@code 124\n",
                                                           token=False), controle=control_ok)
    assert open_.status is Status.NON_CONFORME and "bannière : SSH-2.0-OpenSSH_9.2p1" in open_.observed
    # silence everywhere: the host may simply be off, no filter is proved
    off = _judge(PortFiltered(), params, connexion=_conn("@code 124\n", token=False),
                 controle=_conn("@code 124\n", token=False))
    assert off.status is Status.ERREUR and "hôte éteint" in off.message


def _dns(answers: list[tuple[str, str]], rcode: str = "NOERROR") -> ProbeResult:
    probe = query("intranet.tssr.lan", "A")
    out = {"rcode": rcode, "authoritative": False,
           "answers": [{"name": "intranet.tssr.lan.", "type": t, "ttl": 0, "value": v} for t, v in answers]}
    return ProbeResult(probe.key, "dns", probe.command, stdout=json.dumps(out), exit_code=0 if rcode == "NOERROR" else 3)


def test_dns_resolves():
    params = {"name": "intranet.tssr.lan", "address": "10.77.1.10"}
    assert _judge(DnsResolves(), params, dns=_dns([("A", "10.77.1.10")])).status is Status.CONFORME
    wrong = _judge(DnsResolves(), params, dns=_dns([("A", "10.77.1.100")]))
    assert wrong.status is Status.NON_CONFORME and "10.77.1.100" in wrong.observed
    assert _judge(DnsResolves(), params, dns=_dns([], "NXDOMAIN")).status is Status.NON_CONFORME


REFUSED = "_: connect: Connection refused\n_: line 1: /dev/tcp/10.77.1.140/7777: Connection refused\n@code 111\n"


def test_nat_works_a_refusal_may_come_from_a_witness_that_is_down():
    # the witness host answers RST when its service is down: the candidate's router is not to blame
    params = {"witness": "10.77.1.140", "source": "10.77.1.129"}
    v = _judge(NatWorks(), params, connexion=_conn(REFUSED))
    assert v.status is Status.ERREUR and "Connection refused" in v.observed and "témoin" in v.message


def test_nat_works_control_connection_to_the_witness_host():
    params = {"witness": "10.77.1.140", "source": "10.77.1.129", "control_port": 22}
    assert set(NatWorks().probes(NatWorks.Params(**params))) == {"connexion", "controle"}
    control = NatWorks().probes(NatWorks.Params(**params))["controle"]
    assert control.active and TOKEN not in control.command
    assert control.command == connect_probe("10.77.1.140", 22, send_token=False).command
    ssh_ok = _conn("@connecte\nSSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\n@code 124\n", token=False, port=22)
    # the witness host is reached through the router, its witness is not: the witness is down
    v = _judge(NatWorks(), params, connexion=_conn(REFUSED), controle=ssh_ok)
    assert v.status is Status.ERREUR and "10.77.1.140:22" in v.message and "Connection refused" in v.observed
    v = _judge(NatWorks(), params, connexion=_conn("@code 124\n"), controle=ssh_ok)
    assert v.status is Status.ERREUR
    # nothing reaches the witness host at all: the way out is broken
    for failed in (REFUSED, "@code 124\n"):
        v = _judge(NatWorks(), params, connexion=_conn(failed), controle=_conn(failed, token=False, port=22))
        assert v.status is Status.NON_CONFORME and "10.77.1.140:22" in v.observed, failed
    # the witness answered: the control changes nothing
    ok = _judge(NatWorks(), params, connexion=_conn(f"@connecte\nTEMOIN srv-wan 10.77.1.129 {TOK}\n@code 0\n"),
                controle=ssh_ok)
    assert ok.status is Status.CONFORME
    # an interrupted control proves nothing either way
    v = _judge(NatWorks(), params, connexion=_conn("@code 124\n"), controle=_conn("", token=False, port=22))
    assert v.status is Status.ERREUR


@pytest.mark.parametrize("stdout", ["", "@code 1\n", "@code 0\n", "@code 137\n", "Killed\n@code 137\n",
                                    "_: line 1: /usr/bin/timeout: No such file or directory\n@code 127\n"])
def test_an_interrupted_connection_probe_is_erreur(stdout):
    nat = {"witness": "10.77.1.140", "source": "10.77.1.129"}
    assert _judge(NatWorks(), nat, connexion=_conn(stdout)).status is Status.ERREUR, stdout
    forward = {"address": "10.77.1.129", "port": 8080, "server": "pc-lan"}
    assert _judge(PortForward(), forward, connexion=_conn(stdout)).status is Status.ERREUR, stdout
    filtered = {"address": "10.77.1.129", "port": 22}
    assert _judge(PortFiltered(), filtered, connexion=_conn(stdout, token=False)).status is Status.ERREUR, stdout


def test_each_check_connects_where_its_parameters_say():
    nat = NatWorks.Params(witness="10.77.1.140", source="10.77.1.129", port=7777, control_port=22, timeout=4)
    probes = NatWorks().probes(nat)
    assert probes["connexion"] == connect_probe("10.77.1.140", 7777, 4)
    assert probes["controle"] == connect_probe("10.77.1.140", 22, 4, send_token=False)
    forward = PortForward.Params(address="10.77.1.129", port=8080, server="pc-lan", timeout=5)
    assert PortForward().probes(forward)["connexion"] == connect_probe("10.77.1.129", 8080, 5)
    filtered = PortFiltered.Params(address="10.77.1.129", port=22, control_port=8080, timeout=2)
    assert PortFiltered().probes(filtered) == {"connexion": connect_probe("10.77.1.129", 22, 2, send_token=False),
                                               "controle": connect_probe("10.77.1.129", 8080, 2, send_token=False)}
    assert connect_probe("10.77.1.140", 7777, 4).timeout == 11.0  # the connection's own deadline, plus the cat's


def test_port_forward_refused_is_non_conforme():
    params = {"address": "10.77.1.129", "port": 8080, "server": "pc-lan"}
    v = _judge(PortForward(), params, connexion=_conn(REFUSED.replace("10.77.1.140/7777", "10.77.1.129/8080"),
                                                      address="10.77.1.129", port=8080))
    assert v.status is Status.NON_CONFORME and "Connection refused" in v.observed


def test_dns_question_not_sent_is_erreur():
    probe = query("intranet.tssr.lan", "A")
    unsent = ProbeResult(probe.key, "dns", probe.command, stdout="", stderr="aucun serveur DNS joignable", exit_code=-1)
    v = _judge(DnsResolves(), {"name": "intranet.tssr.lan", "address": "10.77.1.10"}, dns=unsent)
    assert v.status is Status.ERREUR and "aucun serveur DNS joignable" in v.message
