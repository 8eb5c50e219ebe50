"""Cron schedules as cron reads them: two spellings of the same times compare equal.

``00 02 * * *`` and ``0 2 * * *`` are the same job times; ``@daily`` is ``0 0 * * *``; ``mon-fri``
is ``1-5``; ``*/15`` is ``0,15,30,45``; day of week 7 is Sunday like 0. A schedule becomes the set
of values of each field (:func:`normalise`), plus the rule cron applies to the two day fields: when
one of them starts with ``*`` (Vixie cron's ``DOM_STAR``/``DOW_STAR``, so ``*/2`` counts), a day
must match both; when both are restricted, either one suffices (crontab(5)).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The @keywords of crontab(5) as the five fields they stand for (``@reboot`` has none).
KEYWORDS = {"yearly": "0 0 1 1 *", "annually": "0 0 1 1 *", "monthly": "0 0 1 * *", "weekly": "0 0 * * 0",
            "daily": "0 0 * * *", "midnight": "0 0 * * *", "hourly": "0 * * * *"}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (lowest, highest, names) of minute, hour, day of month, month, day of week (7 is Sunday too).
_FIELDS = ((0, 59, None), (0, 23, None), (1, 31, None), (1, 12, {n: i + 1 for i, n in enumerate(_MONTHS)}),
           (0, 7, {n: i for i, n in enumerate(_DAYS)}))
_ITEM = re.compile(r"^(\*|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/([0-9]+))?$")


class ScheduleError(ValueError):
    """A schedule cron would refuse (or that this module cannot read, such as cronie's ``~``)."""


@dataclass(frozen=True)
class Schedule:
    """A schedule as the times it fires: minute, hour and month sets, and the days rule."""

    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    days: tuple[str, frozenset[int], frozenset[int]]  # ("and" | "or", days of month, days of week)
    reboot: bool = False


def _value(text: str, low: int, high: int, names: dict[str, int] | None) -> int:
    if text.isdigit():
        value = int(text)
    elif names and text.lower() in names:
        value = names[text.lower()]
    else:
        raise ScheduleError(f"valeur inconnue : {text}")
    if not low <= value <= high:
        raise ScheduleError(f"valeur hors limites ({low}-{high}) : {text}")
    return value


def _field(text: str, index: int) -> tuple[frozenset[int], bool]:
    """(values, starts with ``*``) of one field."""
    low, high, names = _FIELDS[index]
    values: set[int] = set()
    for item in text.split(","):
        m = _ITEM.match(item)
        if not m:
            raise ScheduleError(f"champ illisible : {text}")
        span, step = m.group(1), int(m.group(2)) if m.group(2) else 1
        if step < 1:
            raise ScheduleError(f"pas nul : {text}")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            a, b = span.split("-", 1)
            first, last = _value(a, low, high, names), _value(b, low, high, names)
            if first > last:
                raise ScheduleError(f"intervalle inversé : {text}")
        else:
            first = _value(span, low, high, names)
            last = high if m.group(2) else first  # cronie reads « 5/15 » as « 5-59/15 »
        values.update(range(first, last + 1, step))
    if index == 4 and 7 in values:  # Sunday is 0 and 7
        values = (values - {7}) | {0}
    return frozenset(values), text.startswith("*")


def normalise(schedule: str) -> Schedule:
    """The times a crontab schedule (five fields or an @keyword) stands for; :class:`ScheduleError` if unreadable."""
    text = schedule.strip()
    if text.startswith("@"):
        word = text[1:].lower()
        if word == "reboot":
            return Schedule(frozenset(), frozenset(), frozenset(), ("and", frozenset(), frozenset()), reboot=True)
        if word not in KEYWORDS:
            raise ScheduleError(f"mot-clé inconnu : {text}")
        text = KEYWORDS[word]
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleError("cinq champs attendus (minute heure jour mois jour-de-semaine) ou @daily, @hourly…")
    (minutes, _), (hours, _), (dom, dom_star), (months, _), (dow, dow_star) = (
        _field(f, i) for i, f in enumerate(fields))
    all_dom, all_dow = frozenset(range(1, 32)), frozenset(range(7))
    rule = "and" if dom_star or dow_star else "or"
    if rule == "or" and (dom == all_dom or dow == all_dow):  # either one matches every day: every day
        rule, dom, dow = "and", all_dom, all_dow
    return Schedule(minutes, hours, months, (rule, dom, dow))


def same_schedule(a: str, b: str) -> bool:
    """Whether two schedules fire at the same times (False when either is unreadable)."""
    try:
        return normalise(a) == normalise(b)
    except ScheduleError:
        return False


def valid_schedule(value: str) -> str:
    """Parameter validator: a schedule cron reads."""
    try:
        normalise(value)
    except ScheduleError as exc:
        raise ValueError(f"planification cron invalide : {exc}") from exc
    return " ".join(value.split())
