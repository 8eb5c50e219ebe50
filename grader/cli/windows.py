"""``grader windows record|replay``: real Windows answers, recorded on a trainer's server and replayed here.

``record HOST`` runs every Windows probe of a recording rubric (``rubrics/windows-record.yaml`` unless
``--rubric``) once, in one batch, read-only, over the real ``winrm`` channel, and writes a recording
bundle; ``replay BUNDLE`` reads its raw records with the real envelope parser, judges the recorded
checks and lists every answer the grammar refused. See :mod:`grader.windows_record`.

The account is given as a rubric names one: ``--credential NAME`` (a credential of the rubric), or
``--username`` with ``--password-env VAR`` or ``--password-file FILE``; the password is read when
the batch runs and never written. Exit codes: record 0 when the bundle is written (1 when the batch
did not run to its end); replay 0 when every record was accepted, 1 when one was refused; 2 for bad
input (options, rubric, a bundle that cannot be read).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from grader import i18n
from grader.cli.common import FrenchCommand, LangOpt, apply_lang, console, echo, group, status_name
from grader.errors import UsageError
from grader.i18n import N_, t

RubricOpt = Annotated[Path | None, typer.Option("--rubric", help=t("windows.opt.rubric"), show_default=False)]


def windows_record(
    host: Annotated[str, typer.Argument(help=t("windows.arg.host"), show_default=False)],
    credential: Annotated[str | None, typer.Option("--credential", help=t("windows.opt.credential"),
                                                   show_default=False)] = None,
    username: Annotated[str | None, typer.Option("--username", help=t("windows.opt.username"),
                                                 show_default=False)] = None,
    password_env: Annotated[str | None, typer.Option("--password-env", help=t("windows.opt.password_env"),
                                                     show_default=False)] = None,
    password_file: Annotated[str | None, typer.Option("--password-file", help=t("windows.opt.password_file"),
                                                      show_default=False)] = None,
    auth: Annotated[str, typer.Option("--auth", help=t("windows.opt.auth"))] = "ntlm",
    port: Annotated[int | None, typer.Option("--port", help=t("windows.opt.port"), show_default=False)] = None,
    https: Annotated[bool, typer.Option("--https", help=t("windows.opt.https"))] = False,
    verify_tls: Annotated[bool, typer.Option("--verify-tls/--no-verify-tls", help=t("windows.opt.verify_tls"))] = True,
    ca_file: Annotated[str | None, typer.Option("--ca-file", help=t("windows.opt.ca_file"), show_default=False)] = None,
    kdc: Annotated[str | None, typer.Option("--kdc", help=t("windows.opt.kdc"), show_default=False)] = None,
    spn_host: Annotated[str | None, typer.Option("--spn-host", help=t("windows.opt.spn_host"),
                                                 show_default=False)] = None,
    realm: Annotated[str | None, typer.Option("--realm", help=t("windows.opt.realm"), show_default=False)] = None,
    label: Annotated[str | None, typer.Option("--label", help=t("windows.opt.label"), show_default=False)] = None,
    rubric: RubricOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help=t("windows.opt.output"),
                                                show_default=False)] = None,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    from pydantic import ValidationError

    from grader import windows_record as wr
    from grader.credentials import resolve_password
    from grader.plugins import default_catalogue
    from grader.probes.winrm import WinrmOptions
    from grader.rubric import Credential, load_rubric
    from grader.transports.winrm import WinrmTarget

    catalogue = default_catalogue()
    loaded = load_rubric(rubric or wr.default_rubric(), catalogue)
    if (credential is None) == (username is None):
        raise UsageError(t("windows.need_account"))
    try:
        if username is not None:
            ref = Credential(username=username, password_env=password_env, password_file=password_file)
        else:
            if password_env or password_file:
                raise UsageError(t("windows.need_account"))
            if credential not in loaded.credentials:
                raise UsageError(t("windows.unknown_credential", name=credential,
                                   names=", ".join(loaded.credentials) or "—"))
            ref = loaded.credentials[str(credential)].rendered(wr.variables(loaded))
        given = {"scheme": "https" if https else "http", "port": port, "auth": auth, "verify_tls": verify_tls,
                 "ca_file": ca_file, "kdc": kdc, "spn_host": spn_host, "realm": realm}
        options = WinrmOptions.model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        raise UsageError(t("windows.bad_options", error=exc.errors()[0]["msg"])) from exc
    secret = resolve_password(ref)  # before the plan: a missing password is said before anything runs
    plan = wr.plan_recording(loaded, catalogue)
    for entry, why in plan.skipped:
        echo(t("windows.skipped", check=entry, why=why), err=True)
    for check_type in plan.missing_types:
        echo(t("windows.type_not_recorded", check=check_type), err=True)
    if not plan.checks:
        raise UsageError(t("windows.nothing_to_record", rubric=loaded.source))
    name = label or host
    target = WinrmTarget(host, options.port or (5986 if options.scheme == "https" else 5985), options.scheme,
                         options.auth, options.verify_tls, options.ca_file, 5.0, options.operation_timeout,
                         options.run_timeout, options.kdc, options.spn_host, options.realm)
    echo(t("windows.recording", n=len(plan.probes), checks=len(plan.checks), host=host))
    document = wr.record(target, secret, plan, label=name)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = output or Path(f"windows-{wr.safe_label(name)}-{stamp}.json")
    wr.write_bundle(document, path, secrets=[secret.password])
    facts = document["os"]
    echo(t("windows.recorded", path=path, n=sum(1 for p in document["probes"] if p["raw"] is not None),
           total=len(document["probes"]), os=" ".join(filter(None, (facts.get("caption"), facts.get("version"))))
           or "?", culture=facts.get("ui_culture") or "?"))
    for anomaly in document["anomalies"]:
        echo(t("windows.anomaly", text=anomaly), err=True)
    echo(t("windows.next", path=path))
    raise typer.Exit(0 if document["complete"] else 1)


def windows_replay(
    bundle: Annotated[Path, typer.Argument(help=t("windows.arg.bundle"), show_default=False)],
    rubric: RubricOpt = None,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    from grader import i18n_checks
    from grader import windows_record as wr
    from grader.model import Msg
    from grader.plugins import default_catalogue
    from grader.rubric import load_rubric

    catalogue = default_catalogue()
    document = wr.read_bundle(bundle)
    loaded = load_rubric(rubric, catalogue) if rubric is not None else None
    result = wr.replay(document, catalogue, loaded)
    language = i18n.get_lang()

    def said(text: object) -> str:
        return i18n_checks.say(text, str(text), language) if isinstance(text, Msg) else str(text)

    found = document.get("os")
    facts: dict[str, object] = found if isinstance(found, dict) else {}
    echo(t("windows.replay_head", label=str(document.get("label", "?")), recorded=str(document.get("recorded", "?")),
           os=" ".join(str(facts.get(k)) for k in ("caption", "version") if facts.get(k)) or "?",
           culture=str(facts.get("ui_culture") or "?"), grader=str(document.get("grader", "?"))))
    for report in document.get("modules") or []:
        if isinstance(report, dict) and isinstance(report.get("modules"), list):
            echo(t("windows.modules", seconds=report.get("seconds"), modules=", ".join(
                f"{m.get('name')} {m.get('status')} {m.get('seconds')} s" for m in report["modules"]
                if isinstance(m, dict))))
    if document.get("complete") is not True:
        echo(t("windows.incomplete"))
    table = Table(show_lines=False)
    for col in (N_("windows.col.check"), N_("windows.col.status"), N_("windows.col.observed")):
        table.add_column(t(col), overflow="fold")
    for row in result.rows:
        status = status_name(row.status.value) if row.status is not None else "—"
        shown = row.note or said(row.observed) or said(row.message)
        table.add_row(escape(f"{row.check} ({row.check_type})"), status, escape(shown))
    console.print(table)
    if result.refused:
        echo(t("windows.refused_head", n=len(result.refused)))
        for refusal in result.refused:
            where = (t("windows.refused_probe", index=refusal.probe, checks=refusal.check or "—")
                     if refusal.probe is not None else t("windows.refused_judge", check=refusal.check))
            echo(f"- {where} : " + " ; ".join(said(r) for r in refusal.reasons))
            echo(f"    {refusal.command[:200]}")
    else:
        echo(t("windows.all_accepted", n=result.accepted))
    raise typer.Exit(1 if result.refused else 0)


def register(app: typer.Typer) -> None:
    """Add the ``windows`` group (``record``, ``replay``) to ``app``."""
    windows_app = group(N_("cmd.windows"))
    windows_app.command("record", help=t("cmd.windows.record"), cls=FrenchCommand)(windows_record)
    windows_app.command("replay", help=t("cmd.windows.replay"), cls=FrenchCommand)(windows_replay)
    app.add_typer(windows_app, name="windows")
