"""Jobs that ran: systemd timers (enabled, when, last trigger, last result) and cron jobs in the journal.

Every "ran within N hours" is measured against the host's own clock: each probe prints
``:: now <epoch>`` (``date +%s`` on the host, in the same batch as the facts it dates), never
the grader's clock alone. systemd's timestamps are read with ``TZ=UTC`` set for ``systemctl``,
so they come back as ``Sun 2026-12-06 02:00:03 UTC`` whatever the host's time zone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import field_validator, model_validator

from checks._common.params import Hours, Regex
from checks._common.text import clip, limited, said
from checks.linux._parse import cannot_run, text_lines
from checks.linux.services import _UNIT, BOOT_OK
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.ssh import quote, ssh

TIMER_PROPERTIES = ("Id", "LoadState", "ActiveState", "UnitFileState", "Unit", "TimersCalendar", "LastTriggerUSec")
SERVICE_PROPERTIES = ("Id", "LoadState", "ActiveState", "SubState", "Result", "ExecMainStatus", "ExecMainCode",
                      "ExecMainStartTimestamp", "ExecMainExitTimestamp")
NOW = "printf ':: now %s\\n' \"$(/bin/date +%s)\""

_STAMP = re.compile(r"^(?:[A-Za-z]{3} )?(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) UTC$")
_CALENDAR = re.compile(r"^\{ OnCalendar=(.*?) ; next_elapse=.*\}$")
_NORMALIZED = re.compile(r"^\s*Normalized form: (.+?)\s*$")
# journalctl -o short-iso: « 2026-12-06T02:00:01+0000 srv CRON[4242]: (root) CMD (/usr/local/bin/x.sh) »
# (systemd 254 and later write the offset +00:00); cronie says crond or CROND.
_CRON_CMD = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})([+-]\d{2}:?\d{2}) \S+ (?:CRON|crond|CROND|cron)"
                       r"\[\d+\]: \(([^)\s]+)\) CMD \((.*)\)$")
#: UnitFileState values of a timer started at boot: ``static`` (no [Install] section) is not one, such a
#: timer runs only once started by hand (until the next boot) or pulled in by another unit.
TIMER_BOOT_OK = BOOT_OK - {"static"}
#: Groups whose members read the whole journal (Debian: adm, systemd-journal; RedHat: wheel too).
JOURNAL_GROUPS = {"adm", "systemd-journal", "wheel"}


def timer_name(timer: str) -> str:
    """``sauvegarde`` -> ``sauvegarde.timer``; a name with the suffix is kept."""
    return timer if timer.endswith(".timer") else timer + ".timer"


def service_name(unit: str) -> str:
    return unit if "." in unit.rsplit("@", 1)[-1] else unit + ".service"


def _valid_unit(value: str) -> str:
    if not _UNIT.match(value):
        raise ValueError("nom d'unité systemd invalide (ex. : sauvegarde ou sauvegarde.timer)")
    return value


def systemd_stamp(value: str) -> datetime | None:
    """A ``systemctl show`` timestamp under ``TZ=UTC`` as a datetime; None for empty or ``n/a``."""
    m = _STAMP.match(value.strip())
    if not m:
        return None
    return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def ago(when: datetime, now: datetime) -> Msg:
    """« 2026-12-06 02:00 UTC (il y a 14 h) » from the host's clock."""
    hours = (now - when).total_seconds() / 3600
    delta = Msg("il y a {hours} h", hours=f"{hours:.1f}") if hours >= 0 else Msg("dans le futur de l'hôte")
    return Msg("{date} ({delta})", date=when.strftime("%Y-%m-%d %H:%M:%S UTC"), delta=delta)


@dataclass(frozen=True)
class Sections:
    """``systemctl show`` properties of the timer, of its service, and the host's clock."""

    timer: dict[str, list[str]]
    service: dict[str, list[str]]
    now: datetime | None

    def one(self, which: str, key: str) -> str:
        values = (self.timer if which == "timer" else self.service).get(key, [])
        return values[0] if values else ""


class OutputError(ValueError):
    """The probe's output is not what it prints."""


