"""network.snmp_agent, network.snmp_refuses, network.snmp_interfaces, network.snmp_vlans.

Judged on outputs the real ``snmp`` channel recorded (data/snmp_procurve_*.txt: snmpsim serving
LibreNMS's walk of an HP ProCurve stack; data/snmp_netsnmp_*.txt: net-snmp 5.9 on the lab's
Debian 12 hosts), then end to end through the channel against the snmpsim-served switch.
"""

from __future__ import annotations

import os

import pydantic
import pytest

from checks.network._snmp import INTERFACES_WALK
from checks.network.snmp import SnmpAgent, SnmpInterfaces, SnmpRefusesCommunity, SnmpVlans
from grader.check import evaluate
from grader.model import Probe, ProbeResult, Status
from grader.probes.snmp import SILENCE_UNREAD, SnmpOptions, parse_varbinds
from grader.rubric import Credential
from grader.transports.base import HostContext
from grader.transports.snmp import SnmpChannel
from tests import snmpsim_agent

snmpsim_switch = pytest.fixture(scope="module")(snmpsim_agent.serve)


def silent(command: str = "") -> ProbeResult:
    return ProbeResult("k", "snmp", command, stderr="l'agent SNMP de 10.77.2.10:161/udp ne répond pas", exit_code=1)


# --- the system group -------------------------------------------------------------------


def test_agent_answers_and_sys_values_are_compared(judge, capture):
    r = capture("snmp_procurve_system.txt")
    v = judge(SnmpAgent, {}, system=r)
    assert v.status is Status.CONFORME and "HP Stack" in v.observed and "sysUpTime = 1084104545" in v.observed
    assert judge(SnmpAgent, {"sys_name": "<PRIVATE>"}, system=r).status is Status.CONFORME  # case ignored
    v = judge(SnmpAgent, {"sys_location": "Salle B12", "sys_name": "<private>"}, system=r)
    assert v.status is Status.NON_CONFORME and "sysLocation vaut « <private> » au lieu de « Salle B12 »" in v.message


def test_agent_on_net_snmp_lab_host(judge, capture):
    r = capture("snmp_netsnmp_c01_system.txt")
    v = judge(SnmpAgent, {"sys_location": "salle  b12", "sys_contact": "admin@tssr.lan"}, system=r)
    assert v.status is Status.CONFORME and "Salle B12" in v.observed


def test_deaf_agent_is_non_conforme_when_the_channel_reports_silence(judge):
    v = judge(SnmpAgent, {}, system=silent())
    assert v.status is Status.NON_CONFORME and "ne répond pas" in v.message


UNREAD = ("l'agent SNMP de 10.77.2.10:161/udp n'a répondu à aucun des 2 jeux d'identifiants : jeu 1, supervision "
          "(SNMPv3 authPriv SHA/AES) : pas de réponse (délai 2 s, 1 nouvel(s) essai(s)) ; jeu 2, communauté "
          "« snmp-ro » (SNMPv2c) : pas de réponse (délai 2 s, 1 nouvel(s) essai(s))")


def unread(command: str = "") -> ProbeResult:
    """What the channel brings back from an agent silent to every set, on a host reached over SSH."""
    return ProbeResult("k", "snmp", command, stderr=UNREAD, exit_code=SILENCE_UNREAD)


def test_values_not_read_are_erreur_never_non_conforme(judge):
    """The agent answered no credential set: sysContact, interfaces, VLANs could not be read."""
    verdicts = [judge(SnmpAgent, {"sys_contact": "admin@tssr.lan"}, system=unread()),
                judge(SnmpInterfaces, {"interfaces": ["eth0"]}, interfaces=unread()),
                judge(SnmpVlans, {"vlans": {10: None}}, vlans=unread())]
    for v in verdicts:
        assert v.status is Status.ERREUR, v
        assert v.message.startswith("l'agent SNMP n'a répondu à aucun jeu d'identifiants du barème : valeurs non lues")
        assert "jeu 1, supervision" in v.observed and "jeu 2, communauté « snmp-ro »" in v.observed
    assert verdicts[0].message.endswith("(groupe system)") and verdicts[1].message.endswith("(table des interfaces)")


def test_silence_is_non_conforme_where_the_rubric_states_that_answering_is_the_fact(judge):
    # network.snmp_agent asking no value: the answer is its one fact
    v = judge(SnmpAgent, {}, system=unread())
    assert v.status is Status.NON_CONFORME and "ne répond pas au correcteur" in v.message and "jeu 2" in v.observed
    # asking values, and saying that the agent must answer
    v = judge(SnmpAgent, {"sys_contact": "admin@tssr.lan", "answering_is_the_fact": True}, system=unread())
    assert v.status is Status.NON_CONFORME
    assert judge(SnmpAgent, {"answering_is_the_fact": False}, system=unread()).status is Status.ERREUR
    # the host's options.snmp say silence: non_conforme (the channel's exit code 1): every check
    assert judge(SnmpInterfaces, {"interfaces": ["eth0"]}, interfaces=silent()).status is Status.NON_CONFORME
    assert judge(SnmpAgent, {"sys_contact": "x", "answering_is_the_fact": False}, system=silent()).status \
        is Status.NON_CONFORME


