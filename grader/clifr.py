"""French for the words typer prints around our own (Usage, Options, errors...).

typer vendors click with its strings in English and no gettext hook, so the help page and
the usage errors a proctor meets are translated on their way out: the command classes
below translate the finished help text, and :func:`error_message` a usage error. The French
fragments are entries (``click.*``) of grader's catalogue, like every other message.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup

from grader import i18n
from grader.i18n import N_

# click's English fragments (what typer prints around our own words) and the catalogue key of their
# translation, longest first where one contains another; the texts are in grader/locale.
FRAGMENTS: tuple[tuple[str, str], ...] = (
    ("Show this message and exit.", N_("click.help_option")),
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
