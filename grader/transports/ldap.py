"""LDAP channel: directory facts read with one bind and a few paged searches per host.

Active Directory (Windows or Samba) is read over LDAPS (636) or StartTLS (389): both refuse a
simple bind over plain LDAP when signing is enforced (Samba's default ``ldap server require
strong auth = yes``), and a password must never cross the network in clear anyway. The
channel binds once with a reader account (a rubric credential, resolved here), reads the
RootDSE for the default naming context, then runs each *distinct* search of the host's
probes once, paged (``1.2.840.113556.1.4.319``, 500 entries a page).

What a probe asks and how its answer is written (the probe language) is :mod:`grader.probes.ldap`;
the values are normalised here, at the boundary, so that judges stay pure.

Failures are mapped at the boundary: no answer, connection refused, a TLS failure (untrusted
or misnamed certificate) and a refused bind raise :class:`~grader.errors.Unreachable`
(``injoignable``, reason in French); a bound session that cannot read the RootDSE raises
:class:`~grader.errors.TransportError`; a search that fails alone is that probe's ``error``.
``verify_tls: false`` is allowed (a lab DC with a self-signed certificate) and recorded as an
anomaly in the evidence of every host it applies to.

``auth: kerberos`` replaces the TLS connection and the simple bind with plain LDAP (389) and a
SASL GSSAPI bind that seals the session (:mod:`grader.transports.ldap_kerberos`), the ticket
coming from the same password, in memory (:mod:`grader.transports.kerberos`); the DC's identity
is then proved by Kerberos mutual authentication (``spn_host``: its name in ``ldap/<name>``).
The host still has to answer first (``injoignable`` otherwise); a Kerberos failure past that
point (password refused by the KDC, KDC unreachable, unknown SPN) is ``erreur``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
import json
import socket
import ssl
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from grader.credentials import PasswordSecret, resolve_password
from grader.errors import TransportError, Unreachable
from grader.model import Msg, Probe, ProbeResult
from grader.probes.ldap import CHANNEL, NEVER, LdapOptions, sid_to_str, validate_spec
from grader.transports.base import Channel, Collected, HostContext, option_credential, probe_fields
from grader.transports.deadline import HostDeadline

#: Output cap of one search (JSON text). Entries past it are dropped and the result marked truncated.
LDAP_CAP = 512 * 1024
PAGE_SIZE = 500
#: Pages one search may take (a real directory under LDAP_CAP needs a few dozen): a server's cookie is not trusted.
MAX_PAGES = 1000

# --- declaring searches (used by checks; pure) ------------------------------------------------


# --- normalisation (pure) -----------------------------------------------------------------------

GUID_ATTRS = {"objectguid", "schemaidguid", "attributesecurityguid", "invocationid", "ms-ds-consistencyguid",
              "netbootguid", "msds-optionalfeatureguid"}
SID_ATTRS = {"objectsid", "sidhistory", "tokengroups", "tokengroupsglobalanduniversal", "tokengroupsnogcacceptable",
             "securityidentifier", "ms-ds-creatorsid"}
FILETIME_ATTRS = {"pwdlastset", "accountexpires", "lastlogon", "lastlogontimestamp", "badpasswordtime", "lockouttime",
                  "lastlogoff", "creationtime", "msds-userpasswordexpirytimecomputed"}
GENERALIZED_TIME_ATTRS = {"whencreated", "whenchanged", "dscorepropagationdata", "createtimestamp", "modifytimestamp"}
INTEGER_ATTRS = {
    "useraccountcontrol", "grouptype", "gpoptions", "minpwdlength", "pwdhistorylength", "pwdproperties",
    "lockoutthreshold", "samaccounttype", "primarygroupid", "admincount", "badpwdcount", "logoncount", "flags",
    "versionnumber", "instancetype", "systemflags", "ms-ds-machineaccountquota", "msds-behavior-version",
    "countrycode", "usncreated", "usnchanged", "maxpwdage", "minpwdage", "lockoutduration",
    "lockoutobservationwindow", "forcelogoff", "msds-supportedencryptiontypes", "useraccountcontrolcomputed",
    "msds-user-account-control-computed", "domainfunctionality", "forestfunctionality",
    "domaincontrollerfunctionality", "gpcfunctionalityversion", "msds-minimumpasswordlength",
    "msds-passwordhistorylength", "msds-lockoutthreshold", "msds-passwordsettingsprecedence",
} | FILETIME_ATTRS
BINARY_ATTRS = {"ntsecuritydescriptor", "usercertificate", "cacertificate", "thumbnailphoto", "jpegphoto",
                "logonhours", "dnsrecord", "msds-generationid", "replpropertymetadata", "repluptodatevector",
                "repsfrom", "repsto", "supplementalcredentials", "unicodepwd", "dbcspwd", "ntpwdhistory",
                "lmpwdhistory", "msds-allowedtoactonbehalfofotheridentity", "dnsproperty"}
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


def filetime_to_iso(value: int) -> str | int:
    """FILETIME (100 ns since 1601) to ISO 8601 UTC; 0 and the "never" value stay integers."""
    if value <= 0 or value >= NEVER:
        return value
    try:
        moment = _FILETIME_EPOCH + timedelta(microseconds=value // 10)
    except OverflowError:
        return value
    return moment.isoformat().replace("+00:00", "Z")


def generalized_time_to_iso(text: str) -> str:
    """``20261129014647.0Z`` to ``2026-11-29T01:46:47Z`` (left as is when not in that shape)."""
    head = text.split(".")[0].rstrip("Z")
    try:
        moment = datetime.strptime(head, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return text
    return moment.isoformat().replace("+00:00", "Z")


def normalise_value(name: str, raw: bytes) -> Any:
    """One raw attribute value (bytes, as on the wire) to its JSON form; see the module docstring."""
    key = name.lower().split(";", 1)[0]
    if key in GUID_ATTRS and len(raw) == 16:
        return str(uuid.UUID(bytes_le=bytes(raw)))
    if key in SID_ATTRS:
        try:
            return sid_to_str(bytes(raw))
        except ValueError:
            return {"base64": base64.b64encode(raw).decode()}
    if key in BINARY_ATTRS:
        return {"base64": base64.b64encode(raw).decode()}
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode()}
    if key in INTEGER_ATTRS:
        try:
            number = int(text)
        except ValueError:
            return text
        return filetime_to_iso(number) if key in FILETIME_ATTRS else number
    if key in GENERALIZED_TIME_ATTRS:
        return generalized_time_to_iso(text)
    return text


def normalise_entry(dn: str, raw_attributes: Mapping[str, Sequence[bytes]], requested: Sequence[str]) -> dict[str, Any]:
    """An entry as judges see it: attribute names spelled as requested, every value normalised."""
    spelling = {a.lower(): a for a in requested}
    attributes: dict[str, list[Any]] = {}
    for name, values in raw_attributes.items():
        if not values:
            continue
        base_name = name.split(";", 1)[0]  # "member;range=0-*" after auto-ranging
        shown = spelling.get(base_name.lower(), base_name)
        attributes.setdefault(shown, []).extend(normalise_value(base_name, v) for v in values)
    return {"dn": dn, "attributes": attributes}


# --- certificate names (pure) -------------------------------------------------------------------


def certificate_names(der: bytes) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) a certificate is valid for: its SAN, else its subject CN."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        cns = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        return cns, []
    return list(san.get_values_for_type(x509.DNSName)), [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


def name_matches(expected: str, dns_names: Sequence[str], ips: Sequence[str]) -> bool:
    """RFC 6125 matching: an IP against IP SANs only; a name against DNS names (one left-most ``*``)."""
    try:
        ip = ipaddress.ip_address(expected)
    except ValueError:
        ip = None
    if ip is not None:
        return any(ipaddress.ip_address(x) == ip for x in ips)
    wanted = expected.lower().rstrip(".")
    for pattern in dns_names:
        pattern = pattern.lower().rstrip(".")
        if pattern == wanted:
            return True
        if pattern.startswith("*.") and "." in wanted and wanted.split(".", 1)[1] == pattern[2:]:
            return True
    return False


# --- the channel ----------------------------------------------------------------------------


class LdapChannel(Channel):
    """The ``ldap`` channel: one TLS connection and one simple bind per host, each distinct search once."""

    spec = CHANNEL

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        import ldap3
        from ldap3.core import exceptions as lx

        opts: LdapOptions = host.options if isinstance(host.options, LdapOptions) else LdapOptions()
        secret = _secret(host, opts)
        if opts.auth == "kerberos":
            return _collect_kerberos(host, probes, opts, secret)
        port = opts.port or host.port or (636 if opts.tls == "ldaps" else 389)
        where = f"{host.address}:{port}"
        anomalies: list[str | Msg] = []
        if not opts.verify_tls:
            anomalies.append(Msg("certificat TLS de {where} non vérifié (verify_tls: false dans le barème)", where=where))
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED if opts.verify_tls else ssl.CERT_NONE,
                        ca_certs_file=opts.ca_file if opts.verify_tls else None,
                        valid_names=["*"])  # names are checked below, the same way on every Python
        timeout = int(max([p.timeout for p in probes] + [10.0])) + 5  # ldap3 packs it as an integer
        server = ldap3.Server(host.address, port=port, use_ssl=opts.tls == "ldaps", tls=tls, get_info=ldap3.NONE,
                              connect_timeout=host.connect_timeout)
        conn = ldap3.Connection(server, user=secret.username, password=secret.password,
                                authentication=ldap3.SIMPLE, auto_bind=ldap3.AUTO_BIND_NONE, read_only=True,
                                raise_exceptions=False, receive_timeout=timeout, auto_range=True,
                                check_names=False, return_empty_attributes=False)
        release = host.deadline.guard(lambda: _shut(conn))  # the host's deadline ends any wait on this session
        try:
            try:
                conn.open()
                if opts.tls == "starttls" and not conn.start_tls():
                    raise Unreachable(Msg("{where} refuse StartTLS ({diagnostic})", where=where,
                                          diagnostic=_diagnostic(conn)))
            except lx.LDAPException as exc:
                raise Unreachable(_open_failure(where, exc)) from exc
            der = conn.socket.getpeercert(binary_form=True) if conn.socket is not None else None
            host_key = ""
            if der:
                host_key = "TLS SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")
                if opts.verify_tls:
                    expected = opts.tls_name or host.address
                    dns_names, ips = certificate_names(der)
                    if not name_matches(expected, dns_names, ips):
                        raise Unreachable(Msg("le certificat TLS de {where} n'est pas établi pour « {expected} » "
                                              "(noms du certificat : {names}) ; connexion refusée — indiquez "
                                              "options.ldap.tls_name si le barème vise l'hôte par son adresse",
                                              where=where, expected=expected,
                                              names=", ".join(dns_names + ips) or Msg("aucun")))
            try:
                bound = conn.bind()
            except lx.LDAPException as exc:
                raise Unreachable(Msg("liaison LDAP impossible avec {where} ({error})", where=where,
                                      error=str(exc))) from exc
            if not bound:
                raise Unreachable(_bind_failure(where, secret.username, conn))
            base_dn = opts.base_dn or _naming_context(conn, where)
            results, lost = _run_searches(conn, probes, base_dn, host.deadline)
            return Collected(results, login=Msg("{username} (mot de passe, {tls})", username=secret.username,
                                                tls=opts.tls.upper()),
                             host_key=host_key, anomalies=anomalies, execs=1, complete=lost is None)
        finally:
            release()
            with contextlib.suppress(Exception):  # closing a dead socket must not hide the real outcome
                conn.unbind()


def _run_searches(conn: Any, probes: Sequence[Probe], base_dn: str,
                  deadline: HostDeadline | None = None) -> tuple[dict[str, ProbeResult], str | Msg | None]:
    """Every probe's search on one bound connection; once the session is lost, the rest fail with that reason."""
    from ldap3.core import exceptions as lx

    results: dict[str, ProbeResult] = {}
    lost: str | Msg | None = None
    for probe in probes:
        if lost is None:
            try:
                results[probe.key] = _run_search(conn, probe, base_dn, deadline)
                continue
            except lx.LDAPException as exc:
                lost = (deadline.cut() if deadline is not None and deadline.expired  # the deadline shut the session
                        else Msg("connexion LDAP perdue : {error}", error=f"{type(exc).__name__}: {exc}"))
        results[probe.key] = _failed(probe, lost)
    return results, lost


