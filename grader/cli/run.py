"""Grading a room and writing its reports: ``grader run``, ``grader preflight``, ``grader demo`` and ``grader report``.

``run`` grades a session with a live view and ends on a one-screen summary; ``--candidate`` and
``--check`` re-grade only part of the room in the session's latest run (or ``--resume``'s), the
other results kept; ``--dry-run`` (or ``preflight``) only says, in one table, what would fail:
addresses, credentials, one TCP connect per host (:mod:`grader.preflight`). ``demo`` does the
same on the local lab with the demo rubric and compares with the planted truth; ``report``
(re)writes the reports of a graded run, from the session or from an evidence bundle. They stay
together because they share the grading and report code, and because they are listed in this
order in ``grader --help``.

Exit codes: 0 finished and every check conclusive (or demo matching its planted truth, or
preflight all ok); 1 finished with checks not conclusive (erreur, injoignable), demo mismatch,
or something preflight says would fail; 2 bad input; 130 interrupted (results kept, resume
command printed).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from grader import i18n
from grader.cli.common import (
    DEFAULT_SESSION,
    DEFAULT_SESSIONS,
    FrenchCommand,
    FromOpt,
    LangOpt,
    RubricSessionOpt,
    RunOpt,
    SessionOpt,
    apply_lang,
    console,
    err,
    remember_session,
    resolve_session,
    session_run,
)
from grader.cli.lab import lab_say, need_root
from grader.i18n import N_, status_text, t
from grader.model import Status
from grader.terminal import visible

# Repeatable: ``--candidate 03 --candidate 07`` re-grades those two (all the room when not given).
SeparatorOpt = Annotated[str | None, typer.Option("--separator", help=t("opt.separator"), show_default=False)]
CandidateOpt = Annotated[list[str] | None, typer.Option("--candidate", help=t("opt.only_candidate"),
                                                        show_default=False)]
CheckOpt = Annotated[list[str] | None, typer.Option("--check", help=t("opt.only_check"), show_default=False)]

STATUS_STYLE = {"conforme": "green", "non_conforme": "red", "erreur": "yellow", "injoignable": "magenta",
                "non_evalue": "dim"}


def status_label(status: str) -> str:
    return status_text(status)


def _grade_session(rubric_path: Path, roster_path: Path, session: Path, *, resume: str | None, workers: int,
                   verbose: bool, report: bool, known_hosts: Path | None = None, snapshot: bool = False,
                   candidates: list[str] | None = None, checks: list[str] | None = None,
                   separator: str | None = None) -> tuple[str, Counter[str]]:
    """Grade with a live view; returns the run id and the count of statuses over the whole run."""
    from grader import session as sess
    from grader.liveview import LiveView  # here: `grader --help` need not load the check model

    prepared = sess.prepare(rubric_path, roster_path, session, resume=resume, only_candidates=candidates,
                            only_checks=checks, separator=separator)
    store, run_id = prepared.store, prepared.run_id
    remember_session(session)
    for warning in prepared.rubric.warnings:
        err.print(warning, style="yellow", markup=False, soft_wrap=True)
    n_checks = sum(len(j.checks) for j in prepared.jobs)
    if prepared.regrade:
        console.print(t("msg.regrade", run=run_id, hosts=len(prepared.jobs), checks=n_checks))
    elif prepared.resumed:
        console.print(t("msg.resume", run=run_id, n=len(prepared.jobs), kept=prepared.kept))
    else:
        console.print(t("msg.run_start", run=run_id, cands=len(prepared.candidates), hosts=len(prepared.jobs),
                        checks=n_checks))
    known = known_hosts or sess.room_known_hosts(session)
    view = LiveView(console, prepared.jobs, verbose=verbose)
    with view.live():
        try:
            sess.grade(prepared, known_hosts=known, workers=workers, on_done=view.host_done, snapshot=snapshot)
        except KeyboardInterrupt:
            err.print(t("msg.interrupted", rubric=rubric_path, roster=roster_path, session=session, run=run_id),
                      style="yellow")
            raise typer.Exit(130) from None
    counts = _summary(store, run_id)
    console.print(t("msg.store", path=store.path.resolve()))
    if report:
        out = sess.reports_dir(session, run_id)
        written = sess.write_reports(store, run_id, out, i18n.get_lang())
        main_page = next((p for p in written if p.name == "session.html"), out)
        console.print(t("msg.reports", path=main_page.resolve()), style="bold")
    store.close()
    return run_id, counts


def _summary(store, run_id: str) -> Counter[str]:
    """One screen: a row per candidate, a column per status, and the points of conforming checks."""
    results = store.results(run_id)
    table = Table(title=t("msg.summary", run=run_id), title_justify="left")
    table.add_column(t("col.candidate"))
    for status, style in STATUS_STYLE.items():
        table.add_column(status_label(status), justify="right", style=style)
    table.add_column(t("cli.col.points"), justify="right")
    by_cand: dict[str, list[dict]] = {}
    for r in results:
        by_cand.setdefault(r["candidate"], []).append(r)
    names = {c["candidate"]: c["name"] for c in store.candidates(run_id)}
    total: Counter[str] = Counter()
    for cand, name in sorted(names.items()):
        rows = by_cand.get(cand, [])
        counts = Counter(r["status"] for r in rows)
        total.update(counts)
        got = sum(r["points"] for r in rows if r["status"] == "conforme")
        out_of = sum(r["points"] for r in rows)
        label = f"{cand} {name}".strip()
        table.add_row(escape(label), *[str(counts[s]) if counts[s] else "·" for s in STATUS_STYLE],
                      f"{got:g}/{out_of:g}")
    console.print(table)
    window = _window(store.hosts(run_id))
    if window:
        console.print(t("msg.window", **window), style="dim")
    inconclusive = sum(n for s, n in total.items() if not Status(s).conclusive)
    console.print(t("msg.some_inconclusive", n=inconclusive) if inconclusive else t("msg.all_conclusive"))
    return total


def _window(hosts: list[dict]) -> dict | None:
    """First connection to last answer over the whole room (evidence times are UTC ISO 8601)."""
    from datetime import datetime, timedelta

    spans = []
    for h in hosts:
        try:
            start = datetime.fromisoformat(h["started"])
        except (TypeError, ValueError):
            continue
        spans.append((start, start + timedelta(seconds=float(h["duration"] or 0))))
    if not spans:
        return None
    first, last = min(a for a, _ in spans), max(b for _, b in spans)
    fmt = "%H:%M:%S.%f"
    return {"start": first.strftime(fmt)[:-3], "end": last.strftime(fmt)[:-3], "span": (last - first).total_seconds()}


def run_cmd(
    rubric: Annotated[Path, typer.Argument(help=t("arg.rubric"), show_default=False)],
    roster: Annotated[Path, typer.Argument(help=t("arg.roster"), show_default=False)],
    session: Annotated[Path | None, typer.Option("--session", help=t("opt.session"), show_default=False)] = None,
    resume: Annotated[str | None, typer.Option("--resume", help=t("opt.resume"), show_default=False)] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=256, help=t("opt.workers"))] = 32,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=t("opt.verbose"))] = False,
    no_report: Annotated[bool, typer.Option("--no-report", help=t("opt.no_report"))] = False,
    snapshot: Annotated[bool, typer.Option("--snapshot", help=t("opt.snapshot"))] = False,
    known_hosts: Annotated[Path | None, typer.Option("--known-hosts", help=t("opt.known_hosts"),
                                                     show_default=False)] = None,
    candidate: CandidateOpt = None,
    check: CheckOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help=t("opt.dry_run"))] = False,
    separator: SeparatorOpt = None,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    if dry_run:
        raise typer.Exit(_preflight(rubric, roster, candidate, check, separator))
    if session is None:
        session = DEFAULT_SESSIONS / rubric.stem
    _, counts = _grade_session(rubric, roster, session, resume=resume, workers=workers, verbose=verbose,
                               report=not no_report, snapshot=snapshot, known_hosts=known_hosts,
                               candidates=candidate, checks=check, separator=separator)
    raise typer.Exit(1 if any(not Status(s).conclusive for s in counts) else 0)


def preflight_cmd(
    rubric: Annotated[Path, typer.Argument(help=t("arg.rubric"), show_default=False)],
    roster: Annotated[Path, typer.Argument(help=t("arg.roster"), show_default=False)],
    candidate: CandidateOpt = None,
    check: CheckOpt = None,
    separator: SeparatorOpt = None,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    raise typer.Exit(_preflight(rubric, roster, candidate, check, separator))


def _preflight(rubric_path: Path, roster_path: Path, candidates: list[str] | None, checks: list[str] | None,
               separator: str | None = None) -> int:
    """One table of what the run would meet; 0 when nothing would fail, else 1 (bad input raises: 2)."""
    from grader import preflight
    from grader import session as sess
    from grader.plugins import default_catalogue
    from grader.roster import load_roster
    from grader.rubric import load_rubric
    from grader.runner import plan

    catalogue = default_catalogue()
    rubric = load_rubric(rubric_path, catalogue, with_roster=True)
    for warning in rubric.warnings:
        err.print(warning, style="yellow", markup=False, soft_wrap=True)
    chosen = sess.select_candidates(load_roster(roster_path, rubric, separator=separator), candidates)
    jobs = plan(rubric, chosen, catalogue, only_checks=sess.select_checks(rubric, checks))
    lines = preflight.check_room(jobs)
    table = Table(title=t("pre.title", hosts=len(lines), cands=len({x.candidate for x in lines})),
                  title_justify="left")
    for key in (N_("col.candidate"), N_("cli.col.host"), N_("pre.col.address"), N_("pre.col.port"),
                N_("pre.col.credential"), N_("pre.col.state")):
        table.add_column(t(key))
    for line in lines:
        # Text, not markup: names and addresses come from the roster ([brackets] stay as written), made visible.
        state = (Text(t("pre.state.ok"), style="green") if line.ok
                 else Text(visible("; ".join(line.problems)), style="red"))
        table.add_row(*(Text(visible(v)) for v in (line.candidate, line.host, line.address)),
                      str(line.port) if line.port is not None else "—",
                      Text(visible(", ".join(line.credentials) or "—")), state)
    console.print(table)
    failing = [x for x in lines if not x.ok]
    if failing:
        console.print(t("pre.some_fail", n=len(failing), total=len(lines)), style="red")
        return 1
    console.print(t("pre.all_ok", total=len(lines)), style="green")
    return 0


def demo_cmd(
    keep: Annotated[bool, typer.Option("--keep", help=t("opt.keep"))] = False,
    session: Annotated[Path | None, typer.Option("--session", help=t("opt.session"), show_default=False)] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=t("opt.verbose"))] = False,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    need_root()
    import rubrics
    from grader.lab import base, demo
    from grader.lab.hosts import Lab
    from grader.lab.lock import lab_lock

    session = session or DEFAULT_SESSION
    lab = Lab()
    base.ensure_host_tools(lab_say)
    base.ensure_base(progress=lab_say)
    with lab_lock():
        lab.down(lab_say)  # a half-built lab from an earlier attempt goes first
        try:
            lab.ensure_key()
            lab.up(demo.demo_specs(), progress=lab_say)
            for cand, note in demo.DEMO_RUBRIC_NOTES.items():
                console.print(f"[dim]  {cand} : {escape(note)}[/]")
            run_id, _ = _grade_session(rubrics.demo_rubric(), rubrics.demo_roster(), session, resume=None,
                                       workers=8, verbose=verbose, report=True, known_hosts=lab.known_hosts_path)
        finally:
            if keep:
                console.print(t("msg.lab_kept"))
            else:
                lab.down(lab_say)
    raise typer.Exit(0 if _compare_truth(session, run_id, demo.PLANTED_TRUTH) else 1)


def _compare_truth(session: Path, run_id: str, truth: dict[str, dict[str, str]]) -> bool:
    with session_run(session, run_id) as (store, _):
        got = {(r["candidate"], r["check_id"]): r["status"] for r in store.results(run_id)}
    total = sum(len(v) for v in truth.values())
    ok = 0
    for cand, checks in truth.items():
        for check, expected in checks.items():
            if got.get((cand, check)) == expected:
                ok += 1
            else:
                err.print(t("msg.demo_mismatch", cand=cand, check=check, expected=expected,
                            got=got.get((cand, check), "—")), style="red")
    console.print(t("msg.demo_truth", ok=ok, total=total), style="green" if ok == total else "red")
    return ok == total


def report_cmd(
    session: SessionOpt = None,
    rubric: RubricSessionOpt = None,
    run: RunOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help=t("opt.out"), show_default=False)] = None,
    bundle: FromOpt = None,
    trainee: Annotated[bool, typer.Option("--trainee", help=t("cli.trainee"))] = False,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    from grader import session as sess

    if bundle is not None:  # offline: re-render from an evidence bundle, no store, no host
        from grader.bundle import render_reports

        if trainee:
            from grader import bundle as bundles
            from reports.html import TRAINEE_DIR, write_reports

            with bundles.load(bundle) as store:
                written = write_reports(store, store.run_id, out or Path(bundle.stem) / TRAINEE_DIR,
                                        i18n.get_lang(), audience="trainee")
        else:
            written = render_reports(bundle, out or Path(bundle.stem), i18n.get_lang())
        for path in written:
            console.print(t("msg.reports", path=path))
        return
    session = resolve_session(session, rubric)
    with session_run(session, run) as (store, run_id):
        if trainee:  # the trainee's pages only (hints forward, no jury-only part), beside the jury's reports
            from reports.html import TRAINEE_DIR, write_reports

            written = write_reports(store, run_id, out or sess.reports_dir(session, run_id) / TRAINEE_DIR,
                                    i18n.get_lang(), audience="trainee")
        else:
            written = sess.write_reports(store, run_id, out or sess.reports_dir(session, run_id), i18n.get_lang())
    for path in written:
        console.print(t("msg.reports", path=path))


def register(app: typer.Typer) -> None:
    """Add ``run``, ``demo`` and ``report`` to ``app``."""
    app.command("run", help=t("cmd.run"), cls=FrenchCommand)(run_cmd)
    app.command("preflight", help=t("cmd.preflight"), cls=FrenchCommand)(preflight_cmd)
    app.command("demo", help=t("cmd.demo"), cls=FrenchCommand)(demo_cmd)
    app.command("report", help=t("cmd.report"), cls=FrenchCommand)(report_cmd)
