"""Judge of "pki.https_issued_by_ca": a server's chain verified against the candidate's published CA.

Certificates are made here with ``cryptography`` (a CA like ``openssl req -x509`` makes, leaves
like ``openssl x509 -req -CA`` with a SAN extension), so every adversarial case is exact: a
certificate for another name, expired, not yet valid, self-signed, the CA itself served as the
site's certificate, a CA with the same name but another key, an intermediate not sent. The
probe results have the shapes :mod:`grader.transports.tls` and the SSH envelope produce (the
channel is tested on a real socket in tests/transports/test_tls.py, the whole check on the lab
in tests/test_proxy_pki_lab.py).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from checks.network._x509 import fingerprint, verify
from checks.network.pki import HttpsIssuedByCa
from grader.check import evaluate
from grader.model import ProbeResult, Status
from grader.probes.tls import handshake

NOW = dt.datetime(2026, 11, 29, 4, 0, tzinfo=dt.UTC)
NAME = "intranet.tssr.lan"


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def make_ca(cn: str = "TSSR Root CA", *, ca: bool = True, issuer=None, days: int = 3650):
    """(key, certificate): self-signed when ``issuer`` is None, else issued by (key, cert) ``issuer``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    signer_key, signer_name = (key, name) if issuer is None else (issuer[0], issuer[1].subject)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(signer_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - dt.timedelta(days=30))
            .not_valid_after(NOW + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(signer_key, hashes.SHA256()))
    return key, cert


def make_leaf(issuer, names=(NAME,), ip: str | None = "10.77.1.10", *, san: bool = True,
              start: dt.timedelta = dt.timedelta(days=-1), days: int = 365):
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
               .issuer_name(issuer[1].subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW + start).not_valid_after(NOW + start + dt.timedelta(days=days)))
    if san:
        alt = [x509.DNSName(n) for n in names] + ([x509.IPAddress(ipaddress.ip_address(ip))] if ip else [])
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return key, builder.sign(issuer[0], hashes.SHA256())


CA = make_ca()


def _results(chain, ca_text: str | None = None, *, ca_exit: int = 0, ca_stderr: str = "", tls_exit: int = 0,
             tls_stderr: str = "", at: dt.datetime = NOW, params=None):
    params = params or HttpsIssuedByCa.Params(name=NAME)
    probes = HttpsIssuedByCa().probes(params)
    ac = ProbeResult(probes["ac"].key, "ssh", probes["ac"].command,
                     stdout=_pem(CA[1]) if ca_text is None else ca_text, stderr=ca_stderr, exit_code=ca_exit)
    doc = {"peer": "10.77.1.10:443", "servername": NAME, "version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384",
           "chain": [_pem(c) for c in chain]}
    tls = ProbeResult(probes["tls"].key, "tls", probes["tls"].command, stdout=json.dumps(doc) if tls_exit == 0 else "",
                      stderr=tls_stderr, exit_code=tls_exit, started=at.isoformat(timespec="milliseconds"))
    return params, {"ac": ac, "tls": tls}


def _judge(chain, **kw):
    params, results = _results(chain, **kw)
    return evaluate(HttpsIssuedByCa(), params, results)


def test_probes_read_the_published_ca_over_ssh_and_shake_hands_from_the_grader():
    probes = HttpsIssuedByCa().probes(HttpsIssuedByCa.Params(name=NAME))
    assert probes["ac"].transport == "ssh" and probes["ac"].command == \
        "/bin/cat -- /usr/local/share/ca-certificates/tssr-ca.crt" and not probes["ac"].active
    assert probes["tls"] == handshake(NAME, 443, None, 5.0) and probes["tls"].active
    assert json.loads(probes["tls"].command) == {"port": 443, "servername": NAME}
    hostile = HttpsIssuedByCa().probes(HttpsIssuedByCa.Params(name=NAME, ca_file="/tmp/x; rm -rf /"))
    assert hostile["ac"].command == "/bin/cat -- '/tmp/x; rm -rf /'"
    with pytest.raises(ValueError):
        HttpsIssuedByCa.Params(name=NAME, ca_file="tssr-ca.crt")


def test_certificate_issued_by_the_candidates_ca_is_conforme_with_the_evidence():
    leaf = make_leaf(CA)[1]
    v = _judge([leaf])
    assert v.status is Status.CONFORME, v.message
    assert f"sujet CN={NAME}" in v.observed and "émetteur CN=TSSR Root CA" in v.observed
    assert f"SAN DNS:{NAME}, IP:10.77.1.10" in v.observed and f"SHA-256 {fingerprint(leaf)}" in v.observed
    assert "valide du 2026-11-28" in v.observed and "AC : sujet CN=TSSR Root CA" in v.observed
    assert "vérifié au 2026-11-29 04:00:00 UTC" in v.observed


def test_wrong_name_is_non_conforme():
    v = _judge([make_leaf(CA, ("www.tssr.lan",))[1]])
    assert v.status is Status.NON_CONFORME and "ne porte pas le nom intranet.tssr.lan" in v.message


