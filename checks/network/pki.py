"""PKI: the HTTPS site's certificate was issued by the candidate's own certification authority.

Design (two channels in one check, on the server that hosts both the site and the published CA):

* the trust anchor is **the candidate's CA certificate**, read over SSH where the rubric says it
  is published (``/usr/local/share/ca-certificates/tssr-ca.crt`` on Debian): the candidate made
  that CA during the exam, so no copy exists anywhere else, and "published where the clients
  fetch it" is part of what is asked;
* the server's chain is read by **the grader's own TLS handshake** (``tls`` channel, SNI = the
  expected name), never by a command on the candidate's host: a host can show a file, it cannot
  forge what its web server sends to us.

Both are raw evidence; :meth:`HttpsIssuedByCa.judge` verifies the chain against the anchor as a
pure function (:mod:`checks.network._x509`, imported only then), at the instant the handshake
was made (its ``started`` time), so ``rejudge`` reaches the same verdict later. The host's SSH
being the primary channel, a server that is down is ``injoignable`` before any TLS verdict; a
host reached over SSH whose port 443 refuses us is an observation (``non_conforme``).

Why not a strict Web-PKI verifier (cryptography's ``PolicyBuilder``): it enforces CA/Browser Forum
profile rules (key usage on the CA, extension criticality...) that an ``openssl req -x509`` CA
made in an exam does not follow, which would fail candidates for what the exam does not ask. The
judge checks what a browser needs and the jury can read: each link's issuer name and signature,
CA:TRUE on the issuers, validity dates of every certificate, the expected name in the leaf's
subjectAltName (a CN-only certificate is refused by current browsers; ``require_san: false`` to
accept it), and that the leaf is not the CA itself (a self-signed certificate published as
« the CA » proves no issuance).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

from pydantic import Field, field_validator

from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict, said_as_read
from grader.probes.ssh import quote, ssh
from grader.probes.tls import handshake

DEFAULT_CA_FILE = "/usr/local/share/ca-certificates/tssr-ca.crt"


def _tls_failure(tls: ProbeResult) -> str | Msg:
    """Why the TLS probe failed, said in the report's language (the tls channel writes its own words by reference)."""
    return said_as_read(tls.stderr.strip(), tls.stderr_ref)


class HttpsIssuedByCa(Check):
    """Le site HTTPS {name} présente un certificat émis par l'autorité de certification interne publiée dans {ca_file}.

    Two probes: ``ac`` reads the published CA certificate over SSH (passive); ``tls`` is the
    grader's own handshake with the host (or ``address``) on ``port``, SNI ``name`` (active). See
    the module docstring for why this split, and what the verification covers. Conforme when the
    chain the server sent leads, by issuer name and signature, to a CA certificate of the
    published file, every certificate valid at the handshake's instant, the leaf naming ``name``.
    """

    id = "pki.https_issued_by_ca"
    platform = "linux"
    transport = "tls"

    class Params(CheckParams):
        name: str
        ca_file: str = DEFAULT_CA_FILE
        port: int = Field(default=443, ge=1, le=65535)
        address: str | None = None
        require_san: bool = True
        timeout: float = Field(default=5.0, gt=0, le=30)

        @field_validator("ca_file")
        @classmethod
        def _absolute(cls, value: str) -> str:
            if not value.startswith("/"):
                raise ValueError("chemin absolu attendu pour le certificat de l'AC")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"ac": ssh(f"/bin/cat -- {quote(params.ca_file)}"),
                "tls": handshake(params.name, params.port, params.address, params.timeout)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        from checks.network import _x509  # cryptography.x509 only when a certificate is judged

        expected = Msg("chaîne présentée sur le port {port} pour {name} menant à l'AC de {ca_file}, certificats en "
                       "cours de validité, nom dans le SAN du certificat", port=params.port, name=params.name,
                       ca_file=params.ca_file)
        ac, tls = results["ac"], results["tls"]
        # The trust anchor first: without it nothing can be verified.
        if ac.exit_code != 0:
            err = " ".join((ac.stderr or ac.stdout).split())[:200]
            if "No such file" in err or "Not a directory" in err:
                return Verdict.non_conforme(Msg("{path} absent", path=params.ca_file), expected,
                                            Msg("Le certificat de l'AC n'est pas publié à {ca_file}.",
                                                ca_file=params.ca_file))
            return Verdict.erreur(Msg("lecture de {ca_file} impossible : {value}", ca_file=params.ca_file,
                                      value=err or Msg("code {code}", code=ac.exit_code)), expected=expected)
        anchors = _x509.load_pems(ac.stdout)
        if not anchors:
            return Verdict.non_conforme(Msg("{ca_file} ne contient aucun certificat PEM lisible", ca_file=params.ca_file),
                                        expected,
                                        Msg("Le fichier publié n'est pas un certificat d'AC."))
        ca_text = _x509.authorities(anchors[:3])
        # Then what the server showed us.
        if tls.exit_code == -1:
            return Verdict.non_conforme(Msg("{shown} ; {output}", shown=tls.stderr.strip(), output=ca_text), expected,
                                        Msg("Le site HTTPS ne répond pas sur le port {port}.", port=params.port))
        if tls.exit_code == 1:
            return Verdict.non_conforme(Msg("{shown} ; {output}", shown=_tls_failure(tls), output=ca_text),
                                        expected,
                                        Msg("Le port {port} ne parle pas TLS correctement.", port=params.port))
        try:
            doc = json.loads(tls.stdout)
            chain = [c for pem in doc["chain"] for c in _x509.load_pems(pem)]
            at = datetime.fromisoformat(tls.started).astimezone(UTC)
        except (ValueError, KeyError, TypeError) as exc:
            return Verdict.erreur(Msg("résultat de la négociation TLS illisible : {exc}", exc=exc), expected=expected)
        if not chain:
            return Verdict.erreur(Msg("le serveur n'a présenté aucun certificat lisible"), expected=expected)
        finding = _x509.verify(chain, anchors, params.name, at, params.require_san)
        observed = Msg("{peer} {version} : certificat du site : {certificate}{intermediates} ; {authorities} ; "
                       "vérifié au {at} UTC", peer=str(doc.get("peer", "?")), version=str(doc.get("version", "?")),
                       certificate=_x509.describe(chain[0]),
                       intermediates=Msg(" (+{count} intermédiaire(s))", count=len(chain) - 1) if len(chain) > 1 else "",
                       authorities=ca_text, at=f"{at:%Y-%m-%d %H:%M:%S}")
        if finding.ok:
            return Verdict.conforme(observed, expected, finding.message)
        return Verdict.non_conforme(observed, expected, finding.message)
