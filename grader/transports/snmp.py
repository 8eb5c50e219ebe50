"""SNMP transport (pysnmp 7, asyncio): a host's OIDs in as few PDUs as its agent allows.

Requests and the varbind lines that answer them (the probe language) are :mod:`grader.probes.snmp`.
The channel merges every ``get`` of the host into one GET carrying all the varbinds (split only
when the agent says ``tooBig`` or past ``max_varbinds``), and walks every ``walk`` subtree side by side in one
GETBULK stream (each PDU asks the next rows of all unfinished columns). A probe with its own
community is sent on its own; requests to another agent (``agent=``) are batched per agent the
same way, and that agent's silence is always an observation (exit code 1), never ``injoignable``:
the host graded is not that agent. ``Collected.execs`` counts the request PDUs sent (a SNMPv3
session also counts the engine discovery exchange).

A host may give several credential sets (``options.snmp.credentials``, v2c and v3 mixed),
tried in order: each costs one short GET (sysUpTime.0, with that set's timeout) until the agent
answers one, and that set carries the whole batch. A set the agent does not answer, or answers
with an SNMPv3 authentication error (wrong digest, unknown user...), is passed over for the next
one. The evidence says which set answered: the probes' stderr (« réponse au jeu d'identifiants 2
sur 2 : communauté « snmp-ro » (SNMPv2c) », and what the sets before it got) and the login. With
one set nothing is tried first: the batch's first request is the trial.

Outcomes are kept apart as the contract asks. An agent silent to every set is
:class:`Unreachable` (``injoignable``) when snmp is the host's primary transport (or with
``silence: injoignable``); on a host reached over another transport its probes come back with
no line and the reason (each set's) in stderr, and an exit code that says what that silence is
worth (:mod:`grader.probes.snmp`): 2, values not read (``silence: auto``: a check asserting
values says ``erreur``, only a check whose fact is the answer says ``non_conforme``), or 1,
silence observed (``silence: non_conforme``: the rubric states that answering is the fact). An
agent that refuses the SNMPv3 credentials of every set, and answers none, is
:class:`TransportError` (``erreur``: the rubric's credentials may be wrong); an answer with
other values than expected is judged by the checks. Secrets (community, keys) never appear in
the evidence, the logs or the errors: the login names the rubric's credential.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from grader.credentials import resolve_password
from grader.errors import CredentialError, TransportError, Unreachable
from grader.model import Msg, Probe, ProbeResult
from grader.probes.snmp import (
    CHANNEL,
    SILENCE_OBSERVED,
    SILENCE_UNREAD,
    Request,
    SnmpOptions,
    format_varbind,
    in_subtree,
    oid_tuple,
    parse_request,
)
from grader.transports.base import Channel, Collected, HostContext

_MAX_ROWS = 20000  # per walked column: a bound against agents that never end a table
_MAX_PDUS = 2000  # per host
_TRIAL = "1.3.6.1.2.1.1.3.0"  # sysUpTime.0: the short GET that tries a credential set


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


class _Refused(TransportError):
    """The agent answered with an SNMPv3 authentication error: these credentials are refused."""

    def __init__(self, message: Msg, indication: str):
        super().__init__(message)
        self.indication = indication


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
        self.heard = False  # the agent answered something, a refusal included
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

    @property
    def sent(self) -> int:
        """Request PDUs sent, plus the SNMPv3 engine discovery exchange when the agent took part in one."""
        return self.pdus + (1 if self.secret.version == "v3" and self.heard else 0)

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
                self.heard = True
                raise _Refused(Msg("l'agent SNMP de {where} refuse les identifiants SNMPv3 de « {login} » : "
                                   "{indication}", where=self.where, login=self.secret.login,
                                   indication=str(indication)), str(indication))
            raise TransportError(Msg("échange SNMP impossible avec {where} : {indication}", where=self.where,
                                     indication=str(indication)))
        self.heard = True
        if community is None:
            self.answered = True
        if status and int(status) != 0:
            return f"{status.prettyPrint() if hasattr(status, 'prettyPrint') else status} (varbind {int(index)})", []
        return None, [(str(o), v) for o, v in answer]


def silent_agent(where: str, login: str | Msg, timeout: float, retries: int) -> Msg:
    """Why an agent is taken as silent: the reason a host is unreachable, or a probe's stderr."""
    return Msg("l'agent SNMP de {where} ne répond pas ({login} ; délai {timeout:g} s, {retries} nouvel(s) essai(s))",
               where=where, login=login, timeout=timeout, retries=retries)


