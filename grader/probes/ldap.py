"""The ``ldap`` channel's language: declarative directory searches, and how their answers are written.

A probe's ``command`` is a search, canonical JSON written by :func:`search` (so equal searches share
one run)::

    {"attributes":["ou","gPLink"],"base":"","filter":"(objectClass=organizationalUnit)","scope":"sub"}

``base`` is relative to the naming context (``""`` is the domain itself, ``CN=Policies,CN=System``
the GPO container); values from a rubric enter a filter through :func:`escape_filter_value`. The
result's ``stdout`` is JSON, read back with :func:`parse_output`: ``{"base": <absolute base DN>,
"entries": [{"dn": ..., "attributes": {name: [values]}}]}``, every attribute a list, named as the
probe asked; values normalised so that judges stay pure and simple: ``objectGUID`` and friends as
``xxxxxxxx-xxxx-...`` strings, SIDs as ``S-1-5-21-...`` (:func:`sid_to_str`), integer attributes as
ints, FILETIME dates (``pwdLastSet``, ``accountExpires``...) as ISO 8601 UTC strings except their
special values 0 and :data:`NEVER` kept as integers, generalized times as ISO, other binary values as
``{"base64": ...}``. ``exit_code`` is the LDAP result code (0 success, 32 noSuchObject: the base does
not exist), ``stderr`` the server's diagnostic message. How the channel binds (LDAPS, StartTLS or
Kerberos) is ``hosts[].options.ldap`` (:class:`LdapOptions`) and :mod:`grader.transports.ldap`.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from grader.model import Probe, ProbeResult
from grader.probes.channel import ChannelOptions, ChannelSpec

SCOPES = ("base", "one", "sub")


NEVER = 0x7FFFFFFFFFFFFFFF


def search(filter: str, attributes: Iterable[str], *, base: str = "", scope: str = "sub",
           timeout: float = 10.0, sd_flags: int | None = None) -> Probe:
    """A probe for the ``ldap`` channel: one search, as canonical JSON (so equal searches share one run).

    :param filter: an RFC 4515 filter; values coming from parameters must be escaped with
        :func:`escape_filter_value`.
    :param attributes: attribute names to return.
    :param base: DN relative to the naming context (``""``: the domain object itself).
    :param scope: ``base``, ``one`` (children) or ``sub`` (the whole subtree).
    :param sd_flags: parts of ``nTSecurityDescriptor`` to return (LDAP_SERVER_SD_FLAGS control,
        1.2.840.113556.1.4.801: 1 owner, 2 group, 4 DACL, 8 SACL). Without it AD asks for the SACL
        too, which an ordinary reader may not read, and returns no descriptor at all.
    """
    spec: dict[str, Any] = {"base": base, "scope": scope, "filter": filter,
                            "attributes": sorted(set(attributes), key=str.lower)}
    if sd_flags is not None:
        spec["sd_flags"] = sd_flags
    validate_spec(spec)
    return Probe("ldap", json.dumps(spec, sort_keys=True, ensure_ascii=False, separators=(",", ":")), timeout)


def escape_filter_value(value: str) -> str:
    """RFC 4515 escaping of a value placed in a filter (``*``, ``(``, ``)``, ``\\`` and NUL)."""
    out = []
    for ch in value:
        if ch in "*()\\\0":
            out.append(f"\\{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def validate_spec(spec: Any) -> dict[str, Any]:
    """The search spec, checked; raises ValueError with a French reason."""
    if not isinstance(spec, dict):
        raise ValueError("la recherche doit être un objet JSON")  # noqa: TRY004 - one error type for callers
    extra = set(spec) - {"base", "scope", "filter", "attributes", "sd_flags"}
    if extra:
        raise ValueError(f"champs inconnus dans la recherche : {', '.join(sorted(extra))}")
    if not isinstance(spec.get("base", ""), str):
        raise ValueError("« base » doit être un texte")  # noqa: TRY004
    if spec.get("scope", "sub") not in SCOPES:
        raise ValueError(f"« scope » doit valoir {', '.join(SCOPES)}")
    flt = spec.get("filter")
    if not isinstance(flt, str) or not flt.startswith("(") or not flt.endswith(")") or flt.count("(") != flt.count(")"):
        raise ValueError("« filter » doit être un filtre LDAP entre parenthèses")
    attrs = spec.get("attributes", [])
    if not isinstance(attrs, list) or not all(isinstance(a, str) and a for a in attrs):
        raise ValueError("« attributes » doit être une liste de noms d'attributs")
    flags = spec.get("sd_flags")
    if flags is not None and (not isinstance(flags, int) or isinstance(flags, bool) or not 1 <= flags <= 15):
        raise ValueError("« sd_flags » doit être un entier de 1 à 15")
    return spec


def parse_output(result: ProbeResult) -> tuple[str, list[dict[str, Any]]]:
    """(absolute base DN, entries) of an ldap probe's stdout; raises ValueError when it is not ours."""
    data = json.loads(result.stdout)
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise ValueError("sortie LDAP illisible")  # noqa: TRY004
    return str(data.get("base", "")), data["entries"]


