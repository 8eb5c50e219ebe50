"""What every group of commands shares: the options, the language switch, opening a run, and French help pages.

The command modules (``run``, ``lab``, ``checks``, ``rubric``, ``reports``, ``history``,
``jury``) take these from here so that ``--session``, ``--run`` and ``--lang`` mean the same
everywhere, a missing session or run is the same clear message whatever the command, and
every help page and usage error speaks the proctor's language.

typer vendors click with its strings in English and no gettext hook, so the words typer prints
around our own (Usage, Options, errors...) are translated on their way out: the command classes
below translate the finished help text, and :func:`error_message` a usage error. The French
fragments are entries (``click.*``) of grader's catalogue, like every other message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from grader import i18n
from grader.errors import UsageError
from grader.i18n import N_, t
from grader.terminal import SafeConsole, visible

if TYPE_CHECKING:
    from grader.store import Store

DEFAULT_SESSIONS = Path("grader-sessions")  # where sessions live unless --session says otherwise
DEFAULT_SESSION = DEFAULT_SESSIONS / "demo"  # the session of `grader demo`
LAST = ".last"  # in DEFAULT_SESSIONS: the folder of the session `grader run` (or demo) last graded

console = SafeConsole(highlight=False)
err = SafeConsole(stderr=True, highlight=False)


def echo(message: object = "", *, err: bool = False) -> None:
    """``typer.echo`` for what grader prints plainly: stored texts (names, messages, file names in a
    bundle) come from candidates' machines and rosters, so their control characters are shown, not sent."""
    typer.echo(visible(str(message)), err=err)

LangOpt = Annotated[str | None, typer.Option("--lang", help=t("opt.lang"), show_default=False)]
# No default here: :func:`resolve_session` finds the session of the last run, or of ``--rubric``.
SessionOpt = Annotated[Path | None, typer.Option("--session", help=t("opt.session_found"), show_default=False)]
RubricSessionOpt = Annotated[Path | None, typer.Option("--rubric", help=t("opt.session_rubric"),
                                                       show_default=False)]
RunOpt = Annotated[str | None, typer.Option("--run", help=t("opt.run"), show_default=False)]
# A run read from an evidence bundle instead of the session (``grader report`` and the exports).
FromOpt = Annotated[Path | None, typer.Option("--from", help=t("rep.opt.from"), show_default=False)]


def apply_lang(lang: str | None) -> None:
    """``--lang`` given after a subcommand wins over the language detected at start-up."""
    if lang:
        i18n.set_lang(lang)


def status_name(status: str | None) -> str:
    """A status as people read it ("non conforme"), or the raw value when it is not one."""
    if not status:
        return "—"
    return i18n.status_text(status)


def has_store(folder: Path) -> bool:
    from grader.store import Store

    return (folder / Store.FILENAME).is_file()


def session_folders(*roots: Path) -> list[Path]:
    """The session folders (holding a store) directly under ``roots``, newest store first."""
    from grader.store import Store

    found: dict[Path, float] = {}
    for root in roots:
        try:
            children = list(root.iterdir())
        except OSError:
            continue
        for child in children:
            if has_store(child):
                found.setdefault(child, (child / Store.FILENAME).stat().st_mtime)
    return sorted(found, key=lambda f: (-found[f], str(f)))


def _not_found(message: str, *roots: Path) -> UsageError:
    """A session that is not there: the message names the ones that are, so the proctor picks one."""
    existing = session_folders(*roots)
    if existing:
        return UsageError(message + " " + t("msg.sessions_found", names=", ".join(str(f) for f in existing)))
    return UsageError(message + " " + t("msg.no_session_found", path=DEFAULT_SESSIONS))


def remember_session(session: Path) -> None:
    """Note ``session`` as the last one graded (``grader-sessions/.last``): the default of report, export..."""
    pointer = DEFAULT_SESSIONS / LAST
    try:
        pointer.parent.mkdir(parents=True, exist_ok=True)
        pointer.write_text(str(session.resolve()) + "\n", encoding="utf-8")
    except OSError:  # a read-only working directory: the commands then take --session
        pass


