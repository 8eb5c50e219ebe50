"""The candidates' remote-access VPN in the demo room: OpenVPN (tun) from srv-wan to the router.

The kernel here has no WireGuard module, so the VPN is OpenVPN over UDP with a small PKI
(a CA, the server's and the remote worker's certificates), made by the lab with
``cryptography`` as a candidate would with easy-rsa. The router runs the server on its WAN
address (``openvpn-server@tssr``: tunnel network :func:`tunnel_net`, the LAN route pushed to
clients, a status file written every :data:`STATUS_INTERVAL` seconds); ``srv-wan`` is the
remote worker (« télétravailleur », ``openvpn-client@teletravail``) whose tunnel comes up at
boot. Both hosts get ``/dev/net/tun`` (``HostSpec.tun``).

``pc-lan`` routes the tunnel network back through the router, as a LAN whose default
gateway is the router would: a connection from the remote worker then reaches pc-lan's
witness with the worker's tunnel address as source. Without the pushed route, the worker's
connection to the LAN takes another path (its management interface), and the witness sees
that other source: configured, tunnel up, and yet the LAN is not reached through the VPN.

:func:`equip` is the one call the demo room makes per candidate.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from grader.errors import LabError
from grader.lab.hosts import HostShell, HostSpec, then

PORT = 1194
INSTANCE = "tssr"  # openvpn-server@tssr on the router
CLIENT_INSTANCE = "teletravail"  # openvpn-client@teletravail on srv-wan
CLIENT_NAME = "teletravailleur"  # the remote worker's certificate common name
SERVER_NAME = "routeur"
STATUS_INTERVAL = 5
STATUS_FILE = f"/run/openvpn-server/status-{INSTANCE}.log"
SERVER_DIR = "/etc/openvpn/server"
CLIENT_DIR = "/etc/openvpn/client"

_PKI: dict[str, dict[str, bytes]] = {}
_PKI_LOCK = threading.Lock()  # hosts are planted in parallel: one PKI per candidate, made once


def tunnel_net(candidate: str) -> str:
    """The candidate's VPN network, 10.77.N.192/27, beside its LAN (.64/27) and WAN (.128/27)."""
    return f"10.77.{int(candidate)}.192/27"


