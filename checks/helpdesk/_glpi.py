"""What a ``glpi`` lookup brought back (:mod:`grader.probes.glpi`), read for the judges: pure functions, no I/O.

GLPI writes its dates without a zone, in its own time zone; the lookup pairs GLPI's clock with the
HTTP ``Date`` of the same answer, and :meth:`Lookup.utc` reads a GLPI date in UTC with that offset
(rounded to a quarter of an hour: the two readings are a few milliseconds apart). Texts (a
solution, a follow-up) are HTML, entity-encoded since GLPI 10: :func:`words` counts what a reader sees.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from checks._common.text import clip
from grader.model import Msg, ProbeResult, Verdict

#: Ticket status ids (``Ticket::INCOMING``...) and the names a rubric gives them.
STATUSES = {"nouveau": 1, "en_cours": 2, "planifie": 3, "en_attente": 4, "resolu": 5, "clos": 6}
STATUS_NAMES = {v: k for k, v in STATUSES.items()}
#: Ticket types (``Ticket::INCIDENT_TYPE``, ``Ticket::DEMAND_TYPE``).
TYPES = {"incident": 1, "demande": 2}
#: ``Ticket_User.type``: 1 requester, 2 assigned technician, 3 observer (``CommonITILActor``).
REQUESTER, ASSIGNED = 1, 2
#: ``ITILSolution.status`` (``CommonITILValidation``): 3 accepted, 4 refused by the requester.
ACCEPTED, REFUSED = 3, 4
QUARTER = timedelta(minutes=15)


class UnreadableLookup(ValueError):
    """The lookup's output cannot be read."""


@dataclass(frozen=True)
class Lookup:
    items: list[dict[str, Any]]
    names: dict[str, Any]
    total: int
    errors: list[str]
    offset: timedelta | None  # GLPI's local time minus UTC; None: GLPI's clock was not read

    @property
    def complete(self) -> bool:
        """Every match was read (none left beyond the lookup's cap)."""
        return self.total <= len(self.items)

    def utc(self, value: Any) -> datetime | None:
        """A GLPI date (``2026-06-15 10:05:00``, GLPI's time zone) in UTC; None when absent or unreadable."""
        if self.offset is None or not isinstance(value, str) or not value:
            return None
        try:
            return (datetime.fromisoformat(value) - self.offset).replace(tzinfo=UTC)
        except ValueError:
            return None

    def name(self, itemtype: str, ident: Any) -> dict[str, Any] | None:
        found = self.names.get(f"{itemtype}/{ident}")
        return found if isinstance(found, dict) else None

    def label(self, itemtype: str, ident: Any) -> str:
        """How GLPI names the referenced item (its complete name for a tree), ``?`` when unknown."""
        found = self.name(itemtype, ident)
        if not found:
            return "?" if ident not in (0, None) or itemtype == "Entity" else "-"
        if itemtype == "User":
            full = " ".join(p for p in (found.get("firstname"), found.get("realname")) if p)
            return f"{found.get('name')} ({full})" if full else str(found.get("name"))
        return str(found.get("completename") or found.get("name") or "?")


def clock_offset(clock: Any) -> timedelta | None:
    """GLPI's local time minus UTC, from the lookup's ``clock`` (rounded to 15 minutes)."""
    if not isinstance(clock, dict):
        return None
    try:
        local = datetime.fromisoformat(str(clock["glpi"]))
        utc = datetime.fromisoformat(str(clock["utc"])).astimezone(UTC).replace(tzinfo=None)
    except (KeyError, ValueError):
        return None
    return round((local - utc) / QUARTER) * QUARTER


def parse_lookup(stdout: str) -> Lookup:
    try:
        doc = json.loads(stdout)
    except ValueError as exc:
        raise UnreadableLookup(str(exc)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        raise UnreadableLookup("document sans items")
    items = [i for i in doc["items"] if isinstance(i, dict) and isinstance(i.get("item"), dict)]
    total = doc["total"] if isinstance(doc.get("total"), int) else len(items)
    return Lookup(items, doc.get("names") or {}, total, [str(e) for e in doc.get("errors") or ()],
                  clock_offset(doc.get("clock")))


def read_lookup(result: ProbeResult, expected: str | Msg) -> Lookup | Verdict:
    """The lookup, or the ``erreur`` verdict saying why GLPI could not be read."""
    if result.exit_code != 0:
        return Verdict.erreur(Msg("GLPI n'a pas pu être interrogé (code {code}) : {detail}", code=result.exit_code,
                                  detail=clip(result.stderr.strip(), 160)), expected=expected)
    if result.truncated:
        return Verdict.erreur(Msg("réponse de GLPI tronquée"), expected=expected)
    try:
        return parse_lookup(result.stdout)
    except UnreadableLookup as exc:
        return Verdict.erreur(Msg("réponse de GLPI illisible : {exc}", exc=clip(str(exc), 160)),
                              observed=clip(result.stdout), expected=expected)


def text_of(value: Any) -> str:
    """What a reader sees of a GLPI rich text (tags dropped, entities decoded, twice: GLPI 10 encodes them)."""
    text = html.unescape(str(value or ""))
    text = re.sub(r"<[^>]*>", " ", text)
    return " ".join(html.unescape(text).split())


def words(value: Any) -> int:
    return len(re.findall(r"\w+", text_of(value)))


def folded(value: Any) -> str:
    return " ".join(str(value or "").casefold().split())


def names_user(lookup: Lookup, ident: Any, wanted: str) -> bool:
    """The GLPI user ``ident`` is ``wanted``: their login, or their first and last names in either order."""
    user = lookup.name("User", ident)
    if not user:
        return False
    first, last = folded(user.get("firstname")), folded(user.get("realname"))
    return folded(wanted) in {folded(user.get("name")), f"{first} {last}".strip(), f"{last} {first}".strip()}


def names_tree(lookup: Lookup, itemtype: str, ident: Any, wanted: str) -> bool:
    """The dropdown item ``ident`` is ``wanted``: its complete name (``Matériel > Poste``) or its own name."""
    found = lookup.name(itemtype, ident)
    if not found:
        return False
    own = str(found.get("name") or "")
    whole = str(found.get("completename") or own)
    return folded(wanted) in {folded(own), folded(whole), folded(whole.rsplit(">", 1)[-1])}
