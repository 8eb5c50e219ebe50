"""``grader rubric validate|schema`` and ``grader referential``: what a rubric is written against.

A rubric author checks a rubric (and optionally its roster) before exam day, gets the JSON
schema for an editor, and reads the certification referential (blocks, competences, modalities,
criteria, compétences transversales; ``--session ccp1``: a certificate session's own modalities)
that a rubric's checks are mapped to. Nothing here contacts a host.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from grader.cli.common import FrenchCommand, LangOpt, apply_lang, console, group
from grader.i18n import N_, t


def rubric_validate(
    file: Annotated[Path, typer.Argument(help=t("arg.rubric"), show_default=False)],
    roster: Annotated[Path | None, typer.Option("--roster", help=t("opt.roster"), show_default=False)] = None,
    separator: Annotated[str | None, typer.Option("--separator", help=t("opt.separator"), show_default=False)] = None,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    from grader.roster import load_roster, separator_of
    from grader.rubric import SAMPLES, load_rubric

    separator_of(separator)  # a bad --separator is said before anything is read
    # With a roster, a templated value is tried with every candidate's values, not with samples.
    rub = load_rubric(file, with_roster=roster is not None)
    if roster is not None:
        cands = load_roster(roster, rub, separator=separator)
    console.print(t("msg.rubric_ok", checks=len(rub.checks), hosts=len(rub.hosts)), style="green")
    for warning in rub.warnings:
        console.print(warning, style="yellow", markup=False, soft_wrap=True)
    if roster is not None:
        console.print(t("msg.roster_ok", n=len(cands)), style="green")
    elif rub.templated():
        console.print(t("msg.rubric_samples", samples=", ".join(SAMPLES)), style="dim", markup=False, soft_wrap=True)


def rubric_schema(lang: LangOpt = None) -> None:
    apply_lang(lang)
    from grader.schema import rubric_json_schema

    sys.stdout.write(json.dumps(rubric_json_schema(), ensure_ascii=False, indent=2) + "\n")


def referential_cmd(
    session: Annotated[str | None, typer.Option("--session", help=t("opt.rc_session"), show_default=False)] = None,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    from grader.errors import UsageError
    from grader.referential import load_referential

    ref = load_referential()
    if session is not None:
        try:
            blocks = [ref.session_block(session.strip().lower())]
        except KeyError as exc:
            raise UsageError(exc.args[0]) from None
        key: str | None = blocks[0].session_key
        console.print(t("ref.cli_session", code=blocks[0].code), style="italic")
    else:
        blocks, key = list(ref.blocks), None
        console.print(t("ref.cli_title_modalities"), style="italic")

    said_modalities, said_transversals = t("ref.cli_modalities"), t("ref.cli_transversals")

    def labels(keys: tuple[str, ...]) -> str:
        return ", ".join(ref.modality(k).label for k in keys)

    shown: set[str] = set()
    for block in blocks:
        console.print(f"[bold]{block.code} — {escape(block.title)}[/]")
        for comp in block.competences:
            shown.add(comp.code)
            console.print(f"  [bold]{comp.code}[/] {escape(comp.title)}")
            mods = ref.modalities_of(comp.code, key)
            line = f"{said_modalities} {escape(labels(mods))}"
            if mods != comp.modalities:
                line += " " + t("ref.cli_differs", modalities=escape(labels(comp.modalities)))
            console.print(f"    {line}", style="dim")
            transversals = ref.transversals_of(comp.code)
            if transversals:
                console.print(f"    {said_transversals} {', '.join(tr.code for tr in transversals)}", style="dim")
            for crit in comp.criteria:
                console.print(f"    {crit.id}  {escape(crit.text)}")
            if not comp.criteria:
                console.print(f"    {comp.code}  " + t("ref.cli_competence_level", code=comp.code))
    carried = [tr for tr in ref.transversals if shown.intersection(tr.competences)]
    if carried:
        console.print(t("ref.cli_transversals_title"), style="bold")
        through = t("ref.cli_through")
        for tr in carried:
            console.print(f"  [bold]{tr.code}[/] {escape(tr.title)}")
            console.print(f"    {through} {', '.join(tr.competences)}", style="dim")


def register(app: typer.Typer) -> None:
    """Add the ``rubric`` group (``validate``, ``schema``) and ``referential`` to ``app``."""
    rubric_app = group(N_("cmd.rubric"))
    rubric_app.command("validate", help=t("cmd.rubric.validate"), cls=FrenchCommand)(rubric_validate)
    rubric_app.command("schema", help=t("cmd.rubric.schema"), cls=FrenchCommand)(rubric_schema)
    app.add_typer(rubric_app, name="rubric")
    app.command("referential", help=t("cmd.referential"), cls=FrenchCommand)(referential_cmd)
