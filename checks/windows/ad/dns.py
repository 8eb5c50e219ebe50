"""A record in the domain's DNS, asked of the DC itself (the grader's own question)."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Literal

from pydantic import field_validator

from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.dns import query as dns_query

_FQDN = re.compile(r"^(?=.{1,253}\.?$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)+[A-Za-z0-9_-]{1,63}\.?$")


def _same_value(rdtype: str, expected: str, actual: str) -> bool:
    if rdtype in ("A", "AAAA"):
        try:
            return ipaddress.ip_address(expected) == ipaddress.ip_address(actual)
        except ValueError:
            return False
    if rdtype == "TXT":
        return actual.strip('"') == expected.strip('"')
    return actual.rstrip(".").lower() == expected.rstrip(".").lower() or \
        actual.lower().split()[-1].rstrip(".") == expected.rstrip(".").lower()


class DnsRecord(Check):
    """Le serveur DNS du domaine résout {name} ({type}).

    The question is sent by the grader to the DC's own DNS server (the host's address), as a
    client of the domain would ask it. With ``value``, one of the answers must be it (an
    address, or a target name for CNAME/MX/SRV/NS/PTR, compared without case or final dot).
    """

    id = "ad.dns_record"
    platform = "windows"
    transport = "dns"

    class Params(CheckParams):
        name: str
        type: Literal["A", "AAAA", "CNAME", "MX", "NS", "PTR", "SRV", "TXT"] = "A"
        value: str | None = None

        @field_validator("name")
        @classmethod
        def check_name(cls, value: str) -> str:
            if not _FQDN.match(value):
                raise ValueError("nom DNS complet attendu (ex. intranet.tssr.lan)")
            return value

        @field_validator("type", mode="before")
        @classmethod
        def upper(cls, value: object) -> object:
            return value.upper() if isinstance(value, str) else value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"dns": dns_query(params.name, params.type)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        r = results["dns"]
        expected = f"{params.name} {params.type}" + (f" {params.value}" if params.value else "")
        if r.exit_code == -1:
            return Verdict.non_conforme(r.stderr.strip(), expected, Msg("Le serveur DNS du domaine ne répond pas."))
        try:
            data = json.loads(r.stdout)
            answers = [a for a in data["answers"] if a["type"] == params.type]
            rcode = str(data["rcode"])
        except (ValueError, KeyError, TypeError):
            return Verdict.erreur(Msg("réponse DNS illisible"), observed=r.stdout[:300], expected=expected)
        shown = ", ".join(f"{a['name']} {a['type']} {a['value']}" for a in data["answers"])
        observed = f"{rcode} : {shown}" if shown else Msg("{rcode} : aucune réponse", rcode=rcode)
        if rcode == "NXDOMAIN":
            return Verdict.non_conforme(observed, expected,
                                        Msg("Le nom {name} n'existe pas dans le DNS du domaine.", name=params.name))
        if rcode in ("SERVFAIL", "FORMERR", "NOTIMP"):
            return Verdict.erreur(Msg("le serveur DNS a répondu {rcode}", rcode=rcode), observed=observed,
                                  expected=expected)
        if rcode != "NOERROR":
            return Verdict.non_conforme(observed, expected,
                                        Msg("Le serveur DNS refuse la question ({rcode}).", rcode=rcode))
        if not answers:
            return Verdict.non_conforme(observed, expected, Msg("Aucun enregistrement {type} pour {name}.",
                                                                type=params.type, name=params.name))
        if params.value and not any(_same_value(params.type, params.value, str(a["value"])) for a in answers):
            return Verdict.non_conforme(observed, expected, Msg("{name} ({type}) ne pointe pas vers {value}.",
                                                                name=params.name, type=params.type, value=params.value))
        return Verdict.conforme(observed, expected,
                                Msg("Le DNS du domaine résout {name} ({type}).", name=params.name, type=params.type))
