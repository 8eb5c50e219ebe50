"""The ``snmp`` channel's language: declarative GET and WALK requests, and the varbind lines that answer them.

A probe's command is a small request built with :func:`snmp`, never a shell command::

    get 1.3.6.1.2.1.1.5.0 1.3.6.1.2.1.1.6.0      scalars (instances), read with GET
    walk 1.3.6.1.2.1.2.2.1.2 1.3.6.1.2.1.2.2.1.8  subtrees (table columns), read with GETBULK
    get 1.3.6.1.2.1.1.3.0 community=grader-x1y2  the same, sent (SNMPv2c) with that community
                                                 instead of the host's: a refusal test
    get 1.3.6.1.2.1.1.5.0 agent=10.77.1.2        sent to another agent than the host's, with the
                                                 host's credentials (a source-restriction test)

OIDs are numeric, so no MIB is needed to read the evidence back. :func:`parse_request` reads a
request; the output (``ProbeResult.stdout``) is one line per varbind, in the order received, written
by :func:`format_varbind` and read back by :func:`parse_varbinds`::

    1.3.6.1.2.1.1.5.0 = STRING: "srv-lin"           (JSON-quoted text)
    1.3.6.1.2.1.2.2.1.6.2 = Hex-STRING: 00 1A 2B 3C 4D 5E
    1.3.6.1.2.1.1.3.0 = Timeticks: 1084104545
    1.3.6.1.2.1.1.9.9.0 = No Such Object

An agent that never answered a probe gives no line, the reason in stderr (:func:`silent`) and
an exit code that says what the silence is worth: :data:`SILENCE_OBSERVED` (1) when the silence
is itself the observation (``silence: non_conforme`` in the rubric, a probe with its own
``community=`` or to another ``agent=``), :data:`SILENCE_UNREAD` (2) when the agent was only
not read (silent to every credential set on a host reached over another transport:
:func:`unread`, « valeurs non lues », never a proof of non-conformity by itself). When the
host's agent answered and several credential sets are configured, stderr says which set
answered (by its credential's name, never the secret). How requests are batched into PDUs and
what silence means for the host is :mod:`grader.transports.snmp`; versions and credential sets
are ``hosts[].options.snmp`` (:class:`SnmpOptions`).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from grader.model import Msg, Probe, ProbeResult
from grader.probes.channel import ChannelOptions, ChannelSpec

_OID = re.compile(r"^\.?(\d+(?:\.\d+)+)$")


#: The fields that make one credential set: given at the top of ``options.snmp`` (one set), or per
#: item of ``credentials`` (several sets, tried in order).
SET_FIELDS = ("version", "community_credential", "credential", "auth_protocol", "priv_protocol", "priv_credential",
              "context_name")


class _CredentialFields(BaseModel):
    """How to be answered by an agent: the fields one credential set is written with (at the top of
    ``options.snmp`` for one set, or in each item of its ``credentials`` list)."""

    version: Literal["v2c", "v3"] = "v2c"
    #: v2c: a rubric credential whose password is the community (default: the host's credential).
    community_credential: str | None = None
    #: v3: a rubric credential, username = USM user, password = authentication passphrase
    #: (default: the host's credential).
    credential: str | None = None
    auth_protocol: Literal["MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"] = "SHA"
    priv_protocol: Literal["none", "DES", "AES", "AES-192", "AES-256"] = "AES"
    #: v3: a rubric credential whose password is the privacy passphrase (default: the
    #: authentication passphrase, as net-snmp's createUser does when only one is given).
    priv_credential: str | None = None
    context_name: str = ""


class SnmpCredentialSet(_CredentialFields):
    """One item of ``hosts[].options.snmp.credentials``: a way to be answered by the agent.

    ``timeout`` and ``retries`` default to those of ``options.snmp``: trying a silent set costs them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout: float | None = Field(default=None, gt=0, le=60)
    retries: int | None = Field(default=None, ge=0, le=5)

    @model_validator(mode="after")
    def _coherent(self) -> SnmpCredentialSet:
        given = self.model_fields_set
        if self.version == "v2c":
            extra = [f for f in ("credential", "priv_credential", "auth_protocol", "priv_protocol") if f in given]
            if extra:
                raise ValueError(f"{', '.join(extra)} ne sert qu'en SNMPv3 (version: v3) ; en SNMPv2c, la "
                                 "communauté se donne par community_credential")
        elif "community_credential" in given:
            raise ValueError("community_credential ne sert qu'en SNMPv2c ; en SNMPv3, l'utilisateur se donne par "
                             "credential")
        return self


