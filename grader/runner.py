"""Planning and running a grading: collect per host in one round trip, judge locally.

Two phases: *plan* turns a rubric and a roster into one job per
(candidate, host), with every check's parameters rendered and validated and every probe
deduplicated; *run* executes the jobs on a bounded thread pool. Each job connects once,
sends all of the host's SSH probes in one exec (the envelope), sends the grader-side HTTP
probes, judges each check with its pure function and hands the finished host to the store
at once, so the slowest host never delays the others' results and an interruption loses
nothing already collected.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from grader.check import TOKEN, Check, analysed, evaluate
from grader.errors import CredentialError, HostKeyMismatch, TransportError, Unreachable, said
from grader.model import HostOutcome, Msg, Probe, ProbeResult, RefOf, Status, Text, Verdict
from grader.roster import Candidate
from grader.rubric import CheckEntry, Host, Rubric, render, render_params
from grader.transports.base import Channel, HostContext, Peer
from grader.transports.deadline import HostDeadline, abort_all

log = logging.getLogger("grader.runner")
_T = TypeVar("_T")

#: Seconds a channel may spend on its handshake and login, beyond its connect timeout (see HostJob.budget).
CHANNEL_MARGIN = 15.0
#: Seconds past its budget after which a host whose channel ignored the deadline is given up (run_jobs).
ABANDON_GRACE = 10.0
#: Hosts graded at the same instant with ``--snapshot`` (one thread each): beyond it, the room is read in waves.
SNAPSHOT_MAX = 256


def raise_file_limit() -> tuple[int, int]:
    """Raise this process's open-files soft limit to its hard limit (a room opens several sockets per host).

    Returns (soft, hard) as they are now. A grader-side shortage (EMFILE) is still possible past the hard
    limit: channels say it is the grader's (erreur), never the host's (injoignable).
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


@dataclass(frozen=True)
class PlannedCheck:
    entry: CheckEntry
    cls: type[Check]
    params: Any = None  # validated Params instance (None when planning failed)
    probes: Mapping[str, Probe] = field(default_factory=dict)
    problem: str | Msg = ""  # why this check cannot be evaluated for this candidate
    hint: str = ""  # the trainer's note, its templates filled for this candidate
    #: The parameters as far as they could be written for this candidate (templates filled when they
    #: render), shown in the sentence when they did not validate; None: as the rubric writes them.
    shown_params: Mapping[str, Any] | None = None

    @property
    def sentence(self) -> str:
        if self.params is not None:
            return self.cls.sentence(self.params)
        return self.cls.sentence(self.written_params)

    @property
    def written_params(self) -> dict[str, Any]:
        """The parameters as stored when they did not validate (this candidate's values where they render)."""
        return dict(self.shown_params if self.shown_params is not None else self.entry.params)


@dataclass(frozen=True)
class HostJob:
    candidate: Candidate
    host: Host
    address: str
    checks: tuple[PlannedCheck, ...]
    credential: Any
    credentials: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Mapping[str, Any]] | None = None  # the host's channel options for this candidate
    planning_problem: Msg | None = None  # why its address or options cannot be written for this candidate (not contacted)
    peers: Mapping[str, Peer] = field(default_factory=dict)  # the candidate's other hosts (a VM's hypervisor)
    own: str | None = None  # on a shared host (``hosts[].shared``): the glob naming this candidate's objects

    def share_key(self) -> str | None:
        """Jobs with the same key read the same machine the same way: one collection serves them all.

        None for a host that is not shared (or one this candidate cannot be graded on).
        """
        if self.host.shared is None or self.own is None or self.planning_problem is not None:
            return None
        cred = self.credential.model_dump() if hasattr(self.credential, "model_dump") else self.credential
        return json.dumps([self.host.name, self.address, self.host.port, self.host.transport, cred,
                           self.options if self.options is not None else self.host.options], sort_keys=True,
                          default=str)

    def channel_options(self, channel: str) -> Mapping[str, Any]:
        """The options of ``channel`` on this host, templates rendered for this candidate."""
        options = self.options if self.options is not None else self.host.options
        return options.get(channel, {})

    @property
    def label(self) -> str:
        return f"{self.candidate.id}/{self.host.name}"

    def channel_names(self) -> set[str]:
        """The channels configured on this host (``options.<channel>``)."""
        return set(self.options if self.options is not None else self.host.options)

    def unique_probes(self) -> list[Probe]:
        """Every probe once, whatever the number of checks asking for it."""
        seen: dict[str, Probe] = {}
        for pc in self.checks:
            for probe in pc.probes.values():
                seen.setdefault(probe.key, probe)
        return list(seen.values())

    def budget(self) -> float:
        """The host's time budget (``hosts[].budget``, else: per channel used, the connect timeout and
        :data:`CHANNEL_MARGIN` for the handshake and login, plus the probes' own budgets)."""
        if self.host.budget is not None:
            return self.host.budget
        probes = self.unique_probes()
        channels = {p.transport for p in probes} | {self.host.transport}
        if self.host.fallback is not None:  # the fallback's round trip, when the primary could not reach the host
            channels.add(self.host.fallback)
        return len(channels) * (self.host.connect_timeout + CHANNEL_MARGIN) + sum(p.timeout for p in probes)


