"""What every back-end of the ``backup.*`` checks hands the judge: a normalised list of backups.

restic snapshots, borg archives and Windows Server Backup versions are read by their own probes and
parsers (``checks.linux.backup``, ``checks.windows.backup``); each becomes a :class:`Backup` (when, its
name, what it holds) and one judge, :func:`judge_recent`, decides whether the last one is recent
enough. Another back-end (Proxmox vzdump jobs through its API) only needs its parser.

The reference time is the grader's clock when the probe started (``ProbeResult.started``), so that a
rejudge of stored evidence says the same thing, and a candidate's clock set in the future proves
nothing: a backup dated more than :data:`FUTURE_TOLERANCE` after that instant is not counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from grader.model import Msg, Verdict

#: A backup dated this much after the grader's clock is not taken as recent (clock skew beyond it is not
#: an excuse): it is shown, not counted.
FUTURE_TOLERANCE = timedelta(minutes=15)


@dataclass(frozen=True)
class Backup:
    """One successful backup, whatever made it."""

    at: datetime  # aware, UTC
    name: str  # restic short id, borg archive name, Windows Server Backup version id...
    holds: str = ""  # what it holds, as the tool said it (paths, volumes), for the evidence


def when(at: datetime) -> str:
    """A date as the evidence writes it (UTC, to the minute)."""
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def reference_time(started: str) -> datetime | Verdict:
    """The grader's clock when the probe started (ISO 8601), as an aware datetime, or the erreur verdict."""
    try:
        at = datetime.fromisoformat(started)
    except ValueError:
        return Verdict.erreur(Msg("heure de la lecture inconnue ({value}) : l'âge des sauvegardes ne peut pas être "
                                  "calculé", value=started or Msg("(vide)")))
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def latest(backups: Sequence[Backup], now: datetime) -> tuple[Backup | None, list[Backup]]:
    """The most recent backup not dated in the future, and those dated in the future (not counted)."""
    future = [b for b in backups if b.at - now > FUTURE_TOLERANCE]
    counted = [b for b in backups if b not in future]
    return (max(counted, key=lambda b: b.at) if counted else None), future


def describe(backup: Backup) -> Msg:
    holds = Msg(" ({holds})", holds=backup.holds) if backup.holds else ""
    return Msg("{name} du {at}{holds}", name=backup.name, at=when(backup.at), holds=holds)


def judge_recent(backups: Sequence[Backup], now: datetime, max_age_hours: float, source: str | Msg) -> Verdict:
    """Conforme when the last successful backup of ``source`` is younger than ``max_age_hours`` at ``now``.

    No backup at all, or only older ones, is non conforme, with the date of the last one.
    """
    expected = Msg("une sauvegarde de {source} de moins de {hours:g} h", source=source, hours=max_age_hours)
    last, future = latest(backups, now)
    ahead = (Msg(" ; {count} datée(s) dans le futur, non comptée(s) : {first}", count=len(future),
                 first=describe(max(future, key=lambda b: b.at))) if future else "")
    if last is None:
        observed = Msg("aucune sauvegarde{ahead} ; lu au {now}", ahead=ahead, now=when(now))
        return Verdict.non_conforme(observed, expected, Msg("Aucune sauvegarde de {source}.", source=source))
    age = (now - last.at).total_seconds() / 3600
    observed = Msg("dernière sauvegarde : {backup}, {count} en tout{ahead} ; lu au {now}", backup=describe(last),
                   count=len(backups), ahead=ahead, now=when(now))
    if age <= max_age_hours:
        return Verdict.conforme(observed, expected,
                                Msg("La dernière sauvegarde de {source} a {hours:.1f} h.", source=source,
                                    hours=max(age, 0.0)))
    return Verdict.non_conforme(observed, expected,
                                Msg("La dernière sauvegarde de {source} date du {at} : {hours:.1f} h, plus de "
                                    "{limit:g} h.", source=source, at=when(last.at), hours=age, limit=max_age_hours))
