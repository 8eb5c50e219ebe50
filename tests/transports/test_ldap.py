"""The LDAP channel without a directory: search specs, value normalisation, certificate names, and
how failures to connect are mapped (real sockets on loopback). Binds and searches against a real
Samba AD DC are in tests/test_ad_lab.py.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from grader.errors import CredentialError, Unreachable
from grader.lab import samba
from grader.model import ProbeResult
from grader.plugins import default_transports
from grader.probes.ldap import LdapOptions, escape_filter_value, parse_output, search, sid_to_str, validate_spec
from grader.rubric import Credential
from grader.transports.base import HostContext
from grader.transports.ldap import (
    LdapChannel,
    certificate_names,
    filetime_to_iso,
    generalized_time_to_iso,
    name_matches,
    normalise_entry,
)

# --- declaring searches ------------------------------------------------------------------------


def test_search_is_canonical_json_so_equal_searches_share_one_run():
    a = search("(objectClass=organizationalUnit)", ["ou", "gPLink"])
    b = search("(objectClass=organizationalUnit)", ["gPLink", "ou", "ou"])
    assert a.key == b.key and a.transport == "ldap"
    assert json.loads(a.command) == {"attributes": ["gPLink", "ou"], "base": "", "scope": "sub",
                                     "filter": "(objectClass=organizationalUnit)"}
    assert search("(cn=x)", ["cn"], base="CN=Policies,CN=System", scope="one").key != a.key


@pytest.mark.parametrize("spec", [
    {"filter": "cn=x"}, {"filter": "(cn=x"}, {"filter": "(cn=x)", "scope": "tree"},
    {"filter": "(cn=x)", "attributes": "cn"}, {"filter": "(cn=x)", "controls": []}, [],
])
def test_invalid_specs_are_refused(spec):
    with pytest.raises(ValueError):
        validate_spec(spec)


def test_filter_values_are_escaped():
    assert escape_filter_value("a*b(c)\\d") == "a\\2ab\\28c\\29\\5cd"
    assert escape_filter_value("Comptabilité") == "Comptabilité"


# --- normalisation -------------------------------------------------------------------------------

# objectSid and objectGUID of the Administrator account of the lab's Samba DC (bytes as on the wire).
SID = bytes.fromhex("010500000000000515000000f418992f3aac918525e065b0f4010000")
GUID = bytes.fromhex("3af5fe6b1d6c2b4c9a0cd6e5b6b0d1f2")


def test_sid_guid_dates_and_integers_are_normalised():
    entry = normalise_entry("CN=Administrator,CN=Users,DC=tssr,DC=lan", {
        "objectSid": [SID], "objectGUID": [GUID], "userAccountControl": [b"512"], "pwdLastSet": [b"0"],
        "accountExpires": [b"9223372036854775807"], "lastLogonTimestamp": [b"134089171280000000"],
        "whenCreated": [b"20261129014647.0Z"], "givenName": ["Hélène".encode()], "logonHours": [b"\xff" * 21],
        "thumbnailPhoto": [b"\x89PNG\r\n"], "member;range=0-*": [b"CN=a,DC=x", b"CN=b,DC=x"], "sn": [],
    }, ["objectsid", "objectGUID", "userAccountControl", "pwdLastSet", "accountExpires", "member", "sn"])
    attrs = entry["attributes"]
    assert attrs["objectsid"] == ["S-1-5-21-798562548-2240916538-2959466533-500"]
    assert attrs["objectGUID"] == ["6bfef53a-6c1d-4c2b-9a0c-d6e5b6b0d1f2"]
    assert attrs["userAccountControl"] == [512]
    assert attrs["pwdLastSet"] == [0] and attrs["accountExpires"] == [9223372036854775807]
    assert attrs["lastLogonTimestamp"] == ["2025-11-29T19:12:08Z"]
    assert attrs["whenCreated"] == ["2026-11-29T01:46:47Z"]
    assert attrs["givenName"] == ["Hélène"]
    assert attrs["logonHours"] == [{"base64": "////////////////////////////"}]
    assert attrs["thumbnailPhoto"] == [{"base64": "iVBORw0K"}]
    assert attrs["member"] == ["CN=a,DC=x", "CN=b,DC=x"]  # auto-ranged attribute under its own name
    assert "sn" not in attrs  # no value, no attribute


def test_filetime_and_generalized_time_edges():
    assert filetime_to_iso(0) == 0 and filetime_to_iso(0x7FFFFFFFFFFFFFFF) == 0x7FFFFFFFFFFFFFFF
    assert filetime_to_iso(116444736000000000) == "1970-01-01T00:00:00Z"
    assert generalized_time_to_iso("not a time") == "not a time"
    with pytest.raises(ValueError):
        sid_to_str(b"\x01\x05")


def test_parse_output_refuses_what_is_not_ours():
    ok = ProbeResult("k", "ldap", "", stdout=json.dumps({"base": "DC=x", "entries": []}), exit_code=0)
    assert parse_output(ok) == ("DC=x", [])
    with pytest.raises(ValueError):
        parse_output(ProbeResult("k", "ldap", "", stdout="[]", exit_code=0))


# --- certificates ---------------------------------------------------------------------------------


def test_certificate_names_from_a_lab_certificate(tmp_path: Path):
    key, cert, ca = samba.issue_certificate(tmp_path, "10.77.1.20", ("dc.tssr.lan", "dc"))
    der = ssl.PEM_cert_to_DER_cert(cert.decode())
    dns, ips = certificate_names(der)
    assert dns == ["dc.tssr.lan", "dc"] and ips == ["10.77.1.20"]
    assert name_matches("10.77.1.20", dns, ips) and name_matches("DC.tssr.lan.", dns, ips)
    assert not name_matches("10.77.2.20", dns, ips) and not name_matches("tssr.lan", dns, ips)
    assert name_matches("dc1.tssr.lan", ["*.tssr.lan"], []) and not name_matches("a.b.tssr.lan", ["*.tssr.lan"], [])
    assert oct((tmp_path / samba.CA_KEY_FILE).stat().st_mode & 0o777) == "0o600"
    assert b"BEGIN CERTIFICATE" in ca and b"PRIVATE KEY" in key


# --- the channel's contract --------------------------------------------------------------------


def test_channel_is_registered_with_its_options():
    assert default_transports()["ldap"] is LdapChannel
    assert LdapOptions().tls == "ldaps" and LdapOptions().verify_tls is True
    with pytest.raises(ValueError):
        LdapOptions(tls="plain")
    with pytest.raises(ValueError):
        LdapOptions(base_dn="tssr.lan")


def _context(port: int, tmp_path: Path, **options) -> HostContext:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    cred = Credential(username="grader@tssr.lan", password_file=str(secret))
    return HostContext(name="dc", address="127.0.0.1", platform="windows", port=port, credential=None,
                       credentials={"lecteur": cred}, options=LdapOptions(credential="lecteur", **options),
                       connect_timeout=2.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_refused_connection_is_unreachable(tmp_path):
    with pytest.raises(Unreachable, match="refuse la connexion"):
        LdapChannel().collect(_context(_free_port(), tmp_path), [search("(cn=x)", ["cn"])])


def test_missing_reader_account_is_a_credential_error(tmp_path):
    ctx = _context(_free_port(), tmp_path)
    ctx = HostContext(**{**ctx.__dict__, "options": LdapOptions()})
    with pytest.raises(CredentialError, match="compte de lecture"):
        LdapChannel().collect(ctx, [])


class _TlsServer:
    """A TLS server on loopback presenting a certificate (signed by a CA of its own) and then hanging up."""

    def __init__(self, tmp_path: Path, names: tuple[str, ...], ip: str):
        key, cert, ca = samba.issue_certificate(tmp_path, ip, names)
        (tmp_path / "srv.key").write_bytes(key)
        (tmp_path / "srv.pem").write_bytes(cert)
        self.ca = tmp_path / "ca.pem"
        self.ca.write_bytes(ca)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(tmp_path / "srv.pem", tmp_path / "srv.key")
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            self.sock.settimeout(5)
            while True:
                conn, _ = self.sock.accept()
                try:
                    with self.ctx.wrap_socket(conn, server_side=True) as tls:
                        tls.settimeout(1)
                        tls.recv(1024)  # the bind request, if the client got that far
                except (OSError, ssl.SSLError):
                    pass
        except OSError:
            return

    def close(self):
        self.sock.close()


def test_untrusted_certificate_is_unreachable_and_no_bind_is_sent(tmp_path):
    server = _TlsServer(tmp_path, ("dc.tssr.lan",), "127.0.0.1")
    try:
        with pytest.raises(Unreachable, match="TLS"):
            LdapChannel().collect(_context(server.port, tmp_path), [search("(cn=x)", ["cn"])])
    finally:
        server.close()


def test_certificate_for_another_name_is_unreachable(tmp_path):
    server = _TlsServer(tmp_path, ("dc.tssr.lan",), "10.77.1.20")
    try:
        with pytest.raises(Unreachable, match="n'est pas établi pour « 127.0.0.1 »"):
            LdapChannel().collect(_context(server.port, tmp_path, ca_file=str(server.ca)), [search("(cn=x)", ["cn"])])
    finally:
        server.close()


def test_a_server_that_hangs_up_after_tls_is_unreachable_not_a_crash(tmp_path):
    server = _TlsServer(tmp_path, ("dc.tssr.lan",), "127.0.0.1")
    try:
        with pytest.raises(Unreachable):
            LdapChannel().collect(_context(server.port, tmp_path, ca_file=str(server.ca)), [search("(cn=x)", ["cn"])])
    finally:
        server.close()


class _EndlessPaging:
    """A bound ldap3 connection whose server answers every page with no entry and a new cookie, forever."""

    def __init__(self) -> None:
        self.pages = 0
        self.response: list[dict] = []
        self.result: dict = {}

    def search(self, *args, **kwargs) -> bool:
        time.sleep(0.002)  # a round trip
        self.pages += 1
        self.result = {"result": 0, "message": "", "controls": {
            "1.2.840.113556.1.4.319": {"value": {"size": 0, "cookie": f"c{self.pages}".encode()}}}}
        return True


def test_a_server_whose_paging_never_ends_makes_the_probe_timed_out_not_a_loop():
    from grader.transports.ldap import MAX_PAGES, _run_search

    conn = _EndlessPaging()
    probe = search("(objectClass=user)", ["cn"], timeout=0.5)
    result = _run_search(conn, probe, "DC=tssr,DC=lan")
    assert result.timed_out and not result.ok and 1 < conn.pages <= MAX_PAGES
    assert result.stderr.startswith("pagination sans fin")


def test_the_hosts_deadline_ends_an_endless_paging_too():
    from grader.transports.deadline import HostDeadline
    from grader.transports.ldap import _run_search

    conn = _EndlessPaging()
    deadline = HostDeadline(0.2).start()
    try:
        result = _run_search(conn, search("(objectClass=user)", ["cn"], timeout=60), "DC=tssr,DC=lan", deadline)
    finally:
        deadline.cancel()
    assert result.timed_out and deadline.expired