@dataclass
class CheckResult:
    check_id: str
    check_type: str
    criterion: str
    points: float
    sentence: str
    params: dict[str, Any]
    status: Status
    observed: Text
    expected: Text
    message: Text
    hint: str
    probe_keys: dict[str, str]
    judged_at: str

    message_ref = RefOf("message")
    observed_ref = RefOf("observed")
    expected_ref = RefOf("expected")


@dataclass
class HostReport:
    candidate: str
    host: str
    address: str
    platform: str
    transport: str
    login: Text  # a Msg when it has words in it ("grader (clé)")
    outcome: HostOutcome
    started: str
    duration: float
    probes: list[ProbeResult]
    results: list[CheckResult]

    login_ref = RefOf("login")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# --- planning -------------------------------------------------------------------------


def plan(rubric: Rubric, candidates: Iterable[Candidate], catalogue: Mapping[str, type[Check]],
         only_hosts: set[tuple[str, str]] | None = None, only_checks: Iterable[str] | None = None) -> list[HostJob]:
    """One job per (candidate, host) that has at least one check (of ``only_checks``, when given: a partial re-grade)."""
    wanted = set(only_checks) if only_checks is not None else None
    jobs: list[HostJob] = []
    for cand in candidates:
        variables: dict[str, Any] = {**cand.variables, "candidat": cand.id, "nom": cand.name}
        addresses: dict[str, str] = {}
        unaddressed: dict[str, Msg] = {}  # hosts whose address cannot be written for this candidate: not contacted
        for h in rubric.hosts:
            try:
                addresses[h.name] = render(h.address, variables)
            except Exception as exc:  # noqa: BLE001 - a template failing for one candidate (undefined, 1 + "x"): said
                addresses[h.name] = h.address  # shown as written in the rubric
                unaddressed[h.name] = Msg("adresse de l'hôte invalide pour ce candidat : {error}", error=str(exc))
        variables["addr"] = addresses
        credentials, unresolved = _credentials_for(rubric, variables)
        peers = _peers(rubric, variables, addresses, credentials, set(unaddressed) | set(unresolved))
        for h in rubric.hosts:
            if only_hosts is not None and (cand.id, h.name) not in only_hosts:
                continue
            token = secrets.token_hex(8)
            planned = [_plan_check(e, catalogue[e.check], variables, token) for e in rubric.checks
                       if h in rubric.targets(e) and (wanted is None or e.id in wanted)]
            problem = unaddressed.get(h.name) or (unresolved.get(h.credential) if h.credential else None)
            try:
                options = {name: render_params(values, variables) for name, values in h.options.items()}
            except Exception as exc:  # noqa: BLE001 - as for the address
                problem = problem or Msg("options de l'hôte invalides pour ce candidat : {error}", error=str(exc))
                options = h.options
            own = None
            if h.shared is not None:
                try:
                    own = render(h.shared.own, variables)
                except Exception as exc:  # noqa: BLE001 - as for the address
                    problem = problem or Msg("partage de l'hôte invalide pour ce candidat : {error}", error=str(exc))
            if problem is not None:  # every check of the host says why, none is judged
                planned = [replace(pc, problem=problem) for pc in planned]
            if planned:
                jobs.append(HostJob(cand, h, addresses[h.name], tuple(planned),
                                    credentials.get(h.credential) if h.credential else None,
                                    credentials, options, problem,
                                    {name: peer for name, peer in peers.items() if name != h.name}, own))
    return jobs


