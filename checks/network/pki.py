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
pure function, at the instant the handshake was made (its ``started`` time), so ``rejudge``
reaches the same verdict later. The host's SSH being the primary channel, a server that is down
is ``injoignable`` before any TLS verdict; a host reached over SSH whose port 443 refuses us is an
observation (``non_conforme``).

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

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from pydantic import Field, field_validator

from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict, said_as_read
from grader.probes.ssh import quote, ssh
from grader.probes.tls import handshake

DEFAULT_CA_FILE = "/usr/local/share/ca-certificates/tssr-ca.crt"


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _said_name(n: x509.Name) -> str | Msg:
    """A certificate name as a :class:`Msg` value (« (vide) » said in the report's language)."""
    return n.rfc4514_string() or Msg("(vide)")


def _tls_failure(tls: ProbeResult) -> str | Msg:
    """Why the TLS probe failed, said in the report's language (the tls channel writes its own words by reference)."""
    return said_as_read(tls.stderr.strip(), tls.stderr_ref)


def _san(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return ext.get_values_for_type(x509.DNSName), [str(a) for a in ext.get_values_for_type(x509.IPAddress)]


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Issuer name matches and the signature verifies with the issuer's key."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _dns_match(pattern: str, name: str) -> bool:
    """RFC 6125 matching: case-insensitive, a wildcard only as the whole left-most label."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def describe(cert: x509.Certificate) -> Msg:
    """What the jury reads about one certificate."""
    dns, ips = _san(cert)
    san = ", ".join([f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips]) or Msg("aucun")
    return Msg("sujet {subject} ; émetteur {issuer} ; SAN {san} ; valide du {start} au {end} UTC ; SHA-256 {fingerprint}",
               subject=_said_name(cert.subject), issuer=_said_name(cert.issuer), san=san,
               start=f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M}", end=f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M}",
               fingerprint=fingerprint(cert))


def _authorities(anchors: list[x509.Certificate]) -> Msg:
    """« AC : … | AC : … », said in the report's language."""
    said = Msg("AC : {certificate}", certificate=describe(anchors[0]))
    for anchor in anchors[1:]:
        said = Msg("{previous} | AC : {certificate}", previous=said, certificate=describe(anchor))
    return said


@dataclass(frozen=True)
class Finding:
    ok: bool
    message: Msg


def verify(chain: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate], name: str, at: datetime,
           require_san: bool = True) -> Finding:
    """Does ``chain`` (leaf first, as sent) lead to one of ``anchors`` and name ``name`` at ``at``?"""
    leaf = chain[0]
    anchor_prints = {fingerprint(a) for a in anchors}
    if fingerprint(leaf) in anchor_prints and leaf.issuer == leaf.subject:
        return Finding(False, Msg("Le site présente le certificat de l'autorité elle-même : c'est un certificat "
                                  "auto-signé, il n'a pas été émis par l'AC."))
    # Path: leaf, then the server's intermediates in order, until a certificate issued by an anchor.
    path, current, root = [leaf], leaf, None
    pool = list(chain[1:])
    for _ in range(len(pool) + 1):
        root = next((a for a in anchors if _issued_by(current, a)), None)
        if root is not None:
            break
        parent = next((c for c in pool if c not in path and _is_ca(c) and _issued_by(current, c)), None)
        if parent is None:
            break
        path.append(parent)
        current = parent
    if root is None:
        if leaf.issuer == leaf.subject and _issued_by(leaf, leaf):
            return Finding(False,
                           Msg("Le certificat du site est auto-signé : il n'a pas été émis par l'AC du candidat."))
        issuers = tuple(_said_name(a.subject) for a in anchors)
        return Finding(False, Msg("Le certificat du site (émis par {issuer}) n'a pas été signé par l'AC publiée "
                                  "({issuers}).", issuer=_said_name(current.issuer), issuers=issuers))
    for cert in (*path, root):
        if at < cert.not_valid_before_utc:
            return Finding(False, Msg("Certificat pas encore valide au moment de la vérification : {subject} (valide "
                                      "à partir du {date} UTC).", subject=_said_name(cert.subject),
                                      date=cert.not_valid_before_utc.strftime("%Y-%m-%d %H:%M")))
        if at > cert.not_valid_after_utc:
            return Finding(False,
                           Msg("Certificat expiré : {subject} (expiré le {date} UTC).",
                               subject=_said_name(cert.subject),
                               date=cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M")))
    if not _is_ca(root):
        return Finding(False, Msg("Le certificat publié comme AC n'est pas celui d'une autorité (CA:FALSE)."))
    dns, ips = _san(leaf)
    try:
        wanted_ip = ipaddress.ip_address(name)
    except ValueError:
        wanted_ip = None
    if wanted_ip is not None:
        named = any(ipaddress.ip_address(i) == wanted_ip for i in ips)
    else:
        named = any(_dns_match(d, name) for d in dns)
    if not named and not dns and not ips and not require_san:
        cns = [str(a.value) for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        named = any(_dns_match(c, name) for c in cns)
    if not named:
        if (dns or ips) or require_san:
            return Finding(False, Msg("Le certificat est bien émis par l'AC, mais ne porte pas le nom {name} dans son "
                                      "extension subjectAltName : les navigateurs le refusent.", name=name))
        return Finding(False, Msg("Le certificat est bien émis par l'AC, mais ne porte pas le nom {name} ni dans son "
                                  "CN : les navigateurs le refusent.", name=name))
    return Finding(True, Msg("Le certificat du site est émis par l'AC interne du candidat, valide et au bon nom."))


def _load_pems(text: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        return []


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
        anchors = _load_pems(ac.stdout)
        if not anchors:
            return Verdict.non_conforme(Msg("{ca_file} ne contient aucun certificat PEM lisible", ca_file=params.ca_file),
                                        expected,
                                        Msg("Le fichier publié n'est pas un certificat d'AC."))
        ca_text = _authorities(anchors[:3])
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
            chain = [c for pem in doc["chain"] for c in _load_pems(pem)]
            at = datetime.fromisoformat(tls.started).astimezone(UTC)
        except (ValueError, KeyError, TypeError) as exc:
            return Verdict.erreur(Msg("résultat de la négociation TLS illisible : {exc}", exc=exc), expected=expected)
        if not chain:
            return Verdict.erreur(Msg("le serveur n'a présenté aucun certificat lisible"), expected=expected)
        finding = verify(chain, anchors, params.name, at, params.require_san)
        observed = Msg("{peer} {version} : certificat du site : {certificate}{intermediates} ; {authorities} ; "
                       "vérifié au {at} UTC", peer=str(doc.get("peer", "?")), version=str(doc.get("version", "?")),
                       certificate=describe(chain[0]),
                       intermediates=Msg(" (+{count} intermédiaire(s))", count=len(chain) - 1) if len(chain) > 1 else "",
                       authorities=ca_text, at=f"{at:%Y-%m-%d %H:%M:%S}")
        if finding.ok:
            return Verdict.conforme(observed, expected, finding.message)
        return Verdict.non_conforme(observed, expected, finding.message)