class SnmpOptions(ChannelOptions, _CredentialFields):
    """``hosts[].options.snmp`` in a rubric.

    One credential set is written with the fields at the top (``version``, ``community_credential``,
    ``credential``...); several are a ``credentials`` list, tried in order (:meth:`credential_sets`)::

        snmp:
          credentials:    # the first set the agent answers carries the whole batch
            - {version: v3, credential: snmp-v3, auth_protocol: SHA, priv_protocol: AES}
            - {version: v2c, community_credential: snmp-ro}
    """

    port: int = Field(default=161, ge=1, le=65535)
    #: Several credential sets, tried in order (each costs one short GET until one is answered);
    #: then the fields of a set above are not written at the top.
    credentials: tuple[SnmpCredentialSet, ...] | None = Field(default=None, min_length=1)
    timeout: float = Field(default=2.0, gt=0, le=60)
    retries: int = Field(default=1, ge=0, le=5)
    max_repetitions: int = Field(default=25, ge=1, le=200)
    max_varbinds: int = Field(default=50, ge=1, le=500)
    #: What an agent silent to every credential set means. ``auto`` (default): the host may be
    #: off (``injoignable``) when snmp is its primary transport; on a host reached over another
    #: transport, the values were not read: each check says ``erreur`` (« valeurs non lues »),
    #: except a check whose fact is the answer itself (``network.snmp_agent`` without values, or
    #: with ``answering_is_the_fact: true``), which says ``non_conforme``. ``injoignable``: always
    #: the host down. ``non_conforme``: the rubric states that answering is itself the fact for
    #: every SNMP check of the host (the agent must answer the grader: silence is non conforme).
    silence: Literal["auto", "injoignable", "non_conforme"] = "auto"

    @model_validator(mode="after")
    def _coherent(self) -> SnmpOptions:
        if self.credentials is not None:
            written = [f for f in SET_FIELDS if f in self.model_fields_set]
            if written:
                raise ValueError(f"{', '.join(written)} : avec « credentials », chaque jeu d'identifiants se "
                                 "décrit dans la liste, pas au niveau de options.snmp")
        elif self.version == "v2c" and self.priv_credential is not None:
            raise ValueError("priv_credential ne sert qu'en SNMPv3 (version: v3)")
        return self

    def credential_sets(self) -> list[SnmpOptions]:
        """Each credential set, in the order tried, as options of one set (``credentials`` unset)."""
        if self.credentials is None:
            return [self]
        common = {"credentials": None} | {f: SnmpCredentialSet.model_fields[f].default for f in SET_FIELDS}
        return [self.model_copy(update=common | {f: getattr(s, f) for f in SET_FIELDS}
                                | {"timeout": self.timeout if s.timeout is None else s.timeout,
                                   "retries": self.retries if s.retries is None else s.retries})
                for s in self.credentials]


@dataclass(frozen=True)
class Request:
    verb: Literal["get", "walk"]
    oids: tuple[str, ...]
    community: str | None = None
    agent: str | None = None  # another agent's address than the host's


def parse_request(command: str) -> Request:
    """``get|walk OID... [community=NAME] [agent=ADDRESS]`` -> Request (ValueError with a French reason)."""
    words = command.split()
    if not words or words[0] not in ("get", "walk"):
        raise ValueError("la requête SNMP doit commencer par « get » ou « walk »")
    oids: list[str] = []
    community = agent = None
    for word in words[1:]:
        if word.startswith("community="):
            community = word.partition("=")[2]
            if not community:
                raise ValueError("communauté vide")
            continue
        if word.startswith("agent="):
            try:
                agent = str(ipaddress.ip_address(word.partition("=")[2]))
            except ValueError:
                raise ValueError(f"adresse d'agent invalide : {word.partition('=')[2]!r}") from None
            continue
        match = _OID.match(word)
        if not match:
            raise ValueError(f"OID numérique attendu, pas {word!r}")
        oids.append(match.group(1))
    if not oids:
        raise ValueError("aucun OID dans la requête")
    if community is not None and agent is not None:
        raise ValueError("« community= » et « agent= » ne se combinent pas")
    return Request(words[0], tuple(dict.fromkeys(oids)), community, agent)  # type: ignore[arg-type]


def oid_tuple(oid: str) -> tuple[int, ...]:
    return tuple(int(x) for x in oid.split("."))


def in_subtree(oid: str, root: str) -> bool:
    return oid.startswith(root + ".")