def parse_sections(stdout: str) -> Sections:
    """The output of :func:`show_probe`: ``KEY=value`` lines, ``:: service`` and ``:: now EPOCH`` markers."""
    timer: dict[str, list[str]] = {}
    service: dict[str, list[str]] = {}
    current = timer
    now: datetime | None = None
    for line in text_lines(stdout):
        if line == ":: service":
            current = service
            continue
        if line.startswith(":: now "):
            value = line[7:].strip()
            if not value.isdigit():
                raise OutputError(Msg("horloge de l'hôte illisible : {value}", value=clip(value, 40)))
            now = datetime.fromtimestamp(int(value), tz=UTC)
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.isalnum():
            raise OutputError(Msg("ligne inattendue : {line}", line=clip(line, 80)))
        current.setdefault(key, []).append(value)
    if now is None:
        raise OutputError(Msg("horloge de l'hôte absente de la sortie"))
    return Sections(timer, service, now)


def show_probe(unit: str, *, follow: bool) -> Probe:
    """``systemctl show`` of a unit (and, ``follow``: of the unit a timer triggers), then the host's clock."""
    q = quote(unit)
    if follow:
        command = (f"TZ=UTC /usr/bin/systemctl show -p {','.join(TIMER_PROPERTIES)} -- {q} || exit $?; "
                   f"s=$(/usr/bin/systemctl show -p Unit --value -- {q}); "
                   "if [ -n \"$s\" ]; then printf ':: service\\n'; "
                   f"TZ=UTC /usr/bin/systemctl show -p {','.join(SERVICE_PROPERTIES)} -- \"$s\" || exit $?; fi; {NOW}")
    else:
        command = (f"printf ':: service\\n'; TZ=UTC /usr/bin/systemctl show -p {','.join(SERVICE_PROPERTIES)} -- {q} "
                   f"|| exit $?; {NOW}")
    return ssh(command)


def read_sections(r: ProbeResult, expected: str | Msg) -> Sections | Verdict:
    reason = cannot_run(r)
    if reason:
        return Verdict.erreur(Msg("systemctl n'a pas pu être exécuté : {reason}", reason=reason), expected=expected)
    if r.exit_code != 0:
        return Verdict.erreur(Msg("systemctl a échoué (code {code}) : {detail}", code=r.exit_code,
                                  detail=clip(r.stderr.strip(), 160)), observed=clip(r.stdout), expected=expected)
    try:
        return parse_sections(r.stdout)
    except OutputError as exc:
        return Verdict.erreur(Msg("sortie de systemctl illisible : {reason}", reason=exc.args[0]),
                              observed=clip(r.stdout) or Msg("(vide)"), expected=expected)


def last_exit(s: Sections, now: datetime) -> tuple[Msg, bool, datetime | None]:
    """(what the service's last run says, whether it ended with code 0 and Result=success, when it ended)."""
    ended = systemd_stamp(s.one("service", "ExecMainExitTimestamp"))
    started = systemd_stamp(s.one("service", "ExecMainStartTimestamp"))
    result, status = s.one("service", "Result"), s.one("service", "ExecMainStatus")
    unit = s.one("service", "Id")
    if ended is None:
        if started is not None and s.one("service", "ActiveState") in ("active", "activating"):
            return Msg("{unit} : en cours depuis {when}", unit=unit, when=ago(started, now)), False, None
        return Msg("{unit} : aucune exécution terminée depuis le démarrage", unit=unit), False, None
    ok = result == "success" and status == "0"
    return (Msg("{unit} : dernière fin {when}, code {status}, Result={result}", unit=unit, when=ago(ended, now),
                status=status or "?", result=result or "?"), ok, ended)


