"""The ``snmp`` channel against a real agent (snmpsim serving a recorded ProCurve walk on 127.0.0.1).

What is asserted is the contract: every OID of a host in as few PDUs as the agent allows (one
GET for all scalars, the table columns walked side by side with GETBULK), v2c and v3 authPriv,
no answer -> Unreachable on a primary snmp host (exit code 2, « not read », on a host reached
otherwise; 1 with ``silence: non_conforme``), refused v3 credentials -> TransportError, a wrong
community probe answered by silence, several credential sets tried in order (the evidence names
the one that answered, each set's fate when none did), and no secret in the evidence.
"""

from __future__ import annotations

import socket

import pytest

from grader.errors import CredentialError, TransportError, Unreachable
from grader.model import Probe
from grader.probes.snmp import SILENCE_OBSERVED, SILENCE_UNREAD, SnmpOptions, parse_request, silent, unread
from grader.rubric import Credential
from grader.transports.base import HostContext
from grader.transports.snmp import SnmpChannel
from tests import snmpsim_agent

snmpsim_switch = pytest.fixture(scope="module")(snmpsim_agent.serve)

SYSTEM = "get 1.3.6.1.2.1.1.1.0 1.3.6.1.2.1.1.3.0 1.3.6.1.2.1.1.4.0 1.3.6.1.2.1.1.5.0 1.3.6.1.2.1.1.6.0"
IFTABLE = "walk 1.3.6.1.2.1.2.2.1.2 1.3.6.1.2.1.31.1.1.1.1 1.3.6.1.2.1.31.1.1.1.18 1.3.6.1.2.1.2.2.1.7 1.3.6.1.2.1.2.2.1.8"
VLANS = "walk 1.3.6.1.2.1.17.7.1.4.3.1.1"


@pytest.fixture
def secrets(monkeypatch):
    monkeypatch.setenv("T_COMMUNITY", "sw-ro")
    monkeypatch.setenv("T_WRONG", "pas-la-bonne")
    monkeypatch.setenv("T_AUTH", "authpass-tssr")
    monkeypatch.setenv("T_PRIV", "privpass-tssr")
    monkeypatch.setenv("T_BAD", "mauvaise-cle")
    monkeypatch.setenv("T_SHORT", "court")
    return {"ro": Credential(username="snmp", password_env="T_COMMUNITY"),
            "wrong": Credential(username="snmp", password_env="T_WRONG"),
            "v3": Credential(username="supervision", password_env="T_AUTH"),
            "v3-priv": Credential(username="supervision", password_env="T_PRIV"),
            "v3-bad": Credential(username="supervision", password_env="T_BAD"),
            "v3-nobody": Credential(username="inconnu", password_env="T_AUTH")}


def host(port: int, creds, *, primary: bool = True, **options) -> HostContext:
    """A switch whose primary transport is snmp (silence = injoignable) unless ``primary=False``."""
    opts = SnmpOptions(port=port, timeout=0.5, retries=0, **options)
    return HostContext("sw", "127.0.0.1", "network", None, None, creds, opts, primary=primary)


def probes(*commands: str, active: bool = False) -> list[Probe]:
    return [Probe("snmp", c, active=active) for c in commands]


def test_parse_request():
    assert parse_request("get .1.3.6.1.2.1.1.5.0 1.3.6.1.2.1.1.5.0").oids == ("1.3.6.1.2.1.1.5.0",)
    r = parse_request("walk 1.3.6.1.2.1.2.2.1.2 community=grader-x")
    assert r.verb == "walk" and r.community == "grader-x"
    for bad in ("", "set 1.3.6.1.2.1.1.5.0 s x", "get sysName.0", "get", "get 1.3.6 community="):
        with pytest.raises(ValueError):
            parse_request(bad)