def test_agent_answering_only_no_such_object(judge, result):
    out = "".join(f"1.3.6.1.2.1.1.{n}.0 = No Such Object\n" for n in (1, 3, 4, 5, 6))
    v = judge(SnmpAgent, {}, system=result(out))
    assert v.status is Status.NON_CONFORME and "aucune valeur du groupe system" in v.message


def test_varbind_grammar_round_trip(capture):
    vbs = parse_varbinds(capture("snmp_procurve_interfaces.txt").stdout)
    assert len(vbs) == 3 * 78 and vbs[0].type == "STRING" and vbs[-1].value == 1
    with pytest.raises(ValueError):
        parse_varbinds("sysName.0 = STRING: x\n")
    assert parse_varbinds('1.3.6.1.2.1.1.5.0 = STRING: "a \\"b\\"\\nc"\n')[0].value == 'a "b"\nc'


# --- refusal of a wrong community ------------------------------------------------------


def test_wrong_community_ignored_is_conforme(judge, capture):
    v = judge(SnmpRefusesCommunity, {}, control=capture("snmp_procurve_system.txt"),
              wrong=capture("snmp_procurve_wrong_community.txt"))
    assert v.status is Status.CONFORME and "grader-5d41402abc4b2a76" in v.message


def test_wrong_community_answered_is_non_conforme(judge, capture):
    answered = ProbeResult("k", "snmp", "get 1.3.6.1.2.1.1.3.0 community=public",
                           stdout="1.3.6.1.2.1.1.3.0 = Timeticks: 12345\n", exit_code=0)
    v = judge(SnmpRefusesCommunity, {"community": "public"}, control=capture("snmp_procurve_system.txt"), wrong=answered)
    assert v.status is Status.NON_CONFORME and "public" in v.message


def test_refusal_not_provable_when_the_agent_answers_nothing(judge, capture):
    v = judge(SnmpRefusesCommunity, {}, control=silent(), wrong=capture("snmp_procurve_wrong_community.txt"))
    assert v.status is Status.ERREUR


def test_refuses_params():
    with pytest.raises(pydantic.ValidationError):
        SnmpRefusesCommunity.Params(community="deux mots")
    probes = SnmpRefusesCommunity().probes(SnmpRefusesCommunity.Params())
    assert probes["wrong"].active and "community=grader-@@GRADER_TOKEN@@" in probes["wrong"].command


# --- interfaces ------------------------------------------------------------------------


def test_interfaces_up_down_and_missing(judge, capture):
    r = capture("snmp_procurve_interfaces.txt")
    v = judge(SnmpInterfaces, {"interfaces": ["3", "A1", "default_vlan"]}, interfaces=r)
    assert v.status is Status.CONFORME and "A1 : up" in v.observed
    v = judge(SnmpInterfaces, {"interfaces": ["1", "3"]}, interfaces=r)
    assert v.status is Status.NON_CONFORME and v.message.endswith(": 1.")
    assert judge(SnmpInterfaces, {"interfaces": ["1", "37"], "status": "down"}, interfaces=r).status is Status.CONFORME
    v = judge(SnmpInterfaces, {"interfaces": ["Gi1/0/1"], "status": "any"}, interfaces=r)
    assert v.status is Status.NON_CONFORME and "introuvable" in v.message and "interfaces publiées : 1 (down)" in v.observed
    # an administratively shut loopback is down, and says so
    v = judge(SnmpInterfaces, {"interfaces": ["VLAN14", "Out Of Band Management Port"]}, interfaces=r)
    assert v.status is Status.NON_CONFORME and "Out Of Band Management Port : down" in v.observed


def test_interfaces_on_net_snmp_lab_host(judge, capture):
    r = capture("snmp_netsnmp_c01_interfaces.txt")
    assert judge(SnmpInterfaces, {"interfaces": ["eth0", "lo"]}, interfaces=r).status is Status.CONFORME


# --- VLANs -----------------------------------------------------------------------------


def test_vlans(judge, capture):
    r = capture("snmp_procurve_vlans.txt")
    assert judge(SnmpVlans, {"vlans": {1: "DEFAULT", 10: None, 15: None}}, vlans=r).status is Status.CONFORME
    v = judge(SnmpVlans, {"vlans": {1: "default", 20: "VOIP", 10: "SERVEURS"}}, vlans=r)
    assert v.status is Status.NON_CONFORME and "VLAN absent(s) : 20" in v.message
    assert "10 s'appelle « <private> » et non « SERVEURS »" in v.message


def test_vlans_without_q_bridge_is_erreur(judge, result):
    v = judge(SnmpVlans, {"vlans": {10: None}}, vlans=result(""))
    assert v.status is Status.ERREUR and "Q-BRIDGE" in v.message


def test_vlan_params():
    assert SnmpVlans.Params(vlans={"10": "A"}).vlans == {10: "A"}  # YAML keys may arrive as text
    with pytest.raises(pydantic.ValidationError):
        SnmpVlans.Params(vlans={5000: None})
    with pytest.raises(pydantic.ValidationError):
        SnmpVlans.Params(vlans={})


