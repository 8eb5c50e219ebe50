"""``grader checks list``: the checks the installed plugins offer, one row each.

What a rubric author reads before writing ``check:`` lines: each check's id, its channel
(transport), its parameters (``?`` when optional) and the sentence a report says for it,
in the chosen language. The plugin catalogue is loaded only when the command runs.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from grader import i18n
from grader.cli.common import FrenchCommand, LangOpt, apply_lang, console, group
from grader.i18n import N_, t


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


def register(app: typer.Typer) -> None:
    """Add the ``checks`` group (``list``) to ``app``."""
    checks_app = group(N_("cmd.checks"))
    checks_app.command("list", help=t("cmd.checks.list"), cls=FrenchCommand)(checks_list)
    app.add_typer(checks_app, name="checks")
