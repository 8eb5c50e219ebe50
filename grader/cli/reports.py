"""Commands around a finished run: the evidence bundle and the exports for other tools.

:func:`register` adds them to the ``grader`` application (``grader/cli/__init__.py`` calls it)::

    grader export RUN [--session DIR] [--out FICHIER.zip]     evidence bundle (ZIP + SHA-256 manifest)
    grader verify PAQUET.zip                                  every modified, missing or extra file named
    grader rejudge --from PAQUET.zip [--all]                  the installed judges on the stored evidence
    grader junit  [--session DIR] [--run RUN | --from PAQUET.zip] [--out FICHIER.xml]
    grader moodle [--session DIR] [--run RUN | --from PAQUET.zip] [--out FICHIER.csv] [--item NOM]

Exit codes: 0 done (bundle intact, statuses identical); 1 bundle altered (``verify``) or a
re-judged status differs (``rejudge``); 2 bad input (raised as :class:`grader.errors.GraderError`,
turned into one French line by ``grader.cli.main``). Messages (``rep.*`` keys) come from
the gettext catalogue of :mod:`grader.i18n`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from grader import i18n
from grader.cli.common import (
    FrenchCommand,
    FromOpt,
    LangOpt,
    RubricSessionOpt,
    RunOpt,
    SessionOpt,
    apply_lang,
    echo,
    resolve_session,
    session_run,
    status_name,
)
from grader.errors import UsageError
from grader.i18n import N_, t

if TYPE_CHECKING:
    from grader.store import Store


OutOpt = Annotated[Path | None, typer.Option("--out", help=t("rep.opt.out"), show_default=False)]


@contextmanager
def _source(session: Path | None, run: str | None, bundle: Path | None,
            rubric: Path | None = None) -> Iterator[tuple[Store, str, Path | None]]:
    """(store, run id, default output directory) from a session or from a bundle."""
    if bundle is not None:
        if run is not None:
            raise UsageError(t("rep.msg.two_sources"))
        from grader import bundle as bundles

        with bundles.load(bundle) as store:
            yield store, store.run_id, None
        return
    from grader.session import reports_dir

    session = resolve_session(session, rubric)
    with session_run(session, run) as (store, run_id):
        yield store, run_id, reports_dir(session, run_id)


def export_cmd(
    run: Annotated[str, typer.Argument(help=t("rep.arg.run"), show_default=False)],
    session: SessionOpt = None,
    rubric: RubricSessionOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help=t("rep.opt.bundle_out"), show_default=False)] = None,
    sign: Annotated[Path | None, typer.Option("--sign", metavar="KEY", help=t("rep.opt.sign"),
                                              show_default=False)] = None,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    from grader import bundle

    session = resolve_session(session, rubric)
    with session_run(session, run) as (store, run_id):
        target = out or session / f"preuves-{run_id}.zip"
        path = bundle.export(store, run_id, target, lang=i18n.get_lang())
    echo(t("rep.msg.written", path=path, n=len(_manifest(path)["files"])))
    if sign is not None:
        echo(t("rep.msg.signed", path=bundle.sign(path, sign)))
    echo(t("rep.msg.digest", digest=bundle.digest(path)))


def _manifest(path: Path) -> dict[str, Any]:
    import zipfile

    from grader import bundle

    with zipfile.ZipFile(path) as zf:
        return bundle.read_manifest(zf)


def verify_cmd(
    bundle_path: Annotated[Path, typer.Argument(metavar="BUNDLE", help=t("rep.arg.bundle"), show_default=False)],
    expect: Annotated[str | None, typer.Option("--expect", metavar="SHA256", help=t("rep.opt.expect"),
                                               show_default=False)] = None,
    public: Annotated[Path | None, typer.Option("--public", metavar="KEY", help=t("rep.opt.public"),
                                                show_default=False)] = None,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    from grader import bundle

    problems = bundle.verify(bundle_path)
    if not problems and expect is not None and bundle.digest(bundle_path) != expect.strip().lower():
        problems.append(t("rep.msg.digest_mismatch", got=bundle.digest(bundle_path), expected=expect.strip().lower()))
    if not problems and public is not None and (why := bundle.check_signature(bundle_path, public)) is not None:
        problems.append(why)
    if problems:
        echo(t("rep.msg.altered", n=len(problems)), err=True)
        for problem in problems:
            echo(f"  - {problem}", err=True)
        raise typer.Exit(1)
    manifest = _manifest(bundle_path)
    rubric = manifest.get("rubric", {})
    echo(t("rep.msg.intact", n=len(manifest["files"]), run=manifest.get("run_id", "?"),
                 rubric=rubric.get("id", "?"), version=rubric.get("version", "?"),
                 grader=manifest.get("grader_version", "?")))
    if expect is not None:
        echo(t("rep.msg.digest_ok", digest=expect.strip().lower()))
    if public is not None:
        echo(t("rep.msg.signature_ok", public=public))


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
            echo(t("rep.msg.line", cand=r.candidate, host=r.host, check=r.check_id, old=status_name(r.stored),
                         new=status_name(r.status)) + (f" — {r.message}" if r.changed and r.message else ""))
        elif not r.rejudged and show_all:
            echo(t("rep.msg.kept", cand=r.candidate, host=r.host, check=r.check_id, status=status_name(r.status),
                         reason=r.reason))
    echo(t("rep.msg.summary", n=len(rows), judged=len(judged), diff=len(changed), kept=len(rows) - len(judged)))
    if changed:
        echo(t("rep.msg.changed", n=len(changed), run=run_id))
        raise typer.Exit(1)
    echo(t("rep.msg.same", run=run_id))


def junit_cmd(session: SessionOpt = None, rubric: RubricSessionOpt = None, run: RunOpt = None,
             bundle_path: FromOpt = None,
              out: OutOpt = None, lang: LangOpt = None) -> None:
    apply_lang(lang)
    from reports import aggregate, exports

    with _source(session, run, bundle_path, rubric) as (store, run_id, default_dir):
        target = out or (default_dir or Path.cwd()) / exports.JUNIT_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        exports.write_junit(aggregate.load_frames(store, run_id, lang=i18n.get_lang()), target, i18n.get_lang())
    echo(t("rep.msg.export", path=target))


def moodle_cmd(session: SessionOpt = None, rubric: RubricSessionOpt = None, run: RunOpt = None,
              bundle_path: FromOpt = None,
               out: OutOpt = None,
               item: Annotated[str | None, typer.Option("--item", help=t("rep.opt.item"), show_default=False)] = None,
               lang: LangOpt = None) -> None:
    apply_lang(lang)
    from reports import aggregate, exports

    with _source(session, run, bundle_path, rubric) as (store, run_id, default_dir):
        target = out or (default_dir or Path.cwd()) / exports.MOODLE_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        frames = aggregate.load_frames(store, run_id, lang=i18n.get_lang())
        exports.write_moodle_csv(frames, target, i18n.get_lang(), item=item)
    echo(t("rep.msg.export", path=target))


COMMANDS = (("export", export_cmd, N_("rep.cmd.export")), ("verify", verify_cmd, N_("rep.cmd.verify")),
            ("rejudge", rejudge_cmd, N_("rep.cmd.rejudge")), ("junit", junit_cmd, N_("rep.cmd.junit")),
            ("moodle", moodle_cmd, N_("rep.cmd.moodle")))


def register(app: typer.Typer) -> None:
    """Add ``export``, ``verify``, ``rejudge``, ``junit`` and ``moodle`` to ``app``."""
    for name, function, help_key in COMMANDS:
        app.command(name, help=t(help_key), cls=FrenchCommand)(function)