def resolve_session(session: Path | None, rubric: Path | None = None) -> Path:
    """The session a command reads: ``--session``; else the one named after ``--rubric`` (as ``grader run``
    names it); else the last one graded (``grader-sessions/.last``), else the newest under grader-sessions.

    Nothing found is a usage error naming the session folders that do exist.
    """
    if session is not None:
        return session
    if rubric is not None:
        return DEFAULT_SESSIONS / rubric.stem
    pointer = DEFAULT_SESSIONS / LAST
    try:
        last = Path(pointer.read_text(encoding="utf-8").strip())
    except (OSError, UnicodeDecodeError):
        last = None
    if last is not None and has_store(last):
        return last
    existing = session_folders(DEFAULT_SESSIONS)
    if existing:
        return existing[0]
    raise _not_found(t("msg.no_session", path=DEFAULT_SESSIONS))


def open_store(session: Path) -> Store:
    """The session's store; a session without one is a usage error, not an empty store created by mistake."""
    from grader.store import Store

    if not has_store(session):
        raise _not_found(t("msg.no_run", path=session), session.parent, DEFAULT_SESSIONS)
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


# --- French help pages and usage errors -------------------------------------------------------

# click's English fragments (what typer prints around our own words) and the catalogue key of their
# translation, longest first where one contains another; the texts are in grader/locale.
FRAGMENTS: tuple[tuple[str, str], ...] = (
    ("Show this message and exit.", N_("click.help_option")),
    ("Install completion for the current shell.", N_("click.install_completion")),
    ("Show completion for the current shell, to copy it or customize the installation.",
     N_("click.show_completion")),
    ("Usage:", N_("click.usage")),
    ("Options:", N_("click.options")),
    ("Commands:", N_("click.commands")),
    ("Arguments:", N_("click.arguments")),
    ("[required]", N_("click.required")),
    ("[default: ", N_("click.default")),
    ("Missing parameter: ", N_("click.missing_parameter")),
    ("Missing argument", N_("click.missing_argument")),
    ("Missing option", N_("click.missing_option")),
    ("Missing command.", N_("click.missing_command")),
    ("No such command", N_("click.no_such_command")),
    ("No such option:", N_("click.no_such_option_colon")),
    ("No such option", N_("click.no_such_option")),
    ("Invalid value for", N_("click.invalid_value")),
    ("is not a valid integer", N_("click.not_integer")),
    ("is not in the range", N_("click.not_in_range")),
    ("does not exist.", N_("click.does_not_exist")),
    ("Did you mean", N_("click.did_you_mean")),
    ("Got unexpected extra argument", N_("click.extra_argument")),
    ("Try ", N_("click.try")),
    (" for help.", N_("click.for_help")),
    ("Error: ", N_("click.error")),
)


def translate(text: str) -> str:
    lang = i18n.get_lang()
    if lang != "fr":
        return text  # click already speaks English
    for english, key in FRAGMENTS:
        text = text.replace(english, i18n.message(lang, key))
    return text


class FrenchCommand(TyperCommand):
    def get_help(self, ctx: Any) -> str:
        return translate(super().get_help(ctx))


class FrenchGroup(TyperGroup):
    def get_help(self, ctx: Any) -> str:
        return translate(super().get_help(ctx))


def error_message(exc: Any) -> str:
    """A usage error as the proctor reads it: the usage line, the hint, the message, in their language."""
    lines = []
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        lines.append(ctx.get_usage())
        lines.append(f"Try '{ctx.command_path} {ctx.help_option_names[0]}' for help.")
    lines.append(f"Error: {exc.format_message()}")
    return translate("\n".join(lines))


def group(help_key: str, **extra: Any) -> typer.Typer:
    """A group of commands (the application itself, ``lab``, ``jury``...) whose help pages speak French."""
    return typer.Typer(help=t(help_key), no_args_is_help=True, rich_markup_mode=None, cls=FrenchGroup,
                       context_settings={"help_option_names": ["-h", "--help"]}, **extra)