def _peers(rubric: Rubric, variables: Mapping[str, Any], addresses: Mapping[str, str], credentials: Mapping[str, Any],
           unusable: set[str]) -> dict[str, Peer]:
    """Every host of the rubric as another host's channel may go through it (a VM's hypervisor), for one
    candidate; a host whose address, credential or options cannot be written for this candidate is left out."""
    peers: dict[str, Peer] = {}
    for h in rubric.hosts:
        if h.name in unusable or (h.credential and h.credential in unusable):
            continue
        try:
            options = {name: render_params(values, variables) for name, values in h.options.items()}
        except Exception:  # noqa: BLE001, S112 - said on that host's own checks; not a way through for another
            continue
        peers[h.name] = Peer(h.name, addresses[h.name], h.transport, h.port,
                             credentials.get(h.credential) if h.credential else None, h.sudo, h.connect_timeout,
                             options)
    return peers


def _credentials_for(rubric: Rubric, variables: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Msg]]:
    """The rubric's credential references for one candidate (templates filled), and why one could not be."""
    rendered: dict[str, Any] = {}
    unresolved: dict[str, Msg] = {}
    for name, cred in rubric.credentials.items():
        try:
            rendered[name] = cred.rendered(variables)
        except Exception as exc:  # noqa: BLE001 - a template failing for one candidate: that host is not contacted
            rendered[name] = cred
            unresolved[name] = Msg("identifiants « {name} » impossibles à écrire pour ce candidat : {error}", name=name,
                                   error=str(exc))
    return rendered, unresolved


def _plan_check(entry: CheckEntry, cls: type[Check], variables: Mapping[str, Any], token: str = "") -> PlannedCheck:
    try:
        hint = render(entry.hint, variables)
    except Exception:  # noqa: BLE001 - a hint failing for one candidate is shown as written (the roster check said it)
        hint = entry.hint
    try:
        rendered = render_params(entry.params, variables)
    except Exception as exc:  # noqa: BLE001 - a template failing for this candidate: this check says why
        return PlannedCheck(entry, cls, problem=Msg("paramètres invalides pour ce candidat : {error}", error=str(exc)),
                            hint=hint)
    try:
        params = cls.Params.model_validate(rendered)
    except ValidationError as exc:  # values invalid for this candidate: said in a line, not pydantic's dump
        return PlannedCheck(entry, cls, problem=Msg("paramètres invalides pour ce candidat : {error}",
                                                    error=_validation_said(exc)), hint=hint, shown_params=rendered)
    except Exception as exc:  # noqa: BLE001 - a validator that raised something else
        return PlannedCheck(entry, cls, problem=Msg("paramètres invalides pour ce candidat : {error}", error=str(exc)),
                            hint=hint, shown_params=rendered)
    try:
        probes = dict(cls().probes(params))
    except Exception as exc:  # noqa: BLE001 - a plugin bug is this check's erreur, not the run's
        return PlannedCheck(entry, cls, params,
                            problem=Msg("la vérification n'a pas pu déclarer ses sondes : {error}", error=repr(exc)),
                            hint=hint)
    if token:
        probes = {name: replace(p, command=p.command.replace(TOKEN, token)) if TOKEN in p.command else p
                  for name, p in probes.items()}
    return PlannedCheck(entry, cls, params, probes, hint=hint)


