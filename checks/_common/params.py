"""Parameter validators the packs share: a rubric's mistake is refused when it is validated.

The messages are French, shown to the trainer by ``grader rubric validate`` (pydantic's
``Value error, `` prefix removed): they say what is expected, not how pydantic failed.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field


def valid_regex(value: str) -> str:
    """Parameter validator: a non-empty regular expression that compiles."""
    if not value:
        raise ValueError("motif vide")
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"expression régulière invalide : {exc}") from exc
    return value


#: A parameter holding a Python regular expression: refused when the rubric loads if it is empty or does not compile.
Regex = Annotated[str, AfterValidator(valid_regex)]

#: A window of hours (« ran within N hours », « written less than N hours ago »): a quarter of an hour to a month.
Hours = Annotated[float, Field(ge=0.25, le=24 * 31)]


def aware(value: datetime) -> datetime:
    """Parameter validator: a moment with its offset (a naive time would be read in the grader's zone, not the room's)."""
    if value.tzinfo is None:
        raise ValueError("indiquez le fuseau horaire (ex. : 2026-06-15T08:30:00+02:00)")
    return value


#: A moment a rubric gives (the exam's start: ``after``), ISO 8601 with its offset.
Moment = Annotated[datetime, AfterValidator(aware)]
