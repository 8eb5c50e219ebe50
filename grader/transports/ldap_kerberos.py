"""SASL GSSAPI (Kerberos) bind for the LDAP channel, with the SASL security layer that AD requires.

Why not ldap3's own GSSAPI bind: it only selects "no security layer" (RFC 4752), and an AD DC
refuses that on plain LDAP (signing required: Windows' "LDAP server signing requirements",
Samba's default ``ldap server require strong auth = yes``, which answers
``SASL:[GSSAPI]: Sign or Seal are required``). Samba 4.17 also refuses SASL sign/seal inside
TLS (``Sign or Seal are not allowed if TLS is used``) and, at that default, SASL without it
even over LDAPS. The one combination every AD accepts is what Windows itself uses: LDAP on
port 389, Kerberos with mutual authentication, then every LDAP message sealed (confidentiality
layer, or integrity only when the server offers nothing else).

So this module performs the RFC 4752 exchange itself through ldap3's
``send_sasl_negotiation``, then puts a :class:`SaslSocket` in place of the connection's socket:
ldap3's synchronous strategy only calls ``sendall`` and ``recv`` on it, so every PDU is wrapped
(4-byte length + GSS wrap token) on the way out and unwrapped on the way in, transparently.

The server's identity is proved by Kerberos (only the holder of the ``ldap/<name>`` key can
answer the mutual-authentication token), not by a certificate.
"""

from __future__ import annotations

import struct
from typing import Any

from grader.errors import TransportError
from grader.model import Msg

NO_LAYER, INTEGRITY, CONFIDENTIALITY = 1, 2, 4
CLIENT_MAX_BUFFER = 0xFFFFFF  # the largest SASL buffer we accept (the 3-byte field's maximum)


class SaslSocket:
    """A socket whose traffic is framed as SASL buffers protected by a GSS context (RFC 4752 §3.3, RFC 4422 §3.7)."""

    def __init__(self, raw: Any, context: Any, *, seal: bool, server_max: int):
        self._raw = raw
        self._ctx = context
        self._seal = seal
        self._plain = bytearray()
        # Largest plaintext per outgoing buffer so that the token fits the server's maximum.
        limit = context.get_wrap_size_limit(server_max, encrypted=seal) if server_max else 64 * 1024
        self._chunk = max(1024, min(limit, 1024 * 1024))

    def sendall(self, data: bytes) -> None:
        view = memoryview(bytes(data))
        for offset in range(0, len(view), self._chunk):
            token = self._ctx.wrap(bytes(view[offset:offset + self._chunk]), self._seal)
            if self._seal and not token.encrypted:
                raise TransportError(Msg("le serveur LDAP a refusé le chiffrement de la session Kerberos"))
            self._raw.sendall(struct.pack(">I", len(token.message)) + token.message)

    def recv(self, size: int) -> bytes:
        while not self._plain:
            header = self._read_exactly(4)
            if not header:
                return b""  # the server closed the connection: ldap3 sees it as such
            (length,) = struct.unpack(">I", header)
            if length > CLIENT_MAX_BUFFER:
                raise OSError(f"tampon SASL de {length} octets annoncé par le serveur (max. {CLIENT_MAX_BUFFER})")
            token = self._read_exactly(length)
            if len(token) != length:
                raise OSError("connexion LDAP coupée au milieu d'un tampon SASL")
            unwrapped = self._ctx.unwrap(token)
            if self._seal and not unwrapped.encrypted:
                raise OSError("réponse LDAP non chiffrée alors que la session Kerberos est scellée")
            self._plain += unwrapped.message
        out = bytes(self._plain[:size])
        del self._plain[:size]
        return out

    def _read_exactly(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            part = self._raw.recv(n - len(buf))
            if not part:
                break
            buf += part
        return bytes(buf)

    def __getattr__(self, name: str) -> Any:  # settimeout, shutdown, close, getpeername...
        return getattr(self._raw, name)


def sasl_gssapi_bind(conn: Any, service_host: str, creds: Any) -> Msg:
    """Bind ``conn`` (opened, not bound, plain LDAP) with Kerberos and seal it; the layer chosen, said as a Msg.

    Raises :class:`TransportError` when the server refuses (its diagnostic kept) and lets
    ``gssapi`` errors through for the caller to word with :func:`grader.transports.kerberos.explain`.
    """
    import gssapi
    from ldap3.protocol.sasl.sasl import send_sasl_negotiation

    target = gssapi.Name(f"ldap@{service_host}", gssapi.NameType.hostbased_service)
    flags = (gssapi.RequirementFlag.mutual_authentication | gssapi.RequirementFlag.integrity
             | gssapi.RequirementFlag.confidentiality | gssapi.RequirementFlag.out_of_sequence_detection)
    ctx = gssapi.SecurityContext(name=target, mech=gssapi.MechType.kerberos, creds=creds, flags=flags,
                                 usage="initiate")
    conn.sasl_in_progress = True
    try:
        token = ctx.step(None)
        while True:
            result = send_sasl_negotiation(conn, None, token or b"")
            code = result.get("result")
            if code not in (0, 14):  # success or saslBindInProgress
                raise TransportError(_refusal(result))
            incoming = result.get("saslCreds") or b""
            if ctx.complete:
                break
            token = ctx.step(incoming)
            if ctx.complete and not token:
                result = send_sasl_negotiation(conn, None, b"")
                incoming = result.get("saslCreds") or b""
                break
        # RFC 4752 §3.1: the server offers layers and its maximum buffer; we choose and answer.
        offer = ctx.unwrap(incoming).message
        if len(offer) != 4:
            raise TransportError(Msg("réponse SASL GSSAPI du serveur LDAP mal formée (offre de protection)"))
        layers, server_max = offer[0], int.from_bytes(offer[1:4], "big")
        if layers & CONFIDENTIALITY:
            chosen, seal, what = CONFIDENTIALITY, True, Msg("session LDAP signée et chiffrée (SASL)")
        elif layers & INTEGRITY:
            chosen, seal, what = INTEGRITY, False, Msg("session LDAP signée (SASL), non chiffrée")
        else:
            raise TransportError(Msg("le serveur LDAP n'offre ni signature ni chiffrement de la session Kerberos : "
                                     "liaison refusée par le correcteur (les réponses pourraient être falsifiées)"))
        answer = ctx.wrap(bytes([chosen]) + CLIENT_MAX_BUFFER.to_bytes(3, "big"), False).message
        result = send_sasl_negotiation(conn, None, answer)
        if result.get("result") != 0:
            raise TransportError(_refusal(result))
    finally:
        conn.sasl_in_progress = False
    conn.socket = SaslSocket(conn.socket, ctx, seal=seal, server_max=server_max)
    conn.bound = True
    return what


def _refusal(result: dict[str, Any]) -> Msg:
    return Msg("liaison Kerberos (SASL GSSAPI) refusée par le serveur LDAP : {description} ({message})",
               description=str(result.get("description", "?")),
               message=str(result.get("message", "")).strip() or Msg("sans message"))

