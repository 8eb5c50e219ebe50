"""``grader hosts trust|list``: the room's pinned SSH host keys, set up before exam day.

Every session of a room checks the same pinned keys (:func:`grader.session.room_known_hosts`). When
the room is set up, the proctor seeds them, from a file (``ssh-keyscan`` output or a known_hosts
file) or by scanning every SSH host of the rubric for the roster: a key already pinned that differs
is refused and shown with both fingerprints, never replaced silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from grader.cli.common import DEFAULT_SESSIONS, FrenchCommand, LangOpt, apply_lang, echo, group
from grader.errors import HostKeyMismatch, UsageError
from grader.i18n import N_, t

KnownHostsOpt = Annotated[Path, typer.Option("--known-hosts", help=t("opt.known_hosts"))]
DEFAULT_ROOM = DEFAULT_SESSIONS / "known_hosts"


def hosts_trust(
    rubric: Annotated[Path | None, typer.Argument(help=t("arg.rubric"), show_default=False)] = None,
    roster: Annotated[Path | None, typer.Argument(help=t("arg.roster"), show_default=False)] = None,
    from_file: Annotated[Path | None, typer.Option("--from", help=t("hosts.opt.from"), show_default=False)] = None,
    known_hosts: KnownHostsOpt = DEFAULT_ROOM,
    separator: Annotated[str | None, typer.Option("--separator", help=t("opt.separator"), show_default=False)] = None,
    lang: LangOpt = None,
) -> None:
    apply_lang(lang)
    import paramiko

    from grader.transports.ssh import KnownHosts, fingerprint

    if from_file is None and (rubric is None or roster is None):
        raise UsageError(t("hosts.need_source"))
    pinned = KnownHosts(known_hosts)
    seen: list[tuple[str, int, paramiko.PKey]] = []
    if from_file is not None:
        seen += _from_file(from_file)
    if rubric is not None and roster is not None:
        seen += _scan(rubric, roster, separator)
    refused = 0
    for host, port, key in seen:
        try:
            note = pinned.check(host, port, key)
        except HostKeyMismatch as exc:
            refused += 1
            echo(t("hosts.refused", reason=str(exc)), err=True)
            continue
        echo(t("hosts.pinned", host=host, port=port, fingerprint=fingerprint(key)) + (f" — {note}" if note else ""))
    echo(t("hosts.done", n=len(seen) - refused, path=known_hosts))
    raise typer.Exit(1 if refused else 0)


def _from_file(path: Path) -> list[tuple[str, int, object]]:
    """(host, port, key) of every line of a known_hosts file or of ``ssh-keyscan`` output."""
    import paramiko

    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = paramiko.hostkeys.HostKeyEntry.from_line(line) if line.strip() and not line.startswith("#") else None
        if entry is None or entry.key is None:
            continue
        for name in entry.hostnames:
            host, port = (name[1:].split("]:", 1)[0], int(name.rsplit(":", 1)[1])) if name.startswith("[") else (name, 22)
            found.append((host, port, entry.key))
    return found


def _scan(rubric_path: Path, roster_path: Path, separator: str | None = None) -> list[tuple[str, int, object]]:
    """The key every SSH host of the rubric shows for the roster (a handshake only: no login)."""
    import paramiko

    from grader.plugins import default_catalogue
    from grader.roster import load_roster
    from grader.rubric import load_rubric
    from grader.runner import plan

    rubric = load_rubric(rubric_path, default_catalogue(), with_roster=True)
    jobs = plan(rubric, load_roster(roster_path, rubric, separator=separator), default_catalogue())
    found = []
    for job in jobs:
        if job.host.transport not in ("ssh", "cli") or job.planning_problem is not None:
            continue
        port = job.host.port or 22
        try:
            with paramiko.Transport((job.address, port)) as transport:
                transport.start_client(timeout=job.host.connect_timeout + 5)
                found.append((job.address, port, transport.get_remote_server_key()))
        except (paramiko.SSHException, OSError, EOFError) as exc:
            echo(t("hosts.unreachable", host=job.label, address=job.address, port=port, error=exc), err=True)
    return found


def hosts_list(known_hosts: KnownHostsOpt = DEFAULT_ROOM, lang: LangOpt = None) -> None:
    apply_lang(lang)
    from grader.transports.ssh import KnownHosts, fingerprint

    for name, kind, key in KnownHosts(known_hosts).entries():
        echo(f"{name} {kind} {fingerprint(key)}")


def register(app: typer.Typer) -> None:
    """Add the ``hosts`` group (``trust``, ``list``) to ``app``."""
    hosts_app = group(N_("cmd.hosts"))
    hosts_app.command("trust", help=t("cmd.hosts.trust"), cls=FrenchCommand)(hosts_trust)
    hosts_app.command("list", help=t("cmd.hosts.list"), cls=FrenchCommand)(hosts_list)
    app.add_typer(hosts_app, name="hosts")