def test_v2c_scalars_in_one_get_and_tables_side_by_side(snmpsim_switch, secrets):
    got = SnmpChannel().collect(host(snmpsim_switch.port, secrets, community_credential="ro"),
                                probes(SYSTEM, IFTABLE, VLANS))
    by_cmd = {r.command: r for r in got.results.values()}
    system = by_cmd[SYSTEM].stdout.splitlines()
    assert system[0] == ('1.3.6.1.2.1.1.1.0 = STRING: "HP Stack, revision KA.15.03.3004, ROM KA.15.05 '
                         '(/sw/code/build/tam(KA_15_03))"')
    assert "1.3.6.1.2.1.1.3.0 = Timeticks: 1084104545" in system and len(system) == 5
    iftable = by_cmd[IFTABLE].stdout.splitlines()
    assert len(iftable) == 3 * 78  # ifDescr, ifAdminStatus, ifOperStatus; no ifXTable in this excerpt
    assert '1.3.6.1.2.1.2.2.1.2.1250 = STRING: "DEFAULT_VLAN"' in iftable
    assert "1.3.6.1.2.1.2.2.1.8.5474 = INTEGER: 2" in iftable
    assert len(by_cmd[VLANS].stdout.splitlines()) == 15
    assert all(r.exit_code == 0 and r.ok for r in got.results.values())
    # 5 scalars in 1 GET; 249 table rows over 6 columns in a handful of GETBULK (not one PDU per OID).
    assert got.execs <= 8 and got.complete and got.anomalies == []
    assert got.login == "communauté « ro » (SNMPv2c)" and "sw-ro" not in got.login


def test_v3_authpriv_with_context(snmpsim_switch, secrets):
    got = SnmpChannel().collect(host(snmpsim_switch.port, secrets, version="v3", credential="v3",
                                     priv_credential="v3-priv", context_name="sw-ro"), probes(SYSTEM))
    [r] = got.results.values()
    assert r.exit_code == 0 and "HP Stack" in r.stdout
    assert got.login == "supervision (SNMPv3 authPriv SHA/AES)" and got.execs == 2  # discovery + GET


def test_wrong_v3_key_is_transport_error_not_injoignable(snmpsim_switch, secrets):
    with pytest.raises(TransportError) as info:
        SnmpChannel().collect(host(snmpsim_switch.port, secrets, version="v3", credential="v3-bad",
                                   priv_credential="v3-priv", context_name="sw-ro"), probes(SYSTEM))
    assert not isinstance(info.value, Unreachable) and "digest" in str(info.value)
    assert "mauvaise-cle" not in str(info.value)
    with pytest.raises(TransportError) as info:
        SnmpChannel().collect(host(snmpsim_switch.port, secrets, version="v3", credential="v3-nobody",
                                   context_name="sw-ro"), probes(SYSTEM))
    assert not isinstance(info.value, Unreachable) and "USM user" in str(info.value)


def test_wrong_community_is_silence(snmpsim_switch, secrets):
    with pytest.raises(Unreachable) as info:
        SnmpChannel().collect(host(snmpsim_switch.port, secrets, community_credential="wrong"), probes(SYSTEM))
    assert "ne répond pas" in str(info.value) and "pas-la-bonne" not in str(info.value)
    got = SnmpChannel().collect(host(snmpsim_switch.port, secrets, community_credential="wrong",
                                     silence="non_conforme"), probes(SYSTEM, VLANS))
    assert {r.exit_code for r in got.results.values()} == {1}
    assert all("ne répond pas" in r.stderr and r.ok for r in got.results.values())


def test_refusal_probe_with_its_own_community(snmpsim_switch, secrets):
    wrong = "get 1.3.6.1.2.1.1.3.0 community=grader-0123456789abcdef"
    right = "get 1.3.6.1.2.1.1.3.0 community=sw-ro"
    got = SnmpChannel().collect(host(snmpsim_switch.port, secrets, community_credential="ro"),
                                probes(SYSTEM) + probes(wrong, right, active=True))
    by_cmd = {r.command: r for r in got.results.values()}
    assert by_cmd[wrong].exit_code == 1 and "grader-0123456789abcdef" in by_cmd[wrong].stderr
    assert by_cmd[right].exit_code == 0 and "Timeticks" in by_cmd[right].stdout
    assert by_cmd[SYSTEM].exit_code == 0
    assert got.execs == 3


def test_nobody_listening_is_unreachable(secrets):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never read: the request goes nowhere
        with pytest.raises(Unreachable):
            SnmpChannel().collect(host(port, secrets, community_credential="ro"), probes(SYSTEM))