def _validation_said(exc: ValidationError) -> str:
    """« scope : adresse IPv4 invalide : '127.0.20' » for each error, instead of pydantic's multi-line dump."""
    return " ; ".join(f"{'.'.join(str(p) for p in err['loc'])} : {err['msg'].removeprefix('Value error, ')}"
                      if err["loc"] else err["msg"].removeprefix("Value error, ") for err in exc.errors())


# --- running one host -----------------------------------------------------------------


@dataclass
class _Collected:
    """What one host's collection brought (every channel), before any check is judged."""

    results: dict[str, ProbeResult]
    failed: dict[str, Verdict]
    outcome: HostOutcome
    login: str | Msg
    started: str
    t0: float


def grade_host(job: HostJob, known_hosts: Path | None, channels: Mapping[str, Channel] | None = None) -> HostReport:
    """Collect everything for one host in one round trip per channel, then judge locally.

    The host's primary channel (``hosts[].transport``) goes first: if it cannot reach the
    host, every check on the host takes that status (``injoignable``, or ``erreur`` for a
    changed host key or a broken credential) — a grader-side request to a host that is down
    must not become ``non_conforme``. Other channels run after it; one that fails makes only
    its own checks ``injoignable``/``erreur``. Every channel shares the host's one
    :class:`~grader.transports.deadline.HostDeadline` (:meth:`HostJob.budget`): past it, the
    host's sessions are closed and the channels not yet asked are not asked.
    """
    got = _collect_host(job, known_hosts, channels if channels is not None else default_channels())
    judged = [_judge(job, pc, got.results, got.outcome, got.failed) for pc in job.checks]
    return HostReport(job.candidate.id, job.host.name, job.address, job.host.platform, job.host.transport, got.login,
                      got.outcome, got.started, time.perf_counter() - got.t0, list(got.results.values()), judged)


def grade_shared(jobs: list[HostJob], known_hosts: Path | None,
                 channels: Mapping[str, Channel] | None = None) -> list[HostReport]:
    """Several candidates' jobs on one shared machine (same :meth:`HostJob.share_key`): one collection, a report each.

    Every candidate's probes go in the one round trip (the same inventory once, each one's own
    agent probes beside it); then each candidate is judged on their own view of it
    (:meth:`Check.own_view`): their objects and the machine's, never another candidate's. The
    round trips are counted in the first candidate's report; the others say whose collection they share.
    """
    lead = jobs[0]
    merged = replace(lead, checks=tuple(pc for job in jobs for pc in job.checks))
    got = _collect_host(merged, known_hosts, channels if channels is not None else default_channels())
    duration = time.perf_counter() - got.t0
    reports = []
    for n, job in enumerate(jobs):
        outcome = got.outcome if n == 0 else replace(
            got.outcome, execs=0, extra={**got.outcome.extra, "collecte_partagee_avec": lead.candidate.id})
        view = own_view(job, got.results)
        judged = [_judge(job, pc, view, outcome, got.failed) for pc in job.checks]
        reports.append(HostReport(job.candidate.id, job.host.name, job.address, job.host.platform, job.host.transport,
                                  got.login, outcome, got.started, duration, list(view.values()), judged))
    return reports


def own_view(job: HostJob, results: Mapping[str, ProbeResult]) -> dict[str, ProbeResult]:
    """The results of ``job``'s own probes, each cut to what its candidate owns on the shared host."""
    pattern = job.own or "*"

    def owns(name: str) -> bool:
        return fnmatch.fnmatchcase(name, pattern)

    view: dict[str, ProbeResult] = {}
    for pc in job.checks:
        for name, probe in pc.probes.items():
            if probe.key not in view and probe.key in results:
                view[probe.key] = pc.cls.own_view(name, results[probe.key], owns)
    return view


def share_groups(jobs: Iterable[HostJob]) -> list[list[HostJob]]:
    """The jobs in the groups they are collected in: alone, or with the other candidates of their shared machine."""
    groups: list[list[HostJob]] = []
    shared: dict[str, list[HostJob]] = {}
    for job in jobs:
        key = job.share_key()
        if key is None:
            groups.append([job])
        elif key in shared:
            shared[key].append(job)
        else:
            shared[key] = [job]
            groups.append(shared[key])
    return groups


