"""The ``dc`` lab flavor: a Samba Active Directory domain controller, provisioned once.

Provisioning a domain takes seconds and would be the same for every candidate, so it is
done once (``samba-tool domain provision`` in a chroot on an overlay over the DC base tree)
and kept as a cached layer (see :func:`grader.lab.base.ensure_flavor`): every candidate's DC
mounts ``layer:base`` and only its own changes go to its upper directory. The layer is
provisioned with a placeholder address (192.0.2.20, TEST-NET-1); before each DC boots,
:func:`prepare` rewrites the DNS records that hold it to the DC's own address, writes its
/etc/hosts, its TLS certificate (issued by the lab's CA, so the grader can verify it) and
creates the grader's reader account. The DC then boots with real ``samba`` under systemd
(``samba-ad-dc.service``; smbd, nmbd and winbind skip themselves on a DC).

Every candidate's domain is ``tssr.lan`` (NetBIOS ``TSSR``): they are on separate networks,
as in an exam room. They share the domain SID and the machine secrets of the provisioned
layer, which no check looks at. The Administrator password is random, made at provisioning
and kept inside the DC at /root/lab-admin.password (0600), where a DC admin would know it;
planting code uses it through :func:`samba_tool_online`.

Planting a candidate's directory uses the real tools: :func:`samba_tool` (offline, in a
chroot of the host's root before boot: OUs, users, groups, computers, password policy) and
:func:`samba_tool_online` (inside the booted DC: ``gpo create`` needs SMB to SYSVOL,
``dns add`` needs RPC).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import secrets
import subprocess
import threading
from pathlib import Path
from typing import Any

from grader.errors import LabError
from grader.lab.base import HOST_ENV, Flavor, Progress, run, say

REALM = "TSSR.LAN"
DNS_DOMAIN = "tssr.lan"
NETBIOS_DOMAIN = "TSSR"
BASE_DN = "DC=tssr,DC=lan"
DC_HOSTNAME = "dc"
PLACEHOLDER_IP = "192.0.2.20"
ADMIN_PASSWORD_FILE = "/root/lab-admin.password"
READER = "grader"  # the grader's reader account (sAMAccountName), bound as grader@tssr.lan
READER_UPN = f"{READER}@{DNS_DOMAIN}"
READER_PASSWORD_FILE = "ad-lecteur.password"  # in the lab's state directory, mode 0600
CA_FILE = "ad-ca.pem"  # the lab CA's certificate (public), in the lab's state directory
CA_KEY_FILE = "ad-ca.key"
_SECRETS_LOCK = threading.Lock()  # hosts are prepared in parallel: the CA and the password are made once

PACKAGES: tuple[str, ...] = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2", "sudo", "procps", "iputils-ping",
    # samba-ad-provision is only a Recommends of samba-ad-dc, but provision fails without it.
    "samba", "samba-ad-dc", "samba-ad-provision", "winbind", "krb5-user", "ldb-tools", "smbclient",
)
REQUIRED_FILES = ("usr/lib/systemd/system/samba-ad-dc.service", "usr/sbin/samba", "usr/bin/samba-tool",
                  "usr/bin/ldbmodify", "usr/sbin/sshd", "usr/bin/sudo")
RECIPE = 1

# Rewrites every A record holding the placeholder address (dc, the zone apex, gc._msdcs,
# DomainDnsZones, ForestDnsZones) in the DC's own database, offline.
_DNS_REWRITE = r"""
import sys
import ldb
from samba.auth import system_session
from samba.dcerpc import dnsp
from samba.ndr import ndr_pack, ndr_unpack
from samba.param import LoadParm
from samba.samdb import SamDB
old, new = sys.argv[1], sys.argv[2]
lp = LoadParm()
lp.load_default()
db = SamDB(url=lp.private_path("sam.ldb"), session_info=system_session(), lp=lp)
base = str(db.get_default_basedn())
changed = 0
for part in ("DC=DomainDnsZones," + base, "DC=ForestDnsZones," + base):
    for msg in db.search(part, scope=ldb.SCOPE_SUBTREE, expression="(objectClass=dnsNode)", attrs=["dnsRecord"]):
        if "dnsRecord" not in msg:
            continue
        records = [ndr_unpack(dnsp.DnssrvRpcRecord, bytes(v)) for v in msg["dnsRecord"]]
        hit = False
        for r in records:
            if r.wType == dnsp.DNS_TYPE_A and r.data == old:
                r.data = new
                hit = True
        if hit:
            m = ldb.Message(msg.dn)
            m["dnsRecord"] = ldb.MessageElement([ndr_pack(r) for r in records], ldb.FLAG_MOD_REPLACE, "dnsRecord")
            db.modify(m)
            changed += 1
