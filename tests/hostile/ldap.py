"""A hostile LDAP server on a loopback socket (LDAPv3 over TLS), one behaviour per instance.

It speaks real LDAP: BER messages framed off the socket and decoded with ldap3's own ASN.1
definitions (:mod:`ldap3.protocol.rfc4511`) and pyasn1's BER codec, answers encoded the same way,
over LDAPS with a self-signed certificate made here with ``cryptography`` (SAN ``127.0.0.1`` and
``localhost``; a client trusts it with ``ca_file=server.ca_file``, or ``verify_tls: false``).
Every behaviour accepts any simple bind and answers the RootDSE (``defaultNamingContext:
DC=tssr,DC=lan``), so that a client gets as far as its own searches:

* ``endless_paging``: every other search answers one entry and a ``searchResDone`` carrying a
  paged-results control (1.2.840.113556.1.4.319) with a new, non-empty cookie, forever.
* ``silent_after_bind``: every other search gets no answer at all; the socket stays open.
* ``trickle_after_bind``: every other search gets the first byte of an answer, then one more byte
  every :attr:`HostileLdap.trickle` seconds, never a whole message (a client's receive timeout,
  rearmed by each byte, never fires).
* ``honest``: every other search answers one entry and an empty cookie (a control).

``page_delay`` makes each page of ``endless_paging`` and ``honest`` take that long (a slow directory).

The server counts binds, searches, pages served and cookies followed; ``close()`` ends everything.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ldap3.protocol.controls import build_control
from ldap3.protocol.rfc2696 import RealSearchControlValue
from ldap3.protocol.rfc4511 import (
    AttributeValue,
    BindResponse,
    Controls,
    LDAPMessage,
    PartialAttribute,
    PartialAttributeList,
    ProtocolOp,
    SearchResultDone,
    SearchResultEntry,
    Vals,
)
from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error

from tests.hostile import Listener

BEHAVIOURS = ("endless_paging", "silent_after_bind", "trickle_after_bind", "honest")
PAGED_RESULTS = "1.2.840.113556.1.4.319"
NAMING_CONTEXT = "DC=tssr,DC=lan"
#: The one entry every search finds (its DN numbered by page when paging never ends).
ENTRY = {"cn": [b"Administrator"], "sAMAccountName": [b"Administrator"], "objectClass": [b"top", b"person", b"user"]}
_POLL = 0.2  # seconds between two looks at the stop flag while a socket waits
_PEM: list[tuple[Path, Path]] = []
_KEEP: list[tempfile.TemporaryDirectory[str]] = []


def _certificate() -> tuple[Path, Path]:
    """(certificate PEM, key PEM) of one self-signed certificate for 127.0.0.1 and localhost, for the session."""
    if not _PEM:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hostile-ldap")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                            x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                               critical=False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        directory = tempfile.TemporaryDirectory(prefix="hostile-ldap-")
        _KEEP.append(directory)
        cert_path, key_path = Path(directory.name) / "cert.pem", Path(directory.name) / "key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_path.chmod(0o600)
        _PEM.append((cert_path, key_path))
    return _PEM[0]


def _message(message_id: int, kind: str, op: Any, controls: Controls | None = None) -> bytes:
    """One LDAPMessage, BER-encoded as a directory server sends it."""
    message = LDAPMessage()
    message["messageID"] = message_id
    message["protocolOp"] = ProtocolOp().setComponentByName(kind, op)
    if controls is not None:
        message["controls"] = controls
    return encoder.encode(message)


def _result(cls: type, code: int = 0, diagnostic: str = "") -> Any:
    op = cls()
    op["resultCode"] = code
    op["matchedDN"] = ""
    op["diagnosticMessage"] = diagnostic
    return op


def _entry(dn: str, attributes: dict[str, list[bytes]], requested: list[str]) -> Any:
    """A searchResEntry with the requested attributes (all of them when the client asked for none by name)."""
    wanted = {a.lower() for a in requested}
    listed = PartialAttributeList()
    for name, values in attributes.items():
        if wanted and name.lower() not in wanted:
            continue
        attribute = PartialAttribute()
        attribute["type"] = name
        vals = Vals()
        for value in values:
            vals.append(AttributeValue(value))
        attribute["vals"] = vals
        listed.append(attribute)
    op = SearchResultEntry()
    op["object"] = dn
    op["attributes"] = listed
    return op


def _paged(cookie: bytes) -> Controls:
    """The paged-results control of a searchResDone: ``cookie`` (empty: the last page)."""
    value = RealSearchControlValue()
    value["size"] = 0
    value["cookie"] = cookie
    controls = Controls()
    controls.append(build_control(PAGED_RESULTS, False, value))
    return controls


def _request_cookie(message: Any) -> bytes | None:
    """The cookie a search request sent back in its paged-results control (None: no such control)."""
    if not message["controls"].isValue:
        return None
    for control in message["controls"]:
        if str(control["controlType"]) == PAGED_RESULTS and control["controlValue"].isValue:
            value, _ = decoder.decode(bytes(control["controlValue"]), asn1Spec=RealSearchControlValue())
            return bytes(value["cookie"])
    return None


@dataclass
class HostileLdap:
    """One LDAPS endpoint with one behaviour (see the module docstring)."""

    behaviour: str
    address: str = "127.0.0.1"
    port: int = 0
    ca_file: str = ""  # the certificate a client trusts (PEM), set when the server starts
    trickle: float = 1.0
    page_delay: float = 0.0  # seconds a page takes to come (endless_paging, honest)
    binds: int = 0
    searches: int = 0  # every search request, the RootDSE's included
    pages: int = 0  # searchResDone sent for searches other than the RootDSE's
    cookies_followed: int = 0  # search requests that sent back the cookie of the page before
    stop: threading.Event = field(default_factory=threading.Event)
    _cookies: set[bytes] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.behaviour not in BEHAVIOURS:
            raise ValueError(self.behaviour)
        cert, key = _certificate()
        self.ca_file = str(cert)
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(cert, key)
        self._listener = Listener(self.address, self.port, self._serve)
        self.port, self.stop = self._listener.port, self._listener.stop

    def _serve(self, conn: socket.socket) -> None:
        threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, raw: socket.socket) -> None:
        """One client: the TLS handshake, then one LDAP request after the other until it unbinds or leaves."""
        try:
            raw.settimeout(5)
            tls = self._tls.wrap_socket(raw, server_side=True)
            self._listener.open.append(tls)
            tls.settimeout(_POLL)
            while not self.stop.is_set():
                data = self._read_message(tls)
                if data is None:
                    return
                message, _ = decoder.decode(data, asn1Spec=LDAPMessage())
                if not self._answer(tls, message):
                    return
        except (OSError, PyAsn1Error, ValueError):
            return  # the client left or spoke no LDAP, or the test is over
        finally:
            with contextlib.suppress(OSError):
                raw.close()

    def _recv_exact(self, tls: ssl.SSLSocket, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            if self.stop.is_set():
                return None
            try:
                chunk = tls.recv(size - len(data))
            except TimeoutError:
                continue
            if not chunk:
                return None
            data += chunk
        return data

    def _read_message(self, tls: ssl.SSLSocket) -> bytes | None:
        """One BER-framed LDAPMessage (tag, definite length, content); None when the client is gone."""
        head = self._recv_exact(tls, 2)
        if head is None:
            return None
        length, extra = head[1], b""
        if length & 0x80:
            extra = self._recv_exact(tls, length & 0x7F) or b""
            if len(extra) != length & 0x7F:
                return None
            length = int.from_bytes(extra, "big")
        body = self._recv_exact(tls, length)
        return None if body is None else head + extra + body

    def _answer(self, tls: ssl.SSLSocket, message: Any) -> bool:
        """Answer one request as this behaviour does; False once the session is over."""
        message_id = int(message["messageID"])
        kind = message["protocolOp"].getName()
        op = message["protocolOp"].getComponent()
        if kind == "bindRequest":
            with self._lock:
                self.binds += 1
            tls.sendall(_message(message_id, "bindResponse", _result(BindResponse)))
            return True
        if kind != "searchRequest":  # unbind, abandon, anything else: the session ends
            return False
        with self._lock:
            self.searches += 1
        requested = [str(a) for a in op["attributes"]]
        if str(op["baseObject"]) == "" and int(op["scope"]) == 0:  # the RootDSE
            tls.sendall(_message(message_id, "searchResEntry",
                                 _entry("", {"defaultNamingContext": [NAMING_CONTEXT.encode()]}, []))
                        + _message(message_id, "searchResDone", _result(SearchResultDone)))
            return True
        if self.behaviour == "silent_after_bind":
            self.stop.wait()  # no answer, ever; the socket stays open
            return False
        if self.behaviour == "trickle_after_bind":
            self._trickle(tls, message_id)
            return False
        if self.page_delay and self.stop.wait(self.page_delay):
            return False
        sent = _request_cookie(message)
        with self._lock:
            self.pages += 1
            page = self.pages
            if sent and sent in self._cookies:
                self.cookies_followed += 1
            cookie = f"page-{page}".encode() if self.behaviour == "endless_paging" else b""
            if cookie:
                self._cookies.add(cookie)
        dn = f"CN=Administrator{page if cookie else ''},CN=Users,{NAMING_CONTEXT}"
        tls.sendall(_message(message_id, "searchResEntry", _entry(dn, ENTRY, requested))  # one write: no Nagle wait
                    + _message(message_id, "searchResDone", _result(SearchResultDone), _paged(cookie)))
        return True

    def _trickle(self, tls: ssl.SSLSocket, message_id: int) -> None:
        """The answer's bytes one at a time, one every ``trickle`` seconds; its last byte never comes."""
        answer = _message(message_id, "searchResEntry", _entry(f"CN=Administrator,CN=Users,{NAMING_CONTEXT}",
                                                               ENTRY, []))
        for i in range(len(answer) - 1):
            if i and self.stop.wait(self.trickle):
                return
            tls.sendall(answer[i:i + 1])
        self.stop.wait()

    def close(self) -> None:
        self._listener.close()
