"""What every group of commands shares: the common options, the language switch, and opening a run.

The command modules (``cli``, ``cli_reports``, ``cli_jury``, ``cli_history``) take these
from here so that ``--session``, ``--run`` and ``--lang`` mean the same everywhere and a
missing session or run is the same clear message whatever the command.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from grader import i18n
from grader.errors import UsageError
from grader.i18n import t

if TYPE_CHECKING:
    from grader.store import Store

DEFAULT_SESSIONS = Path("grader-sessions")  # where sessions live unless --session says otherwise
DEFAULT_SESSION = DEFAULT_SESSIONS / "demo"  # the session of `grader demo`

LangOpt = Annotated[str | None, typer.Option("--lang", help=t("opt.lang"), show_default=False)]
SessionOpt = Annotated[Path, typer.Option("--session", help=t("opt.session"))]
RunOpt = Annotated[str | None, typer.Option("--run", help=t("opt.run"), show_default=False)]


def apply_lang(lang: str | None) -> None:
    """``--lang`` given after a subcommand wins over the language detected at start-up."""
    if lang:
        i18n.set_lang(lang)


def status_name(status: str | None) -> str:
    """A status as people read it ("non conforme"), or the raw value when it is not one."""
    if not status:
        return "—"
    return i18n.status_text(status)


def open_store(session: Path) -> Store:
    """The session's store; a session without one is a usage error, not an empty store created by mistake."""
    from grader.store import Store

    if not (session / Store.FILENAME).exists():
        raise UsageError(t("msg.no_run", path=session))
    return Store(session)


@contextmanager
def session_run(session: Path, run: str | None) -> Iterator[tuple[Store, str]]:
    """(store, run id): ``run``, or the latest run of the session; closed on the way out."""
    store = open_store(session)
    try:
        run = run or store.latest_run()
        if run is None:
            raise UsageError(t("msg.no_run", path=session))
        store.run(run)  # a clear error for an unknown id
        yield store, run
    finally:
        store.close()
