"""X.509 for the PKI check: reading PEM certificates, describing them, verifying a chain against the CA.

Apart from :mod:`checks.network.pki` so that loading the catalogue (``grader checks list``,
``grader rubric validate``) does not import ``cryptography.x509``, tens of milliseconds on every
start (``python -X importtime``; bench/bench_startup.py watches it); the check's judge imports
this module when it runs. See the check's module docstring for what the verification covers
and why it is not a Web-PKI verifier.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from grader.model import Msg


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _said_name(n: x509.Name) -> str | Msg:
    """A certificate name as a :class:`Msg` value (« (vide) » said in the report's language)."""
    return n.rfc4514_string() or Msg("(vide)")


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


def authorities(anchors: list[x509.Certificate]) -> Msg:
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


def load_pems(text: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        return []
