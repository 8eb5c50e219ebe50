"""Commands around a finished run: the evidence bundle and the exports for other tools.

:func:`register` adds them to the ``grader`` application (``grader/cli.py`` calls it)::

    grader export RUN [--session DIR] [--out FICHIER.zip]     evidence bundle (ZIP + SHA-256 manifest)
    grader verify PAQUET.zip                                  every modified, missing or extra file named
    grader rejudge --from PAQUET.zip [--all]                  the installed judges on the stored evidence
    grader junit  [--session DIR] [--run RUN | --from PAQUET.zip] [--out FICHIER.xml]
    grader moodle [--session DIR] [--run RUN | --from PAQUET.zip] [--out FICHIER.csv] [--item NOM]

Exit codes: 0 done (bundle intact, statuses identical); 1 bundle altered (``verify``) or a
re-judged status differs (``rejudge``); 2 bad input (raised as :class:`grader.errors.GraderError`,
turned into one French line by ``grader.cli.main``). Messages come from :mod:`grader.i18n`; this
module adds its own keys (``rep.*``) to the catalogue when imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from grader import clifr, i18n
from grader.cli_common import DEFAULT_SESSION, LangOpt, RunOpt, SessionOpt, apply_lang, session_run, status_name
from grader.errors import UsageError
from grader.i18n import t

if TYPE_CHECKING:
    from grader.store import Store

EXTRA_CATALOGUE: dict[str, tuple[str, str]] = {
    "rep.cmd.export": (("Écrire le paquet de preuves d'une correction : un ZIP avec le barème, la liste des "
                        "candidats, toutes les preuves, les rapports et l'empreinte SHA-256 de chaque fichier."),
                       ("Write the evidence bundle of a run: a ZIP with the rubric, the roster, all the evidence, "
                        "the reports and the SHA-256 of every file.")),
    "rep.cmd.verify": (("Vérifier qu'un paquet de preuves est intact : chaque fichier modifié, manquant ou en "
                        "trop est nommé."),
                       "Check that an evidence bundle is intact: every modified, missing or extra file is named."),
    "rep.cmd.rejudge": (("Rejuger les preuves d'un paquet avec les vérifications installées, sans contacter aucune "
                         "machine, et comparer aux statuts de la correction."),
                        ("Judge a bundle's evidence again with the installed checks, without contacting any "
                         "machine, and compare with the run's statuses.")),
    "rep.cmd.junit": ("Exporter une correction en JUnit XML (une suite par candidat, un cas par vérification).",
                      "Export a run as JUnit XML (one suite per candidate, one case per check)."),
    "rep.cmd.moodle": (("Exporter les points des vérifications conformes au format d'import CSV du carnet de "
                        "notes Moodle."),
                       "Export the points of compliant checks in Moodle's gradebook CSV import format."),
    "rep.arg.run": ("Identifiant de la correction.",
                    "Run id."),
    "rep.arg.bundle": ("Paquet de preuves (ZIP).",
                       "Evidence bundle (ZIP)."),
    "rep.opt.bundle_out": ("Fichier ZIP à écrire (par défaut : <session>/preuves-<RUN>.zip).",
                           "ZIP file to write (default: <session>/preuves-<RUN>.zip)."),
    "rep.opt.from": ("Lire la correction dans un paquet de preuves (ZIP) plutôt que dans la session.",
                     "Read the run from an evidence bundle (ZIP) instead of the session."),
    "rep.opt.rejudge_from": ("Paquet de preuves (ZIP) à rejuger.",
                             "Evidence bundle (ZIP) to judge again."),
    "rep.opt.out": ("Fichier à écrire (par défaut : dans le dossier des rapports de la correction).",
                    "File to write (default: in the run's reports directory)."),
    "rep.opt.item": ("Nom de l'élément d'évaluation Moodle (en-tête de la colonne des points).",
                     "Name of the Moodle grade item (heading of the points column)."),
    "rep.opt.all": ("Afficher chaque résultat, pas seulement ceux qui diffèrent.",
                    "Show every result, not only those that differ."),
    "rep.msg.written": ("Paquet de preuves : {path} ({n} fichiers, empreintes SHA-256 dans manifest.json)",
                        "Evidence bundle: {path} ({n} files, SHA-256 in manifest.json)"),
    "rep.msg.intact": (("Paquet intact : {n} fichiers conformes à leur empreinte SHA-256 (correction {run}, "
                        "barème {rubric} version {version}, écrit par grader {grader})."),
                       ("Bundle intact: {n} files match their SHA-256 (run {run}, rubric {rubric} version "
                        "{version}, written by grader {grader}).")),
    "rep.msg.altered": ("Paquet altéré ou incomplet : {n} problème(s).",
                        "Bundle altered or incomplete: {n} problem(s)."),
    "rep.msg.line": ("{cand}/{host} {check} : {old} → {new}",
                     "{cand}/{host} {check}: {old} → {new}"),
    "rep.msg.kept": ("{cand}/{host} {check} : {status} (repris sans juge : {reason})",
                     "{cand}/{host} {check}: {status} (kept without a judge: {reason})"),
    "rep.msg.summary": (("{n} résultat(s) : {judged} rejugé(s), dont {diff} différent(s) ; {kept} repris tel(s) "
                         "quel(s) sans juge (machine non jointe, preuve non collectée)."),
                        ("{n} result(s): {judged} judged again, {diff} of them different; {kept} kept as stored "
                         "without a judge (machine not reached, evidence not collected).")),
    "rep.msg.same": ("Les juges installés redonnent exactement les statuts de la correction {run}.",
                     "The installed judges give exactly the statuses of run {run}."),
    "rep.msg.changed": ("{n} statut(s) diffèrent de la correction {run} : un juge a changé depuis.",
                        "{n} status(es) differ from run {run}: a judge has changed since."),
    "rep.msg.export": ("Export : {path}",
                       "Export: {path}"),
    "rep.msg.two_sources": ("--from et --run s'excluent : la correction vient soit du paquet, soit de la session.",
                            "--from and --run exclude each other: the run comes from the bundle or the session."),
}
i18n.CATALOGUE.update(EXTRA_CATALOGUE)

FromOpt = Annotated[Path | None, typer.Option("--from", help=t("rep.opt.from"), show_default=False)]
OutOpt = Annotated[Path | None, typer.Option("--out", help=t("rep.opt.out"), show_default=False)]


@contextmanager
def _source(session: Path, run: str | None, bundle: Path | None) -> Iterator[tuple[Store, str, Path | None]]:
    """(store, run id, default output directory) from a session or from a bundle."""
    if bundle is not None:
        if run is not None:
            raise UsageError(t("rep.msg.two_sources"))
        from grader import bundle as bundles

        with bundles.load(bundle) as store:
            yield store, store.run_id, None
        return
    from grader.session import reports_dir

    with session_run(session, run) as (store, run_id):
        yield store, run_id, reports_dir(session, run_id)


def export_cmd(
    run: Annotated[str, typer.Argument(help=t("rep.arg.run"), show_default=False)],
    session: SessionOpt = DEFAULT_SESSION,
    out: Annotated[Path | None, typer.Option("--out", help=t("rep.opt.bundle_out"), show_default=False)] = None,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    from grader import bundle

    with session_run(session, run) as (store, run_id):
        target = out or session / f"preuves-{run_id}.zip"
        path = bundle.export(store, run_id, target, lang=i18n.get_lang())
    typer.echo(t("rep.msg.written", path=path, n=len(_manifest(path)["files"])))


def _manifest(path: Path) -> dict[str, Any]:
    import zipfile

    from grader import bundle

    with zipfile.ZipFile(path) as zf:
        return bundle.read_manifest(zf)


def verify_cmd(
    bundle_path: Annotated[Path, typer.Argument(metavar="BUNDLE", help=t("rep.arg.bundle"), show_default=False)],
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    from grader import bundle

    problems = bundle.verify(bundle_path)
    if problems:
        typer.echo(t("rep.msg.altered", n=len(problems)), err=True)
        for problem in problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(1)
    manifest = _manifest(bundle_path)
    rubric = manifest.get("rubric", {})
    typer.echo(t("rep.msg.intact", n=len(manifest["files"]), run=manifest.get("run_id", "?"),
                 rubric=rubric.get("id", "?"), version=rubric.get("version", "?"),
                 grader=manifest.get("grader_version", "?")))


def rejudge_cmd(
    bundle_path: Annotated[Path, typer.Option("--from", metavar="BUNDLE", help=t("rep.opt.rejudge_from"),
                                              show_default=False)],
    show_all: Annotated[bool, typer.Option("--all", help=t("rep.opt.all"))] = False,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    from grader import bundle

    with bundle.load(bundle_path) as store:
        run_id = store.run_id
        rows = bundle.rejudge_store(store, run_id)
    judged = [r for r in rows if r.rejudged]
    changed = [r for r in rows if r.changed]
    for r in rows:
        if r.rejudged and (show_all or r.changed):
            typer.echo(t("rep.msg.line", cand=r.candidate, host=r.host, check=r.check_id, old=status_name(r.stored),
                         new=status_name(r.status)) + (f" — {r.message}" if r.changed and r.message else ""))
        elif not r.rejudged and show_all:
            typer.echo(t("rep.msg.kept", cand=r.candidate, host=r.host, check=r.check_id, status=status_name(r.status),
                         reason=r.reason))
    typer.echo(t("rep.msg.summary", n=len(rows), judged=len(judged), diff=len(changed), kept=len(rows) - len(judged)))
    if changed:
        typer.echo(t("rep.msg.changed", n=len(changed), run=run_id))
        raise typer.Exit(1)
    typer.echo(t("rep.msg.same", run=run_id))


def junit_cmd(session: SessionOpt = DEFAULT_SESSION, run: RunOpt = None, bundle_path: FromOpt = None,
              out: OutOpt = None, lang: LangOpt = None) -> None:
    apply_lang(lang)
    from reports import aggregate, exports

    with _source(session, run, bundle_path) as (store, run_id, default_dir):
        target = out or (default_dir or Path.cwd()) / exports.JUNIT_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        exports.write_junit(aggregate.load_frames(store, run_id), target, i18n.get_lang())
    typer.echo(t("rep.msg.export", path=target))


def moodle_cmd(session: SessionOpt = DEFAULT_SESSION, run: RunOpt = None, bundle_path: FromOpt = None,
               out: OutOpt = None,
               item: Annotated[str | None, typer.Option("--item", help=t("rep.opt.item"), show_default=False)] = None,
               lang: LangOpt = None) -> None:
    apply_lang(lang)
    from reports import aggregate, exports

    with _source(session, run, bundle_path) as (store, run_id, default_dir):
        target = out or (default_dir or Path.cwd()) / exports.MOODLE_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        frames = aggregate.load_frames(store, run_id)
        exports.write_moodle_csv(frames, target, i18n.get_lang(), item=item)
    typer.echo(t("rep.msg.export", path=target))


COMMANDS = (("export", export_cmd, "rep.cmd.export"), ("verify", verify_cmd, "rep.cmd.verify"),
            ("rejudge", rejudge_cmd, "rep.cmd.rejudge"), ("junit", junit_cmd, "rep.cmd.junit"),
            ("moodle", moodle_cmd, "rep.cmd.moodle"))


def register(app: typer.Typer) -> None:
    """Add ``export``, ``verify``, ``rejudge``, ``junit`` and ``moodle`` to ``app``."""
    for name, function, help_key in COMMANDS:
        app.command(name, help=t(help_key), cls=clifr.FrenchCommand)(function)