def _collect_host(job: HostJob, known_hosts: Path | None, channels: Mapping[str, Channel]) -> _Collected:
    """Every channel's collection on the host, primary first, within the host's one deadline."""
    started, t0 = now(), time.perf_counter()
    primary = job.host.transport
    carried = set(getattr(channels.get(primary), "carries", ()))  # probe languages the primary runs (guest: ssh)
    by_channel: dict[str, list[Probe]] = {}
    for probe in job.unique_probes():
        by_channel.setdefault(primary if probe.transport in carried else probe.transport, []).append(probe)
    order = [primary] + sorted(t for t in by_channel if t != primary)
    results: dict[str, ProbeResult] = {}
    failed: dict[str, Verdict] = {}
    login: str | Msg = ""
    host_key: str | Msg = ""
    anomalies, execs = [], 0
    outcome: HostOutcome | None = None
    if job.planning_problem is not None:  # not contacted with options that are not this candidate's
        order, outcome = [], HostOutcome(False, job.planning_problem, status=Status.ERREUR)
    deadline = HostDeadline(job.budget()).start()
    try:
        for name in order:
            probes = by_channel.get(name, [])
            if name != primary and not probes:
                continue
            channel = channels.get(name)
            if channel is None:
                failed[name] = Verdict.erreur(Msg("aucun transport « {name} » n'est installé", name=name))
                continue
            if deadline.expired:  # the budget went on earlier channels: this one is not asked
                failed[name] = Verdict.erreur(Msg("budget de l'hôte épuisé ({seconds:g} s) : canal « {channel} » "
                                                  "non interrogé", seconds=deadline.seconds, channel=name))
                continue
            got = _collect(job, channel, name, probes, known_hosts, deadline, primary, failed)
            if got is None and name == primary:
                got = _another_way(job, channels, probes, known_hosts, deadline, failed)
            if got is None:
                if name == primary:  # the host could not be graded: no other channel is asked
                    break
                continue
            results.update(got.results)
            anomalies += got.said_anomalies()
            execs += got.execs if name == primary else 0  # the primary channel's round trips (SSH execs...)
            login = login or got.login
            host_key = host_key or got.host_key
    finally:
        deadline.cancel()
    if primary in failed and job.planning_problem is None:
        verdict = failed[primary]
        outcome = HostOutcome(False, verdict.message, status=verdict.status)
    if outcome is None:
        outcome = HostOutcome(True, host_key=host_key, anomalies=tuple(anomalies), execs=execs,
                              status=Status.CONFORME)
    return _Collected(results, failed, outcome, login, started, t0)


def _collect(job: HostJob, channel: Channel, name: str, probes: list[Probe], known_hosts: Path | None,
             deadline: HostDeadline, primary: str, failed: dict[str, Verdict]) -> Any:
    """One channel's collection on the host; a failure goes in ``failed`` (and None is returned).

    When the host's deadline closed the channel, whatever the channel says, the reason is the
    deadline's: the session opened, then stayed silent.
    """
    try:
        return channel.collect(_context(job, channel, name == primary, known_hosts, deadline), probes)
    except Exception as exc:
        if deadline.expired:  # whatever the library said (refused, reset, a raw error): the deadline closed it
            failed[name] = Verdict.erreur(deadline.silence())
        elif isinstance(exc, Unreachable):
            failed[name] = Verdict(Status.INJOIGNABLE, message=_reason(exc))
        elif isinstance(exc, (HostKeyMismatch, CredentialError, TransportError)):
            failed[name] = Verdict.erreur(_reason(exc))
        else:  # a channel's bug
            log.exception("channel %s failed on %s", name, job.label)
            failed[name] = Verdict.erreur(Msg("le canal « {channel} » a échoué sur cet hôte : {error}", channel=name,
                                              error=f"{type(exc).__name__}: {exc}"))
    return None


