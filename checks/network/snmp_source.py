"""An SNMP agent that answers the supervision server only: two functional legs in one check.

The rubric's sentence is about an *agent* (a router's, a server's), but the proof needs two
positions: the supervision server's, which must get an answer, and somewhere else's, which
must not. The check therefore runs on the supervision server (the host it targets, over its
``ssh`` channel: ``snmpget`` from there, so the agent sees the supervision address as source)
and asks the same agent from the grader's own position (``snmp`` channel with ``agent=``, the
host's SNMP credentials): the grader is "elsewhere". Only both legs together prove a
restriction: silence to the grader alone could be an agent that is down or deaf to everyone.

The community the supervision server uses is a parameter: it is the value the exam's subject
gives the candidate (the same one ``linux.snmpd_community`` reads in snmpd.conf), and it is
visible in the ``snmpget`` command of the evidence. The rubric should name the agent's host in
``depends_on``: when that host is down the check is ``injoignable``, not ``non_conforme``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from pydantic import Field, field_validator

from checks._common.text import clip
from checks.network._snmp import SYS_NAME
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.snmp import silent
from grader.probes.ssh import quote

SNMPGET = "/usr/bin/snmpget"
_NO_RESPONSE = "Timeout: No Response from"


class SnmpRestrictedSource(Check):
    """L'agent SNMP de {agent} répond au serveur de supervision et à lui seul.

    Conforme when ``snmpget`` run on the supervision server gets the OID's value and the same
    request from the grader gets no answer. Non conforme when the grader is answered too (the
    agent is open beyond the supervision server), or when the supervision server itself gets
    no answer (restricted to the wrong source, or not listening where it should). Erreur when
    ``snmpget`` is missing on the supervision server or a leg fails otherwise.
    """

    id = "snmp.restricted_source"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        agent: str = Field(description="adresse de l'agent SNMP (ex. {{ reseau }}.2)")
        community: str = Field(min_length=1, max_length=64,
                               description="communauté SNMPv2c que le serveur de supervision utilise")
        oid: str = SYS_NAME
        timeout: float = Field(default=2.0, gt=0, le=10)

        @field_validator("community")
        @classmethod
        def _printable(cls, value: str) -> str:
            if not value.isprintable() or any(c.isspace() for c in value):
                raise ValueError("communauté sans espace ni caractère de contrôle attendue")
            return value

        @field_validator("oid")
        @classmethod
        def _numeric(cls, value: str) -> str:
            parts = value.lstrip(".").split(".")
            if len(parts) < 2 or not all(p.isdigit() for p in parts):
                raise ValueError("OID numérique attendu (ex. 1.3.6.1.2.1.1.5.0)")
            return value.lstrip(".")

    def probes(self, params: Params) -> Mapping[str, Probe]:
        budget = params.timeout
        command = (f"{SNMPGET} -v2c -c {quote(params.community)} -t {budget:g} -r 1 -On {quote(params.agent)} "
                   f"{params.oid} 2>&1")
        return {
            "supervision": Probe("ssh", command, 2 * budget + 5.0, active=True),
            "grader": Probe("snmp", f"get {params.oid} agent={params.agent}", 2 * budget + 5.0, active=True),
        }

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        try:
            ipaddress.ip_address(params.agent)
        except ValueError:
            return Verdict.erreur(Msg("adresse d'agent invalide dans le barème : {agent}", agent=repr(params.agent)))
        expected = Msg("{oid} lu par le serveur de supervision sur {agent} ; aucune réponse au correcteur",
                       oid=params.oid, agent=params.agent)
        sup, grader = results["supervision"], results["grader"]
        sup_text = sup.stdout.strip()
        if sup.exit_code in (126, 127):
            return Verdict.erreur(Msg("{SNMPGET} absent ou inutilisable sur le serveur de supervision (code {code})",
                                      SNMPGET=SNMPGET, code=sup.exit_code), observed=clip(sup_text), expected=expected)
        if sup.exit_code == 0 and f"{params.oid} = " in sup_text.replace(f".{params.oid} = ", f"{params.oid} = "):
            sup_seen: Msg | None = Msg("le serveur de supervision lit {value}", value=clip(sup_text, 120))
        elif sup.exit_code not in (0, None) and _NO_RESPONSE in sup_text:
            sup_seen = None
        else:
            return Verdict.erreur(Msg("réponse de snmpget inattendue (code {code})", code=sup.exit_code),
                                  observed=clip(sup_text), expected=expected)
        if silent(grader):
            grader_seen = Msg("le correcteur n'obtient aucune réponse")
            grader_answered = False
        elif grader.exit_code == 0 and grader.stdout.strip():
            grader_seen = Msg("le correcteur obtient {value}", value=clip(grader.stdout.strip(), 120))
            grader_answered = True
        else:
            return Verdict.erreur(Msg("interrogation SNMP du correcteur en échec (code {code})", code=grader.exit_code),
                                  observed=clip(grader.stderr or grader.stdout), expected=expected)
        if sup_seen is None:
            observed = Msg("le serveur de supervision n'obtient aucune réponse de {agent} ; {grader}", agent=params.agent,
                           grader=grader_seen)
            return Verdict.non_conforme(observed, expected, Msg("L'agent SNMP de {agent} ne répond pas au serveur de "
                                                                "supervision.", agent=params.agent))
        observed = Msg("{shown} ; {output}", shown=sup_seen, output=grader_seen)
        if grader_answered:
            return Verdict.non_conforme(observed, expected,
                                        Msg("L'agent SNMP de {agent} répond aussi au correcteur : son accès n'est pas "
                                            "restreint au serveur de supervision.", agent=params.agent))
        return Verdict.conforme(observed, expected, Msg("L'agent SNMP de {agent} ne répond qu'au serveur de "
                                                        "supervision.", agent=params.agent))