class TimerActive(Check):
    """Le minuteur systemd {timer} existe, est activé et planifié comme attendu.

    From ``systemctl show`` of the timer and of the unit it triggers (its ``Unit=``), read with
    ``TZ=UTC``, and the host's clock. Conforme when the timer is loaded, active (waiting) and,
    when ``enabled`` is true, enabled at boot (``static``, a timer without [Install], is not); when ``calendar`` is given, one of its
    ``OnCalendar=`` equals it once normalised by the host's own ``systemd-analyze calendar``
    (``daily`` and ``*-*-* 00:00:00`` are equal; systemd keeps its timers' calendars normalised);
    when ``ran_within_hours`` is given, it was triggered (``LastTriggerUSec``) within that many
    hours of the host's clock and its service's last run ended with code 0 (``Result=success``).
    ``sauvegarde`` and ``sauvegarde.timer`` are the same.
    """

    id = "linux.timer"
    usually_serves = ("CP11.2",)
    example = "{timer: sauvegarde, calendar: daily, ran_within_hours: 24}"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        timer: str
        enabled: bool = True
        calendar: str | None = None
        ran_within_hours: Hours | None = None

        @field_validator("timer")
        @classmethod
        def _timer(cls, value: str) -> str:
            return _valid_unit(value)

        @field_validator("calendar")
        @classmethod
        def _calendar(cls, value: str | None) -> str | None:
            if value is not None and (not value.strip() or "\n" in value or len(value) > 200):
                raise ValueError("expression OnCalendar attendue sur une ligne (ex. daily, *-*-* 02:00:00)")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        probes = {"timer": show_probe(timer_name(params.timer), follow=True)}
        if params.calendar:
            probes["calendar"] = ssh(f"/usr/bin/systemd-analyze calendar -- {quote(params.calendar)}")
        return probes

    def _expected(self, p: Params) -> Msg:
        return Msg("{timer} chargé, actif{enabled}{calendar}{ran}", timer=timer_name(p.timer),
                   enabled=Msg(", activé au démarrage") if p.enabled else "",
                   calendar=Msg(", calendrier OnCalendar={calendar}", calendar=p.calendar) if p.calendar else "",
                   ran=Msg(", déclenché depuis moins de {hours} h avec le code 0", hours=f"{p.ran_within_hours:g}")
                   if p.ran_within_hours else "")

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = self._expected(params)
        timer = timer_name(params.timer)
        s = read_sections(results["timer"], expected)
        if isinstance(s, Verdict):
            return s
        assert s.now is not None  # parse_sections refuses an output without it
        load, active = s.one("timer", "LoadState"), s.one("timer", "ActiveState")
        file_state = s.one("timer", "UnitFileState")
        if not load:
            return Verdict.erreur(Msg("sortie de systemctl incomplète"), observed=clip(results["timer"].stdout),
                                  expected=expected)
        if load == "not-found":
            return Verdict.non_conforme(Msg("minuteur inexistant (LoadState=not-found)"), expected,
                                        Msg("L'unité {unit} n'existe pas sur cet hôte.", unit=timer))
        calendars = [m.group(1) for v in s.timer.get("TimersCalendar", []) if (m := _CALENDAR.match(v.strip()))]
        last = systemd_stamp(s.one("timer", "LastTriggerUSec"))
        observed: list[str | Msg] = [
            f"LoadState={load}, ActiveState={active}, UnitFileState={file_state or '-'}",
            Msg("OnCalendar : {calendars}", calendars=" | ".join(calendars) if calendars else Msg("(aucun)")),
            Msg("dernier déclenchement : {when}", when=ago(last, s.now) if last else Msg("jamais")),
        ]
        ok_exit, ended = False, None
        if s.service:
            text, ok_exit, ended = last_exit(s, s.now)
            observed.append(text)
        shown = said(tuple(observed))
        if load != "loaded":
            return Verdict.non_conforme(shown, expected, Msg("L'unité {unit} n'a pas pu être chargée ({load}).",
                                                             unit=timer, load=load))
        if active != "active":
            return Verdict.non_conforme(shown, expected, Msg("Le minuteur {unit} n'est pas actif ({active}).",
                                                             unit=timer, active=active))
        if params.enabled and file_state not in TIMER_BOOT_OK:
            return Verdict.non_conforme(shown, expected, Msg("Le minuteur {unit} n'est pas activé au démarrage "
                                                             "({state}).", unit=timer, state=file_state or "-"))
        if params.calendar:
            wanted = self._normalised(results["calendar"], expected)
            if isinstance(wanted, Verdict):
                return wanted
            if not set(wanted) & set(calendars):
                return Verdict.non_conforme(shown, expected, Msg("Le minuteur {unit} n'est pas planifié {calendar} "
                                                                 "(forme normalisée : {normalised}).", unit=timer,
                                                                 calendar=params.calendar,
                                                                 normalised=" | ".join(wanted)))
        if params.ran_within_hours:
            window = timedelta(hours=params.ran_within_hours)
            if last is None or s.now - last > window:
                return Verdict.non_conforme(shown, expected, Msg("Le minuteur {unit} ne s'est pas déclenché depuis "
                                                                 "{hours} h.", unit=timer,
                                                                 hours=f"{params.ran_within_hours:g}"))
            if not s.service or not ok_exit or ended is None or ended < last - timedelta(minutes=1):
                return Verdict.non_conforme(shown, expected, Msg("La dernière exécution lancée par {unit} ne s'est "
                                                                 "pas terminée avec le code 0.", unit=timer))
        return Verdict.conforme(shown, expected, Msg("Le minuteur {unit} est en place comme attendu.", unit=timer))

    @staticmethod
    def _normalised(r: ProbeResult, expected: str | Msg) -> list[str] | Verdict:
        reason = cannot_run(r)
        if reason:
            return Verdict.erreur(Msg("systemd-analyze n'a pas pu être exécuté : {reason}", reason=reason),
                                  expected=expected)
        forms = [m.group(1) for line in text_lines(r.stdout) if (m := _NORMALIZED.match(line))]
        if r.exit_code != 0 or not forms:
            return Verdict.erreur(Msg("l'expression OnCalendar de la grille est refusée par systemd-analyze : "
                                      "{detail}", detail=clip((r.stderr or r.stdout).strip(), 160) or "-"),
                                  expected=expected)
        return forms


