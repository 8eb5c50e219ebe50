"""A candidate's internal PKI in the lab: their CA, its published certificate, apache serving HTTPS.

What a candidate does in the exam, planted before boot: a certification authority whose key stays
on the server (``/root/pki``, 0700), its certificate published where clients fetch it
(``/usr/local/share/ca-certificates/tssr-ca.crt``), and apache's ``mod_ssl`` serving the intranet
on 443 with a certificate for ``intranet.tssr.lan`` (and srv-lin's own name and address).

The CA and the certificate it issues come from :mod:`grader.lab.samba`'s helpers (one CA per
directory, made once): the directory given to them is *inside the candidate's tree*, so each
candidate has their own CA, distinct from the lab's own CA that signs the domain controllers.
The mistake planted for the second candidate is the classic one: a CA made and published, but
apache serving a self-signed certificate made with ``openssl req -x509`` (CA:TRUE, the right
name: only its issuer is wrong).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
from pathlib import Path

from grader.lab import samba
from grader.lab.base import run

SITE_NAME = "intranet.tssr.lan"
HOST_NAME = "srv-lin.tssr.lan"
CA_DIR = "/root/pki"
CA_FILE = "/usr/local/share/ca-certificates/tssr-ca.crt"
CERT_FILE = f"/etc/ssl/certs/{SITE_NAME}.crt"
KEY_FILE = f"/etc/ssl/private/{SITE_NAME}.key"
SITE_CONF = f"""<VirtualHost *:443>
    ServerName {SITE_NAME}
    ServerAlias {HOST_NAME}
    DocumentRoot /var/www/html
    SSLEngine on
    SSLCertificateFile {CERT_FILE}
    SSLCertificateKeyFile {KEY_FILE}
</VirtualHost>
"""


def _put(root: Path, path: str, data: bytes, mode: int) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chown(target, 0, 0)


def self_signed(names: tuple[str, ...], ip: str, *, days: int = 365) -> tuple[bytes, bytes]:
    """(key PEM, certificate PEM) as ``openssl req -x509 -newkey rsa:2048 -addext subjectAltName=...`` makes them."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = _dt.datetime.now(_dt.UTC)
    san = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(ip))]
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - _dt.timedelta(minutes=5))
            .not_valid_after(now + _dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .sign(key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()), cert.public_bytes(serialization.Encoding.PEM))


def plant_https(root: Path, ip: str, *, issued_by_ca: bool) -> None:
    """The candidate's CA published on the server, apache serving the intranet over HTTPS.

    ``issued_by_ca``: the site's certificate is issued by that CA (as asked), else self-signed.
    """
    ca_dir = root / CA_DIR.lstrip("/")
    ca_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(ca_dir, 0o700)
    names = (SITE_NAME, HOST_NAME)
    if issued_by_ca:
        key, cert, ca = samba.issue_certificate(ca_dir, ip, names)
    else:
        _, ca_cert = samba.ensure_ca(ca_dir)
        from cryptography.hazmat.primitives import serialization

        ca = ca_cert.public_bytes(serialization.Encoding.PEM)
        key, cert = self_signed(names, ip)
    _put(root, CA_FILE, ca, 0o644)
    _put(root, CERT_FILE, cert, 0o644)
    _put(root, KEY_FILE, key, 0o600)
    _put(root, f"/etc/apache2/sites-available/{SITE_NAME}-ssl.conf", SITE_CONF.encode(), 0o644)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
    run(["chroot", root, "/usr/sbin/a2enmod", "-q", "ssl"], what="a2enmod ssl", env=env)
    run(["chroot", root, "/usr/sbin/a2ensite", "-q", f"{SITE_NAME}-ssl"], what="a2ensite", env=env)