def test_expired_or_not_yet_valid_is_non_conforme():
    expired = _judge([make_leaf(CA, start=dt.timedelta(days=-400), days=365)[1]])
    assert expired.status is Status.NON_CONFORME and "expiré" in expired.message
    future = _judge([make_leaf(CA, start=dt.timedelta(days=2))[1]])
    assert future.status is Status.NON_CONFORME and "pas encore valide" in future.message
    # the verdict is a function of the handshake's instant: the same evidence judged as of 2040 is expired
    later = _judge([make_leaf(CA)[1]], at=NOW + dt.timedelta(days=5000))
    assert later.status is Status.NON_CONFORME and "expiré" in later.message


def test_self_signed_certificate_is_non_conforme():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    own = (key, x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
           .serial_number(1).not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=9))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
           .sign(key, hashes.SHA256()))
    v = _judge([own[1]])
    assert v.status is Status.NON_CONFORME and "auto-signé" in v.message


def test_the_ca_itself_served_as_the_sites_certificate_proves_no_issuance():
    """A self-signed certificate published as « the CA » would verify itself: refused."""
    _key, ca_like = make_ca(NAME)
    v = _judge([ca_like], ca_text=_pem(ca_like))
    assert v.status is Status.NON_CONFORME and "l'autorité elle-même" in v.message


def test_a_published_file_holding_the_ca_and_the_sites_certificate_still_verifies():
    leaf = make_leaf(CA)[1]
    assert _judge([leaf], ca_text=_pem(CA[1]) + _pem(leaf)).status is Status.CONFORME


def test_same_ca_name_but_another_key_is_not_the_candidates_ca():
    impostor = make_ca("TSSR Root CA")  # same subject, different key: names alone prove nothing
    v = _judge([make_leaf(impostor)[1]])
    assert v.status is Status.NON_CONFORME and "n'a pas été signé par l'AC publiée" in v.message


def test_intermediate_ca_sent_by_the_server_and_missing():
    inter = make_ca("TSSR Sub CA", issuer=CA)
    leaf = make_leaf(inter)[1]
    assert _judge([leaf, inter[1]]).status is Status.CONFORME
    missing = _judge([leaf])
    assert missing.status is Status.NON_CONFORME and "émis par CN=TSSR Sub CA" in missing.message
    not_ca = make_ca("Pas une AC", ca=False, issuer=CA)
    forged = _judge([make_leaf(not_ca)[1], not_ca[1]])  # a leaf cannot issue certificates
    assert forged.status is Status.NON_CONFORME


def test_published_certificate_that_is_not_a_ca():
    not_ca = make_ca("TSSR Root CA", ca=False)
    v = _judge([make_leaf(not_ca)[1]], ca_text=_pem(not_ca[1]))
    assert v.status is Status.NON_CONFORME and "CA:FALSE" in v.message


def test_cn_only_certificate_needs_require_san_false():
    leaf = make_leaf(CA, san=False)[1]
    v = _judge([leaf])
    assert v.status is Status.NON_CONFORME and "subjectAltName" in v.message
    relaxed = HttpsIssuedByCa.Params(name=NAME, require_san=False)
    assert _judge([leaf], params=relaxed).status is Status.CONFORME


def test_wildcard_and_address_names():
    assert _judge([make_leaf(CA, ("*.tssr.lan",))[1]]).status is Status.CONFORME
    deep = _judge([make_leaf(CA, ("*.lan",))[1]])
    assert deep.status is Status.NON_CONFORME  # a wildcard covers one label only
    by_ip = HttpsIssuedByCa.Params(name="10.77.1.10")
    assert _judge([make_leaf(CA)[1]], params=by_ip).status is Status.CONFORME


def test_published_ca_missing_unreadable_or_garbage():
    leaf = make_leaf(CA)[1]
    missing = _judge([leaf], ca_text="", ca_exit=1,
                     ca_stderr="/bin/cat: /usr/local/share/ca-certificates/tssr-ca.crt: No such file or directory\n")
    assert missing.status is Status.NON_CONFORME and "n'est pas publié" in missing.message
    denied = _judge([leaf], ca_text="", ca_exit=1, ca_stderr="/bin/cat: ...: Permission denied\n")
    assert denied.status is Status.ERREUR
    garbage = _judge([leaf], ca_text="Bienvenue sur srv-lin !\n")
    assert garbage.status is Status.NON_CONFORME and "aucun certificat" in garbage.observed


def test_site_not_answering_or_not_speaking_tls():
    refused = _judge([], tls_exit=-1, tls_stderr="10.77.1.10:443 : Connection refused")
    assert refused.status is Status.NON_CONFORME and "ne répond pas sur le port 443" in refused.message
    assert "Connection refused" in refused.observed and "AC : sujet CN=TSSR Root CA" in refused.observed
    plain = _judge([], tls_exit=1, tls_stderr="10.77.1.10:443 : échec de la négociation TLS : WRONG_VERSION_NUMBER")
    assert plain.status is Status.NON_CONFORME and "ne parle pas TLS" in plain.message


def test_verify_prefers_the_anchor_over_a_chain_sent_with_junk():
    leaf = make_leaf(CA)[1]
    other = make_ca("Autre AC")[1]
    assert verify([leaf, other, CA[1]], [CA[1]], NAME, NOW).ok