def format_varbind(oid: str, value: Any) -> str:
    """One line of evidence for a varbind (see the module docstring for the grammar)."""
    from pyasn1.type import univ
    from pysnmp.proto import rfc1902, rfc1905

    tag = value.tagSet
    if tag == rfc1905.NoSuchObject.tagSet:
        return f"{oid} = No Such Object"
    if tag == rfc1905.NoSuchInstance.tagSet:
        return f"{oid} = No Such Instance"
    if tag == rfc1905.EndOfMibView.tagSet:
        return f"{oid} = End of MIB"
    if tag == univ.Null.tagSet:
        return f"{oid} = NULL"
    if tag == rfc1902.IpAddress.tagSet:
        return f"{oid} = IpAddress: " + ".".join(str(b) for b in value.asNumbers())
    if tag == rfc1902.Opaque.tagSet:
        return f"{oid} = Opaque: " + value.asOctets().hex(" ").upper()
    if tag == univ.OctetString.tagSet:
        raw = value.asOctets()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and all(c.isprintable() or c in "\t\r\n" for c in text.rstrip("\0")):
            return f"{oid} = STRING: " + json.dumps(text.rstrip("\0"), ensure_ascii=False)
        return f"{oid} = Hex-STRING: " + raw.hex(" ").upper()
    if tag == univ.ObjectIdentifier.tagSet:
        return f"{oid} = OID: {value.prettyPrint()}"
    names = ((rfc1902.Counter32, "Counter32"), (rfc1902.Gauge32, "Gauge32"), (rfc1902.TimeTicks, "Timeticks"),
             (rfc1902.Counter64, "Counter64"), (univ.Integer, "INTEGER"))
    for cls, name in names:
        if tag == cls.tagSet:
            return f"{oid} = {name}: {int(value)}"
    return f"{oid} = {type(value).__name__}: {value.prettyPrint()}"


CHANNEL = ChannelSpec("snmp", "grader.transports.snmp:SnmpChannel", Options=SnmpOptions, needs_credential=True)


_EMPTY = ("No Such Object", "No Such Instance", "End of MIB", "NULL")


@dataclass(frozen=True)
class VarBind:
    oid: str
    type: str  # STRING, Hex-STRING, INTEGER, OID, Timeticks, ..., or the exception name
    value: str | int | None  # None for No Such Object/Instance, End of MIB, NULL

    @property
    def present(self) -> bool:
        return self.value is not None

    def text(self) -> str:
        return "" if self.value is None else str(self.value)


def parse_varbinds(stdout: str) -> list[VarBind]:
    """Every varbind line; a line that does not follow the grammar raises ValueError."""
    out: list[VarBind] = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        oid, sep, rest = line.partition(" = ")
        if not sep or not oid.replace(".", "").isdigit():
            raise ValueError(Msg("ligne SNMP illisible : {line}", line=repr(line[:120])))
        if rest in _EMPTY:
            out.append(VarBind(oid, rest, None))
            continue
        kind, sep, value = rest.partition(": ")
        if not sep:
            raise ValueError(Msg("ligne SNMP illisible : {line}", line=repr(line[:120])))
        if kind == "STRING":
            out.append(VarBind(oid, kind, json.loads(value)))
        elif kind in ("INTEGER", "Counter32", "Gauge32", "Timeticks", "Counter64"):
            out.append(VarBind(oid, kind, int(value)))
        else:
            out.append(VarBind(oid, kind, value))
    return out


def by_oid(result: ProbeResult) -> dict[str, VarBind]:
    return {vb.oid: vb for vb in parse_varbinds(result.stdout)}


def column(varbinds: Mapping[str, VarBind], root: str) -> dict[str, VarBind]:
    """Index (the OID suffix after ``root``) -> varbind, for one table column."""
    prefix = root + "."
    return {oid[len(prefix):]: vb for oid, vb in varbinds.items() if oid.startswith(prefix)}


#: Exit code of a probe whose silence is the observation the rubric asked for.
SILENCE_OBSERVED = 1
#: Exit code of a probe not read: its agent answered none of the host's credential sets.
SILENCE_UNREAD = 2


def silent(result: ProbeResult) -> bool:
    """The agent never answered this probe (exit code 1 or 2, the reason in stderr)."""
    return result.exit_code not in (0, None) and not result.stdout.strip()


def unread(result: ProbeResult) -> bool:
    """The agent never answered this probe and its silence proves nothing by itself (:data:`SILENCE_UNREAD`)."""
    return silent(result) and result.exit_code == SILENCE_UNREAD


def snmp(request: str, *, active: bool = False) -> Probe:
    """A request carried by the ``snmp`` channel (``get``/``walk`` numeric OIDs, see grader.transports.snmp)."""
    return Probe("snmp", request, 15.0, active=active)