#: What the agent's silence is worth, from ``options.snmp.silence`` and the host's primary transport.
_Mode = Literal["injoignable", "observed", "unread"]


@dataclass
class _Outcome:
    lines: list[str] = field(default_factory=list)
    error: str | None = None
    silent: Msg | None = None  # why the agent did not answer this request (goes to the probe's stderr)
    silent_code: int = SILENCE_OBSERVED  # the probe's exit code when silent (grader.probes.snmp)
    note: Msg | None = None  # which credential set answered (the probe's stderr), with several sets
    timed_out: bool = False
    started: str = ""
    duration: float = 0.0


@dataclass(frozen=True)
class _Set:
    """One credential set of the host, as tried: its rank (from 1), its options, its resolved secret."""

    number: int
    options: SnmpOptions
    secret: _Secret


@dataclass
class _Choice:
    """The outcome of trying a host's credential sets on one agent."""

    session: _Session | None  # open, with the set that carries the batch; None when no set was answered
    chosen: _Set | None
    count: int  # how many sets the host has
    failures: list[Msg] = field(default_factory=list)  # what each set tried before (or instead of) it got
    refused: bool = False  # some set was refused (the agent answered): not a silence
    spent: int = 0  # PDUs sent with the sets passed over

    def note(self) -> Msg | None:
        """What the evidence says of the set that answered (nothing to say with one set)."""
        if self.chosen is None or self.count == 1:
            return None
        answered = Msg("réponse au jeu d'identifiants {number} sur {count} : {login}", number=self.chosen.number,
                       count=self.count, login=self.chosen.secret.login)
        if not self.failures:
            return answered
        return Msg("{answered} ; avant lui : {failures}", answered=answered, failures=self.failures)

    def login(self) -> str | Msg:
        if self.chosen is None:
            return ""
        if self.count == 1:
            return self.chosen.secret.login
        return Msg("{login} (jeu d'identifiants {number} sur {count})", login=self.chosen.secret.login,
                   number=self.chosen.number, count=self.count)

    def reason(self, where: str) -> Msg:
        """Why no set carried the batch: each set's fate."""
        return Msg("l'agent SNMP de {where} n'a répondu à aucun des {count} jeux d'identifiants : {failures}",
                   where=where, count=self.count, failures=self.failures)


async def _answering(host: HostContext, sets: Sequence[_Set], address: str | None = None) -> _Choice:
    """The session of the first set the agent answers (one short GET per set tried).

    With one set nothing is tried: its session is returned unasked and the batch's first request
    tells whether the agent answers (as it always did: no extra PDU).
    """
    if len(sets) == 1:
        session = _Session(host, sets[0].options, sets[0].secret, address)
        await session.open()
        return _Choice(session, sets[0], 1)
    choice = _Choice(None, None, len(sets))
    for candidate in sets:
        session = _Session(host, candidate.options, candidate.secret, address)
        await session.open()
        try:
            await session.request("get", [_TRIAL])
        except _Silent:
            choice.failures.append(Msg("jeu {number}, {login} : pas de réponse (délai {timeout:g} s, {retries} nouvel(s) "
                                       "essai(s))", number=candidate.number, login=candidate.secret.login,
                                       timeout=candidate.options.timeout, retries=candidate.options.retries))
        except _Refused as exc:
            choice.refused = True
            choice.failures.append(Msg("jeu {number}, {login} : identifiants refusés ({indication})",
                                       number=candidate.number, login=candidate.secret.login,
                                       indication=exc.indication))
        except BaseException:
            session.close()
            raise
        else:
            choice.session, choice.chosen = session, candidate
            return choice
        choice.spent += session.sent
        session.close()
    return choice


def _silence_for(outcomes: dict[str, _Outcome], keys: Iterable[str], reason: Msg, mode: _Mode, started: str,
                 duration: float) -> None:
    """The agent answered nothing: the probes say why, with the exit code of what that is worth."""
    for key in keys:
        out = outcomes[key]
        out.silent, out.silent_code = reason, SILENCE_UNREAD if mode == "unread" else SILENCE_OBSERVED
        out.started, out.duration = started, duration


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


