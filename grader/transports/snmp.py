"""SNMP transport (pysnmp 7, asyncio): a host's OIDs in as few PDUs as its agent allows.

Requests and the varbind lines that answer them (the probe language) are :mod:`grader.probes.snmp`.
The channel merges every ``get`` of the host into one GET carrying all the varbinds (split only
when the agent says ``tooBig`` or past ``max_varbinds``), and walks every ``walk`` subtree side by side in one
GETBULK stream (each PDU asks the next rows of all unfinished columns). A probe with its own
community is sent on its own; requests to another agent (``agent=``) are batched per agent the
same way, and that agent's silence is always an observation (exit code 1), never ``injoignable``:
the host graded is not that agent. ``Collected.execs`` counts the request PDUs sent (a SNMPv3
session also counts the engine discovery exchange).

Outcomes are kept apart as the contract asks: no answer at all is :class:`Unreachable`
(``injoignable``; with the option ``silence: non_conforme`` the probes come back with exit
code 1 and the reason instead, for a host already reached over its primary transport whose
agent is deaf to the grader); an agent that answers but refuses the SNMPv3 credentials
("wrong digest", unknown user, decryption error) is :class:`TransportError` (``erreur``); an
answer with other values than expected is judged by the checks. Secrets (community, keys)
never appear in the evidence: the login names the rubric's credential.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from grader.credentials import resolve_password
from grader.errors import CredentialError, TransportError, Unreachable
from grader.model import Msg, Probe, ProbeResult
from grader.probes.snmp import CHANNEL, Request, SnmpOptions, format_varbind, in_subtree, oid_tuple, parse_request
from grader.transports.base import Channel, Collected, HostContext

_MAX_ROWS = 20000  # per walked column: a bound against agents that never end a table
_MAX_PDUS = 2000  # per host


# --- the probe language ----------------------------------------------------------------


# --- values -> text ---------------------------------------------------------------------


def _is_end(value: Any) -> bool:
    from pysnmp.proto import rfc1905

    return value.tagSet == rfc1905.EndOfMibView.tagSet


# --- the session ------------------------------------------------------------------------

_VIEW_LOCK = threading.Lock()
_VIEW: Any = None


def _shared_view() -> Any:
    """One MIB view controller for every engine: building it costs ~0.4 s, per engine otherwise.

    Our requests use numeric OIDs only; once the base MIBs are loaded (here, under a lock)
    the controller is only read.
    """
    global _VIEW
    with _VIEW_LOCK:
        if _VIEW is None:
            from pysnmp.hlapi.v3arch.asyncio import ObjectIdentity, ObjectType
            from pysnmp.smi import builder, view

            controller = view.MibViewController(builder.MibBuilder())
            ObjectType(ObjectIdentity("1.3.6.1.2.1.1.1.0")).resolve_with_mib(controller)
            _VIEW = controller
        return _VIEW


class _Silent(Exception):
    """The agent never answered the first request."""


@dataclass
class _Secret:
    version: str
    login: str | Msg  # how the evidence names the account (never the secret)
    community: str | None = field(default=None, repr=False)
    user: str = ""
    auth_key: str | None = field(default=None, repr=False)
    priv_key: str | None = field(default=None, repr=False)


_AUTH_FAILURES = ("WrongDigest", "UnknownUserName", "UnknownSecurityName", "DecryptionError", "UnsupportedSecurityLevel",
                  "AuthenticationError", "AuthenticationFailure", "NotInTimeWindow", "UnknownEngineID",
                  "UnsupportedAuthProtocol", "UnsupportedPrivProtocol", "NoSuchContext")


class _Session:
    """One host: one engine, one target; counts PDUs; maps pysnmp's indications to our errors."""

    def __init__(self, host: HostContext, options: SnmpOptions, secret: _Secret, address: str | None = None):
        self.host, self.options, self.secret = host, options, secret
        self.address = address or host.address
        self.pdus = 0
        self.answered = False
        self.engine: Any = None
        self.target: Any = None

    @property
    def where(self) -> str:
        return f"{self.address}:{self.options.port}/udp"

    async def open(self) -> None:
        from pysnmp.hlapi.v3arch.asyncio import SnmpEngine, UdpTransportTarget

        self.engine = SnmpEngine()
        self.engine.cache["mibViewController"] = _shared_view()
        try:
            self.target = await UdpTransportTarget.create((self.address, self.options.port),
                                                          timeout=self.options.timeout, retries=self.options.retries)
        except Exception as exc:  # name resolution and socket errors, as pysnmp raises them
            raise Unreachable(Msg("adresse SNMP inutilisable {address}:{port} ({error})", address=self.address,
                                  port=self.options.port, error=str(exc))) from exc

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close_dispatcher()

    def _auth(self, community: str | None) -> Any:
        from pysnmp.hlapi.v3arch import asyncio as hl

        if community is not None:
            return hl.CommunityData(community, mpModel=1)
        if self.secret.version == "v2c":
            return hl.CommunityData(self.secret.community, mpModel=1)
        o = self.options
        auth = {"MD5": hl.usmHMACMD5AuthProtocol, "SHA": hl.usmHMACSHAAuthProtocol,
                "SHA-224": hl.usmHMAC128SHA224AuthProtocol, "SHA-256": hl.usmHMAC192SHA256AuthProtocol,
                "SHA-384": hl.usmHMAC256SHA384AuthProtocol, "SHA-512": hl.usmHMAC384SHA512AuthProtocol}[o.auth_protocol]
        priv = {"none": hl.usmNoPrivProtocol, "DES": hl.usmDESPrivProtocol, "AES": hl.usmAesCfb128Protocol,
                "AES-192": hl.usmAesCfb192Protocol, "AES-256": hl.usmAesCfb256Protocol}[o.priv_protocol]
        priv_key = None if o.priv_protocol == "none" else self.secret.priv_key
        return hl.UsmUserData(self.secret.user, self.secret.auth_key, priv_key, authProtocol=auth, privProtocol=priv)

    async def request(self, kind: str, oids: Sequence[str], *, repetitions: int = 0,
                      community: str | None = None) -> tuple[str | None, list[tuple[str, Any]]]:
        """One PDU. Returns (error status or None, varbinds); raises _Silent/TransportError."""
        from pysnmp.hlapi.v3arch import asyncio as hl

        if self.pdus >= _MAX_PDUS:
            raise TransportError(Msg("plus de {limit} requêtes SNMP pour un seul hôte : collecte arrêtée",
                                     limit=_MAX_PDUS))
        self.pdus += 1
        varbinds = [hl.ObjectType(hl.ObjectIdentity(oid)) for oid in oids]
        context = hl.ContextData(contextName=self.options.context_name if community is None else "")
        auth = self._auth(community)
        if kind == "get":
            indication, status, index, answer = await hl.get_cmd(self.engine, auth, self.target, context, *varbinds,
                                                                 lookupMib=False)
        else:
            indication, status, index, answer = await hl.bulk_cmd(self.engine, auth, self.target, context, 0,
                                                                  repetitions, *varbinds, lookupMib=False)
        if indication:
            name = type(indication).__name__
            if name == "RequestTimedOut":
                raise _Silent(str(indication))
            if name in _AUTH_FAILURES:
                raise TransportError(Msg("l'agent SNMP de {where} refuse les identifiants SNMPv3 de « {login} » : "
                                         "{indication}", where=self.where, login=self.secret.login,
                                         indication=str(indication)))
            raise TransportError(Msg("échange SNMP impossible avec {where} : {indication}", where=self.where,
                                     indication=str(indication)))
        if community is None:
            self.answered = True
        if status and int(status) != 0:
            return f"{status.prettyPrint() if hasattr(status, 'prettyPrint') else status} (varbind {int(index)})", []
        return None, [(str(o), v) for o, v in answer]