def sid_to_str(raw: bytes) -> str:
    """Binary SID (MS-DTYP 2.4.2) to ``S-1-5-21-...``."""
    if len(raw) < 8:
        raise ValueError("SID trop court")
    revision, count = raw[0], raw[1]
    authority = int.from_bytes(raw[2:8], "big")
    if len(raw) != 8 + 4 * count:
        raise ValueError("SID de longueur incohérente")
    subs = struct.unpack("<" + "I" * count, raw[8:8 + 4 * count])
    return "S-" + "-".join([str(revision), str(authority), *map(str, subs)])


class LdapOptions(ChannelOptions):
    """``hosts[].options.ldap`` in a rubric."""

    credential: str | None = None  # reader account (a rubric credential); else the host's own credential
    port: int | None = Field(default=None, ge=1, le=65535)  # default 636 (ldaps) or 389 (starttls)
    tls: Literal["ldaps", "starttls"] = "ldaps"
    verify_tls: bool = True  # false: certificate not checked, recorded as an anomaly
    ca_file: str | None = None  # CA certificate(s) to trust (PEM), else the system's store
    tls_name: str | None = None  # name the certificate must carry, else the host's address
    base_dn: str | None = None  # else the RootDSE's defaultNamingContext
    # Kerberos (SASL GSSAPI, see grader.transports.ldap_kerberos): plain LDAP (389) sealed by Kerberos, no TLS.
    auth: Literal["simple", "kerberos"] = "simple"
    realm: str | None = None  # else the credential's user@domain suffix, upper-cased
    kdc: str | None = None  # "host" or "host:port"; else the host itself (a DC is its own KDC)
    spn_host: str | None = None  # the DC's name in its SPN ldap/<spn_host> (dc.tssr.lan); else tls_name, else address

    @field_validator("base_dn")
    @classmethod
    def _dn(cls, value: str | None) -> str | None:
        if value is not None and "=" not in value:
            raise ValueError("un DN est attendu (ex. DC=tssr,DC=lan)")
        return value

    @model_validator(mode="after")
    def _kerberos_without_tls(self) -> LdapOptions:
        tls_fields = {"tls", "verify_tls", "ca_file"} & self.model_fields_set
        if self.auth == "kerberos" and tls_fields:
            raise ValueError(f"auth: kerberos chiffre la session LDAP par SASL sur le port 389, sans TLS "
                             f"(un DC Samba refuse Kerberos dans TLS) : retirez {', '.join(sorted(tls_fields))}")
        if self.auth == "simple" and {"realm", "kdc", "spn_host"} & self.model_fields_set:
            raise ValueError("realm, kdc et spn_host ne servent qu'avec auth: kerberos")
        return self


CHANNEL = ChannelSpec("ldap", "grader.transports.ldap:LdapChannel", Options=LdapOptions)