def test_invalid_request_is_a_probe_error_and_missing_oids_are_shown(snmpsim_switch, secrets):
    got = SnmpChannel().collect(host(snmpsim_switch.port, secrets, community_credential="ro"),
                                probes("get sysName.0", "get 1.3.6.1.2.1.1.9.9.0", "walk 1.3.6.1.4.1.9"))
    by_cmd = {r.command: r for r in got.results.values()}
    assert by_cmd["get sysName.0"].error and "OID numérique" in by_cmd["get sysName.0"].error
    assert by_cmd["get 1.3.6.1.2.1.1.9.9.0"].stdout == "1.3.6.1.2.1.1.9.9.0 = No Such Instance\n"
    assert by_cmd["walk 1.3.6.1.4.1.9"].stdout == "" and by_cmd["walk 1.3.6.1.4.1.9"].exit_code == 0


def test_many_varbinds_are_split_by_max_varbinds(snmpsim_switch, secrets):
    oids = " ".join(f"1.3.6.1.2.1.2.2.1.8.{i}" for i in range(1, 49))
    got = SnmpChannel().collect(host(snmpsim_switch.port, secrets, community_credential="ro", max_varbinds=20),
                                probes(f"get {oids}"))
    [r] = got.results.values()
    assert len(r.stdout.splitlines()) == 48 and got.execs == 3


def test_credentials_are_checked_before_sending_anything(secrets):
    with pytest.raises(CredentialError):
        SnmpChannel().collect(host(1161, secrets), probes(SYSTEM))  # no community anywhere
    with pytest.raises(CredentialError):
        SnmpChannel().collect(host(1161, secrets, community_credential="absent"), probes(SYSTEM))
    ssh_key = Credential(username="grader", key_file="/var/lib/grader/lab/id_ed25519")  # the host's SSH login
    linux = HostContext("srv", "127.0.0.1", "linux", None, ssh_key, secrets, SnmpOptions(port=1161))
    with pytest.raises(CredentialError) as info:
        SnmpChannel().collect(linux, probes(SYSTEM))
    assert "community_credential" in str(info.value)
    with pytest.raises(CredentialError):
        SnmpChannel().collect(host(1161, {"short": Credential(username="u", password_env="T_SHORT")} | secrets,
                                   version="v3", credential="v3", priv_credential="short"), probes(SYSTEM))


def test_registered_as_builtin_transport():
    from grader.plugins import default_transports

    assert default_transports()["snmp"] is SnmpChannel and not SnmpChannel.grader_side


def test_silence_is_automatic_from_the_host_primary_transport(secrets):
    """Primary snmp: a deaf agent is a host down. Secondary (host reached over SSH): values not read."""
    with pytest.raises(Unreachable):
        SnmpChannel().collect(host(9, secrets, community_credential="ro"), probes(SYSTEM))
    got = SnmpChannel().collect(host(9, secrets, primary=False, community_credential="ro"), probes(SYSTEM))
    [result] = got.results.values()
    assert result.exit_code == SILENCE_UNREAD and unread(result) and result.ok and "ne répond pas" in result.stderr
    got = SnmpChannel().collect(host(9, secrets, primary=False, community_credential="ro", silence="non_conforme"),
                                probes(SYSTEM))
    [result] = got.results.values()
    assert result.exit_code == SILENCE_OBSERVED and silent(result) and not unread(result)


# --- several credential sets, tried in order --------------------------------------------

V2C_WRONG = {"version": "v2c", "community_credential": "wrong"}
V2C_RO = {"version": "v2c", "community_credential": "ro"}
V3_BAD = {"version": "v3", "credential": "v3-bad", "priv_credential": "v3-priv", "context_name": "sw-ro"}
V3_NOBODY = {"version": "v3", "credential": "v3-nobody", "context_name": "sw-ro"}
SECRET_VALUES = ("sw-ro\"", "pas-la-bonne", "authpass-tssr", "privpass-tssr", "mauvaise-cle")


def no_secret(got) -> None:
    text = repr(got) + "".join(str(r.stderr) + str(r.error) for r in got.results.values())
    assert not [v for v in SECRET_VALUES if v in text], text