@dataclass(frozen=True)
class CronRun:
    when: datetime
    user: str
    command: str

    def describe(self, now: datetime) -> Msg:
        return Msg("{when} ({user}) {command}", when=ago(self.when, now), user=self.user, command=clip(self.command, 100))


def parse_cron_journal(stdout: str) -> tuple[list[CronRun], datetime, int, set[str], int | None]:
    """(runs, host clock, uid, groups, journalctl's exit) from :meth:`JobRan.probes`' journal output."""
    runs: list[CronRun] = []
    now: datetime | None = None
    uid: int | None = None
    groups: set[str] = set()
    code: int | None = None
    for line in text_lines(stdout):
        if line.startswith(":: now "):
            value = line[7:].strip()
            if not value.isdigit():
                raise OutputError(Msg("horloge de l'hôte illisible : {value}", value=clip(value, 40)))
            now = datetime.fromtimestamp(int(value), tz=UTC)
        elif line.startswith(":: id "):
            words = line[6:].split()
            if not words or not words[0].isdigit():
                raise OutputError(Msg("ligne inattendue : {line}", line=clip(line, 80)))
            uid, groups = int(words[0]), set(words[1].split(",")) if len(words) > 1 else set()
        elif line.startswith(":: journal "):
            value = line[11:].strip()
            code = int(value) if value.isdigit() else None
        else:
            m = _CRON_CMD.match(line)
            if m:
                offset = m.group(2).replace(":", "")
                when = datetime.strptime(m.group(1) + offset, "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC)
                runs.append(CronRun(when, m.group(3), m.group(4)))
    if now is None or uid is None:
        raise OutputError(Msg("horloge ou identité absente de la sortie"))
    return runs, now, uid, groups, code


class JobRan(Check):
    """La tâche {command}{unit} s'est exécutée dans les {within_hours} dernières heures.

    Measured against the host's clock. A cron job (``command``: a regular expression searched in
    the command, ``user`` optional) ran when the journal holds its ``CRON[pid]: (user) CMD
    (command)`` line (``journalctl _COMM=cron + _COMM=crond --since=-Nh``); cron does not log a
    job's exit code, so "with result 0" cannot be said of a cron job (combine with
    ``script.bash``'s fresh artefact). A systemd service (``unit``: what a timer triggers, or any
    oneshot service) ran when its last run ended (``ExecMainExitTimestamp``) within the window
    with code 0 and ``Result=success``; systemd keeps that since the last boot only. Reading the
    whole journal needs root or the adm / systemd-journal group: otherwise the check is erreur.
    """

    id = "linux.job_ran"
    usually_serves = ("CP11.2",)
    example = "{command: sauvegarde\\.sh, user: root, within_hours: 24}"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        within_hours: Hours
        command: Regex | None = None
        user: str | None = None
        unit: str | None = None

        @field_validator("unit")
        @classmethod
        def _unit(cls, value: str | None) -> str | None:
            return _valid_unit(value) if value is not None else None

        @model_validator(mode="after")
        def _one_kind(self) -> JobRan.Params:
            if (self.command is None) == (self.unit is None):
                raise ValueError("indiquer soit command (tâche cron), soit unit (service systemd)")
            if self.unit is not None and self.user is not None:
                raise ValueError("user ne s'applique qu'à une tâche cron (command)")
            return self

    @classmethod
    def sentence_values(cls, params: object) -> dict[str, object]:
        values = super().sentence_values(params)
        values["command"] = f"cron /{values['command']}/" if values.get("command") else ""
        values["unit"] = values.get("unit") or ""
        hours = values.get("within_hours")
        values["within_hours"] = f"{hours:g}" if isinstance(hours, (int, float)) else hours
        return values

    def probes(self, params: Params) -> Mapping[str, Probe]:
        if params.unit:
            return {"service": show_probe(service_name(params.unit), follow=False)}
        hours = int(params.within_hours) + 1  # the judge applies the exact window; the host narrows the read
        return {"journal": ssh(
            f"{NOW}; printf ':: id %s %s\\n' \"$(/usr/bin/id -u)\" \"$(/usr/bin/id -Gn | /usr/bin/tr ' ' ',')\"; "
            f"{{ /usr/bin/journalctl --no-pager -q -o short-iso --since=-{hours}h _COMM=cron + _COMM=crond 2>/dev/null; "
            "printf ':: journal %s\\n' \"$?\"; } | /bin/grep -e ' CMD (' -e '^:: journal ' | /usr/bin/tail -n 500",
            timeout=20)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        hours = f"{params.within_hours:g}"
        if params.unit:
            return self._service(params, results["service"], hours)
        who = Msg(" pour {user}", user=params.user) if params.user else ""
        expected = Msg("ligne CRON « CMD » /{pattern}/{who} dans les {hours} dernières heures", pattern=params.command,
                       who=who, hours=hours)
        r = results["journal"]
        reason = cannot_run(r)
        if reason:
            return Verdict.erreur(Msg("lecture du journal impossible : {reason}", reason=reason), expected=expected)
        try:
            runs, now, uid, groups, code = parse_cron_journal(r.stdout)
        except OutputError as exc:
            return Verdict.erreur(Msg("sortie illisible : {reason}", reason=exc.args[0]),
                                  observed=clip(r.stdout) or Msg("(vide)"), expected=expected)
        if code is None:
            return Verdict.erreur(Msg("journalctl n'a pas rendu son code de sortie (sortie interrompue)"),
                                  observed=clip(r.stdout), expected=expected)
        if code != 0:
            return Verdict.erreur(Msg("journalctl a échoué (code {code})", code=code), expected=expected)
        regex = re.compile(params.command or "")
        since = now - timedelta(hours=params.within_hours)
        mine = [x for x in runs if regex.search(x.command) and (not params.user or x.user == params.user)]
        recent = [x for x in mine if since <= x.when <= now + timedelta(minutes=5)]
        if recent:
            last = max(recent, key=lambda x: x.when)
            return Verdict.conforme(Msg("{count} exécution(s), la dernière : {last} ; code de retour non journalisé "
                                        "par cron", count=len(recent), last=last.describe(now)), expected,
                                    Msg("La tâche cron s'est exécutée dans les {hours} dernières heures.", hours=hours))
        if uid != 0 and not groups & JOURNAL_GROUPS:
            return Verdict.erreur(Msg("le compte de correction (uid {uid}) ne lit pas tout le journal (groupe adm ou "
                                      "systemd-journal requis)", uid=uid), expected=expected)
        if r.truncated:
            return Verdict.erreur(Msg("sortie tronquée : le journal n'a pas été lu en entier"), expected=expected)
        others = sorted({x.command for x in runs if x.when >= since})
        observed: str | Msg = (Msg("aucune exécution correspondante ; autres commandes lancées par cron : {commands}",
                                   commands=said(limited([clip(c, 100) for c in others], 300)))
                               if others else Msg("aucune ligne CMD de cron dans le journal sur cette période"))
        return Verdict.non_conforme(observed, expected, Msg("La tâche cron ne s'est pas exécutée dans les {hours} "
                                                            "dernières heures.", hours=hours))

    def _service(self, p: Params, r: ProbeResult, hours: str) -> Verdict:
        unit = service_name(p.unit or "")
        expected = Msg("{unit} terminé avec le code 0 dans les {hours} dernières heures", unit=unit, hours=hours)
        s = read_sections(r, expected)
        if isinstance(s, Verdict):
            return s
        assert s.now is not None
        load = s.one("service", "LoadState")
        if not load:
            return Verdict.erreur(Msg("sortie de systemctl incomplète"), observed=clip(r.stdout), expected=expected)
        if load == "not-found":
            return Verdict.non_conforme(Msg("service inexistant (LoadState=not-found)"), expected,
                                        Msg("L'unité {unit} n'existe pas sur cet hôte.", unit=unit))
        text, ok, ended = last_exit(s, s.now)
        if ended is None or s.now - ended > timedelta(hours=p.within_hours):
            return Verdict.non_conforme(text, expected, Msg("Le service {unit} ne s'est pas exécuté dans les {hours} "
                                                            "dernières heures.", unit=unit, hours=hours))
        if not ok:
            return Verdict.non_conforme(text, expected, Msg("La dernière exécution de {unit} a échoué.", unit=unit))
        return Verdict.conforme(text, expected, Msg("Le service {unit} s'est exécuté avec succès dans les {hours} "
                                                    "dernières heures.", unit=unit, hours=hours))