def _collect_kerberos(host: HostContext, probes: Sequence[Probe], opts: LdapOptions,
                      secret: PasswordSecret) -> Collected:
    """One plain-LDAP connection, a Kerberos ticket from the password (in memory), a sealed SASL GSSAPI bind.

    The host is reached first: a host that does not answer is ``injoignable`` as with a simple
    bind. Past that point every Kerberos failure (password refused by the KDC, KDC unreachable,
    unknown SPN, server refusing the SASL bind) is :class:`TransportError` (``erreur``): the
    grader could not log in, which proves nothing about the candidate's directory.
    """
    import ldap3
    from ldap3.core import exceptions as lx

    from grader.transports import kerberos, ldap_kerberos

    why = kerberos.unavailable()
    if why:
        raise TransportError(why)
    import gssapi.exceptions

    port = opts.port or host.port or 389
    where = f"{host.address}:{port}"
    service_host = opts.spn_host or opts.tls_name or host.address
    kdc = opts.kdc or host.address
    timeout = int(max([p.timeout for p in probes] + [10.0])) + 5
    server = ldap3.Server(host.address, port=port, use_ssl=False, get_info=ldap3.NONE,
                          connect_timeout=host.connect_timeout)
    conn = ldap3.Connection(server, user=None, authentication=ldap3.SASL, sasl_mechanism=ldap3.KERBEROS,
                            auto_bind=ldap3.AUTO_BIND_NONE, read_only=True, raise_exceptions=False,
                            receive_timeout=timeout, auto_range=True, check_names=False,
                            return_empty_attributes=False)
    try:
        try:
            conn.open()
        except lx.LDAPException as exc:
            raise Unreachable(_open_failure(where, exc)) from exc
        with kerberos.kerberos_login(secret, realm=opts.realm, kdc=kdc, timeout=host.connect_timeout) as login:
            try:
                layer = ldap_kerberos.sasl_gssapi_bind(conn, service_host, login.creds)
            except gssapi.exceptions.GSSError as exc:
                raise TransportError(kerberos.explain(exc, login.principal, kdc)) from exc
            except (lx.LDAPException, OSError) as exc:
                raise TransportError(Msg("liaison Kerberos interrompue avec {where} ({error})", where=where,
                                         error=str(exc))) from exc
        base_dn = opts.base_dn or _naming_context(conn, where)
        results, lost = _run_searches(conn, probes, base_dn, host.deadline)
        return Collected(results, login=Msg("{principal} (Kerberos, {layer})", principal=login.principal, layer=layer),
                         host_key=Msg("Kerberos ldap/{service_host}@{realm} (authentification mutuelle)",
                                      service_host=service_host, realm=login.realm),
                         execs=1, complete=lost is None)
    finally:
        with contextlib.suppress(Exception):
            conn.unbind()


