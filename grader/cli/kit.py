"""The exam-day kit: ``grader witness install|unit`` and ``grader roster from-ansible``.

Both prepare a room before the exam; neither grades. ``witness install`` puts the exam's
witness (:mod:`grader.witness`) on the exam's WAN and LAN servers over SSH, enables it and
tests it with one connection; ``witness unit`` prints its unit for an installation by hand.
``roster from-ansible`` turns the centre's Ansible inventory into a roster and the candidates'
host addresses (:mod:`grader.ansible_inventory`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from grader.cli.common import FrenchCommand, LangOpt, apply_lang, echo, group
from grader.cli.hosts import DEFAULT_ROOM, KnownHostsOpt
from grader.i18n import N_, t
from grader.witness.temoin import DEFAULT_PORT


@dataclass(frozen=True)
class _Login:
    """A credential reference (:class:`grader.credentials.CredentialRef`) made from the command line."""

    username: str
    key_file: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    agent: bool = False


def witness_install(
    hosts: Annotated[list[str], typer.Argument(help=t("witness.arg.host"), show_default=False)],
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help=t("witness.opt.port"))] = DEFAULT_PORT,
    ssh_port: Annotated[int, typer.Option("--ssh-port", min=1, max=65535, help=t("witness.opt.ssh_port"))] = 22,
    user: Annotated[str, typer.Option("--user", help=t("witness.opt.user"))] = "root",
    key: Annotated[Path | None, typer.Option("--key", help=t("witness.opt.key"), show_default=False)] = None,
    password_env: Annotated[str | None, typer.Option("--password-env", help=t("witness.opt.password_env"),
                                                     show_default=False)] = None,
    sudo: Annotated[bool, typer.Option("--sudo", help=t("witness.opt.sudo"))] = False,
    known_hosts: KnownHostsOpt = DEFAULT_ROOM,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    from grader.credentials import resolve_ssh
    from grader.errors import TransportError
    from grader.transports.ssh import KnownHosts
    from grader.witness import install_with, ssh_runner

    login = _Login(user, key_file=str(key) if key else None, password_env=password_env,
                   agent=key is None and password_env is None)
    secret = resolve_ssh(login)
    pinned = KnownHosts(known_hosts)
    failed = 0
    for host in hosts:
        echo(t("witness.installing", host=host, port=port))
        try:
            done = install_with(ssh_runner(host, ssh_port, secret, pinned), host, port=port, sudo=sudo)
        except TransportError as exc:
            failed += 1
            echo(t("witness.unreachable", host=host, error=str(exc)), err=True)
            continue
        for step in done.steps:
            echo(t("witness.step_ok", step=step.name) if step.code == 0
                 else t("witness.step_failed", step=step.name, code=step.code))
            for line in step.output:
                echo(f"      {line}")
        for line in done.output:
            echo(f"      {line}")
        answer = done.answer
        if done.failed_step is not None or done.status != 0 or answer is None:
            failed += 1
            echo(t("witness.failed", host=host, step=done.failed_step or "?", code=done.status), err=True)
            continue
        if answer.seen is not None:
            name, peer = answer.seen
            echo(t("witness.answered", host=host, token=answer.token, address=answer.address, port=answer.port,
                   line=answer.line, name=name, peer=peer))
        else:
            failed += 1
            echo(t("witness.no_answer", host=host, token=answer.token, address=answer.address, port=answer.port,
                   why=answer.line or answer.error or t("witness.nothing")), err=True)
    raise typer.Exit(1 if failed else 0)


def witness_unit(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help=t("witness.opt.port"))] = DEFAULT_PORT,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    from grader.witness import SCRIPT, unit_text

    echo(t("witness.script", path=SCRIPT), err=True)
    typer.echo(unit_text(port), nl=False)


def roster_from_ansible(
    inventory: Annotated[Path, typer.Argument(help=t("roster.arg.inventory"), show_default=False)],
    output: Annotated[Path | None, typer.Option("-o", "--output", help=t("roster.opt.output"),
                                                show_default=False)] = None,
    hosts_out: Annotated[Path | None, typer.Option("--hosts-out", help=t("roster.opt.hosts_out"),
                                                   show_default=False)] = None,
    group_by: Annotated[str, typer.Option("--group-by", help=t("roster.opt.group_by"))] = "candidat",
    role_var: Annotated[str, typer.Option("--role-var", help=t("roster.opt.role_var"))] = "grader_role",
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    from grader.ansible_inventory import read_inventory, to_roster

    imported = to_roster(read_inventory(inventory), group_by=group_by, role_var=role_var)
    for note in imported.notes:
        echo(t("roster.note", note=note), err=True)
    text = imported.csv_text()
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8-sig")  # with a BOM: Excel shows the accents right
        echo(t("roster.written", path=output, n=len(imported.rows), columns=", ".join(imported.columns)),
             err=True)
    if hosts_out is not None:
        import io

        from ruamel.yaml import YAML

        yaml = YAML()
        yaml.default_flow_style = False
        buffer = io.StringIO()
        yaml.dump(imported.hosts_document(str(inventory)), buffer)
        hosts_out.write_text(t("roster.hosts_header") + "\n" + buffer.getvalue(), encoding="utf-8")
        echo(t("roster.hosts_written", path=hosts_out), err=True)


def register(app: typer.Typer) -> None:
    """Add the ``witness`` group (``install``, ``unit``) and the ``roster`` group (``from-ansible``) to ``app``."""
    witness_app = group(N_("cmd.witness"))
    witness_app.command("install", help=t("cmd.witness.install"), cls=FrenchCommand)(witness_install)
    witness_app.command("unit", help=t("cmd.witness.unit"), cls=FrenchCommand)(witness_unit)
    app.add_typer(witness_app, name="witness")
    roster_app = group(N_("cmd.roster"))
    roster_app.command("from-ansible", help=t("cmd.roster.from_ansible"), cls=FrenchCommand)(roster_from_ansible)
    app.add_typer(roster_app, name="roster")