print(changed)
"""


def _chroot(root: Path, *argv: str, what: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run(["chroot", root, *argv], what=what, timeout=timeout)


def provision(root: Path, progress: Progress = None) -> None:
    """Once, into the cached layer: the domain, krb5.conf, a resolver pointing at the DC itself."""
    say(progress, f"Provisionnement du domaine {DNS_DOMAIN} (samba-tool domain provision)…")
    admin = secrets.token_urlsafe(15) + "-Ad9"  # complexity: upper, lower, digit, symbol
    secret = root / ADMIN_PASSWORD_FILE.lstrip("/")
    secret.write_text(admin + "\n")
    os.chmod(secret, 0o600)
    (root / "etc/samba/smb.conf").unlink(missing_ok=True)
    _chroot(root, "/usr/bin/samba-tool", "domain", "provision", "--use-rfc2307", f"--realm={REALM}",
            f"--domain={NETBIOS_DOMAIN}", "--server-role=dc", "--dns-backend=SAMBA_INTERNAL",
            f"--adminpass={admin}", f"--host-name={DC_HOSTNAME}", f"--host-ip={PLACEHOLDER_IP}",
            what="samba-tool domain provision", timeout=300)
    (root / "etc/krb5.conf").write_text((root / "var/lib/samba/private/krb5.conf").read_text())
    resolv = root / "etc/resolv.conf"
    if resolv.is_symlink():
        resolv.unlink()
    resolv.write_text(f"# lab DC: its own DNS\nsearch {DNS_DOMAIN}\nnameserver 127.0.0.1\n")
    # smbd, nmbd and winbind would skip themselves (ExecCondition); not starting them at all is clearer.
    for unit in ("smbd.service", "nmbd.service", "winbind.service"):
        (root / "etc/systemd/system/multi-user.target.wants" / unit).unlink(missing_ok=True)
    if not (root / "var/lib/samba/private/sam.ldb").exists():
        raise LabError("provisionnement incomplet : sam.ldb absent")


# --- the lab's secrets: reader password and CA --------------------------------------------------

def reader_password_path(state_dir: Path) -> Path:
    return Path(state_dir) / READER_PASSWORD_FILE


def ca_path(state_dir: Path) -> Path:
    return Path(state_dir) / CA_FILE


def ensure_reader_password(state_dir: Path) -> str:
    """The reader account's password, made once per lab state directory (file mode 0600)."""
    path = reader_password_path(state_dir)
    with _SECRETS_LOCK:
        return _reader_password(path)


def _reader_password(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(15) + "-Lc7\n")
    os.chmod(path, 0o600)
    return path.read_text().splitlines()[0]


def ensure_ca(state_dir: Path) -> tuple[Any, Any]:
    """The lab's CA (key, certificate), made once: it signs every DC's LDAPS certificate."""
    with _SECRETS_LOCK:
        return _ca(Path(state_dir))