def _shut(conn: Any) -> None:
    """Shut the connection's socket (not its TLS layer): a ``recv`` blocked on it in another thread returns now."""
    if conn.socket is not None:
        socket.socket.shutdown(conn.socket, socket.SHUT_RDWR)


def _secret(host: HostContext, opts: LdapOptions) -> PasswordSecret:
    return resolve_password(option_credential(host, opts.credential, missing=Msg(
        "aucun compte de lecture LDAP pour {host} : ajoutez « options: {{ldap: {{credential: <nom>}}}} » "
        "à l'hôte", host=host.name)))


def _diagnostic(conn: Any) -> Msg:
    result = conn.result or {}
    return Msg("{description} : {message}", description=str(result.get("description", "?")),
               message=result.get("message", "").strip() or Msg("sans message"))


def _open_failure(where: str, exc: Exception) -> Msg:
    text = str(exc)
    low = text.lower()
    if "certificate" in low or "ssl" in low or "tls" in low or "wrong version number" in low:
        return Msg("échec de la négociation TLS avec {where} ({error})", where=where, error=text.strip()[:300])
    if "refused" in low:
        return Msg("{where} refuse la connexion", where=where)
    if "timed out" in low or "timeout" in low:
        return Msg("pas de réponse de {where} (délai dépassé)", where=where)
    if "no route" in low or "unreachable" in low:
        return Msg("{where} injoignable (aucune route)", where=where)
    return Msg("{where} injoignable ({error})", where=where, error=text.strip()[:300])


