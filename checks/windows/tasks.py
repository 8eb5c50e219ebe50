"""Scheduled tasks (``Get-ScheduledTask``): exists, enabled, when it runs, what it runs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import field_validator

from checks._common.params import Hours
from checks._common.text import clip, commas
from checks.windows._ps import (
    Account,
    ExactName,
    as_list,
    bars,
    clip_said,
    enum_said,
    failure,
    no_wildcards,
    object_missing,
    ps_date,
    ps_quote,
    read_items,
    same_name,
)
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Status, Verdict
from grader.probes.winrm import winrm

# TASK_STATE (taskschd.h): the State of MSFT_ScheduledTask.
STATE = {0: "Unknown", 1: "Disabled", 2: "Queued", 3: "Ready", 4: "Running"}
# LastTaskResult values that are not an exit code (taskschd SCHED_S_*): never run, running now.
NEVER_RAN, RUNNING = 267011, 267009
#: The host's clock for "ran within N hours" (seconds since 1970, UTC), read in the same WinRM batch.
CLOCK = "[pscustomobject]@{ Now = [DateTimeOffset]::UtcNow.ToUnixTimeSeconds() } | ConvertTo-Json"
# The CIM class of each trigger, as the ScheduledTasks module returns them.
TRIGGERS = {
    "MSFT_TaskDailyTrigger": "daily",
    "MSFT_TaskWeeklyTrigger": "weekly",
    "MSFT_TaskTimeTrigger": "once",
    "MSFT_TaskBootTrigger": "at_startup",
    "MSFT_TaskLogonTrigger": "at_logon",
    "MSFT_TaskIdleTrigger": "on_idle",
    "MSFT_TaskEventTrigger": "on_event",
    "MSFT_TaskSessionStateChangeTrigger": "on_session_change",
    "MSFT_TaskRegistrationTrigger": "at_creation",
    "MSFT_TaskTrigger": "other",  # monthly triggers have no class of their own in the ScheduledTasks module
}
#: Trigger kinds and days as people name them (a Msg: its ``str`` is the French name, a report says it in its language).
FRENCH_TRIGGER = {"daily": Msg("quotidien"), "weekly": Msg("hebdomadaire"), "once": Msg("une fois"),
                  "at_startup": Msg("au démarrage"), "at_logon": Msg("à l'ouverture de session"),
                  "on_idle": Msg("au repos"), "on_event": Msg("sur événement"),
                  "on_session_change": Msg("changement de session"), "at_creation": Msg("à la création"),
                  "other": Msg("autre (mensuel ?)")}
# MSFT_TaskWeeklyTrigger.DaysOfWeek bit mask (TASK_SUNDAY = 0x1 ... TASK_SATURDAY = 0x40).
DAYS = {"sunday": 1, "monday": 2, "tuesday": 4, "wednesday": 8, "thursday": 16, "friday": 32, "saturday": 64}
FRENCH_DAYS = {"sunday": Msg("dimanche"), "monday": Msg("lundi"), "tuesday": Msg("mardi"), "wednesday": Msg("mercredi"),
               "thursday": Msg("jeudi"), "friday": Msg("vendredi"), "saturday": Msg("samedi")}

# One task as an object the judges read (CIM instances themselves serialise to pages of CimClass data).
TASK_PROJECTION = (
    "ForEach-Object -Process { $task = $_; $info = Get-ScheduledTaskInfo -InputObject $task -ErrorAction Stop; "
    "[pscustomobject]@{ TaskName = $task.TaskName; TaskPath = $task.TaskPath; State = $task.State; "
    "Enabled = $task.Settings.Enabled; UserId = $task.Principal.UserId; "
    # The account as a SID: a localised name (« Système ») compares with the rubric's in any language.
    "UserSid = $(if ([string]$task.Principal.UserId -match '^S-1-') { [string]$task.Principal.UserId } else { "
    "try { ([System.Security.Principal.NTAccount][string]$task.Principal.UserId).Translate("
    "[System.Security.Principal.SecurityIdentifier]).Value } catch { $null } }); "
    "Triggers = @($task.Triggers | ForEach-Object -Process { [pscustomobject]@{ "
    "Type = $_.CimClass.CimClassName; Enabled = $_.Enabled; StartBoundary = $_.StartBoundary; "
    "DaysInterval = $_.DaysInterval; DaysOfWeek = $_.DaysOfWeek; WeeksInterval = $_.WeeksInterval; "
    "RepetitionInterval = $_.Repetition.Interval } }); "
    "Actions = @($task.Actions | ForEach-Object -Process { [pscustomobject]@{ "
    "Type = $_.CimClass.CimClassName; Execute = $_.Execute; Arguments = $_.Arguments; "
    "WorkingDirectory = $_.WorkingDirectory } }); "
    "LastRunTime = $info.LastRunTime; LastTaskResult = $info.LastTaskResult; NextRunTime = $info.NextRunTime } }"
)


def task_enabled(task: dict[str, Any]) -> bool:
    return task.get("State") not in (1, "Disabled") and task.get("Enabled") is not False


def trigger_kind(trigger: dict[str, Any]) -> str:
    return TRIGGERS.get(str(trigger.get("Type")), "other")


def trigger_time(trigger: dict[str, Any]) -> str | None:
    """``HH:MM`` of a trigger's StartBoundary (``2024-06-01T02:00:00`` or with an offset)."""
    m = re.match(r"^\d{4}-\d{2}-\d{2}T(\d{2}):(\d{2})", str(trigger.get("StartBoundary") or ""))
    return f"{m.group(1)}:{m.group(2)}" if m else None


