"""``grader pack …`` and ``grader incident …``: exam packs, their self-test, and the jury's phase-2 incidents.

::

    grader pack list
    grader pack consignes NAME [-o consignes.md]       the candidate's instruction sheet (Markdown)
    grader pack solve NAME [--candidate 01]            plant the reference solution into the running lab
    grader pack selftest NAME [--candidates 1]         start state: 0 conforme; solution: 100 %; incidents proved
    grader incident list --pack NAME
    grader incident inject ID --pack NAME --candidate 01 --author "Nom" --yes [--session DIR]

``NAME`` is a shipped pack (``rubrics/packs/<name>``), the start of exactly one name (``ccp2``),
or a folder holding a ``pack.yaml``. ``grader lab up --pack NAME`` boots a pack's start state.
The lab commands need root and take the lab lock; the lab is imported only when they run.
Exit codes: 0 done (self-test green); 1 self-test failed; 2 bad input (unknown pack, incident or
candidate, missing ``--yes`` or ``--author``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from grader.cli.common import (
    DEFAULT_SESSIONS,
    FrenchCommand,
    LangOpt,
    apply_lang,
    console,
    echo,
    group,
    resolve_session,
)
from grader.cli.jury import AUTHOR_ENV
from grader.cli.lab import lab_say, need_root
from grader.errors import LabError, UsageError
from grader.i18n import N_, t

if TYPE_CHECKING:
    from grader.packs import Pack

PackArg = Annotated[str, typer.Argument(help=t("pack.arg.name"), show_default=False)]
PackOpt = Annotated[str, typer.Option("--pack", help=t("pack.arg.name"), show_default=False)]
STATUS_KEYS = {"conforme": N_("status.conforme"), "non_conforme": N_("status.non_conforme"),
               "erreur": N_("status.erreur"), "injoignable": N_("status.injoignable"),
               "non_evalue": N_("status.non_evalue")}


def _load(name: str) -> Pack:
    from grader.packs import load_pack

    return load_pack(name)


def pack_list(lang: LangOpt = None) -> None:
    apply_lang(lang)
    from grader.packs import available, load_pack

    table = Table()
    for col in (N_("pack.col.name"), N_("pack.col.certificate"), N_("pack.col.title"), N_("pack.col.checks"),
                N_("pack.col.incidents")):
        table.add_column(t(col))
    for folder in available():
        pack = load_pack(folder)
        table.add_row(pack.name, pack.spec.certificate, escape(pack.title), str(len(pack.rubric.checks)),
                      str(len(pack.incidents)))
    console.print(table)


def pack_consignes(name: PackArg,
                   output: Annotated[Path | None, typer.Option("--output", "-o", help=t("pack.opt.output"),
                                                               show_default=False)] = None,
                   lang: LangOpt = None) -> None:
    apply_lang(lang)
    from grader.packs import consignes

    text = consignes(_load(name))
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    echo(t("pack.consignes_written", path=output))


def pack_solve(name: PackArg,
               candidate: Annotated[list[str] | None, typer.Option("--candidate", help=t("pack.opt.candidate"),
                                                                   show_default=False)] = None,
               lang: LangOpt = None) -> None:
    apply_lang(lang)
    need_root()
    from grader.lab.hosts import Lab
    from grader.lab.lock import lab_lock
    from grader.lab.packs import running_candidates, solve

    pack = _load(name)
    with lab_lock():
        lab = Lab()
        running = running_candidates(lab)
        wanted = candidate or running
        unknown = [c for c in wanted if c not in running]
        if not running or unknown:
            raise LabError(t("pack.not_running", candidates=", ".join(unknown) or "—",
                             running=", ".join(running) or "—", pack=pack.name))
        solve(pack, lab, wanted, lab_say)
    echo(t("pack.solved", pack=pack.name, candidates=", ".join(wanted)))


def pack_selftest(name: PackArg,
                  candidates: Annotated[int, typer.Option("--candidates", help=t("pack.opt.candidates"))] = 1,
                  no_incidents: Annotated[bool, typer.Option("--no-incidents", help=t("pack.opt.no_incidents"))] = False,
                  session: Annotated[Path | None, typer.Option("--session", help=t("opt.session"),
                                                               show_default=False)] = None,
                  lang: LangOpt = None) -> None:
    apply_lang(lang)
    need_root()
    from grader.lab import base
    from grader.lab.hosts import Lab
    from grader.lab.lock import lab_lock
    from grader.lab.packs import selftest

    pack = _load(name)
    session = session or DEFAULT_SESSIONS / f"selftest-{pack.name}"
    base.ensure_host_tools(lab_say)
    base.ensure_base(progress=lab_say)
    lab = Lab()
    lab.ensure_key()
    with lab_lock():
        report = selftest(pack, candidates=candidates, session_dir=session, lab=lab, incidents=not no_incidents,
                          progress=lab_say)
    table = Table(title=t("pack.selftest_title", pack=pack.name))
    for col in (N_("pack.col.phase"), N_("pack.col.expected"), *STATUS_KEYS.values(), N_("pack.col.seconds"),
                N_("pack.col.verdict")):
        table.add_column(t(col))
    failed = t("pack.failed")
    for phase in report.phases:
        table.add_row(phase.name, t(STATUS_KEYS[phase.expected]), *(str(phase.counts.get(s, 0)) for s in STATUS_KEYS),
                      f"{phase.seconds:.1f}", "[green]ok[/]" if phase.ok else f"[red]{failed}[/]")
    console.print(table)
    for phase in report.phases:
        for line in phase.wrong:
            console.print(f"[red]{escape(phase.name)}[/] : {escape(line)}", soft_wrap=True)
    if report.error:
        console.print(f"[red]{escape(report.error)}[/]", soft_wrap=True)
    seconds = f"{report.seconds:.0f}"
    if report.ok:
        echo(t("pack.selftest_ok", pack=pack.name, seconds=seconds, session=session))
    else:
        echo(t("pack.selftest_failed", pack=pack.name, seconds=seconds, session=session))
    raise typer.Exit(0 if report.ok else 1)


def incident_list(pack_name: PackOpt, lang: LangOpt = None) -> None:
    apply_lang(lang)
    pack = _load(pack_name)
    table = Table()
    for col in (N_("pack.col.incident"), N_("pack.col.title"), N_("cli.col.host"), N_("pack.col.check")):
        table.add_column(t(col))
    for incident in pack.incidents:
        table.add_row(incident.id, escape(incident.title), incident.host, incident.check)
    console.print(table)


def incident_inject(incident_id: Annotated[str, typer.Argument(help=t("incident.arg.id"), show_default=False)],
                    pack_name: PackOpt,
                    candidate: Annotated[str, typer.Option("--candidate", help=t("jury.opt.candidate"),
                                                           show_default=False)],
                    author: Annotated[str | None, typer.Option("--author", envvar=AUTHOR_ENV, help=t("jury.opt.author"),
                                                               show_default=False, show_envvar=False)] = None,
                    yes: Annotated[bool, typer.Option("--yes", help=t("incident.opt.yes"))] = False,
                    session: Annotated[Path | None, typer.Option("--session", help=t("opt.session_found"),
                                                                 show_default=False)] = None,
                    lang: LangOpt = None) -> None:
    apply_lang(lang)
    from grader import incidents

    pack = _load(pack_name)
    incident = pack.incident(incident_id)
    if not yes:
        raise UsageError(t("incident.needs_yes"))
    if not (author or "").strip():
        raise UsageError(t("incident.needs_author"))
    need_root()
    from grader.lab.hosts import Lab
    from grader.lab.packs import lab_name, lab_runner, running_candidates

    lab = Lab()
    if candidate not in running_candidates(lab):
        raise UsageError(t("pack.not_running", candidates=candidate, running=", ".join(running_candidates(lab)) or "—",
                           pack=pack.name))
    lab.leader(lab_name(candidate, incident.host))  # the host is up: else a clear error, nothing recorded
    folder = resolve_session(session)
    with incidents.open_session_store(folder) as store:
        row = incidents.inject(pack, incident.id, candidate, author or "", store=store, runner=lab_runner(lab, candidate))
    if row["exit_code"] == 0:
        echo(t("incident.injected", incident=incident.id, candidate=candidate, host=incident.host,
               author=row["author"], created=row["created"], check=incident.check, session=folder))
        return
    echo(t("incident.failed", incident=incident.id, code=row["exit_code"], output=row["output"][-300:],
           session=folder), err=True)
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``pack`` and ``incident`` groups to ``app``."""
    pack_app = group(N_("cmd.pack"))
    pack_app.command("list", help=t("cmd.pack.list"), cls=FrenchCommand)(pack_list)
    pack_app.command("consignes", help=t("cmd.pack.consignes"), cls=FrenchCommand)(pack_consignes)
    pack_app.command("solve", help=t("cmd.pack.solve"), cls=FrenchCommand)(pack_solve)
    pack_app.command("selftest", help=t("cmd.pack.selftest"), cls=FrenchCommand)(pack_selftest)
    app.add_typer(pack_app, name="pack")
    incident_app = group(N_("cmd.incident"))
    incident_app.command("list", help=t("cmd.incident.list"), cls=FrenchCommand)(incident_list)
    incident_app.command("inject", help=t("cmd.incident.inject"), cls=FrenchCommand)(incident_inject)
    app.add_typer(incident_app, name="incident")
