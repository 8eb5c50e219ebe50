"""Parameter validators the packs share: a rubric's mistake is refused when it is validated.

The messages are French, shown to the trainer by ``grader rubric validate`` (pydantic's
``Value error, `` prefix removed): they say what is expected, not how pydantic failed.
"""

from __future__ import annotations

import re


def valid_regex(value: str) -> str:
    """Parameter validator: a non-empty regular expression that compiles."""
    if not value:
        raise ValueError("motif vide")
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"expression régulière invalide : {exc}") from exc
    return value
