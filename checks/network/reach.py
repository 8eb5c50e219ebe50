"""Functional proofs across a candidate's network: NAT, port forwarding, filtering, DNS.

The engine grades host by host, so a cross-host proof is made from the host on the side the
rubric names, inside its SSH batch: the probe opens one TCP connection with bash's
``/dev/tcp`` under ``timeout`` (no tool the candidate could have replaced: absolute paths, the
batch's clean environment) and sends the run's fresh token. On the far side, a *witness*
(« témoin », a tiny service of the exam's infrastructure, see :mod:`grader.lab.router`)
answers on the same connection ``TEMOIN <its hostname> <peer address it saw> <token>``: the
source address is observed by the far side, not inferred from the router's configuration.

Probe output, parsed by :func:`parse_connection`: ``@connecte`` once connected, then what
the far side answered; bash's error line when the connection failed; ``@code N`` last
(0 or the ``cat`` status when connected, 111 connection failed at once — refused, no route —,
124 no answer before the deadline — dropped).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import Field, field_validator

from checks._common.text import clip
from grader.check import TOKEN, Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.dns import TYPES
from grader.probes.dns import query as dns_query
from grader.probes.ssh import quote

WITNESS_PORT = 7777
_CONNECT = ('exec 3<>"/dev/tcp/$1/$2" || exit 111; echo @connecte; '
            'if [ -n "$3" ]; then printf "%s\\n" "$3" >&3; fi; /usr/bin/timeout 2 /bin/cat <&3')


def connect_probe(address: str, port: int, timeout: float = 3.0, send_token: bool = True) -> Probe:
    """One TCP connection from the host to ``address:port`` (sending the run's token, or nothing)."""
    token = TOKEN if send_token else ""
    command = (f"J={token}; {{ /usr/bin/timeout {timeout:g} /bin/bash -c {quote(_CONNECT)} _ {quote(address)} "
               f"{int(port)} \"$J\" 2>&1; echo \"@code $?\"; }} | /usr/bin/head -c 4096")
    return Probe("ssh", command, timeout + 7.0, active=True)


@dataclass(frozen=True)
class Connection:
    """What one connection probe saw."""

    connected: bool
    code: int | None
    answer: str  # what the far side sent (connected) or the error line (not connected)
    token: str

    @property
    def dropped(self) -> bool:
        return not self.connected and self.code == 124

    @property
    def failed(self) -> bool:
        return not self.connected and self.code == 111

    def witness(self) -> tuple[str, str, str] | None:
        """(hostname, peer address, token echoed) of a witness's answer line, if any."""
        for line in self.answer.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "TEMOIN":
                return parts[1], parts[2], parts[3] if len(parts) > 3 else ""
        return None

    def error_text(self) -> str:
        text = self.answer.strip().splitlines()
        line = text[-1] if text else ""
        return line.rsplit(": ", 1)[-1] if ": " in line else line


def parse_connection(result: ProbeResult) -> Connection:
    match = re.match(r"^J=(\S*);", result.command)
    token = match.group(1) if match else ""
    lines = result.stdout.splitlines()
    code = None
    for line in reversed(lines):
        if line.startswith("@code "):
            try:
                code = int(line.split()[1])
            except (IndexError, ValueError):
                code = None
            break
    body = [line for line in lines if not line.startswith("@code ")]
    connected = "@connecte" in body
    if connected:
        body = body[body.index("@connecte") + 1:]
    return Connection(connected, code, "\n".join(body).strip(), token)


def _no_connection(c: Connection, where: str, timeout: float) -> Msg:
    if c.dropped:
        return Msg("aucune réponse de {where} en {timeout} s (paquets perdus ou filtrés)", where=where,
                   timeout=f"{timeout:g}")
    return Msg("connexion à {where} impossible : {error}", where=where,
               error=clip(c.error_text(), 160, squeeze=True) or Msg("échec"))


class NatWorks(Check):
    """Une connexion ouverte depuis cet hôte du LAN arrive côté WAN avec l'adresse {source} (NAT).

    Active probe: from the host (a LAN client), one TCP connection to the WAN witness
    ``witness:port`` carrying the run's token; the witness answers with the source address it
    saw. Conforme when that address is ``source`` (the router's WAN address). A connection
    that arrives with another source (the LAN address: no translation) or never arrives
    (forwarding off, no route) is non conforme, whatever the router's configuration says.

    A refused connection does not say who refused: the router (a reject rule) or the witness
    host itself (its witness service down). With ``control_port`` (a port of the witness host
    known to answer, its SSH for instance), a second connection from the same host to that port
    tells them apart, as ``network.port_filtered``'s control does: when the control connects,
    the way out works and the witness is what fails (erreur, the candidate is not blamed); when
    it fails too, nothing leaves the LAN (non conforme). Without ``control_port`` a refused
    connection is erreur; silence (dropped) and « no route » stay non conforme (the rubric's
    ``depends_on`` on the witness's host tells when that host is simply off).
    """

    id = "network.nat_works"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        witness: str
        source: str
        port: int = Field(default=WITNESS_PORT, ge=1, le=65535)
        #: a port of the witness's host known to answer (its SSH...): tells a witness that is down from a way out that is broken
        control_port: int | None = Field(default=None, ge=1, le=65535)
        timeout: float = Field(default=3.0, gt=0, le=20)


    def probes(self, params: Params) -> Mapping[str, Probe]:
        probes = {"connexion": connect_probe(params.witness, params.port, params.timeout)}
        if params.control_port is not None:
            probes["controle"] = connect_probe(params.witness, params.control_port, params.timeout, send_token=False)
        return probes

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        c = parse_connection(results["connexion"])
        where = f"{params.witness}:{params.port}"
        expected = Msg("le témoin {where} voit arriver la connexion depuis {source}", where=where, source=params.source)
        if not c.connected and c.code not in (111, 124):
            return Verdict.erreur(Msg("sonde de connexion interrompue (code {code})", code=c.code),
                                  observed=clip(c.answer, 160, squeeze=True), expected=expected)
        if not c.connected:
            return self._not_connected(params, c, results, where, expected)
        seen = c.witness()
        if seen is None or not c.token or seen[2] != c.token:
            return Verdict.erreur(Msg("le service joint sur {where} n'a pas répondu comme le témoin attendu",
                                      where=where),
                                  observed=clip(c.answer, 160, squeeze=True) or Msg("aucune réponse"),
                                  expected=expected)
        host, peer, _ = seen
        observed = Msg("le témoin {host} ({where}) a reçu le jeton depuis l'adresse {peer}", host=host, where=where,
                       peer=peer)
        if peer == params.source:
            return Verdict.conforme(observed, expected,
                                    Msg("La connexion sortie du LAN arrive côté WAN avec l'adresse du routeur : la "
                                        "traduction d'adresses fonctionne."))
        return Verdict.non_conforme(observed, expected, Msg("La connexion arrive côté WAN avec l'adresse {peer} au "
                                                            "lieu de {source} : l'adresse source n'est pas traduite "
                                                            "par le routeur.", peer=peer, source=params.source))

    @staticmethod
    def _not_connected(params: Params, c: Connection, results: Mapping[str, ProbeResult], where: str,
                       expected: Msg) -> Verdict:
        """The witness was not reached: the candidate's way out, or the witness itself? The control says."""
        failure = _no_connection(c, where, params.timeout)
        observed = Msg("{failure} : le témoin côté WAN n'a rien reçu", failure=failure)
        blame = Msg("La connexion du LAN vers le WAN n'aboutit pas : la traduction d'adresses (ou le routage) ne "
                    "fonctionne pas.")
        if params.control_port is None:
            if c.failed and "refused" in c.error_text().lower():
                return Verdict.erreur(Msg("connexion refusée : le refus peut venir du routeur comme de l'hôte témoin "
                                          "(témoin arrêté) ; impossible de conclure sans port de contrôle"),
                                      observed=observed, expected=expected)
            return Verdict.non_conforme(observed, expected, blame)
        control = f"{params.witness}:{params.control_port}"
        k = parse_connection(results["controle"])
        if not k.connected and k.code not in (111, 124):
            return Verdict.erreur(Msg("sonde de contrôle interrompue (code {code})", code=k.code),
                                  observed=observed, expected=expected)
        if k.connected:
            return Verdict.erreur(Msg("le témoin {where} ne répond pas alors que {control} répond depuis cet hôte : "
                                      "le routeur laisse passer, le témoin est arrêté ou injoignable de son côté",
                                      where=where, control=control),
                                  observed=Msg("{shown} ; {control} joignable", shown=observed, control=control),
                                  expected=expected)
        return Verdict.non_conforme(Msg("{shown} ; {control_failure}", shown=observed,
                                        control_failure=_no_connection(k, control, params.timeout)),
                                    expected, blame)


class PortForward(Check):
    """Une connexion au port {port} de {address}, depuis cet hôte côté WAN, atteint le serveur interne {server}.

    Active probe: from the host (on the WAN side), one TCP connection to the router's WAN
    address and port carrying the run's token. Conforme when the answer comes from the
    witness running on the internal server ``server`` (its hostname) with the token, or, with
    ``expect``, when the answer contains that text (a service's banner). A refused, dropped or
    wrong answer is non conforme.
    """

    id = "network.port_forward"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        address: str
        port: int = Field(ge=1, le=65535)
        server: str
        expect: str | None = None
        timeout: float = Field(default=3.0, gt=0, le=20)


    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"connexion": connect_probe(params.address, params.port, params.timeout)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        c = parse_connection(results["connexion"])
        where = f"{params.address}:{params.port}"
        expected = (Msg("réponse du serveur interne {server} contenant « {expect} »", server=params.server,
                        expect=params.expect) if params.expect else
                    Msg("réponse du serveur interne {server}", server=params.server))
        if not c.connected:
            if c.code not in (111, 124):
                return Verdict.erreur(Msg("sonde de connexion interrompue (code {code})", code=c.code),
                                      observed=clip(c.answer, 160, squeeze=True), expected=expected)
            return Verdict.non_conforme(_no_connection(c, where, params.timeout), expected,
                                        Msg("Le port redirigé n'atteint pas le serveur interne."))
        seen = c.witness()
        if params.expect is not None:
            ok = params.expect in c.answer
            observed = Msg("connecté à {where}, réponse : {answer}", where=where,
                           answer=clip(c.answer, 160, squeeze=True) or Msg("(rien)"))
        else:
            ok = seen is not None and seen[0] == params.server and bool(c.token) and seen[2] == c.token
            observed = (Msg("connecté à {where} : le témoin {host} a reçu le jeton depuis {peer}", where=where,
                            host=seen[0], peer=seen[1]) if seen else
                        Msg("connecté à {where}, réponse : {answer}", where=where,
                            answer=clip(c.answer, 160, squeeze=True) or Msg("(rien)")))
        if ok:
            return Verdict.conforme(observed, expected, Msg("La redirection de port atteint le serveur interne."))
        return Verdict.non_conforme(observed, expected, Msg("Quelque chose répond sur ce port, mais pas le serveur "
                                                            "interne {server}.", server=params.server))


class PortFiltered(Check):
    """Le port {port} de {address} est fermé depuis cet hôte (connexion refusée ou sans réponse).

    Active probe: one TCP connection from the host, nothing sent. Conforme when it is refused
    or gets no answer in ``timeout``; non conforme when it is established (the banner read, if
    any, is in the evidence). With ``control_port``, a second connection to that port of the
    same address must succeed first: silence from a host that is simply off proves no filter
    (``erreur``).
    """

    id = "network.port_filtered"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        address: str
        port: int = Field(ge=1, le=65535)
        control_port: int | None = Field(default=None, ge=1, le=65535)
        timeout: float = Field(default=3.0, gt=0, le=20)


    def probes(self, params: Params) -> Mapping[str, Probe]:
        probes = {"connexion": connect_probe(params.address, params.port, params.timeout, send_token=False)}
        if params.control_port is not None:
            probes["controle"] = connect_probe(params.address, params.control_port, params.timeout, send_token=False)
        return probes

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        c = parse_connection(results["connexion"])
        where = f"{params.address}:{params.port}"
        expected = Msg("connexion à {where} refusée ou sans réponse", where=where)
        if c.connected:
            banner = clip(c.answer.splitlines()[0], 160, squeeze=True) if c.answer else ""
            return Verdict.non_conforme(Msg("connexion à {where} établie, bannière : {banner}", where=where, banner=banner)
                                        if banner else Msg("connexion à {where} établie", where=where),
                                        expected, Msg("Le port devrait être fermé de ce côté, il est ouvert."))
        if c.code not in (111, 124):
            return Verdict.erreur(Msg("sonde de connexion interrompue (code {code})", code=c.code),
                                  observed=clip(c.answer, 160, squeeze=True), expected=expected)
        observed = _no_connection(c, where, params.timeout)
        if params.control_port is not None:
            k = parse_connection(results["controle"])
            if not k.connected:
                return Verdict.erreur(Msg("impossible de conclure : {where} est fermé, mais le port témoin "
                                          "{control_port} ne répond pas non plus (hôte éteint ?)", where=where,
                                          control_port=params.control_port),
                                      observed=Msg("{shown} ; {output}", shown=observed, output=_no_connection(
                                          k, f"{params.address}:{params.control_port}", params.timeout)),
                                      expected=expected)
            return Verdict.conforme(Msg("{failure} ; le port témoin {port} répond", failure=observed,
                                        port=params.control_port), expected, Msg("Le port est fermé depuis ce côté."))
        return Verdict.conforme(observed, expected, Msg("Le port est fermé depuis ce côté."))


class DnsResolves(Check):
    """Le serveur DNS de l'hôte résout {name} en {address}.

    Grader-side question (``dns`` channel: the host's address, or ``options.dns.server``),
    recursion desired, as a client of the candidate's network would ask. Conforme when the
    answer holds a record of ``type`` whose value is ``address``.
    """

    id = "network.dns_resolves"
    platform = "any"
    transport = "dns"

    class Params(CheckParams):
        name: str
        address: str
        type: str = "A"

        @field_validator("type")
        @classmethod
        def _type(cls, value: str) -> str:
            if value.upper() not in TYPES:
                raise ValueError(f"type non pris en charge : {value} (connus : {', '.join(TYPES)})")
            return value.upper()

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"dns": dns_query(params.name, params.type)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        r = results["dns"]
        expected = f"{params.name} {params.type} {params.address}"
        if r.exit_code == -1:
            return Verdict.erreur(Msg("question DNS non envoyée : {detail}", detail=clip(r.stderr, 160, squeeze=True)),
                                  expected=expected)
        try:
            answer = json.loads(r.stdout)
        except ValueError:
            return Verdict.erreur(Msg("réponse DNS illisible"), observed=clip(r.stdout, 160, squeeze=True),
                                  expected=expected)
        values = [a["value"] for a in answer.get("answers", []) if a.get("type") == params.type]
        observed = (Msg("{rcode} : {values}", rcode=str(answer.get("rcode", "?")), values=", ".join(values))
                    if values else
                    Msg("{rcode} : aucun enregistrement {type}", rcode=str(answer.get("rcode", "?")), type=params.type))
        if params.address in values or params.address.rstrip(".") in [v.rstrip(".") for v in values]:
            return Verdict.conforme(observed, expected,
                                    Msg("Le serveur DNS résout {name} comme attendu.", name=params.name))
        return Verdict.non_conforme(observed, expected, Msg("Le serveur DNS ne résout pas {name} en {address}.",
                                                            name=params.name, address=params.address))