# --- through the real channel ----------------------------------------------------------


def test_switch_checks_through_the_snmp_channel(snmpsim_switch, monkeypatch):
    """One collect for the four checks of a switch: their probes deduplicate to three requests."""
    monkeypatch.setenv("SW_COMMUNITY", snmpsim_switch.community)
    checks = {
        "agent": (SnmpAgent(), SnmpAgent.Params(sys_name="<private>")),
        "refuse": (SnmpRefusesCommunity(), SnmpRefusesCommunity.Params(community="public")),
        "ifs": (SnmpInterfaces(), SnmpInterfaces.Params(interfaces=["A1", "A2", "Trk1"])),
        "ifs-down": (SnmpInterfaces(), SnmpInterfaces.Params(interfaces=["A3"], status="up")),
        "vlans": (SnmpVlans(), SnmpVlans.Params(vlans={1: "default", 2: None, 14: None})),
        "vlans-missing": (SnmpVlans(), SnmpVlans.Params(vlans={100: None})),
    }
    unique: dict[str, Probe] = {}
    for check, params in checks.values():
        for probe in check.probes(params).values():
            unique.setdefault(probe.key, probe)
    assert len(unique) == 4  # system GET, interface columns, VLAN column, the refusal test
    host = HostContext("sw", "127.0.0.1", "network", None, Credential(username="ro", password_env="SW_COMMUNITY"), {},
                       SnmpOptions(port=snmpsim_switch.port, timeout=0.5, retries=0))
    got = SnmpChannel().collect(host, list(unique.values()))
    statuses = {}
    for name, (check, params) in checks.items():
        statuses[name] = evaluate(check, params, {n: got.results[p.key] for n, p in check.probes(params).items()}).status
    assert statuses == {"agent": Status.CONFORME, "refuse": Status.CONFORME, "ifs": Status.CONFORME,
                        "ifs-down": Status.NON_CONFORME, "vlans": Status.CONFORME, "vlans-missing": Status.NON_CONFORME}
    snmp_oids = 5 + 3 * 78 + 15  # every value the judges read
    assert got.execs <= 8 < snmp_oids, f"{got.execs} PDU pour {snmp_oids} OID"
    assert os.environ["SW_COMMUNITY"] not in got.login


def test_interfaces_walk_is_shared():
    a = SnmpInterfaces().probes(SnmpInterfaces.Params(interfaces=["eth0"]))["interfaces"]
    b = SnmpInterfaces().probes(SnmpInterfaces.Params(interfaces=["eth1"], status="down"))["interfaces"]
    assert a.key == b.key and a.command == INTERFACES_WALK


def test_switch_reached_otherwise_through_credential_sets(snmpsim_switch, monkeypatch):
    """A switch whose host is reached over another transport: a wrong set, then the right one; then none."""
    monkeypatch.setenv("SW_COMMUNITY", snmpsim_switch.community)
    monkeypatch.setenv("SW_WRONG", "pas-la-bonne")
    creds = {"snmp-ro": Credential(username="ro", password_env="SW_COMMUNITY"),
             "ancienne": Credential(username="ro", password_env="SW_WRONG")}
    checks = {
        "agent": (SnmpAgent(), SnmpAgent.Params()),
        "contact": (SnmpAgent(), SnmpAgent.Params(sys_name="<private>")),
        "must-answer": (SnmpAgent(), SnmpAgent.Params(sys_name="<private>", answering_is_the_fact=True)),
        "ifs": (SnmpInterfaces(), SnmpInterfaces.Params(interfaces=["A1"])),
        "vlans": (SnmpVlans(), SnmpVlans.Params(vlans={1: "default"})),
    }

    def run(*sets: str, **options) -> tuple[dict[str, Status], dict[str, str]]:
        unique = {p.key: p for check, params in checks.values() for p in check.probes(params).values()}
        opts = SnmpOptions(port=snmpsim_switch.port, timeout=0.5, retries=0,
                           credentials=[{"community_credential": name} for name in sets], **options)
        got = SnmpChannel().collect(HostContext("sw", "127.0.0.1", "network", None, None, creds, opts, primary=False),
                                    list(unique.values()))
        verdicts = {name: evaluate(check, params, {n: got.results[p.key] for n, p in check.probes(params).items()})
                    for name, (check, params) in checks.items()}
        return {n: v.status for n, v in verdicts.items()}, {n: v.message for n, v in verdicts.items()}

    statuses, _ = run("ancienne", "snmp-ro")
    assert set(statuses.values()) == {Status.CONFORME}
    statuses, messages = run("ancienne")
    assert statuses == {"agent": Status.NON_CONFORME, "contact": Status.ERREUR, "must-answer": Status.NON_CONFORME,
                        "ifs": Status.ERREUR, "vlans": Status.ERREUR}
    assert "valeurs non lues" in messages["ifs"] and "pas-la-bonne" not in "".join(messages.values())
    statuses, _ = run("ancienne", silence="non_conforme")
    assert set(statuses.values()) == {Status.NON_CONFORME}
