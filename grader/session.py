"""A grading session: rubric + roster → stored run → reports, with resume.

This is the orchestration the CLI (and the demo, the tests, the bench) share: load and
validate, plan, grade every host concurrently, commit each host to the store the moment it
ends, write the reports through the reporter plugins. The CLI only adds the live view and
the words; nothing here prints.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from grader.errors import UsageError
from grader.i18n import t
from grader.plugins import default_catalogue, get_plugin_manager
from grader.roster import Candidate, load_roster, read_roster_text
from grader.rubric import Rubric, load_rubric
from grader.runner import HostJob, HostReport, plan, run_jobs
from grader.store import Store

KNOWN_HOSTS = "known_hosts"


def room_known_hosts(session_dir: Path) -> Path:
    """The room's pinned SSH host keys: one file beside the room's sessions, shared by all of them.

    A session of its own would trust whatever answers first at every new session; the room's file
    carries the keys from one session to the next (and from ``grader hosts trust``, run when the room
    is set up), so a machine swapped in between is refused, with both fingerprints.
    """
    return session_dir.resolve().parent / KNOWN_HOSTS
REPORTS_DIR = "rapports"


def new_run_id() -> str:
    """Sortable and readable on a printed page: date, time, and a short random tail."""
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


@dataclass
class Prepared:
    """Everything decided before the first connection."""

    rubric: Rubric
    candidates: list[Candidate]
    roster_text: str
    store: Store
    run_id: str
    jobs: list[HostJob]
    kept: int = 0  # hosts kept from an earlier attempt (resume)
    resumed: bool = False
    #: A partial re-grade (``--candidate``/``--check``): the selected results replace the earlier ones
    #: of the same run, every other result is kept. ``partial``: only some checks of a host are graded.
    regrade: bool = False
    partial: bool = False


@dataclass
class Outcome:
    run_id: str
    reports: list[HostReport] = field(default_factory=list)
    state: str = "termine"


def prepare(rubric_path: Path, roster_path: Path, session_dir: Path, *, resume: str | None = None,
            only_candidates: Collection[str] | None = None, only_checks: Collection[str] | None = None,
            separator: str | None = None) -> Prepared:
    """Validate the inputs, open the store and plan the jobs (all of them, or what a resume lacks).

    The rubric's templates are tried with each candidate's values (not samples): a value that makes
    an invalid parameter is the roster's located problem, before the store is opened.
    ``only_candidates``/``only_checks``: re-grade only those, in the run ``resume`` names or else the
    session's latest run (same rubric and roster); the other results of that run are kept.
    """
    catalogue = default_catalogue()
    rubric = load_rubric(rubric_path, catalogue, with_roster=True)
    candidates = load_roster(roster_path, rubric, separator=separator)
    roster_text = read_roster_text(roster_path)  # as read (cp1252, UTF-16...), stored as text
    if only_candidates or only_checks:
        select_candidates(candidates, only_candidates)
        select_checks(rubric, only_checks)
        return _regrade(rubric, candidates, roster_text, session_dir, resume, only_candidates, only_checks)
    store = Store(session_dir)
    if resume:
        row = store.run(resume)
        if row["rubric_text"] != rubric.text or row["roster_text"] != roster_text:
            store.close()
            raise UsageError(t("session.resume_mismatch", run=resume))
        done = store.conclusive_hosts(resume)
        all_jobs = plan(rubric, candidates, catalogue)
        jobs = [j for j in all_jobs if (j.candidate.id, j.host.name) not in done]
        store.reopen_run(resume)
        return Prepared(rubric, candidates, roster_text, store, resume, jobs, len(all_jobs) - len(jobs), True)
    run_id = new_run_id()
    store.new_run(run_id=run_id, rubric=rubric, roster_text=roster_text, candidates=candidates)
    return Prepared(rubric, candidates, roster_text, store, run_id, plan(rubric, candidates, catalogue))


def select_candidates(candidates: list[Candidate], wanted: Collection[str] | None) -> list[Candidate]:
    """The roster's candidates named by ``--candidate`` (all when none); an unknown name is a usage error."""
    if not wanted:
        return candidates
    known = [c.id for c in candidates]
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise UsageError(t("session.unknown_candidate", names=", ".join(unknown), known=", ".join(known)))
    return [c for c in candidates if c.id in set(wanted)]


def select_checks(rubric: Rubric, wanted: Collection[str] | None) -> set[str] | None:
    """The rubric's check ids named by ``--check`` (None: all); an unknown id is a usage error."""
    if not wanted:
        return None
    known = [c.id for c in rubric.checks]
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise UsageError(t("session.unknown_check", names=", ".join(unknown), known=", ".join(known)))
    return set(wanted)


def _regrade(rubric: Rubric, candidates: list[Candidate], roster_text: str, session_dir: Path, run: str | None,
             only_candidates: Collection[str] | None, only_checks: Collection[str] | None) -> Prepared:
    """A partial re-grade of an earlier run: its store, its id, the selected jobs only."""
    if not (session_dir / Store.FILENAME).exists():
        raise UsageError(t("session.nothing_to_regrade", path=session_dir))
    store = Store(session_dir)
    try:
        run = run or store.latest_run()
        if run is None:
            raise UsageError(t("session.nothing_to_regrade", path=session_dir))
        row = store.run(run)
        if row["rubric_text"] != rubric.text or row["roster_text"] != roster_text:
            raise UsageError(t("session.resume_mismatch", run=run))
    except BaseException:
        store.close()
        raise
    jobs = plan(rubric, select_candidates(candidates, only_candidates), default_catalogue(),
                only_checks=select_checks(rubric, only_checks))
    store.reopen_run(run)
    return Prepared(rubric, candidates, roster_text, store, run, jobs, resumed=True, regrade=True,
                    partial=bool(only_checks))


def grade(prepared: Prepared, *, known_hosts: Path, workers: int = 32,
          on_done: Callable[[HostReport], None] | None = None, snapshot: bool = False) -> Outcome:
    """Run the jobs; each host is committed as it ends. Interrupted or crashed runs are marked so."""
    outcome = Outcome(prepared.run_id)

    def done(report: HostReport) -> None:
        prepared.store.save_host(prepared.run_id, report, partial=prepared.partial)
        outcome.reports.append(report)
        if on_done:
            on_done(report)

    try:
        run_jobs(prepared.jobs, known_hosts_path=known_hosts, workers=workers, on_done=done, snapshot=snapshot)
    except BaseException:
        outcome.state = "interrompu"
        prepared.store.finish_run(prepared.run_id, "interrompu")
        raise
    prepared.store.finish_run(prepared.run_id, "termine")
    return outcome


def write_reports(store: Store, run_id: str, out_dir: Path, lang: str) -> list[Path]:
    """Every registered reporter writes into ``out_dir`` (the built-in HTML one included)."""
    written: list[Path] = []
    for reporters in get_plugin_manager().hook.grader_register_reporters():
        for reporter in reporters or []:
            written.extend(reporter.write(store, run_id, out_dir, lang))
    return written


def reports_dir(session_dir: Path, run_id: str) -> Path:
    return session_dir / REPORTS_DIR / run_id