def _bind_failure(where: str, username: str, conn: Any) -> Msg:
    result = conn.result or {}
    code = result.get("result")
    if code == 49:
        return Msg("authentification LDAP refusée pour {username} sur {where} (identifiants invalides ou compte "
                   "désactivé)", username=username, where=where)
    if code == 8:
        return Msg("{where} exige une authentification plus forte (strongerAuthRequired) : utilisez ldaps ou "
                   "starttls", where=where)
    return Msg("liaison LDAP refusée par {where} pour {username} ({diagnostic})", where=where, username=username,
               diagnostic=_diagnostic(conn))


def _naming_context(conn: Any, where: str) -> str:
    import ldap3
    from ldap3.core import exceptions as lx

    try:
        ok = conn.search("", "(objectClass=*)", search_scope=ldap3.BASE, attributes=["defaultNamingContext"])
    except lx.LDAPException as exc:  # the session was lost (or shut by the host's deadline) before any probe ran
        raise TransportError(Msg("RootDSE illisible sur {where} ({diagnostic}) : indiquez options.ldap.base_dn",
                                 where=where, diagnostic=f"{type(exc).__name__}: {exc}")) from exc
    if not ok or not conn.response:
        raise TransportError(Msg("RootDSE illisible sur {where} ({diagnostic}) : indiquez options.ldap.base_dn",
                                 where=where, diagnostic=_diagnostic(conn)))
    raw: dict[str, Any] = next((e.get("raw_attributes", {}) for e in conn.response if e.get("type") == "searchResEntry"),
                               {})
    values: list[Any] = next((v for k, v in raw.items() if k.lower() == "defaultnamingcontext"), [])
    if not values:
        raise TransportError(Msg("{where} n'annonce pas de defaultNamingContext : indiquez options.ldap.base_dn",
                                 where=where))
    return bytes(values[0]).decode("utf-8")