def silent_agent(where: str, login: str | Msg, timeout: float, retries: int) -> Msg:
    """Why an agent is taken as silent: the reason a host is unreachable, or a probe's stderr."""
    return Msg("l'agent SNMP de {where} ne répond pas ({login} ; délai {timeout:g} s, {retries} nouvel(s) essai(s))",
               where=where, login=login, timeout=timeout, retries=retries)


@dataclass
class _Outcome:
    lines: list[str] = field(default_factory=list)
    error: str | None = None
    silent: Msg | None = None  # why the agent did not answer this request (goes to the probe's stderr)
    timed_out: bool = False
    started: str = ""
    duration: float = 0.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


async def _get_all(session: _Session, oids: list[str], community: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """GET every OID in as few PDUs as possible: oid -> line, oid -> error."""
    lines: dict[str, str] = {}
    errors: dict[str, str] = {}
    size = session.options.max_varbinds
    queue = [oids[i:i + size] for i in range(0, len(oids), size)]
    while queue:
        chunk = queue.pop(0)
        status, answer = await session.request("get", chunk, community=community)
        if status is None:
            for oid, value in answer:
                lines[oid] = format_varbind(oid, value)
            continue
        if status.startswith("tooBig") and len(chunk) > 1:
            half = len(chunk) // 2
            queue[:0] = [chunk[:half], chunk[half:]]
            continue
        for oid in chunk:
            errors[oid] = f"l'agent a répondu par une erreur : {status}"
    return lines, errors


async def _walk_all(session: _Session, roots: list[str], community: str | None = None) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Walk every subtree side by side with GETBULK: root -> lines, root -> error."""
    lines: dict[str, list[str]] = {root: [] for root in roots}
    errors: dict[str, str] = {}
    cursor = {root: root for root in roots}
    while cursor:
        columns = list(cursor)
        repetitions = max(1, min(session.options.max_repetitions, session.options.max_varbinds // len(columns)))
        status, answer = await session.request("bulk", [cursor[c] for c in columns], repetitions=repetitions,
                                               community=community)
        if status is not None:
            if status.startswith("tooBig") and session.options.max_varbinds > len(columns):
                session.options = session.options.model_copy(update={"max_varbinds": max(len(columns),
                                                                                         session.options.max_varbinds // 2)})
                continue
            for c in columns:
                errors[c] = f"l'agent a répondu par une erreur : {status}"
                del cursor[c]
            continue
        if not answer:
            for c in columns:
                errors[c] = "réponse GETBULK vide"
                del cursor[c]
            continue
        done: set[str] = set()
        for k, (oid, value) in enumerate(answer):
            root = columns[k % len(columns)]
            if root in done or root not in cursor:
                continue
            if _is_end(value) or not in_subtree(oid, root):
                done.add(root)
                continue
            if oid_tuple(oid) <= oid_tuple(cursor[root]):
                errors[root] = f"l'agent renvoie des OID non croissants ({oid} après {cursor[root]})"
                done.add(root)
                continue
            lines[root].append(format_varbind(oid, value))
            cursor[root] = oid
            if len(lines[root]) >= _MAX_ROWS:
                errors[root] = f"plus de {_MAX_ROWS} lignes sous {root} : lecture arrêtée"
                done.add(root)
        for root in done:
            cursor.pop(root, None)
    return lines, errors


async def _collect(host: HostContext, options: SnmpOptions, secret: _Secret,
                   requests: Mapping[str, Request]) -> tuple[dict[str, _Outcome], int, list[str | Msg]]:
    session = _Session(host, options, secret)
    outcomes = {key: _Outcome() for key in requests}
    anomalies: list[str | Msg] = []
    main = {k: r for k, r in requests.items() if r.community is None and r.agent is None}
    others = await _collect_other_agents(host, options, secret, requests, outcomes, anomalies)
    if all(r.agent is not None for r in requests.values()):  # nothing for the host's own agent
        return outcomes, others, anomalies
    await session.open()
    try:
        await _collect_main(session, main, outcomes, anomalies)
        for key, req in requests.items():  # refusal tests: one exchange each, after the main batch
            if req.community is None or req.agent is not None:
                continue
            started, t0 = _now(), time.perf_counter()
            try:
                if req.verb == "get":
                    got, errors = await _get_all(session, list(req.oids), req.community)
                    outcomes[key].lines = [got[o] for o in req.oids if o in got]
                else:
                    walked, errors = await _walk_all(session, list(req.oids), req.community)
                    outcomes[key].lines = [line for o in req.oids for line in walked[o]]
                if errors:
                    outcomes[key].error = "; ".join(sorted(set(errors.values())))
            except _Silent as exc:
                outcomes[key].silent = Msg("aucune réponse de {where} avec la communauté {community} ({error}; délai "
                                           "{timeout:g} s, {retries} nouvel(s) essai(s))", where=session.where,
                                           community=req.community, error=str(exc), timeout=options.timeout,
                                           retries=options.retries)
            outcomes[key].started, outcomes[key].duration = started, time.perf_counter() - t0
    finally:
        session.close()
    pdus = session.pdus + (1 if secret.version == "v3" and session.answered else 0) + others
    return outcomes, pdus, anomalies


async def _collect_other_agents(host: HostContext, options: SnmpOptions, secret: _Secret,
                                requests: Mapping[str, Request], outcomes: dict[str, _Outcome],
                                anomalies: list[str | Msg]) -> int:
    """The ``agent=`` requests: one batch per other agent; their silence is an observation. PDUs sent."""
    pdus = 0
    quiet = options.model_copy(update={"silence": "non_conforme"})
    for address in dict.fromkeys(r.agent for r in requests.values() if r.agent is not None):
        session = _Session(host, quiet, secret, address=address)
        await session.open()
        try:
            await _collect_main(session, {k: r for k, r in requests.items() if r.agent == address}, outcomes,
                                anomalies)
        finally:
            session.close()
        pdus += session.pdus + (1 if secret.version == "v3" and session.answered else 0)
    return pdus


async def _collect_main(session: _Session, main: Mapping[str, Request], outcomes: dict[str, _Outcome],
                        anomalies: list[str | Msg]) -> None:
    if not main:
        return
    get_oids = list(dict.fromkeys(o for r in main.values() if r.verb == "get" for o in r.oids))
    walk_roots = list(dict.fromkeys(o for r in main.values() if r.verb == "walk" for o in r.oids))
    started, t0 = _now(), time.perf_counter()
    got: dict[str, str] = {}
    walked: dict[str, list[str]] = {}
    errors: dict[str, str] = {}
    try:
        if get_oids:
            got, get_errors = await _get_all(session, get_oids)
            errors.update(get_errors)
        if walk_roots:
            walked, walk_errors = await _walk_all(session, walk_roots)
            errors.update(walk_errors)
    except _Silent as exc:
        if not session.answered:
            reason = silent_agent(session.where, session.secret.login, session.options.timeout,
                                  session.options.retries)
            if session.options.silence == "injoignable":
                raise Unreachable(reason) from exc
            for key in main:
                outcomes[key].silent = reason
                outcomes[key].started, outcomes[key].duration = started, time.perf_counter() - t0
            return
        anomalies.append(Msg("l'agent SNMP a cessé de répondre en cours de collecte ({error})", error=str(exc)))
        for key, req in main.items():
            missing = [o for o in req.oids if (o not in got and o not in walked and o not in errors)]
            if missing:
                outcomes[key].timed_out = True
                outcomes[key].error = "l'agent a cessé de répondre avant la fin de cette requête"
    duration = time.perf_counter() - t0
    for key, req in main.items():
        out = outcomes[key]
        out.started, out.duration = started, duration
        if out.timed_out:
            continue
        if req.verb == "get":
            out.lines = [got[o] for o in req.oids if o in got]
        else:
            out.lines = [line for o in req.oids for line in walked.get(o, [])]
        problems = sorted({errors[o] for o in req.oids if o in errors})
        if problems:
            out.error = "; ".join(problems)


class SnmpChannel(Channel):
    """The ``snmp`` channel: one GET for the scalars, one GETBULK stream for the tables."""

    spec = CHANNEL

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        options = host.options if isinstance(host.options, SnmpOptions) else SnmpOptions.model_validate(
            host.options or {})
        if options.silence == "auto":
            options = options.model_copy(update={"silence": "injoignable" if host.primary else "non_conforme"})
        secret = _secret(host, options)
        requests: dict[str, Request] = {}
        results: dict[str, ProbeResult] = {}
        for probe in probes:
            try:
                requests[probe.key] = parse_request(probe.command)
            except ValueError as exc:
                results[probe.key] = ProbeResult(probe.key, probe.transport, probe.command, started=_now(),
                                                 error=Msg("requête SNMP invalide : {error}", error=str(exc)))
        outcomes, pdus, anomalies = asyncio.run(_collect(host, options, secret, requests)) if requests else ({}, 0, [])
        complete = True
        for probe in probes:
            if probe.key not in outcomes:
                continue
            out = outcomes[probe.key]
            complete = complete and not out.timed_out
            if out.silent:
                results[probe.key] = ProbeResult(probe.key, probe.transport, probe.command, stderr=out.silent,
                                                 exit_code=1, started=out.started, duration=out.duration)
            else:
                results[probe.key] = ProbeResult(probe.key, probe.transport, probe.command,
                                                 stdout="".join(line + "\n" for line in out.lines), exit_code=0,
                                                 started=out.started, duration=out.duration,
                                                 timed_out=out.timed_out, error=out.error)
        return Collected(results, login=secret.login, anomalies=anomalies, execs=pdus, complete=complete)


def _secret(host: HostContext, options: SnmpOptions) -> _Secret:
    def credential(name: str | None, what: Msg) -> Any:
        if name is None:
            if host.credential is None:
                raise CredentialError(Msg("aucun identifiant SNMP ({what}) pour l'hôte {host} : indiquez-le dans "
                                          "options.snmp ou dans « credential: » de l'hôte", what=what, host=host.name))
            return host.credential
        ref = host.credentials.get(name)
        if ref is None:
            raise CredentialError(Msg("identifiants « {name} » non déclarés (options.snmp de l'hôte {host})",
                                      name=name, host=host.name))
        return ref

    if options.version == "v2c":
        name = options.community_credential
        ref = credential(name, Msg("communauté"))
        if name is None and not (getattr(ref, "password_env", None) or getattr(ref, "password_file", None)):
            raise CredentialError(Msg("aucune communauté SNMP pour l'hôte {host} : indiquez community_credential "
                                      "dans options.snmp (les identifiants de l'hôte n'ont pas de mot de passe)",
                                      host=host.name))
        secret = resolve_password(ref)
        label = name or Msg("identifiants de l'hôte")
        return _Secret("v2c", Msg("communauté « {label} » (SNMPv2c)", label=label), community=secret.password)
    user = resolve_password(credential(options.credential, Msg("utilisateur SNMPv3")))
    priv = user.password
    if options.priv_credential is not None:
        priv = resolve_password(credential(options.priv_credential, Msg("clé de chiffrement SNMPv3"))).password
    level = "authNoPriv" if options.priv_protocol == "none" else "authPriv"
    for what, key, privacy in ((Msg("d'authentification"), user.password, False), (Msg("de chiffrement"), priv, True)):
        if len(key) < 8 and not (privacy and options.priv_protocol == "none"):
            raise CredentialError(Msg("la phrase secrète SNMPv3 {what} de « {username} » fait moins de 8 caractères "
                                      "(refusée par les agents, RFC 3414)", what=what, username=user.username))
    suite = options.auth_protocol + ("" if options.priv_protocol == "none" else "/" + options.priv_protocol)
    return _Secret("v3", f"{user.username} (SNMPv3 {level} {suite})", user=user.username, auth_key=user.password,
                   priv_key=priv)