def test_a_silent_set_passes_to_the_next_and_the_evidence_names_the_one_that_answered(snmpsim_switch, secrets):
    got = SnmpChannel().collect(host(snmpsim_switch.port, secrets, primary=False, credentials=[V2C_WRONG, V2C_RO]),
                                probes(SYSTEM, VLANS))
    by_cmd = {r.command: r for r in got.results.values()}
    assert by_cmd[SYSTEM].exit_code == 0 and "HP Stack" in by_cmd[SYSTEM].stdout
    assert len(by_cmd[VLANS].stdout.splitlines()) == 15
    for r in got.results.values():
        assert r.stderr.startswith("réponse au jeu d'identifiants 2 sur 2 : communauté « ro » (SNMPv2c) ; avant lui : "
                                   "jeu 1, communauté « wrong » (SNMPv2c) : pas de réponse"), r.stderr
        assert r.stderr_ref is not None and r.stderr_ref.id.startswith("{answered}")
    assert got.login == "communauté « ro » (SNMPv2c) (jeu d'identifiants 2 sur 2)"
    assert got.execs == 4  # the silent trial, the answered trial, the GET, one GETBULK (15 rows)
    no_secret(got)


def test_a_refused_v3_set_passes_to_the_next(snmpsim_switch, secrets):
    got = SnmpChannel().collect(host(snmpsim_switch.port, secrets, credentials=[V3_BAD, V2C_RO]), probes(SYSTEM))
    [r] = got.results.values()
    assert r.exit_code == 0 and "HP Stack" in r.stdout
    assert "jeu d'identifiants 2 sur 2" in r.stderr and "jeu 1, supervision (SNMPv3 authPriv SHA/AES) : identifiants " \
        "refusés" in r.stderr and "digest" in r.stderr
    no_secret(got)


def test_the_first_set_that_answers_carries_the_batch(snmpsim_switch, secrets):
    v3 = {"version": "v3", "credential": "v3", "priv_credential": "v3-priv", "context_name": "sw-ro"}
    got = SnmpChannel().collect(host(snmpsim_switch.port, secrets, credentials=[v3, V2C_WRONG]), probes(SYSTEM))
    [r] = got.results.values()
    assert r.exit_code == 0 and r.stderr == "réponse au jeu d'identifiants 1 sur 2 : supervision (SNMPv3 authPriv SHA/AES)"
    assert got.execs == 3  # discovery, the trial, the GET: set 2 is never tried


def test_every_set_silent_is_unread_with_each_sets_reason(snmpsim_switch, secrets):
    """Host reached over another transport: not injoignable, not an observation: values not read."""
    wrong_too = {"version": "v2c", "community_credential": "v3-bad"}
    got = SnmpChannel().collect(host(snmpsim_switch.port, secrets, primary=False, credentials=[V2C_WRONG, wrong_too]),
                                probes(SYSTEM, VLANS))
    assert {r.exit_code for r in got.results.values()} == {SILENCE_UNREAD}
    for r in got.results.values():
        assert unread(r) and r.ok and not r.stdout
        assert r.stderr.startswith(f"l'agent SNMP de 127.0.0.1:{snmpsim_switch.port}/udp n'a répondu à aucun des 2 "
                                   "jeux d'identifiants : jeu 1, communauté « wrong » (SNMPv2c) : pas de réponse"), r.stderr
        assert "jeu 2, communauté « v3-bad » (SNMPv2c) : pas de réponse" in r.stderr
    assert got.login == "" and got.execs == 2
    no_secret(got)
    # the rubric states that answering is the fact: the same silence is observed
    got = SnmpChannel().collect(host(snmpsim_switch.port, secrets, primary=False, silence="non_conforme",
                                     credentials=[V2C_WRONG, wrong_too]), probes(SYSTEM))
    assert {r.exit_code for r in got.results.values()} == {SILENCE_OBSERVED}
    # snmp is the host's primary transport: the host may be off
    with pytest.raises(Unreachable) as info:
        SnmpChannel().collect(host(snmpsim_switch.port, secrets, credentials=[V2C_WRONG, wrong_too]), probes(SYSTEM))
    assert "jeu 1" in str(info.value) and "jeu 2" in str(info.value) and "pas-la-bonne" not in str(info.value)


