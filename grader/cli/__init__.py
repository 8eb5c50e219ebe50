"""The ``grader`` command: what the proctor, the trainer and the demo run.

French by default, English with ``--lang en`` (or ``GRADER_LANG``/``LANG``): the language is
decided when this package is imported, because typer's help texts come from the catalogue.
Exit codes: 0 finished and every check conclusive (or demo matching its planted truth);
1 finished with checks not conclusive (erreur, injoignable), or demo mismatch; 2 bad input
(rubric, roster, options); 130 interrupted (results kept, resume command printed).

One module per group of commands, each with a ``register(app)``; the shared options, helpers
and French help pages are in :mod:`grader.cli.common`. They are registered in the order
``grader --help`` lists them (commands first, then groups, each in order of registration).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from grader import __version__
from grader.cli import checks, history, hosts, jury, kit, lab, pack, reports, rubric, run, windows
from grader.cli.common import LangOpt, apply_lang, echo, err, error_message, group
from grader.errors import GraderError, RubricError
from grader.i18n import N_, t
from grader.terminal import configure_logging

__all__ = ["app", "main"]

# typer's completion: ``grader --install-completion`` (bash, zsh, fish, PowerShell), ``--show-completion``.
app = group(N_("app.help"), add_completion=True)


def _version(value: bool) -> None:
    if value:
        echo(f"grader {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(lang: LangOpt = None,
         version: Annotated[bool, typer.Option("--version", help=t("opt.version"), callback=_version,
                                               is_eager=True)] = False) -> None:
    """Global options (``--lang`` is also accepted after the subcommand)."""
    apply_lang(lang)


run.register(app)  # run, preflight, demo, report
lab.register(app)  # lab up/down/status
pack.register(app)  # pack list/consignes/solve/selftest, incident list/inject
hosts.register(app)  # hosts trust/list
checks.register(app)  # checks list
rubric.register(app)  # rubric validate/schema, referential
reports.register(app)  # export, verify, rejudge, junit, moodle
history.register(app)  # history, diff
jury.register(app)  # jury note/override/list, serve
windows.register(app)  # windows record/replay
kit.register(app)  # witness install/unit, roster from-ansible


def main() -> None:
    """Run the app; known errors become one clear message and exit code 2, never a traceback."""
    configure_logging(verbose="-v" in sys.argv[1:] or "--verbose" in sys.argv[1:])
    try:
        code = app(standalone_mode=False)
    except RubricError as exc:
        err.print(t("msg.problems", n=len(exc.problems)), style="red")
        for problem in exc.problems:
            err.print(escape(problem), soft_wrap=True)
        sys.exit(2)
    except (GraderError, OSError) as exc:
        err.print(f"grader : {escape(str(exc))}", style="red", soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code and message
        from typer._click import exceptions as click_exc  # typer vendors click

        if isinstance(exc, click_exc.ClickException):
            err.print(escape(error_message(exc)), soft_wrap=True)
            sys.exit(exc.exit_code)
        if type(exc).__name__ == "Abort":
            sys.exit(130)
        raise
    sys.exit(code if isinstance(code, int) else 0)