def _lan(candidate: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(f"10.77.{int(candidate)}.64/27")


def router_wan(candidate: str) -> str:
    return f"10.77.{int(candidate)}.129"


def router_lan(candidate: str) -> str:
    return f"10.77.{int(candidate)}.65"


# --- the PKI ------------------------------------------------------------------------------------

def pki(candidate: str) -> dict[str, bytes]:
    """PEM files of the candidate's VPN: ca.crt, serveur.crt/.key, client.crt/.key (made once per process)."""
    with _PKI_LOCK:
        if candidate not in _PKI:
            _PKI[candidate] = _make_pki()
        return _PKI[candidate]


def _make_pki() -> dict[str, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = _dt.datetime.now(_dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def usage(**on: bool) -> x509.KeyUsage:
        flags = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                               "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
        return x509.KeyUsage(**{**flags, **on})

    def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("AC VPN TSSR")).issuer_name(name("AC VPN TSSR"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - _dt.timedelta(days=1)).not_valid_after(now + _dt.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
          .sign(ca_key, hashes.SHA256()))
    out = {"ca.crt": ca.public_bytes(serialization.Encoding.PEM)}
    for stem, cn, eku in (("serveur", SERVER_NAME, ExtendedKeyUsageOID.SERVER_AUTH),
                          ("client", CLIENT_NAME, ExtendedKeyUsageOID.CLIENT_AUTH)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - _dt.timedelta(days=1))
                .not_valid_after(now + _dt.timedelta(days=825))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(usage(digital_signature=True, key_agreement=True), critical=True)
                .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        out[f"{stem}.crt"] = cert.public_bytes(serialization.Encoding.PEM)
        out[f"{stem}.key"] = pem_key(key)
    return out


# --- planting -----------------------------------------------------------------------------------

def _put(root: Path, path: str, data: bytes | str, mode: int) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data.encode() if isinstance(data, str) else data)


def _enable(root: Path, template: str, instance: str) -> None:
    """``systemctl enable template@instance`` done offline."""
    if not (root / "lib/systemd/system" / f"{template}@.service").exists():
        raise LabError(f"unité absente de la base : {template}@.service (paquet openvpn)")
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / f"{template}@{instance}.service"
    if not link.is_symlink():
        link.symlink_to(f"/lib/systemd/system/{template}@.service")


def server_conf(candidate: str, *, push_route: bool = True) -> str:
    net = ipaddress.ip_network(tunnel_net(candidate))
    lan = _lan(candidate)
    push = f'push "route {lan.network_address} {lan.netmask}"\n' if push_route else ""
    return (f"# Accès distant des télétravailleurs (OpenVPN, tun)\n"
            f"local {router_wan(candidate)}\nport {PORT}\nproto udp\ndev tun\n"
            f"ca {INSTANCE}/ca.crt\ncert {INSTANCE}/serveur.crt\nkey {INSTANCE}/serveur.key\ndh none\n"
            f"topology subnet\nserver {net.network_address} {net.netmask}\n{push}"
            f"keepalive 10 60\npersist-key\npersist-tun\n"
            f"status {STATUS_FILE} {STATUS_INTERVAL}\nstatus-version 2\nverb 3\n")


def client_conf(candidate: str, *, port: int = PORT) -> str:
    return (f"# Poste du télétravailleur\nclient\ndev tun\nproto udp\nremote {router_wan(candidate)} {port}\n"
            f"nobind\nresolv-retry infinite\nca {CLIENT_INSTANCE}/ca.crt\ncert {CLIENT_INSTANCE}/client.crt\n"
            f"key {CLIENT_INSTANCE}/client.key\nremote-cert-tls server\nverify-x509-name {SERVER_NAME} name\n"
            f"persist-key\npersist-tun\nverb 3\n")


def plant_server(root: Path, candidate: str, *, push_route: bool = True) -> None:
    """The router's OpenVPN server, enabled at boot."""
    files = pki(candidate)
    for name in ("ca.crt", "serveur.crt"):
        _put(root, f"{SERVER_DIR}/{INSTANCE}/{name}", files[name], 0o644)
    _put(root, f"{SERVER_DIR}/{INSTANCE}/serveur.key", files["serveur.key"], 0o600)
    _put(root, f"{SERVER_DIR}/{INSTANCE}.conf", server_conf(candidate, push_route=push_route), 0o644)
    _enable(root, "openvpn-server", INSTANCE)


def plant_client(root: Path, candidate: str, *, port: int = PORT) -> None:
    """The remote worker's OpenVPN client, enabled at boot."""
    files = pki(candidate)
    for name in ("ca.crt", "client.crt"):
        _put(root, f"{CLIENT_DIR}/{CLIENT_INSTANCE}/{name}", files[name], 0o644)
    _put(root, f"{CLIENT_DIR}/{CLIENT_INSTANCE}/client.key", files["client.key"], 0o600)
    _put(root, f"{CLIENT_DIR}/{CLIENT_INSTANCE}.conf", client_conf(candidate, port=port), 0o644)
    _enable(root, "openvpn-client", CLIENT_INSTANCE)


CONNECT_WAIT_S = 60.0


def wait_for_client(shell: HostShell, *, limit: float = CONNECT_WAIT_S) -> None:
    """Wait (on the router, once booted) until the server's status file lists the remote worker.

    The exam's remote worker connected long before the grading; the lab boots both ends at
    once, and the client's first handshake, then the server's next status write (every
    :data:`STATUS_INTERVAL` s), come seconds later. Grading before that would see « no client »
    where the candidate's VPN works. Past ``limit`` the lab goes on: the check will tell.
    """
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        done = shell.run("/bin/cat", STATUS_FILE, timeout=10)
        if done.returncode == 0 and any(line.startswith(f"CLIENT_LIST,{CLIENT_NAME},")
                                        for line in done.stdout.splitlines()):
            return
        time.sleep(1)


def equip(candidate: str, specs: Sequence[HostSpec], *, push_route: bool = True, port: int = PORT) -> list[HostSpec]:
    """A candidate's routed network (router, pc-lan, srv-wan specs) with the VPN planted.

    The router (hostname ``routeur``) gets the server, srv-wan the client (``port``: where it
    connects; ``push_route=False``: the server pushes no LAN route), pc-lan the route back to
    the tunnel network through the router. Hosts that do not boot are returned unchanged.
    """
    out = []
    for spec in specs:
        role = spec.own_hostname
        if not spec.boot:
            out.append(spec)
        elif role == "routeur":
            # the router's setup waits for the remote worker when it is meant to connect (right port)
            setup = then(spec.setup, wait_for_client) if port == PORT else spec.setup
            out.append(replace(spec, tun=True, setup=setup,
                               plant=then(spec.plant, lambda r: plant_server(r, candidate, push_route=push_route))))
        elif role == "srv-wan":
            out.append(replace(spec, tun=True, plant=then(spec.plant, lambda r: plant_client(r, candidate, port=port))))
        elif role == "pc-lan":
            out.append(replace(spec, routes=spec.routes + ((tunnel_net(candidate), router_lan(candidate)),)))
        else:
            out.append(spec)
    return out