def test_every_set_refused_or_silent_is_an_error_saying_each_sets_fate(snmpsim_switch, secrets):
    with pytest.raises(TransportError) as info:
        SnmpChannel().collect(host(snmpsim_switch.port, secrets, credentials=[V3_BAD, V2C_WRONG, V3_NOBODY]),
                              probes(SYSTEM))
    said = str(info.value)
    assert not isinstance(info.value, Unreachable) and "aucun des 3 jeux d'identifiants" in said
    assert "jeu 1, supervision (SNMPv3 authPriv SHA/AES) : identifiants refusés" in said and "digest" in said
    assert "jeu 2, communauté « wrong » (SNMPv2c) : pas de réponse" in said
    assert "jeu 3, inconnu (SNMPv3 authPriv SHA/AES) : identifiants refusés" in said
    assert not [v for v in SECRET_VALUES if v in said]


def test_every_set_is_resolved_before_anything_is_sent(secrets):
    with pytest.raises(CredentialError) as info:
        SnmpChannel().collect(host(1161, secrets, credentials=[V2C_RO, {"version": "v2c",
                                                                        "community_credential": "absent"}]),
                              probes(SYSTEM))
    assert "« absent »" in str(info.value)


def test_another_agent_is_asked_with_the_sets_in_order(snmpsim_switch, secrets):
    h = HostContext("supervision", "127.0.0.2", "linux", None, None, secrets,
                    SnmpOptions(port=snmpsim_switch.port, timeout=0.5, retries=0, credentials=[V2C_WRONG, V2C_RO]),
                    primary=False)
    got = SnmpChannel().collect(h, probes("get 1.3.6.1.2.1.1.5.0 agent=127.0.0.1", "get 1.3.6.1.2.1.1.5.0 agent=127.0.0.3"))
    by_cmd = {r.command: r for r in got.results.values()}
    answered, deaf = by_cmd["get 1.3.6.1.2.1.1.5.0 agent=127.0.0.1"], by_cmd["get 1.3.6.1.2.1.1.5.0 agent=127.0.0.3"]
    assert answered.exit_code == 0 and "jeu d'identifiants 2 sur 2" in answered.stderr
    assert deaf.exit_code == SILENCE_OBSERVED and "127.0.0.3:" in deaf.stderr and "jeu 2" in deaf.stderr


def test_another_agent_is_asked_from_the_grader_with_the_hosts_credentials(snmpsim_switch, secrets):
    """``agent=``: the host graded (127.0.0.2, no agent) is not the one asked; the switch answers."""
    h = HostContext("supervision", "127.0.0.2", "linux", None, None, secrets,
                    SnmpOptions(port=snmpsim_switch.port, timeout=0.5, retries=0, community_credential="ro"),
                    primary=False)
    got = SnmpChannel().collect(h, probes("get 1.3.6.1.2.1.1.5.0 agent=127.0.0.1"))
    (result,) = got.results.values()
    assert result.exit_code == 0 and result.stdout.startswith("1.3.6.1.2.1.1.5.0 = STRING:")
    assert got.execs == 1 and "sw-ro" not in repr(got)


def test_another_agents_silence_is_an_observation_even_on_a_primary_snmp_host(snmpsim_switch, secrets):
    got = SnmpChannel().collect(host(snmpsim_switch.port, secrets, community_credential="ro"),
                                probes(SYSTEM, "get 1.3.6.1.2.1.1.5.0 agent=127.0.0.3"))
    by_cmd = {r.command: r for r in got.results.values()}
    assert by_cmd[SYSTEM].exit_code == 0
    silent = by_cmd["get 1.3.6.1.2.1.1.5.0 agent=127.0.0.3"]
    assert silent.exit_code == 1 and not silent.stdout and "127.0.0.3:" in silent.stderr


def test_agent_requests_are_parsed():
    assert parse_request("get 1.3.6.1.2.1.1.5.0 agent=10.77.1.2").agent == "10.77.1.2"
    for bad in ("get 1.3.6.1.2.1.1.5.0 agent=routeur", "get 1.3.6.1.2.1.1.5.0 agent=10.0.0.1 community=x"):
        with pytest.raises(ValueError):
            parse_request(bad)
