"""Evidence text: how a judge shortens and lists what it saw, said in the report's language.

A verdict's ``observed`` must stay readable in a report cell whatever the host printed, and
must say so when it was shortened. Words of ours are :class:`grader.model.Msg` values (French
templates the ``checks`` catalogue translates); the host's own text is data and stays as read.
Lists are measured by their French text, so that the cut falls on the same item in every
report language.
"""

from __future__ import annotations

from collections.abc import Sequence

from grader import errors
from grader.model import Msg


def clip(text: str, limit: int = 200, *, crlf: bool = False, squeeze: bool = False) -> str:
    """Shorten ``text`` for an ``observed`` field on one line, saying that it was shortened (« … »).

    Line breaks show as « ⏎ ». ``crlf``: a Windows host's ``\r\n`` is one break (otherwise a
    ``\r`` stays in the text, as the host wrote it). ``squeeze``: every run of white space, line
    breaks included, becomes one space, for a banner or an HTTP body whose layout says nothing.
    Each caller keeps the limit its evidence always had: a report compares runs by these texts.
    """
    if squeeze:
        text = " ".join(text.split())
    elif crlf:
        text = text.replace("\r\n", "\n")
    text = text.replace("\n", " ⏎ ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def limited(items: Sequence[str | Msg], limit: int = 400) -> tuple[str | Msg, ...]:
    """Items for ``observed`` as a list value of a :class:`Msg` (joined « ; » in French, "; " in English).

    Beyond ``limit`` characters the rest is left out and counted (« (+3 autre(s)) »), so that a
    long listing cannot drown the evidence. The items may be :class:`Msg` (words of ours),
    measured by their French text: the cut falls on the same item in every report language.
    """
    out: list[str | Msg] = []
    size = 0
    for index, item in enumerate(items):
        text = str(item)
        if size + len(text) > limit and out:
            out.append(Msg("(+{count} autre(s))", count=len(items) - index))
            break
        out.append(item)
        size += len(text) + 3
    return tuple(out)


def comma_limited(items: Sequence[str], limit: int = 400) -> str | Msg:
    """Items joined by ", " within ``limit`` characters, as :func:`limited` counts them: a :class:`Msg`
    value, plain text unless items were left out."""
    size = 0
    for index, item in enumerate(items):
        if size + len(item) > limit and index:
            return Msg("{shown}, (+{count} autre(s))", shown=", ".join(items[:index]), count=len(items) - index)
        size += len(item) + 2
    return ", ".join(items)


def commas(items: Sequence[str | Msg]) -> str | Msg:
    """Items joined by ", " as a :class:`Msg` value: plain text when no item has words of ours."""
    if not any(isinstance(item, Msg) for item in items):
        return ", ".join(str(item) for item in items)
    said: str | Msg = items[0]
    for item in items[1:]:
        said = Msg("{previous}, {last}", previous=said, last=item)
    return said


def said(items: tuple[str | Msg, ...]) -> str | Msg:
    """A :func:`limited` list standing alone as ``observed`` (plain text when no item has words of ours)."""
    if len(items) == 1:
        return items[0]
    if not any(isinstance(item, Msg) for item in items):
        return " ; ".join(str(item) for item in items)
    return Msg("{first} ; {rest}", first=items[0], rest=items[1:])


def reason_of(exc: BaseException) -> str | Msg:
    """Why a parser refused an output, as a :class:`Msg` value.

    Our parsers raise their ``ValueError`` with a :class:`Msg` (its ``str`` is the French text);
    any other exception's text (a library's, in English) is kept as data.
    """
    return errors.said(exc)
