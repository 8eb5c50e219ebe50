"""The jury's commands: observations and decisions beside the automated results, and the local web view.

:func:`register` adds them to the ``grader`` application (``grader/cli.py`` calls it)::

    grader jury note     --candidate 02 [--check ID [--host H] | --criterion CP9.1] --text "…" --author "Nom"
    grader jury override --candidate 02 --check ID [--host H] --status conforme --text "justification" --author "Nom"
    grader jury list     [--candidate 02]
    grader serve         [--session DIR] [--host 127.0.0.1] [--port 8765]

Every ``jury`` command takes ``--session DIR`` and ``--run RUN`` (default: the latest run). An
override never touches the automated result: the store keeps both, and the reports show the
jury's status beside the automated one, with who decided, when and why. The written reports
show annotations once rewritten (``grader report``); the web view shows them at once.

Exit codes: 0 done; 2 bad input (unknown run, candidate, check or criterion, empty
justification...: raised as :class:`grader.errors.GraderError`, turned into one French line by
``grader.cli.main``). Messages come from :mod:`grader.i18n`; this module adds its own keys
(``jury.*``) to the catalogue when imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from grader import clifr, i18n
from grader.cli_common import (
    DEFAULT_SESSION,
    DEFAULT_SESSIONS,
    LangOpt,
    RunOpt,
    SessionOpt,
    apply_lang,
    session_run,
    status_name,
)
from grader.errors import UsageError
from grader.i18n import t

EXTRA_CATALOGUE: dict[str, tuple[str, str]] = {
    "jury.cmd": ("Annotations du jury : observations et décisions motivées, à côté des résultats automatiques.",
                 "The jury's annotations: observations and justified decisions, beside the automated results."),
    "jury.cmd.note": (("Ajouter une observation du jury sur un candidat, un critère du RC ou une vérification "
                       "(sur un hôte)."),
                      "Add a jury observation on a candidate, an RC criterion or a check (on one host)."),
    "jury.cmd.override": (("Décision du jury : retenir un autre statut pour une vérification, avec sa justification. "
                           "Le statut automatique est conservé et reste affiché à côté."),
                          ("Jury decision: retain another status for a check, with its justification. The automated "
                           "status is kept and stays shown beside it.")),
    "jury.cmd.list": ("Lister les annotations du jury d'une correction.", "List the jury's annotations of a run."),
    "jury.cmd.serve": (("Vue web locale : sessions, corrections, relevés de preuves et formulaires d'annotation "
                        "(sans mot de passe sur 127.0.0.1 ; avec un jeton sur toute autre adresse)."),
                       ("Local web view: sessions, runs, evidence records and annotation forms (no password on "
                        "127.0.0.1; a token on any other address).")),
    "jury.opt.candidate": ("Identifiant du candidat (colonne « candidat » de la liste).",
                           "Candidate id (the roster's \u201ccandidat\u201d column)."),
    "jury.opt.candidate_filter": ("N'afficher que ce candidat.", "Show this candidate only."),
    "jury.opt.check": ("Identifiant de la vérification annotée (colonne « Vérification » du relevé).",
                       "Id of the annotated check (the record's \u201cCheck\u201d column)."),
    "jury.opt.host": ("Hôte de la vérification (inutile si elle ne porte que sur un hôte).",
                      "Host of the check (not needed when it runs on a single host)."),
    "jury.opt.criterion": ("Critère du RC annoté (par exemple CP9.1), à la place d'une vérification.",
                           "Annotated RC criterion (e.g. CP9.1), instead of a check."),
    "jury.opt.text": ("Texte de l'observation.", "Text of the observation."),
    "jury.opt.justification": ("Justification de la décision.", "Justification of the decision."),
    "jury.opt.author": ("Nom du membre du jury qui signe (ou variable GRADER_JURY).",
                        "Name of the jury member who signs (or the GRADER_JURY variable)."),
    "jury.opt.status": ("Statut retenu par le jury : conforme, non_conforme, erreur, injoignable, non_evalue.",
                        "Status the jury retains: conforme, non_conforme, erreur, injoignable, non_evalue."),
    "jury.opt.sessions": ("Dossier d'une session, ou dossier contenant des sessions.",
                          "A session directory, or a directory holding sessions."),
    "jury.opt.host_bind": (("Adresse d'écoute ; toute adresse autre que 127.0.0.1 (ou ::1) exige le jeton affiché "
                            "au démarrage (ou GRADER_WEB_TOKEN)."),
                           ("Address to listen on; any address but 127.0.0.1 (or ::1) requires the token printed at "
                            "start (or GRADER_WEB_TOKEN).")),
    "jury.opt.port": ("Port d'écoute.", "Port to listen on."),
    "jury.msg.note": ("Observation n° {id} enregistrée — candidat {cand}, {target} — par {author}.",
                      "Observation no. {id} saved — candidate {cand}, {target} — by {author}."),
    "jury.msg.override": (("Décision n° {id} enregistrée — candidat {cand}, {target} : {status} (statut automatique : "
                           "{automated}) — par {author}."),
                          ("Decision no. {id} saved — candidate {cand}, {target}: {status} (automated status: "
                           "{automated}) — by {author}.")),
    "jury.msg.regenerate": ("Pour l'inclure dans les rapports écrits : grader report --session {session} --run {run}",
                            "To include it in the written reports: grader report --session {session} --run {run}"),
    "jury.msg.none": ("Aucune annotation du jury dans la correction {run}.", "No jury annotation in run {run}."),
    "jury.msg.title": ("Annotations du jury — correction {run}", "Jury's annotations — run {run}"),
    "jury.target.check": ("{check} sur {host}", "{check} on {host}"),
    "jury.target.criterion": ("critère {criterion}", "criterion {criterion}"),
    "jury.target.candidate": ("général", "general"),
    "jury.kind.observation": ("observation", "observation"),
    "jury.kind.override": ("décision", "decision"),
    "jury.msg.line": ("n° {id} · candidat {cand} · {target} · {kind} · {author}, le {when}",
                      "no. {id} · candidate {cand} · {target} · {kind} · {author}, on {when}"),
    "jury.msg.line_decision": ("décision : {automated} → {status}", "decision: {automated} → {status}"),
    "jury.msg.serving": ("Vue web de grader : {url}  (Ctrl-C pour l'arrêter)", "grader web view: {url}  (Ctrl-C stops it)"),
    "jury.msg.token": (("Accès protégé par un jeton (adresse autre que 127.0.0.1) : ouvrez l'adresse ci-dessus, jeton "
                        "compris. Le trafic n'est pas chiffré (HTTP) : n'utilisez cette adresse que sur le réseau de "
                        "la salle d'examen."),
                       ("Access protected by a token (address other than 127.0.0.1): open the address above, token "
                        "included. Traffic is not encrypted (HTTP): use this address on the exam room's network "
                        "only.")),
    "jury.msg.sessions": ("Sessions lues dans {path} : {names}", "Sessions read from {path}: {names}"),
    "jury.msg.no_session": (("Aucune session dans {path} pour l'instant (la page d'accueil listera celles qui "
                             "apparaîtront)."),
                            "No session in {path} yet (the home page will list those that appear)."),
    "jury.msg.stopped": ("Vue web arrêtée.", "Web view stopped."),
    "jury.msg.port_busy": (("le port {port} de {host} est déjà utilisé ou interdit ({reason}) : choisissez-en un "
                            "autre avec --port"),
                           ("port {port} of {host} is already in use or not allowed ({reason}): choose another one "
                            "with --port")),
}
i18n.CATALOGUE.update(EXTRA_CATALOGUE)

AUTHOR_ENV = "GRADER_JURY"

console = Console(highlight=False)

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


def _automated(store: Any, run_id: str, row: dict[str, Any]) -> str:
    for r in store.results(run_id):
        if (r["candidate"], r["check_id"], r["host"]) == (row["candidate"], row["check_id"], row["host"]):
            return str(r["status"])
    return "non_evalue"  # graded for another candidate, never for this one (interrupted run)


def note_cmd(
    candidate: CandidateOpt,
    text: Annotated[str, typer.Option("--text", help=t("jury.opt.text"), show_default=False)],
    author: AuthorOpt,
    check: CheckOpt = None,
    host: HostOpt = None,
    criterion: Annotated[str | None, typer.Option("--criterion", help=t("jury.opt.criterion"),
                                                  show_default=False)] = None,
    session: SessionOpt = DEFAULT_SESSION,
    run: RunOpt = None,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    with session_run(session, run) as (store, run_id):
        row = store.add_annotation(run_id, candidate, kind="observation", text=text, author=author, check_id=check,
                                   host=host, criterion=criterion)
    typer.echo(t("jury.msg.note", id=row["id"], cand=candidate, target=_target(row), author=row["author"]))
    typer.echo(t("jury.msg.regenerate", session=session, run=run_id))


def override_cmd(
    candidate: CandidateOpt,
    check: Annotated[str, typer.Option("--check", help=t("jury.opt.check"), show_default=False)],
    status: Annotated[str, typer.Option("--status", help=t("jury.opt.status"), show_default=False)],
    text: Annotated[str, typer.Option("--text", help=t("jury.opt.justification"), show_default=False)],
    author: AuthorOpt,
    host: HostOpt = None,
    session: SessionOpt = DEFAULT_SESSION,
    run: RunOpt = None,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    with session_run(session, run) as (store, run_id):
        row = store.add_annotation(run_id, candidate, kind="override", status=status, text=text, author=author,
                                   check_id=check, host=host)
        automated = _automated(store, run_id, row)
    typer.echo(t("jury.msg.override", id=row["id"], cand=candidate, target=_target(row), status=status_name(row["status"]),
                 automated=status_name(automated), author=row["author"]))
    typer.echo(t("jury.msg.regenerate", session=session, run=run_id))


def list_cmd(
    candidate: Annotated[str | None, typer.Option("--candidate", help=t("jury.opt.candidate_filter"),
                                                  show_default=False)] = None,
    session: SessionOpt = DEFAULT_SESSION,
    run: RunOpt = None,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    with session_run(session, run) as (store, run_id):
        rows = store.annotations(run_id, candidate)
        automated = {(r["candidate"], r["check_id"], r["host"]): str(r["status"]) for r in store.results(run_id)}
    if not rows:
        typer.echo(t("jury.msg.none", run=run_id))
        return
    from reports.html import fmt_datetime

    typer.echo(t("jury.msg.title", run=run_id))
    for row in rows:
        kind = t(f"jury.kind.{row['kind']}")
        if row["kind"] == "override":
            auto = automated.get((row["candidate"], row["check_id"], row["host"]), "non_evalue")
            kind = t("jury.msg.line_decision", automated=status_name(auto), status=status_name(row["status"]))
        typer.echo(t("jury.msg.line", id=row["id"], cand=row["candidate"], target=_target(row), kind=kind,
                     author=row["author"], when=fmt_datetime(row["created"], i18n.get_lang())))
        for line in row["text"].splitlines() or [""]:
            typer.echo(f"    {line}")


def serve_cmd(
    session: Annotated[Path, typer.Option("--session", help=t("jury.opt.sessions"))] = DEFAULT_SESSIONS,
    host: Annotated[str, typer.Option("--host", help=t("jury.opt.host_bind"))] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help=t("jury.opt.port"))] = 8765,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    from grader import web

    try:
        served = web.make_server(session, host=host, port=port, lang=i18n.get_lang())
    except OSError as exc:
        raise UsageError(t("jury.msg.port_busy", port=port, host=host, reason=exc.strerror or exc)) from exc
    names = sorted(web.find_sessions(session))
    console.print(t("jury.msg.sessions", path=session.resolve(), names=", ".join(names)) if names
                  else t("jury.msg.no_session", path=session.resolve()))
    console.print(t("jury.msg.serving", url=served.url), style="bold", soft_wrap=True)
    if served.token:
        console.print(t("jury.msg.token"), style="yellow")
    try:
        served.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        served.close()
    console.print(t("jury.msg.stopped"))


def _group() -> typer.Typer:
    return typer.Typer(help=t("jury.cmd"), no_args_is_help=True, rich_markup_mode=None, cls=clifr.FrenchGroup,
                       context_settings={"help_option_names": ["-h", "--help"]})


JURY_COMMANDS = (("note", note_cmd, "jury.cmd.note"), ("override", override_cmd, "jury.cmd.override"),
                 ("list", list_cmd, "jury.cmd.list"))


def register(app: typer.Typer) -> None:
    """Add the ``jury`` group (``note``, ``override``, ``list``) and ``serve`` to ``app``."""
    jury_app = _group()
    for name, function, help_key in JURY_COMMANDS:
        jury_app.command(name, help=t(help_key), cls=clifr.FrenchCommand)(function)
    app.add_typer(jury_app, name="jury")
    app.command("serve", help=t("jury.cmd.serve"), cls=clifr.FrenchCommand)(serve_cmd)