def _ca(state_dir: Path) -> tuple[Any, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key_path, cert_path = state_dir / CA_KEY_FILE, ca_path(state_dir)
    if key_path.exists() and cert_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        return key, x509.load_pem_x509_certificate(cert_path.read_bytes())
    state_dir.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "grader lab CA"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "grader")])
    now = _dt.datetime.now(_dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - _dt.timedelta(days=1))
            .not_valid_after(now + _dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def issue_certificate(state_dir: Path, ip: str, names: tuple[str, ...]) -> tuple[bytes, bytes, bytes]:
    """(key PEM, certificate PEM, CA PEM) for a DC: SAN = its DNS names and its address."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_key, ca_cert = ensure_ca(state_dir)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # GnuTLS in Samba: RSA is the safe choice
    now = _dt.datetime.now(_dt.UTC)
    san = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(ip))]
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(days=1)).not_valid_after(now + _dt.timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()),
            cert.public_bytes(serialization.Encoding.PEM), ca_cert.public_bytes(serialization.Encoding.PEM))


# --- per DC, before boot ------------------------------------------------------------------------

def prepare(root: Path, spec: Any, lab: Any) -> None:
    """A candidate's DC before boot: its address in DNS and /etc/hosts, its certificate, the reader account."""
    fqdn = f"{DC_HOSTNAME}.{DNS_DOMAIN}"
    if spec.own_hostname != DC_HOSTNAME:
        raise LabError(f"un contrôleur de domaine du labo s'appelle « {DC_HOSTNAME} » (pas {spec.own_hostname})")
    (root / "etc/hosts").write_text(
        f"127.0.0.1\tlocalhost\n{spec.ip}\t{fqdn} {DC_HOSTNAME}\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
    tls = root / "var/lib/samba/private/tls"
    tls.mkdir(mode=0o700, parents=True, exist_ok=True)
    key, cert, ca = issue_certificate(lab.state_dir, spec.ip, (fqdn, DC_HOSTNAME))
    for name, data, mode in (("key.pem", key, 0o600), ("cert.pem", cert, 0o644), ("ca.pem", ca, 0o644)):
        path = tls / name
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    _chroot(root, "/usr/bin/python3", "-c", _DNS_REWRITE, PLACEHOLDER_IP, spec.ip,
            what=f"adresse de {spec.name} dans son DNS")
    password = ensure_reader_password(lab.state_dir)
    samba_tool(root, "user", "create", READER, password, "--description=Compte de lecture du correcteur (grader)")
    samba_tool(root, "user", "setexpiry", READER, "--noexpiry")


def samba_tool(root: Path, *args: str) -> str:
    """``samba-tool`` offline, on a DC's tree before boot (its sam.ldb directly, as root)."""
    proc = subprocess.run(["chroot", str(root), "/usr/bin/samba-tool", *args], check=False, capture_output=True,
                          text=True, env=dict(HOST_ENV), timeout=120)
    if proc.returncode != 0:
        raise LabError(f"samba-tool {' '.join(args[:3])} : {(proc.stderr or proc.stdout).strip()[-500:]}")
    return proc.stdout


def samba_tool_online(shell: Any, *args: str) -> str:
    """``samba-tool`` inside a booted DC, as Administrator (GPOs need SMB to SYSVOL, DNS needs RPC)."""
    script = f'exec /usr/bin/samba-tool "$@" -U Administrator --password="$(cat {ADMIN_PASSWORD_FILE})"'
    proc = shell.run("/bin/sh", "-c", script, "samba-tool", *args, timeout=120)
    if proc.returncode != 0:
        raise LabError(f"samba-tool {' '.join(args[:3])} : {(proc.stderr or proc.stdout).strip()[-500:]}")
    return proc.stdout


def ldbmodify(root_or_shell: Any, ldif: str) -> None:
    """Apply an LDIF to the DC's sam.ldb (before boot: a root path; after: a host shell)."""
    argv = ["/usr/bin/ldbmodify", "-H", "/var/lib/samba/private/sam.ldb"]
    if isinstance(root_or_shell, Path):
        proc = subprocess.run(["chroot", str(root_or_shell), *argv], input=ldif, check=False, capture_output=True,
                              text=True, env=dict(HOST_ENV), timeout=60)
    else:
        proc = root_or_shell.run(*argv, input=ldif, timeout=60)
    if proc.returncode != 0:
        raise LabError(f"ldbmodify : {(proc.stderr or proc.stdout).strip()[-500:]}")


DC = Flavor("dc", PACKAGES, REQUIRED_FILES, recipe=RECIPE, provision=provision, prepare=prepare, ports=(636, 389),
            description=f"contrôleur de domaine Samba AD {DNS_DOMAIN}")
