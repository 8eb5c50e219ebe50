"""``grader lab up|down|status``: the local lab of throwaway candidate hosts (systemd-nspawn).

The lab is what ``grader demo`` and the lab tests grade; these commands start it, tear it
down and show its hosts. Starting and stopping need root, and take the lab's lock so that
two of them never build or tear down the same lab at once. ``grader.lab`` is imported only
when a command runs, so that ``grader --help`` stays quick.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from grader.cli.common import FrenchCommand, LangOpt, apply_lang, console, group
from grader.errors import LabError
from grader.i18n import N_, t

LAB_STATES = {"running": N_("lab.running"), "down": N_("lab.down"), "dead": N_("lab.dead")}


def need_root() -> None:
    if os.geteuid() != 0:
        raise LabError(t("msg.lab_need_root"))


def lab_say(message: str) -> None:
    console.print(f"[dim]· {escape(message)}[/]")


def lab_up(pack: Annotated[str | None, typer.Option("--pack", help=t("lab.opt.pack"), show_default=False)] = None,
           candidates: Annotated[int, typer.Option("--candidates", help=t("pack.opt.candidates"))] = 1,
           lang: LangOpt = None) -> None:
    """The demo room; with ``--pack``, that exam pack's start state for ``--candidates`` candidates."""
    apply_lang(lang)
    need_root()
    from grader.lab import base, demo
    from grader.lab.hosts import Lab
    from grader.lab.lock import lab_lock

    if pack is None:
        specs = demo.demo_specs()
    else:
        from grader.lab.packs import candidate_ids, load_module
        from grader.packs import load_pack

        specs = load_module(load_pack(pack).lab).specs(candidate_ids(candidates), "start")
    base.ensure_host_tools(lab_say)
    base.ensure_base(progress=lab_say)
    lab = Lab()
    lab.ensure_key()
    with lab_lock():
        hosts = lab.up(specs, progress=lab_say)
    console.print(t("msg.lab_up", n=len(hosts)))
    _lab_table(lab)


def lab_down(lang: LangOpt = None) -> None:
    apply_lang(lang)
    need_root()
    from grader.lab.hosts import Lab
    from grader.lab.lock import lab_lock

    with lab_lock():
        Lab().down(lab_say)
    console.print(t("msg.lab_down"))


def lab_status(lang: LangOpt = None) -> None:
    apply_lang(lang)
    from grader.lab.hosts import Lab

    _lab_table(Lab())


def _lab_table(lab) -> None:
    hosts = lab.status()
    if not hosts:
        console.print(t("msg.lab_empty"))
        return
    table = Table()
    for col in (N_("cli.col.host"), N_("col.address"), N_("col.state")):
        table.add_column(t(col))
    for h in hosts:
        style = {"running": "green", "down": "dim", "dead": "red"}.get(h["state"], "")
        state = t(LAB_STATES[h["state"]]) if h["state"] in LAB_STATES else h["state"]
        table.add_row(h["name"], h["ip"], f"[{style}]{state}[/]")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``lab`` group (``up``, ``down``, ``status``) to ``app``."""
    lab_app = group(N_("cmd.lab"))
    lab_app.command("up", help=t("cmd.lab.up"), cls=FrenchCommand)(lab_up)
    lab_app.command("down", help=t("cmd.lab.down"), cls=FrenchCommand)(lab_down)
    lab_app.command("status", help=t("cmd.lab.status"), cls=FrenchCommand)(lab_status)
    app.add_typer(lab_app, name="lab")