def trigger_days(trigger: dict[str, Any]) -> list[str]:
    mask = trigger.get("DaysOfWeek")
    if not isinstance(mask, int):
        return []
    return [day for day, bit in DAYS.items() if mask & bit]


def describe_trigger(trigger: dict[str, Any]) -> str | Msg:
    kind = trigger_kind(trigger)
    text: str | Msg = FRENCH_TRIGGER.get(kind, kind)
    if kind == "weekly" and trigger_days(trigger):
        text = Msg("hebdomadaire ({days})", days=commas([FRENCH_DAYS[d] for d in trigger_days(trigger)]))
    when = trigger_time(trigger)
    if when and kind in ("daily", "weekly", "once", "other"):
        text = Msg("{trigger} à {time}", trigger=text, time=when)
    if trigger.get("Enabled") is False:
        text = Msg("{trigger} [désactivé]", trigger=text)
    return text


def describe_action(action: dict[str, Any]) -> str | Msg:
    return f"{action.get('Execute') or ''} {action.get('Arguments') or ''}".strip() or Msg("(action sans programme)")


def describe_task(task: dict[str, Any]) -> Msg:
    triggers = [describe_trigger(t) for t in as_list(task.get("Triggers")) if isinstance(t, dict)]
    actions = [describe_action(a) for a in as_list(task.get("Actions")) if isinstance(a, dict)]
    last = ps_date(task.get("LastRunTime"))
    name = str(task.get("TaskPath") or "") + str(task.get("TaskName"))
    return Msg("{task} : {state}, déclencheurs : {triggers} ; actions : {actions}{last}",
               task=name, state=enum_said(task.get("State"), STATE),
               triggers=commas(triggers) or Msg("aucun"), actions=clip_said(bars(actions), 160) or Msg("aucune"),
               last=Msg(" ; dernière exécution {date} UTC (résultat {result})", date=last.strftime("%Y-%m-%d %H:%M"),
                        result=str(task.get("LastTaskResult"))) if last is not None and last.year >= 2000 else "")


