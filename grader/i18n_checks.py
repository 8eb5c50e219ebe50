"""What the checks say to the jury (sentences, verdict messages) in the report's language.

A check's sentence (the first docstring line) and the messages its judge builds with
:class:`grader.model.Msg` are written in French in the code: the French text *is* the msgid,
the gettext convention for a source language. The English texts are in the ``checks`` domain
of grader's catalogue (``grader/locale/en/LC_MESSAGES/checks.po`` + the committed ``.mo``);
there is no French ``checks`` catalogue, since French is the source.

The store keeps what the judge said in French (the CSV, ``rejudge`` and the bundles compare
that text), plus, for a message, observed or expected text built with :class:`Msg`, its
template and values (``results.message_ref``, one JSON key per text). A report in another
language re-renders them from here and falls back to the stored French text whenever
re-rendering could say something else than what was stored: the check is no longer installed, has no translation, or its French template with the
stored values no longer gives the stored text (the check changed since the run). A missing
translation therefore never hides evidence; it only leaves that text in French.

``scripts/i18n-checks`` refreshes the catalogue; tests/test_i18n_checks.py fails when a
registered check's sentence, or a ``Msg`` of :data:`MSG_PACKS` (the built-in packs and the engine's
own verdicts), has no English text, or when the catalogue holds a text used nowhere.
"""

from __future__ import annotations

import gettext
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from grader.check import fill_sentence
from grader.i18n import LOCALE_DIR, normalize_lang
from grader.model import Msg

DOMAIN = "checks"


@lru_cache(maxsize=4)
def catalogue(lang: str) -> gettext.NullTranslations:
    """The ``checks`` domain in ``lang``; French (the source) and a missing ``.mo`` give no translation."""
    lang = normalize_lang(lang)
    if lang == "fr":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[lang], fallback=True)


def translated(template: str, lang: str) -> str | None:
    """The ``lang`` text of a French template, or None when the catalogue has none."""
    if normalize_lang(lang) == "fr":
        return template
    translations = catalogue(lang)
    found = translations.gettext(template)
    if found != template:
        return found
    # A template with no words (« {a} : {b} », "{key}\\{value} = {data}") may be written the same in
    # English: it is translated when the catalogue holds it, not when gettext fell back to the msgid.
    return template if template in getattr(translations, "_catalog", {}) else None


def sentence(check_type: str, params: Any, stored: str, lang: str,
             checks: Mapping[str, Any] | None = None) -> str:
    """The sentence of a stored result in ``lang``; the stored (French) one when it cannot be re-rendered."""
    if normalize_lang(lang) == "fr" or not isinstance(params, Mapping):
        return stored
    if checks is None:
        from grader.plugins import default_catalogue

        checks = default_catalogue()
    cls = checks.get(str(check_type))
    if cls is None:
        return stored
    template = cls.sentence_template()
    other = translated(template, lang)
    try:
        if other is None or cls.sentence(params) != stored:
            return stored
        values = {k: v.render(lambda t: translated(t, lang), normalize_lang(lang)) if isinstance(v, Msg) else v
                  for k, v in cls.sentence_values(params).items()}
        return fill_sentence(other, values)
    except (LookupError, ValueError, IndexError, AttributeError, KeyError, TypeError):
        return stored


def message(ref: Any, stored: str, lang: str, part: str = "message") -> str:
    """A stored verdict text in ``lang`` from its reference (``results.message_ref``), else as stored.

    ``part`` is which text: ``message``, ``observed`` or ``expected`` (one JSON key each).
    """
    if normalize_lang(lang) == "fr" or not ref or not isinstance(ref, str):
        return stored
    try:
        return stored_text(json.loads(ref)[part], stored, lang)
    except (LookupError, ValueError, TypeError, AttributeError):  # no reference for that part: as stored
        return stored


def stored_text(ref: Any, stored: str, lang: str) -> str:
    """A stored text in ``lang`` from its stored reference (a :class:`Msg`'s JSON), else as stored.

    The rule of every stored text: rendered in ``lang`` only when the reference re-renders to
    exactly the stored French (the stored text is the evidence: never say something else).
    """
    if normalize_lang(lang) == "fr" or not ref:
        return stored
    try:
        msg = Msg.from_json(ref)
        if msg.render() != stored:
            return stored
        return msg.render(lambda template: translated(template, lang), normalize_lang(lang))
    except (LookupError, ValueError, TypeError, AttributeError):  # no translation (of a part): as stored
        return stored


def say(ref: Any, stored: str, lang: str) -> str:
    """A message built in this process (a :class:`grader.model.Msg` or None) in ``lang``, else as given."""
    if ref is None or normalize_lang(lang) == "fr":
        return stored
    try:
        return str(ref.render(lambda template: translated(template, lang), normalize_lang(lang)))
    except (LookupError, ValueError, TypeError, AttributeError):
        return stored


def template(template_fr: str, lang: str) -> str:
    """A sentence template as people read it in ``lang`` (``grader checks list``), French when untranslated."""
    return translated(template_fr, lang) or template_fr


# --- keeping the catalogue in step with the code (scripts/i18n-checks, tests/test_i18n_checks.py) ---

#: Where messages are built with :class:`grader.model.Msg`: the built-in packs, the engine's own
#: verdicts and the channels' reasons for not grading a host (a third party's pack may store plain
#: French text, which reports show as stored).
MSG_PACKS = ("checks/_common", "checks/linux", "checks/network", "checks/windows", "checks/hypervisor", "checks/helpdesk",
             "grader/check.py",
             "grader/runner.py", "grader/probes", "grader/transports", "grader/credentials.py",
             "grader/windows_record.py")


def sentence_msgids(checks: Mapping[str, Any] | None = None) -> dict[str, str]:
    """French sentence template -> id of the first registered check that uses it."""
    if checks is None:
        from grader.plugins import default_catalogue

        checks = default_catalogue()
    found: dict[str, str] = {}
    for check_id, cls in sorted(checks.items()):
        found.setdefault(cls.sentence_template(), check_id)
    return found


def message_msgids(root: Any, packs: tuple[str, ...] = MSG_PACKS) -> dict[str, str]:
    """French templates of the ``Msg("...")`` calls under ``packs`` -> file:line (babel's extractor; dev only)."""
    from pathlib import Path

    from babel.messages.extract import extract_from_dir, extract_from_file

    found: dict[str, str] = {}
    for pack in packs:
        where = Path(root) / pack
        if where.is_file():
            extracted = ((where.name, lineno, msgid) for lineno, msgid, _, _ in extract_from_file(
                "python", str(where), keywords={"Msg": None}, comment_tags=(), strip_comment_tags=True))
            base = str(Path(pack).parent)
        else:
            extracted = ((name, lineno, msgid) for name, lineno, msgid, _, _ in extract_from_dir(
                str(where), method_map=[("**.py", "python")], keywords={"Msg": None}, comment_tags=(),
                strip_comment_tags=True))
            base = pack
        for filename, lineno, msgid in extracted:
            if isinstance(msgid, str):
                found.setdefault(msgid, f"{base}/{filename}:{lineno}")
    return found
