"""Kerberos for real: tickets from the lab's Samba AD DC (a real KDC) for the LDAP and WinRM channels.

* LDAP: ``auth: kerberos`` binds with SASL GSSAPI and seals the session; the same searches as a
  simple bind over LDAPS return the same entries. A wrong password (refused by the KDC), an
  unreachable KDC and an unknown SPN are ``erreur`` with their reason; a DC that does not answer
  is still ``injoignable``.
* WinRM: the stand-in (tests/winrm_standin) accepts Kerberos with the keys of
  ``HTTP/win01.tssr.lan``, a service account created on the DC with that SPN and exported with
  ``samba-tool domain exportkeytab``; pywinrm's own Kerberos client gets its service ticket from
  the Samba KDC and runs the batch over Kerberos message encryption. The SPN's name is never
  resolved (``spn_host`` is the name, the address is the stand-in's).

The DC is this module's own one-host lab when the lab is free, or the demo room's ``c01-dc``
when this pytest session already holds the room (the lab is a singleton): the service account
is then created in the running DC and deleted again afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from grader.credentials import PasswordSecret
from grader.errors import TransportError, Unreachable
from grader.lab import samba
from grader.model import Probe
from grader.probes.ldap import LdapOptions, search
from grader.probes.winrm import WinrmOptions
from grader.rubric import Credential
from grader.transports import kerberos
from grader.transports.base import HostContext
from grader.transports.ldap import LdapChannel
from grader.transports.ldap_kerberos import SaslSocket
from grader.transports.winrm import WinrmChannel
from tests.conftest import LOCK, lab_available, locked_lab
from tests.winrm_standin import Standin, WindowsHost

OWN_DC = "10.77.9.20"  # this module's own DC (one host, outside the demo room's 10.77.1-3.x)
SPN_HOST = "win01.tssr.lan"
SERVICE_ACCOUNT = "svc-winrm01"
SERVICE = Probe("winrm", "Get-Service -Name 'Spooler' -ErrorAction Stop | Select-Object -Property 'Name', "
                         "'DisplayName', 'Status', 'StartType' | ConvertTo-Json -Depth 4")
USERS = search("(&(objectCategory=person)(objectClass=user))", ["sAMAccountName", "objectSid", "userAccountControl"])
OUS = search("(objectClass=organizationalUnit)", ["ou", "gPLink"])


def needs_gssapi():
    """Kerberos tests skip only when the gssapi module is missing (it needs libkrb5-dev to build)."""
    why = kerberos.available()
    if why:
        pytest.skip(why)


# --- without the lab -----------------------------------------------------------------------------


def test_private_krb5_conf_names_only_the_given_kdc_and_guesses_nothing():
    text = kerberos.krb5_conf("TSSR.LAN", "10.77.1.20:88")
    assert "default_realm = TSSR.LAN" in text and "kdc = 10.77.1.20:88" in text
    for line in ("dns_lookup_kdc = false", "dns_lookup_realm = false", "rdns = false",
                 "dns_canonicalize_hostname = false"):
        assert line in text
    with pytest.raises(TransportError, match="KDC invalide"):
        kerberos.krb5_conf("TSSR.LAN", "10.77.1.20\n  admin_server = evil")


def test_principal_comes_from_the_credential_or_the_realm_option():
    assert kerberos.principal_and_realm("grader@tssr.lan", None) == ("grader@TSSR.LAN", "TSSR.LAN")
    assert kerberos.principal_and_realm("TSSR\\grader", "tssr.lan") == ("grader@TSSR.LAN", "TSSR.LAN")
    with pytest.raises(TransportError, match="royaume Kerberos inconnu"):
        kerberos.principal_and_realm("grader", None)


def test_options_say_what_kerberos_needs():
    assert LdapOptions(auth="kerberos", spn_host="dc.tssr.lan").auth == "kerberos"
    with pytest.raises(ValueError, match="sans TLS"):
        LdapOptions(auth="kerberos", tls="ldaps")
    with pytest.raises(ValueError, match="qu'avec auth: kerberos"):
        LdapOptions(kdc="10.77.1.20")
    with pytest.raises(ValueError, match="exige « kdc »"):
        WinrmOptions(auth="kerberos")
    with pytest.raises(ValueError, match="qu'avec auth: kerberos"):
        WinrmOptions(auth="ntlm", spn_host=SPN_HOST)


def test_an_unreachable_kdc_is_an_error_and_the_environment_is_given_back(tmp_path, monkeypatch):
    needs_gssapi()
    user_cache = tmp_path / "user-ccache"
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{user_cache}")
    monkeypatch.delenv("KRB5_CONFIG", raising=False)
    temp = Path(os.environ.get("TMPDIR", "/tmp"))
    before = set(temp.glob("grader-krb5-*"))
    secret = PasswordSecret("grader@tssr.lan", "x")
    with pytest.raises(TransportError, match=r"KDC 127\.0\.0\.1:9 injoignable.*port 9/tcp"), \
            kerberos.kerberos_login(secret, realm=None, kdc="127.0.0.1:9"):
        pass
    # Something listens but is no KDC (it hangs up): the library itself fails, after the environment was set.
    with socket.create_server(("127.0.0.1", 0)) as mute:
        port = mute.getsockname()[1]
        threading.Thread(target=_hang_up_forever, args=(mute,), daemon=True).start()
        with pytest.raises(TransportError, match=rf"KDC 127\.0\.0\.1:{port}"), \
                kerberos.kerberos_login(secret, realm=None, kdc=f"127.0.0.1:{port}"):
            pass
    assert os.environ["KRB5CCNAME"] == f"FILE:{user_cache}" and "KRB5_CONFIG" not in os.environ
    assert not user_cache.exists(), "the user's own credential cache is never written"
    assert set(temp.glob("grader-krb5-*")) == before


def _hang_up_forever(server: socket.socket) -> None:
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        conn.close()


class _XorContext:
    """A stand-in GSS context for the framing test: 'wraps' with a 4-byte tag and a XOR (not security)."""

    def __init__(self) -> None:
        self.wrapped: list[bytes] = []

    def get_wrap_size_limit(self, size: int, encrypted: bool = True) -> int:
        return size - 4

    def wrap(self, data: bytes, encrypt: bool):
        self.wrapped.append(data)
        return SimpleNamespace(message=b"TAG!" + bytes(b ^ 0x5A for b in data), encrypted=encrypt)

    def unwrap(self, token: bytes):
        assert token[:4] == b"TAG!", "every buffer is one whole token"
        return SimpleNamespace(message=bytes(b ^ 0x5A for b in token[4:]), encrypted=True)


def test_sasl_socket_frames_every_pdu_and_reassembles_what_the_server_split():
    client, server = socket.socketpair()
    ctx = _XorContext()
    sealed = SaslSocket(client, ctx, seal=True, server_max=2048 + 4)  # 2 KiB of plaintext per buffer
    sealed.sendall(b"x" * 5000)
    assert [len(d) for d in ctx.wrapped] == [2048, 2048, 904]
    received = b""
    while len(received) < 3 * 4 + 5000 + 3 * 4:
        received += server.recv(65536)
    assert received[:4] == struct.pack(">I", 2052) and received[4:8] == b"TAG!"
    # The server's answers: two PDUs in one buffer, then one PDU across two buffers.
    for chunk in (b"first|second|", b"thi", b"rd"):
        token = b"TAG!" + bytes(b ^ 0x5A for b in chunk)
        server.sendall(struct.pack(">I", len(token)) + token)
    got = sealed.recv(6) + sealed.recv(100) + sealed.recv(100) + sealed.recv(100)
    assert got == b"first|second|third"
    server.close()
    assert sealed.recv(100) == b"", "a closed connection reads as closed, as ldap3 expects"
    client.close()


# --- the lab's KDC --------------------------------------------------------------------------------


@dataclass
class Kdc:
    address: str  # the DC: LDAP server and KDC
    reader_password: Path  # the reader account's password file (grader@tssr.lan), mode 0600
    ca_file: Path
    keytab: Path  # HTTP/win01.tssr.lan's keys


def _plant_service_account(tool) -> None:
    """What a domain admin does for a Kerberos web service: an account, its SPN, a keytab for the server."""
    tool("user", "create", SERVICE_ACCOUNT, "--random-password", "--description=Compte de service WinRM (tests)")
    tool("spn", "add", f"HTTP/{SPN_HOST}", SERVICE_ACCOUNT)
    tool("domain", "exportkeytab", "/root/http.keytab", f"--principal=HTTP/{SPN_HOST}")


def _room_held_by_this_session() -> bool:
    """True when this process already holds the lab lock (the ``room`` fixture is up): /proc/locks says who."""
    try:
        inode = os.stat(LOCK).st_ino
    except FileNotFoundError:
        return False
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[4] == str(os.getpid()) \
                and fields[5].rsplit(":", 1)[-1] == str(inode):
            return True
    return False


@pytest.fixture(scope="module")
def kdc(request, tmp_path_factory):
    needs_gssapi()
    if not lab_available():
        pytest.skip("le labo exige root et systemd-nspawn (apt-get install systemd-container)")
    out = tmp_path_factory.mktemp("kdc")
    if _room_held_by_this_session():
        yield from _in_the_room(request, out)
    else:
        yield from _own_dc(out)


def _own_dc(out: Path):
    from grader.lab.hosts import HostSpec

    def plant(root: Path) -> None:
        _plant_service_account(lambda *args: samba.samba_tool(root, *args))
        shutil.copy(root / "root/http.keytab", out / "http.keytab")
        (root / "root/http.keytab").unlink()

    with locked_lab() as lab:
        try:
            lab.up([HostSpec(name="k1-dc", ip=OWN_DC, plant=plant, hostname=samba.DC_HOSTNAME, flavor="dc")],
                   timeout=90)
            _wait_for_dc_spns(lab, "k1-dc")
            yield Kdc(OWN_DC, samba.reader_password_path(lab.state_dir), samba.ca_path(lab.state_dir),
                      out / "http.keytab")
        finally:
            lab.down()


def _wait_for_dc_spns(lab, name: str, attempts: int = 60) -> None:
    """A fresh DC registers its own ``ldap/`` SPNs a few seconds after boot (samba_spnupdate): wait for them."""
    wanted = f"ldap/{samba.DC_HOSTNAME}.{samba.DNS_DOMAIN}".lower()
    for _ in range(attempts):
        listed = lab.nsenter(name, "/usr/bin/samba-tool", "spn", "list", f"{samba.DC_HOSTNAME.upper()}$").stdout
        if wanted in listed.lower():
            return
        time.sleep(0.5)
    pytest.fail(f"{name} n'a pas enregistré {wanted} : {listed[-500:]}")


def _in_the_room(request, out: Path):
    from grader.lab import demo

    lab, _ = request.getfixturevalue("room")
    name = "c01-dc"

    def tool(*args: str) -> str:
        # On the running DC's own sam.ldb, as root (what the offline plant does before boot).
        proc = lab.nsenter(name, "/usr/bin/samba-tool", *args)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    _plant_service_account(tool)
    keytab = lab.nsenter(name, "/usr/bin/base64", "-w0", "/root/http.keytab").stdout
    (out / "http.keytab").write_bytes(base64.b64decode(keytab))
    lab.nsenter(name, "/usr/bin/rm", "-f", "/root/http.keytab")
    try:
        yield Kdc(demo.DEMO_ROOM["01"][demo.DC], samba.reader_password_path(lab.state_dir),
                  samba.ca_path(lab.state_dir), out / "http.keytab")
    finally:
        tool("user", "delete", SERVICE_ACCOUNT)


def _reader(kdc: Kdc, password_file: Path | None = None) -> Credential:
    return Credential(username=samba.READER_UPN, password_file=str(password_file or kdc.reader_password))


def _wrong_password_file(tmp_path: Path) -> Path:
    path = tmp_path / "faux.password"
    path.write_text("Pas-le-bon-1\n")
    path.chmod(0o600)
    return path


def _ldap(dc: Kdc, probes, *, address: str | None = None, password_file: Path | None = None,
          connect_timeout: float = 3.0, **options):
    opts = {"credential": "lecteur", **options}
    context = HostContext(name="dc", address=address or dc.address, platform="windows", port=None, credential=None,
                          credentials={"lecteur": _reader(dc, password_file)}, options=LdapOptions(**opts),
                          connect_timeout=connect_timeout)
    return LdapChannel().collect(context, probes)


def _entries(result) -> list[dict]:
    return sorted(json.loads(result.stdout)["entries"], key=lambda e: e["dn"])


@pytest.mark.lab
def test_ldap_kerberos_bind_is_sealed_and_reads_what_a_simple_bind_reads(kdc, tmp_path, monkeypatch):
    user_cache = tmp_path / "user-ccache"
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{user_cache}")
    got = _ldap(kdc, [USERS, OUS], auth="kerberos", spn_host=f"{samba.DC_HOSTNAME}.{samba.DNS_DOMAIN}")
    assert got.login == "grader@TSSR.LAN (Kerberos, session LDAP signée et chiffrée (SASL))"
    assert got.host_key == "Kerberos ldap/dc.tssr.lan@TSSR.LAN (authentification mutuelle)"
    assert got.complete and got.execs == 1 and got.anomalies == []
    simple = _ldap(kdc, [USERS, OUS], ca_file=str(kdc.ca_file), tls_name=f"{samba.DC_HOSTNAME}.{samba.DNS_DOMAIN}")
    for probe in (USERS, OUS):
        assert got.results[probe.key].exit_code == 0
        assert _entries(got.results[probe.key]) == _entries(simple.results[probe.key])
    names = {e["attributes"]["sAMAccountName"][0] for e in _entries(got.results[USERS.key])}
    assert {"Administrator", samba.READER, SERVICE_ACCOUNT} <= names
    assert os.environ["KRB5CCNAME"] == f"FILE:{user_cache}" and not user_cache.exists()


@pytest.mark.lab
def test_the_ticket_lives_in_a_private_memory_cache_only_for_the_login(kdc, monkeypatch):
    import gssapi

    monkeypatch.delenv("KRB5CCNAME", raising=False)
    password = kdc.reader_password.read_text().splitlines()[0]
    with kerberos.kerberos_login(PasswordSecret(samba.READER_UPN, password), realm=None, kdc=kdc.address) as login:
        assert login.ccache.startswith("MEMORY:grader-") and os.environ["KRB5CCNAME"] == login.ccache
        assert Path(os.environ["KRB5_CONFIG"]).read_text() == kerberos.krb5_conf("TSSR.LAN", kdc.address)
        cached = gssapi.Credentials(usage="initiate", store={"ccache": login.ccache})
        assert str(cached.name) == "grader@TSSR.LAN" and cached.lifetime > 0
        conf = Path(os.environ["KRB5_CONFIG"])
    assert "KRB5CCNAME" not in os.environ and not conf.exists()
    with pytest.raises(gssapi.exceptions.GSSError):  # destroyed with the login: no ticket left in the process
        _ = gssapi.Credentials(usage="initiate", store={"ccache": login.ccache}).lifetime


@pytest.mark.lab
def test_ldap_kerberos_wrong_password_is_an_error_with_the_kdc_reason(kdc, tmp_path):
    with pytest.raises(TransportError, match=r"refuse le mot de passe de grader@TSSR\.LAN \(mot de passe erroné\)"):
        _ldap(kdc, [USERS], password_file=_wrong_password_file(tmp_path), auth="kerberos", spn_host="dc.tssr.lan")


@pytest.mark.lab
def test_ldap_kerberos_unreachable_kdc_is_an_error_but_a_silent_dc_is_unreachable(kdc):
    # The DC answers LDAP but nothing listens where the rubric puts the KDC: the grader could not log in.
    with pytest.raises(TransportError, match=rf"KDC {kdc.address}:89 injoignable"):
        _ldap(kdc, [USERS], auth="kerberos", spn_host="dc.tssr.lan", kdc=f"{kdc.address}:89")
    # No DC at all at that address: the host itself is down, whatever Kerberos would have said.
    with pytest.raises(Unreachable):
        _ldap(kdc, [USERS], address="10.77.9.99", connect_timeout=1.0, auth="kerberos", spn_host="dc.tssr.lan",
              kdc=kdc.address)


@pytest.mark.lab
def test_ldap_kerberos_unknown_spn_is_an_error(kdc):
    with pytest.raises(TransportError, match=r"ne connaît pas le service demandé \(SPN\)"):
        _ldap(kdc, [USERS], auth="kerberos", spn_host="absent.tssr.lan")


RUBRIC = """\
rubric: kerberos-lab
title: "Annuaire lu avec Kerberos"
version: "1"
credentials:
  lecteur-ad: {{username: grader@tssr.lan, password_file: {password}}}