def _another_way(job: HostJob, channels: Mapping[str, Channel], probes: list[Probe], known_hosts: Path | None,
                 deadline: HostDeadline, failed: dict[str, Verdict]) -> Any:
    """When the primary channel could not reach the host (injoignable): its ``fallback`` channel runs the
    primary's probes (``fallback: guest``: the batch through the VM's hypervisor), and the evidence says
    so; without a fallback, or when it cannot either, the channels configured on the host say what they
    see of it (:meth:`Channel.explain`: « VM arrêtée »), added to the reason. Never a result from
    anything but the host the rubric names: the fallback reaches it by the rubric's own designation."""
    primary = job.host.transport
    verdict = failed.get(primary)
    if verdict is None or verdict.status is not Status.INJOIGNABLE or deadline.expired:
        return None
    fallback = job.host.fallback
    if fallback is not None and fallback in channels:
        tried: dict[str, Verdict] = {}
        got = _collect(job, channels[fallback], fallback, probes, known_hosts, deadline, fallback, tried)
        if got is not None:
            del failed[primary]
            got.anomalies.insert(0, Msg("{transport} injoignable ({reason}) : lot exécuté par le canal de secours "
                                        "« {fallback} »", transport=primary, reason=verdict.message,
                                        fallback=fallback))
            return got
        failed[primary] = Verdict(Status.INJOIGNABLE, message=Msg("{reason} ; canal de secours « {fallback} » : "
                                                                  "{why}", reason=verdict.message, fallback=fallback,
                                                                  why=tried[fallback].message))
        return None
    for name in sorted(job.channel_names()):
        channel = channels.get(name)
        if name == primary or channel is None or deadline.expired:
            continue
        try:
            seen = channel.explain(_context(job, channel, False, known_hosts, deadline))
        except Exception:
            log.exception("channel %s could not explain %s", name, job.label)
            continue
        if seen:
            failed[primary] = Verdict(Status.INJOIGNABLE, message=Msg("{reason} ; {seen}", reason=verdict.message,
                                                                      seen=seen))
            break
    return None


def _reason(exc: Exception) -> Msg | str:
    """Why a channel could not grade the host: its :class:`Msg` when raised with one (said in any language)."""
    return said(exc)


def _context(job: HostJob, channel: Channel, primary: bool, known_hosts: Path | None,
             deadline: HostDeadline) -> HostContext:
    host = job.host
    raw = job.channel_options(channel.name)
    return HostContext(name=host.name, address=job.address, platform=host.platform, port=host.port if primary else None,
                       credential=job.credential, credentials=job.credentials,
                       options=channel.Options.model_validate(raw), sudo=host.sudo,
                       connect_timeout=host.connect_timeout, known_hosts=known_hosts, primary=primary,
                       peers=job.peers, deadline=deadline)


def default_channels() -> dict[str, Channel]:
    from grader.plugins import default_transports

    return {name: cls() for name, cls in default_transports().items()}


def _judge(job: HostJob, pc: PlannedCheck, results: dict[str, ProbeResult], outcome: HostOutcome,
           failed: Mapping[str, Verdict]) -> CheckResult:
    """One check's verdict; its grader-side analyses (:meth:`Check.analyse`) join ``results``, stored as evidence."""
    extra: dict[str, ProbeResult] = {}
    channel_failure = next((failed[p.transport] for p in pc.probes.values() if p.transport in failed), None)
    if pc.problem:
        verdict = Verdict.erreur(pc.problem)
    elif not outcome.reached:
        verdict = Verdict(outcome.status, message=outcome.reason)
    elif channel_failure is not None:
        verdict = channel_failure
    else:
        collected = {name: results.get(p.key) for name, p in pc.probes.items()}
        extra = analysed(pc.cls(), pc.params, collected)
        results.update({r.key: r for r in extra.values()})
        verdict = evaluate(pc.cls(), pc.params, {**collected, **extra})
    return CheckResult(
        check_id=pc.entry.id, check_type=pc.cls.id, criterion=pc.entry.criterion, points=pc.entry.points,
        sentence=pc.sentence, params=pc.params.model_dump() if pc.params is not None else pc.written_params,
        status=verdict.status, observed=verdict.observed, expected=verdict.expected, message=verdict.message,
        hint=pc.hint, probe_keys={**{name: p.key for name, p in pc.probes.items()}, **{n: r.key for n, r in extra.items()}},
        judged_at=now(),
    )


