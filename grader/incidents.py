"""Phase-2 incidents: the only writing action grader has, jury-initiated and recorded.

Grading only reads. In phase 2 of a mise en situation, the jury may submit a breakdown to the
candidate (« dépannage », RC); a pack lists its incidents (:class:`grader.packs.Incident`), each a sh
command run as root on one host of the candidate and the rubric check that proves the fix.
:func:`inject` is off by default: the caller must confirm (``--yes``) and name the jury member who
decides it; the injection is written to the session store (who, when, which candidate, host,
command, exit code and output) *before* the caller hears of it, and the candidate's report shows
it. A command that fails is recorded too (with its code): the jury then knows nothing was broken.

How the command reaches the host is the caller's ``runner(host, command) -> (exit code, output)``:
in the lab, through the lab's root shell (:func:`grader.lab.packs.lab_runner`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from grader.errors import UsageError
from grader.i18n import t
from grader.store import Store

Runner = Callable[[str, str], tuple[int, str]]


@contextmanager
def open_session_store(session_dir: Path) -> Iterator[Store]:
    store = Store(session_dir)
    try:
        yield store
    finally:
        store.close()


def inject(pack: Any, incident_id: str, candidate: str, author: str, *, store: Store, runner: Runner,
           confirmed: bool = True) -> dict[str, Any]:
    """Run one incident's command on the candidate's host and record it; the stored row.

    :raises UsageError: not confirmed, or no author — nothing is run.
    """
    if not confirmed:
        raise UsageError(t("incident.needs_yes"))
    author = " ".join((author or "").split())
    if not author:
        raise UsageError(t("incident.needs_author"))
    incident = pack.incident(incident_id)
    try:
        code, output = runner(incident.host, incident.command)
    except Exception as exc:  # noqa: BLE001 - a host not reached is recorded, then said
        code, output = None, str(exc)
    return store.add_incident(candidate=candidate, incident=incident.id, pack=pack.name, title=incident.title,
                              host=incident.host, command=incident.command, check_id=incident.check, author=author,
                              exit_code=code, output=output)