async def _collect(host: HostContext, sets: Sequence[_Set], mode: _Mode,
                   requests: Mapping[str, Request]) -> tuple[dict[str, _Outcome], int, list[str | Msg], str | Msg]:
    outcomes = {key: _Outcome() for key in requests}
    anomalies: list[str | Msg] = []
    main = {k: r for k, r in requests.items() if r.community is None and r.agent is None}
    others = await _collect_other_agents(host, sets, requests, outcomes, anomalies)
    login: str | Msg = sets[0].secret.login if len(sets) == 1 else ""
    if all(r.agent is not None for r in requests.values()):  # nothing for the host's own agent
        return outcomes, others, anomalies, login
    started, t0 = _now(), time.perf_counter()
    choice = await _answering(host, sets)
    session = choice.session
    try:
        if session is None:  # several sets, none answered
            where = f"{host.address}:{sets[0].options.port}/udp"
            if choice.refused:
                raise TransportError(choice.reason(where))
            if mode == "injoignable":
                raise Unreachable(choice.reason(where))
            _silence_for(outcomes, main, choice.reason(where), mode, started, time.perf_counter() - t0)
            session = _Session(host, sets[0].options, sets[0].secret)  # for the refusal tests below
            await session.open()
        else:
            login = choice.login()
            await _collect_main(session, main, outcomes, anomalies, mode, choice.note())
        options = session.options
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
        if session is not None:
            session.close()
    pdus = choice.spent + (session.sent if session is not None else 0) + others
    return outcomes, pdus, anomalies, login


async def _collect_other_agents(host: HostContext, sets: Sequence[_Set], requests: Mapping[str, Request],
                                outcomes: dict[str, _Outcome], anomalies: list[str | Msg]) -> int:
    """The ``agent=`` requests: one batch per other agent; their silence is an observation. PDUs sent."""
    pdus = 0
    for address in dict.fromkeys(r.agent for r in requests.values() if r.agent is not None):
        asked = {k: r for k, r in requests.items() if r.agent == address}
        started, t0 = _now(), time.perf_counter()
        choice = await _answering(host, sets, address)
        if choice.session is None:
            if choice.refused:
                raise TransportError(choice.reason(f"{address}:{sets[0].options.port}/udp"))
            _silence_for(outcomes, asked, choice.reason(f"{address}:{sets[0].options.port}/udp"), "observed",
                         started, time.perf_counter() - t0)
            pdus += choice.spent
            continue
        try:
            await _collect_main(choice.session, asked, outcomes, anomalies, "observed", choice.note())
        finally:
            choice.session.close()
        pdus += choice.spent + choice.session.sent
    return pdus


async def _collect_main(session: _Session, main: Mapping[str, Request], outcomes: dict[str, _Outcome],
                        anomalies: list[str | Msg], mode: _Mode, note: Msg | None = None) -> None:
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
            if mode == "injoignable":
                raise Unreachable(reason) from exc
            _silence_for(outcomes, main, reason, mode, started, time.perf_counter() - t0)
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
        out.started, out.duration, out.note = started, duration, note
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
        mode: _Mode = ("injoignable" if options.silence == "injoignable" or (options.silence == "auto" and host.primary)
                       else "observed" if options.silence == "non_conforme" else "unread")
        # every set's secret is resolved before anything is sent: a rubric mistake is never a silence
        sets = [_Set(n, one, _secret(host, one)) for n, one in enumerate(options.credential_sets(), start=1)]
        requests: dict[str, Request] = {}
        results: dict[str, ProbeResult] = {}
        for probe in probes:
            try:
                requests[probe.key] = parse_request(probe.command)
            except ValueError as exc:
                results[probe.key] = ProbeResult(probe.key, probe.transport, probe.command, started=_now(),
                                                 error=Msg("requête SNMP invalide : {error}", error=str(exc)))
        login: str | Msg = sets[0].secret.login if len(sets) == 1 else ""
        outcomes: dict[str, _Outcome] = {}
        pdus, anomalies = 0, list[str | Msg]()
        if requests:
            outcomes, pdus, anomalies, login = asyncio.run(_collect(host, sets, mode, requests))
        complete = True
        for probe in probes:
            if probe.key not in outcomes:
                continue
            out = outcomes[probe.key]
            complete = complete and not out.timed_out
            if out.silent:
                results[probe.key] = ProbeResult(probe.key, probe.transport, probe.command, stderr=out.silent,
                                                 exit_code=out.silent_code, started=out.started,
                                                 duration=out.duration)
            else:
                results[probe.key] = ProbeResult(probe.key, probe.transport, probe.command,
                                                 stdout="".join(line + "\n" for line in out.lines),
                                                 stderr=out.note or "", exit_code=0, started=out.started,
                                                 duration=out.duration, timed_out=out.timed_out, error=out.error)
        return Collected(results, login=login, anomalies=anomalies, execs=pdus, complete=complete)


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