class ScheduledTask(Check):
    """La tâche planifiée {task} existe, est activée et s'exécute comme attendu.

    From ``Get-ScheduledTask`` (and ``Get-ScheduledTaskInfo`` for the evidence). Conforme when
    a task of that name exists (in ``path`` when given, e.g. ``\\TSSR\\``), is enabled when
    ``enabled`` is true (state not Disabled), and, for each criterion given: has an enabled
    trigger of that kind (daily, weekly, once, at_startup, at_logon), starting at ``at``
    (``HH:MM``) and on ``days`` (weekly); has an action whose program and arguments contain
    ``command_contains`` (case-insensitive); runs as ``run_as``: a built-in account
    (``SYSTEM``, « Système », ``S-1-5-18``...) is compared by its SID, whatever the language the
    rubric or the server names it in (:class:`~checks.windows._ps.Account`), any other account by
    name, with or without its domain; with ``ran_within_hours``, ran within that many hours of
    the host's clock (``LastRunTime``, read in the same batch as the clock) with ``LastTaskResult``
    0 (267011 is "never ran", 267009 "running"; other values are the program's exit code or an
    HRESULT, shown in hexadecimal). ``LastRunTime`` is read as Windows PowerShell 5.1 writes it
    (``/Date(ms)/``) or PowerShell 7 (ISO 8601). A task that does not exist is non conforme.
    """

    id = "windows.scheduled_task"
    usually_serves = ("CP11.2",)
    example = "{task: Sauvegarde, trigger: daily, at: 22:00}"
    platform = "windows"
    transport = "winrm"

    class Params(CheckParams):
        task: ExactName
        path: str | None = None
        enabled: bool = True
        trigger: Literal["daily", "weekly", "once", "at_startup", "at_logon"] | None = None
        at: str | None = None
        days: list[Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]] | None = None
        command_contains: str | None = None
        run_as: str | None = None
        ran_within_hours: Hours | None = None

        @field_validator("path")
        @classmethod
        def _path(cls, value: str | None) -> str | None:
            if value is None:
                return None
            no_wildcards(value)
            if not (value.startswith("\\") and value.endswith("\\")):
                raise ValueError("le dossier de tâches commence et finit par \\ (ex. \\TSSR\\)")
            return value

        @field_validator("at")
        @classmethod
        def _at(cls, value: str | None) -> str | None:
            if value is not None and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
                raise ValueError("heure attendue au format HH:MM (ex. 02:00)")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        where = f" -TaskPath {ps_quote(params.path)}" if params.path else ""
        probes = {"task": winrm(f"Get-ScheduledTask -TaskName {ps_quote(params.task)}{where} -ErrorAction Stop | "
                                f"{TASK_PROJECTION} | ConvertTo-Json -Depth 4", timeout=30)}
        if params.ran_within_hours:
            probes["clock"] = winrm(CLOCK)
        return probes

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = self._expected(params)
        r = results["task"]
        f = failure(r)
        if object_missing(f):
            where = Msg(" dans {path}", path=params.path) if params.path else ""
            return Verdict.non_conforme(Msg("tâche inexistante"), expected, Msg("Aucune tâche planifiée nommée « {task} "
                                                                           "»{where}.", task=params.task, where=where))
        found = read_items(r, "Get-ScheduledTask", expected)
        if isinstance(found, Verdict):
            return found
        now: datetime | None = None
        if params.ran_within_hours:
            clock = read_items(results["clock"], Msg("horloge de l'hôte"), expected)
            if isinstance(clock, Verdict):
                return clock
            seconds = clock[0].get("Now") if len(clock) == 1 else None
            if not isinstance(seconds, int) or isinstance(seconds, bool):
                return Verdict.erreur(Msg("horloge de l'hôte illisible : {value}",
                                          value=clip(str(results["clock"].stdout), 40) or "-"), expected=expected)
            now = datetime.fromtimestamp(seconds, tz=UTC)
        tasks = [t for t in found if same_name(t.get("TaskName"), params.task)]
        if not tasks:
            return Verdict.non_conforme(Msg("tâche inexistante"), expected,
                                        Msg("Aucune tâche planifiée nommée « {task} ».", task=params.task))
        verdicts = [self._one(params, t, expected, now) for t in tasks]
        return next((v for v in verdicts if v.status is Status.CONFORME), verdicts[0])

    def _expected(self, p: Params) -> Msg:
        trigger: str | Msg = ""
        if p.trigger:
            at = Msg(" à {time}", time=p.at) if p.at else ""
            trigger = (Msg(", déclencheur {trigger} ({days}){at}", trigger=FRENCH_TRIGGER[p.trigger],
                           days=commas([FRENCH_DAYS[d] for d in p.days]), at=at) if p.days else
                       Msg(", déclencheur {trigger}{at}", trigger=FRENCH_TRIGGER[p.trigger], at=at))
        elif p.at:
            trigger = Msg(", déclencheur à {time}", time=p.at)
        return Msg("{task} : {state}{trigger}{command}{run_as}{ran}", task=p.task,
                   state=Msg("activée") if p.enabled else Msg("désactivée"), trigger=trigger,
                   command=Msg(", action contenant « {command} »", command=p.command_contains)
                   if p.command_contains else "",
                   run_as=Msg(", exécutée en tant que {account}", account=p.run_as) if p.run_as else "",
                   ran=Msg(", exécutée depuis moins de {hours} h avec le résultat 0", hours=f"{p.ran_within_hours:g}")
                   if p.ran_within_hours else "")

    def _one(self, p: Params, task: dict[str, Any], expected: str | Msg, now: datetime | None = None) -> Verdict:
        observed = describe_task(task)
        name = task.get("TaskName")
        if task_enabled(task) != p.enabled:
            state = Msg("désactivée") if p.enabled else Msg("activée")
            return Verdict.non_conforme(observed, expected, Msg("La tâche {name} est {state}.", name=name, state=state))
        if p.trigger or p.at or p.days:
            triggers = [t for t in as_list(task.get("Triggers")) if isinstance(t, dict) and t.get("Enabled") is not False]
            good = [t for t in triggers
                    if (not p.trigger or trigger_kind(t) == p.trigger)
                    and (not p.at or trigger_time(t) == p.at)
                    and (not p.days or set(p.days) <= set(trigger_days(t)))]
            if not good:
                return Verdict.non_conforme(observed, expected, Msg("La tâche {name} n'a pas de déclencheur actif "
                                                                    "comme attendu.", name=name))
        if p.command_contains:
            needle = p.command_contains.casefold()
            actions = [a for a in as_list(task.get("Actions")) if isinstance(a, dict)]
            if not any(needle in str(describe_action(a)).casefold() for a in actions):
                return Verdict.non_conforme(observed, expected,
                                            Msg("Aucune action de la tâche {name} ne contient « {command_contains} ».",
                                                name=name, command_contains=p.command_contains))
        if p.run_as:
            user = str(task.get("UserId") or "")
            sid = task.get("UserSid")
            if not (Account.of(p.run_as).matches(user, sid if isinstance(sid, str) else None)
                    or same_name(user.rpartition("\\")[2], p.run_as.rpartition("\\")[2])):
                return Verdict.non_conforme(Msg("{observed} ; compte {account}", observed=observed,
                                                account=user or Msg("(aucun)")), expected,
                                            Msg("La tâche {name} s'exécute en tant que {value}.", name=name,
                                                value=user or Msg("(aucun)")))
        if p.ran_within_hours and now is not None:
            verdict = self._ran(p, task, observed, expected, now)
            if verdict is not None:
                return verdict
        return Verdict.conforme(observed, expected, Msg("La tâche {name} est planifiée comme attendu.", name=name))

    @staticmethod
    def _ran(p: Params, task: dict[str, Any], observed: Msg, expected: str | Msg, now: datetime) -> Verdict | None:
        """Non conforme unless the task's last run is within the window (host's clock) with result 0."""
        name, hours = task.get("TaskName"), f"{p.ran_within_hours:g}"
        last, result = ps_date(task.get("LastRunTime")), task.get("LastTaskResult")
        if last is None or last.year < 2000 or result == NEVER_RAN:
            return Verdict.non_conforme(observed, expected, Msg("La tâche {name} ne s'est jamais exécutée.", name=name))
        age = (now - last).total_seconds() / 3600
        seen = Msg("{observed} ; horloge de l'hôte {now} UTC (il y a {age} h)", observed=observed,
                   now=now.strftime("%Y-%m-%d %H:%M"), age=f"{age:.1f}")
        if now - last > timedelta(hours=p.ran_within_hours or 0):
            return Verdict.non_conforme(seen, expected, Msg("La tâche {name} ne s'est pas exécutée depuis {hours} h.",
                                                            name=name, hours=hours))
        if result == RUNNING:
            return Verdict.non_conforme(seen, expected, Msg("La tâche {name} est en cours d'exécution : son résultat "
                                                            "n'est pas encore connu.", name=name))
        if result != 0:
            code = f"0x{result & 0xFFFFFFFF:08X}" if isinstance(result, int) else str(result)
            return Verdict.non_conforme(seen, expected, Msg("La dernière exécution de la tâche {name} a échoué "
                                                            "(résultat {code}).", name=name, code=code))
        return None
