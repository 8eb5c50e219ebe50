"""``grader checks list|show``: the checks the installed plugins offer, and one check in full.

What a rubric author reads before writing ``check:`` lines. ``list``: each check's id, its channel
(transport), its parameters (``?`` when optional) and the sentence a report says for it, in the
chosen language. ``show ID``: each parameter's type, allowed values and default, the channel the
check needs on its host and that channel's options, the RC criteria it usually serves, and a YAML
example that validates. ``--json`` on both for tools. The plugin catalogue is loaded only when the
command runs; no connection library is imported.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from grader import i18n
from grader.cli.common import FrenchCommand, LangOpt, apply_lang, console, group
from grader.errors import UsageError
from grader.i18n import N_, t

JsonOpt = Annotated[bool, typer.Option("--json", help=t("opt.json"))]


def _platform_ok(platform: str | None) -> str | None:
    from grader.reference import PLATFORMS

    if platform is not None and platform not in (*PLATFORMS, "any"):
        raise UsageError(t("msg.unknown_platform", platform=platform, known=", ".join((*PLATFORMS, "any"))))
    return platform


def checks_list(
    platform: Annotated[str | None, typer.Option("--platform", help=t("opt.platform"), show_default=False)] = None,
    as_json: JsonOpt = False,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    _platform_ok(platform)
    from grader import i18n_checks
    from grader.plugins import default_catalogue
    from grader.reference import check_summary

    # A host of a platform takes that platform's checks and the ones any host may answer ("any").
    chosen = [cls for cls in default_catalogue().values()
              if platform is None or cls.platform == platform or cls.platform == "any"]
    if as_json:
        _print_json([check_summary(cls) for cls in chosen])
        return
    table = Table(show_lines=False)
    for col in (N_("col.id"), N_("col.transport"), N_("col.params"), N_("col.sentence")):
        table.add_column(t(col), overflow="fold")
    for cls in chosen:
        params = ", ".join(
            f"{name}{'' if f.is_required() else '?'}" for name, f in cls.Params.model_fields.items())
        doc = i18n_checks.template(cls.sentence_template(), i18n.get_lang()) if cls.__doc__ else ""
        table.add_row(cls.id, cls.transport, params, doc)
    console.print(table)


def checks_show(
    check_id: Annotated[str, typer.Argument(metavar="ID", help=t("arg.check_id"), show_default=False)],
    as_json: JsonOpt = False,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    from grader.plugins import default_catalogue, default_channel_specs
    from grader.reference import check_info

    catalogue = default_catalogue()
    cls = catalogue.get(check_id)
    if cls is None:
        close = difflib.get_close_matches(check_id, list(catalogue), n=3, cutoff=0.5)
        hint = t("hint.did_you_mean", names=", ".join(close)) if close else t("rubric.see_checks_list")
        raise UsageError(t("rubric.unknown_check", check=check_id, hint=hint))
    info = check_info(cls, default_channel_specs())
    if as_json:
        _print_json(info)
        return
    _print_check(info)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _fields_table(rows: list[Mapping[str, Any]], first: str) -> Table:
    from grader.reference import yaml_scalar

    table = Table(show_lines=False)
    for col in (first, N_("col.type"), N_("col.allowed"), N_("col.default")):
        table.add_column(t(col), overflow="fold")
    for row in rows:
        default = t("show.required") if row["required"] else yaml_scalar(row["default"])
        table.add_row(row["name"], row["type"], row["allowed"] or "—", default)
    return table


def _print_check(info: Mapping[str, Any]) -> None:
    out = console.print
    out(f"[bold]{escape(info['id'])}[/]")
    out(escape(t("show.sentence", sentence=info["sentence"])), soft_wrap=True)
    platform = t("show.platform", platform=info["platform"])
    out(escape(platform + (t("show.platform_any") if info["platform"] == "any" else "")))
    out()
    out(escape(t("show.params")), style="bold")
    if info["params"]:
        out(_fields_table(info["params"], N_("col.param")))
    else:
        out(escape(t("show.no_params")))
    out()
    channel = info["channel"]
    name = channel["name"]
    out(escape(t("show.channel", channel=name)), style="bold")
    if channel["grader_side"]:
        out(escape(t("show.channel_grader_side", channel=name)), soft_wrap=True)
    else:
        out(escape(t("show.channel_host", channel=name)), soft_wrap=True)
        if channel["needs_credential"]:
            out(escape(t("show.channel_credential", channel=name)), soft_wrap=True)
        if info.get("dialect"):
            out(escape(t("show.dialect", dialect=info["dialect"])), soft_wrap=True)
    if channel["options"]:
        out(escape(t("show.options", channel=name)))
        out(_fields_table(channel["options"], N_("col.option")))
    else:
        out(escape(t("show.no_options", channel=name)))
    out()
    out(escape(t("show.criteria")), style="bold")
    if not info["criteria"]:
        out(escape(t("show.no_criteria")))
    for crit in info["criteria"]:
        source = (t("show.source_declared") if crit["source"] == "declared"
                  else t("show.source_demo", entries=", ".join(crit["entries"])))
        out(escape(f"  {crit['id']} — {crit['text']} ({source})"), soft_wrap=True)
    out()
    out(escape(t("show.example")), style="bold")
    out(escape(info["example"].rstrip("\n")), soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the ``checks`` group (``list``, ``show``) to ``app``."""
    checks_app = group(N_("cmd.checks"))
    checks_app.command("list", help=t("cmd.checks.list"), cls=FrenchCommand)(checks_list)
    checks_app.command("show", help=t("cmd.checks.show"), cls=FrenchCommand)(checks_show)
    app.add_typer(checks_app, name="checks")