hosts:
  - name: dc
    role: controleur-domaine
    platform: windows
    address: {address}
    transport: ldap
    connect_timeout: 3
    options:
      ldap: {{credential: lecteur-ad, auth: kerberos, spn_host: dc.tssr.lan}}
checks:
  - id: ad-ou-dc
    check: ad.ou_exists
    role: controleur-domaine
    params: {{path: "Domain Controllers"}}
    criterion: CP8.1
    points: 1
  - id: ad-ou-absente
    check: ad.ou_exists
    role: controleur-domaine
    params: {{path: "Absente-Kerberos"}}
    criterion: CP8.1
    points: 1
"""


@pytest.mark.lab
def test_graded_through_the_runner_the_statuses_are_observations_or_errors_never_verdicts(kdc, tmp_path):
    from grader.plugins import default_catalogue
    from grader.roster import load_roster
    from grader.rubric import load_rubric
    from grader.runner import grade_host, plan

    roster = tmp_path / "roster.csv"
    roster.write_text("candidat;nom\n01;Camille Martin\n")
    statuses = {}
    for label, password in (("juste", kdc.reader_password), ("faux", _wrong_password_file(tmp_path))):
        path = tmp_path / f"{label}.yaml"
        path.write_text(RUBRIC.format(password=password, address=kdc.address), encoding="utf-8")
        rubric = load_rubric(path)
        [job] = plan(rubric, load_roster(roster, rubric), default_catalogue())
        report = grade_host(job, None)
        statuses[label] = {r.check_id: r.status.value for r in report.results}
        if label == "juste":
            assert report.login.startswith("grader@TSSR.LAN (Kerberos") and report.outcome.execs == 1
        else:
            assert "refuse le mot de passe" in report.outcome.reason
    assert statuses == {"juste": {"ad-ou-dc": "conforme", "ad-ou-absente": "non_conforme"},
                        "faux": {"ad-ou-dc": "erreur", "ad-ou-absente": "erreur"}}


def _winrm(standin: Standin, dc: Kdc, probes, *, password_file: Path | None = None, **options):
    opts = {"auth": "kerberos", "kdc": dc.address, "spn_host": SPN_HOST, **options}
    context = HostContext(name="win01", address="127.0.0.1", platform="windows", port=standin.port,
                          credential=_reader(dc, password_file), credentials={}, options=WinrmOptions(**opts),
                          connect_timeout=3)
    return WinrmChannel().collect(context, probes)


def _windows() -> WindowsHost:
    return WindowsHost("win01").answer(SERVICE.command, "get_service_spooler_running")


@pytest.fixture
def kerberos_env(monkeypatch):
    """The stand-in sets KRB5_KTNAME for its acceptor (process-wide): give the variables back afterwards."""
    for name in ("KRB5_KTNAME", "KRB5RCACHETYPE"):
        monkeypatch.delenv(name, raising=False)
    yield
    for name in ("KRB5_KTNAME", "KRB5RCACHETYPE"):
        os.environ.pop(name, None)


@pytest.mark.lab
def test_winrm_kerberos_ticket_from_samba_and_encrypted_batch(kdc, kerberos_env):
    with Standin(_windows(), auth=("kerberos",), keytab=kdc.keytab) as s:
        got = _winrm(s, kdc, [SERVICE])
    assert s.kerberos_clients == ["grader@TSSR.LAN"], "the acceptor decrypted a ticket the Samba KDC issued"
    assert s.encrypted_messages >= 6, "every SOAP message went through the Kerberos message encryption"
    assert s.actions.count("Create") == 1 and s.actions.count("Command") == 1
    assert got.login == f"grader@TSSR.LAN (Kerberos, KDC {kdc.address}, SPN HTTP/{SPN_HOST})"
    service = got.results[SERVICE.key]
    assert service.exit_code == 0 and json.loads(service.stdout)["Name"] == "Spooler"
    assert got.anomalies == [] and got.complete


@pytest.mark.lab
def test_winrm_kerberos_wrong_password_and_unknown_spn_are_errors(kdc, kerberos_env, tmp_path):
    with Standin(_windows(), auth=("kerberos",), keytab=kdc.keytab) as s:
        with pytest.raises(TransportError, match=r"refuse le mot de passe de grader@TSSR\.LAN"):
            _winrm(s, kdc, [SERVICE], password_file=_wrong_password_file(tmp_path))
        with pytest.raises(TransportError, match=r"ne connaît pas le service HTTP/absent\.tssr\.lan"):
            _winrm(s, kdc, [SERVICE], spn_host="absent.tssr.lan")
        with pytest.raises(TransportError, match=rf"KDC {kdc.address}:89 injoignable"):
            _winrm(s, kdc, [SERVICE], kdc=f"{kdc.address}:89")
    assert s.actions == [] and s.kerberos_clients == []


@pytest.mark.lab
def test_winrm_kerberos_ticket_for_another_service_is_refused(kdc, kerberos_env):
    # A real ticket, but for the DC's own host SPN: the stand-in has no key for it, so it answers 401.
    with Standin(_windows(), auth=("kerberos",), keytab=kdc.keytab) as s, \
            pytest.raises(Unreachable, match="authentification refusée"):
        _winrm(s, kdc, [SERVICE], spn_host=f"{samba.DC_HOSTNAME}.{samba.DNS_DOMAIN}")
    assert s.auth_failures >= 1 and s.kerberos_clients == []


@pytest.mark.lab
def test_winrm_kerberos_over_https_the_certificate_is_checked_and_tls_carries_the_batch(kdc, kerberos_env):
    """Kerberos inside TLS (port 5986): the ticket from Samba, the server's certificate checked against the
    rubric's CA file, and no Kerberos message encryption on top (TLS protects the session, as pywinrm does)."""
    with Standin(_windows(), auth=("kerberos",), keytab=kdc.keytab, tls=True) as s:
        got = _winrm(s, kdc, [SERVICE], scheme="https", ca_file=str(s.cert_file))
        with pytest.raises(Unreachable, match="TLS"):
            _winrm(s, kdc, [SERVICE], scheme="https")  # self-signed, not in the system's CAs: no ticket sent
    assert s.kerberos_clients == ["grader@TSSR.LAN"] and s.encrypted_messages == 0
    assert got.host_key == "x509 SHA256:" + hashlib.sha256(s.cert_der).hexdigest().upper()
    service = got.results[SERVICE.key]
    assert service.exit_code == 0 and json.loads(service.stdout)["Name"] == "Spooler"
    assert got.complete and got.anomalies == [] and s.actions.count("Create") == 1
