"""Planning and running a grading: collect per host in one round trip, judge locally.

Two phases, as in STYLE.md: *plan* turns a rubric and a roster into one job per
(candidate, host), with every check's parameters rendered and validated and every probe
deduplicated; *run* executes the jobs on a bounded thread pool. Each job connects once,
sends all of the host's SSH probes in one exec (the envelope), sends the grader-side HTTP
probes, judges each check with its pure function and hands the finished host to the store
at once, so the slowest host never delays the others' results and an interruption loses
nothing already collected.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2
from pydantic import ValidationError

from grader.check import Check, evaluate
from grader.credentials import resolve_ssh
from grader.errors import CredentialError, HostKeyMismatch, TransportError, Unreachable
from grader.model import HostOutcome, Probe, ProbeResult, Status, Verdict
from grader.roster import Candidate
from grader.rubric import CheckEntry, Host, Rubric, render, render_params
from grader.transports import http as http_transport
from grader.transports import ssh as ssh_transport

log = logging.getLogger("grader.runner")


@dataclass(frozen=True)
class PlannedCheck:
    entry: CheckEntry
    cls: type[Check]
    params: Any = None  # validated Params instance (None when planning failed)
    probes: Mapping[str, Probe] = field(default_factory=dict)
    problem: str = ""  # why this check cannot be evaluated for this candidate

    @property
    def sentence(self) -> str:
        return self.cls.sentence(self.params) if self.params is not None else self.cls.sentence(self.entry.params)


@dataclass(frozen=True)
class HostJob:
    candidate: Candidate
    host: Host
    address: str
    checks: tuple[PlannedCheck, ...]
    credential: Any

    @property
    def label(self) -> str:
        return f"{self.candidate.id}/{self.host.name}"

    def unique_probes(self) -> list[Probe]:
        """Every probe once, whatever the number of checks asking for it."""
        seen: dict[str, Probe] = {}
        for pc in self.checks:
            for probe in pc.probes.values():
                seen.setdefault(probe.key, probe)
        return list(seen.values())


@dataclass
class CheckResult:
    check_id: str
    check_type: str
    criterion: str
    points: float
    sentence: str
    params: dict[str, Any]
    status: Status
    observed: str
    expected: str
    message: str
    hint: str
    probe_keys: dict[str, str]
    judged_at: str


@dataclass
class HostReport:
    candidate: str
    host: str
    address: str
    platform: str
    transport: str
    login: str
    outcome: HostOutcome
    started: str
    duration: float
    probes: list[ProbeResult]
    results: list[CheckResult]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# --- planning -------------------------------------------------------------------------


def plan(rubric: Rubric, candidates: Iterable[Candidate], catalogue: Mapping[str, type[Check]],
         only_hosts: set[tuple[str, str]] | None = None) -> list[HostJob]:
    """One job per (candidate, host) that has at least one check."""
    jobs: list[HostJob] = []
    for cand in candidates:
        variables: dict[str, Any] = {**cand.variables, "candidat": cand.id, "nom": cand.name}
        addresses: dict[str, str] = {}
        for h in rubric.hosts:
            try:
                addresses[h.name] = render(h.address, variables)
            except jinja2.TemplateError as exc:
                addresses[h.name] = f"<adresse invalide : {exc}>"
        variables["addr"] = addresses
        for h in rubric.hosts:
            if only_hosts is not None and (cand.id, h.name) not in only_hosts:
                continue
            planned = [_plan_check(e, catalogue[e.check], variables) for e in rubric.checks
                       if h in rubric.targets(e)]
            if planned:
                jobs.append(HostJob(cand, h, addresses[h.name], tuple(planned), rubric.credentials.get(h.credential)))
    return jobs


def _plan_check(entry: CheckEntry, cls: type[Check], variables: Mapping[str, Any]) -> PlannedCheck:
    try:
        params = cls.Params.model_validate(render_params(entry.params, variables))
    except (ValidationError, jinja2.TemplateError) as exc:
        return PlannedCheck(entry, cls, problem=f"paramètres invalides pour ce candidat : {exc}")
    try:
        probes = dict(cls().probes(params))
    except Exception as exc:  # noqa: BLE001 - a plugin bug is this check's erreur, not the run's
        return PlannedCheck(entry, cls, params, problem=f"la vérification n'a pas pu déclarer ses sondes : {exc!r}")
    return PlannedCheck(entry, cls, params, probes)


# --- running one host -----------------------------------------------------------------


def grade_host(job: HostJob, known_hosts: ssh_transport.KnownHosts) -> HostReport:
    """Collect everything for one host in one round trip per transport, then judge locally."""
    started, t0 = now(), time.perf_counter()
    probes = job.unique_probes()
    ssh_probes = [p for p in probes if p.transport == "ssh"]
    http_probes = [p for p in probes if p.transport == "http"]
    results: dict[str, ProbeResult] = {}
    login = ""
    outcome = HostOutcome(reached=True, status=Status.CONFORME)
    try:
        if job.credential is None:
            raise CredentialError(f"aucun identifiant pour l'hôte {job.host.name}")
        secret = resolve_ssh(job.credential)
        login = secret.describe()
        target = ssh_transport.SshTarget(job.address, job.host.port, job.host.sudo, job.host.connect_timeout)
        answer = ssh_transport.run_batch(target, secret, ssh_probes, known_hosts)
        results.update(answer.parsed.results)
        outcome = HostOutcome(reached=True, host_key=answer.host_key, anomalies=tuple(answer.parsed.anomalies),
                              execs=1, status=Status.CONFORME)
        if not answer.parsed.complete:
            outcome = HostOutcome(True, "l'enveloppe de sondes n'est pas allée à son terme", answer.host_key,
                                  tuple(answer.parsed.anomalies), 1, Status.CONFORME)
        results.update({p.key: http_transport.run(p) for p in http_probes})
    except Unreachable as exc:
        outcome = HostOutcome(False, str(exc), status=Status.INJOIGNABLE)
    except (HostKeyMismatch, CredentialError, TransportError) as exc:
        outcome = HostOutcome(False, str(exc), status=Status.ERREUR)
    judged = [_judge(job, pc, results, outcome) for pc in job.checks]
    return HostReport(job.candidate.id, job.host.name, job.address, job.host.platform, job.host.transport, login,
                      outcome, started, time.perf_counter() - t0, list(results.values()), judged)


def _judge(job: HostJob, pc: PlannedCheck, results: Mapping[str, ProbeResult], outcome: HostOutcome) -> CheckResult:
    if pc.problem:
        verdict = Verdict.erreur(pc.problem)
    elif not outcome.reached:
        verdict = Verdict(outcome.status, message=outcome.reason)
    else:
        verdict = evaluate(pc.cls(), pc.params, {name: results.get(p.key) for name, p in pc.probes.items()})
    return CheckResult(
        check_id=pc.entry.id, check_type=pc.cls.id, criterion=pc.entry.criterion, points=pc.entry.points,
        sentence=pc.sentence, params=pc.params.model_dump() if pc.params is not None else dict(pc.entry.params),
        status=verdict.status, observed=verdict.observed, expected=verdict.expected, message=verdict.message,
        hint=pc.entry.hint, probe_keys={name: p.key for name, p in pc.probes.items()}, judged_at=now(),
    )


# --- running many hosts ---------------------------------------------------------------


def run_jobs(jobs: list[HostJob], *, known_hosts_path: Path | None, workers: int = 32,
             on_done: Callable[[HostReport], None] | None = None) -> list[HostReport]:
    """Grade every job concurrently; ``on_done`` (the store, the live view) sees each host as it ends.

    On Ctrl-C, pending hosts are cancelled and the interrupt propagates after what was done
    has been handed to ``on_done``.
    """
    known = ssh_transport.KnownHosts(known_hosts_path)
    reports: list[HostReport] = []
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs) or 1)), thread_name_prefix="grader-host")
    try:
        futures: dict[Future[HostReport], HostJob] = {pool.submit(grade_host, j, known): j for j in jobs}
        for fut in as_completed(futures):
            report = fut.result()
            reports.append(report)
            if on_done:
                on_done(report)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return reports
