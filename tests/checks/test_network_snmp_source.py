"""snmp.restricted_source: the supervision server's snmpget and the grader's own request, judged together.

The snmpget outputs are net-snmp 5.9's, as the demo room's srv-lin (Debian 12) printed them in
the evidence of a demo run (``-On``: numeric OID with a leading dot; ``Timeout: No Response from``
and exit code 1 when the agent stays silent); the grader's side is the ``snmp`` channel's
output grammar (grader.transports.snmp).
"""

from __future__ import annotations

import pydantic
import pytest

from checks.network.snmp_source import SnmpRestrictedSource
from grader.model import ProbeResult, Status

PARAMS = {"agent": "10.77.1.2", "community": "tssr-ro"}
SUP_OK = ProbeResult("s", "ssh", "snmpget", stdout='.1.3.6.1.2.1.1.5.0 = STRING: "routeur"\n', exit_code=0)
SUP_SILENT = ProbeResult("s", "ssh", "snmpget", stdout="Timeout: No Response from 10.77.1.2\n", exit_code=1)
SUP_MISSING = ProbeResult("s", "ssh", "snmpget", stdout="sh: 1: /usr/bin/snmpget: not found\n", exit_code=127)
GRADER_SILENT = ProbeResult("g", "snmp", "get", exit_code=1,
                            stderr="l'agent SNMP de 10.77.1.2:161/udp ne répond pas (communauté « supervision »)")
GRADER_OK = ProbeResult("g", "snmp", "get", stdout='1.3.6.1.2.1.1.5.0 = STRING: "routeur"\n', exit_code=0)


def test_answered_from_the_supervision_server_only(judge):
    assert SnmpRestrictedSource.id == "snmp.restricted_source"
    v = judge(SnmpRestrictedSource, PARAMS, supervision=SUP_OK, grader=GRADER_SILENT)
    assert v.status is Status.CONFORME, v.message
    assert 'le serveur de supervision lit .1.3.6.1.2.1.1.5.0 = STRING: "routeur"' in v.observed
    assert "le correcteur n'obtient aucune réponse" in v.observed


def test_an_agent_open_to_everyone_is_not_restricted(judge):
    v = judge(SnmpRestrictedSource, PARAMS, supervision=SUP_OK, grader=GRADER_OK)
    assert v.status is Status.NON_CONFORME and "répond aussi au correcteur" in v.message


def test_silence_to_both_is_not_a_restriction(judge):
    """An agent down or deaf to everyone is silent to the grader too: never conforme."""
    v = judge(SnmpRestrictedSource, PARAMS, supervision=SUP_SILENT, grader=GRADER_SILENT)
    assert v.status is Status.NON_CONFORME and "ne répond pas au serveur de supervision" in v.message


def test_no_snmpget_or_an_odd_answer_is_an_error(judge):
    assert judge(SnmpRestrictedSource, PARAMS, supervision=SUP_MISSING, grader=GRADER_SILENT).status is Status.ERREUR
    odd = ProbeResult("s", "ssh", "snmpget", stdout="snmpget: Unknown host (10.77.1.2)\n", exit_code=1)
    assert judge(SnmpRestrictedSource, PARAMS, supervision=odd, grader=GRADER_SILENT).status is Status.ERREUR
    broken = ProbeResult("g", "snmp", "get", stdout="", exit_code=0, error="réponse incomplète")
    assert judge(SnmpRestrictedSource, PARAMS, supervision=SUP_OK, grader=broken).status is Status.ERREUR


def test_probes_ask_the_same_oid_from_both_positions():
    probes = SnmpRestrictedSource().probes(SnmpRestrictedSource.Params(**PARAMS))
    assert probes["supervision"].command.startswith("/usr/bin/snmpget -v2c -c tssr-ro ")
    assert probes["supervision"].command.split()[-2:] == ["1.3.6.1.2.1.1.5.0", "2>&1"]
    assert probes["grader"].transport == "snmp" and probes["grader"].command == "get 1.3.6.1.2.1.1.5.0 agent=10.77.1.2"


@pytest.mark.parametrize("params", [{**PARAMS, "community": "a b"}, {**PARAMS, "oid": "sysName.0"},
                                    {"agent": "10.77.1.2"}])
def test_parameters_are_validated(params):
    with pytest.raises(pydantic.ValidationError):
        SnmpRestrictedSource.Params(**params)


def test_a_bad_agent_address_is_an_error_not_a_verdict(judge):
    v = judge(SnmpRestrictedSource, {**PARAMS, "agent": "1.2"}, supervision=SUP_OK, grader=GRADER_SILENT)
    assert v.status is Status.ERREUR
