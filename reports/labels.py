"""What the jury reads in the reports, looked up in grader's one gettext catalogue.

The messages themselves are in ``grader/locale/<lang>/LC_MESSAGES/grader.po`` (see
:mod:`grader.i18n`): this module only gives the reports their vocabulary — ``text(lang, key,
**values)`` in Python, ``_("key")`` in templates (jinja2's i18n extension, installed by
:mod:`reports.html`) — and spells out, with ``N_``, the keys chosen at run time (host and run
states, status explanations) so that message extraction sees them. Values may contain
``str.format`` fields (``{n}``, ``{host}``...). The official RC texts (criteria, competence titles,
modality labels) are *not* translated: they come verbatim from the referential, whatever the
language of the report.
"""

from __future__ import annotations

from typing import Any

from grader.i18n import N_, STATUS_KEYS, has_message, message, normalize_lang, translations

__all__ = ["DEPENDENCY_KEYS", "HOST_STATE_KEYS", "INCONCLUSIVE", "N_", "RUN_STATE_KEYS", "STATUSES", "STATUS_HELP_KEYS",
           "UNREACHED_KEYS", "Labels", "host_state_label", "labels", "normalize_lang", "run_state_label", "status_help",
           "status_label", "text", "translations"]

STATUSES = tuple(STATUS_KEYS)
INCONCLUSIVE = ("erreur", "injoignable", "non_evalue")

STATUS_HELP_KEYS: dict[str, str] = {
    "conforme": N_("status.conforme.help"),
    "non_conforme": N_("status.non_conforme.help"),
    "erreur": N_("status.erreur.help"),
    "injoignable": N_("status.injoignable.help"),
    "non_evalue": N_("status.non_evalue.help"),
    "jury": N_("status.jury.help"),
}
# How reaching a machine went (aggregate.ABSENT is "absent"; "partial": reached, collection incomplete).
HOST_STATE_KEYS: dict[str, str] = {
    "conforme": N_("host.conforme"),
    "injoignable": N_("host.injoignable"),
    "erreur": N_("host.erreur"),
    "absent": N_("host.absent"),
    "partial": N_("host.partial"),
}
RUN_STATE_KEYS: dict[str, str] = {
    "en_cours": N_("run.en_cours"),
    "termine": N_("run.termine"),
    "interrompu": N_("run.interrompu"),
}
# A machine not reached, said on the candidate's page (dep.*) and on the session's (unreach.*).
DEPENDENCY_KEYS: dict[str, str] = {"injoignable": N_("dep.injoignable"), "erreur": N_("dep.erreur")}
UNREACHED_KEYS: dict[str, str] = {"injoignable": N_("unreach.injoignable"), "erreur": N_("unreach.erreur")}


class Labels:
    """The catalogue in one language: ``L("key", n=3)`` or ``L["key"]``; ``"key" in L``."""

    def __init__(self, lang: str | None) -> None:
        self.lang = normalize_lang(lang)

    def __call__(self, key: str, **values: Any) -> str:
        return message(self.lang, key, **values)

    def __getitem__(self, key: str) -> str:
        return message(self.lang, key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and has_message(key, self.lang)


def labels(lang: str | None = "fr") -> Labels:
    return Labels(lang)


def text(lang: str | None, key: str, **values: Any) -> str:
    """One label, its ``{fields}`` filled; a missing key is a bug and raises :class:`KeyError`."""
    return message(normalize_lang(lang), key, **values)


def status_label(lang: str | None, status: str) -> str:
    key = STATUS_KEYS.get(status)
    return text(lang, key) if key else status


def status_help(lang: str | None, status: str) -> str:
    return text(lang, STATUS_HELP_KEYS[status])


def host_state_label(lang: str | None, state: str) -> str:
    key = HOST_STATE_KEYS.get(state)
    return text(lang, key) if key else state


def run_state_label(lang: str | None, state: str) -> str:
    key = RUN_STATE_KEYS.get(state)
    return text(lang, key) if key else state
