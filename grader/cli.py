"""The ``grader`` command: what the proctor, the trainer and the demo run.

French by default, English with ``--lang en`` (or ``GRADER_LANG``/``LANG``): the language is
decided when this module is imported, because typer's help texts come from the catalogue.
Exit codes: 0 finished and every check conclusive (or demo matching its planted truth);
1 finished with checks not conclusive (erreur, injoignable), or demo mismatch; 2 bad input
(rubric, roster, options); 130 interrupted (results kept, resume command printed).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from grader import cli_history, cli_jury, cli_reports, clifr, i18n
from grader.cli_common import DEFAULT_SESSION, DEFAULT_SESSIONS, LangOpt, RunOpt, SessionOpt, apply_lang, session_run
from grader.errors import GraderError, LabError, RubricError
from grader.i18n import N_, status_text, t
from grader.liveview import LiveView
from grader.model import Status

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)



def _typer(help_key: str, **extra: object) -> typer.Typer:
    return typer.Typer(help=t(help_key), no_args_is_help=True, rich_markup_mode=None, cls=clifr.FrenchGroup,
                       context_settings={"help_option_names": ["-h", "--help"]}, **extra)


app = _typer(N_("app.help"), add_completion=False)
lab_app = _typer(N_("cmd.lab"))
checks_app = _typer(N_("cmd.checks"))
rubric_app = _typer(N_("cmd.rubric"))
app.add_typer(lab_app, name="lab")
app.add_typer(checks_app, name="checks")
app.add_typer(rubric_app, name="rubric")

STATUS_STYLE = {"conforme": "green", "non_conforme": "red", "erreur": "yellow", "injoignable": "magenta",
                "non_evalue": "dim"}
LAB_STATES = {"running": N_("lab.running"), "down": N_("lab.down"), "dead": N_("lab.dead")}

def status_label(status: str) -> str:
    return status_text(status)


@app.callback()
def root(lang: LangOpt = None) -> None:
    """Global options (``--lang`` is also accepted after the subcommand)."""
    apply_lang(lang)


# --- grading --------------------------------------------------------------------------------


def _grade_session(rubric_path: Path, roster_path: Path, session: Path, *, resume: str | None, workers: int,
                   verbose: bool, report: bool, known_hosts: Path | None = None,
                   snapshot: bool = False) -> tuple[str, Counter[str]]:
    """Grade with a live view; returns the run id and the count of statuses over the whole run."""
    from grader import session as sess

    prepared = sess.prepare(rubric_path, roster_path, session, resume=resume)
    store, run_id = prepared.store, prepared.run_id
    n_checks = sum(len(j.checks) for j in prepared.jobs)
    if prepared.resumed:
        console.print(t("msg.resume", run=run_id, n=len(prepared.jobs), kept=prepared.kept))
    else:
        console.print(t("msg.run_start", run=run_id, cands=len(prepared.candidates), hosts=len(prepared.jobs),
                        checks=n_checks))
    known = known_hosts or session / sess.KNOWN_HOSTS
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


@app.command("run", help=t("cmd.run"), cls=clifr.FrenchCommand)
def run_cmd(
    rubric: Annotated[Path, typer.Argument(help=t("arg.rubric"), show_default=False)],
    roster: Annotated[Path, typer.Argument(help=t("arg.roster"), show_default=False)],
    session: Annotated[Path | None, typer.Option("--session", help=t("opt.session"), show_default=False)] = None,
    resume: Annotated[str | None, typer.Option("--resume", help=t("opt.resume"), show_default=False)] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=256, help=t("opt.workers"))] = 32,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=t("opt.verbose"))] = False,
    no_report: Annotated[bool, typer.Option("--no-report", help=t("opt.no_report"))] = False,
    snapshot: Annotated[bool, typer.Option("--snapshot", help=t("opt.snapshot"))] = False,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    if session is None:
        session = DEFAULT_SESSIONS / rubric.stem
    _, counts = _grade_session(rubric, roster, session, resume=resume, workers=workers, verbose=verbose,
                               report=not no_report, snapshot=snapshot)
    raise typer.Exit(1 if any(not Status(s).conclusive for s in counts) else 0)


# --- demo -----------------------------------------------------------------------------------


def _need_root() -> None:
    if os.geteuid() != 0:
        raise LabError(t("msg.lab_need_root"))


def _lab_say(message: str) -> None:
    console.print(f"[dim]· {escape(message)}[/]")


@app.command("demo", help=t("cmd.demo"), cls=clifr.FrenchCommand)
def demo_cmd(
    keep: Annotated[bool, typer.Option("--keep", help=t("opt.keep"))] = False,
    session: Annotated[Path | None, typer.Option("--session", help=t("opt.session"), show_default=False)] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=t("opt.verbose"))] = False,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    _need_root()
    import rubrics
    from grader.lab import base, demo
    from grader.lab.hosts import Lab
    from grader.lab.lock import lab_lock

    session = session or DEFAULT_SESSION
    lab = Lab()
    base.ensure_host_tools(_lab_say)
    base.ensure_base(progress=_lab_say)
    with lab_lock():
        lab.down(_lab_say)  # a half-built lab from an earlier attempt goes first
        try:
            lab.ensure_key()
            lab.up(demo.demo_specs(), progress=_lab_say)
            for cand, note in demo.DEMO_RUBRIC_NOTES.items():
                console.print(f"[dim]  {cand} : {escape(note)}[/]")
            run_id, _ = _grade_session(rubrics.demo_rubric(), rubrics.demo_roster(), session, resume=None,
                                       workers=8, verbose=verbose, report=True, known_hosts=lab.known_hosts_path)
        finally:
            if keep:
                console.print(t("msg.lab_kept"))
            else:
                lab.down(_lab_say)
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


# --- lab ------------------------------------------------------------------------------------


@lab_app.command("up", help=t("cmd.lab.up"), cls=clifr.FrenchCommand)
def lab_up(lang: LangOpt = None) -> None:
    apply_lang(lang)
    _need_root()
    from grader.lab import base, demo
    from grader.lab.hosts import Lab
    from grader.lab.lock import lab_lock

    base.ensure_host_tools(_lab_say)
    base.ensure_base(progress=_lab_say)
    lab = Lab()
    lab.ensure_key()
    with lab_lock():
        hosts = lab.up(demo.demo_specs(), progress=_lab_say)
    console.print(t("msg.lab_up", n=len(hosts)))
    _lab_table(lab)


@lab_app.command("down", help=t("cmd.lab.down"), cls=clifr.FrenchCommand)
def lab_down(lang: LangOpt = None) -> None:
    apply_lang(lang)
    _need_root()
    from grader.lab.hosts import Lab
    from grader.lab.lock import lab_lock

    with lab_lock():
        Lab().down(_lab_say)
    console.print(t("msg.lab_down"))


@lab_app.command("status", help=t("cmd.lab.status"), cls=clifr.FrenchCommand)
def lab_status(lang: LangOpt = None) -> None:
    apply_lang(lang)
    from grader.lab.hosts import Lab

    _lab_table(Lab())


def _lab_table(lab) -> None:
    hosts = lab.status()
    if not hosts:
        console.print(t("msg.lab_empty"))
        return
    table = Table()
    for col in (N_("cli.col.host"), N_("col.address"), N_("col.state")):
        table.add_column(t(col))
    for h in hosts:
        style = {"running": "green", "down": "dim", "dead": "red"}.get(h["state"], "")
        table.add_row(h["name"], h["ip"], f"[{style}]{t(LAB_STATES[h['state']]) if h['state'] in LAB_STATES else h['state']}[/]")
    console.print(table)


# --- checks, rubrics, referential, reports ---------------------------------------------------


@checks_app.command("list", help=t("cmd.checks.list"), cls=clifr.FrenchCommand)
def checks_list(
    platform: Annotated[str | None, typer.Option("--platform", help=t("opt.platform"), show_default=False)] = None,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    from grader import i18n_checks
    from grader.plugins import default_catalogue

    table = Table(show_lines=False)
    for col in (N_("col.id"), N_("col.transport"), N_("col.params"), N_("col.sentence")):
        table.add_column(t(col), overflow="fold")
    for cid, cls in default_catalogue().items():
        if platform and cls.platform != platform:
            continue
        params = ", ".join(
            f"{name}{'' if f.is_required() else '?'}" for name, f in cls.Params.model_fields.items())
        doc = i18n_checks.template(cls.sentence_template(), i18n.get_lang()) if cls.__doc__ else ""
        table.add_row(cid, cls.transport, params, doc)
    console.print(table)


@rubric_app.command("validate", help=t("cmd.rubric.validate"), cls=clifr.FrenchCommand)
def rubric_validate(
    file: Annotated[Path, typer.Argument(help=t("arg.rubric"), show_default=False)],
    roster: Annotated[Path | None, typer.Option("--roster", help=t("opt.roster"), show_default=False)] = None,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    from grader.roster import load_roster
    from grader.rubric import load_rubric

    rub = load_rubric(file)
    console.print(t("msg.rubric_ok", checks=len(rub.checks), hosts=len(rub.hosts)), style="green")
    if roster is not None:
        cands = load_roster(roster, rub)
        console.print(t("msg.roster_ok", n=len(cands)), style="green")


@rubric_app.command("schema", help=t("cmd.rubric.schema"), cls=clifr.FrenchCommand)
def rubric_schema(lang: LangOpt = None) -> None:
    apply_lang(lang)
    from grader.rubric import rubric_json_schema

    sys.stdout.write(json.dumps(rubric_json_schema(), ensure_ascii=False, indent=2) + "\n")


@app.command("report", help=t("cmd.report"), cls=clifr.FrenchCommand)
def report_cmd(
    session: SessionOpt = DEFAULT_SESSION,
    run: RunOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help=t("opt.out"), show_default=False)] = None,
    bundle: cli_reports.FromOpt = None,
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
    with session_run(session, run) as (store, run_id):
        if trainee:  # the trainee's pages only (hints forward, no jury-only part), beside the jury's reports
            from reports.html import TRAINEE_DIR, write_reports

            written = write_reports(store, run_id, out or sess.reports_dir(session, run_id) / TRAINEE_DIR,
                                    i18n.get_lang(), audience="trainee")
        else:
            written = sess.write_reports(store, run_id, out or sess.reports_dir(session, run_id), i18n.get_lang())
    for path in written:
        console.print(t("msg.reports", path=path))


@app.command("referential", help=t("cmd.referential"), cls=clifr.FrenchCommand)
def referential_cmd(lang: LangOpt = None) -> None:
    apply_lang(lang)
    from grader.referential import load_referential

    ref = load_referential()
    for block in ref.blocks:
        console.print(f"[bold]{block.code} — {escape(block.title)}[/]")
        for comp in block.competences:
            console.print(f"  [bold]{comp.code}[/] {escape(comp.title)}")
            for crit in comp.criteria:
                console.print(f"    {crit.id}  {escape(crit.text)}")


cli_reports.register(app)  # export, verify, rejudge, junit, moodle
cli_history.register(app)  # history, diff
cli_jury.register(app)  # jury note/override/list, serve


# --- entry point ----------------------------------------------------------------------------


def main() -> None:
    """Run the app; known errors become one clear message and exit code 2, never a traceback."""
    try:
        code = app(standalone_mode=False)
    except RubricError as exc:
        err.print(t("msg.problems", n=len(exc.problems)), style="red")
        for problem in exc.problems:
            err.print(escape(problem), soft_wrap=True)
        sys.exit(2)
    except (GraderError, OSError) as exc:
        err.print(f"grader : {escape(str(exc))}", style="red", soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code and message
        from typer._click import exceptions as click_exc  # typer vendors click

        if isinstance(exc, click_exc.ClickException):
            err.print(escape(clifr.error_message(exc)), soft_wrap=True)
            sys.exit(exc.exit_code)
        if type(exc).__name__ == "Abort":
            sys.exit(130)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