class DependencyGate:
    """Holds a finished host until the hosts its checks depend on (``depends_on``) have ended.

    Runs in the thread that hands reports to the store, so no worker ever waits and cycles
    between hosts cannot deadlock. When a dependency was not reached, the checks whose proof
    passes through it become ``injoignable`` ("could not check"), never ``non_conforme``. A
    dependency outside this run (kept by a resume: it was reached) is not waited for.
    """

    def __init__(self, jobs: Iterable[HostJob]):
        self.jobs = {(j.candidate.id, j.host.name): j for j in jobs}
        self.outcomes: dict[tuple[str, str], HostOutcome] = {}
        self.held: list[HostReport] = []

    def _needs(self, report: HostReport) -> set[tuple[str, str]]:
        job = self.jobs.get((report.candidate, report.host))
        if job is None:
            return set()
        return {(report.candidate, d) for pc in job.checks for d in pc.entry.depends_on} & self.jobs.keys()

    def arrived(self, report: HostReport) -> list[HostReport]:
        """Record a finished host; return the reports (this one or held ones) now complete."""
        self.outcomes[(report.candidate, report.host)] = report.outcome
        self.held.append(report)
        ready = [r for r in self.held if self._needs(r) <= self.outcomes.keys()]
        self.held = [r for r in self.held if r not in ready]
        return [self._settle(r) for r in ready]

    def flush(self) -> list[HostReport]:
        """On interruption: release what is held, marking checks whose dependency never ended."""
        held, self.held = self.held, []
        return [self._settle(r) for r in held]

    def _settle(self, report: HostReport) -> HostReport:
        job = self.jobs.get((report.candidate, report.host))
        if job is None or not report.outcome.reached:
            return report
        depends = {pc.entry.id: pc.entry.depends_on for pc in job.checks}
        for result in report.results:
            for dep in depends.get(result.check_id, []):
                if (report.candidate, dep) not in self.jobs:
                    continue
                outcome = self.outcomes.get((report.candidate, dep))
                if outcome is None:
                    result.status = Status.ERREUR
                    ref = Msg("la preuve passe par l'hôte {host}, qui n'a pas été corrigé (correction interrompue)",
                              host=dep)
                elif not outcome.reached:
                    result.status = Status.INJOIGNABLE
                    ref = Msg("la preuve passe par l'hôte {host}, qui n'a pas été joint : {reason}", host=dep,
                              reason=outcome.reason)
                else:
                    continue
                result.message = ref
                break
        return report


# --- running many hosts ---------------------------------------------------------------


