"""vpn.ipsec_sa and vpn.ipsec_lan_to_lan: swanctl --list-sas read back, and the SA counters as the proof of path.

data/ipsec_*: outputs of real strongSwan 5.9.8 routers (Debian 12, charon-systemd, kernel-libipsec)
captured by tests/test_ipsec_lab.py (origin in each file). States that the lab does not leave
are derived from them in the tests (a connecting SA, counters that did not move, a rekey).
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from checks.network.ipsec import IpsecLanToLan, IpsecSa, lan_to_lan_probe, parse_sas, split_lan_to_lan
from grader.check import TOKEN, evaluate
from grader.model import ProbeResult, Status
from tests.checks.conftest import load_capture

TOK = "0123456789abcdef"
SA = {"peer": "10.77.47.130", "peer_id": "rt-b", "local_ts": ["10.77.47.64/27"], "remote_ts": ["10.77.48.64/27"]}
L2L = {"witness": "10.77.48.70", "local_ts": ["10.77.47.64/27"], "server": "srv-b"}
INSTALLED = load_capture("ipsec_list_sas_installed.txt")


def _sa(result: ProbeResult, **params):
    p = IpsecSa.Params(**{**SA, **params})
    assert set(IpsecSa().probes(p)) == {"sas"}
    return evaluate(IpsecSa(), p, {"sas": result})


def test_parse_the_real_list():
    [ike] = parse_sas(INSTALLED.stdout)
    assert (ike.name, ike.state, ike.version, ike.remote_id, ike.remote_host) == \
        ("site-a-site", "ESTABLISHED", 2, "rt-b", "10.77.47.130")
    [child] = ike.children
    assert (child.name, child.state, child.mode, child.local_ts, child.remote_ts) == \
        ("lan-lan", "INSTALLED", "TUNNEL-in-UDP", ("10.77.47.64/27",), ("10.77.48.64/27",))
    assert child.tunnel and child.bytes_in == 0 and child.spi_out
    assert parse_sas("") == []
    with pytest.raises(ValueError):
        parse_sas("plugin 'ldap': failed to load\n")


def test_established_sa_between_the_two_lans():
    v = _sa(INSTALLED)
    assert v.status is Status.CONFORME and "10.77.47.64/27 <-> 10.77.48.64/27" in v.observed
    assert _sa(INSTALLED, local_ts=["10.77.47.64/28"]).status is Status.CONFORME  # a part of the LAN is covered


@pytest.mark.parametrize(("params", "text", "words"), [
    ({"peer": "10.77.47.131"}, None, "Aucune SA IKE avec le pair"),
    ({"peer_id": "rt-c"}, None, "Aucune SA IKE avec le pair"),
    ({"remote_ts": ["10.77.49.0/24"]}, None, "ne couvrent pas"),
    ({"local_ts": ["10.77.47.0/24"]}, None, "ne couvrent pas"),  # the SA carries a /27 only
    ({}, {"ESTABLISHED": "CONNECTING"}, "n'est pas établie"),
    ({}, {"INSTALLED": "INSTALLING"}, "aucune CHILD_SA"),
    ({}, {"TUNNEL-in-UDP": "TRANSPORT"}, "ne couvrent pas"),
])
def test_what_is_not_the_expected_tunnel(params, text, words):
    result = INSTALLED if text is None else replace(INSTALLED, stdout=_replace(INSTALLED.stdout, text))
    v = _sa(result, **params)
    assert v.status is Status.NON_CONFORME and words in v.message


def _replace(text: str, changes: dict[str, str]) -> str:
    for old, new in changes.items():
        text = text.replace(old, new)
    return text


def test_charon_down_swanctl_missing_or_refused():
    down = ProbeResult("k", "ssh", "/usr/sbin/swanctl --list-sas", exit_code=1,
                       stderr="plugin 'ldap': failed to load - ldap_plugin_create not found and no plugin file available\n"
                              "connecting to 'unix:///var/run/charon.vici' failed: No such file or directory\n"
                              "Error: connecting to 'default' URI failed: No such file or directory\n")
    v = _sa(down)
    assert v.status is Status.NON_CONFORME and "charon.vici' failed" in v.observed and "ldap" not in v.observed
    assert _sa(replace(down, exit_code=127, stderr="sh: 1: /usr/sbin/swanctl: not found")).status is Status.ERREUR
    denied = replace(down, stderr="connecting to 'unix:///var/run/charon.vici' failed: Permission denied\n")
    assert _sa(denied).status is Status.ERREUR
    assert _sa(replace(INSTALLED, stdout="")).status is Status.NON_CONFORME  # charon runs, no SA at all


# --- LAN to LAN ------------------------------------------------------------------------------------

def _probe_output(before: str, connection: str, after: str) -> ProbeResult:
    probe = lan_to_lan_probe(L2L["witness"], 7777, 3.0)
    stdout = f"{before}@@grader-ipsec 0\n{connection}@@grader-ipsec connexion\n{after}@@grader-ipsec 0\n"
    return ProbeResult(probe.key, "ssh", probe.command.replace(TOKEN, TOK), stdout=stdout, exit_code=0)


def _counted(text: str, out_packets: int, in_packets: int) -> str:
    text = re.sub(r"(    in  \S+, +)\d+ bytes, +\d+ packets", rf"\g<1>{in_packets * 60} bytes, {in_packets} packets", text)
    return re.sub(r"(    out \S+, +)\d+ bytes, +\d+ packets", rf"\g<1>{out_packets * 60} bytes, {out_packets} packets",
                  text)


def _l2l(result: ProbeResult, **params):
    p = IpsecLanToLan.Params(**{**L2L, **params})
    [probe] = IpsecLanToLan().probes(p).values()
    assert probe.active and probe.command.startswith(f"J={TOKEN}; /usr/sbin/swanctl --list-sas;")
    return evaluate(IpsecLanToLan(), p, {"lan_a_lan": result})


ARRIVED = f"@connecte\nTEMOIN srv-b 10.77.47.65 {TOK}\n@code 0\n"


def test_split_keeps_the_three_parts():
    parts = split_lan_to_lan(_probe_output("a\n", "b\n", "c\n"))
    assert (parts.before.stdout, parts.connection.stdout, parts.after.stdout) == ("a\n", "b\n", "c\n")
    with pytest.raises(ValueError):
        split_lan_to_lan(replace(_probe_output("a\n", "b\n", "c\n"), stdout="a\n@@grader-ipsec 0\nb\n"))


def test_the_connection_counted_by_the_child_sa():
    v = _l2l(_probe_output(INSTALLED.stdout, ARRIVED, _counted(INSTALLED.stdout, 5, 4)))
    assert v.status is Status.CONFORME, v.message
    assert "depuis l'adresse 10.77.47.65" in v.observed and "+5 paquets sortis, +4 entrés" in v.observed


def test_counters_that_did_not_move_mean_the_clear_path():
    v = _l2l(_probe_output(INSTALLED.stdout, ARRIVED, _counted(INSTALLED.stdout, 1, 0)))
    assert v.status is Status.NON_CONFORME and "n'a pas compté" in v.message


def test_no_sa_covering_the_path_is_the_clear_path():
    v = _l2l(_probe_output("", ARRIVED, ""))
    assert v.status is Status.NON_CONFORME and "en clair" in v.message


def test_a_rekey_between_the_readings_proves_nothing():
    after = _counted(INSTALLED.stdout, 5, 4).replace("in  a3a29c3b", "in  c0ffee00")
    assert _l2l(_probe_output(INSTALLED.stdout, ARRIVED, after)).status is Status.ERREUR


def test_a_source_outside_the_local_lan_proves_nothing_while_an_sa_covers_the_far_lan():
    wan = f"@connecte\nTEMOIN srv-b 10.77.47.129 {TOK}\n@code 0\n"
    v = _l2l(_probe_output(INSTALLED.stdout, wan, _counted(INSTALLED.stdout, 5, 4)))
    assert v.status is Status.ERREUR and "10.77.47.129" in v.message
    v = _l2l(_probe_output("", wan, ""))  # no SA towards the far LAN at all: reached in the clear
    assert v.status is Status.NON_CONFORME and "en clair" in v.message


def test_the_real_connection_through_the_tunnel():
    v = evaluate(IpsecLanToLan(), IpsecLanToLan.Params(**L2L), {"lan_a_lan": load_capture("ipsec_lan_to_lan_tunnel.txt")})
    assert v.status is Status.CONFORME, v.message
    assert "+5 paquets sortis, +5 entrés" in v.observed and "depuis l'adresse 10.77.47.65" in v.observed
    assert _sa(load_capture("ipsec_list_sas_tunnel.txt")).status is Status.CONFORME


@pytest.mark.parametrize(("connection", "status"), [
    ("bash: connect: Connection refused\n@code 111\n", Status.NON_CONFORME),
    ("@code 124\n", Status.NON_CONFORME),
    ("@code 137\n", Status.ERREUR),
    ("@connecte\nTEMOIN srv-b 10.77.47.65 deadbeef\n@code 0\n", Status.ERREUR),
    (f"@connecte\nTEMOIN srv-c 10.77.47.65 {TOK}\n@code 0\n", Status.NON_CONFORME),
])
def test_the_witness_not_reached_or_not_the_witness(connection, status):
    assert _l2l(_probe_output(INSTALLED.stdout, connection, INSTALLED.stdout)).status is status


def test_the_real_clear_path_the_witness_alone_would_take_for_the_tunnel():
    """The SA terminated, the LANs routed over the WAN: the witness still sees rt-a's LAN address."""
    v = evaluate(IpsecLanToLan(), IpsecLanToLan.Params(**L2L), {"lan_a_lan": load_capture("ipsec_lan_to_lan_clear.txt")})
    assert v.status is Status.NON_CONFORME and "en clair" in v.message
    assert "depuis l'adresse 10.77.47.65" in v.observed and "aucune SA IKE" in v.observed


def test_the_real_swanctl_of_a_stopped_charon():
    """systemctl stop strongswan on rt-a: the VICI socket refuses, swanctl exits 111 and prints its usage."""
    v = _sa(load_capture("ipsec_list_sas_stopped.txt"))
    assert v.status is Status.NON_CONFORME and "Connection refused" in v.observed and "plugin '" not in v.observed
