"""The jury's commands: observations and decisions beside the automated results, and the local web view.

:func:`register` adds them to the ``grader`` application (``grader/cli/__init__.py`` calls it)::

    grader jury note     --candidate 02 [--check ID [--host H] | --criterion CP9.1] --text "…" --author "Nom"
    grader jury override --candidate 02 --check ID [--host H] --status conforme --text "justification" --author "Nom"
    grader jury list     [--candidate 02]
    grader serve         [--session DIR] [--jury "Nom" ... | --jury-file FILE] [--host 127.0.0.1] [--port 8765]
                         [--tls-cert CERT.pem --tls-key KEY.pem]

Every ``jury`` command takes ``--session DIR`` and ``--run RUN`` (default: the latest run). An
override never touches the automated result: the store keeps both, and the reports show the
jury's status beside the automated one, with who decided, when and why, and the automated
status the decision replaced. When a resume has changed that status since, the decision is
shown « à revoir » with both statuses (``jury list``, the reports, the web view). The written
reports show annotations once rewritten (``grader report``); the web view shows them at once.

``grader serve`` always prints an address carrying this serve's secret (``?token=…``, or
``GRADER_WEB_TOKEN``), loopback included. Annotations are signed with one of the names given by
``--jury`` (repeatable) or ``--jury-file`` (UTF-8, one name a line, ``#`` comments), chosen
from a list in the forms; without any, the view is read-only. An address other than loopback
is refused (exit 2) unless ``--tls-cert`` and ``--tls-key`` are given: the view is then HTTPS.

Exit codes: 0 done; 2 bad input (unknown run, candidate, check or criterion, empty
justification...: raised as :class:`grader.errors.GraderError`, turned into one French line by
``grader.cli.main``). Messages (``jury.*`` keys) come from the gettext
catalogue of :mod:`grader.i18n`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from grader import i18n
from grader.cli.common import (
    DEFAULT_SESSIONS,
    FrenchCommand,
    LangOpt,
    RubricSessionOpt,
    RunOpt,
    SessionOpt,
    apply_lang,
    console,
    echo,
    group,
    resolve_session,
    session_run,
    status_name,
)
from grader.errors import UsageError
from grader.i18n import N_, t

# How an annotation is named in `grader jury list`.
ANNOTATION_KINDS = {"observation": N_("jury.kind.observation"), "override": N_("jury.kind.override")}

AUTHOR_ENV = "GRADER_JURY"

CandidateOpt = Annotated[str, typer.Option("--candidate", help=t("jury.opt.candidate"), show_default=False)]
CheckOpt = Annotated[str | None, typer.Option("--check", help=t("jury.opt.check"), show_default=False)]
HostOpt = Annotated[str | None, typer.Option("--host", help=t("jury.opt.host"), show_default=False)]
AuthorOpt = Annotated[str, typer.Option("--author", envvar=AUTHOR_ENV, help=t("jury.opt.author"), show_default=False,
                                        show_envvar=False)]


def _target(row: dict[str, Any]) -> str:
    if row.get("check_id"):
        return t("jury.target.check", check=row["check_id"], host=row.get("host") or "")
    if row.get("criterion"):
        return t("jury.target.criterion", criterion=row["criterion"])
    return t("jury.target.candidate")


def read_jury_file(path: Path) -> list[str]:
    """The names of a ``--jury-file``: UTF-8 (a BOM is allowed), one a line; blank lines and ``#`` lines skipped."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(t("jury.msg.jury_file", path=path, reason=getattr(exc, "strerror", None) or exc)) from exc
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def note_cmd(
    candidate: CandidateOpt,
    text: Annotated[str, typer.Option("--text", help=t("jury.opt.text"), show_default=False)],
    author: AuthorOpt,
    check: CheckOpt = None,
    host: HostOpt = None,
    criterion: Annotated[str | None, typer.Option("--criterion", help=t("jury.opt.criterion"),
                                                  show_default=False)] = None,
    session: SessionOpt = None,
    rubric: RubricSessionOpt = None,
    run: RunOpt = None,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    session = resolve_session(session, rubric)
    with session_run(session, run) as (store, run_id):
        row = store.add_annotation(run_id, candidate, kind="observation", text=text, author=author, check_id=check,
                                   host=host, criterion=criterion)
    echo(t("jury.msg.note", id=row["id"], cand=candidate, target=_target(row), author=row["author"]))
    echo(t("jury.msg.regenerate", session=session, run=run_id))


def override_cmd(
    candidate: CandidateOpt,
    check: Annotated[str, typer.Option("--check", help=t("jury.opt.check"), show_default=False)],
    status: Annotated[str, typer.Option("--status", help=t("jury.opt.status"), show_default=False)],
    text: Annotated[str, typer.Option("--text", help=t("jury.opt.justification"), show_default=False)],
    author: AuthorOpt,
    host: HostOpt = None,
    session: SessionOpt = None,
    rubric: RubricSessionOpt = None,
    run: RunOpt = None,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    session = resolve_session(session, rubric)
    with session_run(session, run) as (store, run_id):
        row = store.add_annotation(run_id, candidate, kind="override", status=status, text=text, author=author,
                                   check_id=check, host=host)
    echo(t("jury.msg.override", id=row["id"], cand=candidate, target=_target(row),
                 status=status_name(row["status"]), automated=status_name(row["replaced"]), author=row["author"]))
    echo(t("jury.msg.regenerate", session=session, run=run_id))


def list_cmd(
    candidate: Annotated[str | None, typer.Option("--candidate", help=t("jury.opt.candidate_filter"),
                                                  show_default=False)] = None,
    session: SessionOpt = None,
    rubric: RubricSessionOpt = None,
    run: RunOpt = None,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    session = resolve_session(session, rubric)
    with session_run(session, run) as (store, run_id):
        rows = store.annotations(run_id, candidate)
        automated = {(r["candidate"], r["check_id"], r["host"]): str(r["status"]) for r in store.results(run_id)}
    if not rows:
        echo(t("jury.msg.none", run=run_id))
        return
    from reports.aggregate import needs_review, replaced_status
    from reports.html import fmt_datetime

    in_force = {(r["candidate"], r["check_id"], r["host"]): r["id"] for r in rows if r["kind"] == "override"}
    echo(t("jury.msg.title", run=run_id))
    for row in rows:
        kind = t(ANNOTATION_KINDS[row["kind"]])
        review = ""
        if row["kind"] == "override":
            target = (row["candidate"], row["check_id"], row["host"])
            auto = automated.get(target, "non_evalue")
            kind = t("jury.msg.line_decision", automated=status_name(auto), status=status_name(row["status"]))
            replaced = replaced_status(row)
            if in_force[target] == row["id"] and replaced and needs_review(replaced, auto):
                review = t("jury.msg.line_review", replaced=status_name(replaced), automated=status_name(auto))
        echo(t("jury.msg.line", id=row["id"], cand=row["candidate"], target=_target(row), kind=kind,
                     author=row["author"], when=fmt_datetime(row["created"], i18n.get_lang())))
        if review:
            echo(f"    {review}")
        for line in row["text"].splitlines() or [""]:
            echo(f"    {line}")


def serve_cmd(
    session: Annotated[Path, typer.Option("--session", help=t("jury.opt.sessions"))] = DEFAULT_SESSIONS,
    jury: Annotated[list[str] | None, typer.Option("--jury", help=t("jury.opt.jury"), show_default=False)] = None,
    jury_file: Annotated[Path | None, typer.Option("--jury-file", help=t("jury.opt.jury_file"),
                                                   show_default=False)] = None,
    host: Annotated[str, typer.Option("--host", help=t("jury.opt.host_bind"))] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help=t("jury.opt.port"))] = 8765,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help=t("jury.opt.tls_cert"),
                                                  show_default=False)] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help=t("jury.opt.tls_key"),
                                                 show_default=False)] = None,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    from grader import web

    names = [*(jury or []), *(read_jury_file(jury_file) if jury_file else [])]
    try:
        served = web.make_server(session, host=host, port=port, lang=i18n.get_lang(), jury=names,
                                 tls_cert=tls_cert, tls_key=tls_key)
    except OSError as exc:
        raise UsageError(t("jury.msg.port_busy", port=port, host=host, reason=exc.strerror or exc)) from exc
    sessions = sorted(web.find_sessions(session))
    console.print(t("jury.msg.sessions", path=session.resolve(), names=", ".join(sessions)) if sessions
                  else t("jury.msg.no_session", path=session.resolve()))
    console.print(t("jury.msg.jury", names=", ".join(served.config.jury)) if served.config.jury
                  else t("jury.msg.read_only"), markup=False)
    console.print(t("jury.msg.serving", url=served.url), style="bold", soft_wrap=True)
    console.print(t("jury.msg.token"), style="yellow")
    try:
        served.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        served.close()
    console.print(t("jury.msg.stopped"))


JURY_COMMANDS = (("note", note_cmd, N_("jury.cmd.note")), ("override", override_cmd, N_("jury.cmd.override")),
                 ("list", list_cmd, N_("jury.cmd.list")))


def register(app: typer.Typer) -> None:
    """Add the ``jury`` group (``note``, ``override``, ``list``) and ``serve`` to ``app``."""
    jury_app = group(N_("jury.cmd"))
    for name, function, help_key in JURY_COMMANDS:
        jury_app.command(name, help=t(help_key), cls=FrenchCommand)(function)
    app.add_typer(jury_app, name="jury")
    app.command("serve", help=t("jury.cmd.serve"), cls=FrenchCommand)(serve_cmd)