def run_jobs(jobs: list[HostJob], *, known_hosts_path: Path | None, workers: int = 32,
             on_done: Callable[[HostReport], None] | None = None, snapshot: bool = False) -> list[HostReport]:
    """Grade every job; ``on_done`` is called for each finished host (store + live view), in this thread.

    ``snapshot``: one thread per host (at most :data:`SNAPSHOT_MAX`) and a barrier before the first
    connection, so every machine of the room is read as close as possible to the same instant (the
    end of the timed phase); judging is local and comes after each host's collection anyway.

    No host holds the room: each has its deadline (see :func:`grade_host`), and a host whose
    channel ignored it is given up :data:`ABANDON_GRACE` seconds after its budget (its checks
    are erreur; its thread, a daemon, is left behind). On Ctrl-C every host's deadline is spent
    at once, what was done is handed to ``on_done``, and the interrupt propagates.
    """
    def grade_group(group: list[HostJob], known: Path | None, chans: Mapping[str, Channel]) -> list[HostReport]:
        if len(group) == 1 and group[0].share_key() is None:
            return [grade_host(group[0], known, chans)]
        return grade_shared(group, known, chans)  # alone on a shared machine too: their own view only

    task: Callable[[list[HostJob], Path | None, Mapping[str, Channel]], list[HostReport]] = grade_group
    raise_file_limit()
    groups = share_groups(jobs)  # a shared machine (hosts[].shared) is collected once for its candidates
    if snapshot:
        workers = min(max(workers, len(groups)), SNAPSHOT_MAX)
        barrier = threading.Barrier(min(len(groups), workers) or 1)

        def in_step(group: list[HostJob], known: Path | None, chans: Mapping[str, Channel]) -> list[HostReport]:
            try:
                barrier.wait(timeout=30)
            except threading.BrokenBarrierError:
                pass  # a thread that could not start in time must not hold the others
            return grade_group(group, known, chans)

        task = in_step
    gate = DependencyGate(jobs)
    channels = default_channels()
    used = {p.transport for j in jobs for p in j.unique_probes()} | {j.host.transport for j in jobs}
    started: list[Channel] = []
    reports: list[HostReport] = []
    pool = _DaemonPool(max(1, min(workers, len(groups) or 1)))

    def hand(report: HostReport) -> None:
        for ready in gate.arrived(report):
            reports.append(ready)
            if on_done:
                on_done(ready)

    def budget(group: list[HostJob]) -> float:
        return group[0].budget() if len(group) == 1 else replace(  # the one collection carries every probe
            group[0], checks=tuple(pc for j in group for pc in j.checks)).budget()

    try:
        for name in sorted(used & set(channels)):  # run-level resources (a syslog collector...) first
            channels[name].start(jobs)
            started.append(channels[name])
        pending = {pool.submit(task, g, known_hosts_path, channels): g for g in groups}
        while pending:
            done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in done:
                for report in fut.result():
                    hand(report)
                del pending[fut]
            for fut, group in list(pending.items()):
                began = pool.started_at(fut)
                if began is not None and time.monotonic() - began > budget(group) + ABANDON_GRACE:
                    log.warning("host %s ignored its deadline: given up", group[0].label)
                    del pending[fut]
                    for job in group:
                        hand(abandoned(job, budget(group)))
    except BaseException:
        abort_all()  # every waiting channel returns at once
        pool.cancel_pending()
        for report in gate.flush():  # nothing collected is lost; unknown dependencies say so
            reports.append(report)
            if on_done:
                on_done(report)
        raise
    finally:
        pool.shutdown()
        for channel in started:
            channel.stop()
    return reports


def abandoned(job: HostJob, budget: float) -> HostReport:
    """The report of a host given up past its budget: every check erreur, saying so."""
    reason = Msg("l'hôte n'a pas rendu la main dans son budget de {seconds:g} s : abandonné", seconds=budget)
    outcome = HostOutcome(False, reason, status=Status.ERREUR)
    judged = [_judge(job, pc, {}, outcome, {}) for pc in job.checks]
    return HostReport(job.candidate.id, job.host.name, job.address, job.host.platform, job.host.transport, "",
                      outcome, now(), budget, [], judged)


class _DaemonPool:
    """A bounded pool of daemon threads: a host whose library never returns cannot hold the process's exit.

    (``ThreadPoolExecutor`` joins its threads at interpreter exit, so one hung host would keep
    ``grader run`` alive after it has printed its end.)
    """

    def __init__(self, workers: int) -> None:
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue())
        self._started: dict[Future[Any], float] = {}
        for i in range(workers):
            threading.Thread(target=self._work, name=f"grader-host-{i}", daemon=True).start()
        self._workers = workers

    def submit(self, fn: Callable[..., _T], *args: Any) -> Future[_T]:
        fut: Future[_T] = Future()
        self._queue.put((fut, fn, args))
        return fut

    def started_at(self, fut: Future[Any]) -> float | None:
        return self._started.get(fut)

    def cancel_pending(self) -> None:
        """Cancel the jobs no thread has taken yet."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[0].cancel()

    def shutdown(self) -> None:
        """Idle threads end; a thread still on a job ends with it (a daemon: it never holds the exit)."""
        for _ in range(self._workers):
            self._queue.put(None)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            fut, fn, args = item
            if not fut.set_running_or_notify_cancel():
                continue
            self._started[fut] = time.monotonic()
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread, which re-raises it
                fut.set_exception(exc)
