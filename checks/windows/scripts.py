"""PowerShell scripts written by the candidate: present, documented with comment-based help, scheduled."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import field_validator

from checks._common.params import Hours
from checks._common.text import clip, commas
from checks.windows._ps import (
    ExactName,
    as_list,
    failure,
    ps_date,
    ps_quote,
    read_items,
    same_name,
    settle,
)
from checks.windows.tasks import describe_trigger, task_enabled
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.winrm import winrm

_WINDOWS_PATH = re.compile(r"^[A-Za-z]:\\([^\\/:*?\"<>|\r\n]+\\)*[^\\/:*?\"<>|\r\n]+\.ps1$", re.IGNORECASE)
_ANY_WINDOWS_PATH = re.compile(r"^[A-Za-z]:\\([^\\/:*?\"<>|\r\n]+\\)*[^\\/:*?\"<>|\r\n]+$")


def _help_text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


class PsScriptDocumented(Check):
    """Le script PowerShell {path} existe, est documenté et est planifié.

    The script is read by PowerShell's own parser (``Parser.ParseFile`` and
    ``GetHelpContent()``: the rules ``Get-Help`` applies), never run. Conforme when the file
    exists, parses without error, has comment-based help with a non-empty ``.SYNOPSIS`` and
    ``.DESCRIPTION``, and, when ``scheduled`` is true, an enabled scheduled task (named
    ``task`` when given) has an action that runs this path and at least one enabled trigger;
    when ``artefact`` is given (the full path of what the script produces), that file exists, is
    not empty and, with ``artefact_max_age_hours``, was written within that many hours of the
    host's clock (both read in the same probe, as seconds since 1970 UTC).
    """

    id = "windows.ps_script_documented"
    usually_serves = ("CP11.4", "CP11.2")
    example = r"{path: C:\Scripts\sauvegarde.ps1, task: Sauvegarde}"
    platform = "windows"
    transport = "winrm"

    class Params(CheckParams):
        path: str
        scheduled: bool = True
        task: ExactName | None = None
        artefact: str | None = None
        artefact_max_age_hours: Hours | None = None

        @field_validator("artefact")
        @classmethod
        def _artefact(cls, value: str | None) -> str | None:
            if value is not None and not _ANY_WINDOWS_PATH.match(value):
                raise ValueError("chemin Windows complet attendu (ex. D:\\Sauvegardes\\compta.zip)")
            return value

        @field_validator("path")
        @classmethod
        def _path(cls, value: str) -> str:
            if not _WINDOWS_PATH.match(value):
                raise ValueError("chemin Windows complet d'un fichier .ps1 attendu (ex. C:\\Scripts\\sauvegarde.ps1)")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        probes = {"script": winrm(
            f"$item = Get-Item -LiteralPath {ps_quote(params.path)} -ErrorAction Stop; "
            "$tokens = $null; $problems = $null; "
            "$ast = [System.Management.Automation.Language.Parser]::ParseFile($item.FullName, [ref]$tokens, "
            "[ref]$problems); $help = $ast.GetHelpContent(); "
            "[pscustomobject]@{ FullName = $item.FullName; Length = $item.Length; LastWriteTime = $item.LastWriteTime; "
            "ParseErrors = @($problems).Count; "
            "Synopsis = $(if ($null -ne $help) { $help.Synopsis } else { $null }); "
            "Description = $(if ($null -ne $help) { $help.Description } else { $null }); "
            "Examples = $(if ($null -ne $help) { @($help.Examples).Count } else { 0 }) } | ConvertTo-Json -Depth 4")}
        if params.artefact:
            probes["artefact"] = winrm(
                f"$item = Get-Item -LiteralPath {ps_quote(params.artefact)} -ErrorAction SilentlyContinue; "
                "[pscustomobject]@{ Now = [DateTimeOffset]::UtcNow.ToUnixTimeSeconds(); Exists = $null -ne $item; "
                "Directory = $(if ($item) { $item.PSIsContainer } else { $null }); "
                "Length = $(if ($item -and -not $item.PSIsContainer) { $item.Length } else { $null }); "
                "Written = $(if ($item) { ([DateTimeOffset]$item.LastWriteTimeUtc).ToUnixTimeSeconds() } "
                "else { $null }) } | ConvertTo-Json")
        if params.scheduled:
            leaf = params.path.rpartition("\\")[2]
            probes["tasks"] = winrm(
                f"$leaf = {ps_quote(leaf)}; Get-ScheduledTask -ErrorAction Stop | ForEach-Object -Process {{ "
                "$task = $_; foreach ($action in @($task.Actions)) { "
                "$line = [string]$action.Execute + ' ' + [string]$action.Arguments; "
                "if ($line.IndexOf($leaf, [System.StringComparison]::OrdinalIgnoreCase) -ge 0) { [pscustomobject]@{ "
                "TaskName = $task.TaskName; TaskPath = $task.TaskPath; State = $task.State; "
                "Enabled = $task.Settings.Enabled; Execute = $action.Execute; Arguments = $action.Arguments; "
                "Triggers = @($task.Triggers | ForEach-Object -Process { [pscustomobject]@{ "
                "Type = $_.CimClass.CimClassName; Enabled = $_.Enabled; StartBoundary = $_.StartBoundary; "
                "DaysOfWeek = $_.DaysOfWeek } }) } } } } | ConvertTo-Json -Depth 4", timeout=30)
        return probes

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        scheduled: str | Msg = ""
        if params.scheduled:
            scheduled = (Msg(", lancé par une tâche planifiée active ({task})", task=params.task) if params.task
                         else Msg(", lancé par une tâche planifiée active"))
        expected: str | Msg = Msg(".SYNOPSIS et .DESCRIPTION renseignés{scheduled}", scheduled=scheduled)
        if params.artefact:
            expected = Msg("{expected}, {artefact} produit depuis moins de {hours} h", expected=expected,
                           artefact=params.artefact, hours=f"{params.artefact_max_age_hours:g}") \
                if params.artefact_max_age_hours else Msg("{expected}, {artefact} produit", expected=expected,
                                                          artefact=params.artefact)
        r = results["script"]
        f = failure(r)
        if f is not None and f.kind == "not_found" and "PathNotFound" in f.error_id:
            return Verdict.non_conforme(Msg("fichier absent"), expected,
                                        Msg("Le script {path} n'existe pas.", path=params.path))
        found = read_items(r, Msg("lecture du script"), expected)
        if isinstance(found, Verdict):
            return found
        if len(found) != 1:
            return Verdict.erreur(Msg("réponse inattendue à la lecture du script"), expected=expected)
        script = found[0]
        synopsis, description = _help_text(script.get("Synopsis")), _help_text(script.get("Description"))
        written = ps_date(script.get("LastWriteTime"))
        observed: list[str | Msg] = [
            Msg("{path} ({size} octets{written})", path=str(script.get("FullName")), size=str(script.get("Length")),
                written=Msg(", modifié le {date} UTC", date=written.strftime("%Y-%m-%d %H:%M")) if written else ""),
            f".SYNOPSIS : {clip(synopsis, 80, crlf=True)}" if synopsis else Msg(".SYNOPSIS : (absent)"),
            f".DESCRIPTION : {clip(description, 80, crlf=True)}" if description else Msg(".DESCRIPTION : (absente)")]
        problems: list[str | Msg] = []
        if script.get("ParseErrors"):
            problems.append(Msg("Le script contient {found} erreur(s) de syntaxe.", found=script.get("ParseErrors")))
        if not synopsis or not description:
            missing = [name for name, text in ((".SYNOPSIS", synopsis), (".DESCRIPTION", description)) if not text]
            problems.append(Msg("L'aide intégrée du script n'a pas de {first} ni de {second}.", first=missing[0],
                                second=missing[1]) if len(missing) == 2 else
                            Msg("L'aide intégrée du script n'a pas de {section}.", section=missing[0]))
        if params.scheduled:
            verdict = self._scheduled(params, results["tasks"], observed, problems, expected)
            if verdict is not None:
                return verdict
        if params.artefact:
            verdict = self._artefact(params, results["artefact"], observed, problems, expected)
            if verdict is not None:
                return verdict
        how = Msg(" et planifié") if params.scheduled else ""
        return settle(observed, problems, expected, Msg("Le script est documenté{how}.", how=how))

    def _scheduled(self, p: Params, r: ProbeResult, observed: list[str | Msg], problems: list[str | Msg],
                   expected: str | Msg) -> Verdict | None:
        found = read_items(r, "Get-ScheduledTask", expected)
        if isinstance(found, Verdict):
            return found
        runs = [t for t in found if _runs(t, p.path)]
        if p.task:
            runs = [t for t in runs if same_name(t.get("TaskName"), p.task)]
        described: list[str | Msg] = []
        for t in runs:
            triggers = commas([describe_trigger(x) for x in as_list(t.get("Triggers")) if isinstance(x, dict)])
            name = f"{t.get('TaskPath') or ''}{t.get('TaskName')}"
            described.append(Msg("{task} (active, {triggers})", task=name, triggers=triggers or Msg("sans déclencheur"))
                             if task_enabled(t) else
                             Msg("{task} (désactivée, {triggers})", task=name,
                                 triggers=triggers or Msg("sans déclencheur")))
        observed.append(Msg("tâches : {items}", items=commas(described) or Msg("aucune ne lance ce script")))
        active = [t for t in runs if task_enabled(t)
                  and any(isinstance(x, dict) and x.get("Enabled") is not False for x in as_list(t.get("Triggers")))]
        if not active:
            problems.append(Msg("Le script n'est pas lancé par la tâche {task} active avec un déclencheur.", task=p.task)
                            if p.task else Msg("Le script n'est pas lancé par aucune tâche planifiée active."))
        return None


    @staticmethod
    def _artefact(p: Params, r: ProbeResult, observed: list[str | Msg], problems: list[str | Msg],
                  expected: str | Msg) -> Verdict | None:
        found = read_items(r, Msg("lecture du fichier produit"), expected)
        if isinstance(found, Verdict):
            return found
        item = found[0] if len(found) == 1 else {}
        now, written, length = item.get("Now"), item.get("Written"), item.get("Length")
        if not isinstance(now, int) or not isinstance(item.get("Exists"), bool):
            return Verdict.erreur(Msg("réponse inattendue à la lecture du fichier produit"), expected=expected)
        if not item["Exists"]:
            observed.append(Msg("{artefact} : absent", artefact=p.artefact))
            problems.append(Msg("Le fichier produit par le script ({artefact}) n'existe pas.", artefact=p.artefact))
            return None
        if item.get("Directory") or not isinstance(length, int) or length == 0 or not isinstance(written, int):
            observed.append(Msg("{artefact} : dossier ou fichier vide", artefact=p.artefact))
            problems.append(Msg("Le fichier produit par le script ({artefact}) est vide ou n'est pas un fichier.",
                                artefact=p.artefact))
            return None
        clock, when = datetime.fromtimestamp(now, tz=UTC), datetime.fromtimestamp(written, tz=UTC)
        age = (clock - when).total_seconds() / 3600
        observed.append(Msg("{artefact} : {size} octets, écrit le {date} UTC (il y a {age} h)", artefact=p.artefact,
                            size=str(length), date=when.strftime("%Y-%m-%d %H:%M"), age=f"{age:.1f}"))
        if p.artefact_max_age_hours and clock - when > timedelta(hours=p.artefact_max_age_hours):
            problems.append(Msg("Le fichier produit par le script ({artefact}) date de plus de {hours} h.",
                                artefact=p.artefact, hours=f"{p.artefact_max_age_hours:g}"))
        return None


def _runs(task: dict[str, Any], path: str) -> bool:
    """The task's action runs ``path``: as the program, or in powershell.exe's arguments (quoted or not)."""
    line = f"{task.get('Execute') or ''} {task.get('Arguments') or ''}".replace('"', " ").replace("'", " ")
    target = path.casefold()
    return any(word.casefold() == target for word in line.split()) or f" {target} " in f" {line.casefold()} "