def _absolute(base: str, naming_context: str) -> str:
    return f"{base},{naming_context}" if base else naming_context


def _failed(probe: Probe, reason: str | Msg) -> ProbeResult:
    return ProbeResult(**probe_fields(probe), error=reason)


def _run_search(conn: Any, probe: Probe, naming_context: str, deadline: HostDeadline | None = None) -> ProbeResult:
    """One paged search; the LDAP result code is the exit code. Raises ldap3 errors when the session is lost.

    The server's paging cookie is followed within the probe's own budget (and the host's): a server
    whose paging never ends makes the probe ``timed_out``, never a loop without end.
    """
    import ldap3

    common = probe_fields(probe)
    t0 = time.perf_counter()
    try:
        spec = validate_spec(json.loads(probe.command))
    except ValueError as exc:
        return ProbeResult(**common, error=Msg("recherche LDAP invalide : {error}", error=str(exc)))
    base_dn = _absolute(spec.get("base", ""), naming_context)
    scope = {"base": ldap3.BASE, "one": ldap3.LEVEL, "sub": ldap3.SUBTREE}[spec.get("scope", "sub")]
    attributes = spec.get("attributes") or [ldap3.NO_ATTRIBUTES]
    entries: list[dict[str, Any]] = []
    size, truncated, cookie = 0, False, None
    code, message = 0, ""
    time_limit = max(1, int(probe.timeout))
    sent_controls = None
    if spec.get("sd_flags") is not None:
        from ldap3.protocol.microsoft import security_descriptor_control

        sent_controls = security_descriptor_control(sdflags=spec["sd_flags"])
    ends = time.monotonic() + probe.timeout
    pages = 0
    while True:
        if pages and (pages >= MAX_PAGES or time.monotonic() > ends or (deadline is not None and deadline.expired)):
            return ProbeResult(**common, stderr=Msg("pagination sans fin : {pages} pages en {seconds:g} s",
                                                    pages=pages, seconds=round(time.perf_counter() - t0, 1)),
                               exit_code=None, duration=time.perf_counter() - t0, timed_out=True)
        pages += 1
        conn.search(base_dn, spec["filter"], search_scope=scope, attributes=attributes, paged_size=PAGE_SIZE,
                    paged_cookie=cookie, time_limit=time_limit, controls=sent_controls)
        result = conn.result or {}
        code, message = int(result.get("result", 0) or 0), str(result.get("message", "") or "")
        for item in conn.response or []:
            if item.get("type") != "searchResEntry":
                continue  # continuation references (DomainDnsZones...) are not followed
            entry = normalise_entry(item.get("dn", ""), item.get("raw_attributes", {}), spec.get("attributes") or [])
            cost = len(json.dumps(entry, ensure_ascii=False))
            if size + cost > LDAP_CAP:
                truncated = True
                break
            entries.append(entry)
            size += cost
        if code == 3:  # timeLimitExceeded
            return ProbeResult(**common, stderr=message, exit_code=code, duration=time.perf_counter() - t0,
                               timed_out=True)
        controls = result.get("controls", {}) or {}
        cookie = controls.get("1.2.840.113556.1.4.319", {}).get("value", {}).get("cookie")
        if truncated or code != 0 or not cookie:
            break
    stdout = json.dumps({"base": base_dn, "entries": entries}, ensure_ascii=False, sort_keys=True)
    return ProbeResult(**common, stdout=stdout, stderr=message, exit_code=code, duration=time.perf_counter() - t0,
                       truncated=truncated)
