"""The one catalogue of what people read (CLI, reports, web view): gettext, French by default.

Every message lives in ``grader/locale/<lang>/LC_MESSAGES/grader.po`` (domain ``grader``),
compiled to the ``.mo`` next to it (committed; tests/test_i18n.py checks that it matches the
``.po``). A msgid is a stable key (``msg.rubric_ok``), its msgstr the text with ``str.format``
fields (``{n}``): a key lets French and English be written independently, and a message used by
the command line and by the reports (a status name) is one entry, so it cannot drift apart.

Messages are found by ``pybabel extract -F babel.cfg`` (keywords ``t``, ``text:2``, ``_``,
``N_``; templates through jinja2's i18n extension). A key chosen at run time (``status.<code>``)
is spelled out once with :func:`N_` so that extraction sees it; tests compare extraction and
catalogue both ways. ``scripts/i18n`` extracts, merges into both ``.po`` and compiles.

What the checks say (their sentences and verdict messages) is written in French in the checks
and translated through the ``checks`` domain instead: see :mod:`grader.i18n_checks`.

The language is chosen once per process, before the command-line interface is built (its help
texts are messages): ``--lang en`` on the command line, else ``GRADER_LANG``, else
``LC_ALL``/``LANG`` starting with ``en``; anything else is French. Code, identifiers and
docstrings stay in English.
"""

from __future__ import annotations

import gettext
import os
import sys
from functools import lru_cache
from pathlib import Path

DOMAIN = "grader"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("fr", "en")


def N_(key: str) -> str:  # the gettext convention extraction looks for
    """Mark a key chosen at run time so that extraction sees it; returns it unchanged."""
    return key


# The five statuses, read alike on the command line and in the reports.
STATUS_KEYS: dict[str, str] = {
    "conforme": N_("status.conforme"),
    "non_conforme": N_("status.non_conforme"),
    "erreur": N_("status.erreur"),
    "injoignable": N_("status.injoignable"),
    "non_evalue": N_("status.non_evalue"),
}


def normalize_lang(lang: str | None) -> str:
    """``en``, ``en_GB.UTF-8``... give English; anything else gives French."""
    return "en" if (lang or "").lower().startswith("en") else "fr"


@lru_cache(maxsize=len(LANGUAGES))
def translations(lang: str | None) -> gettext.GNUTranslations:
    """The compiled catalogue of ``lang``; a missing ``.mo`` is an installation bug and raises."""
    return gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[normalize_lang(lang)])


def has_message(key: str, lang: str | None = "fr") -> bool:
    """Whether ``key`` is in the catalogue (a msgstr never equals its key: tests/test_i18n.py)."""
    return translations(lang).gettext(key) != key


def message(lang: str | None, key: str, **values: object) -> str:
    """The text of ``key`` in ``lang``, its ``{fields}`` filled; an unknown key is a bug: :class:`KeyError`."""
    found = translations(lang).gettext(key)
    if found == key:
        raise KeyError(key)
    return found.format(**values) if values else found


def _detect(argv: list[str], environ: dict[str, str]) -> str:
    for i, arg in enumerate(argv):
        if arg == "--lang" and i + 1 < len(argv):
            return normalize_lang(argv[i + 1])
        if arg.startswith("--lang="):
            return normalize_lang(arg.split("=", 1)[1])
    for var in ("GRADER_LANG", "LC_ALL", "LANG"):
        value = environ.get(var, "")
        if value:
            return normalize_lang(value)
    return "fr"


_lang = _detect(sys.argv, dict(os.environ))


def set_lang(lang: str) -> None:
    global _lang
    _lang = normalize_lang(lang)


def get_lang() -> str:
    return _lang


def t(key: str, **values: object) -> str:
    """A message in the process's language (the command line's)."""
    return message(_lang, key, **values)


def status_text(status: str, lang: str | None = None) -> str:
    """A status as people read it ("non conforme"), or the raw value when it is not a status."""
    key = STATUS_KEYS.get(status)
    return message(_lang if lang is None else lang, key) if key else status
