"""French for the words typer prints around our own (Usage, Options, errors...).

typer vendors click with its strings in English and no gettext hook, so the help page and
the usage errors a proctor meets are translated on their way out: the command classes
below translate the finished help text, and :func:`error_message` a usage error.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup

from grader import i18n

# (English, French) fragments, longest first where one contains another.
FRAGMENTS: tuple[tuple[str, str], ...] = (
    ("Show this message and exit.", "Afficher cette aide et quitter."),
    ("Usage:", "Utilisation :"),
    ("Options:", "Options :"),
    ("Commands:", "Commandes :"),
    ("Arguments:", "Arguments :"),
    ("[required]", "[obligatoire]"),
    ("[default: ", "[par défaut : "),
    ("Missing parameter: ", "Paramètre manquant : "),
    ("Missing argument", "Argument manquant"),
    ("Missing option", "Option manquante"),
    ("Missing command.", "Commande manquante."),
    ("No such command", "Commande inconnue :"),
    ("No such option:", "Option inconnue :"),
    ("No such option", "Option inconnue :"),
    ("Invalid value for", "Valeur invalide pour"),
    ("is not a valid integer", "n'est pas un entier valide"),
    ("is not in the range", "n'est pas dans l'intervalle"),
    ("does not exist.", "n'existe pas."),
    ("Did you mean", "Vouliez-vous dire"),
    ("Got unexpected extra argument", "Argument en trop"),
    ("Try ", "Essayez "),
    (" for help.", " pour l'aide."),
    ("Error: ", "Erreur : "),
)


def translate(text: str) -> str:
    if i18n.get_lang() != "fr":
        return text
    for english, french in FRAGMENTS:
        text = text.replace(english, french)
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
